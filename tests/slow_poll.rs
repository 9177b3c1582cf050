//! Slow-poll detection in debug mode, with real blocking (`thread::sleep`, busy loops): one
//! warning per blocking poll, blaming the innermost culprit by self time, with its chain.
//! Every test here runs in debug mode `On` with the default 100 ms threshold.

mod support;

use std::time::Duration;

use pollwatch::{DebugMode, async_timed, targets};
use support::{Events, block_thread, busy_loop, capture, multi_thread_rt, rt};
use tracing::Level;

fn debug_on() {
    pollwatch::set_debug_mode(DebugMode::On);
}

const MS150: Duration = Duration::from_millis(150);

#[async_timed]
async fn outer() -> u32 {
    tokio::task::yield_now().await;
    inner().await + 1
}

#[async_timed]
async fn inner() -> u32 {
    block_thread(MS150);
    41
}

#[test]
fn nested_blocking_gives_one_warning_blaming_the_inner_fn() {
    debug_on();
    let (out, events) = capture(|| rt().block_on(outer()));
    assert_eq!(out, 42);
    let slow = events.slow_polls();
    assert_eq!(
        slow.len(),
        1,
        "exactly one warning for one blocking poll: {slow:?}"
    );
    let w = &slow[0];
    assert_eq!(w.level, Level::WARN);
    assert_eq!(w.get("fn"), "inner");
    assert_eq!(w.get("chain"), "outer > inner");
    // Where it blocked: `inner`'s line, or, when the watchdog (started by the first poll in
    // debug mode, even on a plain Tokio runtime) read the stack in time, the helper's line.
    let location = w.get("location");
    assert!(
        location.starts_with("tests/slow_poll.rs:")
            || location.starts_with("tests/support/mod.rs:")
                && w.message().contains(" (in block_thread)"),
        "{w:?}"
    );
    assert!(w.duration("duration") >= MS150);
    assert!(w.duration("self_time") >= MS150);
    assert_eq!(w.duration("threshold"), Duration::from_millis(100));
    assert_eq!(w.count("poll"), 1, "inner blocked in its first poll");
    assert!(
        w.message().starts_with("inner blocked the executor for "),
        "{}",
        w.message()
    );
    assert!(w.message().contains(" [outer > inner]"), "{}", w.message());
}

#[async_timed]
async fn does_the_work_itself() -> u64 {
    let n = quick().await;
    busy_loop(MS150) + n
}

#[async_timed]
async fn quick() -> u64 {
    1
}

#[test]
fn self_time_blames_the_parent_when_the_child_was_quick() {
    debug_on();
    let (_, events) = capture(|| rt().block_on(does_the_work_itself()));
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].get("fn"), "does_the_work_itself");
    assert_eq!(slow[0].get("chain"), "does_the_work_itself");
}

#[async_timed]
async fn only_timers() {
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

#[test]
fn awaiting_timers_is_not_blocking() {
    debug_on();
    let ((), events) = capture(|| rt().block_on(only_timers()));
    assert!(events.slow_polls().is_empty(), "{:?}", events.slow_polls());
    let finish = &events.of_fn(targets::TIMED, "only_timers")[1];
    assert!(finish.duration("elapsed") >= Duration::from_millis(240));
    assert!(finish.duration("idle") >= Duration::from_millis(200));
}

#[async_timed]
async fn blocks_twice() {
    block_thread(MS150);
    tokio::task::yield_now().await;
    block_thread(MS150);
}

#[test]
fn each_blocking_poll_is_reported_with_its_index() {
    debug_on();
    let ((), events) = capture(|| rt().block_on(blocks_twice()));
    let polls: Vec<u64> = events
        .slow_polls()
        .iter()
        .map(|w| w.count("poll"))
        .collect();
    assert_eq!(polls, [1, 2]);
}

#[async_timed(slow = "20ms")]
async fn strict_budget() {
    block_thread(Duration::from_millis(50));
}

#[async_timed]
async fn default_budget() {
    block_thread(Duration::from_millis(50));
}

#[test]
fn per_fn_threshold_overrides_the_default() {
    debug_on();
    let ((), events) = capture(|| {
        rt().block_on(async {
            strict_budget().await;
            default_budget().await;
        })
    });
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].get("fn"), "strict_budget");
    assert_eq!(slow[0].duration("threshold"), Duration::from_millis(20));
}

#[async_timed]
async fn blocks_a_worker() -> &'static str {
    busy_loop(MS150);
    "done"
}

