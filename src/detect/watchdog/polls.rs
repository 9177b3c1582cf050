//! Timed polls past their threshold: each is reported while it still runs, once its
//! threshold is reached and again at growing intervals, classified from its thread's CPU
//! clock, with its native stack in the first report (or, when the stack is late, in a
//! follow-up).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::schedule::{needs_stack_soon, next_report_after, threshold_for};
use super::system::{Now, Report, System};
use crate::clock::Instant;
use crate::detect::pending::Pending;
use crate::detect::slot::{Slot, same_site};
use crate::detect::stacks::{Read, WAIT_ANNOTATED, WAIT_COLD, WAIT_UNNAMED};
use crate::detect::thread_cpu::classify;
use crate::dispatch::Route;
use crate::record::{Blame, Kind, NativeStack, Stall, Who};
use crate::site::CallSite;

/// What the watchdog remembers of a poll it is watching. One long poll can run several
/// blocking fns one after the other (none of them yields): each is a stall of its own, tracked
/// from when it became the innermost frame.
struct Watch {
    /// The innermost frame (none: the task itself) and since when it was (the poll's start for
    /// the first culprit of a poll).
    culprit: Option<&'static CallSite>,
    since: Instant,
    /// The thread's active time (on CPU or waiting for one) when the watchdog first saw this
    /// culprit, and when that was.
    active_base: Option<Duration>,
    active_base_at: Instant,
    reports: u32,
    /// It blocks inside `block_in_place`: not reported.
    handed_off: bool,
    /// Its first report, waiting for the stack.
    first: Option<First>,
    /// The stack its first report had: later reports name the same line.
    stack: Option<Arc<NativeStack>>,
    /// The poll was marked as long (production profile).
    marked: bool,
    /// Reads of its stack that found it running but got no sample.
    sample_misses: u32,
}

impl Watch {
    fn new(
        culprit: Option<&'static CallSite>,
        since: Instant,
        slot: &Slot,
        now: Instant,
        sys: &impl System,
    ) -> Self {
        Watch {
            culprit,
            since,
            active_base: sys.active_time(slot.tid(), slot.cpu_clock()),
            active_base_at: now,
            reports: 0,
            handed_off: false,
            first: None,
            stack: None,
            marked: false,
            sample_misses: 0,
        }
    }
}

/// Looks a first report waits at most for a sample of a running thread that gave none (each
/// an eighth of the threshold apart).
const SAMPLE_TRIES: u32 = 3;

/// The timed polls being watched, by slot index and the poll's start.
#[derive(Default)]
pub(super) struct Polls {
    watching: HashMap<(usize, u64), Watch>,
}

impl Polls {
    /// Whether a poll is watched: something may be reported later.
    pub(super) fn is_tracking(&self) -> bool {
        !self.watching.is_empty()
    }

    /// Debug mode is off: nothing is watched.
    pub(super) fn clear(&mut self) {
        self.watching.clear();
    }

    /// The watchdog stops: first reports waiting for their stacks are not made (the slow-poll
    /// reports, completed with the stack when it comes, speak).
    pub(super) fn stop(&mut self) {
        for (_, mut watch) in self.watching.drain() {
            if let Some(first) = watch.first.take() {
                first.decide(false);
            }
        }
    }

