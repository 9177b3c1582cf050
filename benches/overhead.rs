//! Per-poll overhead of `#[async_timed]`: the same future polled 1,000 times to completion, bare
//! and instrumented, with debug mode off, on and in the production profile (`Watch`), with the
//! start/finish events disabled (no
//! subscriber) and enabled (a subscriber that accepts everything and writes nothing); and, for
//! comparison, the same future under `tracing::Instrument` (with a subscriber that enables the
//! span) and under `tokio_metrics::TaskMonitor::instrument`.
//!
//! Polled by hand with a no-op waker so that no executor cost hides the instrumentation cost.
//! Divide the reported time by 1,000 for the cost per poll.
//!
//! ```text
//! cargo bench --bench overhead
//! ```

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};

use criterion::{Criterion, criterion_group, criterion_main};
use pollwatch::{DebugMode, async_timed};

const POLLS: u32 = 1_000;

/// Returns `Pending` `n` times, then `Ready`.
struct YieldN(u32);

impl Future for YieldN {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        // Opaque to the optimizer, or the bare loop is folded away entirely.
        let left = black_box(self.0);
        if left == 0 {
            Poll::Ready(())
        } else {
            self.0 = left - 1;
            Poll::Pending
        }
    }
}

async fn bare(n: u32) {
    YieldN(n).await;
}

#[async_timed]
async fn timed(n: u32) {
    YieldN(n).await;
}

fn drive<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("1000 polls");
    g.bench_function("bare", |b| b.iter(|| drive(bare(black_box(POLLS)))));

    pollwatch::set_debug_mode(DebugMode::Off);
    g.bench_function("async_timed, debug off, events off", |b| {
        b.iter(|| drive(timed(black_box(POLLS))))
    });
    pollwatch::set_debug_mode(DebugMode::On);
    g.bench_function("async_timed, debug on, events off", |b| {
        b.iter(|| drive(timed(black_box(POLLS))))
    });
    pollwatch::set_debug_mode(DebugMode::Watch);
    g.bench_function("async_timed, production (watch), events off", |b| {
        b.iter(|| drive(timed(black_box(POLLS))))
    });
    // POLLWATCH_TRACE: every timed poll also goes into this thread's ring (it wraps after
    // 32,768 polls, so most iterations measure the overwrite, the steady state).
    let trace = std::env::temp_dir().join("pollwatch-bench-trace.json");
    pollwatch::Config::default()
        .debug_mode(DebugMode::On)
        .trace_to(trace.to_string_lossy())
        .apply();
    g.bench_function("async_timed, debug on + trace, events off", |b| {
        b.iter(|| drive(timed(black_box(POLLS))))
    });
    pollwatch::Config::default()
        .debug_mode(DebugMode::On)
        .apply();

    // A subscriber that enables every event and discards it: the cost of timing and logging.
    let sink = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(sink, || {
        pollwatch::set_debug_mode(DebugMode::Off);
        g.bench_function("async_timed, debug off, events on", |b| {
            b.iter(|| drive(timed(black_box(POLLS))))
        });
        pollwatch::set_debug_mode(DebugMode::On);
        g.bench_function("async_timed, debug on, events on", |b| {
            b.iter(|| drive(timed(black_box(POLLS))))
        });
    });
    // The alternatives, on the same future.
    let monitor = tokio_metrics::TaskMonitor::new();
    g.bench_function("tokio_metrics::TaskMonitor::instrument", |b| {
        b.iter(|| drive(monitor.instrument(bare(black_box(POLLS)))))
    });
    let sink = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(sink, || {
        use tracing::Instrument as _;
        g.bench_function("tracing::Instrument (span enabled)", |b| {
            b.iter(|| drive(bare(black_box(POLLS)).instrument(tracing::info_span!("bare"))))
        });
    });
    g.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
