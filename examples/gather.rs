//! asyncio's `gather` and `as_completed`, in Tokio and futures:
//!
//! - `futures::future::join_all`: results in the order the futures were given (`gather`);
//! - `tokio::task::JoinSet`: spawned tasks, joined in completion order;
//! - `futures::stream::FuturesUnordered`: results as they complete (`as_completed`), without
//!   spawning.
//!
//! Every call is timed; total time ≈ the longest delay each time, and no poll blocks.
//!
//! ```text
//! cargo run --example gather
//! ```

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use pollwatch::async_timed;
use tokio::task::JoinSet;

#[async_timed]
async fn delay(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

#[tokio::main]
async fn main() {
    pollwatch::init();

    let start = Instant::now();
    let results = futures::future::join_all([300, 100, 200].map(delay)).await;
    println!(
        "join_all (gather): {results:?} in {:.2?} — in call order",
        start.elapsed()
    );

    let start = Instant::now();
    let mut set = JoinSet::new();
    for ms in [300, 100, 200] {
        set.spawn(delay(ms));
    }
    let mut order = Vec::new();
    while let Some(res) = set.join_next().await {
        order.push(res.expect("delay does not panic"));
    }
    println!(
        "JoinSet: {order:?} in {:.2?} — in completion order",
        start.elapsed()
    );

    let start = Instant::now();
    let mut pending: FuturesUnordered<_> = [300, 100, 200].into_iter().map(delay).collect();
    let mut order = Vec::new();
    while let Some(ms) = pending.next().await {
        order.push(ms);
    }
    println!(
        "FuturesUnordered (as_completed): {order:?} in {:.2?}",
        start.elapsed()
    );
    // Writes what POLLWATCH_HTML / POLLWATCH_TRACE / POLLWATCH_REPORT ask for, and says where.
    pollwatch::write_reports();
}
