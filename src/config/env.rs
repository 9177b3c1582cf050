//! The environment variables: one table ([`ENV_VARS`]) drives both the parser and the docs, and
//! every rejection names the variable and the accepted form ([`ConfigError`]).

use std::fmt;
use std::time::Duration;

use super::mode::DebugMode;

/// One parsed variable, applied to a `Config` by its builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Setting {
    Mode(DebugMode),
    SlowPoll(Duration),
    Scheduling(bool),
    ReportPath(String),
    HtmlPath(String),
    TracePath(String),
    Summary(bool),
    CaptureArgs(bool),
    LastResort(bool),
    MaxValueLen(usize),
    DigestInterval(Duration),
}

/// One environment variable pollwatch reads: the single table behind both [`Config::from_env`]
/// and the documentation (a test checks that the guide's table, src/guide/debug_mode.md, matches it).
///
/// [`Config::from_env`]: crate::Config::from_env
///
/// # Examples
///
/// ```
/// let names: Vec<_> = pollwatch::ENV_VARS.iter().map(|v| v.name).collect();
/// assert_eq!(
///     names,
///     [
///         "POLLWATCH", "POLLWATCH_SLOW", "POLLWATCH_SCHEDULING", "POLLWATCH_REPORT",
///         "POLLWATCH_HTML", "POLLWATCH_TRACE", "POLLWATCH_SUMMARY", "POLLWATCH_ARGS",
///         "POLLWATCH_VALUE_LEN", "POLLWATCH_DIGEST", "POLLWATCH_LAST_RESORT",
///     ]
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The variable's name.
    pub name: &'static str,
    /// The accepted values, as shown in error messages and docs.
    pub accepted: &'static str,
    /// What applies when the variable is unset.
    pub default: &'static str,
    /// What it does.
    pub description: &'static str,
    parse: fn(&str) -> Result<Setting, ()>,
}

impl EnvVar {
    /// Parses `value`, or says why not.
    pub(crate) fn parse(&self, value: &str) -> Result<Setting, ConfigError> {
        (self.parse)(value).map_err(|()| ConfigError {
            var: self.name,
            value: value.to_owned(),
            accepted: self.accepted,
        })
    }
}

/// Every environment variable pollwatch reads. See [`EnvVar`].
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "POLLWATCH",
        accepted: "`0`, `1`, `strict` or `watch` (also `off`/`on`, `false`/`true`, `production`)",
        default: "`1` in debug builds, `0` in release builds (`#[pollwatch::main]`, `run`: `watch` in release builds)",
        description: "debug mode: check every poll against the slow-poll threshold; `strict` reports slow polls as errors; `watch` is the production profile (slow polls and stalls caught, fast polls not timed)",
        parse: parse_mode,
    },
    EnvVar {
        name: "POLLWATCH_SLOW",
        accepted: "a duration such as `100ms`, `250ms`, `1s`, `1s 500ms`",
        default: "`100ms`",
        description: "slow-poll threshold (asyncio's `slow_callback_duration`); per fn: `#[async_timed(slow = \"…\")]`",
        parse: parse_slow,
    },
    EnvVar {
        name: "POLLWATCH_SCHEDULING",
        accepted: "`0` or `1`",
        default: "`0`",
        description: "measure each fn's scheduling delay (wake to poll, with tokio-metrics) for the summary; costs a waker wrap per poll",
        parse: |v| parse_bool(v).map(Setting::Scheduling),
    },
    EnvVar {
        name: "POLLWATCH_REPORT",
        accepted: "a file path (`{pid}` is replaced by the process id) or a directory (`dir/`: one file per process)",
        default: "unset: no file",
        description: "where to write the JSON report (schema `pollwatch-report/1`) at the end of `run`, `#[pollwatch::main]` and each `#[pollwatch::test]`",
        parse: parse_report,
    },
    EnvVar {
        name: "POLLWATCH_HTML",
        accepted: "a file path (`{pid}` is replaced by the process id)",
        default: "unset: no page (with `POLLWATCH_REPORT`, one beside each JSON report)",
        description: "where to write the HTML report (timeline per thread, flame graph of blocked time by async chain, per-fn table, stalls with stacks; one self-contained file) at the end of `run`, `#[pollwatch::main]` and each `#[pollwatch::test]`",
        parse: |v| parse_path(v).map(Setting::HtmlPath),
    },
    EnvVar {
        name: "POLLWATCH_TRACE",
        accepted: "a file path (`{pid}` is replaced by the process id)",
        default: "unset: polls are not recorded",
        description: "record every timed poll per thread (the last 32,768 per thread, 64 threads at most) and write them, with slow polls and stalls marked, as Chrome trace-event JSON for ui.perfetto.dev at the end of `run`, `#[pollwatch::main]` and each `#[pollwatch::test]`; needs debug mode on",
        parse: |v| parse_path(v).map(Setting::TracePath),
    },
    EnvVar {
        name: "POLLWATCH_SUMMARY",
        accepted: "`0` or `1`",
        default: "`0`",
        description: "print the per-fn summary table to stderr at the end of `run` and `#[pollwatch::main]`",
        parse: |v| parse_bool(v).map(Setting::Summary),
    },
    EnvVar {
        name: "POLLWATCH_ARGS",
        accepted: "`0` or `1`",
        default: "`1`",
        description: "record the arguments of `#[async_timed]` fns in their start events; `0` keeps every argument out of the logs (`fields(...)` and `ret`/`err` are still recorded)",
        parse: |v| parse_bool(v).map(Setting::CaptureArgs),
    },
    EnvVar {
        name: "POLLWATCH_VALUE_LEN",
        accepted: "a number of characters from 1, such as `64`",
        default: "`128`",
        description: "longest recorded value (argument, field, return value): longer ones are cut and end in `…`; per fn: `#[async_timed(max_value_len = N)]`",
        parse: parse_value_len,
    },
    EnvVar {
        name: "POLLWATCH_DIGEST",
        accepted: "a duration such as `1s`, `10s`, `1m`, or `0` for every occurrence in full",
        default: "`1s`",
        description: "after a culprit's first occurrence, reported in full, one digest line per interval sums up its further slow polls, stalls and the lag they caused",
        parse: parse_digest,
    },
    EnvVar {
        name: "POLLWATCH_LAST_RESORT",
        accepted: "`0` or `1`",
        default: "`1`",
        description: "print pollwatch's warnings to stderr when no subscriber records them (no subscriber, or a filter that leaves pollwatch out); `0` leaves them to your subscriber and its filter",
        parse: |v| parse_bool(v).map(Setting::LastResort),
    },
];

