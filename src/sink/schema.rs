//! The report's schema (`pollwatch-report/1`, `schema/report-v1.json`): plain, serializable
//! types. Changing a field here changes the JSON that CI pipelines parse.
//!
//! Each is `#[non_exhaustive]`: the schema gains optional fields in minor versions. A tool
//! that writes reports of its own (`pollwatch watch` does) starts from [`Report::new`] and the
//! records' `Default`, and sets the fields it knows.

use serde::Serialize;

/// Version of the JSON report's schema (`schema/report-v1.json`).
pub const REPORT_SCHEMA: &str = "pollwatch-report/1";

/// One slow poll, as kept for reports.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct SlowPollRecord {
    /// The instrumented fn to blame, else the fn the blocked thread's native stack names;
    /// `None` when neither does.
    #[serde(rename = "fn")]
    pub fn_name: Option<String>,
    /// The Tokio task, when the runtime's task hooks saw the poll.
    pub task: Option<u64>,
    /// Where that task was spawned.
    pub spawned_at: Option<String>,
    /// `file:line` of the culprit: the line its native stack shows blocking, else the fn's
    /// definition, else the task's spawn; `None` when nothing names one.
    pub location: Option<String>,
    /// Where the culprit's future was created (`None` for a task no poll hook timed).
    pub created_at: Option<String>,
    /// Outermost first.
    pub chain: Vec<String>,
    /// How long the poll kept its thread, in nanoseconds.
    pub duration_ns: u64,
    /// The culprit's own part, in nanoseconds.
    pub self_time_ns: u64,
    /// The threshold that was exceeded, in nanoseconds.
    pub threshold_ns: u64,
    /// `cpu-bound`, `blocking`, `mixed` or `unknown`.
    pub kind: String,
    /// Calls of the culprit fn in this poll.
    pub calls: u32,
    /// The thread that was blocked.
    pub thread: String,
    /// Its kernel thread id (Linux; 0 where unknown): tells same-named workers apart.
    pub thread_id: u64,
    /// When the poll began, in nanoseconds since pollwatch first read its clock in this
    /// process (the time base of [`ProcessInfo::uptime_ns`] and the HTML timeline).
    pub at_ns: u64,
    /// The system call the thread was blocked in when its native stack was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<String>,
    /// The thread's native stack, innermost first (`function (file:line)`), when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<String>>,
    /// How that stack was read: `unwound` (exact) or `scanned` (approximate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_method: Option<String>,
}

/// One stall report (a poll still blocking when the watchdog looked).
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct StallRecord {
    /// The innermost instrumented fn on the blocked thread, else the fn its native stack
    /// names, if any.
    #[serde(rename = "fn")]
    pub fn_name: Option<String>,
    /// The Tokio task, when known.
    pub task: Option<u64>,
    /// `file:line`: where its native stack shows it blocking, else the fn's (or the task's
    /// spawn).
    pub location: Option<String>,
    /// Outermost first.
    pub chain: Vec<String>,
    /// The blocked thread.
    pub thread: String,
    /// Its kernel thread id (Linux; 0 where unknown).
    pub thread_id: u64,
    /// When the report was made, in nanoseconds since pollwatch first read its clock in this
    /// process; the blocking began `blocked_for_ns` earlier.
    pub at_ns: u64,
    /// How long it had been blocking, in nanoseconds.
    pub blocked_for_ns: u64,
    /// `cpu-bound`, `blocking`, `mixed` or `unknown`.
    pub kind: String,
    /// 1 for the first report of a stall, 2, 3, … for reminders.
    pub report: u32,
    /// The system call the thread was blocked in when its native stack was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<String>,
    /// The thread's native stack, innermost first (`function (file:line)`), when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<String>>,
    /// How that stack was read: `unwound` (exact) or `scanned` (approximate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_method: Option<String>,
}

/// A task (or the runtime's heartbeat) that waited for a worker, held up by a blocking poll:
/// the lag the report's timeline shows.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct LagRecord {
    /// When the wait ended, in nanoseconds since pollwatch first read its clock in this
    /// process; it began `delay_ns` earlier.
    pub at_ns: u64,
    /// How long it waited, in nanoseconds.
    pub delay_ns: u64,
    /// The task that waited; `None` for pollwatch's heartbeat.
    pub task: Option<u64>,
    /// Where that task was spawned.
    pub spawned_at: Option<String>,
}

