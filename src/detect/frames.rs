//! The per-thread stack of instrumented frames being polled right now.
//!
//! Each poll of an instrumented future pushes a frame; when it pops, its duration is added to its
//! parent's child time, so every frame knows its *self time*. While the outermost poll runs, self
//! time is summed per fn (one `join!` can poll three blocking calls of the same fn in one poll:
//! that fn is to blame for all three), keeping the chain of the fn's first frame; when the
//! outermost frame pops and any frame exceeded its threshold, it returns exactly one [`SlowPoll`]
//! blaming the fn with the most self time. No allocation, no lock: fixed arrays in a `const`
//! thread-local.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use super::slot::{self, MAX_DEPTH, Slot, same_site};
use super::thread_cpu;
use crate::clock::Ticks;
use crate::dispatch::thread_test::{self, ThreadTest};
use crate::record::{Blame, Chain, ChainLink, Kind, SlowPoll, Who};
use crate::site::CallSite;
use crate::util::saturating_nanos;

#[derive(Clone, Copy)]
struct Frame {
    who: Who,
    created_at: &'static std::panic::Location<'static>,
    poll: u64,
    threshold_ns: u64,
    child_ns: u64,
    /// When its poll began (read for the trace, `POLLWATCH_TRACE`).
    start: Ticks,
}

/// Self time of one fn during the current outermost poll.
#[derive(Clone, Copy)]
struct SelfTime {
    frame: Option<Frame>,
    self_ns: u64,
    calls: u32,
    chain: [Option<Who>; MAX_DEPTH],
    chain_len: usize,
}

const EMPTY_SELF_TIME: SelfTime = SelfTime {
    frame: None,
    self_ns: 0,
    calls: 0,
    chain: [None; MAX_DEPTH],
    chain_len: 0,
};

impl SelfTime {
    fn chain(&self) -> Chain {
        let links = self.chain[..self.chain_len.min(MAX_DEPTH)].iter();
        Chain::new(
            links
                .map(|l| l.map_or(ChainLink::Elided, ChainLink::Frame))
                .collect(),
        )
    }
}

/// Distinct fns tracked per outermost poll; past that, a new fn replaces the one with the least
/// self time if it has more.
const MAX_BLAMES: usize = 8;

struct Stack {
    /// Frames currently being polled; may exceed `MAX_DEPTH` (the excess is untracked).
    depth: usize,
    frames: [Option<Frame>; MAX_DEPTH],
    /// `blames[..n_blames]` are this outermost poll's; the rest are stale (reset is O(1)).
    blames: [SelfTime; MAX_BLAMES],
    n_blames: usize,
    /// The smallest threshold exceeded during this outermost poll, if any.
    exceeded_ns: Option<u64>,
    /// When the last slow poll on this thread ended: lag is only blamed on blocking.
    last_slow_end: Option<Ticks>,
    /// A `#[pollwatch::test]`'s budget, applied to every poll on this thread while it runs.
    budget_ns: Option<u64>,
    /// A frame of this outermost poll ended by unwinding: the poll panicked, and the time a
    /// panic takes (a backtrace is captured inside the poll) is not a blocking poll.
    unwound: bool,
    /// This thread's slot, looked up once (one thread-local access per poll, not two).
    slot: Option<&'static Slot>,
    slot_known: bool,
}

impl Stack {
    const fn new() -> Self {
        Stack {
            depth: 0,
            frames: [None; MAX_DEPTH],
            blames: [EMPTY_SELF_TIME; MAX_BLAMES],
            n_blames: 0,
            exceeded_ns: None,
            last_slow_end: None,
            budget_ns: None,
            unwound: false,
            slot: None,
            slot_known: false,
        }
    }

    #[inline]
    fn slot(&mut self) -> Option<&'static Slot> {
        if !self.slot_known {
            self.slot_known = true;
            self.slot = my_slot();
        }
        self.slot
    }

    fn blame(&mut self, frame: Frame, depth: usize, self_ns: u64) {
        let live = &mut self.blames[..self.n_blames];
        if let Some(b) = live
            .iter_mut()
            .find(|b| b.frame.is_some_and(|f| f.who.same(&frame.who)))
        {
            b.self_ns = b.self_ns.saturating_add(self_ns);
            b.calls = b.calls.saturating_add(1);
            return;
        }
        let slot = if self.n_blames < MAX_BLAMES {
            self.n_blames += 1;
            self.n_blames - 1
        } else {
            match live.iter().enumerate().min_by_key(|(_, b)| b.self_ns) {
                Some((i, b)) if b.self_ns < self_ns => i,
                _ => return,
            }
        };
        let b = &mut self.blames[slot];
        b.frame = Some(frame);
        b.self_ns = self_ns;
        b.calls = 1;
        b.chain_len = depth + 1;
        for (link, f) in b.chain.iter_mut().zip(&self.frames[..=depth]) {
            *link = f.map(|f| f.who);
        }
    }

    fn culprit(&self) -> Option<&SelfTime> {
        self.blames[..self.n_blames]
            .iter()
            .max_by_key(|b| b.self_ns)
    }
}

