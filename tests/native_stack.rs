//! The culprit named without annotations: an un-annotated spawned task that blocks a worker
//! is reported with the fn and line its native stack shows, and the async chain above it
//! (`handle_request > Handler::process > Store::load`), in the stall event, the slow-poll
//! event and a failing `#[pollwatch::test]`: with `--cfg tokio_unstable` through the task poll
//! hooks, on stable Tokio through the workers' park hooks (a blocking system call only).
//!
//! Real blocking throughout: a sleep, a `std::sync::Mutex` held by another thread, a read on
//! a socket whose peer writes late, a busy loop.
#![cfg(all(feature = "tokio", feature = "stacks", target_os = "linux"))]

mod support;

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pollwatch::{Builder, DebugMode, targets};
use support::{Captured, Events, capture, eventually, routed, unrouted};

/// Long enough to be seen (threshold 100 ms) and named from the stack while it lasts on a
/// loaded machine: with every core busy, the symbolizer (one thread, competing for a CPU with
/// the other tests' spinning tasks) was seen taking over 300 ms for a cold stack.
const BLOCK: Duration = Duration::from_millis(1000);

fn setup() {
    support::config()
        .debug_mode(DebugMode::On)
        .slow_poll(Duration::from_millis(100))
        .apply();
    // As `#[pollwatch::test]` does: the symbolizer is warm before anything blocks, so the stall
    // is named while it lasts even when the warm-up competes with busy cores.
    static WATCHDOG: std::sync::OnceLock<pollwatch::WatchdogGuard> = std::sync::OnceLock::new();
    assert!(
        WATCHDOG
            .get_or_init(pollwatch::watchdog)
            .wait_until_ready(Duration::from_secs(60)),
        "the symbolizer warmed up"
    );
}

/// How a request blocks its worker.
enum How {
    Sleep,
    Mutex(Arc<Mutex<u64>>),
    Socket(UnixStream),
    Spin,
}

// Three levels of plain, un-annotated async fns: a free fn, then two methods.

async fn handle_request(how: How) -> u64 {
    tokio::task::yield_now().await;
    Handler.process(how).await + 1
}

struct Handler;

impl Handler {
    async fn process(&self, how: How) -> u64 {
        tokio::task::yield_now().await;
        Store.load(how).await
    }
}

struct Store;

