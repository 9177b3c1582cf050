//! Whole-process cost on a yield-heavy workload, as a user measures it (`time ./binary`): N
//! tasks, each an `#[async_timed(level = "trace")]` fn yielding 200 times, on 2 workers,
//! against the same un-annotated work on a plain 2-worker Tokio runtime. Each configuration
//! is a fresh process (this bench runs itself as the child), timed from spawn to exit; rounds
//! alternate the configurations, so each is paired with plain Tokio measured in the same round.
//!
//! - `plain`: `tokio::runtime::Builder::new_multi_thread()`, un-annotated tasks;
//! - `off` / `watch` / `debug`: a `pollwatch::Builder` runtime (what `pollwatch::run` builds)
//!   with `POLLWATCH=0` / `watch` / `1` (with
//!   `--cfg tokio_unstable`, Tokio's task poll hooks time every task: "with hooks");
//! - `tokio+debug` / `tokio+watch`: the annotated tasks on a plain Tokio runtime, as under
//!   `#[tokio::main]` (no hooks in any build).
//!
//! ```text
//! cargo bench --bench process                      # N = 10,000 and 100,000, 5 rounds
//! RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/unstable cargo bench --bench process
//! cargo bench --bench process -- --rounds 3 --tasks 10000
//! ```
//!
//! Prints, per N and configuration, the median wall time and the median of its ratio to the
//! plain process of the same round (and that ratio's range).

use std::process::Command;
use std::time::{Duration, Instant};

const CHILD: &str = "POLLWATCH_PROCESS_BENCH_CHILD";
const YIELDS: u32 = 200;
const WORKERS: usize = 2;

async fn plain_task(n: u64) -> u64 {
    for _ in 0..YIELDS {
        tokio::task::yield_now().await;
    }
    n
}

#[pollwatch::async_timed(level = "trace")]
async fn timed_task(n: u64) -> u64 {
    for _ in 0..YIELDS {
        tokio::task::yield_now().await;
    }
    n
}

async fn spawn_all<F, Fut>(tasks: u64, task: F) -> u64
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|n| tokio::spawn(task(n))).collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await.expect("the task completes");
    }
    sum
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The child: one configuration's whole program.
fn child(config: &str, tasks: u64) {
    let sum = match config {
        "plain" => tokio_runtime().block_on(spawn_all(tasks, plain_task)),
        "tokio+debug" | "tokio+watch" => tokio_runtime().block_on(spawn_all(tasks, timed_task)),
        _ => pollwatch::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .build()
            .map(|rt| rt.block_on(spawn_all(tasks, timed_task)))
            .expect("a runtime"),
    };
    std::hint::black_box(sum);
}

/// Each configuration: its name and `POLLWATCH`.
const CONFIGS: &[(&str, Option<&str>)] = &[
    ("plain", None),
    ("off", Some("0")),
    ("watch", Some("watch")),
    ("debug", Some("1")),
    ("tokio+watch", Some("watch")),
    ("tokio+debug", Some("1")),
];

fn time_child(exe: &std::path::Path, config: &str, mode: Option<&str>, tasks: u64) -> Duration {
    let mut cmd = Command::new(exe);
    cmd.env(CHILD, format!("{config}:{tasks}"));
    match mode {
        Some(mode) => cmd.env("POLLWATCH", mode),
        None => cmd.env_remove("POLLWATCH"),
    };
    let start = Instant::now();
    let status = cmd.status().expect("the child runs");
    let took = start.elapsed();
    assert!(status.success(), "{config}: {status}");
    took
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        let (config, tasks) = spec.split_once(':').expect("config:tasks");
        child(config, tasks.parse().expect("a number of tasks"));
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, quickly.
    let quick = !args.iter().any(|a| a == "--bench");
    let rounds: usize = arg("--rounds").map_or(if quick { 1 } else { 5 }, |r| {
        r.parse().expect("--rounds N")
    });
    let sizes: Vec<u64> = match arg("--tasks") {
        Some(n) => vec![n.parse().expect("--tasks N")],
        None if quick => vec![100],
        None => vec![10_000, 100_000],
    };
    let exe = std::env::current_exe().expect("this bench's path");
    println!(
        "whole process, {WORKERS} workers, {YIELDS} yields per task, {rounds} rounds, tokio_unstable: {}",
        cfg!(tokio_unstable)
    );
    for &tasks in &sizes {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); CONFIGS.len()];
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); CONFIGS.len()];
        for _ in 0..rounds {
            let plain = time_child(&exe, "plain", None, tasks).as_secs_f64();
            for (i, (config, mode)) in CONFIGS.iter().enumerate() {
                let t = if i == 0 {
                    plain
                } else {
                    time_child(&exe, config, *mode, tasks).as_secs_f64()
                };
                times[i].push(t);
                ratios[i].push(t / plain);
            }
        }
        println!(
            "N = {tasks} tasks ({} polls)",
            tasks * u64::from(YIELDS + 1)
        );
        println!(
            "  {:<12} {:>10} {:>8} {:>16}",
            "config", "median", "ratio", "ratio range"
        );
        for (i, (config, _)) in CONFIGS.iter().enumerate() {
            let (lo, hi) = ratios[i]
                .iter()
                .fold((f64::MAX, 0.0_f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
            println!(
                "  {:<12} {:>8.1}ms {:>7.2}× {:>7.2}–{:.2}×",
                config,
                median(times[i].clone()) * 1e3,
                median(ratios[i].clone()),
                lo,
                hi
            );
        }
    }
}
