//! The clock every poll is timed with: quanta's `Instant`, read from the CPU's invariant TSC
//! and scaled to nanoseconds (std's monotonic clock where the TSC is not usable).
//!
//! A debug-mode poll reads the clock twice. Measured on the 2-core KVM machine of
//! BENCHMARKS.md: `std::time::Instant::now()` 23.2 ns, `quanta::Instant::now()` 9.5 ns, so
//! ~27 ns of the per-poll cost goes away. quanta calibrates once, lazily (0.6 ms there, at most
//! 200 ms): [`warm_up`] does it when a runtime or the watchdog starts, not in a user's poll.

pub(crate) use quanta::Instant;

/// Calibrates the clock now, so the first timed poll does not pay for it.
pub(crate) fn warm_up() {
    let _ = Instant::now();
}
