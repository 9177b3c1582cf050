//! What the watchdog reads and does outside itself, handed to its decisions as parameters so
//! that they are unit tests without threads or sleeping: the time of a look ([`Now`]), the
//! operating system ([`System`]: a thread's CPU and scheduler state, its native stack) and
//! where reports go ([`Report`]). [`Os`] and [`Dispatch`] are the real ones; `fake` is the
//! tests'. The slots themselves are passed as a slice of `(index, &Slot)`: a test makes its
//! own with `Slot::detached`.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Instant, Ticks};
use crate::detect::pending::Pending;
use crate::detect::stacks::{Read, Stacks};
use crate::detect::thread_cpu;
use crate::dispatch::Route;
use crate::record::{Kind, NativeStack, SlowPoll, Stall};

/// The time of one look: the instant, and the raw clock reading a poll's start (what a slot
/// publishes) is measured against.
#[derive(Clone, Copy, Debug)]
pub(super) struct Now {
    pub(super) at: Instant,
    ticks: u64,
    /// The time from one raw reading to a later one: the clock's scale (nanoseconds in tests).
    between: fn(u64, u64) -> Duration,
}

impl Now {
    /// The clock, now.
    pub(super) fn read() -> Now {
        Now {
            at: Instant::now(),
            ticks: Ticks::now().raw(),
            between: |start, now| match (Ticks::from_raw(start), Ticks::from_raw(now)) {
                (Some(start), Some(now)) => now.duration_since(start),
                _ => Duration::ZERO,
            },
        }
    }

    /// How long the poll that began at `start` (a raw reading; 0: none) has been running.
    pub(super) fn running_for(&self, start: u64) -> Duration {
        if start == 0 {
            return Duration::ZERO;
        }
        (self.between)(start, self.ticks)
    }

    /// A look at `at`, when the raw clock (in nanoseconds) reads `ticks`.
    #[cfg(test)]
    pub(super) fn fake(at: Instant, ticks: u64) -> Now {
        Now {
            at,
            ticks,
            between: |start, now| Duration::from_nanos(now.saturating_sub(start)),
        }
    }
}

/// What the watchdog asks of the operating system about a thread (by kernel id), and the
/// stack reader.
pub(super) trait System {
    /// The thread's active time: on a CPU or waiting for one (`cpu_clock`: its CPU clock, the
    /// fallback).
    fn active_time(&self, tid: i64, cpu_clock: i64) -> Option<Duration>;
    /// How long the thread has waited on a run queue for a CPU so far (a wait still going on
    /// is not in it).
    fn run_queue_wait(&self, tid: i64) -> Option<Duration>;
    /// Whether the thread is runnable right now (`None`: unknown).
    fn is_runnable(&self, tid: i64) -> Option<bool>;
    /// If the thread is asleep, how many times it has been switched onto a CPU so far.
    fn asleep_since_switch(&self, tid: i64) -> Option<u64>;
    /// How long an asleep thread has been off its CPU.
    fn off_cpu_for(&self, tid: i64) -> Option<Duration>;
    /// Lets `d` pass on the watchdog's thread, to read a CPU clock twice; the instant after
    /// (`now`: the instant before).
    fn pause(&mut self, d: Duration, now: Instant) -> Instant;
    /// A rendezvous for one stack read: its delivery makes the watchdog look again.
    fn rendezvous(&self) -> Arc<Pending>;
    /// Reads the thread's native stack; the symbolizer delivers it to `pending`.
    fn read_stack(&mut self, tid: i64, kind: Kind, pending: &Arc<Pending>) -> Read;
    /// Whether the symbolizer has warmed up (names a stack at once).
    fn stacks_warm(&self) -> bool;
    /// Starts warming the symbolizer up, the first time only.
    fn warm_up_stacks(&self);
    /// Where reports go.
    fn report(&self) -> &Arc<dyn Report>;
}

/// Where the watchdog's reports go: to the thread's route (a `#[pollwatch::test]`'s printer)
/// or, without one, made here.
pub(super) trait Report: Send + Sync {
    /// A poll still blocking.
    fn stall(&self, route: Option<&Route>, stall: Stall);
    /// The stack of a stall reported without it (it came late).
    fn stall_stack(&self, route: Option<&Route>, stall: Stall, stack: Arc<NativeStack>);
    /// A sleep of a worker reported as a stall ended: the slow poll it was.
    fn slow_poll(&self, route: Option<&Route>, slow: SlowPoll);
}

/// The real system: `/proc`, the threads' CPU clocks and the stack reader.
pub(super) struct Os {
    stacks: Stacks,
    /// What a delivered stack calls: the watchdog looks now.
    wake: fn(),
    report: Arc<dyn Report>,
}

impl Os {
    pub(super) fn new(wake: fn()) -> Self {
        Os {
            stacks: Stacks::new(),
            wake,
            report: Arc::new(Dispatch),
        }
    }
}

impl System for Os {
    fn active_time(&self, tid: i64, cpu_clock: i64) -> Option<Duration> {
        thread_cpu::active_time(tid, cpu_clock)
    }

    fn run_queue_wait(&self, tid: i64) -> Option<Duration> {
        thread_cpu::run_queue_wait(tid)
    }

    fn is_runnable(&self, tid: i64) -> Option<bool> {
        thread_cpu::is_runnable(tid)
    }

    fn asleep_since_switch(&self, tid: i64) -> Option<u64> {
        thread_cpu::asleep_since_switch(tid)
    }

    fn off_cpu_for(&self, tid: i64) -> Option<Duration> {
        thread_cpu::off_cpu_for(tid)
    }

    fn pause(&mut self, d: Duration, _now: Instant) -> Instant {
        std::thread::sleep(d);
        Instant::now()
    }

    fn rendezvous(&self) -> Arc<Pending> {
        Pending::new(self.wake)
    }

    fn read_stack(&mut self, tid: i64, kind: Kind, pending: &Arc<Pending>) -> Read {
        self.stacks.read(tid, kind, pending)
    }

    fn stacks_warm(&self) -> bool {
        crate::detect::stacks::is_warm()
    }

    fn warm_up_stacks(&self) {
        crate::detect::stacks::warm_up_soon();
    }

    fn report(&self) -> &Arc<dyn Report> {
        &self.report
    }
}

/// The real reports: to the dispatcher.
struct Dispatch;

impl Report for Dispatch {
    fn stall(&self, route: Option<&Route>, stall: Stall) {
        Route::run_or_here(route, move || crate::dispatch::stall(&stall));
    }

    fn stall_stack(&self, route: Option<&Route>, stall: Stall, stack: Arc<NativeStack>) {
        Route::run_or_here(route, move || {
            crate::dispatch::stall_stack(&stall, &stack);
        });
    }

    fn slow_poll(&self, route: Option<&Route>, slow: SlowPoll) {
        Route::run_or_here(route, move || {
            crate::dispatch::slow_poll(&slow, crate::config::debug_mode().is_strict());
        });
    }
}

#[cfg(test)]
pub(super) mod fake;
