//! The live stall watchdog: reports a poll that is *still* blocking its thread, which the
//! slow-poll warning (emitted when the poll returns) cannot do for a poll that never returns.
//!
//! A watchdog thread wakes every quarter threshold, reads every thread's [slot](super::slot),
//! reports each poll that has been running for at least the threshold once, then again at
//! growing intervals, and classifies it from the blocked thread's CPU clock: CPU-bound (CPU time
//! ≈ wall time) or blocking (asleep in a syscall, a lock, I/O).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::slot::{self, Slot, same_site};
use super::stacks::Stacks;
use super::thread_cpu::{active_time, classify, is_runnable};
use crate::clock::{Instant, ns_since_epoch};
use crate::record::{Kind, Route, Stall};
use crate::site::CallSite;
use crate::util::{lock, say};

/// Keeps the watchdog thread running; the thread stops (and is joined) when the last guard is
/// dropped. Every runtime built by [`Builder`](crate::Builder) holds one; hold one yourself to
/// watch `#[async_timed]` fns under another executor.
///
/// # Examples
///
/// ```
/// let guard = pollwatch::watchdog();
/// futures::executor::block_on(async { /* polls here are watched while they run */ });
/// drop(guard); // the watchdog thread stops here if nothing else holds it
/// ```
#[must_use = "the watchdog stops when the guard is dropped"]
#[derive(Debug)]
pub struct WatchdogGuard(());

struct Control {
    users: usize,
    thread: Option<JoinHandle<()>>,
    stop: bool,
}

static CONTROL: Mutex<Control> = Mutex::new(Control {
    users: 0,
    thread: None,
    stop: false,
});
static WAKE: Condvar = Condvar::new();

/// Starts the watchdog thread (if it is not running) and keeps it running while the guard lives.
///
/// It reports, as `pollwatch::stall` events, polls that have blocked their thread for at least
/// the slow-poll threshold *while they still run*; it only acts in debug mode.
///
/// # Examples
///
/// ```
/// let _watchdog = pollwatch::watchdog();
/// ```
pub fn watchdog() -> WatchdogGuard {
    crate::clock::warm_up();
    let mut c = lock(&CONTROL);
    c.users += 1;
    if c.thread.is_none() {
        c.stop = false;
        c.thread = std::thread::Builder::new()
            .name(WATCHDOG_THREAD.into())
            .spawn(run)
            .ok();
    }
    WatchdogGuard(())
}

/// The watchdog thread's name (at most 15 bytes: Linux truncates longer names in `top`).
const WATCHDOG_THREAD: &str = "pollwatch-wdog";

