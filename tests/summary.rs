//! `pollwatch::report()`: per-call-site counters and poll statistics, and the terminal table.

use std::time::Duration;

use pollwatch::{DebugMode, async_timed};

#[async_timed]
async fn summarized(fail: bool) -> u8 {
    tokio::task::yield_now().await;
    if fail {
        panic!("summarized failed");
    }
    1
}

#[async_timed]
async fn polls_twice_for_5ms() {
    std::thread::sleep(Duration::from_millis(5));
    tokio::task::yield_now().await;
    std::thread::sleep(Duration::from_millis(5));
}

#[test]
fn counters_and_poll_statistics() {
    pollwatch::set_debug_mode(DebugMode::On);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..3 {
            assert_eq!(summarized(false).await, 1);
        }
        // Cancelled after its first poll.
        let mut cancelled = Box::pin(summarized(false));
        assert!(futures::poll!(&mut cancelled).is_pending());
        drop(cancelled);
        // Never polled.
        drop(summarized(false));
        // Panicked.
        assert!(tokio::spawn(summarized(true)).await.is_err());
        polls_twice_for_5ms().await;
    });
    let report = pollwatch::report();
    let s = report
        .call_sites
        .iter()
        .find(|c| c.fn_name == "summarized")
        .unwrap();
    assert_eq!(
        (
            s.calls,
            s.completed,
            s.cancelled,
            s.never_polled,
            s.panicked
        ),
        (6, 3, 1, 1, 1),
        "{s:?}"
    );
    assert_eq!(
        s.polls,
        3 * 2 + 1 + 2,
        "two polls each, one for the cancelled, two for the panicked"
    );
    assert_eq!(s.location.as_deref(), Some("tests/summary.rs:8"));
    let p = report
        .call_sites
        .iter()
        .find(|c| c.fn_name == "polls_twice_for_5ms")
        .unwrap();
    assert_eq!(p.polls, 2);
    assert!(p.busy_ns >= 10_000_000, "{p:?}");
    assert!(p.max_poll_ns >= 5_000_000);
    // A 5 ms sleep never returns early but may return late on a busy machine (CI once saw
    // 9.4 ms): the median of the two polls is at least 5 ms and at most the longest, each
    // within the histogram's ±12.5 %.
    let p50 = p.p50_poll_ns.unwrap();
    assert!(
        p50 >= 4_300_000 && p50 as f64 <= p.max_poll_ns as f64 * 1.13,
        "median of two ≥ 5 ms polls, ±12.5 %: {p50} (longest {})",
        p.max_poll_ns
    );
    let table = report.to_string();
    assert!(table.contains("summarized"), "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("fn "), "{table}");
}
