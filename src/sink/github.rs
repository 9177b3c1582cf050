//! GitHub Actions: when `GITHUB_ACTIONS=true`, a failing `#[pollwatch::test]` or strict run
//! also prints one `::error` workflow command per offender, on the culprit's file and line (so
//! the blocking poll shows on the pull request's diff), and appends a Markdown table to the
//! file `$GITHUB_STEP_SUMMARY` names, when it is set.
//!
//! The runner reads workflow commands from the step's standard output, a line each; a relative
//! `file=` must be relative to the repository's root to land on the diff, so files are resolved
//! against `GITHUB_WORKSPACE` (or made absolute, which the runner maps itself).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::util::say;

/// One offender as the annotations and the summary table show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// `Get::apply`, or `a task`.
    pub(crate) who: String,
    /// `src/cmd/get.rs:66`: where it blocked (a task's: where it was spawned).
    pub(crate) location: Option<String>,
    /// `Handler::run > Get::apply`.
    pub(crate) chain: String,
    pub(crate) count: usize,
    /// `154.0ms`.
    pub(crate) longest: String,
    /// `blocking: clock_nanosleep`.
    pub(crate) kind: String,
    /// The offender's line in the failure message.
    pub(crate) line: String,
}

/// Whether this process runs as a GitHub Actions step.
pub(crate) fn enabled() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// A failed verdict for `what` (a test's name, or the program's): the workflow commands on
/// stdout, and the summary table appended to `$GITHUB_STEP_SUMMARY`. Nothing outside Actions.
pub(crate) fn report_failure(what: &str, headline: &str, rows: &[Row]) {
    if !enabled() {
        return;
    }
    let workspace = std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from);
    let cwd = std::env::current_dir().ok();
    // A command must start its line: after whatever the test harness printed last.
    let mut out = String::from("\n");
    for row in rows {
        let (file, line) = match row.location.as_deref().and_then(split_location) {
            Some((file, line)) => (
                Some(resolve(file, cwd.as_deref(), workspace.as_deref())),
                Some(line),
            ),
            None => (None, None),
        };
        let title = format!(
            "pollwatch: {} blocked the executor for {} ({})",
            row.who, row.longest, row.kind
        );
        let message = format!("{what}: {}", row.line);
        out.push_str(&error_command(file.as_deref(), line, &title, &message));
        out.push('\n');
    }
    // One write: lines of tests failing at once do not interleave.
    let _ = std::io::stdout().write_all(out.as_bytes());
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let table = summary_markdown(what, headline, rows);
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(table.as_bytes()));
        if let Err(e) = appended {
            say(format_args!(
                "pollwatch: could not append to GITHUB_STEP_SUMMARY={}: {e}",
                Path::new(&path).display()
            ));
        }
    }
}

/// `::error file=…,line=…,title=…::message`, escaped as the runner unescapes it.
pub(crate) fn error_command(
    file: Option<&str>,
    line: Option<u32>,
    title: &str,
    message: &str,
) -> String {
    let mut properties = Vec::new();
    if let Some(file) = file {
        properties.push(format!("file={}", escape_property(file)));
        if let Some(line) = line {
            properties.push(format!("line={line}"));
        }
    }
    properties.push(format!("title={}", escape_property(title)));
    format!("::error {}::{}", properties.join(","), escape_data(message))
}

/// A message: `%`, CR and LF escaped (`%` first).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value: as a message, and `:` and `,` too (they would end the value).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `src/a.rs:12` → (`src/a.rs`, 12).
fn split_location(location: &str) -> Option<(&str, u32)> {
    let (file, line) = location.rsplit_once(':')?;
    Some((file, line.parse().ok()?))
}

