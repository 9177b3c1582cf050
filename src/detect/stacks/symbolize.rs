//! From code addresses to what a person reads: function names and source lines (inlined frames
//! included: an `async fn` body is inlined into its task's poll), the user's own frames picked
//! out, and the culprit and async chain named from them (`Handler::run > Get::apply`).

use std::fmt::Write as _;

use crate::record::{NativeStack, StackFrame, StackMethod};
use crate::util::short_path;

/// Frames kept in a stall's stack block.
const MAX_FRAMES: usize = 24;

/// One symbolized frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Sym {
    /// Demangled, without the hash.
    pub(super) name: String,
    /// Relative to the working directory or to the workspace root when under either.
    pub(super) file: Option<String>,
    pub(super) line: Option<u32>,
}

impl Sym {
    fn display(&self) -> String {
        let mut s = self.name.clone();
        if let (Some(file), Some(line)) = (&self.file, self.line) {
            let _ = write!(s, " ({}:{line})", short_path(file));
        }
        s
    }

    fn location(&self) -> Option<String> {
        Some(format!("{}:{}", self.file.as_ref()?, self.line?))
    }
}

/// Resolves lookup addresses (already pointing inside the call instruction for return
/// addresses), innermost first; an address may give several frames (inlined calls, innermost
/// first).
pub(super) fn symbolize(lookups: &[u64]) -> Vec<Sym> {
    let cwd = std::env::current_dir().ok();
    let mut frames: Vec<Sym> = Vec::new();
    for &addr in lookups {
        let Ok(addr) = usize::try_from(addr) else {
            continue;
        };
        let before = frames.len();
        backtrace::resolve(addr as *mut std::ffi::c_void, |sym| {
            let Some(name) = sym.name() else { return };
            let file = sym.filename().map(|f| {
                cwd.as_deref()
                    .and_then(|cwd| f.strip_prefix(cwd).ok())
                    .or_else(|| in_workspace(f, &format!("{name:#}")))
                    .unwrap_or(f)
                    .display()
                    .to_string()
            });
            frames.push(Sym {
                name: qualified(format!("{name:#}"), file.as_deref()),
                file,
                line: sym.lineno(),
            });
        });
        if frames.len() == before {
            let name = match mapping_name(addr as u64) {
                Some(module) => format!("{addr:#x} in {module}"),
                None => format!("{addr:#x}"),
            };
            frames.push(Sym {
                name,
                file: None,
                line: None,
            });
        }
    }
    tidy(frames)
}

/// Frames as named by any symbolizer, made readable the same way: short names qualified with
/// their module, repeats dropped, anonymous blocks named after their fn.
pub(super) fn tidy(mut frames: Vec<Sym>) -> Vec<Sym> {
    for f in &mut frames {
        f.name = qualified(std::mem::take(&mut f.name), f.file.as_deref());
    }
    frames.dedup();
    name_anonymous_blocks(&mut frames);
    frames
}

/// A fn's name as the symbol table gives it (`tokio::runtime::scheduler::…::run_task`), also
/// where the debug information has only its own name (`run_task`, `poll<…>`: a build with
/// `debug = "line-tables-only"`): for a dependency's or the toolchain's file, its module is
/// read from the file's path.
fn qualified(name: String, file: Option<&str>) -> String {
    let head = name.trim_start_matches('<');
    let head = head.split('<').next().unwrap_or(head);
    if head.contains("::") {
        return name;
    }
    match file.and_then(module_of_file) {
        Some(module) => format!("{module}::{name}"),
        None => name,
    }
}

/// `…/.cargo/registry/src/<index>/tokio-1.54.1/src/runtime/task/mod.rs` →
/// `tokio::runtime::task`; `…/library/std/src/thread/mod.rs` → `std::thread`.
fn module_of_file(file: &str) -> Option<String> {
    const REGISTRY: &str = "/.cargo/registry/src/";
    let (krate, path) = if let Some(i) = file.find(REGISTRY) {
        let (_index, rest) = file[i + REGISTRY.len()..].split_once('/')?;
        let (dir, path) = rest.split_once("/src/")?;
        let krate = dir.rsplit_once('-').map_or(dir, |(krate, _version)| krate);
        (krate.replace('-', "_"), path)
    } else if file.starts_with("library/") || file.contains("/rustc/") {
        let i = file.find("library/")?;
        let (krate, path) = file[i + "library/".len()..].split_once("/src/")?;
        (krate.to_owned(), path)
    } else {
        return None;
    };
    let mut module = vec![krate.as_str()];
    module.extend(
        path.strip_suffix(".rs")?
            .split('/')
            .filter(|seg| !matches!(*seg, "mod" | "lib" | "main")),
    );
    Some(module.join("::"))
}

