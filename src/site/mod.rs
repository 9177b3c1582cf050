//! What belongs to one annotated fn, shared by all its calls: its `static` [`CallSite`], the
//! statistics inside it, the list of sites used, and the capture of argument
//! values at each call.
//!
//! | file | holds |
//! |---|---|
//! | `callsite.rs` | [`CallSite`] (name, location, threshold, emitter), [`Emit`], [`Finished`], the list of used sites |
//! | `stats.rs` | [`Stats`]: counters and poll histogram, written by `on_*`, read by `snapshot()` |
//! | `registry.rs` | a lock-free intrusive list of `'static` items |
//! | `values.rs` | [`Values`]: argument / field / return values as bounded strings |

mod callsite;
mod registry;
mod stats;
mod values;

pub(crate) use callsite::call_sites;
#[cfg(any(test, feature = "tokio"))]
pub(crate) use callsite::no_events;
pub use callsite::{CallSite, Emit, Finished};
pub use values::{AutoDebug, AutoDisplay, AutoOpaque, Outcome, Values, Wrap};