impl Drop for WatchdogGuard {
    fn drop(&mut self) {
        let handle = {
            let mut c = lock(&CONTROL);
            c.users = c.users.saturating_sub(1);
            if c.users > 0 {
                return;
            }
            c.stop = true;
            c.thread.take()
        };
        WAKE.notify_all();
        if let Some(handle) = handle {
            // Never join from the watchdog thread itself (a guard dropped by an event handler).
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

/// What the watchdog remembers of a poll it is watching. One long poll can run several
/// blocking fns one after the other (none of them yields): each is a stall of its own, tracked
/// from when it became the innermost frame.
struct Watch {
    /// The innermost frame (none: the task itself) and since when it was (the poll's start for
    /// the first culprit of a poll).
    culprit: Option<&'static CallSite>,
    since: Instant,
    /// The thread's active time (on CPU or waiting for one) when the watchdog first saw this
    /// culprit, and when that was.
    active_base: Option<Duration>,
    active_base_at: Instant,
    reports: u32,
    stack_shown: bool,
}

impl Watch {
    fn new(culprit: Option<&'static CallSite>, since: Instant, slot: &Slot, now: Instant) -> Self {
        Watch {
            culprit,
            since,
            active_base: active_time(slot.tid(), slot.cpu_clock()),
            active_base_at: now,
            reports: 0,
            stack_shown: false,
        }
    }
}

/// Reports again after the poll has been blocked this long (then every 30 s).
const ESCALATIONS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

fn next_report_after(reports: u32, threshold: Duration) -> Duration {
    match reports {
        0 => threshold,
        n => {
            let i = (n - 1) as usize;
            ESCALATIONS
                .get(i)
                .copied()
                .unwrap_or_else(|| Duration::from_secs(30) * (n - 2))
                .max(threshold)
        }
    }
}

/// Polls being watched, by slot index and the poll's start.
type Watching = HashMap<(usize, u64), Watch>;

fn run() {
    let stacks = Stacks::start();
    let mut watching = Watching::new();
    loop {
        let threshold = Duration::from_nanos(crate::config::slow_poll_nanos().max(1_000_000));
        let tick = (threshold / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
        {
            let c = lock(&CONTROL);
            let (c, _) = WAKE
                .wait_timeout_while(c, tick, |c| !c.stop)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if c.stop {
                drop(c);
                stacks.stop();
                return;
            }
        }
        if !crate::config::debug_mode().is_on() {
            watching.clear();
            continue;
        }
        // A panic while reporting (a subscriber's layer, a callback) must not end the watchdog
        // for the rest of the process: it is reported, and the next tick goes on.
        let scanned =
            std::panic::catch_unwind(AssertUnwindSafe(|| scan(&mut watching, &stacks, threshold)));
        if scanned.is_err() {
            say(format_args!(
                "pollwatch: a panic while reporting a stall (in a tracing layer or callback) was \
                 caught; the watchdog keeps watching"
            ));
        }
        // A chronic blocker's digest is due even once it stopped blocking.
        let _ = std::panic::catch_unwind(|| crate::dispatch::digests(false));
    }
}

/// One tick: reports every poll blocking past its threshold.
fn scan(watching: &mut Watching, stacks: &Stacks, threshold: Duration) {
    let now = Instant::now();
    let now_ns = ns_since_epoch(now);
    watching.retain(|(i, start), _| slot::get(*i).is_some_and(|s| s.start_ns() == *start));
    for (i, slot) in slot::claimed() {
        let start = slot.start_ns();
        if start == 0 {
            continue;
        }
        let blocked = Duration::from_nanos(now_ns.saturating_sub(start));
        let poll_start = now.checked_sub(blocked).unwrap_or(now);
        let culprit = slot.innermost();
        let watch = watching
            .entry((i, start))
            .or_insert_with(|| Watch::new(culprit, poll_start, slot, now));
        if !same_site(watch.culprit, culprit) {
            *watch = Watch::new(culprit, now, slot, now);
        }
        let blocking_for = now.saturating_duration_since(watch.since);
        let own = culprit
            .and_then(CallSite::own_threshold_nanos)
            .map_or(threshold, Duration::from_nanos);
        let own = match slot.budget_ns() {
            None => own,
            Some(budget) => own.min(Duration::from_nanos(budget)),
        };
        if blocking_for < next_report_after(watch.reports, own) {
            continue;
        }
        let kind = classify_now(watch, slot, now);
        slot.publish_kind(kind, culprit, start);
        // The poll may have ended while we looked: then its slow-poll warning speaks.
        if slot.start_ns() != start {
            continue;
        }
        watch.reports += 1;
        let stall = stall_of(slot, culprit, blocking_for, kind, watch.reports, own);
        let route = slot.route();
        // Marked before reporting: a panicking layer must not make the next tick show it again.
        let show_stack = !watch.stack_shown;
        watch.stack_shown = true;
        Route::run_or_here(route.as_ref(), {
            let stall = stall.clone();
            move || crate::dispatch::stall(&stall)
        });
        // Then, once per stall, what the thread is blocked in: symbolizing can take a while
        // (debug info is parsed lazily), so it never delays the report above.
        if show_stack {
            watch.stack_shown = stacks.show(slot.tid(), kind, &stall, route);
        }
    }
}

/// Active share since the watchdog first saw the culprit; if that was just now, samples for a
/// short while on this thread, so that even the first report is classified.
fn classify_now(watch: &Watch, slot: &Slot, now: Instant) -> Kind {
    let (tid, clock) = (slot.tid(), slot.cpu_clock());
    let (Some(base), Some(mut active)) = (watch.active_base, active_time(tid, clock)) else {
        return Kind::Unknown;
    };
    let mut wall = now.saturating_duration_since(watch.active_base_at);
    if wall < Duration::from_millis(5) {
        std::thread::sleep(Duration::from_millis(10));
        active = active_time(tid, clock).unwrap_or(active);
        wall = watch.active_base_at.elapsed();
    }
    classify(active.saturating_sub(base), wall, is_runnable(tid))
}

fn stall_of(
    slot: &Slot,
    culprit: Option<&'static CallSite>,
    blocked: Duration,
    kind: Kind,
    nth: u32,
    threshold: Duration,
) -> Stall {
    Stall {
        culprit,
        task: slot.task(),
        chain: slot.chain(),
        thread: slot.thread_name(),
        blocked,
        threshold,
        kind,
        nth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_intervals_grow() {
        let t = Duration::from_millis(100);
        let at: Vec<_> = (0..5).map(|n| next_report_after(n, t)).collect();
        assert_eq!(
            at,
            [
                t,
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(60)
            ]
        );
    }
}
