//! The detectors: what finds a blocking poll. Each hands plain records (`crate::record`) to
//! `crate::dispatch` and never emits anything itself.
//!
//! | file | holds |
//! |---|---|
//! | `frames.rs` | the per-thread stack of instrumented frames: self time, blame, the slow-poll record |
//! | `slot.rs` | the per-thread board (poll start, frames, task) that frames write and the watchdog reads |
//! | `watchdog.rs` | the thread that reports polls still blocking ([`watchdog`], [`WatchdogGuard`]) |
//! | `thread_cpu.rs` | thread ids and CPU clocks (libc), and the CPU-share classification |
//! | `stacks.rs` | the native stack of a thread blocked in a system call (`stacks_mock.rs` where unavailable) |

pub(crate) mod frames;
mod slot;
#[cfg_attr(
    not(all(feature = "stacks", target_os = "linux")),
    path = "stacks_mock.rs"
)]
mod stacks;
mod thread_cpu;
mod watchdog;

pub use watchdog::{WatchdogGuard, watchdog};
