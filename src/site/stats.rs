//! Per-call-site statistics, collected in debug mode: counters and a fixed-size histogram of poll
//! durations, all atomics inside the call site's `static` (memory per call site, never per call).
//! Written through the `on_*` methods, read through [`Stats::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::util::saturating_nanos;

/// Four buckets per power of two: ±12.5 % resolution from 1 ns to 18 minutes (longer polls
/// land in the last bucket).
const BUCKETS: usize = 164;

/// The histogram is sharded per thread: every poll of a hot fn on every worker would otherwise
/// increment the same cache line, and the contention (measured: a 1M-poll workload 4.5× slower
/// than plain Tokio on 2 workers) would cost far more than the counting.
const SHARDS: usize = 8;

/// The counters of one call site.
pub(crate) struct Stats {
    calls: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
    never_polled: AtomicU64,
    panicked: AtomicU64,
    slow_poll_count: AtomicU64,
    /// Sum of `elapsed` over completed calls.
    total_wall_ns: AtomicU64,
    total_busy_ns: AtomicU64,
    max_poll_ns: AtomicU64,
    poll_count: AtomicU64,
    hist: [Shard; SHARDS],
}

/// The numbers of one call site at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatsSnapshot {
    pub(crate) calls: u64,
    pub(crate) completed: u64,
    pub(crate) cancelled: u64,
    pub(crate) never_polled: u64,
    pub(crate) panicked: u64,
    pub(crate) slow_poll_count: u64,
    pub(crate) total_wall_ns: u64,
    pub(crate) total_busy_ns: u64,
    pub(crate) max_poll_ns: u64,
    pub(crate) poll_count: u64,
    /// Median poll duration (±12.5 %), `None` before any poll.
    pub(crate) p50_poll_ns: Option<u64>,
    /// 99th percentile poll duration (±12.5 %).
    pub(crate) p99_poll_ns: Option<u64>,
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Stats {
            calls: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            never_polled: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            slow_poll_count: AtomicU64::new(0),
            total_wall_ns: AtomicU64::new(0),
            total_busy_ns: AtomicU64::new(0),
            max_poll_ns: AtomicU64::new(0),
            poll_count: AtomicU64::new(0),
            hist: [const { Shard([const { AtomicU64::new(0) }; BUCKETS]) }; SHARDS],
        }
    }

    /// A future of this fn was created.
    #[inline]
    pub(crate) fn on_call(&self) {
        self.calls.fetch_add(1, Relaxed);
    }

    /// Records one poll of `d` in the histogram (in this thread's shard). Sums and maxima are
    /// kept by the call itself and added once, by [`Stats::on_call_done`].
    ///
    /// A load and a store, not a locked increment (about 6 ns of a debug-mode poll, measured):
    /// a shard is its thread's alone for the first `SHARDS` threads to poll this fn; past that,
    /// two threads sharing a shard may, racing on the same bucket within nanoseconds, count one
    /// poll instead of two. The histogram gives percentiles; the poll count and busy time are
    /// kept exactly elsewhere.
    #[inline]
    pub(crate) fn on_poll(&self, d: Duration) {
        let ns = saturating_nanos(d);
        let count = &self.hist[shard()].0[bucket(ns)];
        count.store(count.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Adds one call's polls: their count, total and longest. Every call ends with this once,
    /// whether it completed, was cancelled, never polled or panicked.
    pub(crate) fn on_call_done(&self, polls: u64, busy: Duration, max_poll: Duration) {
        self.poll_count.fetch_add(polls, Relaxed);
        self.total_busy_ns
            .fetch_add(saturating_nanos(busy), Relaxed);
        let max = saturating_nanos(max_poll);
        if max > self.max_poll_ns.load(Relaxed) {
            self.max_poll_ns.fetch_max(max, Relaxed);
        }
    }

    /// A call completed after `elapsed` (first poll to last).
    pub(crate) fn on_completed(&self, elapsed: Duration) {
        self.completed.fetch_add(1, Relaxed);
        self.total_wall_ns
            .fetch_add(saturating_nanos(elapsed), Relaxed);
    }

    /// A call completed in the production profile (not timed: no wall time added).
    pub(crate) fn on_completed_untimed(&self) {
        self.completed.fetch_add(1, Relaxed);
    }

    /// A call was dropped after at least one poll, unfinished.
    pub(crate) fn on_cancelled(&self) {
        self.cancelled.fetch_add(1, Relaxed);
    }

    /// A call was dropped before its first poll.
    pub(crate) fn on_never_polled(&self) {
        self.never_polled.fetch_add(1, Relaxed);
    }

    /// A poll of a call panicked.
    pub(crate) fn on_panicked(&self) {
        self.panicked.fetch_add(1, Relaxed);
    }

    /// A slow poll was blamed on this fn.
    pub(crate) fn on_slow_poll(&self) {
        self.slow_poll_count.fetch_add(1, Relaxed);
    }

    /// Every counter, and the median and 99th percentile poll.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let counts: [u64; BUCKETS] =
            std::array::from_fn(|i| self.hist.iter().map(|s| s.0[i].load(Relaxed)).sum());
        StatsSnapshot {
            calls: self.calls.load(Relaxed),
            completed: self.completed.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            never_polled: self.never_polled.load(Relaxed),
            panicked: self.panicked.load(Relaxed),
            slow_poll_count: self.slow_poll_count.load(Relaxed),
            total_wall_ns: self.total_wall_ns.load(Relaxed),
            total_busy_ns: self.total_busy_ns.load(Relaxed),
            max_poll_ns: self.max_poll_ns.load(Relaxed),
            poll_count: self.poll_count.load(Relaxed),
            p50_poll_ns: quantile(&counts, 0.5),
            p99_poll_ns: quantile(&counts, 0.99),
        }
    }
}