/// One call site's numbers, collected while debug mode was on.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct CallSiteSummary {
    /// The fn's name.
    #[serde(rename = "fn")]
    pub fn_name: String,
    /// Its module.
    pub module: String,
    /// `file:line` of its definition (`None` for the root future of `block_on`).
    pub location: Option<String>,
    /// Futures created.
    pub calls: u64,
    /// Calls that completed.
    pub completed: u64,
    /// Calls dropped after ≥ 1 poll, unfinished.
    pub cancelled: u64,
    /// Calls dropped before their first poll.
    pub never_polled: u64,
    /// Calls whose poll panicked.
    pub panicked: u64,
    /// Polls, in total.
    pub polls: u64,
    /// Sum of `elapsed` over completed calls, in nanoseconds.
    pub wall_ns_total: u64,
    /// Mean `elapsed` of a completed call, in nanoseconds.
    pub wall_ns_mean: Option<u64>,
    /// Sum of poll durations, in nanoseconds.
    pub busy_ns: u64,
    /// The longest poll, in nanoseconds.
    pub max_poll_ns: u64,
    /// Median poll duration (±12.5 %), in nanoseconds.
    pub p50_poll_ns: Option<u64>,
    /// 99th percentile poll duration (±12.5 %), in nanoseconds.
    pub p99_poll_ns: Option<u64>,
    /// Slow polls blamed on this fn.
    pub slow_polls: u64,
    /// Mean time from a wake to the poll it caused, in nanoseconds: how long this fn's futures
    /// waited for a worker. Only with [`Config::measure_scheduling`](crate::Config::measure_scheduling).
    pub mean_scheduling_delay_ns: Option<u64>,
}

/// What pollwatch saw in this process: a per-call-site summary, and every slow poll and stall
/// (up to 10,000 of each). `Display` is a terminal table; [`Report::to_json`] the CI artifact.
///
/// # Examples
///
/// ```
/// #[pollwatch::async_timed]
/// async fn work() {}
///
/// pollwatch::set_debug_mode(pollwatch::DebugMode::On);
/// futures::executor::block_on(work());
/// let report = pollwatch::report();
/// let work = report.call_sites.iter().find(|c| c.fn_name == "work").unwrap();
/// assert_eq!(work.completed, 1);
/// println!("{report}");
/// ```
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// The pollwatch version that wrote it.
    pub pollwatch_version: &'static str,
    /// This process.
    pub process: ProcessInfo,
    /// Call sites used in debug mode, most busy first.
    pub call_sites: Vec<CallSiteSummary>,
    /// Every slow poll (up to 10,000).
    pub slow_polls: Vec<SlowPollRecord>,
    /// Every stall report (up to 10,000).
    pub stalls: Vec<StallRecord>,
    /// Every wait for a worker past the threshold that a blocking poll caused (up to 10,000;
    /// seen by the heartbeat of pollwatch's runtimes, and with `--cfg tokio_unstable` by each
    /// task).
    pub lags: Vec<LagRecord>,
    /// Records not kept because a list was full.
    pub records_dropped: u64,
}

impl Report {
    /// An empty report of `process`, of this schema and pollwatch version: what a tool that
    /// makes its own reports (for [`to_html`](Report::to_html), say) starts from.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut process = pollwatch::ProcessInfo::default();
    /// process.pid = 42;
    /// let mut slow = pollwatch::SlowPollRecord::default();
    /// slow.fn_name = Some("handler".to_owned());
    /// slow.duration_ns = 150_000_000;
    /// let mut report = pollwatch::Report::new(process);
    /// report.slow_polls.push(slow);
    /// assert_eq!(report.schema, pollwatch::REPORT_SCHEMA);
    /// assert!(report.to_html().contains("handler"));
    /// ```
    pub fn new(process: ProcessInfo) -> Report {
        Report {
            schema: REPORT_SCHEMA,
            pollwatch_version: env!("CARGO_PKG_VERSION"),
            process,
            call_sites: Vec::new(),
            slow_polls: Vec::new(),
            stalls: Vec::new(),
            lags: Vec::new(),
            records_dropped: 0,
        }
    }
}

/// The process a report comes from.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// The executable's file name.
    pub executable: String,
    /// `off`, `on` or `strict`.
    pub debug_mode: String,
    /// The slow-poll threshold, in nanoseconds.
    pub threshold_ns: u64,
    /// When the report was made, in nanoseconds since pollwatch first read its clock in this
    /// process: the end of the time the `at_ns` fields fall in.
    pub uptime_ns: u64,
}