/// An async block or closure the debug information names only `{async_block#0}` (a build with
/// `debug = "line-tables-only"`) is given the fn it is in, as a symbol would: the path of
/// `{closure_env#…}` in its own generic arguments or its caller's
/// (`{async_block#0}<app::{closure_env#0}, …>`), as `app::{{closure}}`.
fn name_anonymous_blocks(frames: &mut [Sym]) {
    fn enclosing_fn(name: &str) -> Option<&str> {
        let env = ["::{closure_env#", "::{async_block_env#", "::{async_fn_env#"]
            .iter()
            .filter_map(|marker| name.find(marker))
            .min()?;
        let start = name[..env].rfind(['<', ' ', ',']).map_or(0, |i| i + 1);
        Some(&name[start..env])
    }
    for i in 0..frames.len() {
        if !frames[i].name.starts_with('{') {
            continue;
        }
        let found = enclosing_fn(&frames[i].name)
            .or_else(|| {
                frames
                    .get(i + 1)
                    .and_then(|outer| enclosing_fn(&outer.name))
            })
            .map(|path| format!("{path}::{{{{closure}}}}"));
        if let Some(name) = found {
            frames[i].name = name;
        }
    }
}

/// The workspace roots found so far: where the sources cargo built this binary from are.
static ROOTS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// `file` relative to the root of the workspace this binary was built from, wherever the
/// process runs (a server started from `/srv`, not from its checkout): the debug information
/// has absolute paths, and a call site's `file!()` the same path relative to that root. A
/// frame of an annotated fn (or of `#[pollwatch::main]`'s, a test's body), in its file,
/// teaches the root.
fn in_workspace<'f>(file: &'f std::path::Path, fn_name: &str) -> Option<&'f std::path::Path> {
    use std::path::Path;
    let mut roots = crate::util::lock(&ROOTS);
    if let Some(relative) = roots.iter().find_map(|root| file.strip_prefix(root).ok()) {
        return Some(relative);
    }
    let name = short_name(fn_name);
    let root = crate::site::call_sites().into_iter().find_map(|cs| {
        let own = Path::new(cs.location()?.file);
        let same_fn = name == cs.name() || name.ends_with(&format!("::{}", cs.name()));
        if !same_fn || own.is_absolute() || !file.ends_with(own) {
            return None;
        }
        file.ancestors().nth(own.components().count())
    })?;
    let relative = file.strip_prefix(root).ok()?;
    roots.push(root.to_owned());
    Some(relative)
}

/// The file (or `[vdso]`, `[heap]`) mapped at `addr`, for a frame no symbol names.
fn mapping_name(addr: u64) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let (start, end) = (
            u64::from_str_radix(start, 16).ok()?,
            u64::from_str_radix(end, 16).ok()?,
        );
        let path = fields.nth(4)?;
        (start..end).contains(&addr).then(|| path.to_owned())
    })
}

/// Crates and libraries whose frames are never the culprit: the toolchain, the runtime, the
/// instrumentation, the C library.
const NOT_USER: &[&str] = &[
    "std::",
    "core::",
    "alloc::",
    "tokio::",
    "futures",
    "tracing",
    "pollwatch::",
    "backtrace::",
    "parking_lot",
    "mio::",
    "__",
    "_start",
    "start_thread",
    "clone",
    "syscall",
    "0x",
];

/// Without line information a frame's file is unknown; these widely used crates are then
/// known not to be the user's own (a frame of another dependency may be taken for the user's:
/// build with `debug = "line-tables-only"` for exact lines and exact attribution).
const DEPENDENCIES: &[&str] = &[
    "hyper",
    "h2::",
    "http::",
    "http_body",
    "tower",
    "axum",
    "tonic",
    "bytes::",
    "reqwest",
    "rustls",
    "ring::",
    "serde",
    "regex",
    "hashbrown",
    "crossbeam",
    "rayon",
    "libc::",
    "once_cell",
    "lock_api",
    "dashmap",
    "sqlx",
    "redis::",
    "prost",
    "quanta",
    "console_",
];

