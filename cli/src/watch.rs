//! `pollwatch watch PID`: looks at every Tokio worker of a running process every `--interval`
//! and reports a worker that stays inside one task poll longer than `--slow`.
//!
//! # How "the same poll" is decided
//!
//! A look sees a stack, not a poll. Two looks at a worker are taken to be inside the same poll
//! when both find it polling a task (the program's own code runs below Tokio's poll), with the
//! same culprit fn, the same system call if it is blocked in one, and the same return addresses
//! from the culprit's caller out to the thread's start: the same calls, still on the stack.
//! A poll is reported once it has been seen for `--slow`, so its length is known to within one
//! interval (it began before the first look that saw it), and a poll shorter than the
//! interval is seen at most once and never reported.
//!
//! What can fool it: one task polled again and again on the same worker, each poll reaching
//! the same blocking or busy call through the same calls, with each poll ending and the next
//! beginning between two looks, reads as one long poll (the program blocks that worker most of
//! the time either way); and many short polls of identical tasks running the same CPU-heavy
//! code can, on a busy server, line up the same way. The summary says how many looks saw each
//! culprit, so a report built on few looks can be told apart.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pollwatch::__attach::Target;
use pollwatch::{ProcessInfo, Report, SlowPollRecord, StallRecord};
use serde::Serialize;

use crate::inspect::{self, Activity, Kind, Look, Role};
use crate::symbols::Symbols;
use crate::{Failure, process};

pub(crate) struct Options {
    pub(crate) pid: i32,
    pub(crate) slow: Duration,
    pub(crate) interval: Duration,
    pub(crate) stop_after: Option<Duration>,
    pub(crate) json: bool,
    /// Write pollwatch's HTML page of what was seen here.
    pub(crate) html: Option<PathBuf>,
    /// Write pollwatch's Perfetto (Chrome trace-event JSON) trace of what was seen here.
    pub(crate) trace: Option<PathBuf>,
}

/// What was seen, as pollwatch's own report records: for `--html` and `--trace`.
struct Seen {
    started: Instant,
    slow_polls: Vec<SlowPollRecord>,
    stalls: Vec<StallRecord>,
}

impl Seen {
    fn ns_since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.started).as_nanos()).unwrap_or(u64::MAX)
    }

    /// A reported poll: a stall record when first reported, a slow-poll record when it ended.
    fn record(&mut self, o: &Options, p: &Open, ended: bool) {
        let named = p.look.named.as_ref();
        let culprit = named.and_then(|n| n.culprit.as_ref());
        let full_kind = p.kind();
        let kind = if full_kind.starts_with("cpu-bound") {
            "cpu-bound"
        } else if full_kind.starts_with("mixed") {
            "mixed"
        } else {
            "blocking"
        };
        let syscall = match &p.look.activity {
            Activity::Polling(Kind::Blocking(s)) => Some(s.clone()),
            _ => None,
        };
        let stack = named.map(|n| n.frames.clone());
        let method = named.map(|n| if n.unwound { "unwound" } else { "scanned" }.to_owned());
        let fn_name = culprit.map(|c| c.name.clone());
        let location = culprit.and_then(|c| c.location.clone());
        let chain = named.map(|n| n.chain.clone()).unwrap_or_default();
        let for_ns = u64::try_from(p.seen_for().as_nanos()).unwrap_or(u64::MAX);
        let at_ns = self.ns_since_start(p.last_seen);
        let threshold_ns = u64::try_from(o.slow.as_nanos()).unwrap_or(u64::MAX);
        let (thread, thread_id) = (
            p.look.thread.name.clone(),
            u64::try_from(p.look.thread.tid).unwrap_or(0),
        );
        if ended {
            let mut r = SlowPollRecord::default();
            r.fn_name = fn_name;
            r.location = location;
            r.chain = chain;
            r.duration_ns = for_ns;
            r.self_time_ns = for_ns;
            r.threshold_ns = threshold_ns;
            r.kind = kind.to_owned();
            r.calls = 1;
            r.thread = thread;
            r.thread_id = thread_id;
            r.at_ns = at_ns;
            r.syscall = syscall;
            r.stack = stack;
            r.stack_method = method;
            self.slow_polls.push(r);
        } else {
            let mut r = StallRecord::default();
            r.fn_name = fn_name;
            r.location = location;
            r.chain = chain;
            r.thread = thread;
            r.thread_id = thread_id;
            r.at_ns = at_ns;
            r.blocked_for_ns = for_ns;
            r.kind = kind.to_owned();
            r.report = u32::try_from(self.stalls.len() + 1).unwrap_or(u32::MAX);
            r.syscall = syscall;
            r.stack = stack;
            r.stack_method = method;
            self.stalls.push(r);
        }
    }

    /// pollwatch's report of what was seen: its page and trace read it as they read their own.
    fn report(self, o: &Options) -> Report {
        let mut info = ProcessInfo::default();
        info.pid = u32::try_from(o.pid).unwrap_or(0);
        info.executable = process::command(o.pid).unwrap_or_default();
        info.debug_mode = "watched from outside (pollwatch watch)".to_owned();
        info.threshold_ns = u64::try_from(o.slow.as_nanos()).unwrap_or(u64::MAX);
        info.uptime_ns = self.ns_since_start(Instant::now());
        let mut report = Report::new(info);
        report.slow_polls = self.slow_polls;
        report.stalls = self.stalls;
        report
    }

    /// Writes the files asked for, and says where.
    fn write(self, o: &Options) -> Result<(), Failure> {
        if o.html.is_none() && o.trace.is_none() {
            return Ok(());
        }
        let report = self.report(o);
        let write = |path: &PathBuf, what: &str, text: String| {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Failure::Other(format!("{}: {e}", dir.display())))?;
            }
            std::fs::write(path, text)
                .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
            eprintln!("pollwatch: {what} written to {}", path.display());
            Ok::<(), Failure>(())
        };
        if let Some(path) = &o.html {
            write(path, "HTML report", report.to_html())?;
        }
        if let Some(path) = &o.trace {
            write(path, "trace", pollwatch::__attach::chrome_trace(&report))?;
        }
        Ok(())
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Ctrl-C (and SIGTERM) end the watch with its summary instead of killing the tool.
fn stop_on_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// A poll seen on a worker over successive looks.
struct Open {
    key: (String, Vec<u64>, Option<String>),
    first_seen: Instant,
    last_seen: Instant,
    cpu_first: Option<u64>,
    cpu_last: Option<u64>,
    looks: u32,
    reported: bool,
    look: Look,
}

