//! pollwatch against its peers, side by side, on the same workloads, in the same run.
//!
//! Each configuration runs in a process of its own (process-wide switches, such as a global
//! tracing subscriber or pollwatch's mode, must not leak between configurations), paired with
//! plain Tokio measured in the same process, interleaved (a process on this VM can run some
//! 20 % faster or slower than the next; the pair shares that). The driver starts the processes
//! alternating, round after round, and reports each configuration's median over the rounds, its
//! range, and the median and range of its ratio to its paired plain Tokio.
//!
//! ```text
//! bench/peers/run.sh                    # both builds, every workload, 5 rounds
//! pollwatch-peers compare --rounds 7 --workloads yield,server
//! pollwatch-peers run yield plain       # one measurement: the median of 5 iterations, in ms
//! ```
//!
//! Configurations: plain Tokio; Tokio's own poll-time histogram; tokio-metrics' `TaskMonitor`;
//! `tracing::Instrument` with an enabled span per task; dial9 (configured as its README
//! recommends for production); and pollwatch: `#[async_timed]` fns with debug mode off, in the
//! production profile (`Watch`) and in debug mode, on plain Tokio, and the last two also on
//! pollwatch's runtime (`-hooks`: Tokio's task poll hooks under `--cfg tokio_unstable`, the
//! watchdog, the heartbeat). The `console` build compares console-subscriber's layer with its own
//! plain baseline (the layer needs Tokio's `tracing` feature, which every configuration of that
//! build then carries).
//!
//! Workloads:
//! - `yield`: 10,000 tasks yielding 100 times each (1,010,000 polls) on 2 workers: the worst case
//!   for any per-poll instrumentation;
//! - `work`: the same with about 1 µs of CPU work in every poll;
//! - `server`: a small key-value server (one line per request, `GET`/`SET`, a shared map, one
//!   `async fn` per request) on loopback, driven by 32 client connections from a separate
//!   one-thread runtime for 2 s, as fast as they can: requests per second. On 2 cores the
//!   clients and the server share the CPUs, and throughput varies ±15 % from run to run;
//! - `server-cpu`: the same server at a fixed offered load (32 connections, one request each
//!   per millisecond, about a fifth of its capacity here) for 2 s: the process's CPU time per
//!   request, in µs. Idle time does not count, so this is the cost of serving a request, free
//!   of the scheduling noise that throughput carries.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const TASKS: u64 = 10_000;
const YIELDS: u64 = 100;
const WORK: u64 = 1_200;
const WARM_UP: usize = 2;
const ITERATIONS: usize = 5;
const CONNECTIONS: usize = 32;
const SERVER_WARM_UP: Duration = Duration::from_millis(500);
/// Server measurements per process, each paired with plain Tokio's.
const SERVER_ITERATIONS: usize = 2;
const SETTLE: Duration = Duration::from_millis(700);
const SERVER_MEASURE: Duration = Duration::from_secs(2);

/// The configurations of this build: what is compared.
#[cfg(not(feature = "console"))]
const CONFIGS: &[&str] = &[
    "plain",
    "tokio-poll-histogram",
    "taskmonitor",
    "tracing-instrument",
    "dial9",
    "pollwatch-off",
    "pollwatch-production",
    "pollwatch-production-hooks",
    "pollwatch-debug",
    "pollwatch-debug-hooks",
];

#[cfg(feature = "console")]
const CONFIGS: &[&str] = &["plain", "console"];

const WORKLOADS: &[&str] = &["yield", "work", "server", "server-cpu"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("run") => {
            let (Some(workload), Some(config)) = (args.get(2), args.get(3)) else {
                usage();
            };
            match run(workload, config) {
                Ok((ours, plain)) => println!("{ours:.3} {plain:.3}"),
                Err(e) => {
                    eprintln!("{config} on {workload}: {e}");
                    std::process::exit(2);
                }
            }
        }
        Some("compare") | None => compare(&args[args.len().min(2)..]),
        Some(_) => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: pollwatch-peers compare [--rounds N] [--workloads yield,work,server]\n       pollwatch-peers run WORKLOAD CONFIG"
    );
    std::process::exit(2)
}

