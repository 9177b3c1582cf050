//! Reports: every slow poll and stall (bounded), the per-call-site summary, the verdict that
//! fails a `#[pollwatch::test]` or a strict run, and the JSON file for CI.

// Tests, strict runs and the end-of-run report belong to the Tokio integration; without it only
// `report()` remains.
#![cfg_attr(not(feature = "tokio"), allow(dead_code))]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::callsite::Location;
use crate::events::Dur;
use crate::frames::{SlowPoll, Who};

/// Version of the JSON report's schema (`schema/report-v1.json`).
pub const REPORT_SCHEMA: &str = "pollwatch-report/1";

/// Records kept per kind; later ones are counted in `records_dropped`.
const MAX_RECORDS: usize = 10_000;

/// One slow poll, as kept for reports.
#[derive(Clone, Debug, Serialize)]
pub struct SlowPollRecord {
    /// The instrumented fn to blame; `None` when an un-annotated task is.
    #[serde(rename = "fn")]
    pub fn_name: Option<String>,
    /// The Tokio task, when the runtime's task hooks saw the poll.
    pub task: Option<u64>,
    /// Where that task was spawned.
    pub spawned_at: Option<String>,
    /// `file:line` of the culprit.
    pub location: String,
    /// Where the culprit's future was created.
    pub created_at: String,
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
}

/// One stall report (a poll still blocking when the watchdog looked).
#[derive(Clone, Debug, Serialize)]
pub struct StallRecord {
    /// The innermost instrumented fn on the blocked thread, if any.
    #[serde(rename = "fn")]
    pub fn_name: Option<String>,
    /// The Tokio task, when known.
    pub task: Option<u64>,
    /// `file:line` of the fn (or of the task's spawn).
    pub location: Option<String>,
    /// Outermost first.
    pub chain: Vec<String>,
    /// The blocked thread.
    pub thread: String,
    /// How long it had been blocking, in nanoseconds.
    pub blocked_for_ns: u64,
    /// `cpu-bound`, `blocking`, `mixed` or `unknown`.
    pub kind: String,
    /// 1 for the first report of a stall, 2, 3, … for reminders.
    pub report: u32,
}

#[derive(Default)]
struct Records {
    slow_polls: Vec<SlowPollRecord>,
    stalls: Vec<StallRecord>,
    dropped: u64,
}

static RECORDS: Mutex<Records> = Mutex::new(Records {
    slow_polls: Vec::new(),
    stalls: Vec::new(),
    dropped: 0,
});

fn records() -> std::sync::MutexGuard<'static, Records> {
    RECORDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Collects the slow polls of one test (or one strict run), from the threads it runs on.
#[derive(Debug)]
pub(crate) struct Collector {
    budget: Duration,
    offenders: Mutex<Vec<SlowPollRecord>>,
}

