//! The architecture, checked: data flows one way through `src/` (the guide, `src/guide/how_it_works.md`).
//!
//! Reads every source file, test code included, collects the crate-internal paths it uses
//! (`use crate::…`, `super::…`, relative `use child::…`, inline `crate::a::b(…)`, a macro's
//! `$crate::a::b`), resolves each to the module file it names, and fails if
//!
//! - a module imports from a layer it may not use (a sink, a call site or a record reaching
//!   into a detector, the dispatcher or the runtime integration, …), or
//! - any import cycle exists between module files, or
//! - a layer is handed a callback that calls what it may not import (below).
//!
//! No dependency: a small reader (`layers/`: `reader.rs`, `syntax.rs`, `lexer.rs`) for `use`
//! trees and calls, good enough for this crate's own sources. What it reads, beyond plain
//! `use`:
//!
//! - **Test code.** An inline `mod … { }` (a `#[cfg(test)] mod tests`, at the end of a file or
//!   nested deeper) and a `tests.rs` file are read like any other code and belong to the layer
//!   of the module they sit in: a sink's tests import what a sink may import.
//! - **`$crate::` paths.** A `macro_rules!` names `$crate::a::b`; it is read as `crate::a::b`
//!   seen through the re-exports it goes through (`$crate::__private::X` is wherever lib.rs's
//!   `__private` takes `X` from), since an exported macro can only name public paths.
//!
//! # Callbacks are imports
//!
//! A function handed to another layer runs inside it: a sink that stores a detector's fn calls
//! the detector as surely as if it had imported it. The rule this reader checks:
//!
//! - A *callback* is an argument, of a call to a crate-internal fn, that is a closure (`|…| …`,
//!   `move || …`) or a fn item named as a value (`super::slot::flush`, `Self::kick`, a fn of
//!   the same file or a `use`d one; a bare name that is a local of the calling fn is data),
//!   bare or inside `&`, `Some(…)`, `Box::new(…)`, `Arc::new(…)`. The calls read: a path's
//!   (`crate::x::f(…)`, `Type::f(…)` through a `use`), a static's method
//!   (`crate::x::HOOKS.add(…)`), and methods chained on a type's fn (`Type::new(…).on(…)`).
//! - What a callback *names*: a fn item, itself; a closure, whatever its body names: paths
//!   (`crate::config::debug_mode`), calls of the file's own fns or of `use`d names (`kick()`),
//!   and `SCREAMING_CASE` statics and consts of the file. Re-exports are followed to the module
//!   that defines the item.
//! - When the callee's module lies in another top-level layer than the caller's, everything
//!   the callback names counts as imported by the **callee's** module, and must be its own
//!   layer or one its layer may use ([`MAY_USE`]): the callee could not name it, so it must not
//!   call it either.
//!
//! So, in `detect/`, `crate::dispatch::on_flush(super::slot::flush)` is dispatch importing
//! detect, and `crate::clock::start_ticker(|| crate::config::debug_mode())` is clock importing
//! config; `crate::dispatch::stall(&stall)` hands data, not a callback. The other half, a
//! lower layer naming a higher layer's fn as a value (`register(crate::detect::x)` in a sink),
//! is already an import. Within one layer callbacks are free (they are how `detect::pending`
//! wakes `detect::watchdog` without a cycle), so they do not enter the cycle check.
//!
//! Not seen: method calls on values (`route.run(job)`, `builder.hook(f)`), fns stored through
//! struct literals, and what a closure reaches through the values it captures. Accepted
//! exceptions are listed, with their reason, in [`CALLBACKS_ALLOWED`].

use std::collections::{BTreeMap, BTreeSet};

#[path = "layers/lexer.rs"]
mod lexer;
#[path = "layers/reader.rs"]
mod reader;
#[path = "layers/syntax.rs"]
mod syntax;

use reader::{Crate, Graph, Module, name};
use syntax::split_path;

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
    // The guide's chapters (`src/guide/*.md`): documentation only, no code to import anything.
    ("guide", &[]),
];

/// Callbacks against the layers that are known and accepted (issue #20): (the module handing
/// the callback over, the callee as written there, the module the callback names, why).
/// Each entry must still match something: fix the code, then delete the entry.
const CALLBACKS_ALLOWED: &[(&str, &str, &str, &str)] = &[
    // #20: the clock's ticker thread keeps ticking while `keep()` says so, and the watchdog
    // hands it `|| crate::config::debug_mode().is_watch()`: the clock's thread reads config's
    // process global (and the first read of it initializes the config from the environment).
    // The way out is config telling the clock (which config may use) whenever the mode is
    // stored (`store`, `set_debug_mode`), and the ticker reading a flag of its own: a change
    // to config's globals and the ticker's stop condition, not a small move.
    (
        "detect::watchdog",
        "crate::clock::start_ticker",
        "config::global",
        "#20: the ticker's keep-going predicate reads the debug mode",
    ),
];

