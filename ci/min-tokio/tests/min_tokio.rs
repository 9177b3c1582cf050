//! pollwatch's default features on Tokio 1.32: a blocking poll fails a `#[pollwatch::test]`,
//! `run` reports slow polls to the callback, the watchdog reports a stall while it lasts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[pollwatch::async_timed]
async fn blocks(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[pollwatch::test]
#[should_panic(expected = "blocks at tests/min_tokio.rs:")]
async fn a_blocking_poll_fails_the_test() {
    blocks(150).await;
}

#[pollwatch::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooperative_test_passes() {
    tokio::time::sleep(Duration::from_millis(20)).await;
    tokio::spawn(async { tokio::task::yield_now().await })
        .await
        .unwrap();
}

#[pollwatch::async_timed]
async fn blocks_in_run(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn run_reports_slow_polls_and_stalls() {
    static SLOW: AtomicUsize = AtomicUsize::new(0);
    pollwatch::Config::default()
        .debug_mode(pollwatch::DebugMode::On)
        .on_slow_poll(|info| {
            if info.fn_name() == Some("blocks_in_run") {
                SLOW.fetch_add(1, Ordering::Relaxed);
            }
        })
        .apply();
    pollwatch::run(async {
        blocks_in_run(300).await;
    });
    assert_eq!(SLOW.load(Ordering::Relaxed), 1);
    let report = pollwatch::report();
    assert!(
        report
            .stalls
            .iter()
            .any(|s| s.fn_name.as_deref() == Some("blocks_in_run")),
        "{:?}",
        report.stalls
    );
}