impl Open {
    fn seen_for(&self) -> Duration {
        self.last_seen.duration_since(self.first_seen)
    }

    /// CPU-bound, blocking (in which call), or mixed, from the thread's CPU time over the
    /// looks that saw the poll, and its state at the last.
    fn kind(&self) -> String {
        let wall = self.seen_for().as_nanos();
        let share = match (self.cpu_first, self.cpu_last) {
            (Some(a), Some(b)) if wall > 0 => Some(
                f64::from(
                    u32::try_from(u128::from(b.saturating_sub(a)) * 1000 / wall)
                        .unwrap_or(u32::MAX),
                ) / 1000.0,
            ),
            _ => None,
        };
        let now = match &self.look.activity {
            Activity::Polling(k) => k.clone(),
            _ => Kind::CpuBound,
        };
        match (share, &now) {
            (Some(s), _) if s >= 0.8 => "cpu-bound".to_owned(),
            (Some(s), Kind::Blocking(_)) if s <= 0.2 => now.to_string(),
            (None, _) => now.to_string(),
            (Some(_), Kind::Blocking(call)) => format!("mixed, now blocking: {call}"),
            (Some(_), Kind::CpuBound) => "mixed".to_owned(),
        }
    }
}

/// One report, as data (`--json`).
#[derive(Serialize)]
struct JsonLine<'a> {
    event: &'static str,
    pid: i32,
    tid: i32,
    thread: &'a str,
    culprit: Option<&'a str>,
    location: Option<&'a str>,
    chain: &'a [String],
    kind: String,
    /// At least this long: the poll began before the first look that saw it.
    blocked_for_ms: u128,
    looks: u32,
}

/// What the summary says about one culprit.
#[derive(Default, Serialize)]
struct Tally {
    culprit: String,
    location: Option<String>,
    chain: Vec<String>,
    kind: String,
    polls: u32,
    longest_ms: u128,
    total_ms: u128,
    looks: u32,
}