impl Collector {
    pub(crate) fn new(budget: Duration) -> Arc<Self> {
        Arc::new(Collector {
            budget,
            offenders: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn offenders(&self) -> Verdict {
        let list = self.offenders.lock().unwrap_or_else(|e| e.into_inner());
        Verdict::of(&list, self.budget)
    }
}

thread_local! {
    static COLLECTOR: RefCell<Option<Arc<Collector>>> = const { RefCell::new(None) };
}

/// Routes a runtime worker's slow polls to `collector` for the rest of the thread's life.
pub(crate) fn install_collector(collector: Arc<Collector>) {
    crate::frames::set_thread_budget(Some(crate::config::saturating_nanos(collector.budget)));
    let _ = COLLECTOR.try_with(|c| *c.borrow_mut() = Some(collector));
}

/// Routes this thread's slow polls to `collector` (and applies its budget) until dropped.
pub(crate) fn enter_collector(collector: Arc<Collector>) -> impl Drop {
    struct Restore(Option<Arc<Collector>>, Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            let _ = COLLECTOR.try_with(|c| *c.borrow_mut() = prev);
            crate::frames::set_thread_budget(self.1);
        }
    }
    let budget = crate::config::saturating_nanos(collector.budget);
    let prev_budget = crate::frames::set_thread_budget(Some(budget));
    let prev = COLLECTOR
        .try_with(|c| c.borrow_mut().replace(collector))
        .ok()
        .flatten();
    Restore(prev, prev_budget)
}

pub(crate) fn record_slow_poll(report: &SlowPoll, _strict: bool) {
    let record = SlowPollRecord {
        fn_name: match report.culprit {
            Who::Fn(cs) => Some(cs.name().to_owned()),
            Who::Task { .. } => None,
        },
        task: report.task.map(|(id, _)| id),
        spawned_at: report.task.map(|(_, at)| Location::from(at).to_string()),
        location: report.location().to_string(),
        created_at: Location::from(report.created_at).to_string(),
        chain: report
            .chain
            .links()
            .map(|l| l.map_or_else(|| "…".to_owned(), |w| w.to_string()))
            .collect(),
        duration_ns: crate::config::saturating_nanos(report.blocked),
        self_time_ns: crate::config::saturating_nanos(report.self_time),
        threshold_ns: crate::config::saturating_nanos(report.threshold),
        kind: report.kind.to_owned(),
        calls: report.calls,
        thread: std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned(),
    };
    let _ = COLLECTOR.try_with(|c| {
        if let Some(c) = c.borrow().as_ref() {
            if report.blocked >= c.budget {
                c.offenders
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(record.clone());
            }
        }
    });
    let mut r = records();
    if r.slow_polls.len() < MAX_RECORDS {
        r.slow_polls.push(record);
    } else {
        r.dropped += 1;
    }
}

pub(crate) fn record_stall(s: &crate::events::Stall) {
    let record = StallRecord {
        fn_name: s.culprit.map(|cs| cs.name().to_owned()),
        task: s.task.map(|(id, _)| id),
        location: s
            .culprit
            .and_then(crate::callsite::CallSite::location)
            .or_else(|| s.task.map(|(_, at)| Location::from(at)))
            .map(|l| l.to_string()),
        chain: s
            .chain
            .split(" > ")
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        thread: s.thread.clone(),
        blocked_for_ns: crate::config::saturating_nanos(s.blocked),
        kind: s.kind.to_owned(),
        report: s.nth,
    };
    let mut r = records();
    if r.stalls.len() < MAX_RECORDS {
        r.stalls.push(record);
    } else {
        r.dropped += 1;
    }
}

/// The polls that blocked longer than a budget, grouped by culprit: what fails a
/// `#[pollwatch::test]` or a strict run. Its `Display` is the failure message.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    budget: Duration,
    groups: Vec<Offender>,
}

#[derive(Debug, Clone)]
struct Offender {
    who: String,
    location: String,
    chain: String,
    kind: String,
    count: usize,
    longest: Duration,
}

impl Verdict {
    fn of(records: &[SlowPollRecord], budget: Duration) -> Verdict {
        let mut groups: BTreeMap<(String, String, String), Offender> = BTreeMap::new();
        for r in records
            .iter()
            .filter(|r| Duration::from_nanos(r.duration_ns) >= budget)
        {
            let who = r.fn_name.clone().unwrap_or_else(|| {
                format!("task spawned at {}", r.spawned_at.as_deref().unwrap_or("?"))
            });
            let chain = r.chain.join(" > ");
            let g = groups
                .entry((who.clone(), r.location.clone(), chain.clone()))
                .or_insert_with(|| Offender {
                    who,
                    location: r.location.clone(),
                    chain,
                    kind: r.kind.clone(),
                    count: 0,
                    longest: Duration::ZERO,
                });
            g.count += 1;
            g.longest = g.longest.max(Duration::from_nanos(r.duration_ns));
            if g.kind == "unknown" {
                g.kind.clone_from(&r.kind);
            }
        }
        let mut groups: Vec<Offender> = groups.into_values().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.longest));
        Verdict { budget, groups }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n: usize = self.groups.iter().map(|g| g.count).sum();
        write!(
            f,
            "pollwatch: {n} poll{} blocked the executor for {} or more:",
            if n == 1 { "" } else { "s" },
            Dur(self.budget)
        )?;
        for g in &self.groups {
            write!(
                f,
                "\n  - {} at {} [{}]: {} time{}, longest {}, {}",
                g.who,
                g.location,
                g.chain,
                g.count,
                if g.count == 1 { "" } else { "s" },
                Dur(g.longest),
                g.kind
            )?;
        }
        Ok(())
    }
}

