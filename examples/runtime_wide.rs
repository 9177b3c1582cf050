//! asyncio's debug mode watches every callback, not only decorated ones. With
//! `--cfg tokio_unstable`, pollwatch watches every Tokio task too, through Tokio's task poll hooks:
//!
//! ```text
//! RUSTFLAGS="--cfg tokio_unstable" cargo run --example runtime_wide
//! ```
//!
//! A hundred healthy tasks sleep and tick; one task nobody annotated calls `std::thread::sleep`.
//! pollwatch reports that task with its id and the line that spawned it, and, inside another task,
//! an annotated fn by name with its chain. The healthy tasks that had to wait are reported as lag.
//!
//! Without `tokio_unstable` (`cargo run --example runtime_wide`), un-annotated tasks cannot be
//! seen: only the annotated fn is reported, and the heartbeat reports the lag the blocker caused.

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

    // Nobody annotated this task: only the task hooks can see it.
    let legacy = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        std::thread::sleep(Duration::from_millis(300)); // a blocking call
    });

    let upload = tokio::spawn(handle_upload(4096));

    let start = Instant::now();
    for task in healthy {
        task.await.expect("healthy task");
    }
    legacy.await.expect("legacy task");
    upload.await.expect("upload task");
    tracing::info!(
        "100 healthy tasks ticking every 10 ms took {:.2?}; without the two blockers: ~100 ms",
        start.elapsed()
    );
}
