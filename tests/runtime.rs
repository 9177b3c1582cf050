//! `pollwatch::Builder`, `run`, `#[pollwatch::main]`, lag, `on_slow_poll`; and, with
//! `--cfg tokio_unstable`, every task timed through Tokio's poll hooks.
#![cfg(feature = "tokio")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pollwatch::{Builder, DebugMode, async_timed, targets};
use support::{Events, block_thread, capture, routed};

const MS150: Duration = Duration::from_millis(150);

/// Tests that replace the process-wide callback run one at a time.
static CALLBACK_LOCK: Mutex<()> = Mutex::new(());

fn debug_on() {
    pollwatch::set_debug_mode(DebugMode::On);
}

#[async_timed]
async fn root_child_blocks() -> u8 {
    block_thread(MS150);
    7
}

#[test]
fn run_times_the_root_future() {
    let (out, events) = capture(|| pollwatch::run(async { root_child_blocks().await }));
    assert_eq!(out, 7);
    assert!(pollwatch::debug_mode().is_on(), "run turns debug mode on");
    let slow = events.of_fn(targets::SLOW_POLL, "root_child_blocks");
    assert_eq!(slow.len(), 1, "{:?}", events.all());
    assert_eq!(slow[0].get("chain"), "main > root_child_blocks");
}

#[test]
fn the_root_future_itself_is_located_where_block_on_was_called() {
    debug_on();
    let rt = Builder::new_current_thread().build().unwrap();
    let (line, events) = capture(|| {
        // One expression, so formatting cannot split the call from `line!()`.
        let (line, ()) = (line!(), rt.block_on(async { block_thread(MS150) }));
        line
    });
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].get("fn"), "main");
    assert_eq!(
        slow[0].get("created_at"),
        format!("tests/runtime.rs:{line}")
    );
    // Where it blocked: the line the native stack names when it was read in time, else where
    // the root future is (where `block_on` was called).
    let location = slow[0].get("location");
    assert!(
        location == format!("tests/runtime.rs:{line}")
            || location.starts_with("tests/support/mod.rs:")
                && slow[0].message().contains("(in block_thread)"),
        "{slow:?}"
    );
}

#[pollwatch::main(flavor = "current_thread")]
async fn main_current_thread() -> usize {
    root_child_blocks().await as usize + tokio::spawn(async { 1 }).await.unwrap()
}

#[pollwatch::main]
async fn main_multi_thread() -> usize {
    tokio::spawn(async { 2 }).await.unwrap()
}

#[pollwatch::main(flavor = "multi_thread", worker_threads = 2, slow = "20ms")]
async fn main_two_workers() -> Result<u8, std::num::ParseIntError> {
    block_thread(Duration::from_millis(40));
    "3".parse::<u8>()
}

#[test]
fn main_attribute_with_each_flavor() {
    let (out, events) = capture(|| {
        (
            main_current_thread(),
            main_multi_thread(),
            main_two_workers(),
        )
    });
    assert_eq!(out.0, 8);
    assert_eq!(out.1, 2);
    assert_eq!(out.2, Ok(3));
    let chain = events.of_fn(targets::SLOW_POLL, "root_child_blocks");
    assert_eq!(
        chain[0].get("chain"),
        "main_current_thread > root_child_blocks"
    );
    // `slow = "20ms"` applies to the body: its 40 ms block is reported.
    let own = events.of_fn(targets::SLOW_POLL, "main_two_workers");
    assert_eq!(own.len(), 1, "{:?}", events.all());
    assert_eq!(own[0].duration("threshold"), Duration::from_millis(20));
}

