//! The crate as `tests/layers.rs` reads it: every file under `src/` (test code included), split
//! into module scopes, with what each scope imports and binds, resolved to module files; and
//! the callbacks one top-level module hands to another. No dependency: good enough for this
//! crate's own sources, not a Rust parser.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::lexer::{code_of, line_at, scopes};
use crate::syntax::{
    calls_with_callbacks, exported_macros, items_in, paths_in, split_path, uses_in,
};

/// A module, by its path from the crate root (`["sink", "events"]`; the root is empty).
pub(crate) type Module = Vec<String>;

/// `sink::events`; `crate` for the root.
pub(crate) fn name(m: &[String]) -> String {
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

/// Every `.rs` file under `dir`.
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

/// One module scope: a file, or an inline module in it.
struct Scope {
    /// The module file this code is in.
    file: Module,
    /// Where the file is (for messages).
    label: String,
    /// The module the code is in: `file` plus inline module names.
    module: Module,
    /// The scope's own code (everything else blanked; offsets are the file's).
    code: String,
}

/// The crate as read: its scopes, and what each module binds by `use` and defines.
pub(crate) struct Crate {
    scopes: Vec<Scope>,
    files: BTreeSet<Module>,
    /// Modules, files and inline ones.
    modules: BTreeSet<Module>,
    uses: BTreeMap<Module, Vec<(Vec<String>, String)>>,
    items: BTreeMap<Module, BTreeSet<String>>,
}

/// Each module file and the module files it imports.
pub(crate) type Graph = BTreeMap<Module, BTreeSet<Module>>;

impl Crate {
    /// Every `.rs` file under `src/` (a `tests.rs` too: it is its parent's `mod tests;`).
    pub(crate) fn read() -> Crate {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = dir.join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        Crate::new(
            files
                .into_iter()
                .map(|f| {
                    let label = f.strip_prefix(dir).unwrap().display().to_string();
                    (
                        module_of(&src, &f),
                        label,
                        std::fs::read_to_string(&f).unwrap(),
                    )
                })
                .collect(),
        )
    }

    /// A crate from synthetic sources: `("sink::store", "use …")`, `""` for the root.
    pub(crate) fn of(sources: &[(&str, &str)]) -> Crate {
        Crate::new(
            sources
                .iter()
                .map(|(m, text)| (split_path(m), format!("<{m}>"), (*text).to_owned()))
                .collect(),
        )
    }

    fn new(sources: Vec<(Module, String, String)>) -> Crate {
        let mut c = Crate {
            scopes: Vec::new(),
            files: BTreeSet::new(),
            modules: BTreeSet::new(),
            uses: BTreeMap::new(),
            items: BTreeMap::new(),
        };
        let mut macros = Vec::new();
        for (file, label, text) in sources {
            let code = code_of(&text);
            for m in exported_macros(&code) {
                let mut path = vec!["crate".to_owned()];
                path.extend(file.iter().cloned());
                path.push(m.clone());
                macros.push((path, m));
            }
            let mut found = Vec::new();
            scopes(file.clone(), code, &mut found);
            for (module, code) in found {
                c.modules.insert(module.clone());
                c.uses.insert(module.clone(), uses_in(&code));
                c.items.insert(module.clone(), items_in(&code));
                c.scopes.push(Scope {
                    file: file.clone(),
                    label: label.clone(),
                    module,
                    code,
                });
            }
            c.files.insert(file);
        }
        c.uses.entry(Vec::new()).or_default().extend(macros);
        c
    }

    /// The module file holding the item at `path` (from the root): its longest module prefix.
    fn file_of(&self, path: &[String]) -> Module {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| self.files.contains(m))
            .unwrap_or_default()
    }

    /// The path a `use` in `module` binds `name` to, as written there.
    fn binding(&self, module: &[String], name: &str) -> Option<&Vec<String>> {
        self.uses
            .get(module)?
            .iter()
            .find(|(_, bound)| bound == name)
            .map(|(p, _)| p)
    }

    /// `path`, written in `from`, from the root; `None` for other crates and std. Reads
    /// `crate::`, `$crate::`, `self::`, `super::` and child modules (not `use`d names).
    fn absolute(&self, from: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?;
        Some(match first.as_str() {
            "crate" => path[1..].to_vec(),
            "$crate" => self.through_reexports(path[1..].to_vec())?,
            "self" => [from, &path[1..]].concat(),
            "super" => {
                let supers = path.iter().take_while(|s| *s == "super").count();
                let base = &from[..from.len().saturating_sub(supers)];
                [base, &path[supers..]].concat()
            }
            child => {
                if !self.modules.contains(&[from, &[child.to_owned()]].concat()) {
                    return None;
                }
                [from, path].concat()
            }
        })
    }

    /// `path` (from the root) seen through the `use` items it goes through, to where the item
    /// is defined: `__private::Emit` → `site::Emit`.
    fn through_reexports(&self, mut path: Vec<String>) -> Option<Vec<String>> {
        'follow: for _ in 0..8 {
            for i in 0..path.len() {
                if self.modules.contains(&path[..=i]) {
                    continue;
                }
                if let Some(target) = self.binding(&path[..i], &path[i]) {
                    let mut next = self.absolute(&path[..i], target)?;
                    next.extend_from_slice(&path[i + 1..]);
                    path = next;
                    continue 'follow;
                }
                break;
            }
            break;
        }
        Some(path)
    }

    /// The module file an import names, from module `from`; `None` for other crates and std.
    fn resolve(&self, from: &[String], path: &[String]) -> Option<Module> {
        Some(self.file_of(&self.absolute(from, path)?))
    }

    /// Where a name used in code of `from` is defined: like [`Crate::absolute`], and also
    /// through `use`d names, glob imports, `Self` and the items of `from` itself.
    fn locate(&self, from: &[String], path: &[String], depth: usize) -> Option<Vec<String>> {
        let first = path.first()?.as_str();
        if depth > 4 {
            return None;
        }
        if matches!(first, "crate" | "$crate" | "self" | "super")
            || self.modules.contains(&[from, &path[..1]].concat())
        {
            return self.through_reexports(self.absolute(from, path)?);
        }
        if first == "Self" {
            return Some(from.to_vec());
        }
        if let Some(target) = self.binding(from, first) {
            let mut found = self.locate(from, target, depth + 1)?;
            found.extend_from_slice(&path[1..]);
            return self.through_reexports(found);
        }
        if path.len() == 1 && self.items.get(from).is_some_and(|f| f.contains(first)) {
            return Some([from, path].concat());
        }
        let globs = self.uses.get(from).into_iter().flatten();
        globs
            .filter(|(_, bound)| bound == "*")
            .filter_map(|(g, _)| self.absolute(from, g))
            .filter(|g| g != from)
            .find_map(|g| self.locate(&g, path, depth + 1))
    }

    /// Each module file and the module files it imports (its inline modules' imports too).
    pub(crate) fn imports(&self) -> Graph {
        let mut graph: Graph = self
            .files
            .iter()
            .map(|f| (f.clone(), BTreeSet::new()))
            .collect();
        for scope in &self.scopes {
            let targets = paths_in(&scope.code)
                .into_iter()
                .filter_map(|p| self.resolve(&scope.module, &p))
                .filter(|t| *t != scope.file);
            graph.get_mut(&scope.file).unwrap().extend(targets);
        }
        graph
    }

    /// Every callback handed to a fn of another top-level module than the caller's (see the
    /// rule at the top of layers.rs), once per module it names.
    pub(crate) fn handovers(&self) -> Vec<Handover> {
        let mut out = Vec::new();
        for scope in &self.scopes {
            for call in calls_with_callbacks(&scope.code) {
                let Some(callee) = self.locate(&scope.module, &call.callee, 0) else {
                    continue;
                };
                let receiver = self.file_of(&callee);
                if receiver.is_empty() || receiver.first() == scope.file.first() {
                    continue; // defined in lib.rs (no layer), or the caller's own layer
                }
                for named in &call.named {
                    let Some(target) = self.locate(&scope.module, named, 0) else {
                        continue;
                    };
                    out.push(Handover {
                        at: format!("{}:{}", scope.label, line_at(&scope.code, call.at)),
                        caller: scope.file.clone(),
                        callee: call.callee.join("::"),
                        receiver: receiver.clone(),
                        named: self.file_of(&target),
                    });
                }
            }
        }
        out
    }
}

/// A callback handed from one top-level module to a fn of another, and one module it names.
pub(crate) struct Handover {
    /// Where: `src/detect/watchdog/mod.rs:65`.
    pub(crate) at: String,
    /// The module file handing it over.
    pub(crate) caller: Module,
    /// The callee, as written there: `crate::clock::start_ticker`.
    pub(crate) callee: String,
    /// The callee's module file: it calls the callback.
    pub(crate) receiver: Module,
    /// The module file of something the callback names.
    pub(crate) named: Module,
}