const SLEEP_LINE: u32 = line!() + 8;
const LOCK_LINE: u32 = line!() + 10;
const READ_LINE: u32 = line!() + 13;
impl Store {
    async fn load(&self, how: How) -> u64 {
        tokio::task::yield_now().await;
        match how {
            How::Sleep => {
                std::thread::sleep(BLOCK);
                1
            }
            How::Mutex(m) => *m.lock().unwrap(),
            How::Socket(mut s) => {
                let mut buf = [0u8; 4];
                // A synchronous read: its peer writes `BLOCK` later.
                s.read(&mut buf).map_or(0, |n| n as u64)
            }
            How::Spin => {
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < BLOCK {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
                n
            }
        }
    }
}

/// Every event about `name`, wherever it was emitted (the workers' sink, the watchdog's).
fn about(events: &Events, name: &str) -> Vec<Captured> {
    let ours = |e: &Captured| e.field("fn") == Some(name);
    let mut all: Vec<Captured> = events.all().into_iter().filter(ours).collect();
    all.extend(unrouted().all().into_iter().filter(ours));
    all.sort_by_key(|e| e.at);
    all
}

/// Runs `handle_request(how)` as an un-annotated task on a pollwatch runtime and returns what
/// was reported about `Store::load` once its slow-poll report is in.
fn blocked_request(how: How, unique: &str) -> (Vec<Captured>, Vec<Captured>) {
    setup();
    let events = Events::default();
    let rt = routed(Builder::new_multi_thread().worker_threads(2), &events)
        .tokio(|b| {
            b.thread_name(unique);
        })
        .build()
        .unwrap();
    let ((), _) = capture(|| {
        rt.block_on(async {
            tokio::spawn(handle_request(how)).await.unwrap();
        });
    });
    drop(rt);
    let on_this_runtime = |e: &Captured| {
        e.field("thread").is_some_and(|t| t == unique)
            || e.thread.as_deref() == Some(unique)
            || e.message().contains(unique)
    };
    let slow = eventually("the slow-poll report", || {
        let slow: Vec<_> = about(&events, "Store::load")
            .into_iter()
            .filter(|e| e.target == targets::SLOW_POLL && on_this_runtime(e))
            .collect();
        (!slow.is_empty()).then_some(slow)
    });
    let stalls = about(&events, "Store::load")
        .into_iter()
        .filter(|e| e.target == targets::STALL && on_this_runtime(e))
        .collect();
    (stalls, slow)
}

/// The stall report that carries the stack: the first report, or (the symbolizer was cold,
/// the poll ended first) the follow-up.
fn named(stalls: &[Captured]) -> &Captured {
    stalls
        .iter()
        .find(|e| e.field("stack").is_some())
        .unwrap_or_else(|| panic!("a stall report with the stack: {stalls:#?}"))
}

fn assert_named(e: &Captured, line: u32, syscall: Option<&str>) {
    assert_eq!(e.get("fn"), "Store::load", "{e:?}");
    assert_eq!(
        e.get("location"),
        format!("tests/native_stack.rs:{line}"),
        "{e:?}"
    );
    assert_eq!(
        e.get("chain"),
        "handle_request > Handler::process > Store::load",
        "{e:?}"
    );
    assert_eq!(e.field("syscall"), syscall, "{e:?}");
    let message = e.message();
    assert!(
        message.starts_with("Store::load "),
        "the headline names the fn: {message}"
    );
    assert!(
        message.contains(&format!(" at tests/native_stack.rs:{line} ")),
        "{message}"
    );
    assert!(
        message.contains("[handle_request > Handler::process > Store::load]"),
        "{message}"
    );
    if cfg!(tokio_unstable) {
        assert!(
            message.contains(" in task ") && message.contains(" spawned at tests/native_stack.rs:"),
            "the task hooks know the task: {message}"
        );
    } else if e.target == targets::SLOW_POLL {
        assert!(
            message.contains(" blocked the executor for about ")
                && message.contains(" on worker thread "),
            "stable Tokio knows the worker, and about how long: {message}"
        );
    }
}

#[test]
fn a_sleeping_task_is_named_from_its_stack() {
    let (stalls, slow) = blocked_request(How::Sleep, "ns-sleep");
    let stall = stalls.first().unwrap_or_else(|| {
        panic!(
            "a stall report while it slept: {:#?}",
            unrouted().with_target(targets::STALL)
        )
    });
    assert_named(stall, SLEEP_LINE, Some("clock_nanosleep"));
    assert!(
        stall.message().contains("(blocking: clock_nanosleep)"),
        "{stall:?}"
    );
    assert!(
        stall.get("stack").starts_with("native stack (unwound"),
        "{stall:?}"
    );
    assert!(
        stall.get("stack").contains("std::thread"),
        "the block keeps std's frames"
    );
    assert_named(&slow[0], SLEEP_LINE, Some("clock_nanosleep"));
    assert!(
        slow[0]
            .message()
            .ends_with("; reported as a stall while it ran"),
        "{slow:?}"
    );
    assert!(
        slow[0].duration("duration") >= Duration::from_millis(250),
        "{slow:?}"
    );
}

#[test]
fn a_task_waiting_on_a_std_mutex_is_named_from_its_stack() {
    let mutex = Arc::new(Mutex::new(7));
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let holder = std::thread::spawn({
        let mutex = mutex.clone();
        move || {
            let _guard = mutex.lock().unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(BLOCK);
        }
    });
    locked.recv().unwrap();
    let (stalls, slow) = blocked_request(How::Mutex(mutex), "ns-mutex");
    holder.join().unwrap();
    assert_named(named(&stalls), LOCK_LINE, Some("futex"));
    assert_named(&slow[0], LOCK_LINE, Some("futex"));
}

#[test]
fn a_task_reading_a_socket_is_named_from_its_stack() {
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(BLOCK);
        peer.write_all(b"late").unwrap();
    });
    let (stalls, slow) = blocked_request(How::Socket(ours), "ns-socket");
    writer.join().unwrap();
    let stall = named(&stalls);
    assert_named(stall, READ_LINE, Some("recvfrom"));
    assert!(
        stall.message().contains("(blocking: recvfrom)"),
        "{stall:?}"
    );
    assert_named(&slow[0], READ_LINE, Some("recvfrom"));
}

