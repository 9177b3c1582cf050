//! The README's quick start: one annotated handler whose very first poll calls a blocking
//! `std::thread::sleep` (not fine), then awaits a timer (fine): pollwatch meets it cold, in a
//! fresh process.
//!
//! ```text
//! cargo run --example quick_start
//! ```

use std::time::Duration;

#[pollwatch::async_timed]
async fn handler(user: &str) -> usize {
    std::thread::sleep(Duration::from_millis(150)); // not fine: blocks the worker
    tokio::time::sleep(Duration::from_millis(10)).await; // fine: awaiting yields the thread
    user.len()
}

#[tokio::main]
async fn main() {
    pollwatch::init(); // a fmt subscriber honouring RUST_LOG; skip it if you have your own
    handler("ann").await;
    // Writes what POLLWATCH_HTML / POLLWATCH_TRACE / POLLWATCH_REPORT ask for, and says where.
    pollwatch::write_reports();
}