/// Every slow poll so far, as a verdict against `budget` (strict runs).
pub(crate) fn process_verdict(budget: Duration) -> Verdict {
    Verdict::of(&records().slow_polls, budget)
}

/// One call site's numbers, collected while debug mode was on.
#[derive(Clone, Debug, Serialize)]
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
    /// Records not kept because a list was full.
    pub records_dropped: u64,
}

/// The process a report comes from.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// The executable's file name.
    pub executable: String,
    /// `off`, `on` or `strict`.
    pub debug_mode: String,
    /// The slow-poll threshold, in nanoseconds.
    pub threshold_ns: u64,
}

/// The report of everything pollwatch saw so far in this process.
///
/// # Examples
///
/// ```
/// let report = pollwatch::report();
/// assert_eq!(report.schema, "pollwatch-report/1");
/// ```
pub fn report() -> Report {
    let config = crate::Config::current();
    let mut call_sites: Vec<CallSiteSummary> = crate::stats::call_sites()
        .into_iter()
        .map(|cs| {
            let s = cs.stats();
            let completed = s.completed.load(Relaxed);
            let wall = s.wall_ns.load(Relaxed);
            CallSiteSummary {
                fn_name: cs.name().to_owned(),
                module: cs.module_path().to_owned(),
                location: cs.location().map(|l| l.to_string()),
                calls: s.calls.load(Relaxed),
                completed,
                cancelled: s.cancelled.load(Relaxed),
                never_polled: s.never_polled.load(Relaxed),
                panicked: s.panicked.load(Relaxed),
                polls: s.polls(),
                wall_ns_total: wall,
                wall_ns_mean: wall.checked_div(completed),
                busy_ns: s.busy_ns.load(Relaxed),
                max_poll_ns: s.max_poll_ns.load(Relaxed),
                p50_poll_ns: s.poll_quantile(0.5).map(crate::config::saturating_nanos),
                p99_poll_ns: s.poll_quantile(0.99).map(crate::config::saturating_nanos),
                slow_polls: s.slow_polls.load(Relaxed),
                mean_scheduling_delay_ns: scheduling_delay(cs),
            }
        })
        .collect();
    call_sites.sort_by(|a, b| b.busy_ns.cmp(&a.busy_ns).then(a.fn_name.cmp(&b.fn_name)));
    let r = records();
    Report {
        schema: REPORT_SCHEMA,
        pollwatch_version: env!("CARGO_PKG_VERSION"),
        process: ProcessInfo {
            pid: std::process::id(),
            executable: executable(),
            debug_mode: config.get_debug_mode().to_string(),
            threshold_ns: crate::config::saturating_nanos(config.get_slow_poll()),
        },
        call_sites,
        slow_polls: r.slow_polls.clone(),
        stalls: r.stalls.clone(),
        records_dropped: r.dropped,
    }
}

#[cfg(feature = "tokio")]
fn scheduling_delay(cs: &'static crate::callsite::CallSite) -> Option<u64> {
    let m = cs.monitor().cumulative();
    (m.total_scheduled_count > 0)
        .then(|| crate::config::saturating_nanos(m.mean_scheduled_duration()))
}

#[cfg(not(feature = "tokio"))]
fn scheduling_delay(_cs: &'static crate::callsite::CallSite) -> Option<u64> {
    None
}

