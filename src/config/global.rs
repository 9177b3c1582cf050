//! The process-wide settings: what the hot path reads with one relaxed load, written by
//! [`Config::apply`] or, on first use, from the environment; and the `on_slow_poll` callback.

use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};
use std::sync::{Mutex, Once};
use std::time::Duration;

use super::builder::{Callback, Config};
use super::mode::DebugMode;
use crate::util::{lock, saturating_nanos, say};

/// 0 until the config is initialized; then [`DebugMode::to_u8`].
static MODE: AtomicU8 = AtomicU8::new(0);
static SLOW_NS: AtomicU64 = AtomicU64::new(0);
static SCHEDULING: AtomicBool = AtomicBool::new(false);
static WARNINGS_PER_SECOND: AtomicU32 = AtomicU32::new(Config::DEFAULT_WARNINGS_PER_SECOND);
static CAPTURE_ARGS: AtomicBool = AtomicBool::new(true);
static LAST_RESORT: AtomicBool = AtomicBool::new(true);
static MAX_VALUE_LEN: AtomicUsize = AtomicUsize::new(Config::DEFAULT_MAX_VALUE_LEN);
/// In nanoseconds.
static DIGEST_INTERVAL: AtomicU64 = AtomicU64::new(1_000_000_000);
static ENV_ONCE: Once = Once::new();

/// The files and the summary flag: read only at the end of a run, so a plain lock.
static OUTPUT: Mutex<Output> = Mutex::new(Output {
    report_path: None,
    html_path: None,
    trace_path: None,
    summary: false,
});

#[derive(Clone)]
struct Output {
    report_path: Option<String>,
    html_path: Option<String>,
    trace_path: Option<String>,
    summary: bool,
}

/// Whether timed polls are recorded for the trace (`POLLWATCH_TRACE`): one relaxed load per
/// poll.
static TRACE: AtomicBool = AtomicBool::new(false);

/// The `on_slow_poll` callback: cloned (one `Arc` increment) per slow poll, never per poll.
static CALLBACK: Mutex<Option<Callback>> = Mutex::new(None);

impl Config {
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
        let Output {
            report_path,
            html_path,
            trace_path,
            summary,
        } = lock(&OUTPUT).clone();
        Config {
            mode: DebugMode::from_u8(MODE.load(Acquire)).unwrap_or(DebugMode::Off),
            slow_poll: Duration::from_nanos(SLOW_NS.load(Relaxed)),
            warnings_per_second: WARNINGS_PER_SECOND.load(Relaxed),
            digest_interval: Duration::from_nanos(DIGEST_INTERVAL.load(Relaxed)),
            on_slow_poll: callback(),
            report_path,
            html_path,
            trace_path,
            summary,
            scheduling: SCHEDULING.load(Relaxed),
            capture_args: CAPTURE_ARGS.load(Relaxed),
            max_value_len: MAX_VALUE_LEN.load(Relaxed),
            last_resort: LAST_RESORT.load(Relaxed),
        }
    }
}

fn store(config: &Config) {
    if config.mode.is_on() {
        crate::clock::warm_up();
    }
    if config.scheduling && !cfg!(feature = "scheduling-delay") {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            say(format_args!(
                "pollwatch: scheduling delay (POLLWATCH_SCHEDULING=1, Config::measure_scheduling) \
                 needs pollwatch's `scheduling-delay` feature; not measured"
            ));
        });
    }
    *lock(&CALLBACK) = config.on_slow_poll.clone();
    *lock(&OUTPUT) = Output {
        report_path: config.report_path.clone(),
        html_path: config.html_path.clone(),
        trace_path: config.trace_path.clone(),
        summary: config.summary,
    };
    TRACE.store(config.trace_path.is_some(), Relaxed);
    SLOW_NS.store(saturating_nanos(config.slow_poll), Relaxed);
    WARNINGS_PER_SECOND.store(config.warnings_per_second, Relaxed);
    DIGEST_INTERVAL.store(saturating_nanos(config.digest_interval), Relaxed);
    SCHEDULING.store(config.scheduling, Relaxed);
    CAPTURE_ARGS.store(config.capture_args, Relaxed);
    LAST_RESORT.store(config.last_resort, Relaxed);
    MAX_VALUE_LEN.store(config.max_value_len, Relaxed);
    // Release: whoever sees the mode (Acquire in `debug_mode`) also sees the settings above.
    MODE.store(config.mode.to_u8(), Release);
}

#[cold]
fn ensure_init() {
    ENV_ONCE.call_once(|| {
        let (config, errors) = Config::from_env_lossy(|name| std::env::var(name).ok());
        for err in errors {
            say(format_args!("{err}"));
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
    match DebugMode::from_u8(MODE.load(Acquire)) {
        Some(mode) => mode,
        None => {
            ensure_init();
            DebugMode::from_u8(MODE.load(Relaxed)).unwrap_or(DebugMode::Off)
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
#[inline]
pub(crate) fn slow_poll_nanos() -> u64 {
    SLOW_NS.load(Relaxed)
}

/// Whether new calls get tokio-metrics' scheduling-delay instrumentation.
#[cfg(feature = "scheduling-delay")]
pub(crate) fn measure_scheduling() -> bool {
    SCHEDULING.load(Relaxed)
}

/// Whether arguments are recorded (`POLLWATCH_ARGS`). Read once per call whose start event is
/// enabled, after `debug_mode` initialized the config.
pub(crate) fn capture_args() -> bool {
    ensure_init_once();
    CAPTURE_ARGS.load(Relaxed)
}

/// Whether warnings no subscriber records are printed (`POLLWATCH_LAST_RESORT`).
pub(crate) fn last_resort() -> bool {
    ensure_init_once();
    LAST_RESORT.load(Relaxed)
}

/// The longest recorded value, in chars (`POLLWATCH_VALUE_LEN`).
pub(crate) fn max_value_len() -> usize {
    ensure_init_once();
    MAX_VALUE_LEN.load(Relaxed)
}

/// Reads the environment if nothing did yet (cheap once done: one relaxed load).
#[inline]
fn ensure_init_once() {
    if MODE.load(Acquire) == 0 {
        ensure_init();
    }
}

/// The digest interval (zero: every occurrence in full).
pub(crate) fn digest_interval() -> Duration {
    Duration::from_nanos(DIGEST_INTERVAL.load(Relaxed))
}

/// The global cap on pollwatch's lines per second (0: none).
pub(crate) fn warnings_per_second() -> u32 {
    WARNINGS_PER_SECOND.load(Relaxed)
}

/// The `on_slow_poll` callback, if one is set.
pub(crate) fn callback() -> Option<Callback> {
    lock(&CALLBACK).clone()
}

/// Whether timed polls are recorded for the trace.
#[inline]
pub(crate) fn tracing_polls() -> bool {
    TRACE.load(Relaxed)
}
