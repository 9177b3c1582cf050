//! Debug mode and its settings: the in-code [`Config`] builder, the environment variables, and the
//! process-wide state the hot path reads with one relaxed load.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};
use std::sync::{Arc, Once};
use std::time::Duration;

use crate::notify::{Callback, SlowPollInfo};

/// Whether pollwatch watches polls, and how loudly it complains.
///
/// The start/finish events of `#[async_timed]` are logged in every mode; the mode decides whether
/// each poll is timed against the slow-poll threshold (asyncio's `loop.set_debug(True)`).
///
/// # Examples
///
/// ```
/// use pollwatch::DebugMode;
///
/// pollwatch::set_debug_mode(DebugMode::On);
/// assert!(pollwatch::debug_mode().is_on());
/// assert!(!DebugMode::Off.is_on());
/// assert!(DebugMode::Strict.is_strict());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DebugMode {
    /// Only the `#[async_timed]` start/finish events; polls are not checked.
    Off,
    /// Slow polls are reported as `WARN` events (asyncio's debug mode).
    On,
    /// Slow polls are reported as `ERROR` events, for CI.
    Strict,
}

impl DebugMode {
    /// The mode used when neither code nor environment chose one: [`DebugMode::On`] when the
    /// crate was built with `debug_assertions` (like `python -X dev`), [`DebugMode::Off`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert_eq!(DebugMode::build_default().is_on(), cfg!(debug_assertions));
    /// ```
    pub const fn build_default() -> Self {
        if cfg!(debug_assertions) {
            DebugMode::On
        } else {
            DebugMode::Off
        }
    }

    /// `true` for [`DebugMode::On`] and [`DebugMode::Strict`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert!(DebugMode::On.is_on() && DebugMode::Strict.is_on() && !DebugMode::Off.is_on());
    /// ```
    pub const fn is_on(self) -> bool {
        !matches!(self, DebugMode::Off)
    }

    /// `true` for [`DebugMode::Strict`] only.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert!(DebugMode::Strict.is_strict() && !DebugMode::On.is_strict());
    /// ```
    pub const fn is_strict(self) -> bool {
        matches!(self, DebugMode::Strict)
    }

    const fn to_u8(self) -> u8 {
        match self {
            DebugMode::Off => MODE_OFF,
            DebugMode::On => MODE_ON,
            DebugMode::Strict => MODE_STRICT,
        }
    }
}

impl fmt::Display for DebugMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DebugMode::Off => "off",
            DebugMode::On => "on",
            DebugMode::Strict => "strict",
        })
    }
}

/// One environment variable pollwatch reads: the single table behind both [`Config::from_env`]
/// and the documentation (a test checks that README.md's table matches it).
///
/// # Examples
///
/// ```
/// let names: Vec<_> = pollwatch::ENV_VARS.iter().map(|v| v.name).collect();
/// assert_eq!(
///     names,
///     ["POLLWATCH", "POLLWATCH_SLOW", "POLLWATCH_SCHEDULING", "POLLWATCH_REPORT", "POLLWATCH_SUMMARY"]
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
    parse: fn(&str, &mut Config) -> Result<(), ()>,
}

/// Every environment variable pollwatch reads. See [`EnvVar`].
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "POLLWATCH",
        accepted: "`0`, `1` or `strict` (also `off`/`on`, `false`/`true`)",
        default: "`1` in debug builds, `0` in release builds",
        description: "debug mode: check every poll against the slow-poll threshold; `strict` reports slow polls as errors",
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
        parse: parse_scheduling,
    },
    EnvVar {
        name: "POLLWATCH_REPORT",
        accepted: "a file path (`{pid}` is replaced by the process id) or a directory (`dir/`: one file per process)",
        default: "unset: no file",
        description: "where to write the JSON report (schema `pollwatch-report/1`) at the end of `run`, `#[pollwatch::main]` and each `#[pollwatch::test]`",
        parse: parse_report,
    },
    EnvVar {
        name: "POLLWATCH_SUMMARY",
        accepted: "`0` or `1`",
        default: "`0`",
        description: "print the per-fn summary table to stderr at the end of `run` and `#[pollwatch::main]`",
        parse: parse_summary,
    },
];

fn parse_report(value: &str, config: &mut Config) -> Result<(), ()> {
    let value = value.trim();
    if value.is_empty() {
        return Err(());
    }
    config.report_path = Some(value.to_owned());
    Ok(())
}