#[test]
fn blocking_on_a_multi_thread_worker() {
    debug_on();
    let events = Events::default();
    let out = multi_thread_rt(&events, 2)
        .block_on(async { tokio::spawn(blocks_a_worker()).await.unwrap() });
    assert_eq!(out, "done");
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].get("fn"), "blocks_a_worker");
    let thread = slow[0].thread.clone().unwrap_or_default();
    assert!(
        thread.starts_with("tokio-r"),
        "reported from a worker thread, not {thread:?}"
    );
}

#[test]
fn un_annotated_code_inside_counts_as_self_time() {
    debug_on();
    async fn helper_not_annotated() {
        block_thread(MS150);
    }
    #[async_timed]
    async fn calls_helper() {
        helper_not_annotated().await;
    }
    let ((), events) = capture(|| rt().block_on(calls_helper()));
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].get("fn"), "calls_helper");
}

#[test]
fn works_under_the_futures_executor() {
    debug_on();
    let (out, events) = capture(|| futures::executor::block_on(outer()));
    assert_eq!(out, 42);
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].get("chain"), "outer > inner");
}

#[test]
fn concurrent_children_in_one_poll_blame_the_one_that_blocked() {
    debug_on();
    #[async_timed]
    async fn fast_child() {}
    #[async_timed]
    async fn gather() {
        futures::join!(fast_child(), inner(), fast_child());
    }
    let ((), events) = capture(|| rt().block_on(gather()));
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].get("fn"), "inner");
    assert_eq!(slow[0].get("chain"), "gather > inner");
}

#[async_timed]
async fn blocks_50ms() {
    block_thread(Duration::from_millis(50));
}

#[test]
fn several_calls_of_one_fn_in_one_poll_are_blamed_together() {
    debug_on();
    #[async_timed]
    async fn three_at_once() {
        // Each call blocks 50 ms, under the threshold; together they block 150 ms in one poll.
        futures::join!(blocks_50ms(), blocks_50ms(), blocks_50ms());
    }
    let ((), events) = capture(|| rt().block_on(three_at_once()));
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].get("fn"), "blocks_50ms");
    assert_eq!(slow[0].count("calls"), 3);
    assert!(slow[0].duration("self_time") >= MS150);
    assert_eq!(slow[0].get("chain"), "three_at_once > blocks_50ms");
    assert!(
        slow[0]
            .message()
            .starts_with("blocks_50ms (3 calls) blocked the executor for ")
    );
}

#[async_timed]
async fn slow_then_panics() {
    // As a failing assertion with RUST_BACKTRACE=1 does: time spent inside the poll, then a
    // panic.
    busy_loop(Duration::from_millis(150));
    panic!("the assertion failed");
}

#[async_timed]
async fn calls_one_that_panics() {
    slow_then_panics().await;
}

#[test]
fn a_poll_that_panics_is_a_panic_not_a_slow_poll() {
    debug_on();
    let (result, events) = capture(|| {
        std::panic::catch_unwind(|| futures::executor::block_on(calls_one_that_panics()))
    });
    assert!(result.is_err(), "the panic goes on unchanged");
    assert!(
        events.slow_polls().is_empty(),
        "not reported as blocking: {:?}",
        events.slow_polls()
    );
    let panicked = events.of_fn(targets::PANICKED, "slow_then_panics");
    assert_eq!(panicked.len(), 1, "{:?}", events.all());
    // The next blocking poll on this thread is judged on its own.
    let ((), events) = capture(|| futures::executor::block_on(blocks_50ms()));
    assert_eq!(events.slow_polls().len(), 0, "50 ms is under the threshold");
    let ((), events) = capture(|| futures::executor::block_on(strict_budget()));
    assert_eq!(events.slow_polls().len(), 1);
}

#[cfg(feature = "tokio")]
#[test]
fn a_spawned_task_that_panics_after_blocking_is_no_slow_poll() {
    debug_on();
    let events = Events::default();
    let rt = support::routed(
        pollwatch::Builder::new_multi_thread().worker_threads(1),
        &events,
    )
    .build()
    .unwrap();
    let joined = rt.block_on(async { tokio::spawn(slow_then_panics()).await });
    assert!(joined.unwrap_err().is_panic());
    drop(rt);
    support::settle();
    assert!(
        events.slow_polls().is_empty(),
        "not reported as blocking (task hooks included, with tokio_unstable): {:?}",
        events.slow_polls()
    );
}
