//! A soak run (not a CI test): a mixed workload in debug mode for a long time, with a stall
//! injected every two seconds. Every 10 s it prints the process's resident memory, threads and
//! open file descriptors; at the end it checks they stayed flat and that every injected stall was
//! reported exactly once, as a stall and as a slow poll, in `pollwatch::report()`.
//!
//! ```sh
//! cargo run --release --example soak -- 10m     # the BENCHMARKS.md run; default 1m
//! ```

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use pollwatch::{Config, DebugMode};

static INJECTED: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

#[pollwatch::async_timed(level = "trace")]
async fn handle(request: u64) -> u64 {
    CALLS.fetch_add(1, Relaxed);
    tokio::task::yield_now().await;
    request.wrapping_mul(31)
}

#[pollwatch::async_timed(level = "trace")]
async fn times_out() {
    tokio::time::sleep(Duration::from_secs(5)).await;
}

#[pollwatch::async_timed]
async fn injected_stall() {
    INJECTED.fetch_add(1, Relaxed);
    std::thread::sleep(Duration::from_millis(150));
}

/// Resident memory (KiB), threads and open fds of this process.
fn usage() -> (u64, usize, usize) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let count = |dir: &str| std::fs::read_dir(dir).map_or(0, |d| d.count());
    (rss, count("/proc/self/task"), count("/proc/self/fd"))
}

fn main() {
    let run_for: Duration = std::env::args()
        .nth(1)
        .map_or(Duration::from_secs(60), |a| {
            a.parse::<humantime::Duration>()
                .map(Into::into)
                .unwrap_or_else(|e| {
                    eprintln!("usage: soak [DURATION such as 10m]: {a:?}: {e}");
                    std::process::exit(2);
                })
        });
    pollwatch::init();
    Config::from_env()
        .unwrap_or_default()
        .debug_mode(DebugMode::On)
        .apply();
    let rt = pollwatch::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let start = Instant::now();
    let mut samples = Vec::new();
    rt.block_on(async {
        // Steady traffic: 200 clients, each a request every 10 ms, some with a timeout that
        // fires (cancellation), and short-lived tasks spawned all the time.
        for client in 0..200u64 {
            tokio::spawn(async move {
                let mut n = client;
                loop {
                    n = handle(n).await;
                    if n % 7 == 0 {
                        let _ = tokio::time::timeout(Duration::from_millis(1), times_out()).await;
                    }
                    tokio::spawn(async move { handle(n).await });
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
        let mut next_sample = Instant::now();
        while start.elapsed() < run_for {
            tokio::time::sleep(Duration::from_secs(2)).await;
            // A stall in a task of its own, on one worker.
            let _ = tokio::spawn(injected_stall()).await;
            if Instant::now() >= next_sample {
                let (rss, threads, fds) = usage();
                println!(
                    "{:>6.0}s  rss {rss} KiB  threads {threads}  fds {fds}  calls {}  stalls injected {}",
                    start.elapsed().as_secs_f64(),
                    CALLS.load(Relaxed),
                    INJECTED.load(Relaxed)
                );
                samples.push((rss, threads, fds));
                next_sample += Duration::from_secs(10);
            }
        }
    });
    drop(rt);

    let injected = INJECTED.load(Relaxed) as usize;
    let report = pollwatch::report();
    let stalls = report
        .stalls
        .iter()
        .filter(|s| s.fn_name.as_deref() == Some("injected_stall") && s.report == 1)
        .count();
    let slow = report
        .slow_polls
        .iter()
        .filter(|s| s.fn_name.as_deref() == Some("injected_stall"))
        .count();
    // Memory after warm-up: the first minute allocates the runtime's and tracing's structures.
    let warm = samples.len().min(6).saturating_sub(1);
    let (rss0, threads0, fds0) = samples.get(warm).copied().unwrap_or_default();
    let (rss1, threads1, fds1) = samples.last().copied().unwrap_or_default();
    println!(
        "soak: {:.0}s, {} calls, {injected} stalls injected: {stalls} reported as stalls, {slow} as \
         slow polls; rss {rss0} -> {rss1} KiB, threads {threads0} -> {threads1}, fds {fds0} -> {fds1}",
        start.elapsed().as_secs_f64(),
        CALLS.load(Relaxed),
    );
    let mut failed = Vec::new();
    if stalls != injected || slow != injected {
        failed.push("every injected stall reported exactly once");
    }
    // Flat: no growth past 10 % (+1 MiB) after warm-up, same threads and fds.
    if rss1 > rss0 + rss0 / 10 + 1024 {
        failed.push("resident memory flat");
    }
    if threads1 != threads0 || fds1 != fds0 {
        failed.push("threads and fds flat");
    }
    if failed.is_empty() {
        println!("soak: ok");
    } else {
        println!("soak: FAILED: {}", failed.join(", "));
        std::process::exit(1);
    }
}
