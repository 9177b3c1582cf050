//! OpenTelemetry (feature `otel`): slow polls and stalls as metrics and log records, through the
//! providers the service already has. Fed by `dispatch` with the plain records, like the
//! tracing events; nothing here runs until [`install`] (or its halves) is called.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger, LoggerProvider, Severity};
use opentelemetry::metrics::{Counter, Histogram, MeterProvider};
use opentelemetry::{InstrumentationScope, Key, KeyValue, Value};

use crate::record::{Blame, Kind, SlowPoll, Stall};
use crate::sink::{events, targets};
use crate::site::CallSite;
use crate::util::lock;

/// The instrumentation scope of pollwatch's meters and loggers.
///
/// # Examples
///
/// ```
/// assert_eq!(pollwatch::otel::SCOPE, "pollwatch");
/// ```
pub const SCOPE: &str = "pollwatch";

/// Counter: polls that blocked their thread past the threshold (each one, including those the
/// log only counts in a digest). Unit `{poll}`.
///
/// # Examples
///
/// ```
/// // In a Prometheus exporter, this becomes `pollwatch_slow_polls_total`.
/// assert_eq!(pollwatch::otel::SLOW_POLLS, "pollwatch.slow_polls");
/// ```
pub const SLOW_POLLS: &str = "pollwatch.slow_polls";

/// Counter: polls the watchdog found still blocking their thread (once per poll, not per
/// reminder). Unit `{poll}`.
///
/// # Examples
///
/// ```
/// assert_eq!(pollwatch::otel::STALLS, "pollwatch.stalls");
/// ```
pub const STALLS: &str = "pollwatch.stalls";

/// Histogram: how long each slow poll kept its thread, in seconds.
///
/// # Examples
///
/// ```
/// assert_eq!(pollwatch::otel::BLOCKED_DURATION, "pollwatch.blocked.duration");
/// ```
pub const BLOCKED_DURATION: &str = "pollwatch.blocked.duration";

/// The histogram's bucket boundaries, in seconds: slow polls start at the threshold (100 ms by
/// default; a test's budget may be lower).
///
/// # Examples
///
/// ```
/// // The default threshold, 100 ms, is a bucket boundary.
/// assert!(pollwatch::otel::BLOCKED_BUCKETS.contains(&0.1));
/// ```
pub const BLOCKED_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The attribute keys pollwatch sets. Metrics carry only those whose values are bounded by
/// the code (fn, file, line, kind, chain), never a task id, a thread or an argument; log records
/// carry all of them.
///
/// # Examples
///
/// ```
/// use pollwatch::otel::attributes;
///
/// // Semantic conventions where one exists, `pollwatch.*` otherwise.
/// assert_eq!(attributes::CODE_FUNCTION_NAME, "code.function.name");
/// assert_eq!(attributes::KIND, "pollwatch.kind");
/// ```
pub mod attributes {
    /// OpenTelemetry semantic conventions: the blamed fn, `module::Type::method` for an
    /// `#[async_timed]` fn, `Type::method` as read from the native stack otherwise.
    pub const CODE_FUNCTION_NAME: &str = "code.function.name";
    /// Semantic conventions: the file. In metrics, an `#[async_timed]` fn's own (one series per
    /// fn); in log records, and for a culprit only the stack names, the file of the line that
    /// blocked (for a task nobody named: where it was spawned).
    pub const CODE_FILE_PATH: &str = "code.file.path";
    /// Semantic conventions: that line (in metrics, an `#[async_timed]` fn's first line).
    pub const CODE_LINE_NUMBER: &str = "code.line.number";
    /// Semantic conventions (logs only): the blocked thread's native stack, innermost first.
    pub const CODE_STACKTRACE: &str = "code.stacktrace";
    /// Semantic conventions (logs only): the blocked thread.
    pub const THREAD_NAME: &str = "thread.name";
    /// `cpu-bound`, `blocking`, `mixed` or `unknown`.
    pub const KIND: &str = "pollwatch.kind";
    /// The async call chain, outermost first: `Handler::run > Get::apply`.
    pub const CHAIN: &str = "pollwatch.chain";
    /// `true` when the location is only where the task was spawned (no fn named it).
    pub const AT_SPAWN_SITE: &str = "pollwatch.at_spawn_site";
    /// Logs only: the Tokio task id (`--cfg tokio_unstable`).
    pub const TASK_ID: &str = "pollwatch.task.id";
    /// Logs only: where that task was spawned, `file:line`.
    pub const TASK_SPAWNED_AT: &str = "pollwatch.task.spawned_at";
    /// Logs only: how long the poll blocked (so far, for a stall), in seconds.
    pub const BLOCKED_SECONDS: &str = "pollwatch.blocked.seconds";
    /// Logs only: the threshold it exceeded, in seconds.
    pub const THRESHOLD_SECONDS: &str = "pollwatch.threshold.seconds";
    /// Logs only: the system call the thread was in (`clock_nanosleep`, `futex`, `read`).
    pub const SYSCALL: &str = "pollwatch.syscall";
}

