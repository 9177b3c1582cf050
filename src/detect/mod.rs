//! The detectors: what finds a blocking poll. Each hands plain records (`crate::record`) to
//! `crate::dispatch` and never emits anything itself.
//!
//! | file | holds |
//! |---|---|
//! | `at_exit.rs` | the last reports of a process that ends without `run`/`main`/a test |
//! | `frames.rs` | the per-thread stack of instrumented frames: self time, blame, the slow-poll record |
//! | `pending.rs` | one stack read's rendezvous: a slow poll's report waits there for its stack |
//! | `slot.rs` | the per-thread board (poll start, frames, task) that frames write and the watchdog reads |
//! | `watchdog/` | the thread that reports polls still blocking ([`watchdog()`], [`WatchdogGuard`]): its handle, timed polls, stable Tokio's workers |
//! | `thread_cpu.rs` | thread ids and CPU clocks (libc), and the CPU-share classification |
//! | `stacks/` | a thread's native stack, read without interrupting it, and the culprit it names (`stacks_mock.rs` where unavailable) |

mod at_exit;
pub(crate) mod frames;
mod pending;
mod slot;
#[cfg_attr(
    not(all(feature = "stacks", target_os = "linux")),
    path = "stacks_mock.rs"
)]
mod stacks;
mod thread_cpu;
mod watchdog;

pub use pending::settle;
#[cfg(all(feature = "stacks", target_os = "linux"))]
pub(crate) use stacks::attach;
#[cfg(feature = "tokio")]
pub(crate) use watchdog::control::look_now;
pub use watchdog::control::{WatchdogGuard, watchdog};