/// Runs every configuration on every workload, alternating, and prints the tables.
fn compare(args: &[String]) {
    let mut rounds = 5;
    let mut workloads: Vec<String> = WORKLOADS.iter().map(|w| (*w).to_owned()).collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rounds" => rounds = it.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| usage()),
            "--workloads" => {
                workloads = it
                    .next()
                    .unwrap_or_else(|| usage())
                    .split(',')
                    .map(str::to_owned)
                    .collect();
            }
            _ => usage(),
        }
    }
    let exe = std::env::current_exe().expect("own executable");
    println!(
        "pollwatch-peers: {} build, {rounds} rounds, {} cores, tokio_unstable: {}",
        if cfg!(feature = "console") { "console" } else { "default" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cfg!(tokio_unstable),
    );
    for workload in &workloads {
        // results[config][round]: (the configuration, plain Tokio in the same process)
        let mut results: Vec<Vec<Option<(f64, f64)>>> = vec![Vec::new(); CONFIGS.len()];
        let mut errors: Vec<Option<String>> = vec![None; CONFIGS.len()];
        for round in 0..rounds {
            for k in 0..CONFIGS.len() {
                // Each round starts with another configuration.
                let i = (k + round) % CONFIGS.len();
                let out = std::process::Command::new(&exe)
                    .args(["run", workload, CONFIGS[i]])
                    .stderr(std::process::Stdio::piped())
                    .output()
                    .expect("start a measurement");
                let stdout = String::from_utf8_lossy(&out.stdout);
                let mut fields = stdout.split_whitespace().map(str::parse::<f64>);
                let value = match (fields.next(), fields.next()) {
                    (Some(Ok(ours)), Some(Ok(plain))) => Some((ours, plain)),
                    _ => None,
                };
                if value.is_none() {
                    let err = String::from_utf8_lossy(&out.stderr);
                    errors[i] = Some(err.lines().last().unwrap_or("no output").to_owned());
                }
                results[i].push(value);
            }
            eprintln!("{workload}: round {} of {rounds} done", round + 1);
        }
        table(workload, &results, &errors, rounds);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// One workload's table: per configuration the median over the rounds and its range, and the
/// median (and range) of its ratio to plain Tokio measured in the same process (time over
/// plain's time; requests per second over plain's; CPU per request over plain's). The `plain`
/// row pairs plain Tokio with itself: its ratios show what the pairing cannot resolve.
fn table(
    workload: &str,
    results: &[Vec<Option<(f64, f64)>>],
    errors: &[Option<String>],
    rounds: usize,
) {
    let unit = match workload {
        "server" => "requests/s",
        "server-cpu" => "µs of CPU per request",
        _ => "ms",
    };
    println!("\n### {workload} ({unit}; ratio to plain Tokio in the same process)\n");
    println!("| configuration | median | range | ratio: median | ratio: range |");
    println!("|---|---|---|---|---|");
    let digits = match workload {
        "server" => 0,
        "server-cpu" => 2,
        _ => 1,
    };
    for (i, config) in CONFIGS.iter().enumerate() {
        let pairs: Vec<(f64, f64)> = results[i].iter().flatten().copied().collect();
        if pairs.len() < rounds {
            println!(
                "| {config} | failed | {} | | |",
                errors[i].as_deref().unwrap_or("?").replace('|', "/")
            );
            continue;
        }
        let mut values: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let mut ratios: Vec<f64> = pairs.iter().map(|(ours, plain)| ours / plain).collect();
        let range = |v: &[f64]| v.iter().fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        let ((lo, hi), (rlo, rhi)) = (range(&values), range(&ratios));
        println!(
            "| {config} | {:.digits$} | {lo:.digits$}–{hi:.digits$} | {:.3} | {rlo:.3}–{rhi:.3} |",
            median(&mut values),
            median(&mut ratios),
        );
    }
}

/// One measurement of `config` on `workload`, paired with plain Tokio measured in the same
/// process, interleaved: `(config, plain)`, each the median of its iterations (ms, requests per
/// second, or CPU µs per request). A process on this VM can run all its threads some 20 %
/// faster or slower than the next one; the pair shares that, and its ratio does not.
fn run(workload: &str, config: &str) -> Result<(f64, f64), String> {
    if !CONFIGS.contains(&config) {
        return Err(format!("unknown configuration (this build has {CONFIGS:?})"));
    }
    let setup = Setup::new(config)?;
    let plain = Setup::plain()?;
    // Background start-up work (pollwatch's symbolizer parsing debug information, dial9's
    // writer, the console aggregator) is done before measuring: steady state is compared.
    // BENCHMARKS.md gives pollwatch's one-off start-up cost apart.
    std::thread::sleep(SETTLE);
    let once = |s: &Setup| -> f64 {
        match workload {
            "yield" | "work" => {
                let start = Instant::now();
                black_box(s.block_on(spawn_all(s.kind, workload == "work")));
                start.elapsed().as_secs_f64() * 1e3
            }
            "server" => s.block_on(server(s.kind, false)),
            _ => s.block_on(server(s.kind, true)),
        }
    };
    if !WORKLOADS.contains(&workload) {
        return Err("unknown workload".into());
    }
    let (warm_up, iterations) = if workload.starts_with("server") {
        (0, SERVER_ITERATIONS)
    } else {
        (WARM_UP, ITERATIONS)
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..warm_up + iterations {
        // A B B A, B A A B, …: neither goes first more often.
        let (a, b) = if i % 2 == 0 { (&setup, &plain) } else { (&plain, &setup) };
        let (x, y) = (once(a), once(b));
        if i >= warm_up {
            let (o, p) = if i % 2 == 0 { (x, y) } else { (y, x) };
            ours.push(o);
            theirs.push(p);
        }
    }
    setup.finish();
    plain.finish();
    Ok((median(&mut ours), median(&mut theirs)))
}

/// How tasks are made in a configuration.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Monitored(&'static tokio_metrics::TaskMonitor),
    Instrumented,
    Annotated,
}

/// A configuration's runtime and whatever it keeps alive.
struct Setup {
    rt: Rt,
    kind: Kind,
    dial9: Option<dial9::Recorder>,
}

enum Rt {
    Tokio(tokio::runtime::Runtime),
    /// pollwatch's: its hooks, watchdog and heartbeat.
    Pollwatch(pollwatch::Runtime),
}

fn tokio_builder() -> tokio::runtime::Builder {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(2).enable_all();
    b
}

impl Setup {
    /// Plain Tokio, the baseline every configuration is paired with.
    fn plain() -> Result<Setup, String> {
        Ok(Setup {
            rt: Rt::Tokio(tokio_builder().build().map_err(|e| e.to_string())?),
            kind: Kind::Plain,
            dial9: None,
        })
    }

    fn new(config: &str) -> Result<Setup, String> {
        let plain = |kind| -> Result<Setup, String> {
            Ok(Setup {
                rt: Rt::Tokio(tokio_builder().build().map_err(|e| e.to_string())?),
                kind,
                dial9: None,
            })
        };
        match config {
            "plain" => plain(Kind::Plain),
            "taskmonitor" => {
                let monitor = Box::leak(Box::new(tokio_metrics::TaskMonitor::new()));
                plain(Kind::Monitored(monitor))
            }
            "tracing-instrument" => {
                // A registry enables every span: creating, entering and closing one per task.
                tracing::subscriber::set_global_default(tracing_subscriber::registry())
                    .map_err(|e| e.to_string())?;
                plain(Kind::Instrumented)
            }
            "tokio-poll-histogram" => poll_histogram(),
            "dial9" => dial9_runtime(),
            "pollwatch-off" => {
                pollwatch::set_debug_mode(pollwatch::DebugMode::Off);
                plain(Kind::Annotated)
            }
            "pollwatch-debug" => {
                pollwatch::set_debug_mode(pollwatch::DebugMode::On);
                plain(Kind::Annotated)
            }
            "pollwatch-production" => {
                pollwatch::set_debug_mode(pollwatch::DebugMode::Watch);
                plain(Kind::Annotated)
            }
            "pollwatch-debug-hooks" | "pollwatch-production-hooks" => {
                let mode = if config == "pollwatch-production-hooks" {
                    pollwatch::DebugMode::Watch
                } else {
                    pollwatch::DebugMode::On
                };
                pollwatch::set_debug_mode(mode);
                let rt = pollwatch::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(Setup {
                    rt: Rt::Pollwatch(rt),
                    kind: Kind::Annotated,
                    dial9: None,
                })
            }
            #[cfg(feature = "console")]
            "console" => console_runtime(),
            _ => Err("unknown configuration".into()),
        }
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.rt {
            Rt::Tokio(rt) => rt.block_on(f),
            // Not `pollwatch::Runtime::block_on`, which times the root future too: every
            // configuration spends the same on its root.
            Rt::Pollwatch(rt) => {
                let tokio: &tokio::runtime::Runtime = rt.tokio();
                tokio.block_on(f)
            }
        }
    }

    fn finish(self) {
        drop(self.rt);
        if let Some(recorder) = self.dial9 {
            recorder.graceful_shutdown(Duration::from_secs(1));
        }
    }
}

#[cfg(tokio_unstable)]
fn poll_histogram() -> Result<Setup, String> {
    let mut b = tokio_builder();
    b.enable_metrics_poll_time_histogram()
        .metrics_poll_time_histogram_configuration(tokio::runtime::HistogramConfiguration::log(
            tokio::runtime::LogHistogram::builder()
                .min_value(Duration::from_micros(10))
                .max_value(Duration::from_secs(1))
                .max_error(0.25)
                .max_buckets(128)
                .map_err(|e| format!("{e:?}"))?,
        ));
    Ok(Setup {
        rt: Rt::Tokio(b.build().map_err(|e| e.to_string())?),
        kind: Kind::Plain,
        dial9: None,
    })
}

#[cfg(not(tokio_unstable))]
fn poll_histogram() -> Result<Setup, String> {
    Err("Tokio's poll-time histogram needs --cfg tokio_unstable".into())
}

/// dial9 as its README recommends for production: a disk buffer with rotation and a size cap,
/// task tracking on, attached to the runtime's hooks.
fn dial9_runtime() -> Result<Setup, String> {
    use dial9::{Dial9HandleTokioExt as _, DiskBuffer, TokioAttachOptions};
    let dir = std::env::temp_dir().join(format!("pollwatch-peers-dial9-{}", std::process::id()));
    let writer = DiskBuffer::builder()
        .base_path(&dir)
        .max_total_size(5 * 1024 * 1024)
        .max_file_size(1024 * 1024)
        .rotation_period(Duration::from_secs(300))
        .build();
    let recorder = dial9::recorder_or_disabled(writer).build();
    let rt = recorder
        .handle()
        .attach_tokio_runtime(
            tokio_builder(),
            TokioAttachOptions::builder()
                .runtime_name("main")
                .task_tracking_enabled(true)
                .build(),
        )
        .map_err(|e| e.to_string())?;
    Ok(Setup {
        rt: Rt::Tokio(rt),
        kind: Kind::Plain,
        dial9: Some(recorder),
    })
}

/// tokio-console's instrumentation: console-subscriber's layer with its aggregator running (as
/// `ConsoleLayer::spawn` runs it), without the gRPC server, and its filter.
#[cfg(feature = "console")]
fn console_runtime() -> Result<Setup, String> {
    use tracing_subscriber::layer::SubscriberExt as _;
    let (layer, server) = console_subscriber::ConsoleLayer::builder().build();
    let filter = tracing_subscriber::filter::FilterFn::new(|meta| {
        meta.target().starts_with("tokio") || meta.target().starts_with("runtime")
    });
    use tracing_subscriber::Layer as _;
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter));
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
    let console_subscriber::ServerParts { aggregator, .. } = server.into_parts();
    let rt = tokio_builder().build().map_err(|e| e.to_string())?;
    rt.spawn(aggregator.run());
    Ok(Setup {
        rt: Rt::Tokio(rt),
        kind: Kind::Plain,
        dial9: None,
    })
}

