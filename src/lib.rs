// The README's examples use the Tokio integration; without it, a short page. The README links
// its guide chapters to docs.rs by reference (`[stalls]: https://docs.rs/…`); the definitions
// below come first, and in Markdown the first definition of a label wins, so on docs.rs the
// same list links to this version's chapters.
#![cfg_attr(
    feature = "tokio",
    doc = concat!(
        "[quick_start]: crate::guide::quick_start\n",
        "[debug_mode]: crate::guide::debug_mode\n",
        "[every_task]: crate::guide::every_task\n",
        "[stalls]: crate::guide::stalls\n",
        "[ci]: crate::guide::ci\n",
        "[see_it]: crate::guide::see_it\n",
        "[production]: crate::guide::production\n",
        "[attach]: crate::guide::attach\n",
        "[console]: crate::guide::console\n",
        "[export]: crate::guide::export\n",
        "[options]: crate::guide::options\n",
        "[comparisons]: crate::guide::comparisons\n",
        "[how_it_works]: crate::guide::how_it_works\n",
    )
)]
#![cfg_attr(feature = "tokio", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "tokio"),
    doc = "asyncio's debug mode for Tokio. This build has no `tokio` feature: \
           `#[async_timed]`, slow-poll detection and the events work under any executor; \
           enable `tokio` for `Builder`, `run` and `#[pollwatch::main]`. See README.md."
)]
// On docs.rs: a badge on each item a feature or `tokio_unstable` gates.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, in the one direction data flows (src/guide/how_it_works.md; `tests/layers.rs`
// fails if an import goes against it):
// `timed` → `detect` → `dispatch` → `site` + `sink`; all of them use `record`, `config`, `clock`,
// `util`; `tokio` wires it into a runtime.
mod clock;
mod config;
mod detect;
mod dispatch;
mod record;
mod sink;
mod site;
mod timed;
#[cfg(feature = "tokio")]
mod tokio;
mod util;

// Its examples use the Tokio integration, as the README's do.
#[cfg(feature = "tokio")]
pub mod guide;

pub use config::{Config, ConfigError, DebugMode, ENV_VARS, EnvVar, debug_mode, set_debug_mode};
pub use detect::{WatchdogGuard, settle, watchdog};
pub use record::{Kind, SlowPollInfo};
/// OpenTelemetry (feature `otel`): slow polls and stalls as metrics and log records through
/// the service's own `MeterProvider` and `LoggerProvider`. One line: [`otel::install`].
#[cfg(feature = "otel")]
pub use sink::otel;
pub use sink::{
    CallSiteSummary, DEFAULT_FILTER, InitError, LagRecord, ProcessInfo, REPORT_SCHEMA, Report,
    SlowPollRecord, StallRecord, fields, init, layer, report, targets, try_init, write_html,
    write_reports, write_trace,
};
#[cfg(feature = "console")]
pub use sink::{DEFAULT_CONSOLE_BIND, console_addr};
#[cfg(feature = "tokio")]
pub use tokio::{Builder, Runtime, run, spawn, spawn_local};

/// Instruments an `async fn`: logs its start (with arguments) and finish (elapsed, busy, idle,
/// polls), and in debug mode reports polls that block the thread.
///
/// See the guide's [options](crate::guide::options) for the options and what each event holds.
///
/// # Examples
///
/// ```
/// #[pollwatch::async_timed(level = "debug", skip(token), slow = "20ms", err)]
/// async fn fetch(url: &str, token: String) -> Result<usize, std::io::Error> {
///     Ok(url.len() + token.len())
/// }
/// # futures::executor::block_on(async { fetch("https://example.com", "t".into()).await.unwrap(); });
/// ```
pub use pollwatch_macros::async_timed;

/// `#[tokio::main]` in debug mode (asyncio's `asyncio.run(main(), debug=True)`).
///
/// Runs the `async fn` on a [`Builder`] runtime: turns debug mode on (unless `POLLWATCH` is set;
/// in a release build, the production profile [`DebugMode::Watch`]), watches every task and the
/// body itself, which is the root of every chain (`main > handler > …`). It leaves the global subscriber to you: set up yours as
/// usual (its `try_init()` succeeds), and pollwatch's events go through it; with none,
/// pollwatch prints its warnings to stderr. [`init`] installs pollwatch's own.
///
/// Arguments: `flavor = "current_thread"` or `"multi_thread"` (the default),
/// `worker_threads = N`, and `slow = "…"` (the body's own threshold), `crate = "…"`.
///
/// # Examples
///
/// ```no_run
/// #[pollwatch::main(flavor = "current_thread")]
/// async fn main() {
///     tokio::spawn(async { std::thread::sleep(std::time::Duration::from_millis(200)) })
///         .await
///         .unwrap();
/// }
/// ```
#[cfg(feature = "tokio")]
pub use pollwatch_macros::main;

/// `#[tokio::test]` in debug mode that **fails the test if any poll in it blocked** the executor
/// for its budget or longer, listing each offender (fn or task, location, chain, kind, count,
/// longest duration).
///
/// Arguments: `#[tokio::test]`'s `flavor` (default `"current_thread"`), `worker_threads` and
/// `start_paused`, plus `slow = "10ms"` (the budget; by default the slow-poll threshold) and
/// `crate = "…"`. Each test runs on its own runtime whose threads report to that test only, so
/// tests running in parallel never see each other's slow polls. Works with `#[should_panic]`
/// (a blocking poll makes the test panic too: give `expected = "…"` to tell the two apart) and
/// with tests returning `Result`.
///
/// # Examples
///
/// ```no_run
/// #[pollwatch::async_timed]
/// async fn handler() -> u32 {
///     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
///     42
/// }
///
/// #[pollwatch::test(slow = "10ms")]
/// async fn handler_never_blocks() {
///     assert_eq!(handler().await, 42);
/// }
/// ```
#[cfg(feature = "tokio")]
pub use pollwatch_macros::test;

/// Not public API: another process's threads, read and named as the watchdog does, for
/// `pollwatch-cli` (`pollwatch dump PID`). May change in any release.
#[doc(hidden)]
#[cfg(all(feature = "stacks", target_os = "linux"))]
pub mod __attach {
    pub use crate::detect::attach::*;

    /// `report` as the Chrome trace-event JSON [`write_trace`](crate::write_trace) writes
    /// (Perfetto reads it): its slow polls and stalls on their threads' tracks.
    pub fn chrome_trace(report: &crate::Report) -> String {
        crate::sink::trace::to_chrome_json(report)
    }
}

/// Not public API: used by the code `#[async_timed]` generates.
#[doc(hidden)]
pub mod __private {
    pub use crate::__emit_timed as emit_timed;
    pub use crate::sink::events::helpers::{dur_field, outcome_field, value_field};
    pub use crate::site::{
        AutoDebug, AutoDisplay, AutoOpaque, CallSite, Emit, Finished, Outcome, Values, Wrap,
    };
    pub use crate::timed::{
        Timed, enabled, not_nameable, output_values, timed, timed_with, values_for,
    };
    #[cfg(feature = "tokio")]
    pub use crate::tokio::{run_main, run_test};
    pub use crate::util::Dur;
    pub use tracing;
    pub use tracing::Level;
}