/// Whether a frame is the user's own code: a Rust source file of the workspace the binary was
/// built from (relative to it, or to the working directory); or one elsewhere that is neither
/// a registry or git dependency's nor the toolchain's, in a fn of no common crate (a process
/// started from outside its checkout, a binary built on another machine); or, without line
/// information (a release build without debug info), a Rust path outside the runtime's and
/// common crates.
fn is_user(sym: &Sym) -> bool {
    let name = sym.name.trim_start_matches('<');
    if NOT_USER.iter().any(|p| name.starts_with(p)) {
        return false;
    }
    let of_a_dependency = || {
        DEPENDENCIES
            .iter()
            .any(|p| name.starts_with(p) || name.contains(&format!(" as {p}")))
    };
    match &sym.file {
        Some(file) => {
            file.ends_with(".rs")
                && !(file.starts_with("./")
                    || file.starts_with("library/")
                    || file.contains("/rustc/")
                    || file.contains(".cargo/registry")
                    || file.contains(".cargo/git"))
                && !(file.starts_with('/') && of_a_dependency())
        }
        None => name.contains("::") && !of_a_dependency(),
    }
}

/// Where the `<…>` that `name` starts with closes.
fn closing_angle(name: &str) -> Option<usize> {
    let mut depth = 0usize;
    name.char_indices().find_map(|(i, c)| {
        match c {
            '<' => depth += 1,
            '>' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        None
    })
}

/// A framework's generic impl, `<F as axum::handler::Handler<…>>::call`, as `axum's
/// Handler::call`: without debug information the user's handler, inlined into it, has no frame
/// of its own, and the impl's own name must not be blamed as if it were the user's fn. (Its
/// `Self` is a bare type parameter: legacy symbol names keep no generic arguments; v0 ones,
/// `-C symbol-mangling-version=v0`, would name the handler's type.)
fn inlined_into(sym: &Sym) -> Option<String> {
    let rest = sym.name.strip_prefix('<')?;
    let (self_ty, rest) = rest.split_once(" as ")?;
    let is_param = !self_ty.is_empty()
        && self_ty
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && self_ty.starts_with(|c: char| c.is_ascii_uppercase());
    if !is_param {
        return None;
    }
    let trait_path = rest.split(['<', '>']).next()?;
    let krate = trait_path.split("::").next()?;
    if [
        "core",
        "std",
        "alloc",
        "futures_util",
        "futures_core",
        "tokio",
    ]
    .contains(&krate)
    {
        return None;
    }
    let trait_name = trait_path.rsplit("::").next()?;
    // The method: the first segment after the `<…>` that names the impl.
    let end = closing_angle(&sym.name)?;
    let method = sym.name[end + 1..]
        .trim_start_matches("::")
        .split("::")
        .next()
        .filter(|m| !m.is_empty() && !m.starts_with('{'))?;
    Some(format!("{krate}'s `{trait_name}::{method}`"))
}

/// Where a task's (or a `block_on`'s root future's) poll begins: frames further out are the
/// runtime's and the thread's, never part of the async chain.
fn is_poll_boundary(sym: &Sym) -> bool {
    let name = sym.name.trim_start_matches('<');
    [
        "tokio::runtime::task::",
        "tokio::runtime::scheduler::",
        "tokio::runtime::park::",
        "tokio::runtime::blocking::",
        "tokio::runtime::runtime::Runtime::block_on",
        "futures_executor::",
        "std::rt::lang_start",
        "std::thread::lifecycle::",
        "std::sys::backtrace::__rust_begin_short_backtrace",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        && !name.contains("block_in_place")
}

/// An `async fn` body or an async block: its frame is the coroutine's `{{closure}}`
/// (`{async_fn#0}`, `{async_block#0}` in v0 mangling).
fn is_async_body(sym: &Sym) -> bool {
    sym.name.contains("{{closure}}") || sym.name.contains("{async")
}

/// `mini_redis::cmd::get::Get::apply::{{closure}}` → `Get::apply`; `<T as Trait>::m` → `T::m`;
/// `app::server::run::{{closure}}` → `run`: the fn, with its type when it is a method
/// (UpperCamelCase, as Rust's naming lints keep types).
pub(super) fn short_name(full: &str) -> String {
    let mut name = full.trim().to_owned();
    if name.starts_with('<') {
        // `<X as Trait>::m` → `X::m`.
        if let Some(end) = closing_angle(&name) {
            let inner = &name[1..end];
            let inner = inner.split(" as ").next().unwrap_or(inner);
            name = format!("{inner}{}", &name[end + 1..]);
        }
    }
    let mut plain = String::new();
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let segments: Vec<&str> = plain
        .split("::")
        .map(|s| s.split('{').next().unwrap_or("").trim())
        .filter(|s| !s.is_empty())
        .collect();
    let name = match segments.as_slice() {
        [.., owner, f] if owner.starts_with(|c: char| c.is_uppercase()) => {
            format!("{owner}::{f}")
        }
        [.., f] => (*f).to_owned(),
        [] => full.to_owned(),
    };
    // The body of `#[pollwatch::main]` / `#[pollwatch::test]` is its inner fn.
    match name.as_str() {
        "__pollwatch_main" => "main".to_owned(),
        _ => name,
    }
}

/// Whether Tokio's `block_in_place` is on the stack: the thread handed its worker over, so
/// blocking here is what `block_in_place` is for.
fn in_block_in_place(frames: &[Sym]) -> bool {
    frames
        .iter()
        .any(|f| f.name.starts_with("tokio::") && f.name.contains("block_in_place"))
}

/// Whether the stack is a Tokio worker polling a task whose own code blocks: walking outward
/// from the system call, the first frame outside the toolchain is not the runtime's (its
/// park, its driver, its blocking pool's wait), and a scheduler frame comes before any of the
/// blocking pool's (a `spawn_blocking` job runs on a pool thread, where blocking is allowed;
/// a multi-thread worker also runs on one, below its scheduler frames).
fn in_task_poll(frames: &[Sym]) -> bool {
    let mut own_code = false;
    for f in frames {
        let name = f.name.trim_start_matches('<');
        if name.starts_with("tokio::runtime::scheduler::") {
            return own_code;
        }
        if name.starts_with("tokio::runtime::blocking::") {
            return false;
        }
        if name.starts_with("tokio::runtime::") {
            if !own_code {
                return false;
            }
        } else if !is_toolchain(name) && !name.starts_with("tokio::") {
            // Tokio's other modules (`loom`, `sync`, …) wait for whoever called them.
            own_code = true;
        }
    }
    false
}

/// The standard library, the C library, the runtime's I/O driver (mio), lock crates, or an
/// address with no name.
fn is_toolchain(name: &str) -> bool {
    [
        "std::",
        "core::",
        "alloc::",
        "mio::",
        // Locks and condvars: the runtime's own park waits in them (Tokio's `parking_lot`
        // feature), as may a task; the frame that called them says whose wait it is.
        "parking_lot",
        "lock_api::",
        "0x",
        "__",
        "syscall",
        "clone",
        "start_thread",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        || !name.contains("::")
}

/// The frames a report shows: up to where the runtime polled the task (its own frames and the
/// thread's further out say nothing), at most `MAX_FRAMES`.
fn stack_block(frames: &[Sym]) -> Vec<String> {
    let end = frames
        .iter()
        .position(is_poll_boundary)
        .map_or(frames.len(), |i| i + 1);
    frames[..end]
        .iter()
        .take(MAX_FRAMES)
        .map(Sym::display)
        .collect()
}

/// What a person reads about a stack: the frames, the culprit (the innermost frame of the
/// user's code: the line that blocks) and the async chain: the user's async fns between the
/// task's poll and the culprit, outermost first, ending with the culprit's fn.
pub(super) fn describe(
    frames: Vec<Sym>,
    syscall: Option<String>,
    method: StackMethod,
) -> NativeStack {
    let in_poll = frames
        .iter()
        .position(is_poll_boundary)
        .map_or(&frames[..], |end| &frames[..end]);
    let user: Vec<&Sym> = in_poll.iter().filter(|f| is_user(f)).collect();
    let culprit_is_async = user.first().is_some_and(|f| is_async_body(f));
    let culprit = user.first().map(|f| StackFrame {
        name: short_name(&f.name),
        location: f.location(),
    });
    let mut chain: Vec<String> = Vec::new();
    for (i, f) in user.iter().enumerate().rev() {
        if i != 0 && !is_async_body(f) {
            continue;
        }
        let name = short_name(&f.name);
        if chain.last() != Some(&name) {
            chain.push(name);
        }
    }
    NativeStack {
        syscall,
        in_block_in_place: in_block_in_place(&frames),
        in_task_poll: in_task_poll(&frames),
        inlined_into: if user.is_empty() {
            in_poll.iter().find_map(inlined_into)
        } else {
            None
        },
        frames: stack_block(&frames),
        culprit,
        chain,
        culprit_is_async,
        method,
    }
}

/// The name of system call `nr` on this architecture.
pub(super) fn syscall_name(nr: i64) -> String {
    #[cfg(target_arch = "x86_64")]
    const NAMES: &[(i64, &str)] = &[
        (0, "read"),
        (1, "write"),
        (7, "poll"),
        (17, "pread64"),
        (18, "pwrite64"),
        (23, "select"),
        (35, "nanosleep"),
        (42, "connect"),
        (43, "accept"),
        (45, "recvfrom"),
        (47, "recvmsg"),
        (61, "wait4"),
        (74, "fsync"),
        (202, "futex"),
        (230, "clock_nanosleep"),
        (232, "epoll_wait"),
        (257, "openat"),
        (270, "pselect6"),
        (271, "ppoll"),
        (281, "epoll_pwait"),
        (288, "accept4"),
    ];
    #[cfg(target_arch = "aarch64")]
    const NAMES: &[(i64, &str)] = &[
        (22, "epoll_pwait"),
        (56, "openat"),
        (63, "read"),
        (64, "write"),
        (67, "pread64"),
        (68, "pwrite64"),
        (72, "pselect6"),
        (73, "ppoll"),
        (82, "fsync"),
        (98, "futex"),
        (101, "nanosleep"),
        (115, "clock_nanosleep"),
        (202, "accept"),
        (203, "connect"),
        (207, "recvfrom"),
        (212, "recvmsg"),
        (242, "accept4"),
        (260, "wait4"),
    ];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const NAMES: &[(i64, &str)] = &[];
    NAMES
        .iter()
        .find(|(n, _)| *n == nr)
        .map_or_else(|| format!("syscall {nr}"), |(_, name)| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_like_the_code() {
        let cases = [
            (
                "mini_redis::cmd::get::Get::apply::{{closure}}",
                "Get::apply",
            ),
            (
                "mini_redis::server::Handler::run::{{closure}}::{{closure}}",
                "Handler::run",
            ),
            ("mini_redis::server::run::{{closure}}", "run"),
            (
                "<mini_redis::server::Listener as core::ops::drop::Drop>::drop",
                "Listener::drop",
            ),
            ("app::Db<K, V>::get", "Db::get"),
            ("app::run_handler::{async_fn#0}", "run_handler"),
            ("tests::a_test::__pollwatch_main::{{closure}}", "main"),
        ];
        for (full, short) in cases {
            assert_eq!(short_name(full), short, "{full}");
        }
    }

    fn sym(name: &str, file: Option<&str>) -> Sym {
        Sym {
            name: name.to_owned(),
            file: file.map(str::to_owned),
            line: file.map(|_| 7),
        }
    }

    #[test]
    fn the_culprit_is_the_innermost_user_frame_and_the_chain_reads_outward_in() {
        let frames = vec![
            sym("__GI___clock_nanosleep", Some("./time/clock_nanosleep.c")),
            sym(
                "std::thread::sleep",
                Some("/rustc/abc/library/std/src/thread/mod.rs"),
            ),
            sym(
                "app::cmd::get::Get::apply::{{closure}}",
                Some("src/cmd/get.rs"),
            ),
            sym(
                "<pollwatch::timed::Timed<F> as core::future::future::Future>::poll",
                Some("src/timed.rs"),
            ),
            sym(
                "app::server::Handler::run::{{closure}}",
                Some("src/server.rs"),
            ),
            sym(
                "app::server::Handler::run::{{closure}}",
                Some("src/server.rs"),
            ),
            sym(
                "tokio::runtime::task::core::Core<T,S>::poll",
                Some("/home/u/.cargo/registry/src/tokio-1.54.1/src/runtime/task/core.rs"),
            ),
        ];
        let b = describe(frames, Some("clock_nanosleep".into()), StackMethod::Unwound);
        let culprit = b.culprit.unwrap();
        assert_eq!(culprit.name, "Get::apply");
        assert_eq!(culprit.location.as_deref(), Some("src/cmd/get.rs:7"));
        assert_eq!(b.chain, ["Handler::run", "Get::apply"]);
        assert!(!b.in_block_in_place);
    }

    #[test]
    fn without_line_information_the_fn_is_still_named() {
        let frames = vec![
            sym("std::thread::sleep", None),
            sym("app::Store::flush::{{closure}}", None),
            sym("tokio::runtime::task::harness::poll_future", None),
        ];
        let b = describe(frames, None, StackMethod::Unwound);
        assert_eq!(b.culprit.unwrap().name, "Store::flush");
    }

    #[test]
    fn block_in_place_is_recognized() {
        let frames = vec![
            sym("std::thread::sleep", None),
            sym(
                "tokio::runtime::scheduler::multi_thread::worker::block_in_place",
                None,
            ),
        ];
        assert!(describe(frames, None, StackMethod::Unwound).in_block_in_place);
    }

    #[test]
    fn the_chain_is_the_async_fns_inside_the_poll_and_the_leaf() {
        let frames = vec![
            sym(
                "std::thread::sleep",
                Some("/rustc/abc/library/std/src/thread/mod.rs"),
            ),
            sym("app::db::read_row", Some("src/db.rs")),
            sym("app::db::parse", Some("src/db.rs")),
            sym("app::cmd::Get::apply::{{closure}}", Some("src/cmd.rs")),
            sym(
                "app::main::__pollwatch_main::{{closure}}",
                Some("src/main.rs"),
            ),
            sym(
                "tokio::runtime::scheduler::current_thread::CoreGuard::block_on",
                Some(
                    "/home/u/.cargo/registry/src/tokio-1.54.1/src/runtime/scheduler/current_thread/mod.rs",
                ),
            ),
            sym("app::main", Some("src/main.rs")),
        ];
        let b = describe(frames, Some("clock_nanosleep".into()), StackMethod::Unwound);
        assert_eq!(b.culprit.unwrap().name, "read_row");
        // `parse` is a sync fn in between; `app::main` (outside the poll) is the thread's.
        assert_eq!(b.chain, ["main", "Get::apply", "read_row"]);
    }

    #[test]
    fn a_worker_polling_a_task_is_told_from_the_runtime_and_the_blocking_pool() {
        let registry = Some("/home/u/.cargo/registry/src/tokio/src/lib.rs");
        let task_poll = vec![
            sym("__futex_abstimed_wait_common", None),
            sym("std::sys::sync::mutex::futex::Mutex::lock_contended", None),
            sym("app::handler::{{closure}}", Some("src/main.rs")),
            sym("tokio::runtime::task::core::Core<T,S>::poll", registry),
            sym(
                "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
                registry,
            ),
            sym("tokio::runtime::blocking::pool::Inner::run", registry),
        ];
        assert!(describe(task_poll, None, StackMethod::Unwound).blocks_a_worker());
        let blocking_job = vec![
            sym("std::thread::sleep", None),
            sym("app::job::{{closure}}", Some("src/main.rs")),
            sym(
                "<tokio::runtime::blocking::task::BlockingTask<T> as core::future::future::Future>::poll",
                registry,
            ),
            sym("tokio::runtime::task::core::Core<T,S>::poll", registry),
            sym("tokio::runtime::blocking::pool::Inner::run", registry),
        ];
        assert!(!describe(blocking_job, None, StackMethod::Unwound).blocks_a_worker());
        let parked = vec![
            sym("epoll_wait", None),
            sym("mio::poll::Poll::poll", None),
            sym("tokio::runtime::io::driver::Driver::turn", registry),
            sym(
                "tokio::runtime::scheduler::multi_thread::park::Parker::park",
                registry,
            ),
        ];
        assert!(!describe(parked, None, StackMethod::Unwound).blocks_a_worker());
        let in_place = vec![
            sym("std::thread::sleep", None),
            sym(
                "app::handler::{{closure}}::{{closure}}",
                Some("src/main.rs"),
            ),
            sym(
                "tokio::runtime::scheduler::multi_thread::worker::block_in_place",
                registry,
            ),
            sym("app::handler::{{closure}}", Some("src/main.rs")),
            sym("tokio::runtime::task::core::Core<T,S>::poll", registry),
            sym(
                "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
                registry,
            ),
        ];
        let b = describe(in_place, None, StackMethod::Unwound);
        assert!(b.in_block_in_place && !b.blocks_a_worker());
    }

    #[test]
    fn a_process_started_outside_its_checkout_still_finds_the_users_line() {
        // Absolute paths: the binary runs from elsewhere, or was built on another machine.
        let frames = vec![
            sym(
                "std::thread::sleep",
                Some("/rustc/abc/library/std/src/thread/mod.rs"),
            ),
            sym(
                "example_testing::app::{{closure}}::{{closure}}",
                Some("/srv/build/testing/src/main.rs"),
            ),
            sym(
                "<F as axum::handler::Handler<((),),S>>::call::{{closure}}",
                Some("/srv/build/axum/src/handler/mod.rs"),
            ),
            sym(
                "hyper::proto::h1::dispatch::Dispatcher::poll",
                Some("/home/u/.cargo/registry/src/x/hyper-1.0/src/proto/h1/dispatch.rs"),
            ),
            sym("tokio::runtime::task::core::Core<T,S>::poll", None),
        ];
        let b = describe(frames, None, StackMethod::Unwound);
        let culprit = b.culprit.expect("the handler");
        assert_eq!(culprit.name, "app");
        assert_eq!(
            culprit.location.as_deref(),
            Some("/srv/build/testing/src/main.rs:7")
        );
        assert_eq!(b.chain, ["app"], "a path dependency's frames are not yours");
    }

    #[test]
    fn a_handler_inlined_into_a_frameworks_generic_impl_is_said_so_not_blamed_on_it() {
        // A release build without debug information: symbols only, the closure inlined.
        let frames = vec![
            sym("__GI___clock_nanosleep", None),
            sym("std::thread::functions::sleep", None),
            sym(
                "<F as axum::handler::Handler<((),),S>>::call::{{closure}}",
                None,
            ),
            sym(
                "<futures_util::future::future::map::Map<Fut,F> as core::future::future::Future>::poll",
                None,
            ),
            sym(
                "<axum::routing::route::RouteFuture<E> as core::future::future::Future>::poll",
                None,
            ),
            sym(
                "axum::serve::handle_connection::{{closure}}::{{closure}}",
                None,
            ),
            sym("tokio::runtime::task::core::Core<T,S>::poll", None),
        ];
        let b = describe(frames, None, StackMethod::Unwound);
        assert_eq!(b.culprit, None, "axum's impl is not the user's fn");
        assert_eq!(b.inlined_into.as_deref(), Some("axum's `Handler::call`"));
        // A user's frame present: it is the culprit, nothing is said of inlining.
        let frames = vec![
            sym("app::handler::{{closure}}", Some("src/main.rs")),
            sym(
                "<F as axum::handler::Handler<((),),S>>::call::{{closure}}",
                None,
            ),
        ];
        let b = describe(frames, None, StackMethod::Unwound);
        assert!(b.culprit.is_some() && b.inlined_into.is_none());
    }

    #[test]
    fn a_line_tables_only_build_is_read_like_a_full_one() {
        // `debug = "line-tables-only"`: the debug information names fns without their path.
        let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        assert_eq!(
            qualified(
                "run_task".into(),
                Some(&format!(
                    "{registry}/tokio-1.54.1/src/runtime/scheduler/multi_thread/worker.rs"
                ))
            ),
            "tokio::runtime::scheduler::multi_thread::worker::run_task"
        );
        assert_eq!(
            qualified(
                "poll<T>".into(),
                Some(&format!("{registry}/futures-util-0.3.32/src/lib.rs"))
            ),
            "futures_util::poll<T>"
        );
        assert_eq!(
            qualified("sleep".into(), Some("library/std/src/thread/functions.rs")),
            "std::thread::functions::sleep"
        );
        assert_eq!(
            qualified("app".into(), Some("src/main.rs")),
            "app",
            "the user's own: kept"
        );
        let mut frames = vec![
            sym("{async_block#0}", Some("/srv/app/src/main.rs")),
            sym(
                "{async_block#0}<example::app::{closure_env#0}, example::app::{closure#0}::{async_block_env#0}, &str, ()>",
                Some("/srv/axum/src/handler/mod.rs"),
            ),
        ];
        name_anonymous_blocks(&mut frames);
        assert_eq!(frames[0].name, "example::app::{{closure}}");
        assert_eq!(frames[1].name, "example::app::{{closure}}");
        frames.push(sym(
            "tokio::runtime::scheduler::multi_thread::worker::run_task",
            None,
        ));
        let b = describe(frames, None, StackMethod::Unwound);
        assert_eq!(b.culprit.unwrap().name, "app");
        assert!(b.in_task_poll);
    }

    #[test]
    fn a_worker_parked_in_parking_lot_is_not_in_a_task_poll() {
        // Tokio with its `parking_lot` feature (`full`) parks in parking_lot's condvar.
        let parked = vec![
            sym("syscall", None),
            sym("parking_lot::condvar::Condvar::wait_until_internal", None),
            sym(
                "tokio::runtime::scheduler::multi_thread::park::Inner::park_condvar",
                None,
            ),
            sym(
                "tokio::runtime::scheduler::multi_thread::worker::Context::park",
                None,
            ),
        ];
        assert!(!describe(parked, None, StackMethod::Unwound).in_task_poll);
        // The same park as a `debug = "line-tables-only"` build names it: short names,
        // qualified from their files, and Tokio's own wrapper around the condvar.
        let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        let parked = tidy(vec![
            sym("syscall", None),
            sym(
                "with_thread_data<parking_lot_core::parking_lot::ParkResult>",
                Some(&format!(
                    "{registry}/parking_lot_core-0.9.12/src/parking_lot.rs"
                )),
            ),
            sym(
                "wait<()>",
                Some(&format!(
                    "{registry}/tokio-1.52.3/src/loom/std/parking_lot.rs"
                )),
            ),
            sym(
                "park_condvar",
                Some(&format!(
                    "{registry}/tokio-1.52.3/src/runtime/scheduler/multi_thread/park.rs"
                )),
            ),
        ]);
        assert_eq!(parked[2].name, "tokio::loom::std::parking_lot::wait<()>");
        assert!(!describe(parked, None, StackMethod::Unwound).in_task_poll);
        // A task waiting on a parking_lot lock is: its own frame called it.
        let task = vec![
            sym("syscall", None),
            sym("parking_lot::raw_mutex::RawMutex::lock_slow", None),
            sym("lock_api::mutex::Mutex<R,T>::lock", None),
            sym("app::cache::get::{{closure}}", None),
            sym("tokio::runtime::task::harness::poll_future", None),
            sym(
                "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
                None,
            ),
        ];
        let b = describe(task, None, StackMethod::Unwound);
        assert!(b.in_task_poll);
        assert_eq!(b.culprit.unwrap().name, "get");
    }

    #[test]
    fn without_line_information_common_dependencies_are_not_the_culprit() {
        let frames = vec![
            sym("std::net::tcp::TcpStream::connect", None),
            sym("hyper::client::connect::dns::resolve", None),
            sym("app::fetch::{{closure}}", None),
            sym("tokio::runtime::task::harness::poll_future", None),
        ];
        let b = describe(frames, None, StackMethod::Unwound);
        assert_eq!(b.culprit.unwrap().name, "fetch");
    }

    #[test]
    fn paths_of_dependencies_and_the_toolchain_are_shortened() {
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/runtime/task/core.rs"
            ),
            "tokio-1.54.1/src/runtime/task/core.rs"
        );
        assert_eq!(
            short_path(
                "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/thread/functions.rs"
            ),
            "library/std/src/thread/functions.rs"
        );
        assert_eq!(short_path("src/cmd/get.rs"), "src/cmd/get.rs");
    }
}