    /// One look, at `look`: reports every timed poll blocking past its threshold, on `slots`
    /// (a slot's index and the slot, every claimed one). `marking`: the production profile,
    /// where a poll seen running for half its threshold is marked as long.
    pub(super) fn scan(
        &mut self,
        look: Now,
        slots: &[(usize, &'static Slot)],
        threshold: Duration,
        marking: bool,
        sys: &mut impl System,
    ) {
        let watching = &mut self.watching;
        let now = look.at;
        watching.retain(|(i, start), watch| {
            let running = slot_at(slots, *i).is_some_and(|s| s.start_ticks() == *start);
            if !running {
                // Its poll ended while its first report waited for the stack: the slow-poll
                // report speaks (completed with the stack when it comes).
                if let Some(first) = watch.first.take() {
                    first.decide(false);
                }
            }
            running
        });
        for &(i, slot) in slots {
            let start = slot.start_ticks();
            if start == 0 {
                continue;
            }
            let blocked = look.running_for(start);
            let poll_start = now.checked_sub(blocked).unwrap_or(now);
            let culprit = slot.innermost();
            let watch = watching.entry((i, start)).or_insert_with(|| {
                // The slow-poll report judges from it whether the poll was starved of a CPU
                // (its own time is what counts: the stall reports here go by wall time, as
                // they are made while it runs).
                if let Some(waited) = sys.run_queue_wait(slot.tid()) {
                    slot.note_wait_base(start, waited);
                }
                Watch::new(culprit, poll_start, slot, now, sys)
            });
            if !same_site(watch.culprit, culprit) {
                if let Some(first) = watch.first.take() {
                    first.decide(false);
                }
                *watch = Watch::new(culprit, now, slot, now, sys);
            }
            if watch.handed_off {
                continue;
            }
            // Production profile: a poll running for half its threshold reads the clock when it
            // ends (no other poll does), and is blamed on what is innermost now.
            if marking && !watch.marked && blocked >= threshold_for(culprit, slot, threshold) / 2 {
                watch.marked = true;
                slot.mark_long(start, culprit);
            }
            // A first report waiting for its stack: made once the stack is in or the wait is over.
            if let Some(first) = watch.first.take() {
                match first.pending.try_stack() {
                    Some(stack) => first.make(watch, stack, false),
                    None if now >= first.deadline => first.make(watch, None, true),
                    None => watch.first = Some(first),
                }
                continue;
            }
            let blocking_for = now.saturating_duration_since(watch.since);
            let own = threshold_for(culprit, slot, threshold);
            if needs_stack_soon(blocking_for, own) {
                sys.warm_up_stacks();
            }
            if blocking_for < next_report_after(watch.reports, own) {
                continue;
            }
            let kind = classify_now(watch, slot, now, sys);
            let route = slot.route();
            let mut stall = stall_of(slot, culprit, blocking_for, kind, watch.reports + 1, own);
            if watch.reports > 0 {
                stall.blame.stack.clone_from(&watch.stack);
                slot.publish_kind(kind, culprit, start, None);
                watch.reports += 1;
                sys.report().stall(route.as_ref(), stall);
                continue;
            }
            // The first report says where the thread is: its native stack, read now. If the poll
            // ends meanwhile, an un-annotated task's slow-poll report waits for it in `pending`.
            let pending = sys.rendezvous();
            slot.publish_kind(kind, culprit, start, Some(pending.clone()));
            let first = First {
                pending: pending.clone(),
                stall,
                route,
                slot,
                start,
                report: sys.report().clone(),
                // An annotated fn is named already: its report waits for the stack briefly. A
                // task is named only by its stack: its report waits longer. Other threads are
                // looked at meanwhile; the symbolizer wakes the watchdog when the stack is in.
                // A task waits longer while the symbolizer still warms up (the program's first
                // moments): its report would otherwise name nothing. An annotated fn's goes out
                // with its own name and line, the stack as a follow-up.
                deadline: now
                    + match (culprit, sys.stacks_warm()) {
                        (Some(_), _) => WAIT_ANNOTATED,
                        (None, true) => WAIT_UNNAMED,
                        (None, false) => WAIT_COLD,
                    },
            };
            if slot.start_ticks() != start {
                // The poll ended while we looked: its slow-poll warning speaks.
                pending.deliver(None);
                first.decide(false);
                continue;
            }
            match sys.read_stack(slot.tid(), kind, &pending) {
                Read::Sent => watch.first = Some(first),
                // A running thread is sampled only while it runs: on a busy machine it may wait
                // for a CPU the whole window. Its first report waits a few more looks for a
                // sample rather than go out without its line.
                Read::Missed if watch.sample_misses < SAMPLE_TRIES => {
                    watch.sample_misses += 1;
                    first.decide(false);
                }
                Read::Nothing | Read::Missed => first.make(watch, None, false),
            }
        }
    }
}

/// The slot at `index` in a look's `slots`.
fn slot_at(slots: &[(usize, &'static Slot)], index: usize) -> Option<&'static Slot> {
    slots
        .iter()
        .find(|(i, _)| *i == index)
        .map(|&(_, slot)| slot)
}

/// A poll's first stall report, made once its stack is read (or the wait for it is over).
struct First {
    pending: Arc<Pending>,
    stall: Stall,
    route: Option<Route>,
    slot: &'static Slot,
    start: u64,
    report: Arc<dyn Report>,
    deadline: Instant,
}

impl First {
    /// Makes the report, with the stack if it is in (`late`: it is not, and comes as a
    /// follow-up), if the poll still runs.
    fn make(mut self, watch: &mut Watch, stack: Option<Arc<NativeStack>>, late: bool) {
        if let Some(b) = &stack {
            self.slot.publish_stack(b.clone(), self.start);
        }
        self.stall.blame.stack = stack;
        watch.stack.clone_from(&self.stall.blame.stack);
        // Blocking is what `block_in_place` is for: its worker's tasks moved on.
        let handed_off = self
            .stall
            .blame
            .stack
            .as_ref()
            .is_some_and(|b| b.in_block_in_place);
        watch.handed_off = handed_off;
        // Only a poll still running is reported as a stall ("it is still running").
        let stalled = !handed_off && self.slot.start_ticks() == self.start;
        if stalled {
            // Marked before reporting: a panicking layer must not make the next tick report
            // it as the first time again.
            watch.reports += 1;
            self.report.stall(self.route.as_ref(), self.stall.clone());
        }
        self.decide_with(stalled, late);
    }

    /// The poll ended before the report: none is made.
    fn decide(self, reported: bool) {
        self.decide_with(reported, false);
    }

    /// Tells the rendezvous whether the stall was reported; a stack that missed the stall report
    /// it belongs to then comes as a follow-up. (A slow poll that ended while its stack was read
    /// waits for it in the rendezvous, annotated or not: it needs no follow-up.)
    fn decide_with(self, reported: bool, late: bool) {
        let First {
            pending,
            stall,
            route,
            slot,
            start,
            report,
            ..
        } = self;
        pending.decide(
            reported,
            Box::new(move |b, reported| {
                let Some(b) = b.filter(|b| !b.in_block_in_place) else {
                    return;
                };
                if reported && late {
                    slot.publish_stack(b.clone(), start);
                    report.stall_stack(route.as_ref(), stall, b);
                }
            }),
        );
    }
}

/// Active share since the watchdog first saw the culprit; if that was just now, samples for a
/// short while on this thread, so that even the first report is classified.
fn classify_now(watch: &Watch, slot: &Slot, now: Instant, sys: &mut impl System) -> Kind {
    let (tid, clock) = (slot.tid(), slot.cpu_clock());
    let (Some(base), Some(mut active)) = (watch.active_base, sys.active_time(tid, clock)) else {
        return Kind::Unknown;
    };
    let mut wall = now.saturating_duration_since(watch.active_base_at);
    if wall < Duration::from_millis(5) {
        let later = sys.pause(Duration::from_millis(10), now);
        active = sys.active_time(tid, clock).unwrap_or(active);
        wall = later.saturating_duration_since(watch.active_base_at);
    }
    classify(active.saturating_sub(base), wall, sys.is_runnable(tid))
}

fn stall_of(
    slot: &Slot,
    culprit: Option<&'static CallSite>,
    blocked: Duration,
    kind: Kind,
    nth: u32,
    threshold: Duration,
) -> Stall {
    let task = slot.task();
    Stall {
        blame: Blame {
            culprit: Who::blamed(culprit, task),
            task,
            created_at: None,
            chain: slot.chain(),
            stack: None,
        },
        thread: slot.thread_name(),
        tid: slot.tid(),
        blocked,
        threshold,
        kind,
        nth,
    }
}

#[cfg(test)]
mod tests;