struct Metrics {
    slow_polls: Counter<u64>,
    stalls: Counter<u64>,
    blocked: Histogram<f64>,
}

/// One log record, made by the installed logger.
struct Entry {
    event_name: &'static str,
    target: &'static str,
    severity: Severity,
    body: String,
    attributes: Vec<(Key, AnyValue)>,
}

type Emit = dyn Fn(Entry) + Send + Sync;

static METRICS: Mutex<Option<Arc<Metrics>>> = Mutex::new(None);
static LOGS: Mutex<Option<Arc<Emit>>> = Mutex::new(None);
/// Whether anything is installed: the only cost of this module otherwise.
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Sends pollwatch's slow polls and stalls to OpenTelemetry: counters and a duration histogram
/// through `meter_provider`, a log record for each (within the same volume policy as the log
/// lines: each culprit's first occurrence in full) through `logger_provider`. Call it once,
/// after building the providers; a second call replaces the first.
///
/// A slow poll's log record is emitted on the thread whose poll was slow, inside its spans: with
/// `tracing-opentelemetry`'s layer on the subscriber, it carries the active span's trace and
/// span ids. Stalls are reported from the watchdog's thread, outside any span.
///
/// # Examples
///
/// ```
/// use opentelemetry_sdk::logs::SdkLoggerProvider;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// // The service's own providers, with its exporters.
/// let meter_provider = SdkMeterProvider::builder().build();
/// let logger_provider = SdkLoggerProvider::builder().build();
///
/// pollwatch::otel::install(&meter_provider, &logger_provider);
/// ```
pub fn install<M, L>(meter_provider: &M, logger_provider: &L)
where
    M: MeterProvider,
    L: LoggerProvider,
    L::Logger: Send + Sync + 'static,
{
    install_metrics(meter_provider);
    install_logs(logger_provider);
}

/// The metrics half of [`install`]: [`SLOW_POLLS`], [`STALLS`] and [`BLOCKED_DURATION`] with
/// the [`attributes`] of bounded cardinality. For a service whose subscriber already bridges
/// tracing events to OpenTelemetry logs (`opentelemetry-appender-tracing`): pollwatch's events
/// reach its logs that way.
///
/// # Examples
///
/// ```
/// let meter_provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
/// pollwatch::otel::install_metrics(&meter_provider);
/// ```
pub fn install_metrics<M: MeterProvider>(meter_provider: &M) {
    let meter = meter_provider.meter_with_scope(scope());
    let metrics = Metrics {
        slow_polls: meter
            .u64_counter(SLOW_POLLS)
            .with_description("Polls that blocked their thread longer than the threshold")
            .with_unit("{poll}")
            .build(),
        stalls: meter
            .u64_counter(STALLS)
            .with_description("Polls found still blocking their thread by pollwatch's watchdog")
            .with_unit("{poll}")
            .build(),
        blocked: meter
            .f64_histogram(BLOCKED_DURATION)
            .with_description("How long each slow poll kept its thread")
            .with_unit("s")
            .with_boundaries(BLOCKED_BUCKETS.to_vec())
            .build(),
    };
    *lock(&METRICS) = Some(Arc::new(metrics));
    INSTALLED.store(true, Relaxed);
}

