//! asyncio's debug mode watches every callback, not only decorated ones. pollwatch watches every
//! Tokio task of its runtime too, annotated or not, and names an un-annotated culprit from the
//! blocked thread's native stack: its fn, its line and the async fns above it.
//!
//! ```text
//! cargo run --example runtime_wide
//! RUSTFLAGS="--cfg tokio_unstable" cargo run --example runtime_wide
//! ```
//!
//! A hundred healthy tasks sleep and tick; one task nobody annotated calls `std::thread::sleep`
//! two async fns deep (`legacy_job > Cache::refresh`); inside another task, an annotated fn
//! spins. The healthy tasks that had to wait are reported as lag.
//!
//! - With `--cfg tokio_unstable`, Tokio's task poll hooks time every task poll: the blocking
//!   task is reported with its task id and spawn line, CPU-bound or blocking.
//! - On stable Tokio, the runtime's park hooks tell pollwatch which threads are workers: a worker
//!   held in one blocking system call is reported (for at least as long as the watchdog saw it);
//!   a busy loop in an un-annotated task is what stable cannot see.

use std::time::{Duration, Instant};

#[pollwatch::async_timed]
async fn resize_image(bytes: usize) -> usize {
    // CPU-bound work in an async fn: should be in `spawn_blocking`.
    let start = Instant::now();
    let mut x = 0usize;
    while start.elapsed() < Duration::from_millis(150) {
        x = std::hint::black_box(x.wrapping_add(bytes));
    }
    x
}

#[pollwatch::async_timed]
async fn handle_upload(bytes: usize) -> usize {
    tokio::time::sleep(Duration::from_millis(20)).await;
    resize_image(bytes).await
}

/// Old code, never annotated.
async fn legacy_job() {
    tokio::time::sleep(Duration::from_millis(30)).await;
    Cache.refresh().await;
}

struct Cache;

impl Cache {
    async fn refresh(&self) {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(300)); // a blocking call
    }
}

#[pollwatch::main(flavor = "current_thread")]
async fn main() {
    pollwatch::init(); // its fmt output; without it, only the warnings would print
    let healthy: Vec<_> = (0..100)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..10 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();

    // Nobody annotated this task: its stack names it.
    let legacy = tokio::spawn(legacy_job());

    let upload = tokio::spawn(handle_upload(4096));

    let start = Instant::now();
    for task in healthy {
        task.await.expect("healthy task");
    }
    legacy.await.expect("legacy task");
    upload.await.expect("upload task");
    println!(
        "100 healthy tasks ticking every 10 ms took {:.2?}; without the two blockers: ~100 ms",
        start.elapsed()
    );
}