/// The file as the runner wants it: relative to the repository (`GITHUB_WORKSPACE`) when it is
/// inside it, else absolute. A relative path from the compiler is relative to the Cargo
/// workspace's root, which a test runs below (in its package's directory): the first ancestor
/// of the working directory where the file exists is where it is.
fn resolve(file: &str, cwd: Option<&Path>, workspace: Option<&Path>) -> String {
    let path = Path::new(file);
    let absolute = if path.is_absolute() {
        Some(path.to_path_buf())
    } else {
        cwd.and_then(|cwd| {
            cwd.ancestors()
                .map(|dir| dir.join(path))
                .find(|candidate| candidate.is_file())
        })
    };
    let Some(absolute) = absolute else {
        return file.to_owned();
    };
    match workspace.and_then(|w| absolute.strip_prefix(w).ok()) {
        Some(relative) => relative.to_string_lossy().replace('\\', "/"),
        None => absolute.to_string_lossy().into_owned(),
    }
}

/// The step summary's section for one failure: a heading and a table of offenders.
pub(crate) fn summary_markdown(what: &str, headline: &str, rows: &[Row]) -> String {
    let mut md = format!(
        "### pollwatch: `{}` failed\n\n{}\n\n| culprit | where | async chain | times | longest | kind |\n|---|---|---|---:|---:|---|\n",
        what.replace('`', "'"),
        cell(headline)
    );
    for row in rows {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            row.who.replace('`', "'"),
            row.location.as_deref().map_or_else(String::new, cell),
            cell(&row.chain),
            row.count,
            cell(&row.longest),
            cell(&row.kind),
        ));
    }
    md.push('\n');
    md
}

/// Text safe in a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_escape_what_the_runner_unescapes() {
        assert_eq!(
            error_command(
                Some("src/a,b.rs"),
                Some(7),
                "stall: 120ms, p99",
                "blocked 100%\nin read()"
            ),
            "::error file=src/a%2Cb.rs,line=7,title=stall%3A 120ms%2C p99::blocked 100%25%0Ain read()"
        );
        assert_eq!(error_command(None, Some(3), "t", "m"), "::error title=t::m");
    }

    #[test]
    fn files_are_relative_to_the_repository() {
        let dir = std::env::temp_dir().join(format!("pollwatch-gh-{}", std::process::id()));
        let package = dir.join("crates/app");
        std::fs::create_dir_all(package.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("crates/app/src")).unwrap();
        std::fs::write(package.join("src/lib.rs"), "").unwrap();
        // A workspace member: the compiler's path is relative to the workspace root, the test
        // runs in the package's directory.
        assert_eq!(
            resolve("crates/app/src/lib.rs", Some(&package), Some(&dir)),
            "crates/app/src/lib.rs"
        );
        // A single crate in a subdirectory of the repository.
        assert_eq!(
            resolve("src/lib.rs", Some(&package), Some(&dir)),
            "crates/app/src/lib.rs"
        );
        // Outside the repository: absolute, for the runner to map.
        assert_eq!(
            resolve("src/lib.rs", Some(&package), Some(Path::new("/elsewhere"))),
            package.join("src/lib.rs").to_string_lossy()
        );
        // Not found: as given.
        assert_eq!(
            resolve("src/missing.rs", Some(&package), Some(&dir)),
            "src/missing.rs"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_summary_is_a_markdown_table() {
        let rows = [Row {
            who: "Get::apply".into(),
            location: Some("src/cmd/get.rs:66".into()),
            chain: "Handler::run > Get::apply".into(),
            count: 2,
            longest: "154.0ms".into(),
            kind: "blocking: clock_nanosleep".into(),
            line: String::new(),
        }];
        let md = summary_markdown("get_blocks", "2 polls | blocked", &rows);
        assert_eq!(
            md,
            "### pollwatch: `get_blocks` failed\n\n2 polls \\| blocked\n\n\
             | culprit | where | async chain | times | longest | kind |\n\
             |---|---|---|---:|---:|---|\n\
             | `Get::apply` | src/cmd/get.rs:66 | Handler::run > Get::apply | 2 | 154.0ms | blocking: clock_nanosleep |\n\n"
        );
        assert_eq!(split_location("src/a.rs:12"), Some(("src/a.rs", 12)));
        assert_eq!(split_location("unknown"), None);
    }
}
