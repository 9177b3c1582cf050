//! Test harness: a subscriber that records every event with its target, level and fields, so
//! tests assert on fields rather than on formatted text.
//!
//! One global subscriber is installed per test binary and routes each event to the sink of the
//! thread it happened on. (Scoped `with_default` dispatchers in parallel tests can race with
//! tracing's global callsite-interest cache and silently lose events.)
#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer, Registry};

#[derive(Clone, Debug)]
pub struct Captured {
    pub target: String,
    pub level: Level,
    pub fields: BTreeMap<String, String>,
    pub thread: Option<String>,
    /// When the event was emitted.
    pub at: std::time::Instant,
}

impl Captured {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// A field that must be there.
    pub fn get(&self, name: &str) -> &str {
        self.field(name)
            .unwrap_or_else(|| panic!("event has no field `{name}`: {self:?}"))
    }

    pub fn message(&self) -> &str {
        self.get("message")
    }

    /// A duration field (`523.1ms`, `1.204s`, `12.3µs`, `850ns`).
    pub fn duration(&self, name: &str) -> Duration {
        parse_dur(self.get(name))
    }

    pub fn count(&self, name: &str) -> u64 {
        self.get(name)
            .parse()
            .unwrap_or_else(|_| panic!("`{name}` is not a count: {self:?}"))
    }
}

pub fn parse_dur(s: &str) -> Duration {
    let (num, unit) = s
        .find(|c: char| c.is_alphabetic() || c == 'µ')
        .map(|i| s.split_at(i))
        .unwrap_or_else(|| panic!("not a duration: {s}"));
    let n: f64 = num
        .parse()
        .unwrap_or_else(|_| panic!("not a duration: {s}"));
    let secs = match unit {
        "ns" => n / 1e9,
        "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        _ => panic!("unknown unit in {s}"),
    };
    Duration::from_secs_f64(secs)
}

#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Captured>>>);

impl Events {
    pub fn all(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    /// Filters under the lock, cloning only what matches: a test polling for one event must
    /// not clone a busy neighbour's thousands while that neighbour's workers wait to log.
    pub fn with_target(&self, target: &str) -> Vec<Captured> {
        let all = self.0.lock().unwrap();
        all.iter().filter(|e| e.target == target).cloned().collect()
    }

    /// Events of `target` whose `fn` field is `name`.
    pub fn of_fn(&self, target: &str, name: &str) -> Vec<Captured> {
        self.with_target(target)
            .into_iter()
            .filter(|e| e.field("fn") == Some(name))
            .collect()
    }

    pub fn slow_polls(&self) -> Vec<Captured> {
        self.with_target(pollwatch::targets::SLOW_POLL)
    }
}

thread_local! {
    static SINK: RefCell<Option<Events>> = const { RefCell::new(None) };
}

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(Registry::default().with(Capture))
            .expect("the test harness owns the global subscriber");
        // Tests look at each event; the log-volume policy (one full report per culprit, then
        // digests, under a cap) has tests of its own (`tests/volume.rs`).
        let current = pollwatch::Config::current();
        config()
            .debug_mode(current.get_debug_mode())
            .slow_poll(current.get_slow_poll())
            .apply();
    });
}

/// The config tests start from: the defaults, with every occurrence reported as an event (no
/// digests, no cap), so that tests running in parallel never share a culprit's first report.
pub fn config() -> pollwatch::Config {
    pollwatch::Config::default()
        .digest_interval(Duration::ZERO)
        .warnings_per_second(0)
}

/// Events of the threads that entered a route's span, by span id: a report pollwatch makes
/// on another thread in the polled thread's span (one that waited for its native stack) goes
/// where the events of that thread go.
static SPAN_SINKS: std::sync::LazyLock<Mutex<std::collections::HashMap<u64, Events>>> =
    std::sync::LazyLock::new(Default::default);