/// This thread's slot: not claimed yet, claimed, or none left.
#[derive(Clone, Copy)]
enum MySlot {
    Unclaimed,
    Claimed(&'static Slot),
    NoneLeft,
}

/// Where this thread publishes its polls for the watchdog, claimed on first use.
#[inline]
fn my_slot() -> Option<&'static Slot> {
    SLOT.try_with(|c| match c.get() {
        MySlot::Claimed(slot) => Some(slot),
        MySlot::NoneLeft => None,
        MySlot::Unclaimed => claim(c),
    })
    .ok()
    .flatten()
}

#[cold]
fn claim(c: &Cell<MySlot>) -> Option<&'static Slot> {
    let slot = slot::claim();
    if let Some(slot) = slot {
        publish_test(slot, thread_test::current().as_ref());
    }
    c.set(slot.map_or(MySlot::NoneLeft, MySlot::Claimed));
    slot
}

/// Publishes `test`'s budget and route in this thread's slot, for the watchdog.
fn publish_test(slot: &Slot, test: Option<&ThreadTest>) {
    slot.set_test(
        test.map(|t| t.budget_ns),
        test.and_then(|t| t.route.clone()),
    );
}

/// This thread's slot if it has claimed one.
#[cfg(feature = "tokio")]
fn claimed_slot() -> Option<&'static Slot> {
    SLOT.try_with(|c| match c.get() {
        MySlot::Claimed(slot) => Some(slot),
        MySlot::Unclaimed | MySlot::NoneLeft => None,
    })
    .ok()
    .flatten()
}

thread_local! {
    static SLOT: Cell<MySlot> = const { Cell::new(MySlot::Unclaimed) };
    static STACK: RefCell<Stack> = const { RefCell::new(Stack::new()) };
}

/// Proof that a frame was pushed; hand it back to [`exit`].
#[derive(Debug)]
pub(crate) struct Token {
    depth: usize,
}

/// Pushes a frame for one poll of `who`, which began at `start`.
pub(crate) fn enter(
    who: Who,
    created_at: &'static std::panic::Location<'static>,
    poll: u64,
    global_threshold_ns: u64,
    start: Ticks,
) -> Option<Token> {
    STACK
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            let own = who
                .fn_site()
                .and_then(|cs| cs.own_threshold_nanos())
                .unwrap_or(global_threshold_ns);
            let threshold_ns = s.budget_ns.map_or(own, |b| b.min(own));
            let depth = s.depth;
            if depth == 0 {
                s.n_blames = 0;
                s.exceeded_ns = None;
                s.unwound = false;
            }
            if let Some(slot) = s.frames.get_mut(depth) {
                *slot = Some(Frame {
                    who,
                    created_at,
                    poll,
                    threshold_ns,
                    child_ns: 0,
                    start,
                });
            }
            s.depth = depth + 1;
            // A pollwatch runtime's worker starts it only for its runtime's guard; a
            // process-long watchdog started from it would outlive the runtime (a worker
            // polling while its runtime shut down did).
            if depth == 0 {
                super::watchdog::control::ensure_running(s.slot().is_some_and(Slot::is_worker));
            }
            if let Some(slot) = s.slot() {
                slot.enter(depth, who, start);
            }
            Some(Token { depth })
        })
        .ok()
        .flatten()
}

