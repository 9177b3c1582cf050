//! `pollwatch dump PID`: every thread of a running process, Tokio's first, and what each is
//! doing, in one screen (or as JSON).

use std::fmt::Write as _;

use serde::Serialize;

use crate::inspect::{self, Activity, Look, Role};
use crate::symbols::{self, Detail, Symbols};
use crate::{Failure, process};

/// The whole process, as looked at once.
#[derive(Debug, Serialize)]
pub(crate) struct Dump {
    pub(crate) pid: i32,
    pub(crate) command: String,
    pub(crate) exe: Option<String>,
    /// The target links pollwatch (its watchdog thread runs): it reports stalls itself.
    pub(crate) links_pollwatch: bool,
    /// What the binary's symbols give: `lines`, `names` or `addresses`.
    pub(crate) detail: Detail,
    pub(crate) threads: Vec<ThreadJson>,
}

/// One thread, as data.
#[derive(Debug, Serialize)]
pub(crate) struct ThreadJson {
    pub(crate) tid: i32,
    pub(crate) name: String,
    pub(crate) role: Role,
    /// `polling`, `idle`, `scheduling`, `waiting`, `running` or `unknown`.
    pub(crate) activity: &'static str,
    /// `cpu-bound` or `blocking` for a thread polling a task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) syscall: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) culprit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) location: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) chain: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) inlined_into: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) why_unknown: Option<String>,
    /// `unwound` (exact) or `scanned` (approximate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) method: Option<&'static str>,
    /// Innermost first: `function (file:line)`.
    pub(crate) stack: Vec<String>,
}

/// Looks at every thread of `pid` once.
pub(crate) fn take(pid: i32) -> Result<(Dump, Vec<Look>), Failure> {
    let mut target = crate::open(pid)?;
    let mut symbols = Symbols::new(pid);
    let threads = process::threads(pid).map_err(|e| Failure::from_io(pid, &e))?;
    let links_pollwatch = threads.iter().any(|t| t.name.starts_with("pollwatch-"));
    let mut looks: Vec<Look> = threads
        .into_iter()
        .map(|t| inspect::look(&mut target, &mut symbols, t))
        .collect();
    // Tokio's threads first, busy ones first among them; then the rest, as listed.
    looks.sort_by_key(|l| {
        (
            !l.role.runs_tasks(),
            !matches!(l.activity, Activity::Polling(_)),
            l.role == Role::Other,
        )
    });
    let all_frames: Vec<_> = looks
        .iter()
        .flat_map(|l| l.frames.iter().cloned())
        .collect();
    let dump = Dump {
        pid,
        command: process::command(pid).unwrap_or_default(),
        exe: process::exe(pid).map(|p| p.display().to_string()),
        links_pollwatch,
        detail: symbols::detail(&all_frames),
        threads: looks.iter().map(thread_json).collect(),
    };
    if !looks.iter().any(|l| l.role.runs_tasks()) {
        return Err(Failure::NotTokio {
            pid,
            command: dump.command.clone(),
            threads: looks.iter().map(|l| l.thread.name.clone()).collect(),
            unread: looks
                .iter()
                .filter(|l| matches!(l.activity, Activity::Unknown(_)))
                .count(),
            stripped: dump.detail == Detail::Addresses,
        });
    }
    let _ = target.pid();
    Ok((dump, looks))
}

fn thread_json(l: &Look) -> ThreadJson {
    let (activity, kind, syscall) = match &l.activity {
        Activity::Polling(k) => (
            "polling",
            Some(match k {
                inspect::Kind::CpuBound => "cpu-bound",
                inspect::Kind::Blocking(_) => "blocking",
            }),
            match k {
                inspect::Kind::Blocking(s) => Some(s.clone()),
                inspect::Kind::CpuBound => None,
            },
        ),
        Activity::Idle(s) => ("idle", None, s.clone()),
        Activity::Scheduling(s) => ("scheduling", None, s.clone()),
        Activity::Waiting(s) => ("waiting", None, Some(s.clone())),
        Activity::Running => ("running", None, None),
        Activity::Unknown(_) => ("unknown", None, None),
    };
    let named = l.named.as_ref();
    let polling = matches!(l.activity, Activity::Polling(_));
    ThreadJson {
        tid: l.thread.tid,
        name: l.thread.name.clone(),
        role: l.role,
        activity,
        kind,
        syscall,
        culprit: named
            .filter(|_| polling)
            .and_then(|n| Some(n.culprit.as_ref()?.name.clone())),
        location: named
            .filter(|_| polling)
            .and_then(|n| n.culprit.as_ref()?.location.clone()),
        chain: named
            .filter(|_| polling)
            .map(|n| n.chain.clone())
            .unwrap_or_default(),
        inlined_into: named.and_then(|n| n.inlined_into.clone()),
        why_unknown: match &l.activity {
            Activity::Unknown(why) => Some(why.clone()),
            _ => None,
        },
        method: named.map(|n| if n.unwound { "unwound" } else { "scanned" }),
        stack: stack_lines(l),
    }
}

