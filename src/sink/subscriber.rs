//! A ready-made subscriber for programs that have none: tracing-subscriber's `fmt` layer to
//! stderr, filtered by `RUST_LOG`, plus tokio-console with the `console` feature.

use std::fmt;
use std::io::IsTerminal as _;

use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use crate::util::say;

/// The filter used when `RUST_LOG` is unset: pollwatch's own events from `INFO` (its start and
/// finish lines, its warnings), every other crate's warnings and errors. Not everyone's `INFO`:
/// that would switch on the application's own spans and events (a real server lost 10–14 % of
/// its throughput to its `#[instrument]` spans once they were enabled).
pub const DEFAULT_FILTER: &str = "warn,pollwatch=info";

/// Installs a global subscriber: [`layer`] on a registry, so pollwatch's events print to stderr,
/// filtered by `RUST_LOG` (and, with the `console` feature, tokio-console is served).
///
/// Without `RUST_LOG`, [`DEFAULT_FILTER`] applies. `RUST_LOG` means what `EnvFilter` says
/// (`RUST_LOG=info` shows pollwatch's `INFO` lines too), with one addition: where it would hide
/// pollwatch's warnings without saying anything about pollwatch (`RUST_LOG=error`,
/// `RUST_LOG=my_app=debug`), `pollwatch=warn` is added, so slow-poll warnings are never silenced
/// by accident (`RUST_LOG=…,pollwatch=off` silences them on purpose). An invalid `RUST_LOG` is
/// reported in one line on stderr and the default is used.
///
/// Programs that already set up their own subscriber do not need this: pollwatch's events go
/// through theirs, and without any subscriber pollwatch prints its warnings to stderr itself.
///
/// # Errors
///
/// [`InitError`] if a global subscriber was already set (by this or any other crate).
///
/// # Examples
///
/// ```
/// // A library or test that may run after another subscriber was set:
/// let _ = pollwatch::try_init();
/// ```
pub fn try_init() -> Result<(), InitError> {
    // Before building anything: `layer()` starts the console server.
    if tracing::dispatcher::has_been_set() {
        return Err(InitError { source: None });
    }
    let subscriber = tracing_subscriber::registry().with(layer());
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| InitError { source: Some(e) })?;
    #[cfg(feature = "console")]
    if let Some(addr) = super::console::console_addr() {
        tracing::info!(
            target: super::names::targets::CONSOLE,
            "tokio-console: serving on {addr}; connect with `tokio-console http://{addr}`"
        );
    }
    Ok(())
}

/// pollwatch's subscriber as a [`Layer`], for programs that compose their own registry: the
/// `fmt` layer of [`init`] (stderr, pollwatch's field format) behind its own `RUST_LOG` filter,
/// plus, with the `console` feature, the tokio-console layer with its server started
/// (see `console_addr`): one server per process, stopped when its layer is dropped; a second
/// `layer()` while it serves adds none and says so.
///
/// The filter applies to the `fmt` output only, so other layers see every event they enable.
///
/// # Examples
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(pollwatch::layer())
///     // .with(your_own_layer)
///     ;
/// let _ = tracing::subscriber::set_global_default(subscriber);
/// ```
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let fmt = fmt_layer(std::io::stderr, use_color());
    #[cfg(feature = "console")]
    let fmt = fmt.and_then(super::console::layer::<S>());
    fmt
}

fn fmt_layer<S, W>(writer: W, ansi: bool) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi)
        .with_timer(Elapsed(Instant::now()))
        .fmt_fields(Fields)
        .with_filter(filter_from_env())
}

/// [`try_init`] for programs: installs the subscriber.
///
/// # Panics
///
/// If a global subscriber was already set; use [`try_init`] where that can happen.
///
/// # Examples
///
/// ```no_run
/// #[pollwatch::async_timed]
/// async fn work(n: u64) -> u64 { n * 2 }
///
/// #[tokio::main]
/// async fn main() {
///     pollwatch::init();
///     work(21).await;
/// }
/// ```
pub fn init() {
    if let Err(e) = try_init() {
        panic!("pollwatch::init(): {e}; use pollwatch::try_init() to ignore this");
    }
}

/// Seconds since `init`, with millisecond precision: `   1.423s`.
struct Elapsed(Instant);

impl FormatTime for Elapsed {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{:>8.3}s", self.0.elapsed().as_secs_f64())
    }
}

/// tracing-subscriber's field format, minus repetition: in pollwatch's events (those with a
/// `fn` field that the message names), fields whose value the message already shows are left
/// out, so `cpu_bound_work blocked the executor for 707.3ms at …` is not followed by
/// `fn=cpu_bound_work duration=707.3ms …`. Every other event is formatted as usual.
struct Fields;

