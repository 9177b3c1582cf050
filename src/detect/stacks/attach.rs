//! Another process's threads, read the way the watchdog reads this one's: for `pollwatch-cli`
//! (`pollwatch dump PID`, `pollwatch watch PID`), which finds what blocks a Tokio program built
//! without pollwatch.
//!
//! The process is never stopped, signalled or traced: a thread blocked in a system call is read
//! from `/proc/<pid>/task/<tid>/syscall` and a copy of its frozen stack (`process_vm_readv`); a
//! running one from one perf-event sample of it. Both need the rights `ptrace` would (the same
//! user, and Yama's `ptrace_scope` or `CAP_SYS_PTRACE`); the kernel checks them on each read.
//! Symbolizing the addresses is the tool's (another process's modules are files on disk, not
//! this process's debug information); naming the culprit and the chain from the frames is
//! shared with the watchdog ([`name`]).
//!
//! Not part of pollwatch's API: hidden from its docs, it may change in any release.
#![allow(
    missing_docs,
    reason = "documented where it matters: hidden, for pollwatch-cli"
)]

use std::io;

use super::memory::{Maps, Proc};
use super::symbolize::{self, Sym};
use super::unwind::Unwinding;
use super::{capture, perf};
use crate::record::StackMethod;

/// A process whose threads are read.
pub struct Target {
    pid: i32,
    maps: Maps,
    unwinding: Unwinding,
    /// Why perf events were refused, once they were: running threads then have no stack.
    perf_denied: Option<io::ErrorKind>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// One thread's stack, as addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawStack {
    /// Lookup addresses (inside the call instruction for return addresses), innermost first.
    pub addresses: Vec<u64>,
    /// The system call the thread is blocked in (`None`: it was sampled running).
    pub syscall: Option<String>,
    /// Unwound with the modules' call-frame information (`false`: scanned, approximate).
    pub unwound: bool,
}

/// Why a thread's stack could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The thread runs on a CPU and perf events were refused: no sample of it.
    PerfDenied(io::Error),
    /// Nothing to read now: the thread moved on while read, went to sleep before its sample,
    /// or exited.
    Nothing,
}

impl Target {
    /// Opens process `pid`: reads its mappings and its modules' unwind information. Fails
    /// when there is no such process (`NotFound`) or its memory may not be read
    /// (`PermissionDenied`).
    pub fn open(pid: i32) -> io::Result<Target> {
        let maps = Maps::read_of(Proc::Other(pid))?;
        // The mappings are readable with less than what reading memory needs: check that.
        let probe = maps
            .mappings
            .iter()
            .find(|m| m.path.as_deref() == Some("[stack]") || m.executable)
            .ok_or_else(|| io::Error::other("the process has no mappings"))?;
        if maps.copy(probe.start, 8).is_none_or(|b| b.is_empty()) {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::ESRCH) => io::Error::from(io::ErrorKind::NotFound),
                Some(libc::EPERM | libc::EACCES) => {
                    io::Error::new(io::ErrorKind::PermissionDenied, err)
                }
                _ => err,
            });
        }
        let unwinding = Unwinding::of(&maps);
        Ok(Target {
            pid,
            maps,
            unwinding,
            perf_denied: None,
        })
    }

    /// The process's id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Reads the mappings again (new threads' stacks), and the modules' unwind information
    /// if the files mapped changed (a library loaded since): `true` if they did.
    pub fn reload(&mut self) -> io::Result<bool> {
        let maps = Maps::read_of(Proc::Other(self.pid))?;
        let files = |m: &Maps| -> Vec<(u64, Option<String>)> {
            m.mappings
                .iter()
                .filter(|m| m.path.as_deref().is_some_and(|p| !p.starts_with('[')))
                .map(|m| (m.start, m.path.clone()))
                .collect()
        };
        let changed = files(&maps) != files(&self.maps);
        if changed {
            self.unwinding = Unwinding::of(&maps);
        }
        self.maps = maps;
        Ok(changed)
    }

    /// The mapped files, for the symbolizer: `(start, end, file offset, path)`.
    pub fn mappings(&self) -> impl Iterator<Item = (u64, u64, u64, &str)> {
        self.maps
            .mappings
            .iter()
            .filter_map(|m| Some((m.start, m.end, m.offset, m.path.as_deref()?)))
    }

    /// Reads what thread `tid` is doing: the system call it is blocked in and its frozen
    /// stack, or (`running`: the thread was seen on a CPU) one sample of it running.
    pub fn read(&mut self, tid: i32, running: bool) -> Result<RawStack, ReadError> {
        let tid = i64::from(tid);
        if let Some(frozen) = capture::read_frozen(tid, &self.maps) {
            let syscall = Some(symbolize::syscall_name(frozen.syscall));
            return Ok(
                match self.unwinding.unwind(frozen.pc, None, &frozen.stack) {
                    Some(addresses) if addresses.len() >= 3 => RawStack {
                        addresses,
                        syscall,
                        unwound: true,
                    },
                    _ => RawStack {
                        addresses: capture::scan(frozen.pc, &frozen.stack, &self.maps),
                        syscall,
                        unwound: false,
                    },
                },
            );
        }
        if !running {
            return Err(ReadError::Nothing);
        }
        if let Some(kind) = self.perf_denied {
            return Err(ReadError::PerfDenied(kind.into()));
        }
        match perf::sample(tid) {
            Ok(sample) => self
                .unwinding
                .unwind(sample.ip, Some(sample.bp), &sample.stack)
                .map(|addresses| RawStack {
                    addresses,
                    syscall: None,
                    unwound: true,
                })
                .ok_or(ReadError::Nothing),
            Err(perf::SampleError::Denied(e)) => {
                self.perf_denied = Some(e.kind());
                Err(ReadError::PerfDenied(e))
            }
            Err(perf::SampleError::NoSample) => Err(ReadError::Nothing),
        }
    }
}