// The workloads, written twice: plain, and annotated with `#[pollwatch::async_timed]`.

fn work(n: u64) -> u64 {
    let mut x = n;
    for i in 0..WORK {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    x
}

async fn plain_task(n: u64, working: bool) -> u64 {
    let mut acc = n;
    for _ in 0..YIELDS {
        if working {
            acc ^= work(n);
        }
        tokio::task::yield_now().await;
    }
    acc
}

#[pollwatch::async_timed]
async fn timed_task(n: u64, working: bool) -> u64 {
    let mut acc = n;
    for _ in 0..YIELDS {
        if working {
            acc ^= work(n);
        }
        tokio::task::yield_now().await;
    }
    acc
}

/// Spawns one task the way `kind` makes them.
fn spawn_task(kind: Kind, i: u64, working: bool) -> tokio::task::JoinHandle<u64> {
    use tracing::Instrument as _;
    match kind {
        Kind::Plain => tokio::spawn(plain_task(i, working)),
        Kind::Monitored(monitor) => tokio::spawn(monitor.instrument(plain_task(i, working))),
        Kind::Instrumented => {
            tokio::spawn(plain_task(i, working).instrument(tracing::info_span!("task")))
        }
        Kind::Annotated => tokio::spawn(timed_task(i, working)),
    }
}

async fn spawn_all(kind: Kind, working: bool) -> u64 {
    let handles: Vec<_> = (0..TASKS).map(|i| spawn_task(kind, i, working)).collect();
    let mut sum = 0;
    for h in handles {
        sum ^= h.await.expect("task");
    }
    sum
}

type Db = Arc<Mutex<HashMap<String, String>>>;

fn apply_plain(db: &Db, line: &str) -> String {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(k), None) => match db.lock().unwrap().get(k) {
            Some(v) => format!("${v}\n"),
            None => "$-1\n".to_owned(),
        },
        (Some("SET"), Some(k), Some(v)) => {
            db.lock().unwrap().insert(k.to_owned(), v.to_owned());
            "+OK\n".to_owned()
        }
        _ => "-ERR\n".to_owned(),
    }
}