/// Fields that pollwatch's messages spell out (when the value is indeed in the message).
const REPEATED: &[&str] = {
    use super::names::fields::*;
    &[
        FN,
        TASK,
        SPAWNED_AT,
        DURATION,
        SELF_TIME,
        LOCATION,
        CREATED_AT,
        CHAIN,
        ELAPSED,
        KIND,
        THREAD,
        BLOCKED_FOR,
        COUNT,
        P50,
        MAX,
        LAG_MAX,
        WINDOW,
        SYSCALL,
    ]
};

/// Values of pollwatch's fields that say nothing worth a column.
fn is_default(name: &str, value: &str) -> bool {
    use super::names::fields::{CALLS, CHAIN, KIND, REPORT};
    matches!((name, value), (KIND, "unknown") | (CALLS, "1"))
        || name == CHAIN && value.starts_with("task ")
        // "has been blocking" / "is still blocking" already says which report it is.
        || name == REPORT
}

#[derive(Default)]
struct Collect {
    message: Option<String>,
    fields: Vec<(&'static str, String)>,
    /// A stall's native stack, printed as lines of its own after the fields.
    stack: Option<String>,
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == super::names::fields::STACK {
            self.stack = Some(value.to_owned());
            return;
        }
        self.record_debug(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let value = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl<'w> FormatFields<'w> for Fields {
    fn format_fields<R: RecordFields>(&self, mut w: Writer<'w>, fields: R) -> fmt::Result {
        let mut c = Collect::default();
        fields.record(&mut c);
        let message = c.message.as_deref().unwrap_or("");
        let ours = c.fields.iter().any(|(name, value)| {
            [super::names::fields::FN, super::names::fields::TASK].contains(name)
                && shows(message, value.trim_matches('"'))
        });
        let mut sep = "";
        if !message.is_empty() {
            w.write_str(message)?;
            sep = " ";
        }
        for (name, value) in &c.fields {
            let value_shown = shows(message, value.trim_matches('"'));
            if ours && (REPEATED.contains(name) && value_shown || is_default(name, value)) {
                continue;
            }
            if w.has_ansi_escapes() {
                write!(w, "{sep}\x1b[3m{name}\x1b[0m={value}")?;
            } else {
                write!(w, "{sep}{name}={value}")?;
            }
            sep = " ";
        }
        if let Some(stack) = &c.stack {
            write!(w, "\n  {stack}")?;
        }
        Ok(())
    }
}

/// Whether `message` shows `value` as a whole word: task `10` is not shown by `100.7ms`.
fn shows(message: &str, value: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    let part_of_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    message.match_indices(value).any(|(i, _)| {
        !part_of_word(message[..i].chars().next_back())
            && !part_of_word(message[i + value.len()..].chars().next())
    })
}

fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

fn filter_from_env() -> EnvFilter {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    if rust_log.as_deref().is_some_and(addresses_pollwatch) {
        super::last_resort::filtered_on_purpose();
    }
    let spec = filter_spec(rust_log.as_deref());
    EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        say(format_args!(
            "pollwatch: ignoring RUST_LOG={spec:?}: {e}; expected directives such as \
             `info` or `my_app=debug,pollwatch=warn`; using {DEFAULT_FILTER:?}"
        ));
        EnvFilter::new(DEFAULT_FILTER)
    })
}

/// The filter directives for `RUST_LOG` (`None`: unset): [`DEFAULT_FILTER`] when unset or
/// blank; otherwise `RUST_LOG` itself, plus `pollwatch=warn` when it would hide pollwatch's
/// warnings without mentioning pollwatch.
pub(crate) fn filter_spec(rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim) {
        None | Some("") => DEFAULT_FILTER.to_owned(),
        Some(spec) if addresses_pollwatch(spec) || default_level(spec) >= LevelFilter::WARN => {
            spec.to_owned()
        }
        Some(spec) => format!("{spec},pollwatch=warn"),
    }
}

/// The directives of a filter: `(target, level)`, target empty for a default directive. A
/// directive with a span filter (`[span{field}]`) only narrows its target.
fn directives(spec: &str) -> impl Iterator<Item = (&str, LevelFilter)> {
    spec.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let (selector, level) = match d.rsplit_once('=') {
                Some((selector, level)) if level.parse::<LevelFilter>().is_ok() => {
                    (selector, level)
                }
                // `my_app` alone enables everything of `my_app`; `info` alone is the default level.
                _ if d.parse::<LevelFilter>().is_ok() => ("", d),
                _ => (d, "trace"),
            };
            let target = selector.split('[').next().unwrap_or("").trim();
            (target, level.parse().unwrap_or(LevelFilter::TRACE))
        })
}

