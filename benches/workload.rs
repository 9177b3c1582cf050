//! A spawn-and-yield workload on the multi-thread runtime: 10,000 tasks yielding 100 times each
//! (1,010,000 polls per iteration), timed as a whole:
//!
//! - on a plain Tokio runtime: un-annotated tasks; the same under
//!   `tokio_metrics::TaskMonitor::instrument`; `#[async_timed]` tasks with debug mode off, and on;
//! - on a `pollwatch::Builder` runtime (with `--cfg tokio_unstable` its task poll hooks time
//!   every task; its watchdog and heartbeat run): un-annotated tasks, and `#[async_timed]` tasks
//!   in debug mode.
//!
//! A second group gives every poll ~1 µs of CPU work, as polls that do something have.
//!
//! Compare within one runtime: two runtime instances of the same kind differ by more than the
//! instrumentation on this 2-core VM (up to 1.7× for the same plain workload).
//!
//! ```text
//! cargo bench --bench workload
//! RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/unstable cargo bench --bench workload
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pollwatch::{DebugMode, async_timed};

const TASKS: u64 = 10_000;
const YIELDS: u64 = 100;

async fn plain_task(n: u64) -> u64 {
    for _ in 0..YIELDS {
        tokio::task::yield_now().await;
    }
    n
}

#[async_timed]
async fn timed_task(n: u64) -> u64 {
    for _ in 0..YIELDS {
        tokio::task::yield_now().await;
    }
    n
}

/// About a microsecond of CPU work: what a poll that parses or serializes a little does.
fn work(n: u64) -> u64 {
    let mut x = n;
    for i in 0..WORK {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    x
}

const WORK: u64 = 1_200;

async fn plain_working_task(n: u64) -> u64 {
    let mut acc = 0;
    for _ in 0..YIELDS {
        acc ^= work(n);
        tokio::task::yield_now().await;
    }
    acc
}

#[async_timed]
async fn timed_working_task(n: u64) -> u64 {
    let mut acc = 0;
    for _ in 0..YIELDS {
        acc ^= work(n);
        tokio::task::yield_now().await;
    }
    acc
}

async fn spawn_all<F, Fut>(task: F) -> u64
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let handles: Vec<_> = (0..TASKS).map(|i| tokio::spawn(task(i))).collect();
    let mut sum = 0;
    for h in handles {
        sum ^= h.await.expect("task");
    }
    sum
}

fn workload(c: &mut Criterion) {
    let mut g = c.benchmark_group("10k tasks x 100 yields");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    g.bench_function("plain tokio", |b| {
        b.iter(|| black_box(tokio_rt.block_on(spawn_all(plain_task))))
    });
    let monitor = tokio_metrics::TaskMonitor::new();
    g.bench_function("plain tokio, TaskMonitor::instrument", |b| {
        b.iter(|| black_box(tokio_rt.block_on(spawn_all(|n| monitor.instrument(plain_task(n))))))
    });
    pollwatch::set_debug_mode(DebugMode::Off);
    g.bench_function("async_timed, debug off", |b| {
        b.iter(|| black_box(tokio_rt.block_on(spawn_all(timed_task))))
    });
    pollwatch::set_debug_mode(DebugMode::On);
    g.bench_function("async_timed, debug on", |b| {
        b.iter(|| black_box(tokio_rt.block_on(spawn_all(timed_task))))
    });
    drop(tokio_rt);

    let pollwatch_rt = pollwatch::Builder::new_multi_thread().build().unwrap();
    let hooks = if cfg!(tokio_unstable) {
        "task hooks + "
    } else {
        ""
    };
    g.bench_function(
        format!("async_timed, debug on, pollwatch runtime ({hooks}watchdog)"),
        |b| b.iter(|| black_box(pollwatch_rt.block_on(spawn_all(timed_task)))),
    );
    g.bench_function(
        format!("plain tasks, debug on, pollwatch runtime ({hooks}watchdog)"),
        |b| b.iter(|| black_box(pollwatch_rt.block_on(spawn_all(plain_task)))),
    );
    g.finish();
}

/// The same shape with ~1 µs of work in every poll: how much of a poll that does something
/// debug mode costs.
fn working(c: &mut Criterion) {
    let mut g = c.benchmark_group("10k tasks x 100 polls of 1us work");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    g.bench_function("plain tokio", |b| {
        b.iter(|| black_box(tokio_rt.block_on(spawn_all(plain_working_task))))
    });
    pollwatch::set_debug_mode(DebugMode::Off);
    g.bench_function("async_timed, debug off", |b| {
        b.iter(|| black_box(tokio_rt.block_on(spawn_all(timed_working_task))))
    });
    pollwatch::set_debug_mode(DebugMode::On);
    g.bench_function("async_timed, debug on", |b| {
        b.iter(|| black_box(tokio_rt.block_on(spawn_all(timed_working_task))))
    });
    g.finish();
}

criterion_group!(benches, workload, working);
criterion_main!(benches);