#[test]
fn a_blocked_worker_makes_other_tasks_lag() {
    debug_on();
    let events = Events::default();
    let rt = routed(Builder::new_current_thread(), &events)
        .build()
        .unwrap();
    let _route = support::route_to(&events);
    rt.block_on(async {
        // Give the heartbeat (if any) a first beat, then block the only worker while another
        // task is ready to run.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let blocker = tokio::spawn(async { block_thread(Duration::from_millis(400)) });
        let victim = tokio::spawn(async { tokio::task::yield_now().await });
        blocker.await.unwrap();
        victim.await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    let lag = events.with_target(targets::LAG);
    assert!(!lag.is_empty(), "{:?}", events.all());
    assert!(
        lag.iter()
            .any(|e| e.duration("delay") >= Duration::from_millis(100)),
        "{lag:?}"
    );
}

#[test]
fn on_slow_poll_hands_every_slow_poll_to_user_code() {
    let _lock = CALLBACK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let config = support::config()
        .debug_mode(DebugMode::On)
        .on_slow_poll(move |info| {
            sink.lock()
                .unwrap()
                .push((info.name(), info.chain(), info.duration(), info.kind()));
        });
    let rt = Builder::new_current_thread()
        .config(config)
        .build()
        .unwrap();
    #[async_timed]
    async fn reported_to_callback() {
        block_thread(MS150);
    }
    let ((), events) = capture(|| rt.block_on(reported_to_callback()));
    support::config().debug_mode(DebugMode::On).apply();
    let seen = seen.lock().unwrap();
    let mine: Vec<_> = seen
        .iter()
        .filter(|s| s.0 == "reported_to_callback")
        .collect();
    assert_eq!(mine.len(), 1, "{seen:?}");
    assert_eq!(mine[0].1, "main > reported_to_callback");
    assert!(mine[0].2 >= MS150);
    // The callback sees what the warning says (the watchdog may have classified the poll).
    let warning = events.of_fn(targets::SLOW_POLL, "reported_to_callback");
    assert_eq!(mine[0].3.as_str(), warning[0].get("kind"));
}

#[test]
fn a_panicking_callback_does_not_reach_the_user_future() {
    let _lock = CALLBACK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let config = support::config()
        .debug_mode(DebugMode::On)
        .on_slow_poll(|_| panic!("callback bug"));
    let rt = Builder::new_current_thread()
        .config(config)
        .build()
        .unwrap();
    let (out, events) = capture(|| rt.block_on(root_child_blocks()));
    assert_eq!(out, 7);
    assert_eq!(
        events.of_fn(targets::SLOW_POLL, "root_child_blocks").len(),
        1
    );
    support::config().debug_mode(DebugMode::On).apply();
}

#[cfg(tokio_unstable)]
mod hooks {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use support::{eventually, settle};

    #[test]
    fn an_un_annotated_blocking_task_is_reported_with_its_spawn_line() {
        debug_on();
        let events = Events::default();
        let rt = routed(Builder::new_multi_thread().worker_threads(2), &events)
            .build()
            .unwrap();
        let (task, line) = (rt.spawn(async { block_thread(MS150) }), line!());
        rt.block_on(task).unwrap();
        let at = format!("tests/runtime.rs:{line}");
        let mine = || -> Vec<_> {
            let slow = events.slow_polls().into_iter();
            slow.filter(|e| e.field("spawned_at") == Some(&at))
                .collect()
        };
        eventually("the slow-poll warning", || {
            (!mine().is_empty()).then_some(())
        });
        settle();
        let slow = mine();
        assert_eq!(slow.len(), 1, "line {line}: {:?}", events.all());
        let w = &slow[0];
        assert!(w.get("task").parse::<u64>().is_ok());
        assert!(w.duration("duration") >= MS150);
        match w.field("fn") {
            // No annotation: the native stack names the fn and line that blocked.
            Some(name) => {
                assert_eq!(name, "block_thread", "{w:?}");
                assert!(w.get("location").starts_with("tests/support/mod.rs:"));
                assert!(
                    w.message()
                        .starts_with("block_thread blocked the executor for ")
                        && w.message().contains(&format!(" spawned at {at}")),
                    "{}",
                    w.message()
                );
            }
            // Without a stack (the `stacks` feature off, another OS): the spawn line.
            None => {
                let stacks_read_here = cfg!(all(feature = "stacks", target_os = "linux"));
                assert!(!stacks_read_here, "the stack names the fn here: {w:?}");
                assert_eq!(w.get("location"), at);
                assert!(w.message().starts_with("task "), "{}", w.message());
            }
        }
    }

    /// `pollwatch::spawn` is `#[track_caller]`: the task's spawn location is this file's line,
    /// not a line of pollwatch (with or without the `console` feature's naming).
    #[test]
    fn pollwatch_spawn_keeps_the_callers_spawn_line() {
        debug_on();
        let events = Events::default();
        let rt = routed(Builder::new_multi_thread().worker_threads(2), &events)
            .build()
            .unwrap();
        let (line, task) =
            rt.block_on(async { (line!(), pollwatch::spawn(async { block_thread(MS150) })) });
        rt.block_on(task).unwrap();
        let at = format!("tests/runtime.rs:{line}");
        eventually("the slow-poll warning at the caller's line", || {
            let slow = events.slow_polls();
            slow.iter()
                .any(|e| e.field("spawned_at") == Some(&at))
                .then_some(())
        });
    }

    #[async_timed]
    async fn annotated_in_task() {
        block_thread(MS150);
    }

    #[test]
    fn annotated_fn_inside_a_timed_task_gives_exactly_one_warning() {
        debug_on();
        let events = Events::default();
        let rt = routed(Builder::new_multi_thread().worker_threads(2), &events)
            .build()
            .unwrap();
        rt.block_on(async { tokio::spawn(annotated_in_task()).await.unwrap() });
        eventually("the slow-poll warning", || {
            (!events.slow_polls().is_empty()).then_some(())
        });
        settle();
        let slow = events.slow_polls();
        assert_eq!(slow.len(), 1, "one poll, one warning: {slow:?}");
        assert_eq!(slow[0].get("fn"), "annotated_in_task");
        assert_eq!(slow[0].get("chain"), "annotated_in_task");
        assert!(slow[0].field("task").is_some(), "the task is named too");
    }

    #[test]
    fn user_hooks_are_chained() {
        debug_on();
        let before = Arc::new(AtomicUsize::new(0));
        let after = Arc::new(AtomicUsize::new(0));
        let (b, a) = (before.clone(), after.clone());
        let events = Events::default();
        let rt = routed(Builder::new_multi_thread(), &events)
            .on_before_task_poll(move |_| {
                b.fetch_add(1, Ordering::Relaxed);
            })
            .on_after_task_poll(move |_| {
                a.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::spawn(async {
                tokio::task::yield_now().await;
                block_thread(MS150);
            })
            .await
            .unwrap()
        });
        // The last after-hook may still be running, even after the runtime is dropped.
        drop(rt);
        eventually("every before-hook to have its after-hook", || {
            let (b, a) = (
                before.load(Ordering::Relaxed),
                after.load(Ordering::Relaxed),
            );
            (b >= 2 && b == a).then_some(())
        });
        assert_eq!(
            events.slow_polls().len(),
            1,
            "pollwatch hooks ran too: {:?}",
            events.all()
        );
    }

    /// `tokio::spawn`, returning the line Tokio records as the spawn location.
    #[track_caller]
    fn spawn_at_line<F>(f: F) -> (tokio::task::JoinHandle<()>, u32)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        (tokio::spawn(f), std::panic::Location::caller().line())
    }

    #[test]
    fn mixed_workload_reports_exactly_the_blockers() {
        debug_on();
        let events = Events::default();
        let rt = routed(Builder::new_multi_thread().worker_threads(2), &events)
            .build()
            .unwrap();
        let mut blocker_lines = Vec::new();
        rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..1_000u64 {
                handles.push(tokio::spawn(async move {
                    for _ in 0..5 {
                        if i % 2 == 0 {
                            tokio::task::yield_now().await;
                        } else {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }));
            }
            for (h, line) in [
                spawn_at_line(async { block_thread(MS150) }),
                spawn_at_line(async {
                    support::busy_loop(MS150);
                }),
                spawn_at_line(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    block_thread(Duration::from_millis(250));
                }),
            ] {
                handles.push(h);
                blocker_lines.push(line);
            }
            for h in handles {
                h.await.unwrap();
            }
        });
        drop(rt);
        let expected: std::collections::BTreeSet<String> = blocker_lines
            .iter()
            .map(|l| format!("tests/runtime.rs:{l}"))
            .collect();
        let reported = || -> std::collections::BTreeSet<String> {
            let slow = events.slow_polls();
            slow.iter()
                .filter_map(|e| e.field("spawned_at").map(str::to_owned))
                .collect()
        };
        eventually("all three blockers", || {
            (reported().len() >= 3).then_some(())
        });
        settle();
        assert_eq!(reported(), expected, "false positives or negatives");
        assert_eq!(
            events.slow_polls().len(),
            3,
            "one warning each: {:?}",
            events.slow_polls()
        );
    }

    #[test]
    fn busy_but_cooperative_tasks_raise_nothing() {
        debug_on();
        let events = Events::default();
        let rt = routed(Builder::new_multi_thread().worker_threads(2), &events)
            .build()
            .unwrap();
        let polls = rt.block_on(async {
            let tasks: Vec<_> = (0..10_000)
                .map(|_| {
                    tokio::spawn(async {
                        for _ in 0..10 {
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            10_000 * 11
        });
        assert_eq!(polls, 110_000);
        assert!(events.slow_polls().is_empty(), "{:?}", events.slow_polls());
        assert!(
            events.with_target(targets::LAG).is_empty(),
            "{:?}",
            events.with_target(targets::LAG)
        );
    }
}
