//! The writer: the rings and the report's records as Chrome trace-event JSON, at the end of a
//! run.

use std::fmt::Write as _;

use super::ring::{self, PER_THREAD, THREADS};
use crate::clock::ns_since_epoch;
use crate::record::Who;
use crate::sink::schema::Report;
use crate::util::lock;

// The tracks of our own share the id space of threads' tracks, whose ids are Linux thread ids:
// below `pid_max`, which can be raised to PID_MAX_LIMIT (2^22 = 4,194,304 on 64-bit; systemd
// does so by default), so a busy host's thread ids run into the millions. Ours are above that
// limit and below 2^32, since Perfetto's JSON importer reads a tid as a 32-bit number.

/// Linux's ceiling on thread ids on 64-bit (`PID_MAX_LIMIT`): every kernel id is below it.
const KERNEL_TID_LIMIT: u64 = 1 << 22;
/// The first of the tracks for rings whose thread's kernel id is unknown (0): one each, by the
/// ring's place in the list.
const UNKNOWN_THREADS: u64 = 10_000_000;
/// The track of the report's records whose thread's kernel id is unknown.
const UNKNOWN_RECORDS: u64 = 20_000_000;
/// The track of the waits for a worker: a lag belongs to no one thread.
const LAGS: u64 = 30_000_000;

const _: () = assert!(
    KERNEL_TID_LIMIT <= UNKNOWN_THREADS
        && UNKNOWN_THREADS + THREADS as u64 <= UNKNOWN_RECORDS
        && UNKNOWN_RECORDS < LAGS
        && LAGS <= u32::MAX as u64
);

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
    let mut overwritten = 0;
    for (i, ring) in ring::rings().iter().enumerate() {
        let ring = lock(ring);
        let tid = u64::try_from(ring.tid)
            .ok()
            .filter(|t| *t != 0)
            .unwrap_or(UNKNOWN_THREADS + i as u64);
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
        let tid = if thread_id != 0 {
            thread_id
        } else {
            UNKNOWN_RECORDS
        };
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
        let tid = LAGS;
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

/// How far apart a slow slice's end and a slow poll's end may be and still be the same poll:
/// the slice is timed by the fn's frame, the record by the outermost frame or the task hook,
/// a few reads of the clock apart.
const SAME_POLL_NS: u64 = 2_000_000;

/// The kind of the slow poll in `verdicts` (sorted by end) that ended within
/// [`SAME_POLL_NS`] of `end`.
fn kind_near<'a>(verdicts: &[(u64, &'a str)], end: u64) -> Option<&'a str> {
    let from = verdicts.partition_point(|(e, _)| *e + SAME_POLL_NS < end);
    verdicts[from..]
        .iter()
        .take_while(|(e, _)| *e <= end + SAME_POLL_NS)
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
    fn a_slow_slice_gets_the_kind_of_the_slow_poll_ending_with_it() {
        let v = [(10_000_000, "blocking"), (50_000_000, "cpu-bound")];
        assert_eq!(kind_near(&v, 10_500_000), Some("blocking"));
        assert_eq!(kind_near(&v, 49_000_000), Some("cpu-bound"));
        assert_eq!(kind_near(&v, 30_000_000), None);
        assert_eq!(kind_near(&[], 1), None);
    }
}
