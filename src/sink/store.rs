//! The records kept for reports: every slow poll and stall, bounded; a slow poll also goes to
//! the collector of the `#[pollwatch::test]` whose thread it blocked.

use std::sync::Mutex;

use super::collector::Collector;
use super::schema::{LagRecord, SlowPollRecord, StallRecord};
use crate::record::{Blame, SlowPoll, Stall};
use crate::util::{FileLine, lock, saturating_nanos};

/// Records kept per kind; later ones are counted in `records_dropped`.
const MAX_RECORDS: usize = 10_000;

/// What is kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct Records {
    pub(crate) slow_polls: Vec<SlowPollRecord>,
    pub(crate) stalls: Vec<StallRecord>,
    pub(crate) lags: Vec<LagRecord>,
    pub(crate) dropped: u64,
}

static RECORDS: Mutex<Records> = Mutex::new(Records {
    slow_polls: Vec::new(),
    stalls: Vec::new(),
    lags: Vec::new(),
    dropped: 0,
});

/// A thread's kernel id as a record shows it: the blocked thread's when the report is made
/// elsewhere, else this thread's.
fn thread_id(tid: i64) -> u64 {
    let tid = if tid == 0 {
        crate::util::current_tid()
    } else {
        tid
    };
    u64::try_from(tid).unwrap_or(0)
}

/// Everything kept so far.
pub(crate) fn snapshot() -> Records {
    lock(&RECORDS).clone()
}

/// Records made so far (kept or dropped): the files asked for are written again when it moves.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many records were made so far: changes with every new finding.
pub(crate) fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

fn keep<T>(list: &mut Vec<T>, dropped: &mut u64, record: T) {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if list.len() < MAX_RECORDS {
        list.push(record);
    } else {
        *dropped += 1;
    }
}

/// What the records of a slow poll and of a stall say of whom they blame.
struct Blamed {
    fn_name: Option<String>,
    task: Option<u64>,
    location: Option<String>,
    chain: Vec<String>,
    syscall: Option<String>,
    stack: Option<Vec<String>>,
    stack_method: Option<String>,
}

impl Blamed {
    fn of(blame: &Blame) -> Self {
        let stack = blame.stack.as_deref();
        Blamed {
            fn_name: blame.fn_name(),
            task: blame.task.map(|t| t.id),
            location: blame.location(),
            chain: blame.shown_chain().names(),
            syscall: stack.and_then(|b| b.syscall.clone()),
            stack: stack.map(|b| b.frames.clone()),
            stack_method: stack.map(|b| b.method.as_str().to_owned()),
        }
    }
}

/// Keeps a slow poll, and hands it to `collector`: the test this thread runs for, if any.
pub(crate) fn record_slow_poll(slow: &SlowPoll, collector: Option<&Collector>) {
    let Blamed {
        fn_name,
        task,
        location,
        chain,
        syscall,
        stack,
        stack_method,
    } = Blamed::of(&slow.blame);
    let record = SlowPollRecord {
        fn_name,
        task,
        spawned_at: slow.blame.task.map(|t| t.spawned_at().to_string()),
        location,
        created_at: slow.blame.created_at.map(|c| FileLine::from(c).to_string()),
        chain,
        duration_ns: saturating_nanos(slow.blocked),
        self_time_ns: saturating_nanos(slow.self_time),
        threshold_ns: saturating_nanos(slow.threshold),
        kind: slow.kind.as_str().to_owned(),
        calls: slow.calls,
        thread: slow.thread.clone().unwrap_or_else(|| {
            std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_owned()
        }),
        thread_id: thread_id(slow.tid),
        at_ns: slow.ended_ns.saturating_sub(saturating_nanos(slow.blocked)),
        syscall,
        stack,
        stack_method,
    };
    if let Some(collector) = collector {
        collector.offer(&record, slow.blocked);
    }
    let mut r = lock(&RECORDS);
    let Records {
        slow_polls,
        dropped,
        ..
    } = &mut *r;
    keep(slow_polls, dropped, record);
}

/// Keeps a stall report.
pub(crate) fn record_stall(s: &Stall) {
    let Blamed {
        fn_name,
        task,
        location,
        chain,
        syscall,
        stack,
        stack_method,
    } = Blamed::of(&s.blame);
    let record = StallRecord {
        fn_name,
        task,
        location,
        chain,
        thread: s.thread.clone(),
        thread_id: thread_id(s.tid),
        at_ns: crate::clock::now_ns(),
        blocked_for_ns: saturating_nanos(s.blocked),
        kind: s.kind.as_str().to_owned(),
        report: s.nth,
        syscall,
        // The stack once; reminders name the same line.
        stack: stack.filter(|_| s.nth == 1),
        stack_method,
    };
    let mut r = lock(&RECORDS);
    let Records {
        stalls, dropped, ..
    } = &mut *r;
    keep(stalls, dropped, record);
}

/// Keeps a wait for a worker that a blocking poll caused (`task`: `None` for the heartbeat).
#[cfg(feature = "tokio")]
pub(crate) fn record_lag(task: Option<crate::record::TaskRef>, delay: std::time::Duration) {
    let record = LagRecord {
        at_ns: crate::clock::now_ns(),
        delay_ns: saturating_nanos(delay),
        task: task.map(|t| t.id),
        spawned_at: task.map(|t| t.spawned_at().to_string()),
    };
    let mut r = lock(&RECORDS);
    let Records { lags, dropped, .. } = &mut *r;
    keep(lags, dropped, record);
}
