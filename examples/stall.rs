//! The slow-poll warning comes when a poll returns; a poll that never returns (an infinite loop,
//! a deadlock, a read on a dead socket) would never be reported. The watchdog reports polls that
//! are *still* blocking, and says whether they burn CPU or wait:
//!
//! ```text
//! cargo run --example stall
//! ```
//!
//! 1. `crunch` spins on the CPU for 1.2 s: reported at 100 ms and again at 1 s as `cpu-bound`.
//! 2. `load_config` waits on a `std::sync::Mutex` another thread holds for 1.2 s: reported while
//!    stuck as `blocking` (a lock, a sleep or synchronous I/O look alike: off CPU).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[pollwatch::async_timed]
async fn crunch() -> u64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(1200) {
        n = std::hint::black_box(n.wrapping_add(1));
    }
    n
}

#[pollwatch::async_timed]
async fn load_config(config: Arc<Mutex<String>>) -> usize {
    // A std Mutex in async code: the worker sleeps until the holder lets go.
    let guard = config.lock().unwrap_or_else(|e| e.into_inner());
    guard.len()
}

#[pollwatch::main(flavor = "current_thread")]
async fn main() {
    pollwatch::init(); // its fmt output; without it, only the warnings would print
    crunch().await;

    let config = Arc::new(Mutex::new(String::from("verbose = true")));
    let holder = {
        let config = config.clone();
        std::thread::spawn(move || {
            let _guard = config.lock().unwrap_or_else(|e| e.into_inner());
            std::thread::sleep(Duration::from_millis(1200));
        })
    };
    std::thread::sleep(Duration::from_millis(20)); // let the holder take the lock
    let len = load_config(config).await;
    holder.join().expect("holder thread");
    println!("config is {len} bytes");
}