pub(crate) fn run(o: &Options) -> Result<(), Failure> {
    stop_on_signals();
    let mut target: Target = crate::open(o.pid)?;
    let mut symbols = Symbols::new(o.pid);
    // The first look finds the workers (and says now if this is no Tokio program).
    let (dump, first) = crate::dump::take(o.pid)?;
    let mut roles: HashMap<i32, Role> = first.iter().map(|l| (l.thread.tid, l.role)).collect();
    let started = Instant::now();
    let workers = roles.values().filter(|r| r.runs_tasks()).count();
    if !o.json {
        eprintln!(
            "pollwatch: watching {} ({}), {workers} Tokio thread{}, every {:?}; reporting polls \
             over {:?}; Ctrl-C for the summary",
            o.pid,
            process::command(o.pid).unwrap_or_default(),
            if workers == 1 { "" } else { "s" },
            o.interval,
            o.slow,
        );
        if let Some(hint) = crate::dump::hint(dump.detail) {
            eprintln!("pollwatch: {hint}");
        }
    }
    let mut open: HashMap<i32, Open> = HashMap::new();
    let mut tallies: Vec<Tally> = Vec::new();
    let mut seen = Seen {
        started,
        slow_polls: Vec::new(),
        stalls: Vec::new(),
    };
    let mut rounds = 0u64;
    let mut ended = "Ctrl-C";
    loop {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        if o.stop_after.is_some_and(|d| started.elapsed() >= d) {
            ended = "the time given";
            break;
        }
        if !process::alive(o.pid) {
            ended = "the process exited";
            break;
        }
        let round = Instant::now();
        rounds += 1;
        let Ok(threads) = process::threads(o.pid) else {
            ended = "the process exited";
            break;
        };
        // Now and then, threads seen before are looked at again for their role (a blocking
        // pool thread becomes a worker when another hands its core over in block_in_place).
        if rounds.is_multiple_of(50) {
            roles.retain(|_, r| r.runs_tasks());
        }
        // New threads' stacks are new mappings; a library loaded since, new modules.
        if rounds.is_multiple_of(10) {
            let _ = target.reload();
        }
        let live: Vec<i32> = threads.iter().map(|t| t.tid).collect();
        for thread in threads {
            if roles.get(&thread.tid).is_some_and(|r| !r.runs_tasks()) {
                continue;
            }
            let tid = thread.tid;
            let look = inspect::look(&mut target, &mut symbols, thread);
            if !matches!(look.activity, Activity::Unknown(_)) {
                roles.insert(tid, look.role);
            }
            if !look.role.runs_tasks() {
                continue;
            }
            let now = Instant::now();
            match (&look.activity, key_of(&look)) {
                (Activity::Polling(_), Some(key)) => {
                    let same = open.get(&tid).is_some_and(|p| p.key == key);
                    if !same {
                        if let Some(done) = open.remove(&tid) {
                            finish(o, done, &mut tallies, &mut seen);
                        }
                        open.insert(
                            tid,
                            Open {
                                key,
                                first_seen: now,
                                last_seen: now,
                                cpu_first: look.thread.cpu_ns,
                                cpu_last: look.thread.cpu_ns,
                                looks: 1,
                                reported: false,
                                look,
                            },
                        );
                        continue;
                    }
                    if let Some(p) = open.get_mut(&tid) {
                        p.last_seen = now;
                        p.cpu_last = look.thread.cpu_ns;
                        p.looks += 1;
                        p.look = look;
                        if !p.reported && p.seen_for() >= o.slow {
                            p.reported = true;
                            let first_of_culprit = !tallies.iter().any(|t| same_culprit(t, p));
                            report(o, p, "stall", first_of_culprit);
                            seen.record(o, p, false);
                        }
                    }
                }
                // A look that could not read the stack says nothing either way.
                (Activity::Unknown(_), _) => {}
                _ => {
                    if let Some(done) = open.remove(&tid) {
                        finish(o, done, &mut tallies, &mut seen);
                    }
                }
            }
        }
        // Threads gone since: their polls ended with them.
        let gone: Vec<i32> = open.keys().copied().filter(|t| !live.contains(t)).collect();
        for tid in gone {
            if let Some(done) = open.remove(&tid) {
                finish(o, done, &mut tallies, &mut seen);
            }
        }
        if let Some(rest) = o.interval.checked_sub(round.elapsed()) {
            sleep_unless_stopped(rest);
        }
    }
    // Polls still running as the watch ends: counted, not said to have ended.
    for (_, done) in open.drain() {
        if done.reported {
            tally(&done, &mut tallies);
        }
    }
    summary(o, &tallies, started.elapsed(), rounds, ended);
    seen.write(o)
}