async fn apply(db: &Db, line: &str) -> String {
    apply_plain(db, line)
}

#[pollwatch::async_timed(skip_all)]
async fn apply_timed(db: &Db, line: &str) -> String {
    apply_plain(db, line)
}

async fn connection(stream: TcpStream, db: Db, annotated: bool) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = if annotated {
            apply_timed(&db, &line).await
        } else {
            apply(&db, &line).await
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The server on this runtime, 32 client connections on their own one-thread runtime: requests
/// per second over 2 s, after 0.5 s of warm-up.
async fn server(kind: Kind, paced: bool) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    let db: Db = Arc::default();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let db = db.clone();
            match kind {
                Kind::Annotated => {
                    tokio::spawn(connection(stream, db, true));
                }
                Kind::Plain => {
                    tokio::spawn(connection(stream, db, false));
                }
                Kind::Monitored(monitor) => {
                    tokio::spawn(monitor.instrument(connection(stream, db, false)));
                }
                Kind::Instrumented => {
                    use tracing::Instrument as _;
                    tokio::spawn(
                        connection(stream, db, false).instrument(tracing::info_span!("connection")),
                    );
                }
            }
        }
    });
    let count = tokio::task::spawn_blocking(move || clients(addr, paced))
        .await
        .expect("clients");
    server.abort();
    count
}