/// The `q`-quantile (0.0–1.0) of the histogram, at the middle of its bucket.
fn quantile(counts: &[u64; BUCKETS], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    // The smallest value with at least q of the samples at or below it.
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            let (low, high) = (lower_bound(i), lower_bound(i + 1));
            return Some(low + (high - low) / 2);
        }
    }
    None
}

/// One thread's share of a histogram, on cache lines of its own.
#[repr(align(128))]
struct Shard([AtomicU64; BUCKETS]);

/// This thread's shard: threads take them in turn, so the first few never share one.
#[inline]
fn shard() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT.fetch_add(1, Relaxed) % SHARDS);
            }
            s.get()
        })
        .unwrap_or(0)
}

#[inline]
fn bucket(ns: u64) -> usize {
    if ns < 4 {
        return ns as usize;
    }
    let octave = 63 - u64::from(ns.leading_zeros()); // ≥ 2
    let sub = (ns >> (octave - 2)) & 3;
    (((octave - 1) * 4 + sub) as usize).min(BUCKETS - 1)
}

fn lower_bound(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let octave = (i / 4 + 1) as u32;
    let sub = (i % 4) as u64;
    (4 + sub).checked_shl(octave - 2).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in (0..100_000u64).chain([1 << 40, u64::MAX]) {
            let b = bucket(ns);
            assert!(b >= last, "{ns}");
            assert!(b < BUCKETS);
            assert!(
                lower_bound(b) <= ns && (b + 1 == BUCKETS || ns < lower_bound(b + 1)),
                "{ns} in {b}"
            );
            last = b;
        }
    }

    #[test]
    fn quantiles_within_one_bucket() {
        let s = Stats::new();
        for ms in 1..=100 {
            s.on_poll(Duration::from_millis(ms));
            s.on_call_done(1, Duration::from_millis(ms), Duration::from_millis(ms));
        }
        let snap = s.snapshot();
        let p50 = Duration::from_nanos(snap.p50_poll_ns.unwrap());
        let p99 = Duration::from_nanos(snap.p99_poll_ns.unwrap());
        assert!(
            p50.abs_diff(Duration::from_millis(50)) <= Duration::from_millis(7),
            "{p50:?}"
        );
        assert!(
            p99.abs_diff(Duration::from_millis(99)) <= Duration::from_millis(13),
            "{p99:?}"
        );
        assert_eq!(snap.poll_count, 100);
        assert_eq!(snap.max_poll_ns, 100_000_000);
    }

    #[test]
    fn an_unused_site_has_no_quantiles() {
        let snap = Stats::new().snapshot();
        assert_eq!(snap, StatsSnapshot::default());
    }
}