fn executable() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Report {
    /// The report as pretty-printed JSON (schema [`REPORT_SCHEMA`], `schema/report-v1.json`).
    ///
    /// # Examples
    ///
    /// ```
    /// let json = pollwatch::report().to_json();
    /// assert!(json.contains("\"schema\": \"pollwatch-report/1\""));
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pollwatch summary: {} slow poll{}, {} stall report{}",
            self.slow_polls.len(),
            if self.slow_polls.len() == 1 { "" } else { "s" },
            self.stalls.len(),
            if self.stalls.len() == 1 { "" } else { "s" },
        )?;
        let dur = |ns: Option<u64>| {
            ns.map_or_else(
                || "-".to_owned(),
                |n| Dur(Duration::from_nanos(n)).to_string(),
            )
        };
        let header = [
            "fn",
            "calls",
            "done",
            "cancel",
            "unpolled",
            "panic",
            "mean wall",
            "sched",
            "busy",
            "p50 poll",
            "p99 poll",
            "max poll",
            "slow",
        ];
        let rows: Vec<[String; 13]> = self
            .call_sites
            .iter()
            .map(|c| {
                [
                    c.fn_name.clone(),
                    c.calls.to_string(),
                    c.completed.to_string(),
                    c.cancelled.to_string(),
                    c.never_polled.to_string(),
                    c.panicked.to_string(),
                    dur(c.wall_ns_mean),
                    dur(c.mean_scheduling_delay_ns),
                    dur(Some(c.busy_ns)),
                    dur(c.p50_poll_ns),
                    dur(c.p99_poll_ns),
                    dur(Some(c.max_poll_ns)),
                    c.slow_polls.to_string(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i == 0 {
                    write!(f, "{cell:<w$}")?;
                } else {
                    write!(f, "  {cell:>w$}")?;
                }
            }
            writeln!(f)
        };
        line(f, &header)?;
        for row in &rows {
            line(f, &row.each_ref().map(String::as_str))?;
        }
        Ok(())
    }
}

/// Where `POLLWATCH_REPORT` says to write: a directory (trailing `/` or existing) gets one file
/// per process, `pollwatch-<executable>-<pid>.json`; `{pid}` in a file name is replaced; any
/// other path is used as is.
fn report_path(spec: &str) -> PathBuf {
    let pid = std::process::id();
    let path = PathBuf::from(spec);
    if spec.ends_with('/') || path.is_dir() {
        return path.join(format!("pollwatch-{}-{pid}.json", executable()));
    }
    PathBuf::from(spec.replace("{pid}", &pid.to_string()))
}

/// Writes the JSON report if `POLLWATCH_REPORT` asks for one (atomically: a reader never sees
/// half a file), and prints the summary table if `POLLWATCH_SUMMARY=1`.
pub(crate) fn finish_run() {
    let config = crate::Config::current();
    if config.summary() {
        let _ = write!(std::io::stderr(), "{}", report());
    }
    if let Some(spec) = config.report_path() {
        let path = report_path(spec);
        if let Err(e) = write_atomically(&path, &report().to_json()) {
            let _ = writeln!(
                std::io::stderr(),
                "pollwatch: could not write POLLWATCH_REPORT={spec:?} to {}: {e}",
                path.display()
            );
        }
    }
}

fn write_atomically(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Tests finishing at once write the same report: each write gets its own temporary file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, ms: u64) -> SlowPollRecord {
        SlowPollRecord {
            fn_name: Some(name.to_owned()),
            task: None,
            spawned_at: None,
            location: "src/a.rs:1".to_owned(),
            created_at: "src/a.rs:9".to_owned(),
            chain: vec!["main".to_owned(), name.to_owned()],
            duration_ns: ms * 1_000_000,
            self_time_ns: ms * 1_000_000,
            threshold_ns: 10_000_000,
            kind: "cpu-bound".to_owned(),
            calls: 1,
            thread: "t".to_owned(),
        }
    }

    #[test]
    fn verdict_groups_offenders_and_ignores_polls_under_budget() {
        let v = Verdict::of(
            &[rec("a", 30), rec("a", 50), rec("b", 20), rec("c", 5)],
            Duration::from_millis(10),
        );
        assert_eq!(
            v.to_string(),
            "pollwatch: 3 polls blocked the executor for 10.0ms or more:\n  \
             - a at src/a.rs:1 [main > a]: 2 times, longest 50.0ms, cpu-bound\n  \
             - b at src/a.rs:1 [main > b]: 1 time, longest 20.0ms, cpu-bound"
        );
        assert!(Verdict::of(&[rec("c", 5)], Duration::from_millis(10)).is_empty());
    }

    #[test]
    fn report_paths_never_clobber_across_processes() {
        let dir = std::env::temp_dir();
        let in_dir = report_path(&format!("{}/", dir.display()));
        assert!(
            in_dir
                .to_string_lossy()
                .contains(&std::process::id().to_string())
        );
        assert_eq!(
            report_path("out-{pid}.json"),
            PathBuf::from(format!("out-{}.json", std::process::id()))
        );
        assert_eq!(report_path("out.json"), PathBuf::from("out.json"));
    }
}