/// Pops the frame of `token` whose poll took `duration`. Returns the report to emit if this was
/// the outermost frame and some frame in the poll exceeded its threshold.
///
/// Boxed: this runs on every poll, and moving an `Option` of the large report through
/// `try_with(..).ok().flatten()` copied all of it even when `None` (a `memmove` per poll, 9% of
/// a debug-mode poll under `perf`). The box is allocated only for a slow poll.
///
/// `unwinding`: the frame's poll is ending by a panic; the outermost poll it belongs to then
/// reports no slow poll (the panic is reported as what it is).
pub(crate) fn exit(token: Token, duration: Duration, unwinding: bool) -> Option<Box<SlowPoll>> {
    let dur_ns = saturating_nanos(duration);
    STACK
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            let depth = token.depth;
            s.unwound |= unwinding;
            // Frames are strictly nested (each is pushed and popped inside one poll call), so
            // `depth` is the top; resetting to it also repairs the stack after a foreign unwind.
            s.depth = depth;
            if let Some(frame) = s.frames.get(depth).copied().flatten() {
                if crate::config::tracing_polls() {
                    crate::dispatch::trace_poll(
                        frame.who,
                        frame.poll,
                        depth,
                        frame.start,
                        dur_ns,
                        dur_ns >= frame.threshold_ns,
                    );
                }
                let self_ns = dur_ns.saturating_sub(frame.child_ns);
                s.blame(frame, depth, self_ns);
                if dur_ns >= frame.threshold_ns {
                    s.exceeded_ns = Some(
                        s.exceeded_ns
                            .map_or(frame.threshold_ns, |t| t.min(frame.threshold_ns)),
                    );
                }
                if let Some(Some(parent)) = depth.checked_sub(1).map(|p| &mut s.frames[p]) {
                    parent.child_ns = parent.child_ns.saturating_add(dur_ns);
                }
            }
            let slot = s.slot;
            let watched = slot.and_then(|slot| slot.exit(depth));
            if depth != 0 {
                return None;
            }
            let exceeded_ns = s.exceeded_ns.take()?;
            if std::mem::take(&mut s.unwound) {
                return None;
            }
            // It waited most of its time for a CPU: starved by a busy machine, not blocking.
            if slot.zip(s.frames[0]).is_some_and(|(slot, outer)| {
                starved_poll(slot, outer.start.raw(), duration, exceeded_ns)
            }) {
                return None;
            }
            // Blocking inside `block_in_place` is what it is for: the worker's other tasks
            // were handed to another thread first.
            if watched.as_ref().is_some_and(|w| w.handed_off) {
                return None;
            }
            let ended_at = Ticks::now();
            s.last_slow_end = Some(ended_at);
            let culprit = s.culprit()?;
            let frame = culprit.frame?;
            // The watchdog's verdict holds for the fn it watched; another culprit gets none.
            let watched = watched.filter(|w| same_site(frame.who.fn_site(), w.culprit));
            let task = s.frames[0].and_then(|f| f.who.task());
            let slow = Box::new(SlowPoll {
                blame: Blame {
                    culprit: frame.who,
                    task,
                    created_at: Some(frame.created_at),
                    chain: culprit.chain(),
                    stack: None,
                },
                poll: frame.poll,
                calls: culprit.calls,
                blocked: duration,
                self_time: Duration::from_nanos(culprit.self_ns),
                threshold: Duration::from_nanos(exceeded_ns),
                kind: Kind::Unknown,
                stalled: false,
                thread: None,
                tid: 0,
                ended_ns: crate::clock::ns_since_epoch(ended_at),
            });
            with_verdict(slow, watched, slot)
        })
        .ok()
        .flatten()
}

/// This thread is a Tokio worker, about to park (`true`) or just unparked: on stable Tokio,
/// where no hook times task polls, the watchdog watches what an unparked worker is blocked in.
#[cfg(feature = "tokio")]
pub(crate) fn worker_parked(parked: bool) {
    // No `ensure_running` here: the runtime's guard keeps the watchdog running while it lives,
    // and a worker unparking while its runtime shuts down must not restart it for good.
    if let Some(slot) = my_slot() {
        slot.set_parked(parked);
    }
}

/// This thread stops running a runtime's tasks (a current-thread runtime's `block_on`
/// returned): it is no worker any more.
#[cfg(feature = "tokio")]
pub(crate) fn worker_done() {
    if let Some(slot) = claimed_slot() {
        slot.clear_worker();
    }
}

