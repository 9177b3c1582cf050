//! tokio-console (feature `console`).
//!
//! | file | holds |
//! |---|---|
//! | `addr.rs` | where the console is served, [`console_addr`] |
//! | `serve.rs` | console-subscriber's layer, served on a thread of its own, configured from `TOKIO_CONSOLE_*` without panics |
//! | `mock.rs` | without `--cfg tokio_unstable` (Tokio records no task spans): one line saying so |

mod addr;
#[cfg_attr(not(tokio_unstable), path = "mock.rs")]
mod serve;

pub use addr::{DEFAULT_CONSOLE_BIND, console_addr};
pub(crate) use serve::layer;