fn sleep_unless_stopped(d: Duration) {
    let until = Instant::now() + d;
    while !STOP.load(Ordering::Relaxed) {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return;
        };
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// What makes two looks the same poll: the culprit fn, the calls from its caller outward, the
/// system call (see the module's docs).
fn key_of(look: &Look) -> Option<(String, Vec<u64>, Option<String>)> {
    let named = look.named.as_ref()?;
    let culprit = named.culprit.as_ref().map(|c| c.name.clone());
    let at = look.culprit_at;
    let outer = look
        .addresses
        .get(at.map_or(1, |i| i + 1)..)
        .unwrap_or_default()
        .to_vec();
    let syscall = match &look.activity {
        Activity::Polling(Kind::Blocking(s)) => Some(s.clone()),
        _ => None,
    };
    Some((culprit.unwrap_or_default(), outer, syscall))
}

fn same_culprit(t: &Tally, p: &Open) -> bool {
    let (who, location) = who(p);
    t.culprit == who && t.location == location
}

/// Whom a report blames: the culprit fn and its line; without a frame of the program's own,
/// the framework's impl its code was inlined into (a release build without debug information).
fn who(p: &Open) -> (String, Option<String>) {
    let named = p.look.named.as_ref();
    match named.and_then(|n| n.culprit.as_ref()) {
        Some(c) => (c.name.clone(), c.location.clone()),
        None => (
            named
                .and_then(|n| n.inlined_into.clone())
                .map_or_else(|| "a task".to_owned(), |i| format!("code inlined into {i}")),
            None,
        ),
    }
}

fn report(o: &Options, p: &Open, event: &'static str, with_stack: bool) {
    let named = p.look.named.as_ref();
    let culprit = named.and_then(|n| n.culprit.as_ref());
    let chain: &[String] = named.map_or(&[], |n| &n.chain);
    let kind = p.kind();
    let for_ms = p.seen_for().as_millis();
    if o.json {
        let r = JsonLine {
            event,
            pid: o.pid,
            tid: p.look.thread.tid,
            thread: &p.look.thread.name,
            culprit: culprit.map(|c| c.name.as_str()),
            location: culprit.and_then(|c| c.location.as_deref()),
            chain,
            kind,
            blocked_for_ms: for_ms,
            looks: p.looks,
        };
        if let Ok(line) = serde_json::to_string(&r) {
            println!("{line}");
        }
        return;
    }
    let (who, location) = who(p);
    let place = crate::dump::place(location.as_deref(), chain);
    let mut line = match event {
        "stall" => format!(
            "{who} has been blocking worker {} (tid {}) for at least {} ({kind}){place}; \
             it is still running",
            p.look.thread.name,
            p.look.thread.tid,
            ms(for_ms),
        ),
        _ => format!(
            "{who} blocked worker {} (tid {}) for at least {} ({kind}){place}",
            p.look.thread.name,
            p.look.thread.tid,
            ms(for_ms),
        ),
    };
    if with_stack && let Some(n) = named {
        let _ = write!(
            line,
            "\n    native stack ({}, innermost first):",
            if n.unwound { "unwound" } else { "scanned" }
        );
        for f in &n.frames {
            let _ = write!(line, "\n        {f}");
        }
    }
    println!("{line}");
}

fn ms(ms: u128) -> String {
    if ms >= 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

/// A poll seen ending: counted if it was reported, and said.
fn finish(o: &Options, done: Open, tallies: &mut Vec<Tally>, seen: &mut Seen) {
    if !done.reported {
        return;
    }
    report(o, &done, "poll_ended", false);
    seen.record(o, &done, true);
    tally(&done, tallies);
}

/// Counts a reported poll in its culprit's line of the summary.
fn tally(done: &Open, tallies: &mut Vec<Tally>) {
    let named = done.look.named.as_ref();
    let for_ms = done.seen_for().as_millis();
    let i = match tallies.iter().position(|t| same_culprit(t, done)) {
        Some(i) => i,
        None => {
            let (culprit, location) = who(done);
            tallies.push(Tally {
                culprit,
                location,
                chain: named.map(|n| n.chain.clone()).unwrap_or_default(),
                kind: done.kind(),
                ..Tally::default()
            });
            tallies.len() - 1
        }
    };
    let t = &mut tallies[i];
    t.polls += 1;
    t.longest_ms = t.longest_ms.max(for_ms);
    t.total_ms += for_ms;
    t.looks += done.looks;
}

fn summary(o: &Options, tallies: &[Tally], ran: Duration, rounds: u64, ended: &str) {
    if o.json {
        #[derive(Serialize)]
        struct Summary<'a> {
            event: &'static str,
            pid: i32,
            watched_ms: u128,
            rounds: u64,
            ended: &'a str,
            culprits: &'a [Tally],
        }
        let s = Summary {
            event: "summary",
            pid: o.pid,
            watched_ms: ran.as_millis(),
            rounds,
            ended,
            culprits: tallies,
        };
        if let Ok(line) = serde_json::to_string(&s) {
            println!("{line}");
        }
        return;
    }
    let polls: u32 = tallies.iter().map(|t| t.polls).sum();
    println!(
        "\npollwatch watch {}: {:.1}s, {rounds} looks at each worker (until {ended}); {polls} \
         poll{} over {:?}{}",
        o.pid,
        ran.as_secs_f64(),
        if polls == 1 { "" } else { "s" },
        o.slow,
        if tallies.is_empty() { "" } else { ":" }
    );
    for t in tallies {
        let place = crate::dump::place(t.location.as_deref(), &t.chain);
        println!(
            "  {}{place}: {}×, longest ≥ {}, total ≥ {} ({}; {} looks)",
            t.culprit,
            t.polls,
            ms(t.longest_ms),
            ms(t.total_ms),
            t.kind,
            t.looks
        );
    }
}