/// Publishes a frame for one poll of `who` in the production profile ([`DebugMode::Watch`]):
/// no clock is read and no thread-local stack is kept. The outermost frame records the coarse
/// time; frames are published for the watchdog, which names the culprit and chain of a long
/// poll from them. Nothing is handed back: [`exit_watch`] finds the frame on the slot (nested
/// frames always pop first, also when unwinding), so the caller keeps nothing across the poll.
///
/// [`DebugMode::Watch`]: crate::DebugMode::Watch
#[inline(always)]
pub(crate) fn enter_watch(who: Who) {
    let Some(slot) = my_slot() else { return };
    let depth = slot.depth();
    if depth == 0 {
        super::watchdog::control::ensure_running(slot.is_worker());
        slot.enter_at(0, who, crate::clock::coarse().raw());
    } else {
        slot.push(depth, who);
    }
}

/// Pops the frame [`enter_watch`] pushed. The outermost one reads the clock only if the
/// watchdog saw its poll running for half its threshold; then, if it lasted the threshold, it
/// returns the slow-poll report, blamed on the fn the watchdog saw blocking.
#[inline(always)]
pub(crate) fn exit_watch(unwinding: bool) -> Option<Box<SlowPoll>> {
    let slot = my_slot()?;
    let depth = slot.depth().checked_sub(1)?;
    if depth != 0 {
        slot.pop(depth);
        return None;
    }
    let start = slot.end_outermost();
    if !slot.seen_long(start) || unwinding {
        return None;
    }
    long_poll(slot, start)
}

/// The report of a poll the watchdog saw running long, if it lasted its threshold.
#[cold]
#[inline(never)]
fn long_poll(slot: &'static Slot, start: u64) -> Option<Box<SlowPoll>> {
    let blocked = Ticks::from_raw(start).map_or(Duration::ZERO, Ticks::elapsed);
    let watched = slot.watched(start);
    let marked = slot.take_marked(start);
    // The fn the watchdog reported as stalled, else the one it saw innermost when it marked.
    let cs = watched
        .as_ref()
        .map(|w| w.culprit)
        .or_else(|| marked.as_ref().map(|m| m.culprit))
        .flatten();
    let own = cs
        .and_then(CallSite::own_threshold_nanos)
        .unwrap_or_else(crate::config::slow_poll_nanos);
    let threshold = slot.budget_ns().map_or(own, |b| b.min(own));
    if saturating_nanos(blocked) < threshold {
        return None;
    }
    if watched.as_ref().is_some_and(|w| w.handed_off)
        || starved_poll(slot, start, blocked, threshold)
    {
        return None;
    }
    // Lag right after this on the thread is its doing (`task-lag`).
    let ended_at = Ticks::now();
    let _ = STACK.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.last_slow_end = Some(ended_at);
        }
    });
    let task = slot.task();
    let slow = Box::new(SlowPoll {
        blame: Blame {
            culprit: Who::blamed(cs, task),
            task,
            created_at: None,
            chain: marked.map(|m| m.chain).unwrap_or_default(),
            stack: None,
        },
        calls: 1,
        poll: 0,
        blocked,
        self_time: blocked,
        threshold: Duration::from_nanos(threshold),
        kind: Kind::Unknown,
        stalled: false,
        thread: None,
        tid: 0,
        ended_ns: crate::clock::ns_since_epoch(ended_at),
    });
    with_verdict(slow, watched, Some(slot))
}

/// Whether the poll that began at `start` and took `wall` spent most of it, since the watchdog
/// first saw it, waiting for a CPU, its own time under `threshold_ns`
/// ([`thread_cpu::starved`]). Read on the polled thread, which is running: every wait it had
/// is accounted. A poll the watchdog never saw is judged on its wall time. The watchdog may
/// have reported it as a stall meanwhile (it goes by wall time while the poll runs); it is
/// still no slow poll, and no `#[pollwatch::test]` fails for it.
#[cold]
#[inline(never)]
fn starved_poll(slot: &Slot, start: u64, wall: Duration, threshold_ns: u64) -> bool {
    let (Some(base), Some(waited)) = (slot.wait_base(start), thread_cpu::own_run_queue_wait())
    else {
        return false;
    };
    thread_cpu::starved(
        wall,
        waited.saturating_sub(base),
        Duration::from_nanos(threshold_ns),
    )
}

