//! Per-call-site statistics, collected in debug mode: counters and a fixed-size histogram of poll
//! durations, all atomics inside the call site's `static` (memory per call site, never per call),
//! and a lock-free list of the call sites that have been used, for reports.

use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::time::Duration;

use crate::callsite::CallSite;
use crate::config::saturating_nanos;

/// Four buckets per power of two: ±12.5 % resolution from 1 ns to 18 minutes (longer polls
/// land in the last bucket).
const BUCKETS: usize = 164;

/// The histogram is sharded per thread: every poll of a hot fn on every worker would otherwise
/// increment the same cache line, and the contention (measured: a 1M-poll workload 4.5× slower
/// than plain Tokio on 2 workers) would cost far more than the counting.
const SHARDS: usize = 4;

/// The counters of one call site.
pub(crate) struct Stats {
    pub(crate) calls: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) never_polled: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) slow_polls: AtomicU64,
    /// Sum of `elapsed` over completed calls.
    pub(crate) wall_ns: AtomicU64,
    pub(crate) busy_ns: AtomicU64,
    pub(crate) max_poll_ns: AtomicU64,
    pub(crate) polls: AtomicU64,
    hist: [Shard; SHARDS],
    registered: AtomicBool,
    next: AtomicPtr<CallSite>,
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Stats {
            calls: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            never_polled: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            slow_polls: AtomicU64::new(0),
            wall_ns: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            max_poll_ns: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            hist: [const { Shard([const { AtomicU64::new(0) }; BUCKETS]) }; SHARDS],
            registered: AtomicBool::new(false),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Records one poll of `d` in the histogram (in this thread's shard). Sums and maxima are
    /// kept by the call itself and added once, by [`Stats::call_done`].
    #[inline]
    pub(crate) fn poll(&self, d: Duration) {
        let ns = saturating_nanos(d);
        self.hist[shard()].0[bucket(ns)].fetch_add(1, Relaxed);
    }

    /// Adds one call's polls: their count, total and longest.
    pub(crate) fn call_done(&self, polls: u64, busy: Duration, max_poll: Duration) {
        self.polls.fetch_add(polls, Relaxed);
        self.busy_ns.fetch_add(saturating_nanos(busy), Relaxed);
        let max = saturating_nanos(max_poll);
        if max > self.max_poll_ns.load(Relaxed) {
            self.max_poll_ns.fetch_max(max, Relaxed);
        }
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Relaxed)
    }

    /// The `q`-quantile (0.0–1.0) of poll durations, at the middle of its bucket.
    pub(crate) fn poll_quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = (0..BUCKETS)
            .map(|i| self.hist.iter().map(|s| s.0[i].load(Relaxed)).sum())
            .collect();
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
                return Some(Duration::from_nanos(low + (high - low) / 2));
            }
        }
        None
    }
}

/// One thread's share of a histogram, on cache lines of its own.
#[repr(align(128))]
struct Shard([AtomicU64; BUCKETS]);

/// This thread's shard: threads take them in turn, so the first few never share one.
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

static HEAD: AtomicPtr<CallSite> = AtomicPtr::new(std::ptr::null_mut());

/// Adds `cs` to the list of used call sites (once).
pub(crate) fn register(cs: &'static CallSite) {
    let stats = cs.stats();
    if stats.registered.load(Relaxed) || stats.registered.swap(true, Relaxed) {
        return;
    }
    let me = std::ptr::from_ref(cs).cast_mut();
    let mut head = HEAD.load(Acquire);
    loop {
        stats.next.store(head, Relaxed);
        match HEAD.compare_exchange_weak(head, me, Release, Acquire) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

/// Every call site used in debug mode so far.
pub(crate) fn call_sites() -> Vec<&'static CallSite> {
    let mut out = Vec::new();
    let mut p = HEAD.load(Acquire);
    // SAFETY: the list only ever holds `&'static CallSite`s, pushed by `register`.
    while let Some(cs) = unsafe { p.as_ref() } {
        out.push(cs);
        p = cs.stats().next.load(Acquire);
    }
    out
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
            s.poll(Duration::from_millis(ms));
            s.call_done(1, Duration::from_millis(ms), Duration::from_millis(ms));
        }
        let p50 = s.poll_quantile(0.5).unwrap();
        let p99 = s.poll_quantile(0.99).unwrap();
        assert!(
            p50.abs_diff(Duration::from_millis(50)) <= Duration::from_millis(7),
            "{p50:?}"
        );
        assert!(
            p99.abs_diff(Duration::from_millis(99)) <= Duration::from_millis(13),
            "{p99:?}"
        );
        assert_eq!(s.polls(), 100);
        assert_eq!(s.max_poll_ns.load(Relaxed), 100_000_000);
    }
}
