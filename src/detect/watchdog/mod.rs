//! The live stall watchdog: reports a poll that is *still* blocking its thread, which the
//! slow-poll warning (emitted when the poll returns) cannot do for a poll that never returns.
//!
//! A watchdog thread wakes every eighth of the threshold, reads every thread's
//! [slot](super::slot), reports each poll that has been running for at least the threshold
//! once, then again at growing intervals, and classifies it from the blocked thread's CPU
//! clock: CPU-bound (CPU time ≈ wall time) or blocking (asleep in a syscall, a lock, I/O).
//!
//! The thread owns one [`Watchdog`], which holds everything it watches; its decisions take the
//! time of the look, the slots and the [`System`](system::System) as parameters, so that they
//! are unit tests with a fake system and slots of no thread, without sleeping.
//!
//! | file | holds |
//! |---|---|
//! | `control.rs` | the one process-wide handle: starts, kicks and stops the thread ([`watchdog`](control::watchdog), [`WatchdogGuard`](control::WatchdogGuard)); every static of the watchdog |
//! | `polls.rs` | timed polls past their threshold: reported while they run, classified, with their stack |
//! | `workers.rs` | stable Tokio's unparked workers asleep in a task's system call |
//! | `schedule.rs` | when the watchdog looks and when it reports: its tick, a poll's threshold, the escalations |
//! | `system.rs` | what it reads and does outside itself: the time of a look, the OS, the stack reader, where reports go (`system/fake.rs`: the tests') |
//! | `polls/tests.rs`, `workers/tests.rs` | the two parts' decisions, look by look, on a fake clock and system |

pub(super) mod control;
mod polls;
mod schedule;
mod system;
mod workers;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use crate::clock::Instant;
use crate::detect::slot::{self, Slot};
use crate::util::say;
use polls::Polls;
use system::{Now, Os};
use workers::Workers;

/// The watchdog thread's state: what it watches and how it reads the system.
pub(super) struct Watchdog {
    /// Timed polls past (or near) their threshold, with first reports waiting for a stack.
    polls: Polls,
    /// Unparked workers found asleep, with their stacks being read.
    workers: Workers,
    /// The OS and the stack reader.
    os: Os,
    /// The claimed slots, read again by each part of a look (kept to reuse its memory).
    slots: Vec<(usize, &'static Slot)>,
}

impl Watchdog {
    /// `wake`: what a delivered stack calls (the thread looks again at once).
    pub(super) fn new(wake: fn()) -> Self {
        Watchdog {
            polls: Polls::default(),
            workers: Workers::default(),
            os: Os::new(wake),
            slots: Vec::new(),
        }
    }

    /// One tick of the thread: a look at every thread in debug mode; otherwise what was
    /// watched is forgotten. Returns whether something is watched that may be reported later.
    pub(super) fn tick(&mut self, threshold: Duration) -> bool {
        let mode = crate::config::debug_mode();
        if mode.is_watch() {
            crate::clock::start_ticker(|| crate::config::debug_mode().is_watch());
        }
        if mode.is_on() {
            self.look(threshold);
        } else {
            self.polls.clear();
            self.workers.clear();
        }
        self.polls.is_tracking() || self.workers.is_tracking()
    }

    /// One look at every thread.
    fn look(&mut self, threshold: Duration) {
        // A panic while reporting (a subscriber's layer, a callback) must not end the watchdog
        // for the rest of the process: it is reported, and the next look goes on.
        let looked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let marking = crate::config::debug_mode().is_watch();
            self.slots.clear();
            self.slots.extend(slot::claimed());
            let now = Now::read();
            self.polls
                .scan(now, &self.slots, threshold, marking, &mut self.os);
            self.slots.clear();
            self.slots.extend(slot::claimed());
            self.workers
                .watch(Instant::now(), &self.slots, threshold, &mut self.os);
        }));
        if looked.is_err() {
            say(format_args!(
                "pollwatch: a panic while reporting a stall (in a tracing layer or callback) was \
                 caught; the watchdog keeps watching"
            ));
        }
        // A chronic blocker's digest is due even once it stopped blocking.
        let _ = std::panic::catch_unwind(|| crate::dispatch::digests(false));
        // The files asked for stay current: a process killed by a signal leaves its findings.
        let _ = std::panic::catch_unwind(|| crate::dispatch::keep_files_current(false));
    }

    /// The thread stops. What was seen is reported, not lost with it: sleeps the last look
    /// found (a runtime dropped right after its worker woke), first reports waiting for their
    /// stacks.
    pub(super) fn stop(mut self) {
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.workers.stop(&self.os);
            self.polls.stop();
        }));
    }
}