/// A slow poll with what the watchdog found while it ran: its kind, the stack, and whether it
/// was reported as a stall (unless the watchdog, reading the stack, has not decided yet: it
/// then sees the poll ended and leaves the report to this one). `None`: the report waits in
/// the stack read's rendezvous, made off this thread in this thread's `tracing` context once
/// the stack is in — a task no annotation names can only be named by its stack, and an
/// annotated fn's line, kind and system call come from it too (the first blocking poll of a
/// process, while the symbolizer still warms up, was named by its fn's definition line).
fn with_verdict(
    mut slow: Box<SlowPoll>,
    watched: Option<slot::Watched>,
    slot: Option<&Slot>,
) -> Option<Box<SlowPoll>> {
    let Some(w) = watched else {
        return Some(slow);
    };
    slow.kind = w.kind;
    slow.stalled = w
        .pending
        .as_ref()
        .is_none_or(|p| p.reported() == Some(true));
    slow.blame.stack = w.stack;
    let Some(pending) = w.pending.filter(|_| slow.blame.stack.is_none()) else {
        return Some(slow);
    };
    // Never waited for here, even briefly: the polled thread's stack must stay as its own
    // code leaves it (a wait's frames, left below the next blocking call, misled the unwinder
    // of the next stack read on this thread into a stale frame-pointer chain).
    // Made on another thread: the record names the polled one.
    slow.thread = slot.map(Slot::thread_name);
    slow.tid = slot.map_or(0, Slot::tid);
    pending.park(slow, slot.and_then(Slot::route))
}

/// Makes this thread run for `test` (`None`: for none); returns the previous one. The one
/// place a thread's test is set: in the thread's `dispatch::thread_test`, in its slot for the
/// watchdog, and as the budget of its polls (a copy in `STACK`, which is read on every poll
/// and must stay free of destructors: a thread-local that needs one, as the test's does, costs
/// a state check on every access).
#[cfg(feature = "tokio")]
pub(crate) fn set_thread_test(test: Option<ThreadTest>) -> Option<ThreadTest> {
    STACK
        .try_with(|s| {
            s.try_borrow_mut()
                .map(|mut s| {
                    // The watchdog applies the budget too, so short stalls in a test are seen.
                    if let Some(slot) = claimed_slot() {
                        publish_test(slot, test.as_ref());
                    }
                    s.budget_ns = test.as_ref().map(|t| t.budget_ns);
                    thread_test::replace(test)
                })
                .ok()
                .flatten()
        })
        .ok()
        .flatten()
}

