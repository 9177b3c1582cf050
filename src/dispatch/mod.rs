//! The only fan-out: a detection becomes counters, a stored record, a call of the user's
//! callback and, within the log-volume policy (`volume.rs`), an event. Detectors (`detect/`,
//! the `Timed` future, the runtime's hooks) call in here with plain records; the sinks never
//! call back.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | one fn per detection: what it becomes, in which order |
//! | `volume.rs` | how much is printed: each culprit's first occurrence in full, then digests, under a global cap |
//! | `rate_limit.rs` | first N a second, then a count: the global cap's counter |
//! | `route.rs` | where a report about a thread is made: here, or on its test's printer thread |
//! | `thread_test.rs` | which test this thread reports to (its number, budget, route, collector): the one thread-local |

mod rate_limit;
mod route;
pub(crate) mod thread_test;
mod volume;

#[cfg(feature = "tokio")]
pub(crate) use route::Job;
pub(crate) use route::Route;

use std::panic::{AssertUnwindSafe, Location};
use std::sync::Arc;
use std::time::Duration;

use crate::config;
use crate::record::NativeStack;
#[cfg(feature = "tokio")]
use crate::record::TaskRef;
use crate::record::{SlowPoll, SlowPollInfo, Stall, Who};
use crate::sink::{events, store};
use crate::site::CallSite;
use crate::util::say;

/// A poll blocked its thread: counted, stored (report, test verdict), handed to the
/// `on_slow_poll` callback always, and logged: in full the first time for its culprit, then in
/// the culprit's digest.
pub(crate) fn slow_poll(slow: &SlowPoll, strict: bool) {
    say_how_to_name_inlined_code(slow.blame.stack.as_deref());
    if let Who::Fn(cs) = slow.blame.culprit {
        cs.stats().on_slow_poll();
    }
    store::record_slow_poll(slow, thread_test::collector().as_deref());
    #[cfg(feature = "otel")]
    crate::sink::otel::count_slow_poll(slow);
    call_back(slow);
    let test = thread_test::id();
    if volume::slow_poll(test, slow)
        && let Some(suppressed) = volume::admit_line(test)
    {
        events::slow_poll(slow, strict, suppressed, thread_test::in_test());
        #[cfg(feature = "otel")]
        crate::sink::otel::log_slow_poll(slow, strict);
    }
    digests(false);
}

fn call_back(slow: &SlowPoll) {
    let Some(callback) = config::callback() else {
        return;
    };
    let info = SlowPollInfo::new(slow);
    // Instrumentation must not change what the user's future does: a panicking callback is
    // reported, not propagated into the poll that happened to be slow.
    if std::panic::catch_unwind(AssertUnwindSafe(|| callback(&info))).is_err() {
        say(format_args!(
            "pollwatch: the on_slow_poll callback panicked; ignored"
        ));
    }
}

/// A poll is still blocking its thread: stored, and logged during its culprit's first
/// occurrence (and for reminders of a poll blocked for a second or more).
pub(crate) fn stall(s: &Stall) {
    say_how_to_name_inlined_code(s.blame.stack.as_deref());
    store::record_stall(s);
    #[cfg(feature = "otel")]
    crate::sink::otel::count_stall(s);
    let test = thread_test::id();
    if volume::stall(test, s)
        && let Some(suppressed) = volume::admit_line(test)
    {
        events::stall(s, suppressed, thread_test::in_test());
        #[cfg(feature = "otel")]
        crate::sink::otel::log_stall(s);
    }
    digests(false);
}

/// A stall's native stack, symbolized too late for its report: a follow-up (once per culprit).
pub(crate) fn stall_stack(s: &Stall, blocked: &Arc<NativeStack>) {
    let test = thread_test::id();
    if volume::stack(test, s)
        && let Some(suppressed) = volume::admit_line(test)
    {
        events::stall_stack(s, blocked, suppressed, thread_test::in_test());
    }
}

/// Something pollwatch cannot do here, said once by the caller: an `INFO` line.
pub(crate) fn notice(message: std::fmt::Arguments<'_>) {
    events::notice(message, thread_test::in_test());
}

