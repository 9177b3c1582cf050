//! What a real application meets when it adopts pollwatch: `#[instrument]` on the same fn (in
//! either order), handles whose `Debug` dumps everything, secrets in arguments, cancellation
//! that is routine.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use pollwatch::{Config, DebugMode, async_timed, targets};
use support::capture;
use tracing::{Level, instrument};

/// Tests that change the process-wide config, or depend on it, take turns.
static CONFIG: Mutex<()> = Mutex::new(());

fn config_lock() -> std::sync::MutexGuard<'static, ()> {
    CONFIG.lock().unwrap_or_else(|e| e.into_inner())
}

/// A handle whose `Debug` prints every entry it holds.
#[derive(Debug, Default)]
struct Db {
    entries: Vec<(String, String)>,
}

fn db() -> Db {
    Db {
        entries: (0..50)
            .map(|i| (format!("user:{i}"), format!("session-token-{i:04}")))
            .collect(),
    }
}

/// The name of the span the code runs in, to check `#[instrument]` still covers the future.
fn current_span() -> Option<&'static str> {
    tracing::Span::current().metadata().map(|m| m.name())
}

#[async_timed]
#[instrument(skip(db))]
async fn ours_above(db: &Db, key: &str) -> Option<&'static str> {
    tokio::task::yield_now().await;
    let _ = db.entries.len() + key.len();
    current_span()
}

#[instrument(skip(db, value))]
#[async_timed]
async fn instrument_above(db: &Db, key: String, value: String) -> Option<&'static str> {
    tokio::task::yield_now().await;
    let _ = db.entries.len() + key.len() + value.len();
    current_span()
}

#[async_timed]
#[tracing::instrument(skip_all)]
async fn skips_all(db: &Db, token: &str) -> usize {
    db.entries.len() + token.len()
}

#[instrument(fields(key = "redacted"))]
#[async_timed]
async fn field_shadows(key: &str, n: u32) -> u32 {
    key.len() as u32 + n
}

#[async_timed]
#[instrument]
async fn records_everything(key: &str, n: u32) -> u32 {
    key.len() as u32 + n
}

fn start_of(events: &support::Events, name: &str) -> support::Captured {
    let e = events.of_fn(targets::TIMED, name);
    assert!(
        !e.is_empty(),
        "no start event of {name}: {:?}",
        events.all()
    );
    e[0].clone()
}

#[test]
fn instrument_skips_are_honoured_in_either_order() {
    let _config = config_lock();
    pollwatch::set_debug_mode(DebugMode::On);
    let db = db();
    let ((a, b), events) = capture(|| {
        support::rt().block_on(async {
            let a = ours_above(&db, "user:7").await;
            let b = instrument_above(&db, "user:8".into(), "session-token-9999".into()).await;
            let _ = skips_all(&db, "secret").await;
            let _ = field_shadows("user:9", 1).await;
            let _ = records_everything("user:10", 2).await;
            (a, b)
        })
    });
    // The span still covers the polls of the future, in both orders.
    assert_eq!(a, Some("ours_above"));
    assert_eq!(b, Some("instrument_above"));

    let above = start_of(&events, "ours_above");
    assert_eq!(above.field("key"), Some("\"user:7\""));
    assert_eq!(above.field("db"), None, "skip(db) below #[async_timed]");
    let below = start_of(&events, "instrument_above");
    assert_eq!(below.field("key"), Some("\"user:8\""));
    assert_eq!(below.field("db"), None, "skip(db) above #[async_timed]");
    assert_eq!(below.field("value"), None);
    let all = start_of(&events, "skips_all");
    assert_eq!((all.field("db"), all.field("token")), (None, None));
    let shadowed = start_of(&events, "field_shadows");
    assert_eq!(
        shadowed.field("key"),
        None,
        "fields(key = …) replaces the argument"
    );
    assert_eq!(shadowed.field("n"), Some("1"));
    let everything = start_of(&events, "records_everything");
    assert_eq!(everything.field("key"), Some("\"user:10\""));
    assert_eq!(everything.field("n"), Some("2"));

    let text = format!("{:?}", events.all());
    assert!(
        !text.contains("session-token"),
        "no handle contents or skipped value in any event: {text}"
    );
}

#[async_timed]
async fn takes_a_handle(db: &Db, id: u32) -> u32 {
    db.entries.len() as u32 + id
}

#[async_timed(max_value_len = 12)]
async fn short_values(text: String) -> usize {
    text.len()
}

#[test]
fn values_are_capped_flattened_and_arguments_can_be_switched_off() {
    let _config = config_lock();
    pollwatch::set_debug_mode(DebugMode::On);
    let pretty = format!("{:#?}", db());
    let ((), events) = capture(|| {
        futures::executor::block_on(async {
            takes_a_handle(&db(), 1).await;
            short_values(pretty).await;
        })
    });
    let handle = start_of(&events, "takes_a_handle");
    let v = handle.get("db");
    assert_eq!(v.chars().count(), Config::DEFAULT_MAX_VALUE_LEN + 1);
    assert!(v.ends_with('…'));
    assert_eq!(handle.get("id"), "1");
    let short = start_of(&events, "short_values");
    let v = short.get("text");
    assert_eq!(v.chars().count(), 13, "per fn: {v}");
    assert!(!v.contains('\n'), "multi-line values are one line: {v:?}");

    Config::current().capture_args(false).apply();
    let ((), events) = capture(|| {
        futures::executor::block_on(async {
            takes_a_handle(&db(), 2).await;
        })
    });
    Config::current().capture_args(true).apply();
    let start = start_of(&events, "takes_a_handle");
    assert_eq!((start.field("db"), start.field("id")), (None, None));
    assert_eq!(start.message(), "started takes_a_handle");
}

#[async_timed]
async fn loses_a_race() {
    tokio::time::sleep(Duration::from_secs(10)).await;
}

#[async_timed(cancelled = "warn")]
async fn must_finish() {
    tokio::time::sleep(Duration::from_secs(10)).await;
}

#[test]
fn cancellation_is_debug_unless_the_fn_asks_for_more() {
    let _config = config_lock();
    pollwatch::set_debug_mode(DebugMode::On);
    let ((), events) = capture(|| {
        support::rt().block_on(async {
            tokio::select! {
                _ = loses_a_race() => {}
                _ = must_finish() => {}
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        })
    });
    let routine = events.of_fn(targets::CANCELLED, "loses_a_race");
    assert_eq!(routine.len(), 1, "{:?}", events.all());
    assert_eq!(routine[0].level, Level::DEBUG);
    let raised = events.of_fn(targets::CANCELLED, "must_finish");
    assert_eq!(raised[0].level, Level::WARN);
}
