//! Start, finish, never-polled, cancelled and panic events, and the options that shape them.

mod support;

use std::time::Duration;

use pollwatch::{DebugMode, async_timed, targets};
use support::{capture, rt};
use tracing::Level;

fn debug_on() {
    pollwatch::set_debug_mode(DebugMode::On);
}

#[async_timed]
async fn sleeps(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

#[test]
fn start_and_finish_carry_args_and_timings() {
    debug_on();
    let (out, events) = capture(|| rt().block_on(sleeps(60)));
    assert_eq!(out, 60);
    let e = events.of_fn(targets::TIMED, "sleeps");
    assert_eq!(e.len(), 2, "{e:?}");
    let (start, finish) = (&e[0], &e[1]);
    assert_eq!(start.level, Level::INFO);
    assert_eq!(start.get("ms"), "60");
    assert_eq!(start.message(), "started sleeps");
    assert!(finish.message().starts_with("finished sleeps in "));
    assert_eq!(
        finish.field("ms"),
        None,
        "arguments are logged once, at the start"
    );
    let (elapsed, busy, idle) = (
        finish.duration("elapsed"),
        finish.duration("busy"),
        finish.duration("idle"),
    );
    assert!(elapsed >= Duration::from_millis(59), "elapsed {elapsed:?}");
    assert!(
        busy < Duration::from_millis(30),
        "a sleeping fn is not busy: {busy:?}"
    );
    // Displayed values are rounded to 4 significant digits.
    let sum = busy + idle;
    assert!(
        sum.abs_diff(elapsed) < Duration::from_millis(1),
        "busy + idle = elapsed"
    );
    assert_eq!(
        finish.count("polls"),
        2,
        "one poll to register the timer, one to finish"
    );
}

#[async_timed]
async fn never_awaited(x: u32) -> u32 {
    x
}

#[test]
fn dropping_an_unpolled_future_is_reported_with_the_callers_location() {
    debug_on();
    let ((), events) = capture(|| drop(never_awaited(1)));
    let e = events.of_fn(targets::NEVER_POLLED, "never_awaited");
    assert_eq!(e.len(), 1, "{:?}", events.all());
    assert_eq!(e[0].level, Level::WARN);
    let created_at = e[0].get("created_at");
    assert!(created_at.starts_with("tests/events.rs:"), "{created_at}");
    assert!(e[0].message().contains("without ever being polled"));
    // Neither a start nor a finish event: the fn never started.
    assert!(events.of_fn(targets::TIMED, "never_awaited").is_empty());
}

#[test]
fn never_polled_location_is_the_call_line() {
    debug_on();
    let (line, events) = capture(|| {
        // One expression, so formatting cannot put the call and `line!()` on different lines.
        let (fut, line) = (never_awaited(2), line!());
        drop(fut);
        line
    });
    let e = events.of_fn(targets::NEVER_POLLED, "never_awaited");
    assert_eq!(e[0].get("created_at"), format!("tests/events.rs:{line}"));
}

#[test]
fn a_timeout_cancels_the_call() {
    debug_on();
    let (res, events) = capture(|| {
        rt().block_on(async {
            tokio::time::timeout(Duration::from_millis(30), sleeps(10_000)).await
        })
    });
    assert!(res.is_err());
    let e = events.of_fn(targets::CANCELLED, "sleeps");
    assert_eq!(e.len(), 1, "{:?}", events.all());
    assert_eq!(
        e[0].level,
        Level::DEBUG,
        "cancellation is routine in Rust: DEBUG unless the fn says otherwise"
    );
    // Tokio's `Timeout` polls the inner future once more when its deadline fires.
    assert_eq!(e[0].count("polls"), 2);
    assert!(e[0].duration("elapsed") >= Duration::from_millis(29));
    assert!(e[0].duration("elapsed") < Duration::from_secs(5));
    assert!(e[0].message().starts_with("sleeps was cancelled after "));
    assert!(e[0].duration("busy") < Duration::from_millis(20));
    // No finish event for a cancelled call.
    assert_eq!(
        events.of_fn(targets::TIMED, "sleeps").len(),
        1,
        "{:?}",
        events.all()
    );
}

#[async_timed]
async fn panics_on_second_poll() -> u32 {
    tokio::task::yield_now().await;
    panic!("boom");
}

#[test]
fn a_panic_is_logged_then_propagates_unchanged() {
    debug_on();
    let (res, events) =
        capture(|| rt().block_on(async { tokio::spawn(panics_on_second_poll()).await }));
    let err = res.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"boom"));
    let e = events.of_fn(targets::PANICKED, "panics_on_second_poll");
    assert_eq!(e.len(), 1, "{:?}", events.all());
    assert_eq!(e[0].level, Level::ERROR);
    assert_eq!(e[0].count("polls"), 2);
    assert!(e[0].field("elapsed").is_some());
    // Not also reported as cancelled when the runtime drops the panicked future.
    assert!(
        events
            .of_fn(targets::CANCELLED, "panics_on_second_poll")
            .is_empty()
    );
}

