//! [`Config::on_slow_poll`](crate::Config::on_slow_poll): every slow poll handed to user code
//! (for metrics, alerts, custom logs), not subject to the log rate limit.

use std::fmt;
use std::panic::{AssertUnwindSafe, Location};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::frames::{SlowPoll, Who};

/// The callback type of [`Config::on_slow_poll`](crate::Config::on_slow_poll).
pub(crate) type Callback = Arc<dyn Fn(&SlowPollInfo<'_>) + Send + Sync>;

static CALLBACK: RwLock<Option<Callback>> = RwLock::new(None);

pub(crate) fn set(callback: Option<Callback>) {
    // A poisoned lock only means a previous writer panicked; the value is still a valid Option.
    let mut slot = CALLBACK.write().unwrap_or_else(|e| e.into_inner());
    *slot = callback;
}

pub(crate) fn get() -> Option<Callback> {
    CALLBACK.read().unwrap_or_else(|e| e.into_inner()).clone()
}

pub(crate) fn slow_poll(report: &SlowPoll, kind: &'static str) {
    let Some(callback) = get() else { return };
    let info = SlowPollInfo { report, kind };
    // Instrumentation must not change what the user's future does: a panicking callback is
    // reported, not propagated into the poll that happened to be slow.
    if std::panic::catch_unwind(AssertUnwindSafe(|| callback(&info))).is_err() {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "pollwatch: the on_slow_poll callback panicked; ignored"
        );
    }
}

/// One slow poll, as handed to [`Config::on_slow_poll`](crate::Config::on_slow_poll).
///
/// Its `Display` is the warning's message.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let slow_ms = Arc::new(AtomicU64::new(0));
/// let total = slow_ms.clone();
/// pollwatch::Config::default()
///     .on_slow_poll(move |info| {
///         total.fetch_add(info.duration().as_millis() as u64, Ordering::Relaxed);
///         eprintln!("{} (kind: {}, chain: {})", info.name(), info.kind(), info.chain());
///     })
///     .apply();
/// ```
pub struct SlowPollInfo<'a> {
    report: &'a SlowPoll,
    kind: &'static str,
}

impl SlowPollInfo<'_> {
    /// The instrumented fn to blame, or `None` when an un-annotated task did the work (see
    /// [`task_id`](Self::task_id)).
    pub fn fn_name(&self) -> Option<&'static str> {
        match self.report.culprit {
            Who::Fn(cs) => Some(cs.name()),
            Who::Task { .. } => None,
        }
    }

    /// The fn name, or `task <id>` for an un-annotated task.
    pub fn name(&self) -> String {
        self.report.culprit.to_string()
    }

    /// The Tokio task the poll belonged to, when the runtime's poll hooks saw it
    /// (`--cfg tokio_unstable` and a runtime from [`Builder`](crate::Builder)).
    pub fn task_id(&self) -> Option<u64> {
        self.report.task.map(|(id, _)| id)
    }

    /// Where that task was spawned.
    pub fn spawned_at(&self) -> Option<&'static Location<'static>> {
        self.report.task.map(|(_, at)| at)
    }

    /// `file:line` of the culprit: the fn's definition, or the task's spawn location.
    pub fn location(&self) -> String {
        self.report.location().to_string()
    }

    /// Where the culprit's future was created.
    pub fn created_at(&self) -> &'static Location<'static> {
        self.report.created_at
    }

    /// How long the poll kept its thread.
    pub fn duration(&self) -> Duration {
        self.report.blocked
    }

    /// The culprit's own share of [`duration`](Self::duration), over its [`calls`](Self::calls).
    pub fn self_time(&self) -> Duration {
        self.report.self_time
    }

    /// How many calls of the culprit fn ran in this one poll.
    pub fn calls(&self) -> u32 {
        self.report.calls
    }

    /// The threshold that was exceeded.
    pub fn threshold(&self) -> Duration {
        self.report.threshold
    }

    /// Which poll of the culprit's future it was (1-based); `None` for a task.
    pub fn poll(&self) -> Option<u64> {
        (self.report.poll != 0).then_some(self.report.poll)
    }

    /// `cpu-bound`, `blocking`, `mixed`, or `unknown` when no watchdog sampled the poll.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The async call chain, outermost first: `main > handler > cpu_bound_task`.
    pub fn chain(&self) -> String {
        self.report.chain.to_string()
    }
}

impl fmt::Debug for SlowPollInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlowPollInfo")
            .field("name", &self.name())
            .field("task_id", &self.task_id())
            .field("location", &self.location())
            .field("duration", &self.duration())
            .field("self_time", &self.self_time())
            .field("chain", &self.chain())
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SlowPollInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} blocked the executor for {} at {} [{}]",
            self.report.culprit,
            crate::events::Dur(self.duration()),
            self.location(),
            self.chain()
        )
    }
}
