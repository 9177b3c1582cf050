//! Files: the JSON report where `POLLWATCH_REPORT` says, written atomically; the summary table
//! on stderr when `POLLWATCH_SUMMARY=1`.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;

use super::report::{executable, report};
use crate::config::Config;
use crate::util::say;

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
    let config = Config::current();
    if config.summary() {
        let _ = write!(std::io::stderr(), "{}", report());
    }
    if let Some(spec) = config.report_path() {
        let path = report_path(spec);
        if let Err(e) = write_atomically(&path, &report().to_json()) {
            say(format_args!(
                "pollwatch: could not write POLLWATCH_REPORT={spec:?} to {}: {e}",
                path.display()
            ));
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
