//! The poll trace (`POLLWATCH_TRACE`): every timed poll, per thread, in a bounded ring, written
//! as Chrome trace-event JSON (what ui.perfetto.dev and `chrome://tracing` open), with the
//! report's slow polls, stalls and lags marked on the same time line: a timed poll that lasted
//! its threshold is a slice in category `slow_poll`, coloured; each slow poll, stall and lag
//! of the report an instant event with what the log said.
//!
//! Memory is capped: each thread keeps its last [`PER_THREAD`] polls (a ring that grows to that
//! and then overwrites its oldest), and at most [`THREADS`] threads are kept (a thread that ends
//! keeps its ring until a newer thread needs the room). An event is 48 bytes (1.5 MB a full
//! ring): at most ~100 MB when every ring is full, nothing when no trace is asked for.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use super::schema::Report;
use crate::clock::{Ticks, ns_since_epoch};
use crate::record::Who;
use crate::util::lock;

/// Polls kept per thread.
pub(crate) const PER_THREAD: usize = 32_768;
/// Threads kept.
pub(crate) const THREADS: usize = 64;

/// One poll: who, which of its polls, nesting depth, when it began and how long it took.
#[derive(Clone, Copy)]
struct PollEvent {
    who: Who,
    start: Ticks,
    dur_ns: u64,
    poll: u32,
    depth: u16,
    /// It lasted its frame's threshold or longer.
    slow: bool,
}

/// One thread's ring.
struct Ring {
    name: String,
    tid: i64,
    events: Vec<PollEvent>,
    /// Where the next event goes once `events` is full.
    next: usize,
    overwritten: u64,
}

impl Ring {
    fn push(&mut self, e: PollEvent) {
        if self.events.len() < PER_THREAD {
            self.events.push(e);
        } else {
            self.events[self.next] = e;
            self.next = (self.next + 1) % PER_THREAD;
            self.overwritten += 1;
        }
    }

    /// Oldest first.
    fn in_order(&self) -> impl Iterator<Item = &PollEvent> {
        let (newer, older) = self.events.split_at(self.next);
        older.iter().chain(newer)
    }
}

static RINGS: Mutex<Vec<Arc<Mutex<Ring>>>> = Mutex::new(Vec::new());

thread_local! {
    static MINE: RefCell<Option<Arc<Mutex<Ring>>>> = const { RefCell::new(None) };
}

/// A new ring for this thread, registered (making room if [`THREADS`] are kept).
fn new_ring() -> Arc<Mutex<Ring>> {
    let ring = Arc::new(Mutex::new(Ring {
        name: std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned(),
        tid: crate::util::current_tid(),
        events: Vec::new(),
        next: 0,
        overwritten: 0,
    }));
    let mut rings = lock(&RINGS);
    if rings.len() >= THREADS {
        // Make room: the oldest ring whose thread has ended, else the oldest.
        let gone = rings.iter().position(|r| Arc::strong_count(r) == 1);
        rings.remove(gone.unwrap_or(0));
    }
    rings.push(ring.clone());
    ring
}

/// Records one timed poll of `who` on this thread.
#[cold]
pub(crate) fn record(who: Who, poll: u64, depth: usize, start: Ticks, dur_ns: u64, slow: bool) {
    let event = PollEvent {
        who,
        start,
        dur_ns,
        poll: u32::try_from(poll).unwrap_or(u32::MAX),
        depth: u16::try_from(depth).unwrap_or(u16::MAX),
        slow,
    };
    // The ring is this thread's: its lock is only contended while the trace is written.
    let _ = MINE.try_with(|mine| {
        if let Ok(mut mine) = mine.try_borrow_mut() {
            lock(mine.get_or_insert_with(new_ring)).push(event);
        }
    });
}

/// Microseconds, as the trace-event format counts time.
fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

