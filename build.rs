//! Whether this build can use Tokio's task poll hooks: `--cfg tokio_unstable` and a Tokio that
//! has them (1.46.1 or later). An application whose lock file holds an older Tokio (a service
//! on 1.32 trying `RUSTFLAGS="--cfg tokio_unstable"` for tokio-console) still builds: without
//! the hooks, watched as on stable Tokio, and pollwatch says why once at run time.
//!
//! The Tokio version comes from the application's `Cargo.lock` (see [`locked_tokio`]). Where
//! none is found, the hooks are assumed to be there.

use std::path::{Path, PathBuf};

/// The first Tokio with `on_before_task_poll` / `on_after_task_poll` and `TaskMeta`.
const HOOKS_SINCE: (u64, u64, u64) = (1, 46, 1);

fn main() {
    println!("cargo::rustc-check-cfg=cfg(pollwatch_task_hooks)");
    println!("cargo::rustc-check-cfg=cfg(pollwatch_old_tokio)");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_CFG_TOKIO_UNSTABLE").is_none() {
        return;
    }
    if let Some((version, lock)) = locked_tokio() {
        println!("cargo::rerun-if-changed={}", lock.display());
        if parse(&version).is_some_and(|v| v < HOOKS_SINCE) {
            println!("cargo::rustc-cfg=pollwatch_old_tokio");
            println!("cargo::rustc-env=POLLWATCH_LOCKED_TOKIO={version}");
            return;
        }
    }
    println!("cargo::rustc-cfg=pollwatch_task_hooks");
}

/// Tokio 1's version in the application's `Cargo.lock`, and that lock file: the nearest one
/// above the directory cargo was run in (this script's parent process is cargo; read on
/// Linux), else above the build's output directory (the application's `target/`, as usual).
fn locked_tokio() -> Option<(String, PathBuf)> {
    let cargo_dir = parent_cwd();
    let out_dir = std::env::var_os("OUT_DIR").map(PathBuf::from);
    [cargo_dir, out_dir]
        .iter()
        .flatten()
        .flat_map(|start| start.ancestors().map(|dir| dir.join("Cargo.lock")))
        .find(|lock| lock.is_file())
        .and_then(|lock| Some((tokio_in(&lock)?, lock)))
}

#[cfg(target_os = "linux")]
fn parent_cwd() -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{}/cwd", std::os::unix::process::parent_id())).ok()
}

#[cfg(not(target_os = "linux"))]
fn parent_cwd() -> Option<PathBuf> {
    None
}

/// The `version` of the `tokio` 1.x package in a lock file.
fn tokio_in(lock: &Path) -> Option<String> {
    let text = std::fs::read_to_string(lock).ok()?;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"tokio\"" {
            let version = lines
                .next()?
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            if version.starts_with("1.") {
                return Some(version.to_owned());
            }
        }
    }
    None
}

fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split(['.', '-', '+']).map(str::parse::<u64>);
    Some((
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    ))
}