fn parse_summary(value: &str, config: &mut Config) -> Result<(), ()> {
    config.summary = parse_bool(value)?;
    Ok(())
}

fn parse_scheduling(value: &str, config: &mut Config) -> Result<(), ()> {
    config.scheduling = parse_bool(value)?;
    Ok(())
}

fn parse_bool(value: &str) -> Result<bool, ()> {
    match value.trim() {
        "0" | "false" | "off" => Ok(false),
        "1" | "true" | "on" => Ok(true),
        _ => Err(()),
    }
}

fn parse_mode(value: &str, config: &mut Config) -> Result<(), ()> {
    config.mode = match value.trim().to_ascii_lowercase().as_str() {
        "0" | "off" | "false" => DebugMode::Off,
        "1" | "on" | "true" => DebugMode::On,
        "strict" => DebugMode::Strict,
        _ => return Err(()),
    };
    Ok(())
}

fn parse_slow(value: &str, config: &mut Config) -> Result<(), ()> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) if !d.is_zero() => {
            config.slow_poll = d;
            Ok(())
        }
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
/// assert!(err.to_string().contains("expected `0`, `1` or `strict`"));
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

/// Debug-mode settings, applied process-wide with [`Config::apply`].
///
/// Without any call, pollwatch reads [`ENV_VARS`] once, on first use, on top of
/// [`Config::default`]. Settings applied in code win over the environment; start from
/// [`Config::from_env`] to honour both.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pollwatch::{Config, DebugMode};
///
/// Config::from_env()
///     .unwrap_or_default()
///     .debug_mode(DebugMode::On)
///     .slow_poll(Duration::from_millis(50))
///     .apply();
/// assert_eq!(Config::current().get_slow_poll(), Duration::from_millis(50));
/// ```
#[derive(Clone)]
pub struct Config {
    mode: DebugMode,
    slow_poll: Duration,
    warnings_per_second: u32,
    on_slow_poll: Option<Callback>,
    report_path: Option<String>,
    summary: bool,
    scheduling: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("slow_poll", &self.slow_poll)
            .field("warnings_per_second", &self.warnings_per_second)
            .field(
                "on_slow_poll",
                &self.on_slow_poll.as_ref().map(|_| "Fn(&SlowPollInfo)"),
            )
            .finish()
    }
}

/// Two configs are equal when their settings are and they hold the same callback (or none).
impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode
            && self.slow_poll == other.slow_poll
            && self.warnings_per_second == other.warnings_per_second
            && self.report_path == other.report_path
            && self.summary == other.summary
            && self.scheduling == other.scheduling
            && match (&self.on_slow_poll, &other.on_slow_poll) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for Config {}

impl Default for Config {
    /// [`DebugMode::build_default`], [`Config::DEFAULT_SLOW_POLL`],
    /// [`Config::DEFAULT_WARNINGS_PER_SECOND`]; the environment is not read.
    fn default() -> Self {
        Config {
            mode: DebugMode::build_default(),
            slow_poll: Self::DEFAULT_SLOW_POLL,
            warnings_per_second: Self::DEFAULT_WARNINGS_PER_SECOND,
            on_slow_poll: None,
            report_path: None,
            summary: false,
            scheduling: false,
        }
    }
}

impl Config {
    /// A poll that keeps a worker busy this long or longer is slow: 100 ms, asyncio's
    /// `slow_callback_duration`.
    pub const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

    /// How many slow-poll warnings one call site may emit per second before the rest are counted
    /// and reported as one "suppressed" line: 10.
    pub const DEFAULT_WARNINGS_PER_SECOND: u32 = 10;