/// The recorded polls and `report`'s slow polls, stalls and lags as Chrome trace-event JSON:
/// one track per thread (its name and kernel id), a complete (`X`) event per poll, nested as
/// the polls were; each slow poll a complete event in category `slow_poll` and each stall an
/// instant event on the blocked thread's track, lags on a track of their own.
pub(crate) fn to_chrome_json(report: &Report) -> String {
    let pid = report.process.pid;
    let mut out = Events::default();
    let event = |out: &mut Events, json: serde_json::Value| out.events.push(json);
    event(
        &mut out,
        serde_json::json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
            "args": {"name": format!("{} (pollwatch)", report.process.executable)}}),
    );
    // Track ids: the kernel thread id where known, else a number of our own.
    let track = |out: &mut Events, tid: u64, name: &str| {
        if !out.named.contains(&tid) {
            out.named.push(tid);
            out.events.push(
                serde_json::json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                    "args": {"name": name}}),
            );
        }
    };
    // The report's verdict on each slow poll, by thread and end time: a slow slice gets its kind.
    let mut verdicts: std::collections::HashMap<u64, Vec<(u64, &str)>> = Default::default();
    for p in &report.slow_polls {
        verdicts
            .entry(p.thread_id)
            .or_default()
            .push((p.at_ns.saturating_add(p.duration_ns), p.kind.as_str()));
    }
    for list in verdicts.values_mut() {
        list.sort_unstable();
    }
    let rings: Vec<Arc<Mutex<Ring>>> = lock(&RINGS).clone();
    let mut overwritten = 0;
    for (i, ring) in rings.iter().enumerate() {
        let ring = lock(ring);
        let tid = u64::try_from(ring.tid)
            .ok()
            .filter(|t| *t != 0)
            .unwrap_or(1_000_000 + i as u64);
        track(&mut out, tid, &format!("{} ({tid})", ring.name));
        overwritten += ring.overwritten;
        for e in ring.in_order() {
            let (name, args) = match e.who {
                Who::Fn(cs) => (
                    cs.name().to_owned(),
                    serde_json::json!({
                        "location": cs.location().map(|l| l.to_string()),
                        "poll": e.poll,
                        "depth": e.depth,
                    }),
                ),
                Who::Task(t) => (
                    format!("task {}", t.id),
                    serde_json::json!({
                        "spawned_at": t.spawned_at().to_string(),
                        "task": t.id,
                        "depth": e.depth,
                    }),
                ),
                Who::Untracked => ("a task".to_owned(), serde_json::json!({})),
            };
            let mut x = serde_json::json!({"ph": "X", "cat": "poll", "name": name, "pid": pid,
                "tid": tid, "ts": us(ns_since_epoch(e.start)), "dur": us(e.dur_ns),
                "args": args});
            if e.slow {
                x["cat"] = "poll,slow_poll".into();
                x["cname"] = "terrible".into();
                let end = ns_since_epoch(e.start).saturating_add(e.dur_ns);
                if let Some(kind) = verdicts.get(&tid).and_then(|v| kind_near(v, end)) {
                    x["args"]["kind"] = kind.into();
                }
            }
            event(&mut out, x);
        }
    }
    // A track for a record's thread: its kernel id, or one shared track where that is unknown.
    let record_track = |out: &mut Events, thread_id: u64, thread: &str| -> u64 {
        let tid = if thread_id != 0 { thread_id } else { 2_000_000 };
        track(out, tid, &format!("{thread} ({tid})"));
        tid
    };
    for slow in &report.slow_polls {
        let tid = record_track(&mut out, slow.thread_id, &slow.thread);
        let name = slow.fn_name.as_deref().unwrap_or("a task");
        // An instant at the poll's end: the poll itself is a slice of the thread's track
        // when it was timed (debug mode), marked `slow_poll`.
        out.instant(
            pid,
            tid,
            "slow_poll",
            format!(
                "slow poll: {name} blocked {:.1}ms ({})",
                slow.duration_ns as f64 / 1e6,
                slow.kind
            ),
            slow.at_ns.saturating_add(slow.duration_ns),
            serde_json::json!({"fn": slow.fn_name, "kind": slow.kind, "location": slow.location,
                "chain": slow.chain.join(" > "), "task": slow.task,
                "duration_ms": slow.duration_ns as f64 / 1e6}),
        );
    }
    for stall in &report.stalls {
        let tid = record_track(&mut out, stall.thread_id, &stall.thread);
        let name = stall.fn_name.as_deref().unwrap_or("a task");
        out.instant(
            pid,
            tid,
            "stall",
            format!("stall: {name} still blocking ({})", stall.kind),
            stall.at_ns,
            serde_json::json!({"fn": stall.fn_name, "kind": stall.kind,
                "location": stall.location, "blocked_for_ms": stall.blocked_for_ns as f64 / 1e6,
                "syscall": stall.syscall}),
        );
    }
    if !report.lags.is_empty() {
        let tid = 3_000_000;
        track(&mut out, tid, "lag: waits for a worker");
        // Lags may overlap (several tasks held up by one poll): one track each would be
        // unreadable, so each is an instant event at the wait's end, its length in args.
        for lag in &report.lags {
            let who = lag
                .task
                .map_or_else(|| "heartbeat".to_owned(), |t| format!("task {t}"));
            out.instant(
                pid,
                tid,
                "lag",
                format!("{who} waited {:.1}ms", lag.delay_ns as f64 / 1e6),
                lag.at_ns,
                serde_json::json!({"delay_ms": lag.delay_ns as f64 / 1e6, "task": lag.task,
                    "spawned_at": lag.spawned_at}),
            );
        }
    }
    let mut text = String::from("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    for (i, e) in out.events.iter().enumerate() {
        if i > 0 {
            text.push_str(",\n");
        }
        let _ = write!(text, "{e}");
    }
    let other = serde_json::json!({
        "pollwatch_version": env!("CARGO_PKG_VERSION"),
        "polls_overwritten": overwritten,
        "polls_per_thread": PER_THREAD,
        "threads_kept": THREADS,
    });
    let _ = write!(text, "\n],\"otherData\":{other}}}\n");
    text
}