/// Whether a directive can match one of pollwatch's targets (`EnvFilter` matches a target by
/// prefix: `poll=debug` matches `pollwatch::slow_poll`).
fn addresses_pollwatch(spec: &str) -> bool {
    directives(spec).any(|(target, _)| {
        !target.is_empty()
            && (super::names::targets::SLOW_POLL.starts_with(target)
                || target.starts_with(super::names::targets::TIMED))
    })
}

/// The level of targets no directive names (the last default directive; none: `OFF`).
fn default_level(spec: &str) -> LevelFilter {
    directives(spec)
        .filter(|(target, _)| target.is_empty())
        .last()
        .map_or(LevelFilter::OFF, |(_, level)| level)
}

/// A global subscriber was already installed, so pollwatch's could not be; the error of
/// `tracing`'s `set_global_default`, when it was the one to refuse, is the
/// [`source`](std::error::Error::source).
///
/// # Examples
///
/// ```
/// let _ = pollwatch::try_init();
/// let err = pollwatch::try_init().unwrap_err();
/// assert!(err.to_string().contains("already"));
/// ```
#[derive(Debug)]
pub struct InitError {
    source: Option<tracing::subscriber::SetGlobalDefaultError>,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("could not set pollwatch's global subscriber: one was already set")
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::{filter_spec, shows};
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn a_value_is_shown_only_as_a_whole_word() {
        let message = "refresh_rates has been blocking for 100.7ms at examples/console.rs:45";
        assert!(!shows(message, "10"), "a task id inside a duration");
        assert!(!shows(message, "refresh"));
        assert!(shows(message, "refresh_rates"));
        assert!(shows(message, "100.7ms"));
        assert!(shows(message, "examples/console.rs:45"));
        assert!(shows("in task 10 spawned", "10"));
        assert!(!shows(message, ""));
    }

    /// What a filter shows: pollwatch's start/finish line (`INFO`), its `cancelled` line
    /// (`DEBUG`), its slow-poll warning, and another crate's `INFO` and `WARN`.
    fn shown(rust_log: Option<&str>) -> [bool; 5] {
        let filter = tracing_subscriber::EnvFilter::new(filter_spec(rust_log));
        let subscriber = tracing_subscriber::registry().with(filter);
        tracing::subscriber::with_default(subscriber, || {
            [
                tracing::enabled!(target: "pollwatch", Level::INFO),
                tracing::enabled!(target: "pollwatch::cancelled", Level::DEBUG),
                tracing::enabled!(target: "pollwatch::slow_poll", Level::WARN),
                tracing::enabled!(target: "my_app::handler", Level::INFO),
                tracing::enabled!(target: "my_app::handler", Level::WARN),
            ]
        })
    }

    #[test]
    fn rust_log_means_what_env_filter_says_and_only_raises_pollwatchs_warnings() {
        let t = true;
        let f = false;
        #[rustfmt::skip]
        let table: &[(Option<&str>, [bool; 5])] = &[
            //                                      timed  cancel warn   app-info app-warn
            (None,                                  [t,     f,     t,     f,       t]),
            (Some(""),                              [t,     f,     t,     f,       t]),
            (Some("info"),                          [t,     f,     t,     t,       t]),
            (Some("debug"),                         [t,     t,     t,     t,       t]),
            (Some("trace"),                         [t,     t,     t,     t,       t]),
            (Some("warn"),                          [f,     f,     t,     f,       t]),
            (Some("error"),                         [f,     f,     t,     f,       f]),
            (Some("off"),                           [f,     f,     t,     f,       f]),
            (Some("my_app=debug"),                  [f,     f,     t,     t,       t]),
            (Some("my_app"),                        [f,     f,     t,     t,       t]),
            (Some("pollwatch=off"),                 [f,     f,     f,     f,       f]),
            (Some("info,pollwatch=off"),            [f,     f,     f,     t,       t]),
            (Some("error,pollwatch=debug"),         [t,     t,     t,     f,       f]),
            (Some("poll=error"),                    [f,     f,     f,     f,       f]),
            (Some("info,pollwatch::cancelled=debug"), [t,   t,     t,     t,       t]),
            (Some("error,my_app[req{id}]=debug"),   [f,     f,     t,     f,       f]),
            (Some("3"),                             [t,     f,     t,     t,       t]),
        ];
        for (rust_log, expected) in table {
            assert_eq!(
                shown(*rust_log),
                *expected,
                "RUST_LOG={rust_log:?} (filter {:?})",
                filter_spec(*rust_log)
            );
        }
    }
}
