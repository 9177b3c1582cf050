//! Scheduling delay per fn, measured with tokio-metrics when asked for. (Its own binary: it
//! changes the process-wide config.)
#![cfg(feature = "scheduling-delay")]

mod support;

use std::time::Duration;

use pollwatch::{DebugMode, async_timed};

#[async_timed]
async fn waits_behind_a_blocker(woken: tokio::sync::oneshot::Receiver<()>) {
    let _ = woken.await;
}

#[test]
fn scheduling_delay_is_measured_when_asked_for() {
    support::config()
        .debug_mode(DebugMode::On)
        .measure_scheduling(true)
        .apply();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (wake, woken) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn(waits_behind_a_blocker(woken));
        // Let the waiter run first, so that it is parked on the channel when it is woken.
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        // Wakes the waiter, then keeps the only thread for 60 ms: the waiter is scheduled but
        // cannot run.
        let blocker = tokio::spawn(async move {
            let _ = wake.send(());
            std::thread::sleep(Duration::from_millis(60));
        });
        waiter.await.unwrap();
        blocker.await.unwrap();
    });
    support::config().debug_mode(DebugMode::On).apply();
    let report = pollwatch::report();
    let w = report
        .call_sites
        .iter()
        .find(|c| c.fn_name == "waits_behind_a_blocker")
        .unwrap();
    let delay = w.mean_scheduling_delay_ns.expect("measured");
    assert!(
        delay >= 20_000_000,
        "waited behind a 60 ms block: {delay} ns"
    );
}
