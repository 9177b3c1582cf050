//! The live stall watchdog: reports a poll that is *still* blocking its thread, which the
//! slow-poll warning (emitted when the poll returns) cannot do for a poll that never returns.
//!
//! A watchdog thread wakes every eighth of the threshold, reads every thread's
//! [slot](super::slot), reports each poll that has been running for at least the threshold
//! once, then again at growing intervals, and classifies it from the blocked thread's CPU
//! clock: CPU-bound (CPU time ≈ wall time) or blocking (asleep in a syscall, a lock, I/O).
//!
//! | file | holds |
//! |---|---|
//! | `control.rs` | the one process-wide handle: starts, kicks and stops the thread ([`watchdog`](control::watchdog), [`WatchdogGuard`](control::WatchdogGuard)) |
//! | `polls.rs` | timed polls past their threshold: reported while they run, classified, with their stack |
//! | `workers.rs` | stable Tokio's unparked workers asleep in a task's system call |
//! | `schedule.rs` | when the watchdog looks and when it reports: its tick, a poll's threshold, the escalations |

pub(super) mod control;
mod polls;
mod schedule;
mod workers;