/// A stack that shows no fn of the user's, only a framework's generic impl the user's code
/// was inlined into (a release build without debug information): once per process, how to
/// have the fn and line named.
fn say_how_to_name_inlined_code(stack: Option<&NativeStack>) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(into) = stack.and_then(|b| b.inlined_into.as_deref()) else {
        return;
    };
    if SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    notice(format_args!(
        "pollwatch: the code that blocked was inlined into {into}, and this binary has no \
         line information to name it; add `debug = \"limited\"` (or `\"line-tables-only\"`) \
         under `[profile.release]` in Cargo.toml to have your fn and line in every report (a \
         larger binary, the same code: see pollwatch's README, \"Production\")"
    ));
}

/// A task (or, `None`, the heartbeat) waited `delay` to be polled: the first time in full,
/// later in the digest of the culprit that just blocked.
#[cfg(feature = "tokio")]
pub(crate) fn lag(task: Option<TaskRef>, delay: Duration, threshold: Duration) {
    store::record_lag(task, delay);
    let test = thread_test::id();
    if volume::lag(test, delay)
        && let Some(suppressed) = volume::admit_line(test)
    {
        events::lag(task, delay, threshold, suppressed, thread_test::in_test());
    }
    digests(false);
}

/// The files asked for (`POLLWATCH_REPORT`, `POLLWATCH_HTML`, `POLLWATCH_TRACE`) are written
/// again if something new was found: debounced to one write a second on a thread of their own,
/// or at once with `all` (the end of the process).
pub(crate) fn keep_files_current(all: bool) {
    crate::sink::output::keep_current(all);
}

/// Prints the digests of this thread's test (or of no test) that are due (all pending ones,
/// with `all`, at the end of a run or a test). Called after each detection, and by the
/// watchdog's tick so that a digest comes even once a blocker stopped.
pub(crate) fn digests(all: bool) {
    let test = thread_test::id();
    for digest in volume::due(test, all) {
        if let Some(suppressed) = volume::admit_line(test) {
            events::digest(&digest, suppressed, thread_test::in_test());
        }
    }
}

/// A call completed after `elapsed` (debug mode: counted).
pub(crate) fn completed(
    cs: &'static CallSite,
    elapsed: Duration,
    polls: u64,
    busy: Duration,
    max_poll: Duration,
) {
    let stats = cs.stats();
    stats.on_completed(elapsed);
    stats.on_call_done(polls, busy, max_poll);
}

/// A call completed in the production profile: counted (its polls were not timed).
pub(crate) fn completed_untimed(cs: &'static CallSite, polls: u64) {
    let stats = cs.stats();
    stats.on_completed_untimed();
    stats.on_call_done(polls, Duration::ZERO, Duration::ZERO);
}

/// A call was dropped before its first poll.
pub(crate) fn never_polled(
    cs: &'static CallSite,
    created_at: &'static Location<'static>,
    debug: bool,
) {
    if debug {
        cs.stats().on_never_polled();
        cs.stats().on_call_done(0, Duration::ZERO, Duration::ZERO);
    }
    events::never_polled(cs, created_at, debug, thread_test::in_test());
}

/// A call was dropped after `polls` polls, unfinished.
pub(crate) fn cancelled(
    cs: &'static CallSite,
    created_at: &'static Location<'static>,
    elapsed: Option<Duration>,
    (polls, busy, max_poll): (u64, Duration, Duration),
    debug: bool,
) {
    if debug {
        cs.stats().on_cancelled();
        cs.stats().on_call_done(polls, busy, max_poll);
    }
    events::cancelled(cs, created_at, elapsed, busy, polls, cs.cancelled_level());
}

/// A poll of a call panicked; the panic then continues unchanged. `counted`: debug mode's
/// statistics get it (`None` on the fast path, which keeps none).
pub(crate) fn panicked(
    cs: &'static CallSite,
    elapsed: Option<Duration>,
    polls: u64,
    counted: Option<(Duration, Duration)>,
) {
    if let Some((busy, max_poll)) = counted {
        cs.stats().on_panicked();
        cs.stats().on_call_done(polls, busy, max_poll);
    }
    events::panicked(cs, elapsed, polls);
}

/// One timed poll, for the trace (`POLLWATCH_TRACE`): kept in this thread's ring.
#[cold]
pub(crate) fn trace_poll(
    who: Who,
    poll: u64,
    depth: usize,
    start: crate::clock::Ticks,
    dur_ns: u64,
    slow: bool,
) {
    crate::sink::trace::record(who, poll, depth, start, dur_ns, slow);
}
