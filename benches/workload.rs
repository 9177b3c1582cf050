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

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
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

/// Benches `task` × 10,000 on the plain Tokio runtime `rt`, with debug mode as `mode`.
fn on_tokio<F, Fut>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    mode: DebugMode,
    task: F,
) where
    F: Fn(u64) -> Fut + Copy,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    pollwatch::set_debug_mode(mode);
    g.bench_function(name, |b| b.iter(|| black_box(rt.block_on(spawn_all(task)))));
}

fn new_tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn workload(c: &mut Criterion) {
    let mut g = c.benchmark_group("10k tasks x 100 yields");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    let tokio_rt = new_tokio_runtime();

    on_tokio(&mut g, &tokio_rt, "plain tokio", DebugMode::Off, plain_task);
    let monitor = tokio_metrics::TaskMonitor::new();
    g.bench_function("plain tokio, TaskMonitor::instrument", |b| {
        b.iter(|| black_box(tokio_rt.block_on(spawn_all(|n| monitor.instrument(plain_task(n))))))
    });
    on_tokio(
        &mut g,
        &tokio_rt,
        "async_timed, debug off",
        DebugMode::Off,
        timed_task,
    );
    on_tokio(
        &mut g,
        &tokio_rt,
        "async_timed, debug on",
        DebugMode::On,
        timed_task,
    );
    on_tokio(
        &mut g,
        &tokio_rt,
        "async_timed, production (watch)",
        DebugMode::Watch,
        timed_task,
    );
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
    pollwatch::set_debug_mode(DebugMode::Watch);
    g.bench_function(
        format!("async_timed, production (watch), pollwatch runtime ({hooks}watchdog)"),
        |b| b.iter(|| black_box(pollwatch_rt.block_on(spawn_all(timed_task)))),
    );
    pollwatch::set_debug_mode(DebugMode::On);
    g.finish();
}

/// The same shape with ~1 µs of work in every poll: how much of a poll that does something
/// debug mode costs.
fn working(c: &mut Criterion) {
    let mut g = c.benchmark_group("10k tasks x 100 polls of 1us work");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    let rt = new_tokio_runtime();
    on_tokio(
        &mut g,
        &rt,
        "plain tokio",
        DebugMode::Off,
        plain_working_task,
    );
    on_tokio(
        &mut g,
        &rt,
        "async_timed, debug off",
        DebugMode::Off,
        timed_working_task,
    );
    on_tokio(
        &mut g,
        &rt,
        "async_timed, debug on",
        DebugMode::On,
        timed_working_task,
    );
    on_tokio(
        &mut g,
        &rt,
        "async_timed, production (watch)",
        DebugMode::Watch,
        timed_working_task,
    );
    g.finish();
}

criterion_group!(benches, workload, working);
criterion_main!(benches);
