//! Detection accuracy and latency, measured with real blocking (not a timing benchmark: a table).
//!
//! For injected blocks of 50, 150 and 500 ms (`std::thread::sleep` and a busy loop) inside an
//! `#[async_timed]` fn, with the threshold at 20 ms, in exact debug mode and in the production
//! profile (`watch`):
//! - the error of the reported `duration` against the block measured around the blocking call;
//! - the latency of the first `pollwatch::stall` report, from the start of the block.
//!
//! ```text
//! cargo bench --bench accuracy
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pollwatch::{Config, DebugMode, async_timed};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};

const THRESHOLD: Duration = Duration::from_millis(20);
const ROUNDS: usize = 5;

/// When the block under test began (set by the blocking fn).
static BLOCK_START: Mutex<Option<Instant>> = Mutex::new(None);

/// Records when each stall event was emitted.
struct StallTimes(Arc<Mutex<Vec<Instant>>>);

impl<S: Subscriber> Layer<S> for StallTimes {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let m = event.metadata();
        if m.target() == pollwatch::targets::STALL && m.fields().field("report").is_some() {
            self.0.lock().unwrap().push(Instant::now());
        }
    }
}

#[async_timed]
async fn sleeps(ms: u64) -> Duration {
    let start = Instant::now();
    *BLOCK_START.lock().unwrap() = Some(start);
    std::thread::sleep(Duration::from_millis(ms));
    start.elapsed()
}

#[async_timed]
async fn spins(ms: u64) -> Duration {
    let start = Instant::now();
    *BLOCK_START.lock().unwrap() = Some(start);
    while start.elapsed() < Duration::from_millis(ms) {
        std::hint::black_box(0);
    }
    start.elapsed()
}

fn main() {
    let reported = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let sink = reported.clone();
    Config::default()
        .debug_mode(DebugMode::On)
        .slow_poll(THRESHOLD)
        .warnings_per_second(0)
        // Every stall in full (not the culprit's digest): each round's latency is measured.
        .digest_interval(Duration::ZERO)
        .on_slow_poll(move |info| sink.lock().unwrap().push(info.duration()))
        .apply();
    let stalls = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(StallTimes(stalls.clone()));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    let (reported, stalls) = (&*reported, &*stalls);

    let table = |threshold: Duration, blocks: &[u64]| {
        table(&rt, threshold, blocks, reported, stalls);
    };
    println!("threshold {THRESHOLD:?}, {ROUNDS} rounds each; errors are reported - actual");
    table(THRESHOLD, &[50, 150, 500]);
    // Every core busy (a busy loop per core, beside the runtime): the stall latency goal is
    // 1.25 x the threshold at the default threshold.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hogs: Vec<_> = (0..std::thread::available_parallelism().map_or(2, |n| n.get()))
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let loaded = Duration::from_millis(100);
    println!();
    println!(
        "every core busy ({} busy loops), threshold {loaded:?}, {ROUNDS} rounds each",
        hogs.len()
    );
    table(loaded, &[150, 500]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for hog in hogs {
        let _ = hog.join();
    }
}

/// One table: each mode, block and kind, `ROUNDS` times.
fn table(
    rt: &pollwatch::Runtime,
    threshold: Duration,
    blocks: &[u64],
    reported: &Mutex<Vec<Duration>>,
    stalls: &Mutex<Vec<Instant>>,
) {
    pollwatch::Config::current().slow_poll(threshold).apply();
    println!(
        "| mode | block | kind | mean error of `duration` | max error | mean stall latency | max stall latency |"
    );
    println!("|---|---|---|---|---|---|---|");
    for mode in [DebugMode::On, DebugMode::Watch] {
        pollwatch::set_debug_mode(mode);
        for &ms in blocks {
            for kind in ["sleep", "busy loop"] {
                let (mut errors, mut latencies) = (Vec::new(), Vec::new());
                for _ in 0..ROUNDS {
                    reported.lock().unwrap().clear();
                    stalls.lock().unwrap().clear();
                    let actual = rt.block_on(async {
                        if kind == "sleep" {
                            sleeps(ms).await
                        } else {
                            spins(ms).await
                        }
                    });
                    // A report that waited for its stack is made off the thread.
                    pollwatch::settle(Duration::from_secs(10));
                    let start = BLOCK_START.lock().unwrap().take().unwrap();
                    let got = *reported.lock().unwrap().first().expect("reported");
                    errors.push(got.as_secs_f64() - actual.as_secs_f64());
                    if let Some(first) = stalls.lock().unwrap().first() {
                        latencies.push(first.duration_since(start).as_secs_f64());
                    }
                }
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
                println!(
                    "| {mode} | {ms} ms | {kind} | {:+.3} ms | {:+.3} ms | {} | {} |",
                    mean(&errors) * 1e3,
                    max(&errors) * 1e3,
                    if latencies.is_empty() {
                        "-".into()
                    } else {
                        format!("{:.1} ms", mean(&latencies) * 1e3)
                    },
                    if latencies.is_empty() {
                        "-".into()
                    } else {
                        format!("{:.1} ms", max(&latencies) * 1e3)
                    },
                );
            }
        }
    }
}
