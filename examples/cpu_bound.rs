//! The asyncio tutorial's first lesson: CPU-bound work in a coroutine blocks the event loop.
//!
//! Two tasks each count to 100 million. On one thread (asyncio's model) they cannot overlap:
//! the second starts only when the first finishes, and each poll blocks the executor for the
//! whole count. pollwatch reports both polls and blames `cpu_bound_work`.
//!
//! ```text
//! cargo run --example cpu_bound
//! ```
//!
//! The fix is `tokio::task::spawn_blocking` (asyncio: `run_in_executor`), shown last.

use std::hint::black_box;
use std::time::Instant;

use pollwatch::async_timed;

const COUNT: u64 = 100_000_000;

fn count() -> u64 {
    let mut counter = 0u64;
    for _ in 0..COUNT {
        counter = black_box(counter + 1);
    }
    counter
}

#[async_timed]
async fn cpu_bound_work() -> u64 {
    count()
}

#[async_timed]
async fn offloaded_work() -> u64 {
    tokio::task::spawn_blocking(count)
        .await
        .expect("the count does not panic")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    pollwatch::init();
    let start = Instant::now();
    let task_one = tokio::spawn(cpu_bound_work());
    let task_two = tokio::spawn(cpu_bound_work());
    let (one, two) = (task_one.await.unwrap(), task_two.await.unwrap());
    println!(
        "two CPU-bound tasks counted to {one} and {two} in {:.2?}: one after the other",
        start.elapsed()
    );

    let start = Instant::now();
    let (one, two) = tokio::join!(offloaded_work(), offloaded_work());
    println!(
        "with spawn_blocking: {one} and {two} in {:.2?}, and the executor stayed free",
        start.elapsed()
    );
    // Writes what POLLWATCH_HTML / POLLWATCH_TRACE / POLLWATCH_REPORT ask for, and says where.
    pollwatch::write_reports();
}
