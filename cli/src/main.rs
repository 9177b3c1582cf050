//! `pollwatch`: find what blocks a running Tokio process, even one built without pollwatch.
//!
//! ```text
//! pollwatch dump PID            every thread, Tokio's workers first, and what each is doing
//! pollwatch watch PID           a line when a worker stays in one task poll past --slow
//! ```
//!
//! It reads the process from outside, as a debugger would read it but without stopping it: a
//! thread blocked in a system call through `/proc/<pid>/task/<tid>/syscall` and a copy of its
//! frozen stack, a running thread through one perf-event sample; the stacks are unwound with
//! the binary's call-frame information, symbolized with its debug information (blazesym), and
//! the culprit and async chain named as pollwatch's own watchdog names them. The process is
//! never stopped, signalled or left traced.

#[cfg(target_os = "linux")]
mod dump;
#[cfg(target_os = "linux")]
mod inspect;
#[cfg(target_os = "linux")]
mod process;
#[cfg(target_os = "linux")]
mod symbols;
#[cfg(target_os = "linux")]
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Find what blocks a running Tokio process, built with or without pollwatch.
#[derive(Debug, Parser)]
#[command(name = "pollwatch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every thread of a running process, Tokio's workers first, and what each is doing:
    /// idle, or polling a task (the innermost fn of the program's own, its line, the async
    /// chain, cpu-bound or blocking in which system call) with its native stack.
    Dump {
        /// The process to read.
        pid: i32,
        /// The same as JSON.
        #[arg(long)]
        json: bool,
        /// Show every thread's native stack, not only the busy workers'.
        #[arg(long)]
        stacks: bool,
    },
    /// Samples the workers' stacks and prints a line when a worker stays inside one task poll
    /// longer than --slow; on Ctrl-C (or after --for), a summary per culprit.
    Watch {
        /// The process to watch.
        pid: i32,
        /// Report a poll that runs longer than this (like the library's `POLLWATCH_SLOW`).
        #[arg(long, default_value = "100ms", value_parser = duration)]
        slow: Duration,
        /// Time between two looks at each worker.
        #[arg(long, default_value = "50ms", value_parser = duration)]
        interval: Duration,
        /// Stop after this long (default: at Ctrl-C, or when the process exits).
        #[arg(long = "for", value_parser = duration)]
        for_: Option<Duration>,
        /// Print each report and the summary as JSON lines.
        #[arg(long)]
        json: bool,
        /// At the end, write pollwatch's HTML page (timeline, flame graph, stacks) of what was
        /// seen to this file.
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
        /// At the end, write a Perfetto / chrome://tracing trace of what was seen to this file.
        #[arg(long, value_name = "FILE")]
        trace: Option<std::path::PathBuf>,
    },
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{e}: expected a duration such as 100ms, 1.5s or 2m"))
}

/// Why nothing (more) could be read: one line for the user.
#[derive(Debug)]
pub(crate) enum Failure {
    NoProcess(i32),
    Refused {
        pid: i32,
        error: std::io::Error,
    },
    NotTokio {
        pid: i32,
        command: String,
        threads: Vec<String>,
        unread: usize,
        /// No names on its stacks: a Tokio program with renamed threads looks the same.
        stripped: bool,
    },
    Other(String),
}

impl Failure {
    pub(crate) fn from_io(pid: i32, e: &std::io::Error) -> Failure {
        match e.kind() {
            std::io::ErrorKind::NotFound => Failure::NoProcess(pid),
            std::io::ErrorKind::PermissionDenied => Failure::Refused {
                pid,
                error: std::io::Error::new(e.kind(), e.to_string()),
            },
            _ => Failure::Other(format!("process {pid}: {e}")),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoProcess(pid) => write!(
                f,
                "no process {pid} (it is not running, or not in this PID namespace)"
            ),
            Failure::Refused { pid, error } => write!(
                f,
                "may not read process {pid} ({error}): it needs the rights ptrace would need: \
                 the same user{}, or root / CAP_SYS_PTRACE (`sudo pollwatch …`); in a container, \
                 run it inside the target's PID namespace with CAP_SYS_PTRACE",
                match std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                    .ok()
                    .as_deref()
                    .map(str::trim)
                {
                    Some("0") | None => String::new(),
                    Some(scope) => format!(
                        " and kernel.yama.ptrace_scope 0 (it is {scope}: `sudo sysctl kernel.yama.ptrace_scope=0`)"
                    ),
                }
            ),
            Failure::NotTokio {
                pid,
                command,
                threads,
                unread,
                stripped,
            } => {
                let mut names = threads.clone();
                names.dedup();
                write!(
                    f,
                    "process {pid} ({command}) is not a Tokio program: no worker threads \
                     (none of its {} threads has a Tokio scheduler on its stack{}; threads: {})",
                    threads.len(),
                    if *unread > 0 {
                        format!(", {unread} could not be read")
                    } else {
                        String::new()
                    },
                    names.join(", ")
                )?;
                if *stripped {
                    f.write_str(
                        "; its binary is stripped, so a Tokio program whose threads are renamed \
                         looks the same: if it is one, rebuild it with `strip = false`",
                    )?;
                }
                Ok(())
            }
            Failure::Other(s) => f.write_str(s),
        }
    }
}

/// Opens `pid` for reading, or says why it cannot be.
#[cfg(target_os = "linux")]
pub(crate) fn open(pid: i32) -> Result<pollwatch::__attach::Target, Failure> {
    if pid <= 0 {
        return Err(Failure::Other(format!("{pid} is not a process id")));
    }
    pollwatch::__attach::Target::open(pid).map_err(|e| Failure::from_io(pid, &e))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("pollwatch: {failure}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_os = "linux")]
fn run(cli: Cli) -> Result<(), Failure> {
    if cfg!(not(target_arch = "x86_64")) {
        return Err(Failure::Other(format!(
            "reading another process is supported on x86_64 only for now (this is {}): its \
             stacks would not unwind",
            std::env::consts::ARCH
        )));
    }
    match cli.command {
        Command::Dump { pid, json, stacks } => {
            let (dump, _) = dump::take(pid)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&dump)
                        .map_err(|e| Failure::Other(e.to_string()))?
                );
            } else {
                print!("{}", dump::render(&dump, stacks));
            }
            Ok(())
        }
        Command::Watch {
            pid,
            slow,
            interval,
            for_,
            json,
            html,
            trace,
        } => watch::run(&watch::Options {
            pid,
            slow,
            interval,
            stop_after: for_,
            json,
            html,
            trace,
        }),
    }
}

#[cfg(not(target_os = "linux"))]
fn run(_cli: Cli) -> Result<(), Failure> {
    Err(Failure::Other(format!(
        "reading another process is supported on Linux only (this is {})",
        std::env::consts::OS
    )))
}
