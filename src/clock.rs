//! The clock every poll is timed with, and the one epoch: quanta's `Instant`, read from the CPU's
//! invariant TSC and scaled to nanoseconds (std's monotonic clock where the TSC is not usable).
//!
//! A debug-mode poll reads the clock twice. Measured on the 2-core KVM machine of
//! BENCHMARKS.md: `std::time::Instant::now()` 23.2 ns, `quanta::Instant::now()` 9.5 ns, so
//! ~27 ns of the per-poll cost goes away. quanta calibrates once, lazily (0.6 ms there, at most
//! 200 ms): [`warm_up`] does it when a runtime or the watchdog starts, not in a user's poll.

use std::sync::OnceLock;

pub(crate) use quanta::Instant;

/// Calibrates the clock now, so the first timed poll does not pay for it.
pub(crate) fn warm_up() {
    let _ = epoch();
}

/// The moment pollwatch first looked at the clock.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from the epoch to `t`, plus one, so that a published timestamp is never 0 (which
/// the watchdog's slots use for "idle").
#[inline]
pub(crate) fn ns_since_epoch(t: Instant) -> u64 {
    let d = t.saturating_duration_since(epoch());
    // u64 arithmetic (584 years of uptime), cheaper than `as_nanos()`'s u128 on this path.
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
        .saturating_add(1)
}

/// Milliseconds since the epoch: the rate limiter's time base.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(
        Instant::now()
            .saturating_duration_since(epoch())
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}
