//! asyncio's `wait_for`, `shield` and `cancel`, in Tokio:
//!
//! 1. `tokio::time::timeout` drops the call when time is up: pollwatch logs it as cancelled,
//!    with how long it ran and how many polls it got (asyncio: `TimeoutError`, the task is
//!    cancelled).
//! 2. A spawned task keeps running when a timeout fires on its `JoinHandle` (dropping or timing
//!    out a handle does not cancel the task): that is `asyncio.shield`.
//! 3. `JoinHandle::abort` cancels a task (asyncio: `task.cancel()`).
//! 4. A future created and dropped without `.await` is reported with the line that created it
//!    (asyncio: "coroutine 'delay' was never awaited").
//!
//! ```text
//! cargo run --example timeouts
//! ```

use std::time::Duration;

use pollwatch::async_timed;
use tokio::time::timeout;

#[async_timed]
async fn delay(seconds: f64) -> f64 {
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    seconds
}

#[tokio::main]
async fn main() {
    pollwatch::init();

    // 1. wait_for: the call is cancelled at the deadline.
    match timeout(Duration::from_secs(1), delay(2.0)).await {
        Ok(v) => println!("finished: {v}"),
        Err(_) => println!("timeout after 1s: delay(2.0) was cancelled"),
    }

    // 2. shield: the timeout fires on the handle, the task itself goes on.
    let mut task = tokio::spawn(delay(1.5));
    if timeout(Duration::from_millis(500), &mut task)
        .await
        .is_err()
    {
        println!("timeout after 0.5s on the handle; the task keeps running");
        let v = task.await.expect("not cancelled");
        println!("shielded task finished: {v}");
    }

    // 3. cancel: abort a task while it sleeps.
    let task = tokio::spawn(delay(10.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    task.abort();
    let err = task.await.expect_err("aborted");
    println!("aborted task: cancelled = {}", err.is_cancelled());

    // 4. never awaited: the call only creates the future; dropping it runs nothing.
    let forgotten = delay(0.1);
    drop(forgotten);
    // Writes what POLLWATCH_HTML / POLLWATCH_TRACE / POLLWATCH_REPORT ask for, and says where.
    pollwatch::write_reports();
}