/// One symbolized frame (an address may give several: inlined calls, innermost first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Demangled, without the hash.
    pub name: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// The user's frame a stack blames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Culprit {
    /// `Get::apply`: the fn, with its type for a method.
    pub name: String,
    /// `src/cmd/get.rs:66`, when the binary has line information.
    pub location: Option<String>,
}

/// What a person reads about a stack, as the watchdog names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The system call, e.g. `futex`, `clock_nanosleep`; `None` for a sampled running thread.
    pub syscall: Option<String>,
    /// Innermost first, up to where the runtime polls the task: `function (file:line)`.
    pub frames: Vec<String>,
    /// The innermost frame of the user's code: the line that blocks.
    pub culprit: Option<Culprit>,
    /// The user's fns on the stack, outermost first: `Handler::run`, `Get::apply`.
    pub chain: Vec<String>,
    /// The culprit's frame is an async fn's body or an async block.
    pub culprit_is_async: bool,
    /// Unwound (exact) rather than scanned.
    pub unwound: bool,
    /// Tokio's `block_in_place` is on the stack.
    pub in_block_in_place: bool,
    /// A Tokio worker is polling a task here, and the task's code is what runs or blocks.
    pub in_task_poll: bool,
    /// No frame of the user's, and the innermost is a framework's impl the user's code was
    /// inlined into: `axum's Handler::call`.
    pub inlined_into: Option<String>,
}

/// Frames as any symbolizer names them, made readable as the watchdog's are: short names
/// (line-tables-only debug information) qualified with their module, repeats dropped,
/// anonymous blocks named after their fn.
pub fn tidy(frames: Vec<Frame>) -> Vec<Frame> {
    symbolize::tidy(frames.into_iter().map(sym).collect())
        .into_iter()
        .map(|s| Frame {
            name: s.name,
            file: s.file,
            line: s.line,
        })
        .collect()
}

fn sym(f: Frame) -> Sym {
    Sym {
        name: f.name,
        file: f.file,
        line: f.line,
    }
}

/// Names the culprit and the async chain from `frames` (innermost first).
pub fn name(frames: Vec<Frame>, syscall: Option<String>, unwound: bool) -> Named {
    let frames = frames.into_iter().map(sym).collect();
    let method = if unwound {
        StackMethod::Unwound
    } else {
        StackMethod::Scanned
    };
    let b = symbolize::describe(symbolize::tidy(frames), syscall, method);
    Named {
        syscall: b.syscall,
        frames: b.frames,
        culprit: b.culprit.map(|c| Culprit {
            name: c.name,
            location: c.location,
        }),
        chain: b.chain,
        culprit_is_async: b.culprit_is_async,
        unwound,
        in_block_in_place: b.in_block_in_place,
        in_task_poll: b.in_task_poll,
        inlined_into: b.inlined_into,
    }
}

/// `mini_redis::cmd::get::Get::apply::{{closure}}` → `Get::apply`.
pub fn short_name(full: &str) -> String {
    symbolize::short_name(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_process_is_not_found() {
        let err = Target::open(i32::MAX).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    }

    #[test]
    fn a_child_blocked_in_a_sleep_is_read_from_outside() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // Until it has exec'ed and sleeps.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let stack = loop {
            if let Ok(mut target) = Target::open(pid)
                && let Ok(stack) = target.read(pid, false)
                && stack
                    .syscall
                    .as_deref()
                    .is_some_and(|s| s.contains("sleep"))
            {
                break stack;
            }
            assert!(std::time::Instant::now() < deadline, "never saw it sleep");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let _ = child.kill();
        let _ = child.wait();
        assert!(!stack.addresses.is_empty());
    }

    #[test]
    fn naming_follows_the_watchdog() {
        let frame = |name: &str, file: &str, line| Frame {
            name: name.into(),
            file: Some(file.into()),
            line: Some(line),
        };
        let named = name(
            vec![
                frame("std::thread::sleep", "library/std/src/thread/mod.rs", 1),
                frame("app::db::query", "/srv/app/src/db.rs", 12),
                frame("app::handler::{{closure}}", "/srv/app/src/main.rs", 40),
                frame(
                    "tokio::runtime::task::core::Core<T,S>::poll",
                    "/home/u/.cargo/registry/src/x/tokio-1.48.0/src/runtime/task/core.rs",
                    300,
                ),
                frame(
                    "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
                    "/home/u/.cargo/registry/src/x/tokio-1.48.0/src/runtime/scheduler/multi_thread/worker.rs",
                    600,
                ),
            ],
            Some("clock_nanosleep".into()),
            true,
        );
        let culprit = named.culprit.expect("the user's frame");
        assert_eq!(culprit.name, "query");
        assert_eq!(culprit.location.as_deref(), Some("/srv/app/src/db.rs:12"));
        assert_eq!(named.chain, ["handler", "query"]);
        assert!(named.in_task_poll);
    }
}