    /// The defaults, with the environment variables of [`ENV_VARS`] applied on top.
    ///
    /// # Errors
    ///
    /// The first variable whose value is not of the accepted form. The process-wide config that
    /// pollwatch builds by itself uses the default for such a variable and prints the error once.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::from_env().unwrap_or_default();
    /// # let _ = config;
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`Config::from_env`] reading variables through `lookup` instead of the process environment.
    ///
    /// # Errors
    ///
    /// As [`Config::from_env`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let vars = [("POLLWATCH", "strict"), ("POLLWATCH_SLOW", "250ms")];
    /// let lookup = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
    /// let config = pollwatch::Config::from_env_with(lookup).unwrap();
    /// assert!(config.get_debug_mode().is_strict());
    /// assert_eq!(config.get_slow_poll(), Duration::from_millis(250));
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (config, mut errors) = Self::from_env_lossy(lookup);
        match errors.drain(..).next() {
            Some(err) => Err(err),
            None => Ok(config),
        }
    }

    /// Every valid variable applied, every invalid one reported and left at its default.
    pub(crate) fn from_env_lossy(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> (Self, Vec<ConfigError>) {
        let mut config = Config::default();
        let mut errors = Vec::new();
        for var in ENV_VARS {
            let Some(value) = lookup(var.name) else {
                continue;
            };
            if (var.parse)(&value, &mut config).is_err() {
                errors.push(ConfigError {
                    var: var.name,
                    value,
                    accepted: var.accepted,
                });
            }
        }
        (config, errors)
    }

    /// Sets the debug mode. By default, [`DebugMode::build_default`].
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().debug_mode(pollwatch::DebugMode::Strict);
    /// assert!(config.get_debug_mode().is_strict());
    /// ```
    pub fn debug_mode(mut self, mode: DebugMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the slow-poll threshold used by every annotated fn without its own `slow = "…"`.
    /// By default, [`Config::DEFAULT_SLOW_POLL`]. A zero duration is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = pollwatch::Config::default().slow_poll(Duration::from_millis(20));
    /// assert_eq!(config.get_slow_poll(), Duration::from_millis(20));
    /// ```
    pub fn slow_poll(mut self, threshold: Duration) -> Self {
        if !threshold.is_zero() {
            self.slow_poll = threshold;
        }
        self
    }

    /// Sets how many slow-poll warnings one call site may emit per second; the rest are counted
    /// and reported in one line. By default, [`Config::DEFAULT_WARNINGS_PER_SECOND`]; `0` means
    /// no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().warnings_per_second(3);
    /// assert_eq!(config.get_warnings_per_second(), 3);
    /// ```
    pub fn warnings_per_second(mut self, limit: u32) -> Self {
        self.warnings_per_second = limit;
        self
    }

    /// Calls `callback` with every slow poll, before (and regardless of) the rate-limited
    /// warning: for metrics, alerts or custom handling. It runs on the thread that was blocked,
    /// right after the slow poll, so keep it quick; a panic inside it is caught and reported.
    /// By default, none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// static SLOW_POLLS: AtomicU64 = AtomicU64::new(0);
    /// pollwatch::Config::from_env()
    ///     .unwrap_or_default()
    ///     .on_slow_poll(|info| {
    ///         SLOW_POLLS.fetch_add(1, Ordering::Relaxed);
    ///         let _ = (info.name(), info.location(), info.duration(), info.chain(), info.kind());
    ///     })
    ///     .apply();
    /// ```
    pub fn on_slow_poll(
        mut self,
        callback: impl Fn(&SlowPollInfo<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.on_slow_poll = Some(Arc::new(callback));
        self
    }

    /// Writes the JSON report (see [`report`](crate::report())) to `path` at the end of
    /// [`run`](crate::run), `#[pollwatch::main]` and each `#[pollwatch::test]`, as
    /// `POLLWATCH_REPORT` does: a directory (trailing `/` or existing) gets one file per process,
    /// `{pid}` in a file name is replaced by the process id. By default, none.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().report_to("target/pollwatch/");
    /// assert_eq!(config.report_path(), Some("target/pollwatch/"));
    /// ```
    pub fn report_to(mut self, path: impl Into<String>) -> Self {
        self.report_path = Some(path.into());
        self
    }

    /// Where the JSON report goes, if anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pollwatch::Config::default().report_path(), None);
    /// ```
    pub fn report_path(&self) -> Option<&str> {
        self.report_path.as_deref()
    }

    /// Prints the summary table (see [`report`](crate::report())) at the end of `run` and
    /// `#[pollwatch::main]`, as `POLLWATCH_SUMMARY=1` does. By default, `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(pollwatch::Config::default().print_summary(true).summary());
    /// ```
    pub fn print_summary(mut self, yes: bool) -> Self {
        self.summary = yes;
        self
    }

    /// Whether the summary table is printed at the end of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!pollwatch::Config::default().summary());
    /// ```
    pub fn summary(&self) -> bool {
        self.summary
    }

    /// Measures each instrumented fn's scheduling delay (from a wake to the poll it causes) for the
    /// summary, with tokio-metrics' `TaskMonitorCore`, as `POLLWATCH_SCHEDULING=1` does. It wraps
    /// the waker on every poll, so it is off by default. Applies to calls made after it is set,
    /// in debug mode.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(pollwatch::Config::default().measure_scheduling(true).scheduling());
    /// ```
    pub fn measure_scheduling(mut self, yes: bool) -> Self {
        self.scheduling = yes;
        self
    }

    /// Whether scheduling delay is measured.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!pollwatch::Config::default().scheduling());
    /// ```
    pub fn scheduling(&self) -> bool {
        self.scheduling
    }

    /// The debug mode this config sets.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::{Config, DebugMode};
    /// assert_eq!(Config::default().get_debug_mode(), DebugMode::build_default());
    /// ```
    pub fn get_debug_mode(&self) -> DebugMode {
        self.mode
    }

    /// The slow-poll threshold this config sets.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::Config;
    /// assert_eq!(Config::default().get_slow_poll(), Config::DEFAULT_SLOW_POLL);
    /// ```
    pub fn get_slow_poll(&self) -> Duration {
        self.slow_poll
    }

    /// The per-call-site warning rate limit this config sets.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::Config;
    /// assert_eq!(Config::default().get_warnings_per_second(), Config::DEFAULT_WARNINGS_PER_SECOND);
    /// ```
    pub fn get_warnings_per_second(&self) -> u32 {
        self.warnings_per_second
    }

    /// Makes this config the process-wide one, replacing the environment's.
    ///
    /// # Examples
    ///
    /// ```
    /// pollwatch::Config::default().debug_mode(pollwatch::DebugMode::Off).apply();
    /// assert!(!pollwatch::debug_mode().is_on());
    /// ```
    pub fn apply(self) {
        ENV_ONCE.call_once(|| {});
        store(&self);
    }

    /// The process-wide config in force (reading the environment first if nothing set it yet).
    ///
    /// # Examples
    ///
    /// ```
    /// let now = pollwatch::Config::current();
    /// assert!(!now.get_slow_poll().is_zero());
    /// ```
    pub fn current() -> Self {
        ensure_init();
        // One lock, held by a local: two `lock()` temporaries in one expression would deadlock.
        let (report_path, summary) = OUTPUT.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Config {
            mode: mode_from_u8(MODE.load(Acquire)),
            slow_poll: Duration::from_nanos(SLOW_NS.load(Relaxed)),
            warnings_per_second: WARNINGS_PER_SECOND.load(Relaxed),
            on_slow_poll: crate::notify::get(),
            report_path,
            summary,
            scheduling: SCHEDULING.load(Relaxed),
        }
    }
}

const MODE_UNINIT: u8 = 0;
const MODE_OFF: u8 = 1;
const MODE_ON: u8 = 2;
const MODE_STRICT: u8 = 3;

static MODE: AtomicU8 = AtomicU8::new(MODE_UNINIT);
static SLOW_NS: AtomicU64 = AtomicU64::new(0);
static SCHEDULING: AtomicBool = AtomicBool::new(false);
static WARNINGS_PER_SECOND: AtomicU32 = AtomicU32::new(Config::DEFAULT_WARNINGS_PER_SECOND);
static ENV_ONCE: Once = Once::new();

fn mode_from_u8(v: u8) -> DebugMode {
    match v {
        MODE_ON => DebugMode::On,
        MODE_STRICT => DebugMode::Strict,
        _ => DebugMode::Off,
    }
}

/// Report path and summary flag: read only at the end of a run, so a plain lock.
static OUTPUT: std::sync::Mutex<(Option<String>, bool)> = std::sync::Mutex::new((None, false));

fn store(config: &Config) {
    if config.mode.is_on() {
        crate::clock::warm_up();
    }
    crate::notify::set(config.on_slow_poll.clone());
    *OUTPUT.lock().unwrap_or_else(|e| e.into_inner()) =
        (config.report_path.clone(), config.summary);
    SLOW_NS.store(saturating_nanos(config.slow_poll), Relaxed);
    WARNINGS_PER_SECOND.store(config.warnings_per_second, Relaxed);
    SCHEDULING.store(config.scheduling, Relaxed);
    // Release: whoever sees the mode (Acquire in `debug_mode`) also sees the settings above.
    MODE.store(config.mode.to_u8(), Release);
}

pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cold]
fn ensure_init() {
    ENV_ONCE.call_once(|| {
        let (config, errors) = Config::from_env_lossy(|name| std::env::var(name).ok());
        for err in errors {
            // Not eprintln!: it panics when stderr is closed, and this runs inside users' polls.
            let _ = writeln!(std::io::stderr(), "{err}");
        }
        store(&config);
    });
}

/// The debug mode in force. The first call reads the environment if no [`Config`] was applied.
///
/// # Examples
///
/// ```
/// if pollwatch::debug_mode().is_on() {
///     println!("slow polls will be reported");
/// }
/// ```
#[inline]
pub fn debug_mode() -> DebugMode {
    match MODE.load(Acquire) {
        MODE_OFF => DebugMode::Off,
        MODE_ON => DebugMode::On,
        MODE_STRICT => DebugMode::Strict,
        _ => {
            ensure_init();
            mode_from_u8(MODE.load(Relaxed))
        }
    }
}

/// Turns debug mode on or off at run time (asyncio's `loop.set_debug()`), keeping the other
/// settings. Futures already running pick the change up at their next poll.
///
/// # Examples
///
/// ```
/// use pollwatch::DebugMode;
/// pollwatch::set_debug_mode(DebugMode::Strict);
/// assert!(pollwatch::debug_mode().is_strict());
/// pollwatch::set_debug_mode(DebugMode::Off);
/// ```
pub fn set_debug_mode(mode: DebugMode) {
    ensure_init();
    MODE.store(mode.to_u8(), Release);
}

/// The process-wide slow-poll threshold. Only called after [`debug_mode`] returned "on", which
/// implies the config was initialized (`store` writes the threshold before the mode), so no
/// `Once` check on this per-poll path.
pub(crate) fn slow_poll_nanos() -> u64 {
    SLOW_NS.load(Relaxed)
}

/// Whether new calls get tokio-metrics' scheduling-delay instrumentation.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn measure_scheduling() -> bool {
    SCHEDULING.load(Relaxed)
}