fn parse_report(value: &str) -> Result<Setting, ()> {
    parse_path(value).map(Setting::ReportPath)
}

fn parse_path(value: &str) -> Result<String, ()> {
    let value = value.trim();
    if value.is_empty() {
        return Err(());
    }
    Ok(value.to_owned())
}

fn parse_value_len(value: &str) -> Result<Setting, ()> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Setting::MaxValueLen(n)),
        _ => Err(()),
    }
}

fn parse_digest(value: &str) -> Result<Setting, ()> {
    match value.trim() {
        "0" => Ok(Setting::DigestInterval(Duration::ZERO)),
        v => humantime::parse_duration(v)
            .map(Setting::DigestInterval)
            .map_err(drop),
    }
}

fn parse_bool(value: &str) -> Result<bool, ()> {
    match value.trim() {
        "0" | "false" | "off" => Ok(false),
        "1" | "true" | "on" => Ok(true),
        _ => Err(()),
    }
}

fn parse_mode(value: &str) -> Result<Setting, ()> {
    Ok(Setting::Mode(
        match value.trim().to_ascii_lowercase().as_str() {
            "0" | "off" | "false" => DebugMode::Off,
            "1" | "on" | "true" => DebugMode::On,
            "strict" => DebugMode::Strict,
            "watch" | "production" => DebugMode::Watch,
            _ => return Err(()),
        },
    ))
}

fn parse_slow(value: &str) -> Result<Setting, ()> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) if !d.is_zero() => Ok(Setting::SlowPoll(d)),
        _ => Err(()),
    }
}

/// An environment variable held a value pollwatch does not accept.
///
/// Its `Display` is the one line pollwatch prints to stderr before falling back to the default:
/// it names the variable, the value and the accepted form.
///
/// # Examples
///
/// ```
/// let err = pollwatch::Config::from_env_with(|name| (name == "POLLWATCH").then(|| "yes".into()))
///     .unwrap_err();
/// assert_eq!(err.variable(), "POLLWATCH");
/// assert!(err.to_string().contains("expected `0`, `1`, `strict` or `watch`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    var: &'static str,
    value: String,
    accepted: &'static str,
}

impl ConfigError {
    /// The name of the offending variable.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = pollwatch::Config::from_env_with(|n| (n == "POLLWATCH_SLOW").then(|| "fast".into()))
    ///     .unwrap_err();
    /// assert_eq!(err.variable(), "POLLWATCH_SLOW");
    /// ```
    pub fn variable(&self) -> &'static str {
        self.var
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pollwatch: ignoring {}={:?}: expected {}; using the default",
            self.var, self.value, self.accepted
        )
    }
}

impl std::error::Error for ConfigError {}