/// The stack a report shows: the library's (up to the task's poll) for a thread in a poll,
/// every frame otherwise.
fn stack_lines(l: &Look) -> Vec<String> {
    match (&l.activity, &l.named) {
        (Activity::Polling(_), Some(named)) => named.frames.clone(),
        _ => l
            .frames
            .iter()
            .take(24)
            .map(|f| match (&f.file, f.line) {
                (Some(file), Some(line)) => format!("{} ({file}:{line})", f.name),
                _ => f.name.clone(),
            })
            .collect(),
    }
}

/// The one-screen text.
pub(crate) fn render(dump: &Dump, stacks: bool) -> String {
    let mut out = String::new();
    let workers = dump
        .threads
        .iter()
        .filter(|t| t.role == Role::Worker)
        .count();
    let busy = dump
        .threads
        .iter()
        .filter(|t| t.activity == "polling")
        .count();
    let _ = writeln!(
        out,
        "pid {} ({}): {} thread{}, {} Tokio worker{}, {} polling a task now",
        dump.pid,
        dump.command,
        dump.threads.len(),
        plural(dump.threads.len()),
        workers,
        plural(workers),
        busy,
    );
    if let Some(exe) = &dump.exe {
        let _ = writeln!(out, "binary: {exe}");
    }
    if dump.links_pollwatch {
        let _ = writeln!(
            out,
            "it links pollwatch (its watchdog thread runs): its own log names annotated fns \
             and task ids; this view is from outside"
        );
    }
    out.push('\n');
    let width = dump.threads.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in &dump.threads {
        let _ = writeln!(out, "{:width$}  tid {:<7}  {}", t.name, t.tid, summary(t));
        if t.activity == "polling" {
            match (&t.culprit, &t.location) {
                (Some(culprit), location) => {
                    let place = place(location.as_deref(), &t.chain);
                    let _ = writeln!(out, "    {culprit}{place}");
                }
                (None, _) => {
                    let what = t.inlined_into.as_deref().map_or_else(
                        || "no frame of the program's own code on the stack".to_owned(),
                        |i| format!("in code inlined into {i}"),
                    );
                    let _ = writeln!(out, "    {what}");
                }
            }
        }
        if (stacks || t.activity == "polling") && !t.stack.is_empty() {
            let _ = writeln!(
                out,
                "    native stack ({}, innermost first):",
                t.method.unwrap_or("unwound")
            );
            for frame in &t.stack {
                let _ = writeln!(out, "        {frame}");
            }
        }
    }
    if let Some(hint) = hint(dump.detail) {
        let _ = write!(out, "\n{hint}\n");
    }
    out
}

/// ` at src/db.rs:12 [handler > query]`: where a culprit is and the chain to it, as the
/// library's events say it.
pub(crate) fn place(location: Option<&str>, chain: &[String]) -> String {
    let at = location.map(|l| format!(" at {l}")).unwrap_or_default();
    if chain.is_empty() {
        at
    } else {
        format!("{at} [{}]", chain.join(" > "))
    }
}

/// What to do for better names, when the binary's symbols give less than lines.
pub(crate) fn hint(detail: Detail) -> Option<&'static str> {
    match detail {
        Detail::Lines => None,
        Detail::Names => Some(
            "no line numbers: the binary has no debug information; `debug = \"line-tables-only\"` \
             in its [profile.release] adds lines (and the fns inlined into others)",
        ),
        Detail::Addresses => Some(
            "only addresses: the binary is stripped; build it with `strip = false` (and \
             `debug = \"line-tables-only\"` for lines)",
        ),
    }
}

fn summary(t: &ThreadJson) -> String {
    let sys = |s: &Option<String>| s.as_deref().map(|s| format!(": {s}")).unwrap_or_default();
    match t.activity {
        "polling" => match t.kind {
            Some("cpu-bound") => "polling a task: cpu-bound".to_owned(),
            _ => format!("polling a task: blocking{}", sys(&t.syscall)),
        },
        "idle" if t.role == Role::Blocking => format!("blocking pool, idle{}", sys(&t.syscall)),
        "idle" => format!("idle (parked{})", sys(&t.syscall)),
        "scheduling" if t.role == Role::Blocking => {
            format!("blocking pool, running a job{}", sys(&t.syscall))
        }
        "scheduling" => format!("in the runtime, between polls{}", sys(&t.syscall)),
        "waiting" => format!("waiting{}", sys(&t.syscall)),
        "running" => "running".to_owned(),
        _ => format!(
            "unknown: {}",
            t.why_unknown.as_deref().unwrap_or("not read")
        ),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
