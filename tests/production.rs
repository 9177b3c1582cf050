//! The production profile (`DebugMode::Watch`, `POLLWATCH=watch`): no poll reads the clock, yet a
//! slow poll and a stall are still caught, blamed on the fn the watchdog saw blocking, with its
//! chain, kind and a duration within 2 ms or 2 %. (Its own binary: the mode is process-wide,
//! and every test here uses this one.)
#![cfg(feature = "tokio")]

mod support;

use std::time::{Duration, Instant};

use pollwatch::{Builder, DebugMode, async_timed, targets};
use support::{Captured, Events, busy_loop, capture, eventually, routed, unrouted};

fn setup() {
    support::config()
        .debug_mode(DebugMode::Watch)
        .slow_poll(Duration::from_millis(100))
        .apply();
}

/// The duration a report gives against the one measured around the blocking call: within 2 ms
/// or 2 %, whichever is larger (the bound), plus the poll's own work around the call.
fn within_bounds(reported: Duration, measured: Duration) -> bool {
    let slack = Duration::from_millis(2).max(measured / 50) + Duration::from_millis(1);
    reported + Duration::from_millis(1) >= measured && reported <= measured + slack
}

static mut MEASURED: Duration = Duration::ZERO;

#[async_timed]
async fn prod_outer() {
    tokio::task::yield_now().await;
    prod_inner().await;
}

#[async_timed]
async fn prod_inner() {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: written once by this test's only call, read after the runtime finished.
    unsafe { MEASURED = start.elapsed() };
}

#[test]
fn a_slow_poll_is_caught_with_its_culprit_chain_and_duration() {
    setup();
    let events = Events::default();
    let rt = routed(Builder::new_current_thread(), &events)
        .build()
        .unwrap();
    let ((), mine) = capture(|| rt.block_on(prod_outer()));
    drop(rt);
    // SAFETY: the only write happened on the runtime, which has finished.
    let measured = unsafe { MEASURED };
    let slow = mine.of_fn(targets::SLOW_POLL, "prod_inner");
    assert_eq!(slow.len(), 1, "{:?}", mine.all());
    let w = &slow[0];
    assert_eq!(w.get("chain"), "main > prod_outer > prod_inner");
    if cfg!(target_os = "linux") {
        assert_eq!(w.get("kind"), "blocking");
    }
    let reported = w.duration("duration");
    assert!(
        within_bounds(reported, measured),
        "reported {reported:?}, measured {measured:?}"
    );
    assert!(
        w.message()
            .starts_with("prod_inner blocked the executor for "),
        "{}",
        w.message()
    );
    assert!(
        w.message().ends_with("; reported as a stall while it ran"),
        "{}",
        w.message()
    );
    // The stall while it ran, with its line from the stack.
    let stall = eventually("the stall report", || {
        unrouted()
            .of_fn(targets::STALL, "prod_inner")
            .into_iter()
            .next()
    });
    assert!(stall.get("location").starts_with("tests/production.rs:"));
}

#[async_timed]
async fn prod_fast() -> u32 {
    tokio::task::yield_now().await;
    7
}

#[async_timed]
async fn prod_spin() -> u64 {
    busy_loop(Duration::from_millis(250))
}

#[test]
fn fast_polls_are_counted_not_timed_and_a_busy_loop_is_cpu_bound() {
    setup();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let ((), events) = capture(|| {
        rt.block_on(async {
            for _ in 0..1000 {
                prod_fast().await;
            }
            tokio::spawn(prod_spin()).await.unwrap();
        })
    });
    drop(rt);
    assert!(events.of_fn(targets::SLOW_POLL, "prod_fast").is_empty());
    let report = pollwatch::report();
    let fast = report
        .call_sites
        .iter()
        .find(|c| c.fn_name == "prod_fast")
        .expect("counted");
    assert_eq!(fast.calls, 1000);
    assert_eq!(fast.completed, 1000);
    assert_eq!(fast.max_poll_ns, 0, "no poll was timed");
    let spin: Captured = eventually("the spinning fn's slow poll", || {
        let mut all = events.of_fn(targets::SLOW_POLL, "prod_spin");
        all.extend(unrouted().of_fn(targets::SLOW_POLL, "prod_spin"));
        all.into_iter().next()
    });
    if cfg!(target_os = "linux") {
        assert_eq!(spin.get("kind"), "cpu-bound", "{spin:?}");
    }
    assert!(spin.duration("duration") >= Duration::from_millis(250));
}

/// Nobody annotated it: the stack names it, in the production profile as in debug mode.
#[cfg(all(feature = "stacks", target_os = "linux"))]
#[test]
fn an_unannotated_task_is_named_from_its_stack() {
    async fn prod_unannotated() {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(300));
    }
    setup();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .tokio(|b| {
            b.thread_name("prod-worker");
        })
        .build()
        .unwrap();
    rt.block_on(async { tokio::spawn(prod_unannotated()).await.unwrap() });
    drop(rt);
    let slow = support::eventually_showing(
        "the slow poll named from the stack",
        || {
            unrouted()
                .with_target(targets::SLOW_POLL)
                .into_iter()
                .find(|e| e.field("fn") == Some("prod_unannotated"))
        },
        || format!("; seen instead: {:#?}", unrouted().all()),
    );
    assert!(slow.get("location").starts_with("tests/production.rs:"));
    // Stable Tokio's worker watch times a sleep from when the watchdog first found it (the
    // scheduler's clock, capped at a tick: CPUs' clocks drift apart) to its last look: "about",
    // short by as much as the watchdog's looks were late on a busy machine. At least the
    // threshold it was reported against, never more than the sleep and a tick.
    let d = slow.duration("duration");
    assert!(
        d >= Duration::from_millis(100) && d <= Duration::from_millis(400),
        "{d:?}"
    );
}

#[test]
fn the_environment_selects_the_production_profile() {
    let config =
        pollwatch::Config::from_env_with(|name| (name == "POLLWATCH").then(|| "watch".to_owned()))
            .unwrap();
    assert_eq!(config.get_debug_mode(), DebugMode::Watch);
    assert!(DebugMode::Watch.is_on() && !DebugMode::Watch.is_exact());
}
