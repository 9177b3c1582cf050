//! Stable Tokio's unparked workers: without task poll hooks, a task that holds its worker in a
//! blocking system call is seen as a worker, not parked and polling no timed future, asleep
//! in the same system call look after look. Reported as a stall once its stack shows a task,
//! and as a slow poll when it wakes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::schedule::{needs_stack_soon, next_report_after, threshold_for, tick_of};
use super::system::{Report, System};
use crate::clock::Instant;
use crate::detect::pending::Pending;
use crate::detect::slot::Slot;
use crate::detect::stacks::Read;
use crate::dispatch::Route;
use crate::record::{Blame, Chain, Kind, NativeStack, SlowPoll, Stall, Who};

/// Unparked Tokio workers found asleep with no timed poll running, by slot index.
#[derive(Default)]
pub(super) struct Workers {
    sleepers: HashMap<usize, Sleeper>,
}

/// An unparked Tokio worker the watchdog found asleep while no timed poll ran: on stable
/// Tokio (no task poll hooks) a task holding its worker in a blocking system call.
struct Sleeper {
    tid: i64,
    /// Times the thread had been switched onto a CPU: unchanged while it sleeps.
    switches: u64,
    /// The first and the last look that found it in this sleep.
    since: Instant,
    last_seen: Instant,
    reports: u32,
    /// Its stack, once read; `Pending` while the symbolizer works on it.
    stack: StackState,
    /// Stacks read that showed no task blocking the worker.
    reads: u32,
    /// The report made (its stack, thread, threshold), for the slow poll when the sleep ends.
    reported: Option<Stall>,
    route: Option<Route>,
    /// The worker's threshold and name, as of the last look.
    threshold: Duration,
    thread: String,
}

/// Stacks read per sleep at most.
const MAX_READS: u32 = 3;

enum StackState {
    Unread,
    Pending(Arc<Pending>),
    /// Not a task blocking its worker (the runtime's own wait, a `spawn_blocking` job,
    /// `block_in_place`), or unreadable: never reported.
    Ignored,
    Read(Arc<NativeStack>),
}

impl Workers {
    /// Whether a worker is watched asleep: something may be reported later.
    pub(super) fn is_tracking(&self) -> bool {
        !self.sleepers.is_empty()
    }

    /// Debug mode is off: nothing is watched.
    pub(super) fn clear(&mut self) {
        self.sleepers.clear();
    }

    /// The watchdog stops: the sleeps the last look found are over as far as it can tell (a
    /// runtime dropped right after its worker woke); those reported are slow polls.
    pub(super) fn stop(&mut self, sys: &impl System) {
        for (_, sleeper) in self.sleepers.drain() {
            woke(sleeper, sys.report().as_ref());
        }
    }

