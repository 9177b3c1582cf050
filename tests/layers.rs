//! The architecture, checked: data flows one way through `src/` (README.md, "How it works").
//!
//! Reads every source file, collects the crate-internal paths it uses (`use crate::…`,
//! `super::…`, relative `use child::…`, inline `crate::a::b(…)`), resolves each to the module
//! file it names, and fails if
//!
//! - a module imports from a layer it may not use (a sink, a call site or a record reaching
//!   into a detector, the dispatcher or the runtime integration, …), or
//! - any import cycle exists between module files.
//!
//! No dependency: a small reader for `use` trees, good enough for this crate's own sources
//! (tests modules are skipped; they may import anything).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may import from (besides itself). The one direction:
/// `timed → detect → dispatch → site + sink`; everyone uses `record`, `config`, `clock`, `util`.
const MAY_USE: &[(&str, &[&str])] = &[
    ("util", &[]),
    ("clock", &["util"]),
    ("site", &["util", "clock"]),
    ("record", &["site", "util"]),
    ("config", &["record", "clock", "util"]),
    ("sink", &["record", "site", "config", "clock", "util"]),
    (
        "dispatch",
        &["sink", "site", "record", "config", "clock", "util"],
    ),
    (
        "detect",
        &["dispatch", "site", "record", "config", "clock", "util"],
    ),
    (
        "timed",
        &[
            "detect", "dispatch", "site", "record", "config", "clock", "util",
        ],
    ),
    (
        "tokio",
        &[
            "timed", "detect", "dispatch", "sink", "site", "record", "config", "clock", "util",
        ],
    ),
];

type Module = Vec<String>;

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `a::b`; `src/lib.rs` → the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and without its `#[cfg(test)] mod tests { … }`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a `use` tree (`a::{b, c::d as e, f::*}`) into full paths.
fn expand_tree(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = split_path(&tree[..open]);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut base = prefix.to_vec();
        base.extend(head);
        for part in split_top_level(inner) {
            expand_tree(&base, &part, out);
        }
    } else {
        let tree = tree.split(" as ").next().unwrap_or(tree);
        let mut full = prefix.to_vec();
        full.extend(split_path(tree));
        if full.last().is_some_and(|s| s == "*" || s == "self") {
            full.pop();
        }
        out.push(full);
    }
}

fn split_path(s: &str) -> Vec<String> {
    s.split("::")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits `a, b::{c, d}, e` at the commas outside braces.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
}

/// Every crate-internal path `code` names, unresolved.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` statements (any visibility), up to their `;`.
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().next_back();
        let start_ok = before.is_none_or(|c| c.is_whitespace() || c == ')' || c == ';');
        let tail = &rest[i + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if start_ok {
            expand_tree(&[], &tail[..end], &mut out);
        }
        rest = &tail[end.min(tail.len())..];
    }
    // Inline paths: `crate::a::b`, `super::a`.
    for key in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(i) = rest.find(key) {
            let before = rest[..i].chars().next_back();
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                out.push(split_path(&tail[..end]));
            }
            rest = &tail[end.max(key.len())..];
        }
    }
    out
}

/// The module file a path names, from module `from`; `None` for other crates and std.
fn resolve(from: &[String], path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let first = path.first()?;
    let (base, rest): (Module, &[String]) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (from.to_vec(), &path[1..]),
        "super" => {
            let mut base = from.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        // A child module, named relative to this one.
        child => {
            let mut m = from.to_vec();
            m.push(child.to_owned());
            if !modules.contains(&m) {
                return None;
            }
            (from.to_vec(), path)
        }
    };
    let mut best = base.clone();
    let mut cur = base;
    for seg in rest {
        cur.push(seg.clone());
        if modules.contains(&cur) {
            best = cur.clone();
        } else {
            break;
        }
    }
    Some(best)
}

fn imports() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let files: Vec<(Module, PathBuf)> = files
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .map(|f| (module_of(&src, &f), f))
        .collect();
    let modules: BTreeSet<Module> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph = BTreeMap::new();
    for (module, file) in &files {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let targets: BTreeSet<Module> = paths_in(&code)
            .iter()
            .filter_map(|p| resolve(module, p, &modules))
            .filter(|t| t != module)
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

#[test]
fn the_reader_understands_this_crates_imports() {
    let graph = imports();
    let of = |m: &str| &graph[&split_path(m)];
    assert!(of("site::callsite").contains(&split_path("site::stats")));
    assert!(of("dispatch::volume").contains(&split_path("dispatch::rate_limit")));
    assert!(of("detect::frames").contains(&split_path("detect::slot")));
    assert!(of("dispatch").contains(&split_path("sink::events")));
    assert!(of("timed").contains(&split_path("detect::frames")));
    assert!(
        of("site").contains(&split_path("site::callsite")),
        "relative `pub use`"
    );
    assert!(graph.len() > 30, "{} modules found", graph.len());
}

/// Every import that goes against [`MAY_USE`].
fn wrong_imports(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = MAY_USE.iter().copied().collect();
    let mut wrong = Vec::new();
    for (from, targets) in graph {
        let Some(top) = from.first() else { continue }; // lib.rs may use everything
        let Some(may) = allowed.get(top.as_str()) else {
            wrong.push(format!(
                "{}: a top-level module missing from MAY_USE",
                name(from)
            ));
            continue;
        };
        for to in targets {
            let Some(to_top) = to.first() else {
                wrong.push(format!("{} imports through the crate root", name(from)));
                continue;
            };
            if to_top != top && !may.contains(&to_top.as_str()) {
                wrong.push(format!("{} imports {}", name(from), name(to)));
            }
        }
    }
    wrong
}

/// Tarjan's strongly connected components with two or more modules: the import cycles.
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        cycles: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let Some((w, _)) = s.graph.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                scc.push(name(w));
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                s.cycles.push(scc);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        cycles: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.cycles
}

#[test]
fn each_layer_imports_only_from_the_layers_below_it() {
    let wrong = wrong_imports(&imports());
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn no_import_cycles() {
    let cycles = cycles(&imports());
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}

#[test]
fn a_cycle_or_a_wrong_import_would_be_caught() {
    // The checks above pass on the real sources; make sure they are not vacuous.
    let modules: BTreeSet<Module> = [
        vec![],
        split_path("sink"),
        split_path("sink::events"),
        split_path("sink::store"),
        split_path("detect"),
        split_path("detect::watchdog"),
    ]
    .into_iter()
    .collect();
    let code = code_of(
        "use crate::detect::watchdog::watchdog;\nfn f() { super::events::x(); }\n\
         #[cfg(test)]\nmod tests {\n use crate::tokio::x; }",
    );
    let store = split_path("sink::store");
    let found: BTreeSet<Module> = paths_in(&code)
        .iter()
        .filter_map(|p| resolve(&store, p, &modules))
        .collect();
    assert_eq!(
        found,
        [split_path("detect::watchdog"), split_path("sink::events")]
            .into_iter()
            .collect()
    );
    let mut graph = BTreeMap::from([(store.clone(), found)]);
    graph.insert(split_path("sink::events"), [store.clone()].into());
    assert_eq!(
        wrong_imports(&graph),
        ["sink::store imports detect::watchdog"]
    );
    assert_eq!(cycles(&graph).len(), 1, "store <-> events");
}
