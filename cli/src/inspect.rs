//! One look at a thread: read its stack, name it, and say what the thread is doing.

use pollwatch::__attach::{self, Frame, Named, ReadError, Target, short_name};
use serde::Serialize;

use crate::process::ThreadInfo;
use crate::symbols::Symbols;

/// What a thread is to the Tokio runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Role {
    /// A worker of a multi-thread runtime.
    Worker,
    /// A thread running a current-thread runtime (`block_on`, `#[tokio::main(flavor =
    /// "current_thread")]`, `#[tokio::test]`).
    CurrentThread,
    /// A thread of the blocking pool (`spawn_blocking`, file I/O): blocking is its job.
    Blocking,
    /// Anything else (the main thread waiting in `block_on` is one when its stack shows no
    /// scheduler).
    Other,
}

impl Role {
    pub(crate) fn runs_tasks(self) -> bool {
        matches!(self, Role::Worker | Role::CurrentThread)
    }
}

/// How a busy thread spends its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// On a CPU.
    CpuBound,
    /// Asleep in this system call (a lock, a sleep, I/O).
    Blocking(String),
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::CpuBound => f.write_str("cpu-bound"),
            Kind::Blocking(syscall) => write!(f, "blocking: {syscall}"),
        }
    }
}

/// What a thread was doing when looked at.
#[derive(Clone, Debug)]
pub(crate) enum Activity {
    /// A task's poll is running on it (its code, not the runtime's).
    Polling(Kind),
    /// Parked: waiting for work or I/O (`syscall`), or its park seen running.
    Idle(Option<String>),
    /// Running or waiting in the runtime's own code, between polls.
    Scheduling(Option<String>),
    /// Asleep in a system call, outside any task (a thread of the program's own).
    Waiting(String),
    /// On a CPU, outside any task.
    Running,
    /// Its stack could not be read; why.
    Unknown(String),
}

/// One look at one thread.
#[derive(Clone, Debug)]
pub(crate) struct Look {
    pub(crate) thread: ThreadInfo,
    pub(crate) role: Role,
    pub(crate) activity: Activity,
    /// The stack's addresses, innermost first (empty if unread).
    pub(crate) addresses: Vec<u64>,
    /// Which of them is the culprit's frame.
    pub(crate) culprit_at: Option<usize>,
    /// All frames, innermost first, as symbolized.
    pub(crate) frames: Vec<Frame>,
    /// The culprit and chain, named as the library does.
    pub(crate) named: Option<Named>,
}

/// Looks at `thread` once.
pub(crate) fn look(target: &mut Target, symbols: &mut Symbols, thread: ThreadInfo) -> Look {
    let read = target.read(thread.tid, thread.running());
    let stack = match read {
        Ok(stack) => stack,
        Err(e) => {
            let why = match e {
                ReadError::PerfDenied(e) => format!(
                    "running; perf events refused a sample ({e}): allow them with \
                     `sysctl kernel.perf_event_paranoid=1` (or run with CAP_PERFMON)"
                ),
                ReadError::Nothing if thread.running() => {
                    "running; no sample came (it went to sleep or ended)".to_owned()
                }
                ReadError::Nothing => "moved on while read".to_owned(),
            };
            return Look {
                role: role_by_name(&thread.name),
                thread,
                activity: Activity::Unknown(why),
                addresses: Vec::new(),
                culprit_at: None,
                frames: Vec::new(),
                named: None,
            };
        }
    };
    let module_of = |addr: u64| {
        target
            .mappings()
            .find(|(start, end, _, _)| (*start..*end).contains(&addr))
            .map(|(_, _, _, path)| path.to_owned())
    };
    let groups = symbols.frames(&stack.addresses, module_of);
    let frames = __attach::tidy(groups.iter().flatten().cloned().collect());
    if !frames.iter().any(|f| f.name.contains("::")) {
        // A stripped binary: its addresses say nothing of Tokio, tasks or the program's fns.
        let doing = stack
            .syscall
            .as_deref()
            .map_or_else(|| "running".to_owned(), |s| format!("in {s}"));
        return Look {
            role: role_by_name(&thread.name),
            thread,
            activity: Activity::Unknown(format!(
                "{doing}; no names to tell more (the binary is stripped)"
            )),
            addresses: stack.addresses,
            culprit_at: None,
            frames,
            named: None,
        };
    }
    let role = role_of(&frames).unwrap_or_else(|| role_by_name(&thread.name));
    let named = __attach::name(frames.clone(), stack.syscall.clone(), stack.unwound);
    let activity = activity(role, &named, &frames, stack.syscall.as_deref());
    // The culprit's own address: the first whose frames name its fn.
    let culprit_at = named.culprit.as_ref().and_then(|c| {
        groups
            .iter()
            .position(|g| g.iter().any(|f| short_name(&f.name) == c.name))
    });
    Look {
        thread,
        role,
        activity,
        addresses: stack.addresses,
        culprit_at,
        frames,
        named: Some(named),
    }
}

fn has(frames: &[Frame], pattern: &str, file_part: &str) -> bool {
    frames.iter().any(|f| {
        f.name.contains(pattern) || f.file.as_deref().is_some_and(|p| p.contains(file_part))
    })
}

/// The role a stack shows: Tokio's scheduler frames, whatever the thread's name.
fn role_of(frames: &[Frame]) -> Option<Role> {
    if has(
        frames,
        "scheduler::multi_thread::worker",
        "/runtime/scheduler/multi_thread/worker.rs",
    ) {
        Some(Role::Worker)
    } else if has(
        frames,
        "scheduler::current_thread",
        "/runtime/scheduler/current_thread/",
    ) {
        Some(Role::CurrentThread)
    } else if has(
        frames,
        "tokio::runtime::blocking::pool",
        "/runtime/blocking/pool.rs",
    ) {
        Some(Role::Blocking)
    } else {
        None
    }
}

/// Without a readable stack: Tokio's default thread names (`tokio-rt-worker`; before 1.50
/// `tokio-runtime-worker`, cut to 15 bytes) are a worker's, or a blocking pool thread's.
fn role_by_name(name: &str) -> Role {
    if name == "tokio-rt-worker" || name == "tokio-runtime-w" {
        Role::Worker
    } else {
        Role::Other
    }
}

fn activity(role: Role, named: &Named, frames: &[Frame], syscall: Option<&str>) -> Activity {
    let kind = || match syscall {
        Some(s) => Kind::Blocking(s.to_owned()),
        None => Kind::CpuBound,
    };
    if role.runs_tasks() && named.in_task_poll {
        return Activity::Polling(kind());
    }
    if role.runs_tasks() || role == Role::Blocking {
        let parked = frames.iter().any(|f| {
            let n = f.name.as_str();
            (n.contains("tokio::runtime::") && (n.contains("park") || n.contains("Condvar")))
                || n.contains("tokio::runtime::io::driver::Driver::turn")
                || n.starts_with("mio::")
        });
        if parked || role == Role::Blocking {
            return Activity::Idle(syscall.map(str::to_owned));
        }
        return Activity::Scheduling(syscall.map(str::to_owned));
    }
    match syscall {
        Some(s) => Activity::Waiting(s.to_owned()),
        None => Activity::Running,
    }
}
