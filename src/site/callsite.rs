//! Static, per-annotated-fn metadata. Memory is per call site, never per call: each
//! `#[async_timed]` fn owns one `static CallSite`, and everything shared between its calls (the
//! slow-poll rate limiter, the statistics) lives in atomics inside it.

use std::fmt;
use std::time::Duration;

use super::rate_limit::RateLimit;
use super::registry::{Link, Listed, Registry};
use super::stats::Stats;
use super::values::{Outcome, Values};
use crate::util::FileLine;

/// What a call site's generated emitter is asked to do. The start and finish events must be
/// emitted from the user's crate because their target, level and field names (the fn's
/// arguments) are chosen per fn; `__emit_timed!` writes both.
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
    link: Link<CallSite>,
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

/// Every call site used in debug mode, for reports.
static CALL_SITES: Registry<CallSite> = Registry::new();

impl Listed for CallSite {
    fn link(&self) -> &Link<Self> {
        &self.link
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
            link: Link::new(),
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
    pub(crate) fn location(&self) -> Option<FileLine> {
        (self.line != 0).then_some(FileLine {
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

    /// Lists this call site for reports (once).
    #[inline]
    pub(crate) fn register(&'static self) {
        CALL_SITES.register(self);
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

/// Every call site used in debug mode so far.
pub(crate) fn call_sites() -> Vec<&'static CallSite> {
    CALL_SITES.items()
}
