//! A small service to watch in tokio-console: three healthy price feeds, a request handler
//! spawning short-lived tasks, and one task that blocks its worker now and then with a
//! synchronous HTTP call (asyncio's `requests.get` inside a coroutine).
//!
//! ```text
//! RUSTFLAGS="--cfg tokio_unstable" cargo run --example console --features console
//! tokio-console            # in another terminal (cargo install --locked tokio-console)
//! ```
//!
//! The console lists the tasks by fn name (`poll_prices`, `refresh_rates`, `handle_request`)
//! with this file's spawn lines. Watch `refresh_rates`: its *Busy* time jumps by ~300 ms every
//! 2 s while its *Polls* grow by one, where the feeds poll every 50 ms and stay near zero busy.
//! The terminal says the same from pollwatch's side: the watchdog's WARN while the call is
//! still blocking, then the slow-poll WARN naming `refresh_rates` and the line of the call.
//!
//! Runs until Ctrl-C, or for the duration given as its argument (`-- 10s`).
//! `TOKIO_CONSOLE_BIND=127.0.0.1:7000` moves the server (the default is `127.0.0.1:6669`).

use std::time::Duration;

use pollwatch::async_timed;
use tokio::time::{MissedTickBehavior, interval, sleep};

/// A healthy feed: wakes every 50 ms and does microseconds of work.
#[async_timed(level = "debug")]
async fn poll_prices(symbol: &'static str) {
    let mut tick = interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut price = 100.0_f64;
    loop {
        tick.tick().await;
        price *= 1.0 + (symbol.len() as f64 - 4.0) * 1e-4;
        std::hint::black_box(price);
    }
}

/// Stand-in for `reqwest::blocking::get` (or any synchronous I/O): blocks the calling thread.
fn blocking_http_get(url: &str) -> usize {
    std::thread::sleep(Duration::from_millis(300));
    url.len()
}

/// The culprit: a synchronous call inside an async fn, every 2 s.
#[async_timed]
async fn refresh_rates(every: Duration) {
    loop {
        sleep(every).await;
        let bytes = blocking_http_get("https://rates.example/eur");
        tracing::debug!(bytes, "rates refreshed");
    }
}

/// A short-lived request: a little waiting, a little work.
#[async_timed(level = "debug")]
async fn handle_request(id: u64) -> u64 {
    sleep(Duration::from_millis(5)).await;
    id * 2
}

/// Accepts a request every 100 ms and spawns a task for it.
#[async_timed(level = "debug")]
async fn serve_requests() {
    let mut tick = interval(Duration::from_millis(100));
    for id in 0.. {
        tick.tick().await;
        drop(pollwatch::spawn(handle_request(id)));
    }
}

#[pollwatch::main(worker_threads = 2)]
async fn main() {
    // pollwatch's subscriber: its fmt output, and the console server.
    pollwatch::init();
    let run_for = std::env::args()
        .nth(1)
        .map(|arg| match arg.parse::<humantime::Duration>() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("usage: console [DURATION such as 10s]: {arg:?}: {e}");
                std::process::exit(2);
            }
        });

    for symbol in ["EURUSD", "USDJPY", "GBPUSD"] {
        pollwatch::spawn(poll_prices(symbol));
    }
    pollwatch::spawn(refresh_rates(Duration::from_secs(2)));
    pollwatch::spawn(serve_requests());

    match run_for {
        Some(d) => sleep(d.into()).await,
        None => {
            println!("serving; Ctrl-C to stop");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
