//! The only fan-out: a detection becomes counters, a stored record, a call of the user's
//! callback and, within the rate limits, an event. Detectors (`detect/`, the `Timed` future, the
//! runtime's hooks) call in here with plain records; the sinks never call back.

use std::panic::{AssertUnwindSafe, Location};
use std::time::Duration;

use crate::clock::now_ms;
use crate::config;
#[cfg(all(feature = "stacks", target_os = "linux"))]
use crate::record::Blocked;
#[cfg(feature = "tokio")]
use crate::record::TaskRef;
use crate::record::{SlowPoll, SlowPollInfo, Stall, Who};
use crate::sink::{events, store};
use crate::site::{Admit, CallSite, RateLimit};
use crate::util::say;

/// Slow polls of un-annotated tasks share one limiter (they have no call site of their own).
static TASK_LIMITER: RateLimit = RateLimit::new();
/// Lag warnings share one limiter: one blocked worker delays every task queued behind it.
#[cfg(feature = "tokio")]
static LAG_LIMITER: RateLimit = RateLimit::new();

/// How many warnings `limiter` suppressed before this one, or `None` to suppress this one too.
fn admit(limiter: &RateLimit) -> Option<u64> {
    match limiter.check(now_ms(), config::warnings_per_second()) {
        Admit::Suppress => None,
        Admit::Emit { suppressed_before } => Some(suppressed_before),
    }
}

/// A poll blocked its thread: counted, stored (report, test verdict), handed to the
/// `on_slow_poll` callback always, and logged within the culprit's rate limit.
pub(crate) fn slow_poll(slow: &SlowPoll, strict: bool) {
    if let Who::Fn(cs) = slow.culprit {
        cs.stats().on_slow_poll();
    }
    store::record_slow_poll(slow);
    call_back(slow);
    let limiter = match slow.culprit {
        Who::Fn(cs) => cs.limiter(),
        Who::Task(_) => &TASK_LIMITER,
    };
    if let Some(suppressed) = admit(limiter) {
        events::slow_poll(slow, strict, suppressed);
    }
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

/// A poll is still blocking its thread: stored and logged (once, then at growing intervals).
pub(crate) fn stall(s: &Stall) {
    store::record_stall(s);
    events::stall(s);
}

/// What a stalled thread is blocked in, as a follow-up of its stall report.
#[cfg(all(feature = "stacks", target_os = "linux"))]
pub(crate) fn stall_stack(s: &Stall, blocked: &Blocked) {
    events::stall_stack(s, blocked);
}

/// A task (or, `None`, the heartbeat) waited `delay` to be polled, within the lag rate limit.
#[cfg(feature = "tokio")]
pub(crate) fn lag(task: Option<TaskRef>, delay: Duration, threshold: Duration) {
    if let Some(suppressed) = admit(&LAG_LIMITER) {
        events::lag(task, delay, threshold, suppressed);
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
    events::never_polled(cs, created_at, debug);
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