/// Routes this thread's events, and events in the span it enters here, to `events` until the
/// guard is dropped.
pub fn route_to(events: &Events) -> impl Drop {
    install();
    struct Restore(
        Option<Events>,
        Option<u64>,
        Option<tracing::span::EnteredSpan>,
    );
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            SINK.with(|s| *s.borrow_mut() = prev);
            if let Some(id) = self.1 {
                // Before the span closes: a closed span's id may be given to another.
                SPAN_SINKS.lock().unwrap().remove(&id);
            }
            drop(self.2.take());
        }
    }
    let span = tracing::info_span!(target: "pollwatch_harness", "route");
    let id = span.id().map(|id| id.into_u64());
    if let Some(id) = id {
        SPAN_SINKS.lock().unwrap().insert(id, events.clone());
    }
    Restore(
        SINK.with(|s| s.borrow_mut().replace(events.clone())),
        id,
        Some(span.entered()),
    )
}

struct Capture;

/// Events from threads no test routed (workers of runtimes a test cannot configure, such as
/// `pollwatch::run`'s): shared by all tests of the binary, so filter them by unique names.
pub fn unrouted() -> &'static Events {
    static UNROUTED: std::sync::OnceLock<Events> = std::sync::OnceLock::new();
    install();
    UNROUTED.get_or_init(Events::default)
}

struct FieldVisitor<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    /// Tokio's own instrumentation (the `console` feature turns on its `tracing` feature: a span
    /// per task, an event per wake) is not what tests look at, and capturing 100k of those
    /// would slow the runtime under test into lag of the harness's making.
    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        !(meta.target().starts_with("tokio") || meta.target().starts_with("runtime"))
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut FieldVisitor(&mut fields));
        let in_route_span = || {
            let sinks = SPAN_SINKS.lock().unwrap();
            ctx.event_scope(event)?
                .find_map(|span| sinks.get(&span.id().into_u64()).cloned())
        };
        let events = SINK
            .with(|s| s.borrow().clone())
            .or_else(in_route_span)
            .unwrap_or_else(|| unrouted().clone());
        events.0.lock().unwrap().push(Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
            thread: std::thread::current().name().map(str::to_owned),
            at: std::time::Instant::now(),
        });
    }
}

/// Runs `f` with a capturing subscriber on this thread.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Events) {
    let events = Events::default();
    let r = {
        let _route = route_to(&events);
        let r = f();
        // A report that waited for its stack is made off the polled thread, in its span.
        assert!(
            pollwatch::settle(Duration::from_secs(10)),
            "reports still waiting"
        );
        r
    };
    (r, events)
}

/// A current-thread runtime; use inside `capture`.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Routes the worker threads of a `pollwatch::Builder` runtime to `events`.
#[cfg(feature = "tokio")]
pub fn routed(builder: pollwatch::Builder, events: &Events) -> pollwatch::Builder {
    let events = events.clone();
    builder.on_thread_start(move || std::mem::forget(route_to(&events)))
}

/// A multi-thread runtime whose workers all record into `events`.
pub fn multi_thread_rt(events: &Events, workers: usize) -> tokio::runtime::Runtime {
    let events = events.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .on_thread_start(move || {
            // The route must last as long as the worker thread.
            std::mem::forget(route_to(&events));
        })
        .build()
        .unwrap()
}

/// Really blocks the thread (the point of these tests is detecting real blocking).
pub fn block_thread(d: Duration) {
    std::thread::sleep(d);
}

/// Really keeps the CPU busy for `d`.
pub fn busy_loop(d: Duration) -> u64 {
    let start = std::time::Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    x
}

/// Waits (up to a generous deadline) until `check` returns `Some`: for effects that happen on
/// other threads after the code under test returned (Tokio runs a task's after-poll hook after
/// its `JoinHandle` is woken, and even after the runtime was dropped).
pub fn eventually<T>(what: &str, check: impl Fn() -> Option<T>) -> T {
    eventually_showing(what, check, String::new)
}

/// [`eventually`], whose failure also shows what was seen instead.
pub fn eventually_showing<T>(
    what: &str,
    check: impl Fn() -> Option<T>,
    seen: impl Fn() -> String,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}{}",
            seen()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// After something was seen, gives stragglers time to arrive before counting exactly.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(200));
}

/// A test binary built by the same `cargo test`, next to this one.
pub fn sibling_test_binary(prefix: &str, has_test: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let mut candidates: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(prefix) && p.extension().is_none()
        })
        .collect();
    candidates.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    candidates
        .into_iter()
        .rev()
        .find(|p| {
            std::process::Command::new(p)
                .arg("--list")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(has_test))
        })
        .unwrap_or_else(|| panic!("`cargo test` builds {prefix}*"))
}