/// The kind of the slow poll in `verdicts` (sorted by end) that ended within 2 ms of `end`.
fn kind_near<'a>(verdicts: &[(u64, &'a str)], end: u64) -> Option<&'a str> {
    const NEAR: u64 = 2_000_000;
    let from = verdicts.partition_point(|(e, _)| *e + NEAR < end);
    verdicts[from..]
        .iter()
        .take_while(|(e, _)| *e <= end + NEAR)
        .min_by_key(|(e, _)| e.abs_diff(end))
        .map(|(_, kind)| *kind)
}

/// The trace's events, and the tracks named so far.
#[derive(Default)]
struct Events {
    events: Vec<serde_json::Value>,
    named: Vec<u64>,
}

impl Events {
    /// An instant event on track `tid` at `at_ns`, coloured by its category.
    fn instant(
        &mut self,
        pid: u32,
        tid: u64,
        cat: &str,
        name: String,
        at_ns: u64,
        args: serde_json::Value,
    ) {
        let cname = match cat {
            "slow_poll" => Some("terrible"),
            "stall" => Some("bad"),
            _ => None,
        };
        let mut e = serde_json::json!({"ph": "i", "s": "t", "cat": cat, "name": name,
            "pid": pid, "tid": tid, "ts": us(at_ns), "args": args});
        if let Some(cname) = cname {
            e["cname"] = cname.into();
        }
        self.events.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_last_polls_oldest_first() {
        let mut ring = Ring {
            name: "t".to_owned(),
            tid: 1,
            events: Vec::new(),
            next: 0,
            overwritten: 0,
        };
        let start = Ticks::now();
        for i in 0..(PER_THREAD as u64 + 10) {
            ring.push(PollEvent {
                who: Who::Untracked,
                start,
                dur_ns: i,
                poll: 0,
                depth: 0,
                slow: false,
            });
        }
        assert_eq!(ring.events.len(), PER_THREAD);
        assert_eq!(ring.overwritten, 10);
        let kept: Vec<u64> = ring.in_order().map(|e| e.dur_ns).collect();
        assert_eq!(kept.first(), Some(&10));
        assert_eq!(kept.last(), Some(&(PER_THREAD as u64 + 9)));
        assert!(kept.windows(2).all(|w| w[0] + 1 == w[1]));
    }

    #[test]
    fn a_slow_slice_gets_the_kind_of_the_slow_poll_ending_with_it() {
        let v = [(10_000_000, "blocking"), (50_000_000, "cpu-bound")];
        assert_eq!(kind_near(&v, 10_500_000), Some("blocking"));
        assert_eq!(kind_near(&v, 49_000_000), Some("cpu-bound"));
        assert_eq!(kind_near(&v, 30_000_000), None);
        assert_eq!(kind_near(&[], 1), None);
    }

    #[test]
    fn a_poll_event_stays_small() {
        // The documented memory cap (48 bytes a poll) depends on it.
        assert!(std::mem::size_of::<PollEvent>() <= 48);
    }
}
