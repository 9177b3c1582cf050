//! The entry points: [`run`], and what `#[pollwatch::main]` and `#[pollwatch::test]` expand to.

use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

use super::builder::{Builder, Runtime};
use super::gate;
use crate::config::{self, Config, DebugMode};
use crate::dispatch::thread_test::ThreadTest;
use crate::sink::collector::Collector;
use crate::sink::output;
use crate::util::say;

/// Runs `future` on a new multi-thread runtime in debug mode, like
/// `asyncio.run(main(), debug=True)`: turns debug mode on (unless `POLLWATCH` says otherwise;
/// in a release build, the production profile [`DebugMode::Watch`]) and watches every task and
/// the root future. It sets no subscriber: with yours, pollwatch's
/// events go through it; without one, its warnings are printed to stderr.
///
/// # Panics
///
/// If the runtime cannot be built, as `#[tokio::main]` does.
///
/// # Examples
///
/// ```
/// #[pollwatch::async_timed]
/// async fn work() -> u32 {
///     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
///     42
/// }
///
/// assert_eq!(pollwatch::run(work()), 42);
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    let rt = prepare(Builder::new_multi_thread());
    let out = rt.block_on(future);
    drop(rt);
    finish();
    out
}

/// The end of `run` / `#[pollwatch::main]`: the last digests, summary and JSON report if asked
/// for; in strict mode, the process fails if any poll blocked past the threshold, listing each
/// offender.
fn finish() {
    crate::detect::settle(SETTLE);
    crate::dispatch::digests(true);
    crate::sink::write_reports();
    if config::debug_mode().is_strict() {
        let verdict = gate::process_verdict(Config::current().get_slow_poll());
        if !verdict.is_empty() {
            verdict.to_github(&crate::sink::executable());
            say(format_args!("{verdict}\n(POLLWATCH=strict: failing)"));
            std::process::exit(1);
        }
    }
}

/// Debug mode on unless the environment chose one (a test's checks are always exact).
fn debug_mode_on_unless_chosen() {
    if std::env::var_os("POLLWATCH").is_none() {
        config::set_debug_mode(DebugMode::On);
    }
}

/// A program's mode unless the environment chose one: exact debug mode in a debug build, the
/// production profile ([`DebugMode::Watch`]) in a release build.
fn program_mode_unless_chosen() {
    if std::env::var_os("POLLWATCH").is_none() {
        config::set_debug_mode(if cfg!(debug_assertions) {
            DebugMode::On
        } else {
            DebugMode::Watch
        });
    }
}

/// Builds the runtime, or fails as `#[tokio::main]` does.
#[track_caller]
fn build(builder: Builder) -> Runtime {
    match builder.build() {
        Ok(rt) => rt,
        Err(e) => panic!("pollwatch: failed to build the Tokio runtime: {e}"),
    }
}

/// The program's mode unless the environment chose, then build. The global subscriber is the
/// user's business: pollwatch's warnings reach stderr without one (`sink::last_resort`).
#[track_caller]
fn prepare(builder: Builder) -> Runtime {
    program_mode_unless_chosen();
    // No wait for the symbolizer: it warms up in the background, and a report that needs a
    // stack before it is warm waits for it off the program's threads.
    build(builder)
}

/// What `#[pollwatch::main]` calls: `future` is the user's `main`, already instrumented by the
/// macro, so it is not wrapped again.
#[doc(hidden)]
#[track_caller]
pub fn run_main<F: Future>(builder: Builder, future: F) -> F::Output {
    let rt = prepare(builder);
    let out = rt.block_on_instrumented(future);
    drop(rt);
    finish();
    out
}

/// The longest the end of a run or a test waits for slow-poll reports still waiting for their
/// stacks (symbolizing takes milliseconds warm, a fraction of a second cold).
const SETTLE: Duration = Duration::from_secs(3);

/// What `#[pollwatch::test]` calls: runs the (instrumented) test body on its own runtime, with
/// every poll on the runtime's threads checked against `budget_ns` (0: the threshold), and fails
/// the test, listing each offender, if any poll blocked that long. Slow polls of tests running
/// in parallel go to their own test: each runtime's threads report to their test's collector.
///
/// # Panics
///
/// That is how the test fails: with the list of offenders; also if the runtime cannot be built.
#[doc(hidden)]
#[track_caller]
pub fn run_test<F: Future>(builder: Builder, budget_ns: u64, future: F) -> F::Output {
    debug_mode_on_unless_chosen();
    let budget = match budget_ns {
        0 => Config::current().get_slow_poll(),
        ns => Duration::from_nanos(ns),
    };
    let collector = Collector::new(budget);
    let test = ThreadTest::new(collector.clone());
    let printer = gate::Printer::start(test.clone());
    let test = ThreadTest {
        route: printer.route(),
        ..test
    };
    let worker_test = test.clone();
    let builder = builder.on_thread_start(move || gate::install(worker_test.clone()));
    let rt = build(builder);
    let out = {
        let _route = gate::enter(test);
        let out = rt.block_on_instrumented(future);
        // The test's last digests, in its output.
        crate::dispatch::digests(true);
        out
    };
    drop(rt);
    // The watchdog's last reports about this test's threads land in its output first: a
    // worker's blocking call that just ended, a slow-poll report waiting for its stack.
    crate::detect::look_now(SETTLE);
    crate::detect::settle(SETTLE);
    drop(printer);
    let written = output::finish_run();
    let verdict = gate::test_verdict(&collector);
    if !verdict.is_empty() {
        let thread = std::thread::current();
        verdict.to_github(thread.name().unwrap_or("test"));
        let mut files = String::new();
        for (what, path) in written {
            let _ = write!(files, "\n{what}: {}", path.display());
        }
        panic!("{verdict}{files}");
    }
    out
}