    /// One look of stable Tokio's worker watch, on `slots` (a slot's index and the slot, every
    /// claimed one), at `now`: an unparked worker, polling no timed future, found asleep in
    /// the same system call (never switched onto a CPU in between) for the threshold is a task
    /// blocking it: reported as a stall with its stack, and as a slow poll once it wakes.
    pub(super) fn watch(
        &mut self,
        now: Instant,
        slots: &[(usize, &'static Slot)],
        threshold: Duration,
        sys: &mut impl System,
    ) {
        let sleepers = &mut self.sleepers;
        let mut live = Vec::new();
        for &(i, slot) in slots {
            if !slot.is_running_worker() || slot.start_ticks() != 0 {
                continue;
            }
            let Some(switches) = sys.asleep_since_switch(slot.tid()) else {
                continue;
            };
            live.push(i);
            // Another sleep, or another thread on a slot released and claimed again.
            if sleepers
                .get(&i)
                .is_some_and(|s| s.switches != switches || s.tid != slot.tid())
                && let Some(ended) = sleepers.remove(&i)
            {
                woke(ended, sys.report().as_ref());
            }
            let sleeper = sleepers.entry(i).or_insert_with(|| Sleeper {
                tid: slot.tid(),
                switches,
                // Asleep since before this look, but not before the last look (which did not
                // find it in this sleep): since when, by the scheduler's clock, capped at a tick
                // (each CPU's scheduler clock drifts from the others' by its interrupt and steal
                // time, tens of milliseconds on a busy VM).
                since: sys
                    .off_cpu_for(slot.tid())
                    .and_then(|off| now.checked_sub(off.min(tick_of(threshold))))
                    .unwrap_or(now),
                last_seen: now,
                reports: 0,
                stack: StackState::Unread,
                reads: 0,
                reported: None,
                route: None,
                threshold,
                thread: String::new(),
            });
            sleeper.last_seen = now;
            let own = threshold_for(None, slot, threshold);
            sleeper.threshold = own;
            let held = now.saturating_duration_since(sleeper.since);
            if needs_stack_soon(held, own) {
                sys.warm_up_stacks();
            }
            if held < next_report_after(sleeper.reports, own) {
                continue;
            }
            if sleeper.thread.is_empty() {
                sleeper.thread = slot.thread_name();
                sleeper.route = slot.route();
            }
            let Some(stack) = worker_stack(sleeper, slot, sys) else {
                continue;
            };
            sleeper.reports += 1;
            let stall = Stall {
                blame: Blame {
                    culprit: Who::Untracked,
                    task: None,
                    created_at: None,
                    chain: Chain::default(),
                    stack: Some(stack),
                },
                thread: slot.thread_name(),
                tid: slot.tid(),
                blocked: held,
                threshold: own,
                kind: Kind::Blocking,
                nth: sleeper.reports,
            };
            if sleeper.reported.is_none() {
                sleeper.reported = Some(stall.clone());
            }
            sys.report().stall(sleeper.route.as_ref(), stall);
        }
        // Those no longer asleep (or parked, or polling a timed future again) woke up.
        let ended: Vec<usize> = sleepers
            .keys()
            .filter(|i| !live.contains(i))
            .copied()
            .collect();
        for i in ended {
            if let Some(s) = sleepers.remove(&i) {
                woke(s, sys.report().as_ref());
            }
        }
    }
}

/// The stack of a sleeping worker, if it shows a task blocking it (read on first need).
fn worker_stack(
    sleeper: &mut Sleeper,
    slot: &Slot,
    sys: &mut impl System,
) -> Option<Arc<NativeStack>> {
    if let StackState::Unread = sleeper.stack {
        let pending = sys.rendezvous();
        sleeper.stack = match sys.read_stack(slot.tid(), Kind::Blocking, &pending) {
            Read::Sent => StackState::Pending(pending),
            Read::Nothing | Read::Missed => StackState::Ignored,
        };
    }
    if let StackState::Pending(pending) = &sleeper.stack {
        match pending.try_stack() {
            Some(Some(b)) => sleeper.stack = StackState::Read(b),
            Some(None) => sleeper.stack = StackState::Ignored,
            None => {}
        }
    }
    match &sleeper.stack {
        StackState::Read(b) if b.blocks_a_worker() => Some(b.clone()),
        StackState::Read(_) => {
            // Not a task blocking its worker, or a stack read in passing: looked at again
            // a few times while the sleep lasts.
            sleeper.reads += 1;
            sleeper.stack = if sleeper.reads < MAX_READS {
                StackState::Unread
            } else {
                StackState::Ignored
            };
            None
        }
        StackState::Unread | StackState::Pending(_) | StackState::Ignored => None,
    }
}

/// A reported sleep ended: the slow poll it was, as far as the watchdog saw it (from when it
/// went to sleep, by the scheduler's clock, to the last look that found it asleep: within a
/// tick of the truth; the poll's work before the call is not seen).
fn woke(s: Sleeper, report: &dyn Report) {
    let held = s.last_seen.saturating_duration_since(s.since);
    let slow = |stalled: bool, stack: Option<Arc<NativeStack>>| SlowPoll {
        blame: Blame {
            culprit: Who::Untracked,
            task: None,
            created_at: None,
            chain: Chain::default(),
            stack,
        },
        calls: 1,
        poll: 0,
        blocked: held,
        self_time: held,
        threshold: s.threshold,
        kind: Kind::Blocking,
        stalled,
        thread: Some(s.thread.clone()),
        tid: s.tid,
        ended_ns: crate::clock::now_ns(),
    };
    match (&s.reported, &s.stack) {
        (Some(stall), _) => {
            report.slow_poll(s.route.as_ref(), slow(true, stall.blame.stack.clone()));
        }
        // It woke while its stack was read (a cold symbolizer can take longer than the rest
        // of the sleep): the slow poll is made when the stack is in, if it shows a task.
        (None, StackState::Pending(pending)) if held >= s.threshold => {
            pending.park_sleeper(Box::new(slow(false, None)), s.route.clone());
            pending.decide(false, Box::new(|_, _| {}));
        }
        (None, _) => {}
    }
}

#[cfg(test)]
mod tests;
