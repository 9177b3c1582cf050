//! [`Config`]: the in-code builder of debug-mode settings, by-value setters and their getters.
//! Applying it process-wide ([`Config::apply`], [`Config::current`]) is `global.rs`'s part.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::env::{ConfigError, ENV_VARS, Setting};
use super::mode::DebugMode;
use crate::record::SlowPollInfo;

/// The callback type of [`Config::on_slow_poll`].
pub(crate) type Callback = Arc<dyn Fn(&SlowPollInfo<'_>) + Send + Sync>;

/// Debug-mode settings, applied process-wide with [`Config::apply`].
///
/// Without any call, pollwatch reads [`ENV_VARS`] once, on first use, on top of
/// [`Config::default`]. Settings applied in code win over the environment; start from
/// [`Config::from_env`] to honour both.
///
/// Each setting has a by-value setter named after it and a getter with the `get_` prefix
/// (`slow_poll` / [`get_slow_poll`](Config::get_slow_poll); `report_to` /
/// [`get_report_path`](Config::get_report_path)), as `std::process::Command` has (`arg` /
/// `get_args`): the plain names are the setters'.
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
    pub(super) mode: DebugMode,
    pub(super) slow_poll: Duration,
    pub(super) warnings_per_second: u32,
    pub(super) digest_interval: Duration,
    pub(super) on_slow_poll: Option<Callback>,
    pub(super) report_path: Option<String>,
    pub(super) html_path: Option<String>,
    pub(super) trace_path: Option<String>,
    pub(super) summary: bool,
    pub(super) scheduling: bool,
    pub(super) capture_args: bool,
    pub(super) max_value_len: usize,
    pub(super) last_resort: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("slow_poll", &self.slow_poll)
            .field("warnings_per_second", &self.warnings_per_second)
            .field("digest_interval", &self.digest_interval)
            .field("capture_args", &self.capture_args)
            .field("last_resort", &self.last_resort)
            .field("max_value_len", &self.max_value_len)
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
            && self.digest_interval == other.digest_interval
            && self.report_path == other.report_path
            && self.html_path == other.html_path
            && self.trace_path == other.trace_path
            && self.summary == other.summary
            && self.scheduling == other.scheduling
            && self.capture_args == other.capture_args
            && self.last_resort == other.last_resort
            && self.max_value_len == other.max_value_len
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
            digest_interval: Self::DEFAULT_DIGEST_INTERVAL,
            on_slow_poll: None,
            report_path: None,
            html_path: None,
            trace_path: None,
            summary: false,
            scheduling: false,
            capture_args: true,
            max_value_len: Self::DEFAULT_MAX_VALUE_LEN,
            last_resort: true,
        }
    }
}

impl Config {
    /// A poll that keeps a worker busy this long or longer is slow: 100 ms, asyncio's
    /// `slow_callback_duration`.
    pub const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

    /// How many lines pollwatch may print per second, all warnings together (first reports,
    /// stalls, stacks, lag, digests): 5. Lines over the cap are counted, and the next line says
    /// how many were held back.
    pub const DEFAULT_WARNINGS_PER_SECOND: u32 = 5;

    /// After a culprit's first occurrence, reported in full, its further slow polls, stalls and
    /// the lag they cause are summarized in one line per interval: 1 s.
    pub const DEFAULT_DIGEST_INTERVAL: Duration = Duration::from_secs(1);

