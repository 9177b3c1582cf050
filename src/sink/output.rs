//! Files: the JSON report where `POLLWATCH_REPORT` says, the HTML page where `POLLWATCH_HTML`
//! says (and beside each JSON report), the poll trace where `POLLWATCH_TRACE` says, each
//! written atomically; the summary table on stderr when `POLLWATCH_SUMMARY=1`; and
//! [`write_html`] / [`write_trace`] for a service that wants them while it runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use super::report::{executable, report};
use crate::config::Config;
use crate::util::say;

/// Writes the files the environment (or [`Config`]) asks for — the JSON report
/// (`POLLWATCH_REPORT`), the HTML report (`POLLWATCH_HTML`, and beside the JSON one), the poll
/// trace (`POLLWATCH_TRACE`) — and prints the summary table if `POLLWATCH_SUMMARY=1`; says on
/// stderr where each file went and returns their paths. The end of [`run`](crate::run) and
/// `#[pollwatch::main]` does this; call it at the end of a `#[tokio::main]`. Nothing asked
/// for, nothing written.
///
/// # Examples
///
/// ```
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     pollwatch::init();
///     // … the application …
///     pollwatch::write_reports();
/// }
/// ```
pub fn write_reports() -> Vec<PathBuf> {
    finish_run()
        .into_iter()
        .map(|(what, path)| {
            say(format_args!(
                "pollwatch: {what} written to {}",
                path.display()
            ));
            path
        })
        .collect()
}

/// Writes the HTML report of everything pollwatch saw so far ([`Report::to_html`]) to `path`,
/// atomically (a reader never sees half a page). `POLLWATCH_HTML` does this at the end of a
/// run; a long-running service can call it whenever it likes (from an admin endpoint, on a
/// signal).
///
/// [`Report::to_html`]: crate::Report::to_html
///
/// # Errors
///
/// When the file (or its directory) cannot be written.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join("pollwatch-doc-example.html");
/// pollwatch::write_html(&path)?;
/// assert!(std::fs::read_to_string(&path)?.starts_with("<!DOCTYPE html>"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_html(path: impl AsRef<Path>) -> std::io::Result<()> {
    write_atomically(path.as_ref(), &report().to_html())
}

/// Writes the polls recorded so far (`POLLWATCH_TRACE`, [`Config::trace_to`]) with the
/// report's slow polls, stalls and lags as Chrome trace-event JSON to `path`, atomically: open
/// it at <https://ui.perfetto.dev> or `chrome://tracing`. Each thread is a track, each timed
/// poll a slice (nested as the polls were), a poll that lasted its threshold a slice in
/// category `slow_poll`; each slow poll, stall and lag an instant event. Polls are recorded
/// only while a trace path is set, in debug mode; without that the file has the report's
/// events alone.
///
/// [`Config::trace_to`]: crate::Config::trace_to
///
/// # Errors
///
/// When the file (or its directory) cannot be written.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join("pollwatch-doc-example.trace.json");
/// pollwatch::write_trace(&path)?;
/// let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?).unwrap();
/// assert!(json["traceEvents"].is_array());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_trace(path: impl AsRef<Path>) -> std::io::Result<()> {
    write_atomically(path.as_ref(), &super::trace::to_chrome_json(&report()))
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
/// half a file) and an HTML page beside it, the HTML page if `POLLWATCH_HTML` asks for one,
/// the trace if `POLLWATCH_TRACE` does, and prints the summary table if `POLLWATCH_SUMMARY=1`.
/// Returns what was written (`"HTML report"`, path) for the caller to tell.
pub(crate) fn finish_run() -> Vec<(&'static str, PathBuf)> {
    let config = Config::current();
    if config.get_print_summary() {
        let _ = write!(std::io::stderr(), "{}", report());
    }
    write_files(&config)
}

/// Whether any file is asked for (`POLLWATCH_REPORT`, `POLLWATCH_HTML`, `POLLWATCH_TRACE`).
fn files_wanted(config: &Config) -> bool {
    config.get_report_path().is_some()
        || config.get_html_path().is_some()
        || config.get_trace_path().is_some()
}

/// The files asked for are kept current while the process runs, so that a process killed by a
/// signal (a server stopped with Ctrl-C, a container with SIGTERM: no code of its runs at exit)
/// leaves them as of its last findings: written again, on a thread of their own, when something
/// new was recorded and at least [`KEEP_CURRENT_EVERY`] passed since the last write (`all`: at
/// once, for the end of the process). The watchdog calls this after each look.
pub(crate) fn keep_current(all: bool) {
    static WRITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let generation = super::store::generation();
    let due = match *crate::util::lock(&LAST_WRITE) {
        Some((written, _)) if written == generation => false,
        Some((_, at)) => all || at.elapsed() >= KEEP_CURRENT_EVERY,
        None => true,
    };
    if !due || !files_wanted(&Config::current()) {
        return;
    }
    if all {
        for (what, path) in write_files(&Config::current()) {
            say(format_args!(
                "pollwatch: {what} written to {}",
                path.display()
            ));
        }
        return;
    }
    // Off the watchdog thread: a page or a trace of many polls takes a while to write.
    if WRITING.swap(true, Relaxed) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("pollwatch-files".into())
        .spawn(|| {
            let _ = std::panic::catch_unwind(|| write_files(&Config::current()));
            WRITING.store(false, Relaxed);
        });
    if spawned.is_err() {
        WRITING.store(false, Relaxed);
    }
}

/// The least time between two writes of the files by [`keep_current`]: a chronic blocker
/// rewrites them once a second, not once a finding.
pub(crate) const KEEP_CURRENT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The records' generation the files were last written at, and when.
static LAST_WRITE: std::sync::Mutex<Option<(u64, crate::clock::Instant)>> =
    std::sync::Mutex::new(None);

/// Writes the files asked for; what was written.
fn write_files(config: &Config) -> Vec<(&'static str, PathBuf)> {
    let mut written = Vec::new();
    if !files_wanted(config) {
        return written;
    }
    // The generation before the snapshot: a record made meanwhile is written next time.
    let generation = super::store::generation();
    let report = report();
    *crate::util::lock(&LAST_WRITE) = Some((generation, crate::clock::Instant::now()));
    let pid = std::process::id().to_string();
    let mut write = |var: &str, spec: &str, what: &'static str, path: PathBuf, text: &str| {
        match write_atomically(&path, text) {
            Ok(()) => written.push((what, path)),
            Err(e) => say(format_args!(
                "pollwatch: could not write {var}={spec:?} to {}: {e}",
                path.display()
            )),
        }
    };
    let html = (config.get_report_path().is_some() || config.get_html_path().is_some())
        .then(|| report.to_html());
    if let Some(spec) = config.get_report_path() {
        let path = report_path(spec);
        write(
            "POLLWATCH_REPORT",
            spec,
            "JSON report",
            path.clone(),
            &report.to_json(),
        );
        if let Some(html) = &html {
            write(
                "POLLWATCH_REPORT",
                spec,
                "HTML report",
                path.with_extension("html"),
                html,
            );
        }
    }
    if let (Some(spec), Some(html)) = (config.get_html_path(), &html) {
        let path = PathBuf::from(spec.replace("{pid}", &pid));
        write("POLLWATCH_HTML", spec, "HTML report", path, html);
    }
    if let Some(spec) = config.get_trace_path() {
        let path = PathBuf::from(spec.replace("{pid}", &pid));
        write(
            "POLLWATCH_TRACE",
            spec,
            "trace",
            path,
            &super::trace::to_chrome_json(&report),
        );
    }
    written
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
