//! What a process and a test pay for pollwatch before and after their own work: the fixed
//! start/stop cost, measured as a user meets it.
//!
//! - `process/…`: the whole process, spawned fresh each iteration (this bench binary runs itself
//!   as the child): a plain Tokio runtime's `block_on(async {})`, against `pollwatch::run(async
//!   {})` with debug mode off (`POLLWATCH=0`), in the production profile (`watch`) and in debug
//!   mode (`1`). Fresh processes: cold caches, every thread started and stopped, the exit.
//! - `test/…`: one trivial test in a process that ran others (what each test of a suite pays):
//!   `#[tokio::test]`'s current-thread runtime against `#[pollwatch::test]`'s (its runtime, its
//!   collector and printer thread, the verdict), in debug mode.
//!
//! Compare within a group: plain Tokio is measured in the same run, interleaved by criterion's
//! sampling, on the same machine state.
//!
//! ```text
//! cargo bench --bench startup
//! ```

use std::process::Command;
use std::time::Duration;

use criterion::Criterion;

/// Set in the child: which program to be.
const CHILD: &str = "POLLWATCH_STARTUP_BENCH_CHILD";

/// The child's whole program.
fn child(what: &str) {
    match what {
        "plain" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async {}),
        _ => pollwatch::run(async {}),
    }
}

fn process(c: &mut Criterion) {
    let exe = std::env::current_exe().expect("this bench's path");
    let mut group = c.benchmark_group("process");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    for (name, child, mode) in [
        ("plain tokio", "plain", None),
        ("pollwatch::run, POLLWATCH=0", "run", Some("0")),
        ("pollwatch::run, POLLWATCH=watch", "run", Some("watch")),
        ("pollwatch::run, POLLWATCH=1", "run", Some("1")),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut cmd = Command::new(&exe);
                cmd.env(CHILD, child);
                match mode {
                    Some(mode) => cmd.env("POLLWATCH", mode),
                    None => cmd.env_remove("POLLWATCH"),
                };
                let status = cmd.status().expect("the child runs");
                assert!(status.success(), "{name}: {status}");
            });
        });
    }
    group.finish();
}

fn test(c: &mut Criterion) {
    let mut group = c.benchmark_group("test");
    group.bench_function("#[tokio::test]", |b| {
        b.iter(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(async {});
        });
    });
    pollwatch::set_debug_mode(pollwatch::DebugMode::On);
    group.bench_function("#[pollwatch::test]", |b| {
        b.iter(|| {
            pollwatch::__private::run_test(pollwatch::Builder::new_current_thread(), 0, async {});
        });
    });
    group.finish();
}

fn main() {
    if let Ok(what) = std::env::var(CHILD) {
        child(&what);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    process(&mut c);
    test(&mut c);
    c.final_summary();
}
