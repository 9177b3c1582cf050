//! [`report()`]: what pollwatch saw in this process, assembled from the call sites' statistics
//! and the stored records; [`Report::to_json`].

use super::schema::{CallSiteSummary, ProcessInfo, REPORT_SCHEMA, Report};
use super::store;
use crate::config::Config;
use crate::site::{CallSite, call_sites};
use crate::util::saturating_nanos;

/// The report of everything pollwatch saw so far in this process.
///
/// # Examples
///
/// ```
/// let report = pollwatch::report();
/// assert_eq!(report.schema, "pollwatch-report/1");
/// ```
pub fn report() -> Report {
    let config = Config::current();
    let mut call_sites: Vec<CallSiteSummary> = call_sites().into_iter().map(summary).collect();
    call_sites.sort_by(|a, b| b.busy_ns.cmp(&a.busy_ns).then(a.fn_name.cmp(&b.fn_name)));
    let records = store::snapshot();
    Report {
        schema: REPORT_SCHEMA,
        pollwatch_version: env!("CARGO_PKG_VERSION"),
        process: ProcessInfo {
            pid: std::process::id(),
            executable: executable(),
            debug_mode: config.get_debug_mode().to_string(),
            threshold_ns: saturating_nanos(config.get_slow_poll()),
            uptime_ns: crate::clock::now_ns(),
        },
        call_sites,
        slow_polls: records.slow_polls,
        stalls: records.stalls,
        lags: records.lags,
        records_dropped: records.dropped,
    }
}

fn summary(cs: &'static CallSite) -> CallSiteSummary {
    let s = cs.stats().snapshot();
    CallSiteSummary {
        fn_name: cs.name().to_owned(),
        module: cs.module_path().to_owned(),
        location: cs.location().map(|l| l.to_string()),
        calls: s.calls,
        completed: s.completed,
        cancelled: s.cancelled,
        never_polled: s.never_polled,
        panicked: s.panicked,
        polls: s.poll_count,
        wall_ns_total: s.total_wall_ns,
        wall_ns_mean: s.total_wall_ns.checked_div(s.completed),
        busy_ns: s.total_busy_ns,
        max_poll_ns: s.max_poll_ns,
        p50_poll_ns: s.p50_poll_ns,
        p99_poll_ns: s.p99_poll_ns,
        slow_polls: s.slow_poll_count,
        mean_scheduling_delay_ns: scheduling_delay(cs),
    }
}

#[cfg(feature = "scheduling-delay")]
fn scheduling_delay(cs: &'static CallSite) -> Option<u64> {
    let m = cs.monitor().cumulative();
    (m.total_scheduled_count > 0).then(|| saturating_nanos(m.mean_scheduled_duration()))
}

#[cfg(not(feature = "scheduling-delay"))]
fn scheduling_delay(_cs: &'static CallSite) -> Option<u64> {
    None
}

/// The executable's file name.
pub(crate) fn executable() -> String {
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
