//! The clock every poll is timed with: quanta's clock, read from the CPU's invariant TSC (std's
//! monotonic clock where the TSC is not usable). Polls read it raw ([`Ticks`]: one `rdtsc`, no
//! scaling, no thread-local) and scale only durations; everything else uses quanta's `Instant`.
//!
//! A debug-mode poll reads the clock twice. Measured on the 2-core KVM machine of
//! BENCHMARKS.md: `std::time::Instant::now()` 23.2 ns, `quanta::Instant::now()` 9.5 ns, so
//! ~27 ns of the per-poll cost goes away. quanta calibrates once, lazily (0.6 ms there, at most
//! 200 ms): [`warm_up`] does it when a runtime or the watchdog starts, not in a user's poll.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub(crate) use quanta::Instant;

/// pollwatch's own handle on quanta's clock: reading it raw costs no thread-local lookup
/// (`quanta::Instant::now` checks a thread-local mock override first) and no scaling.
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw reading of the clock (TSC ticks, or nanoseconds where there is no usable TSC), never
/// 0: what a poll's start and end are, and what the watchdog's slots publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticks(u64);

impl Ticks {
    #[inline]
    pub(crate) fn now() -> Ticks {
        Ticks(clock().raw() | 1)
    }

    /// A reading published as a `u64` (a slot's start); 0 is no reading.
    #[inline]
    pub(crate) fn from_raw(raw: u64) -> Option<Ticks> {
        (raw != 0).then_some(Ticks(raw))
    }

    #[inline]
    pub(crate) fn raw(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self` (zero if `earlier` is later).
    #[inline]
    pub(crate) fn duration_since(self, earlier: Ticks) -> Duration {
        Duration::from_nanos(clock().delta_as_nanos(earlier.0, self.0))
    }

    #[inline]
    pub(crate) fn elapsed(self) -> Duration {
        Ticks::now().duration_since(self)
    }
}

/// Calibrates the clock now, so the first timed poll does not pay for it.
pub(crate) fn warm_up() {
    let _ = epoch();
    let _ = clock();
}

/// The moment pollwatch first looked at the clock, as an `Instant` and as [`Ticks`].
fn epoch_pair() -> (Instant, Ticks) {
    static EPOCH: OnceLock<(Instant, Ticks)> = OnceLock::new();
    *EPOCH.get_or_init(|| (Instant::now(), Ticks::now()))
}

fn epoch() -> Instant {
    epoch_pair().0
}

/// Nanoseconds from the epoch to `t`: the time base of the report's `at_ns` fields, the HTML
/// timeline and the trace.
pub(crate) fn ns_since_epoch(t: Ticks) -> u64 {
    t.duration_since(epoch_pair().1)
        .as_nanos()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// Nanoseconds since the epoch, now.
pub(crate) fn now_ns() -> u64 {
    ns_since_epoch(Ticks::now())
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

/// [`Ticks`] of a moment less than about a millisecond ago, kept by the ticker thread while the
/// production profile runs; 0 when no ticker keeps it.
static COARSE: AtomicU64 = AtomicU64::new(0);
static TICKER: AtomicBool = AtomicBool::new(false);

/// How often the ticker refreshes the coarse clock.
const TICK: Duration = Duration::from_millis(1);

/// Now, for a poll start in the production profile: the coarse clock (one relaxed load: no
/// clock read per poll), or the clock itself where no ticker keeps the coarse one.
#[inline]
pub(crate) fn coarse() -> Ticks {
    match COARSE.load(Relaxed) {
        0 => Ticks::now(),
        raw => Ticks(raw),
    }
}

/// Starts the ticker (once per process): while `keep(…)` says the production profile is in
/// force, it stores the time every millisecond; otherwise it clears the coarse clock (so polls
/// read the real one) and looks again every 50 ms. About 1,000 wake-ups a second, only in the
/// production profile.
pub(crate) fn start_ticker(keep: fn() -> bool) {
    if TICKER.load(Relaxed) || TICKER.swap(true, Relaxed) {
        return;
    }
    warm_up();
    let spawned = std::thread::Builder::new()
        .name("pollwatch-clock".into())
        .spawn(move || {
            loop {
                if keep() {
                    COARSE.store(Ticks::now().raw(), Relaxed);
                    std::thread::sleep(TICK);
                } else {
                    COARSE.store(0, Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
    if spawned.is_err() {
        TICKER.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_lags_by_about_a_tick() {
        start_ticker(|| true);
        std::thread::sleep(Duration::from_millis(20));
        for _ in 0..50 {
            let coarse = coarse();
            let now = Ticks::now();
            assert!(coarse <= now, "never ahead");
            // A loaded machine delays the ticker; the bound is generous here, the accuracy
            // benchmark measures the real lag.
            let lag = now.duration_since(coarse);
            assert!(lag < Duration::from_millis(50), "lag {lag:?}");
            std::thread::sleep(Duration::from_micros(300));
        }
    }
}