    /// The longest recorded value (an argument, a field, a return value), in chars: 128. Longer
    /// ones are cut and end in `…`, so a handle whose `Debug` prints its whole contents cannot
    /// flood the log.
    pub const DEFAULT_MAX_VALUE_LEN: usize = 128;

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
            match var.parse(&value) {
                Ok(setting) => config.set(setting),
                Err(e) => errors.push(e),
            }
        }
        (config, errors)
    }

    fn set(&mut self, setting: Setting) {
        match setting {
            Setting::Mode(mode) => self.mode = mode,
            Setting::SlowPoll(d) => self.slow_poll = d,
            Setting::Scheduling(yes) => self.scheduling = yes,
            Setting::ReportPath(path) => self.report_path = Some(path),
            Setting::HtmlPath(path) => self.html_path = Some(path),
            Setting::TracePath(path) => self.trace_path = Some(path),
            Setting::Summary(yes) => self.summary = yes,
            Setting::CaptureArgs(yes) => self.capture_args = yes,
            Setting::LastResort(yes) => self.last_resort = yes,
            Setting::MaxValueLen(n) => self.max_value_len = n,
            Setting::DigestInterval(d) => self.digest_interval = d,
        }
    }

    /// Sets the debug mode. By default, [`DebugMode::build_default`].
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().debug_mode(pollwatch::DebugMode::Strict);
    /// assert!(config.get_debug_mode().is_strict());
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
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
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn slow_poll(mut self, threshold: Duration) -> Self {
        if !threshold.is_zero() {
            self.slow_poll = threshold;
        }
        self
    }

    /// Sets how many lines pollwatch may print per second, all warnings together; the rest are
    /// counted and the next line says how many were held back. By default,
    /// [`Config::DEFAULT_WARNINGS_PER_SECOND`]; `0` means no limit. The `on_slow_poll`
    /// callback, the counters and the report see every slow poll whatever this says.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().warnings_per_second(3);
    /// assert_eq!(config.get_warnings_per_second(), 3);
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn warnings_per_second(mut self, limit: u32) -> Self {
        self.warnings_per_second = limit;
        self
    }

    /// Calls `callback` with every slow poll, before (and regardless of) the rate-limited
    /// warning: for metrics, alerts or custom handling. It runs on the thread that was blocked,
    /// right after the slow poll, so keep it quick; a poll that ended while the watchdog read
    /// its native stack is reported once the stack is named, from pollwatch's own thread
    /// (wait for those with [`settle`](crate::settle)). A panic inside it is caught and
    /// reported.
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
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
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
    /// assert_eq!(config.get_report_path(), Some("target/pollwatch/"));
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn report_to(mut self, path: impl Into<String>) -> Self {
        self.report_path = Some(path.into());
        self
    }

    /// Where the JSON report goes, if anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pollwatch::Config::default().get_report_path(), None);
    /// ```
    pub fn get_report_path(&self) -> Option<&str> {
        self.report_path.as_deref()
    }

    /// Writes the HTML report (see [`Report::to_html`](crate::Report::to_html)) to `path` at the
    /// end of [`run`](crate::run), `#[pollwatch::main]` and each `#[pollwatch::test]`, as
    /// `POLLWATCH_HTML` does; `{pid}` is replaced by the process id. By default none, except
    /// that a JSON report ([`report_to`](Config::report_to)) gets an `.html` beside it.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().html_to("target/pollwatch.html");
    /// assert_eq!(config.get_html_path(), Some("target/pollwatch.html"));
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn html_to(mut self, path: impl Into<String>) -> Self {
        self.html_path = Some(path.into());
        self
    }

    /// Where the HTML report goes, if a path was given.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pollwatch::Config::default().get_html_path(), None);
    /// ```
    pub fn get_html_path(&self) -> Option<&str> {
        self.html_path.as_deref()
    }

    /// Records every timed poll, per thread, in a bounded ring (the last 32,768 polls of each
    /// of at most 64 threads, 48 bytes each) and writes them as a Chrome trace-event JSON
    /// file (for ui.perfetto.dev or `chrome://tracing`) to `path` at the end of
    /// [`run`](crate::run), `#[pollwatch::main]` and each `#[pollwatch::test]`, as
    /// `POLLWATCH_TRACE` does. Polls are timed in debug mode ([`DebugMode::On`] or `Strict`):
    /// `#[async_timed]` fns, and with `--cfg tokio_unstable` every task. See
    /// [`write_trace`](crate::write_trace). By default, off.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().trace_to("target/trace.json");
    /// assert_eq!(config.get_trace_path(), Some("target/trace.json"));
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn trace_to(mut self, path: impl Into<String>) -> Self {
        self.trace_path = Some(path.into());
        self
    }

    /// Where the poll trace goes, if polls are recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pollwatch::Config::default().get_trace_path(), None);
    /// ```
    pub fn get_trace_path(&self) -> Option<&str> {
        self.trace_path.as_deref()
    }

    /// Prints the summary table (see [`report`](crate::report())) at the end of `run` and
    /// `#[pollwatch::main]`, as `POLLWATCH_SUMMARY=1` does. By default, `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(pollwatch::Config::default().print_summary(true).get_print_summary());
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn print_summary(mut self, yes: bool) -> Self {
        self.summary = yes;
        self
    }

    /// Whether the summary table is printed at the end of a run.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!pollwatch::Config::default().get_print_summary());
    /// ```
    pub fn get_print_summary(&self) -> bool {
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
    /// assert!(pollwatch::Config::default().measure_scheduling(true).get_measure_scheduling());
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn measure_scheduling(mut self, yes: bool) -> Self {
        self.scheduling = yes;
        self
    }

    /// Whether scheduling delay is measured.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!pollwatch::Config::default().get_measure_scheduling());
    /// ```
    pub fn get_measure_scheduling(&self) -> bool {
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

    /// Records the arguments of `#[async_timed]` fns in their start events (as
    /// `POLLWATCH_ARGS` does). By default, `true`. With `false` no argument value reaches the
    /// logs, whatever each fn's options say; `fields(...)`, `ret` and `err` are still recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().capture_args(false);
    /// assert!(!config.get_capture_args());
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn capture_args(mut self, yes: bool) -> Self {
        self.capture_args = yes;
        self
    }

    /// Whether arguments are recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(pollwatch::Config::default().get_capture_args());
    /// ```
    pub fn get_capture_args(&self) -> bool {
        self.capture_args
    }

    /// Prints pollwatch's warnings to stderr when no subscriber records them (Python logging's
    /// *last resort*; as `POLLWATCH_LAST_RESORT` does). By default, `true`: with no
    /// subscriber, or a filter that leaves pollwatch out, a blocked executor is still said.
    /// `false` leaves it all to your subscriber and its filter (a service that ships its logs
    /// as JSON, where a plain stderr line would be noise); the records, the callback and the
    /// reports are kept either way.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().last_resort(false);
    /// assert!(!config.get_last_resort());
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn last_resort(mut self, yes: bool) -> Self {
        self.last_resort = yes;
        self
    }

    /// Whether warnings no subscriber records are printed to stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(pollwatch::Config::default().get_last_resort());
    /// ```
    pub fn get_last_resort(&self) -> bool {
        self.last_resort
    }

    /// Sets the longest recorded value, in chars (as `POLLWATCH_VALUE_LEN` does); longer ones
    /// are cut and end in `…`. By default, [`Config::DEFAULT_MAX_VALUE_LEN`]; per fn,
    /// `#[async_timed(max_value_len = N)]` wins. Zero is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = pollwatch::Config::default().max_value_len(40);
    /// assert_eq!(config.get_max_value_len(), 40);
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn max_value_len(mut self, chars: usize) -> Self {
        if chars != 0 {
            self.max_value_len = chars;
        }
        self
    }

    /// The longest recorded value, in chars.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::Config;
    /// assert_eq!(Config::default().get_max_value_len(), Config::DEFAULT_MAX_VALUE_LEN);
    /// ```
    pub fn get_max_value_len(&self) -> usize {
        self.max_value_len
    }

    /// Sets how often a culprit that keeps blocking gets a line (as `POLLWATCH_DIGEST` does): its
    /// first occurrence is reported in full (the stall, the native stack, the slow poll), then
    /// its further slow polls, stalls and the lag they cause are summarized in one digest line
    /// per interval: `Get::apply (src/cmd/get.rs:66) blocked the executor 37 more times in the
    /// last 1.000s, p50 150.1ms, max 152.0ms; workers lagged up to 594.0ms`. By default,
    /// [`Config::DEFAULT_DIGEST_INTERVAL`]; zero reports every occurrence in full.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = pollwatch::Config::default().digest_interval(Duration::from_secs(10));
    /// assert_eq!(config.get_digest_interval(), Duration::from_secs(10));
    /// ```
    #[must_use = "a setter returns the new config: call `.apply()` on it"]
    pub fn digest_interval(mut self, interval: Duration) -> Self {
        self.digest_interval = interval;
        self
    }

    /// How often a culprit that keeps blocking gets a line.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::Config;
    /// assert_eq!(Config::default().get_digest_interval(), Config::DEFAULT_DIGEST_INTERVAL);
    /// ```
    pub fn get_digest_interval(&self) -> Duration {
        self.digest_interval
    }
}
