//! Static, per-annotated-fn metadata. Memory is per call site, never per call: each
//! `#[async_timed]` fn owns one `static CallSite`, and everything shared between its calls (the
//! slow-poll rate limiter) lives in atomics inside it.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::stats::Stats;
use crate::values::{Outcome, Values};

/// What a call site's generated emitter is asked to do. The start and finish events must be
/// emitted from the user's crate because their target, level and field names (the fn's
/// arguments) are chosen per fn; `events::emit_timed!` writes both.
#[derive(Debug)]
pub enum Emit<'a> {
    /// Is the start/finish event enabled? (Decides whether arguments are captured.)
    Enabled,
    /// The first poll is about to happen.
    Start(&'a Values),
    /// The future completed.
    Finish(&'a Finished<'a>),
}

/// The numbers of a completed call.
#[derive(Debug)]
pub struct Finished<'a> {
    /// From the start of the first poll to the end of the last one.
    pub elapsed: Duration,
    /// Sum of the poll durations.
    pub busy: Duration,
    /// `elapsed - busy`: time spent waiting to be woken or scheduled.
    pub idle: Duration,
    /// Number of polls.
    pub polls: u64,
    /// The arguments captured at the start, repeated so start and finish lines pair up.
    pub values: Option<&'a Values>,
    /// The return value or error, when `ret` / `err` asked for them.
    pub outcome: Option<&'a Outcome>,
}

type EmitFn = fn(&'static CallSite, Emit<'_>) -> bool;

/// One annotated fn.
pub struct CallSite {
    name: &'static str,
    module_path: &'static str,
    file: &'static str,
    line: u32,
    slow_ns: u64,
    emit: EmitFn,
    limiter: RateLimit,
    stats: Stats,
    /// Scheduling delay (wake to poll), measured by tokio-metrics when asked for.
    #[cfg(feature = "tokio")]
    monitor: tokio_metrics::TaskMonitorCore,
}

impl fmt::Debug for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSite")
            .field("name", &self.name)
            .field("module_path", &self.module_path)
            .field("location", &self.location())
            .field("slow_ns", &self.slow_ns)
            .finish_non_exhaustive()
    }
}

impl CallSite {
    /// Built by the macro in a `static`. `slow_ns == 0` means "the process-wide threshold".
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
        slow_ns: u64,
        emit: EmitFn,
    ) -> Self {
        CallSite {
            name,
            module_path,
            file,
            line,
            slow_ns,
            emit,
            limiter: RateLimit::new(),
            stats: Stats::new(),
            #[cfg(feature = "tokio")]
            monitor: tokio_metrics::TaskMonitorCore::new(),
        }
    }

    /// The fn's name (or its `name = "…"`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `file:line` of the fn's definition; `None` for a call site without one of its own (the
    /// root future of `block_on`, whose location is where it was created).
    pub fn location(&self) -> Option<Location> {
        (self.line != 0).then_some(Location {
            file: self.file,
            line: self.line,
        })
    }

    /// The per-fn threshold if `slow = "…"` was given.
    pub(crate) fn own_threshold_nanos(&self) -> Option<u64> {
        (self.slow_ns != 0).then_some(self.slow_ns)
    }

    pub(crate) fn emit(&'static self, what: Emit<'_>) -> bool {
        (self.emit)(self, what)
    }

    pub(crate) fn limiter(&self) -> &RateLimit {
        &self.limiter
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn monitor(&'static self) -> &'static tokio_metrics::TaskMonitorCore {
        &self.monitor
    }

    /// The module the fn is defined in.
    pub(crate) fn module_path(&self) -> &'static str {
        self.module_path
    }
}

/// `file:line`, displayed that way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub(crate) file: &'static str,
    pub(crate) line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl From<&'static std::panic::Location<'static>> for Location {
    fn from(l: &'static std::panic::Location<'static>) -> Self {
        Location {
            file: l.file(),
            line: l.line(),
        }
    }
}

/// Milliseconds since the first time pollwatch looked at the clock; the rate limiter's time base.
pub(crate) fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// "First N per second, then count": lock-free, so a hot path of slow polls costs a few atomics
/// and never a log line per poll. Races between threads can let a handful more through in one
/// window; they never lose the suppressed count.
#[derive(Debug)]
pub(crate) struct RateLimit {
    window_start_ms: AtomicU64,
    in_window: AtomicU32,
    suppressed: AtomicU64,
}

/// The limiter's answer for one warning.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
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
    pub(crate) fn check(&self, now_ms: u64, per_window: u32) -> Verdict {
        if per_window == 0 {
            return Verdict::Emit {
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
            Verdict::Emit {
                suppressed_before: self.suppressed.swap(0, Relaxed),
            }
        } else {
            // Keep the counter from wrapping on a very hot path.
            self.in_window.store(per_window.saturating_add(1), Relaxed);
            self.suppressed.fetch_add(1, Relaxed);
            Verdict::Suppress
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
            .filter(|_| matches!(rl.check(10, 10), Verdict::Emit { .. }))
            .count();
        assert_eq!(emitted, 10);
        // Still inside the window.
        assert_eq!(rl.check(999, 10), Verdict::Suppress);
        // Next window: the first warning carries the count of everything suppressed before it.
        assert_eq!(
            rl.check(1010, 10),
            Verdict::Emit {
                suppressed_before: 16
            }
        );
        assert_eq!(
            rl.check(1011, 10),
            Verdict::Emit {
                suppressed_before: 0
            }
        );
    }

    #[test]
    fn zero_means_unlimited() {
        let rl = RateLimit::new();
        assert!((0..1000).all(|_| matches!(rl.check(0, 0), Verdict::Emit { .. })));
    }
}