#[derive(Debug)]
struct Secret;

#[async_timed(
    name = "load_user",
    target = "my_app::db",
    level = "debug",
    skip(token),
    fields(table = "users", id_len = %id.len(), first = ?id.chars().next()),
    ret,
)]
async fn load(id: &str, token: Secret) -> Option<u32> {
    let _ = token;
    Some(id.len() as u32)
}

#[test]
fn options_name_target_level_skip_fields_ret() {
    let (_, events) = capture(|| futures::executor::block_on(load("abc", Secret)));
    let e = events.of_fn("my_app::db", "load_user");
    assert_eq!(e.len(), 2, "{:?}", events.all());
    let (start, finish) = (&e[0], &e[1]);
    assert_eq!(start.level, Level::DEBUG);
    assert_eq!(start.get("id"), "\"abc\"");
    assert_eq!(start.field("token"), None, "skipped");
    assert_eq!(
        start.get("table"),
        "users",
        "plain values use Display when they have it"
    );
    assert_eq!(start.get("id_len"), "3");
    assert_eq!(start.get("first"), "Some('a')");
    assert_eq!(finish.get("return"), "Some(3)");
    assert_eq!(finish.field("error"), None);
}

#[async_timed(skip_all, err)]
async fn parse(s: &str) -> Result<u8, std::num::ParseIntError> {
    s.parse()
}

#[async_timed(ret, err(Debug))]
async fn parse_both(s: &str) -> Result<u8, std::num::ParseIntError> {
    s.parse()
}

#[async_timed(ret(Display))]
async fn greet(name: String) -> String {
    format!("hello {name}")
}

#[test]
fn err_and_ret_formats() {
    let ((), events) = capture(|| {
        futures::executor::block_on(async {
            let _ = parse("x").await;
            let _ = parse("7").await;
            let _ = parse_both("300").await;
            let _ = parse_both("8").await;
            let _ = greet("ann".into()).await;
        })
    });
    let p = events.of_fn(targets::TIMED, "parse");
    assert_eq!(p[0].field("s"), None, "skip_all");
    assert_eq!(p[1].get("error"), "invalid digit found in string");
    assert_eq!(p[3].field("error"), None);
    assert_eq!(
        p[3].field("return"),
        None,
        "`err` alone does not record the value"
    );
    let b = events.of_fn(targets::TIMED, "parse_both");
    assert_eq!(b[1].get("error"), "ParseIntError { kind: PosOverflow }");
    assert_eq!(b[3].get("return"), "8");
    let g = events.of_fn(targets::TIMED, "greet");
    assert_eq!(g[1].get("return"), "hello ann");
}

#[async_timed]
async fn huge(v: Vec<u32>) -> usize {
    v.len()
}

#[test]
fn long_values_are_truncated() {
    let (_, events) = capture(|| futures::executor::block_on(huge(vec![7; 10_000])));
    let v = events.of_fn(targets::TIMED, "huge")[0].get("v").to_owned();
    assert_eq!(
        v.chars().count(),
        pollwatch::Config::DEFAULT_MAX_VALUE_LEN + 1
    );
    assert!(v.ends_with('…'));
}

#[test]
fn filtered_out_events_skip_argument_capture() {
    // With no subscriber interested, nothing is captured or emitted, and the fn still works.
    let filtered = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let (out, events) = capture(|| {
        tracing::dispatcher::with_default(&filtered, || {
            futures::executor::block_on(huge(vec![1, 2]))
        })
    });
    assert_eq!(out, 2);
    assert!(events.all().is_empty(), "{:?}", events.all());
}

#[test]
fn an_aborted_task_reports_time_until_the_abort() {
    debug_on();
    let ((), events) = capture(|| {
        rt().block_on(async {
            let task = tokio::spawn(sleeps(10_000));
            tokio::time::sleep(Duration::from_millis(100)).await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
        })
    });
    let e = events.of_fn(targets::CANCELLED, "sleeps");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].count("polls"), 1);
    assert!(
        e[0].duration("elapsed") >= Duration::from_millis(99),
        "{:?}",
        e[0]
    );
}
