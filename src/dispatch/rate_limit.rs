//! "First N per second, then count": lock-free, so a hot path of slow polls costs a few atomics
//! and never a log line per poll.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Races between threads can let a handful more through in one window; they never lose the
/// suppressed count.
#[derive(Debug)]
pub(crate) struct RateLimit {
    window_start_ms: AtomicU64,
    in_window: AtomicU32,
    suppressed: AtomicU64,
}

/// The limiter's answer for one warning.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Emit it; first report how many were suppressed since the last one that was emitted.
    Emit { suppressed_before: u64 },
    /// Over the limit: counted, not emitted.
    Suppress,
}

const WINDOW_MS: u64 = 1000;

impl RateLimit {
    pub(crate) const fn new() -> Self {
        RateLimit {
            window_start_ms: AtomicU64::new(0),
            in_window: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `per_window == 0` means unlimited.
    pub(crate) fn check(&self, now_ms: u64, per_window: u32) -> Admit {
        if per_window == 0 {
            return Admit::Emit {
                suppressed_before: self.suppressed.swap(0, Relaxed),
            };
        }
        let start = self.window_start_ms.load(Relaxed);
        if now_ms.saturating_sub(start) >= WINDOW_MS
            && self
                .window_start_ms
                .compare_exchange(start, now_ms, Relaxed, Relaxed)
                .is_ok()
        {
            self.in_window.store(0, Relaxed);
        }
        let n = self.in_window.fetch_add(1, Relaxed).saturating_add(1);
        if n <= per_window {
            Admit::Emit {
                suppressed_before: self.suppressed.swap(0, Relaxed),
            }
        } else {
            // Keep the counter from wrapping on a very hot path.
            self.in_window.store(per_window.saturating_add(1), Relaxed);
            self.suppressed.fetch_add(1, Relaxed);
            Admit::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_n_per_window_then_one_summary() {
        let rl = RateLimit::new();
        let emitted = (0..25)
            .filter(|_| matches!(rl.check(10, 10), Admit::Emit { .. }))
            .count();
        assert_eq!(emitted, 10);
        // Still inside the window.
        assert_eq!(rl.check(999, 10), Admit::Suppress);
        // Next window: the first warning carries the count of everything suppressed before it.
        assert_eq!(
            rl.check(1010, 10),
            Admit::Emit {
                suppressed_before: 16
            }
        );
        assert_eq!(
            rl.check(1011, 10),
            Admit::Emit {
                suppressed_before: 0
            }
        );
    }

    #[test]
    fn zero_means_unlimited() {
        let rl = RateLimit::new();
        assert!((0..1000).all(|_| matches!(rl.check(0, 0), Admit::Emit { .. })));
    }
}