pub(crate) fn warnings_per_second() -> u32 {
    WARNINGS_PER_SECOND.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn accepted_modes() {
        for (value, mode) in [
            ("0", DebugMode::Off),
            ("off", DebugMode::Off),
            ("FALSE", DebugMode::Off),
            ("1", DebugMode::On),
            (" on ", DebugMode::On),
            ("true", DebugMode::On),
            ("strict", DebugMode::Strict),
            ("Strict", DebugMode::Strict),
        ] {
            let config = Config::from_env_with(env(&[("POLLWATCH", value)])).unwrap();
            assert_eq!(config.get_debug_mode(), mode, "POLLWATCH={value}");
        }
    }

    #[test]
    fn invalid_values_keep_defaults_and_name_the_variable() {
        let (config, errors) = Config::from_env_lossy(env(&[
            ("POLLWATCH", "yes please"),
            ("POLLWATCH_SLOW", "fast"),
        ]));
        assert_eq!(config, Config::default());
        assert_eq!(errors.len(), 2);
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines[0],
            "pollwatch: ignoring POLLWATCH=\"yes please\": expected `0`, `1` or `strict` \
             (also `off`/`on`, `false`/`true`); using the default"
        );
        assert!(
            lines[1]
                .starts_with("pollwatch: ignoring POLLWATCH_SLOW=\"fast\": expected a duration")
        );
        assert!(lines.iter().all(|l| !l.contains('\n')));
    }

    #[test]
    fn one_bad_variable_does_not_discard_the_good_one() {
        let (config, errors) =
            Config::from_env_lossy(env(&[("POLLWATCH", "strict"), ("POLLWATCH_SLOW", "0ms")]));
        assert!(config.get_debug_mode().is_strict());
        assert_eq!(config.get_slow_poll(), Config::DEFAULT_SLOW_POLL);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].variable(), "POLLWATCH_SLOW");
    }

    #[test]
    fn slow_accepts_humantime() {
        let config = Config::from_env_with(env(&[("POLLWATCH_SLOW", "1s 500ms")])).unwrap();
        assert_eq!(config.get_slow_poll(), Duration::from_millis(1500));
    }

    #[test]
    fn current_round_trips_every_setting() {
        let config = Config::default()
            .debug_mode(DebugMode::Strict)
            .report_to("out-{pid}.json")
            .print_summary(true);
        config.clone().apply();
        let now = Config::current();
        assert_eq!(now.report_path(), Some("out-{pid}.json"));
        assert!(now.summary());
        Config::default().apply();
    }

    #[test]
    fn zero_threshold_in_code_is_ignored() {
        assert_eq!(
            Config::default().slow_poll(Duration::ZERO).get_slow_poll(),
            Config::DEFAULT_SLOW_POLL
        );
    }
}
