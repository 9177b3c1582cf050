//! The Tokio integration (feature `tokio`): the runtime pollwatch watches, the entry points, the
//! test gate. Everything above it in the crate works under any executor.
//!
//! | file | holds |
//! |---|---|
//! | `builder.rs` | [`Builder`], [`Runtime`]: Tokio's, with hooks, heartbeat and watchdog wired in |
//! | `entry.rs` | [`run`]; `run_main` / `run_test`, what `#[pollwatch::main]` / `#[pollwatch::test]` call |
//! | `gate.rs` | what fails a test or a strict run: a test's threads entered into it, its printer, the verdict |
//! | `hooks.rs` | the task poll hooks (`--cfg tokio_unstable`) |
//! | `heartbeat.rs` | the lag probe, marked by task id |
//! | `spawn.rs` | [`spawn`], [`spawn_local`]: tasks named after annotated fns |

mod builder;
mod entry;
mod gate;
mod heartbeat;
#[cfg(pollwatch_task_hooks)]
mod hooks;
mod spawn;

pub use builder::{Builder, Runtime};
pub use entry::{run, run_main, run_test};
pub use spawn::{spawn, spawn_local};