/// Whether a slow poll ended on this thread within the last `window`: a task that waited that
/// long to be polled here waited because of it (and not merely behind many quick polls).
#[cfg(all(pollwatch_task_hooks, feature = "task-lag"))]
pub(crate) fn slow_poll_within(window: Duration) -> bool {
    STACK
        .try_with(|s| {
            s.try_borrow()
                .ok()
                .and_then(|s| s.last_slow_end)
                .is_some_and(|end| end.elapsed() <= window)
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::{CallSite, no_events};

    static OUTER: CallSite = CallSite::new("outer", "m", "a.rs", 1, 0, no_events);
    static INNER: CallSite = CallSite::new("inner", "m", "a.rs", 2, 0, no_events);
    static FAST: CallSite = CallSite::new("fast", "m", "a.rs", 3, 20_000_000, no_events);

    const MS: u64 = 1_000_000;
    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    fn loc() -> &'static std::panic::Location<'static> {
        std::panic::Location::caller()
    }

    // Synthetic durations: the arithmetic is tested without any real time passing.

    #[test]
    fn nested_blocking_blames_the_inner_frame_once() {
        let o = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        let i = enter(Who::Fn(&INNER), loc(), 3, 100 * MS, Ticks::now()).unwrap();
        assert!(
            exit(i, ms(150), false).is_none(),
            "only the outermost frame reports"
        );
        let report = exit(o, ms(152), false).expect("one report");
        assert_eq!(report.blame.culprit.to_string(), "inner");
        assert_eq!(report.blame.chain.to_string(), "outer > inner");
        assert_eq!(report.poll, 3);
        assert_eq!(report.blocked, ms(152));
        assert_eq!(report.self_time, ms(150));
        assert_eq!(report.threshold, ms(100));
    }

    #[test]
    fn self_time_picks_the_parent_when_it_did_the_work() {
        let o = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        let i = enter(Who::Fn(&INNER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        assert!(exit(i, ms(10), false).is_none());
        let report = exit(o, ms(200), false).unwrap();
        assert_eq!(report.blame.culprit.to_string(), "outer");
        assert_eq!(report.self_time, ms(190));
        assert_eq!(report.blame.chain.to_string(), "outer");
    }

    #[test]
    fn culprit_of_a_finished_sibling_keeps_its_own_chain() {
        let o = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        let i = enter(Who::Fn(&INNER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        let f = enter(Who::Fn(&FAST), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        assert!(exit(f, ms(80), false).is_none());
        assert!(exit(i, ms(81), false).is_none());
        // A sibling at depth 1 overwrites the slot `inner` used.
        let o2 = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        assert!(exit(o2, ms(5), false).is_none());
        let report = exit(o, ms(90), false).unwrap();
        assert_eq!(report.blame.culprit.to_string(), "fast");
        assert_eq!(report.blame.chain.to_string(), "outer > inner > fast");
        assert_eq!(report.calls, 1);
        assert_eq!(
            report.threshold,
            ms(20),
            "fast's own slow = 20ms was exceeded"
        );
    }

    #[test]
    fn self_time_is_summed_per_fn_within_one_poll() {
        // join!(inner(), inner(), inner()) in one poll of outer: 3 × 60 ms of inner beats
        // 100 ms of outer's own work.
        let o = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        for _ in 0..3 {
            let i = enter(Who::Fn(&INNER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
            assert!(exit(i, ms(60), false).is_none());
        }
        let report = exit(o, ms(280), false).unwrap();
        assert_eq!(report.blame.culprit.to_string(), "inner");
        assert_eq!(report.calls, 3);
        assert_eq!(report.self_time, ms(180));
        assert_eq!(report.blame.chain.to_string(), "outer > inner");
    }

    #[test]
    fn more_fns_than_the_table_holds_keep_the_biggest() {
        const fn small() -> CallSite {
            CallSite::new("f", "m", "a.rs", 9, 0, no_events)
        }
        static MANY: [CallSite; 12] = [
            small(),
            small(),
            small(),
            small(),
            small(),
            small(),
            small(),
            small(),
            small(),
            small(),
            small(),
            CallSite::new("big", "m", "a.rs", 10, 0, no_events),
        ];
        let o = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        for (i, cs) in MANY.iter().enumerate() {
            let t = enter(Who::Fn(cs), loc(), 1, 100 * MS, Ticks::now()).unwrap();
            let d = if i == 11 { ms(50) } else { ms(1) };
            assert!(exit(t, d, false).is_none());
        }
        let report = exit(o, ms(120), false).unwrap();
        assert_eq!(
            report.blame.culprit.to_string(),
            "outer",
            "outer's own 59 ms is the most"
        );
        let o = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        for (i, cs) in MANY.iter().enumerate() {
            let t = enter(Who::Fn(cs), loc(), 1, 100 * MS, Ticks::now()).unwrap();
            let d = if i == 11 { ms(90) } else { ms(1) };
            assert!(exit(t, d, false).is_none());
        }
        let report = exit(o, ms(110), false).unwrap();
        assert_eq!(
            report.blame.culprit.to_string(),
            "big",
            "a late big fn displaces a small one"
        );
    }

    #[test]
    fn fast_polls_report_nothing_and_reset() {
        let o = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        assert!(exit(o, ms(99), false).is_none());
        let o = enter(Who::Fn(&OUTER), loc(), 2, 100 * MS, Ticks::now()).unwrap();
        assert!(exit(o, ms(1), false).is_none());
    }

    #[test]
    fn a_poll_that_panicked_is_no_slow_poll() {
        let o = enter(Who::Fn(&OUTER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        let i = enter(Who::Fn(&INNER), loc(), 1, 100 * MS, Ticks::now()).unwrap();
        assert!(exit(i, ms(150), true).is_none());
        assert!(
            exit(o, ms(152), false).is_none(),
            "the panic went through the outer frame too"
        );
        let o = enter(Who::Fn(&OUTER), loc(), 2, 100 * MS, Ticks::now()).unwrap();
        assert!(
            exit(o, ms(150), false).is_some(),
            "the next poll is judged on its own"
        );
    }

    #[test]
    fn deep_recursion_is_bounded() {
        let tokens: Vec<_> = (0..MAX_DEPTH + 10)
            .map(|i| enter(Who::Fn(&INNER), loc(), i as u64, 100 * MS, Ticks::now()).unwrap())
            .collect();
        let mut report = None;
        for t in tokens.into_iter().rev() {
            report = exit(t, ms(120), false);
        }
        let report = report.unwrap();
        // Untracked frames' time is the deepest tracked frame's self time.
        assert_eq!(report.blame.chain.links().count(), MAX_DEPTH);
        assert_eq!(report.self_time, ms(120));
    }
}