/// The process's CPU time so far (every thread), in µs.
fn cpu_us() -> f64 {
    // SAFETY: getrusage writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// The load generator, on a runtime of its own (one thread): as fast as it can (requests per
/// second), or `paced`, one request per connection per millisecond (CPU µs per request).
fn clients(addr: std::net::SocketAddr, paced: bool) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async move {
        let counting = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            let (counting, done, stop) = (counting.clone(), done.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut i = 0u64;
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if paced {
                        tick.tick().await;
                    }
                    let request = if i % 2 == 0 {
                        format!("SET key{c}-{} value{i}\n", i % 64)
                    } else {
                        format!("GET key{c}-{}\n", (i - 1) % 64)
                    };
                    write.write_all(request.as_bytes()).await.expect("write");
                    lines.next_line().await.expect("read").expect("a reply");
                    if counting.load(std::sync::atomic::Ordering::Relaxed) {
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    i += 1;
                }
            }));
        }
        tokio::time::sleep(SERVER_WARM_UP).await;
        counting.store(true, std::sync::atomic::Ordering::Relaxed);
        let (start, cpu_start) = (Instant::now(), cpu_us());
        tokio::time::sleep(SERVER_MEASURE).await;
        let n = done.load(std::sync::atomic::Ordering::Relaxed);
        let (elapsed, cpu) = (start.elapsed(), cpu_us() - cpu_start);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        if paced {
            cpu / n as f64
        } else {
            n as f64 / elapsed.as_secs_f64()
        }
    })
}