/// CPU-bound: with task hooks the poll is timed and the stack sampled (a perf event); stable
/// Tokio sees only blocking system calls, so a busy loop in an un-annotated task is what it
/// cannot see (the guide, `every_task.md`, "What stable Tokio sees").
#[test]
fn a_spinning_task_is_named_from_a_sample_with_task_hooks() {
    let started = Instant::now();
    setup();
    let events = Events::default();
    let rt = routed(Builder::new_multi_thread().worker_threads(2), &events)
        .tokio(|b| {
            b.thread_name("ns-spin");
        })
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::spawn(handle_request(How::Spin)).await.unwrap();
    });
    drop(rt);
    assert!(started.elapsed() >= BLOCK);
    if !cfg!(tokio_unstable) {
        support::settle();
        let seen: Vec<_> = about(&events, "Store::load")
            .into_iter()
            .filter(|e| e.field("thread") == Some("ns-spin"))
            .collect();
        assert!(
            seen.is_empty(),
            "stable Tokio does not see a busy loop: {seen:?}"
        );
        return;
    }
    let stall = eventually("a stall report", || {
        unrouted()
            .with_target(targets::STALL)
            .into_iter()
            .find(|e| e.field("thread") == Some("ns-spin") && e.field("report") == Some("1"))
    });
    assert_eq!(stall.get("kind"), "cpu-bound", "{stall:?}");
    if perf_allowed() {
        assert_eq!(stall.get("fn"), "Store::load", "{stall:?}");
        assert!(
            stall.field("syscall").is_none(),
            "a running thread: {stall:?}"
        );
        assert_eq!(
            stall.get("chain"),
            "handle_request > Handler::process > Store::load"
        );
        assert!(
            stall
                .message()
                .contains("(cpu-bound) at tests/native_stack.rs:"),
            "{stall:?}"
        );
    }
}

/// Whether this machine lets a process sample its own threads (`perf_event_paranoid` ≤ 2).
fn perf_allowed() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .is_some_and(|level| level <= 2)
}

// A failing `#[pollwatch::test]` names the fn from the stack, on either flavor, both cfgs.

#[pollwatch::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "Store::load at tests/native_stack.rs:")]
async fn an_unannotated_task_blocking_a_worker_fails_its_test() {
    tokio::spawn(handle_request(How::Sleep)).await.unwrap();
}

#[pollwatch::test]
#[should_panic(expected = "[handle_request > Handler::process > Store::load]")]
async fn an_unannotated_task_blocking_the_test_thread_fails_its_test() {
    tokio::spawn(handle_request(How::Sleep)).await.unwrap();
}

// `block_in_place` hands the worker's other tasks to another thread first: blocking inside it
// is what it is for. No warning, no failed test.

#[pollwatch::async_timed]
async fn offloads() {
    tokio::task::block_in_place(|| std::thread::sleep(BLOCK));
}

#[pollwatch::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_in_place_is_not_a_blocking_poll() {
    tokio::spawn(async {
        tokio::task::block_in_place(|| std::thread::sleep(BLOCK));
    })
    .await
    .unwrap();
    tokio::spawn(offloads()).await.unwrap();
}

#[test]
fn block_in_place_raises_no_warning() {
    setup();
    let events = Events::default();
    let rt = routed(Builder::new_multi_thread().worker_threads(2), &events)
        .tokio(|b| {
            b.thread_name("ns-in-place");
        })
        .build()
        .unwrap();
    rt.block_on(async { tokio::spawn(offloads()).await.unwrap() });
    drop(rt);
    support::settle();
    let reported: Vec<_> = about(&events, "offloads")
        .into_iter()
        .filter(|e| e.target == targets::SLOW_POLL || e.target == targets::STALL)
        .collect();
    assert!(reported.is_empty(), "{reported:?}");
}