/// The logs half of [`install`]: a log record per reported slow poll and stall, severity
/// `WARN` (`ERROR` for a slow poll in strict mode), event names `pollwatch.slow_poll` and
/// `pollwatch.stall`, the message as the body, and every one of the [`attributes`].
///
/// # Examples
///
/// ```
/// let logger_provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder().build();
/// pollwatch::otel::install_logs(&logger_provider);
/// ```
pub fn install_logs<L>(logger_provider: &L)
where
    L: LoggerProvider,
    L::Logger: Send + Sync + 'static,
{
    let logger = logger_provider.logger_with_scope(scope());
    let emit = move |entry: Entry| {
        let mut record = logger.create_log_record();
        record.set_event_name(entry.event_name);
        record.set_target(entry.target);
        record.set_severity_number(entry.severity);
        record.set_severity_text(entry.severity.name());
        record.set_timestamp(std::time::SystemTime::now());
        record.set_body(AnyValue::from(entry.body));
        record.add_attributes(entry.attributes);
        logger.emit(record);
    };
    *lock(&LOGS) = Some(Arc::new(emit));
    INSTALLED.store(true, Relaxed);
}

/// Stops sending to OpenTelemetry (before shutting the providers down, or in tests).
///
/// # Examples
///
/// ```
/// pollwatch::otel::uninstall();
/// ```
pub fn uninstall() {
    INSTALLED.store(false, Relaxed);
    *lock(&METRICS) = None;
    *lock(&LOGS) = None;
}

fn metrics() -> Option<Arc<Metrics>> {
    if !INSTALLED.load(Relaxed) {
        return None;
    }
    lock(&METRICS).clone()
}

fn logs() -> Option<Arc<Emit>> {
    if !INSTALLED.load(Relaxed) {
        return None;
    }
    lock(&LOGS).clone()
}

/// The attributes of bounded cardinality, of a slow poll or a stall: who (fn, file, line),
/// kind, chain.
fn site_attributes(blame: &Blame, kind: Kind, precise: bool) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(6);
    if let Some(function) = qualified(blame) {
        attrs.push(KeyValue::new(attributes::CODE_FUNCTION_NAME, function));
    }
    if let Some((file, line)) = location(blame, precise)
        .as_deref()
        .and_then(|l| l.rsplit_once(':'))
    {
        attrs.push(KeyValue::new(attributes::CODE_FILE_PATH, file.to_owned()));
        if let Ok(line) = line.parse::<i64>() {
            attrs.push(KeyValue::new(attributes::CODE_LINE_NUMBER, line));
        }
    }
    if blame.at_spawn_site() {
        attrs.push(KeyValue::new(attributes::AT_SPAWN_SITE, true));
    }
    attrs.push(KeyValue::new(attributes::KIND, kind.as_str().to_owned()));
    let chain = blame.shown_chain().to_string();
    if !chain.is_empty() {
        attrs.push(KeyValue::new(attributes::CHAIN, chain));
    }
    attrs
}

/// `module::Type::method` for an annotated fn (semantic conventions ask for a qualified
/// name); the stack's `Type::method` otherwise.
fn qualified(blame: &Blame) -> Option<String> {
    match blame.culprit.fn_site() {
        Some(cs) if !cs.module_path().is_empty() => {
            Some(format!("{}::{}", cs.module_path(), cs.name()))
        }
        Some(cs) => Some(cs.name().to_owned()),
        None => blame.fn_name(),
    }
}

/// Where a metric says it blocked: an annotated fn's own line, so that one fn is one series
/// whether or not its stack was read in time; else the line the stack names. A log record
/// says the line that blocked (`precise`).
fn location(blame: &Blame, precise: bool) -> Option<String> {
    match blame.culprit.fn_site().and_then(CallSite::location) {
        Some(own) if !precise => Some(own.to_string()),
        _ => blame.location(),
    }
}

