//! asyncio's `create_task` lesson: three delays of 1, 2 and 3 seconds, started together, finish
//! after about 3 seconds in all, because awaiting a timer does not block the executor. pollwatch
//! times each call (busy ≈ 0, idle ≈ the delay) and reports no slow poll.
//!
//! ```text
//! cargo run --example concurrent_delays
//! ```

use std::time::Duration;

use pollwatch::async_timed;

#[async_timed]
async fn delay(seconds: u64) -> u64 {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    seconds
}

#[async_timed]
async fn run() -> Vec<u64> {
    let tasks = [3, 1, 2].map(|s| tokio::spawn(delay(s)));
    let mut done = Vec::new();
    for task in tasks {
        done.push(task.await.expect("delay does not panic"));
    }
    done
}

#[tokio::main]
async fn main() {
    pollwatch::init();
    let done = run().await;
    println!("slept {done:?} seconds concurrently; `run` took the longest delay, not the sum");
    // Writes what POLLWATCH_HTML / POLLWATCH_TRACE / POLLWATCH_REPORT ask for, and says where.
    pollwatch::write_reports();
}