fn may_use(top: &str) -> Option<&'static [&'static str]> {
    MAY_USE.iter().find(|(m, _)| *m == top).map(|(_, may)| *may)
}

#[test]
fn the_reader_understands_this_crates_imports() {
    let graph = Crate::read().imports();
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
    assert!(
        graph.contains_key(&split_path("config::tests")),
        "a `tests.rs` is read (it belongs to its parent's layer)"
    );
    assert!(graph.len() > 30, "{} modules found", graph.len());
}

/// Every import that goes against [`MAY_USE`].
fn wrong_imports(graph: &Graph) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, targets) in graph {
        let Some(top) = from.first() else { continue }; // lib.rs may use everything
        let Some(may) = may_use(top) else {
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

/// Every callback that makes its receiver call what it may not import: the key
/// [`CALLBACKS_ALLOWED`] lists it by (caller, callee as written, module named), and a message.
fn wrong_callbacks(krate: &Crate) -> Vec<((String, String, String), String)> {
    let mut wrong = Vec::new();
    for h in krate.handovers() {
        let top = h.receiver[0].as_str();
        let may = may_use(top).unwrap_or_default();
        if h.named
            .first()
            .is_some_and(|t| t == top || may.contains(&t.as_str()))
        {
            continue;
        }
        let key = (name(&h.caller), h.callee, name(&h.named));
        let message = format!(
            "{}: {} hands `{}` ({}) a callback into {}",
            h.at,
            key.0,
            key.1,
            name(&h.receiver),
            key.2
        );
        wrong.push((key, message));
    }
    wrong
}

/// Tarjan's strongly connected components with two or more modules: the import cycles.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
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
    let wrong = wrong_imports(&Crate::read().imports());
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn no_import_cycles() {
    let cycles = cycles(&Crate::read().imports());
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}

#[test]
fn no_layer_is_handed_a_callback_it_could_not_import() {
    let found = wrong_callbacks(&Crate::read());
    let allowed = |key: &(String, String, String)| {
        CALLBACKS_ALLOWED
            .iter()
            .any(|(from, callee, into, _)| (*from, *callee, *into) == (&key.0, &key.1, &key.2))
    };
    let wrong: Vec<&str> = found
        .iter()
        .filter(|(key, _)| !allowed(key))
        .map(|(_, message)| message.as_str())
        .collect();
    assert!(
        wrong.is_empty(),
        "callbacks against the layers (fix, or list in CALLBACKS_ALLOWED with a reason):\n  {}",
        wrong.join("\n  ")
    );
    let stale: Vec<_> = CALLBACKS_ALLOWED
        .iter()
        .filter(|(from, callee, into, _)| {
            !found
                .iter()
                .any(|(key, _)| (*from, *callee, *into) == (&key.0, &key.1, &key.2))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "CALLBACKS_ALLOWED entries that match nothing any more (delete them): {stale:?}"
    );
}

#[test]
fn a_cycle_or_a_wrong_import_would_be_caught() {
    // The checks above pass on the real sources; make sure they are not vacuous.
    let krate = Crate::of(&[
        ("", "mod sink; mod detect;"),
        ("sink", "mod events; mod store;"),
        ("sink::events", "use super::store::Store;"),
        (
            "sink::store",
            "use crate::detect::watchdog::watchdog;\nfn f() { super::events::x(); }",
        ),
        ("detect", "mod watchdog;"),
        ("detect::watchdog", ""),
    ]);
    let graph = krate.imports();
    assert_eq!(
        graph[&split_path("sink::store")],
        [split_path("detect::watchdog"), split_path("sink::events")].into()
    );
    assert_eq!(
        wrong_imports(&graph),
        ["sink::store imports detect::watchdog"]
    );
    assert_eq!(cycles(&graph).len(), 1, "store <-> events");
}

#[test]
fn test_modules_belong_to_their_parents_layer() {
    // A test module, inline (anywhere: after a `'}'` and a `"}"`, nested in another module) or
    // a `tests.rs`, is read with its file's layer; its `super::` is its parent module.
    let krate = Crate::of(&[
        ("", "mod sink; mod detect; mod tokio;"),
        ("sink", "mod store; #[cfg(test)]\nmod tests;"),
        ("sink::tests", "use super::*;\nuse crate::detect::slot;"),
        (
            "sink::store",
            "fn f() {}\n\
             mod inner {\n\
                 fn g(c: char) -> bool { c == '}' || \"}\".contains(c) }\n\
                 #[cfg(test)]\n\
                 mod tests {\n\
                     use super::super::f;\n\
                     use crate::tokio::Builder;\n\
                 }\n\
             }",
        ),
        ("detect", "mod slot;"),
        ("detect::slot", ""),
        ("tokio", ""),
    ]);
    let graph = krate.imports();
    assert_eq!(
        graph[&split_path("sink::store")],
        [split_path("tokio")].into(),
        "`super::super::f` is the file itself; the tokio import is the file's"
    );
    assert_eq!(
        wrong_imports(&graph),
        [
            "sink::store imports tokio",
            "sink::tests imports detect::slot"
        ]
    );
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "`use super::*`");
}

#[test]
fn macro_paths_are_read_through_the_crate_roots_reexports() {
    // `$crate::__private::Probe` is `crate::detect::Probe` for a macro in a sink;
    // `$crate::fields::FN` and `$crate::emit!` stay in the sink; `tracing` is another crate.
    let krate = Crate::of(&[
        (
            "",
            "mod sink; mod detect;\npub use sink::fields;\n\
             pub mod __private {\n    pub use crate::detect::Probe;\n    pub use tracing;\n}",
        ),
        ("sink", "mod names; mod events;\npub use names::fields;"),
        (
            "sink::names",
            "pub mod fields { pub const FN: &str = \"fn\"; }",
        ),
        (
            "sink::events",
            "#[macro_export]\nmacro_rules! emit { () => {\n\
                 $crate::__private::tracing::event!({ $crate::fields::FN } = 1);\n\
                 $crate::emit!(@inner);\n\
                 let p = $crate::__private::Probe::new();\n} }",
        ),
        ("detect", "pub struct Probe;"),
    ]);
    let graph = krate.imports();
    assert_eq!(
        graph[&split_path("sink::events")],
        [split_path("detect"), split_path("sink::names")].into()
    );
    assert_eq!(wrong_imports(&graph), ["sink::events imports detect"]);
}

#[test]
fn a_callback_handed_down_is_an_import_of_the_layer_that_receives_it() {
    let krate = Crate::of(&[
        (
            "",
            "mod clock; mod config; mod detect; mod dispatch; mod sink; mod tokio; mod util;",
        ),
        ("clock", "pub fn start_ticker(keep: fn() -> bool) {}"),
        ("config", "pub fn debug_mode() -> Mode { Mode }"),
        (
            "util",
            "pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> { todo!() }",
        ),
        (
            "dispatch",
            "pub fn on_flush(f: fn()) {}\npub fn later(f: impl Fn() + 'static) {}\n\
             pub fn stall(s: &Stall) {}\npub static HOOKS: Hooks = Hooks::new();\n\
             pub struct Hooks;\nimpl Hooks { pub fn new() -> Hooks { Hooks } }",
        ),
        (
            "sink",
            "pub struct Store;\nimpl Store { pub fn keep(f: impl Fn() + 'static) {} }",
        ),
        ("detect", "mod slot; mod pending; mod watchdog;"),
        ("detect::slot", "pub fn flush() {}"),
        (
            "detect::pending",
            "pub struct Pending;\nimpl Pending { pub fn new(wake: fn()) {} }",
        ),
        (
            "detect::watchdog",
            "use super::pending::Pending;\nuse crate::dispatch;\n\
             static SLOTS: Mutex<Slots> = Mutex::new(Slots::new());\n\
             fn kick() {}\n\
             fn stall() {}\n\
             fn look(stall: Stall) {\n\
                 crate::dispatch::on_flush(super::slot::flush);\n\
                 dispatch::Hooks::new().add(Box::new(move |a, b| { let _ = a; kick() }));\n\
                 crate::clock::start_ticker(|| crate::config::debug_mode().is_watch());\n\
                 dispatch::HOOKS.add(Self::kick);\n\
                 dispatch::later(move || SLOTS.clear());\n\
                 // Not callbacks against the layers:\n\
                 Pending::new(kick);\n\
                 crate::dispatch::stall(&stall);\n\
                 dispatch::on_flush(|| crate::clock::now());\n\
                 crate::util::lock(&SLOTS).map(kick);\n\
             }",
        ),
        (
            "tokio",
            "use crate::sink::Store;\n\
             fn wire() {\n\
                 Store::keep(|| crate::detect::slot::flush());\n\
             }",
        ),
    ]);
    let found: Vec<String> = wrong_callbacks(&krate)
        .into_iter()
        .map(|(_, message)| message)
        .collect();
    assert_eq!(
        found,
        [
            "<detect::watchdog>:7: detect::watchdog hands `crate::dispatch::on_flush` (dispatch) \
             a callback into detect::slot",
            "<detect::watchdog>:8: detect::watchdog hands `dispatch::Hooks::new` (dispatch) a \
             callback into detect::watchdog",
            "<detect::watchdog>:9: detect::watchdog hands `crate::clock::start_ticker` (clock) \
             a callback into config",
            "<detect::watchdog>:10: detect::watchdog hands `dispatch::HOOKS` (dispatch) a \
             callback into detect::watchdog",
            "<detect::watchdog>:11: detect::watchdog hands `dispatch::later` (dispatch) a \
             callback into detect::watchdog",
            "<tokio>:3: tokio hands `Store::keep` (sink) a callback into detect::slot",
        ]
    );
    assert!(
        wrong_imports(&krate.imports()).is_empty(),
        "none of these is a plain import against the layers"
    );
}
