#![doc = include_str!("../README.md")]

mod callsite;
mod config;
mod events;
mod frames;
mod subscriber;
mod timed;
mod values;

pub use config::{Config, ConfigError, DebugMode, ENV_VARS, EnvVar, debug_mode, set_debug_mode};
pub use events::{fields, targets};
pub use subscriber::{DEFAULT_FILTER, InitError, init, try_init};

/// Instruments an `async fn`: logs its start (with arguments) and finish (elapsed, busy, idle,
/// polls), and in debug mode reports polls that block the thread.
///
/// See the [crate documentation](crate#options) for the options and what each event holds.
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

/// Not public API: used by the code `#[async_timed]` generates.
#[doc(hidden)]
pub mod __private {
    pub use crate::__emit_timed as emit_timed;
    pub use crate::callsite::{CallSite, Emit, Finished};
    pub use crate::events::Dur;
    pub use crate::events::helpers::{dur_field, outcome_field, value_field};
    pub use crate::timed::{Timed, enabled, timed, timed_with};
    pub use crate::values::{AutoDebug, AutoDisplay, AutoOpaque, Outcome, Values, Wrap};
    pub use tracing;
}
