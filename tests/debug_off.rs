//! With debug mode off, polls are not checked, but the start/finish events still carry timings;
//! and the runtime toggle switches checking on for futures already running.

mod support;

use std::time::Duration;

use pollwatch::{DebugMode, async_timed, targets};
use support::{block_thread, capture, rt};

#[async_timed]
async fn blocks() {
    block_thread(Duration::from_millis(150));
    tokio::task::yield_now().await;
    block_thread(Duration::from_millis(150));
}

#[test]
fn off_reports_no_slow_polls_but_still_times_the_call() {
    support::config().debug_mode(DebugMode::Off).apply();
    let ((), events) = capture(|| rt().block_on(blocks()));
    assert!(events.slow_polls().is_empty(), "{:?}", events.slow_polls());
    let finish = &events.of_fn(targets::TIMED, "blocks")[1];
    assert!(finish.duration("busy") >= Duration::from_millis(300));
    assert_eq!(finish.count("polls"), 2);

    // Toggled on at run time: the next blocking poll is reported.
    pollwatch::set_debug_mode(DebugMode::On);
    let ((), events) = capture(|| rt().block_on(blocks()));
    assert_eq!(events.slow_polls().len(), 2);
    pollwatch::set_debug_mode(DebugMode::Off);
}