/// A slow poll, counted (every one).
pub(crate) fn count_slow_poll(slow: &SlowPoll) {
    let Some(m) = metrics() else {
        return;
    };
    let attrs = site_attributes(&slow.blame, slow.kind, false);
    m.slow_polls.add(1, &attrs);
    m.blocked.record(slow.blocked.as_secs_f64(), &attrs);
}

/// A stall, counted once (its first report).
pub(crate) fn count_stall(s: &Stall) {
    if s.nth != 1 {
        return;
    }
    if let Some(m) = metrics() {
        m.stalls.add(1, &site_attributes(&s.blame, s.kind, false));
    }
}

/// Metric attributes as log attributes, and the log-only ones.
fn log_attributes(
    site: Vec<KeyValue>,
    extra: Vec<(&'static str, AnyValue)>,
) -> Vec<(Key, AnyValue)> {
    site.into_iter()
        .map(|kv| (kv.key, any_value(kv.value)))
        .chain(extra.into_iter().map(|(k, v)| (Key::from_static_str(k), v)))
        .collect()
}

/// A metric attribute's value as a log attribute's (pollwatch sets only scalars).
fn any_value(value: Value) -> AnyValue {
    match value {
        Value::Bool(b) => AnyValue::Boolean(b),
        Value::I64(i) => AnyValue::Int(i),
        Value::F64(f) => AnyValue::Double(f),
        other => AnyValue::String(other.as_str().into_owned().into()),
    }
}

/// A slow poll the log shows, as a log record.
pub(crate) fn log_slow_poll(slow: &SlowPoll, strict: bool) {
    let Some(emit) = logs() else {
        return;
    };
    let extra = Detail {
        blocked: slow.blocked,
        threshold: slow.threshold,
        blame: &slow.blame,
        thread: slow.thread.clone(),
    };
    emit(Entry {
        event_name: "pollwatch.slow_poll",
        target: targets::SLOW_POLL,
        severity: if strict {
            Severity::Error
        } else {
            Severity::Warn
        },
        body: events::slow_poll_message(slow),
        attributes: log_attributes(
            site_attributes(&slow.blame, slow.kind, true),
            extra.attributes(),
        ),
    });
}

/// A stall the log shows, as a log record.
pub(crate) fn log_stall(s: &Stall) {
    let Some(emit) = logs() else {
        return;
    };
    let extra = Detail {
        blocked: s.blocked,
        threshold: s.threshold,
        blame: &s.blame,
        thread: Some(s.thread.clone()),
    };
    emit(Entry {
        event_name: "pollwatch.stall",
        target: targets::STALL,
        severity: Severity::Warn,
        body: events::stall_message(s),
        attributes: log_attributes(site_attributes(&s.blame, s.kind, true), extra.attributes()),
    });
}

/// What only a log record carries: per occurrence, unbounded.
struct Detail<'a> {
    blocked: std::time::Duration,
    threshold: std::time::Duration,
    /// Its task and native stack.
    blame: &'a Blame,
    thread: Option<String>,
}

impl Detail<'_> {
    fn attributes(self) -> Vec<(&'static str, AnyValue)> {
        let mut extra = vec![
            (
                attributes::BLOCKED_SECONDS,
                AnyValue::from(self.blocked.as_secs_f64()),
            ),
            (
                attributes::THRESHOLD_SECONDS,
                AnyValue::from(self.threshold.as_secs_f64()),
            ),
        ];
        if let Some(t) = self.blame.task {
            extra.push((
                attributes::TASK_ID,
                AnyValue::from(i64::try_from(t.id).unwrap_or(i64::MAX)),
            ));
            extra.push((
                attributes::TASK_SPAWNED_AT,
                AnyValue::from(t.spawned_at().to_string()),
            ));
        }
        if let Some(thread) = self.thread {
            extra.push((attributes::THREAD_NAME, AnyValue::from(thread)));
        }
        if let Some(b) = self.blame.stack.as_deref() {
            if let Some(call) = &b.syscall {
                extra.push((attributes::SYSCALL, AnyValue::from(call.clone())));
            }
            if !b.frames.is_empty() {
                extra.push((
                    attributes::CODE_STACKTRACE,
                    AnyValue::from(b.frames.join("\n")),
                ));
            }
        }
        extra
    }
}
