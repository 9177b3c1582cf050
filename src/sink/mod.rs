//! The sinks: where records end up. Events for tracing subscribers, the stored records, the
//! report (JSON, table, files), the ready-made subscriber and tokio-console. Sinks read plain
//! records (`crate::record`) and call-site statistics; they never import a detector.
//!
//! | file | holds |
//! |---|---|
//! | `names.rs` | [`targets`] and [`fields`]: every event's target and field names |
//! | `events.rs` | the only code that emits tracing events, one fn per event |
//! | `last_resort.rs` | without a subscriber, pollwatch's warnings printed anyway (Python logging's *last resort*) |
//! | `store.rs` | every slow poll and stall kept for reports, bounded |
//! | `collector.rs` | a test's slow polls at or over its budget, for its verdict (`collector_mock.rs` without Tokio) |
//! | `schema.rs` | the report's types, schema `pollwatch-report/1` |
//! | `report.rs` | [`report()`]: assembling a [`Report`] |
//! | `table.rs` | the report as a terminal table |
//! | `output.rs` | the JSON file and the summary at the end of a run |
//! | `otel.rs` | slow polls and stalls as OpenTelemetry metrics and log records (`otel` feature) |
//! | `github.rs` | a failure as GitHub Actions annotations and a step-summary table |
//! | `subscriber.rs` | [`init`], [`try_init`], [`layer`]: fmt output filtered by `RUST_LOG` |
//! | `console/` | tokio-console, served (`console` feature) |

#[cfg_attr(not(feature = "tokio"), path = "collector_mock.rs")]
pub(crate) mod collector;
#[cfg(feature = "console")]
mod console;
pub(crate) mod events;
#[cfg(feature = "tokio")]
pub(crate) mod github;
mod html;
mod last_resort;
mod names;
#[cfg(feature = "otel")]
pub mod otel;
pub(crate) mod output;
mod report;
mod schema;
pub(crate) mod store;
mod subscriber;
mod table;
pub(crate) mod trace;

#[cfg(feature = "console")]
pub use console::{DEFAULT_CONSOLE_BIND, console_addr};
pub use names::{fields, targets};
pub use output::{write_html, write_reports, write_trace};
#[cfg(feature = "tokio")]
pub(crate) use report::executable;
pub use report::report;
pub use schema::{
    CallSiteSummary, LagRecord, ProcessInfo, REPORT_SCHEMA, Report, SlowPollRecord, StallRecord,
};
pub use subscriber::{DEFAULT_FILTER, InitError, init, layer, try_init};
