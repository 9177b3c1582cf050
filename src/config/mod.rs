//! Debug mode and its settings.
//!
//! | file | holds |
//! |---|---|
//! | `mode.rs` | [`DebugMode`] |
//! | `builder.rs` | [`Config`]: by-value setters, getters, [`Config::from_env`] |
//! | `env.rs` | [`ENV_VARS`], the table behind the parser and the docs; [`ConfigError`] |
//! | `global.rs` | the process-wide state the hot path reads (one relaxed load), [`Config::apply`], [`debug_mode`], the callback slot |

mod builder;
mod env;
mod global;
mod mode;
#[cfg(test)]
mod tests;

pub use builder::Config;
pub use env::{ConfigError, ENV_VARS, EnvVar};
#[cfg(feature = "scheduling-delay")]
pub(crate) use global::measure_scheduling;
pub(crate) use global::{
    callback, capture_args, digest_interval, last_resort, max_value_len, slow_poll_nanos,
    tracing_polls, warnings_per_second,
};
pub use global::{debug_mode, set_debug_mode};
pub use mode::DebugMode;
