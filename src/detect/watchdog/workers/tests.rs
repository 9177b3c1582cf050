//! `workers.rs`'s decisions, look by look: a fake system, slots of no thread, a fake clock.

use super::*;
use crate::detect::watchdog::system::fake::{Clock, Fake, Reported, StackRead, stack};
use crate::record::Who;

const THRESHOLD: Duration = Duration::from_millis(100);
const MS: Duration = Duration::from_millis(1);

/// Workers watched through a fake system, on slots of no thread, at a fake clock.
struct Looks {
    workers: Workers,
    sys: Fake,
    clock: Clock,
    slots: Vec<(usize, &'static Slot)>,
}

impl Looks {
    fn new() -> Self {
        Looks {
            workers: Workers::default(),
            sys: Fake::new(),
            clock: Clock::new(),
            slots: Vec::new(),
        }
    }

    /// An unparked worker `tid`, asleep in a system call a task made (its stack says so).
    fn asleep(&mut self, tid: i64) -> &'static Slot {
        let slot = Slot::detached(tid);
        slot.set_parked(false);
        let thread = self.sys.thread(tid);
        thread.asleep = Some(7);
        thread.stack = StackRead::Named(stack(true, false));
        self.slots.push((self.slots.len(), slot));
        slot
    }

    /// A look `ms` milliseconds in (its reports stay in the fake).
    fn watch(&mut self, ms: u64) {
        let now = self.clock.instant(ms);
        self.workers
            .watch(now, &self.slots, THRESHOLD, &mut self.sys);
    }

    /// A look `ms` milliseconds in; the stalls it reported, as (thread, nth).
    fn look(&mut self, ms: u64) -> Vec<(i64, u32)> {
        self.watch(ms);
        self.sys.stalls()
    }

    /// The one slow poll reported by a look `ms` milliseconds in.
    fn one_slow_poll(&mut self, ms: u64) -> SlowPoll {
        self.watch(ms);
        match self.sys.reports().pop() {
            Some(Reported::SlowPoll(slow)) if self.sys.reports().is_empty() => slow,
            other => panic!("not one slow poll: {other:?}"),
        }
    }
}

#[test]
fn a_worker_asleep_past_the_threshold_is_a_stall_then_a_slow_poll() {
    let mut w = Looks::new();
    w.asleep(1);
    assert_eq!(w.look(0), []);
    assert_eq!(w.look(99), [], "just under the threshold");
    // Its stack is read now, and in at once: reported in the same look.
    w.watch(100);
    let stall = match &w.sys.reports()[..] {
        [Reported::Stall(s)] => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!((stall.tid, stall.nth, stall.blocked), (1, 1, THRESHOLD));
    assert_eq!(stall.kind, Kind::Blocking);
    assert!(stall.blame.stack.is_some_and(|b| b.blocks_a_worker()));
    assert_eq!(w.look(999), []);
    assert_eq!(w.look(1_000), [(1, 2)]);
    assert_eq!(w.sys.reads, [1], "read once");
    // It wakes: the slow poll it was, from the first look to the last that found it asleep.
    w.sys.thread(1).asleep = None;
    let slow = w.one_slow_poll(1_010);
    assert!(slow.stalled && slow.blame.stack.is_some());
    assert_eq!(
        (slow.tid, slow.blocked, slow.kind),
        (1, 1_000 * MS, Kind::Blocking)
    );
    assert!(!w.workers.is_tracking());
}

#[test]
fn a_worker_parked_between_two_looks_is_not_reported() {
    let mut w = Looks::new();
    let slot = w.asleep(1);
    assert_eq!(w.look(0), []);
    slot.set_parked(true);
    assert_eq!(w.look(150), []);
    assert!(!w.workers.is_tracking());
    assert_eq!(w.look(300), [], "a parked worker is not watched");
    assert!(w.sys.reads.is_empty());
}

#[test]
fn a_worker_that_ran_between_two_looks_sleeps_anew() {
    let mut w = Looks::new();
    w.asleep(1);
    assert_eq!(w.look(0), []);
    w.sys.thread(1).asleep = Some(8);
    assert_eq!(w.look(80), []);
    assert_eq!(w.look(170), [], "asleep for 90 ms only");
    assert_eq!(w.look(180), [(1, 1)]);
}

#[test]
fn a_sleep_begins_when_the_scheduler_saw_it_leave_its_cpu_at_most_a_tick_earlier() {
    let mut w = Looks::new();
    w.asleep(1);
    w.sys.thread(1).off_cpu = Some(Duration::from_secs(1));
    let tick = tick_of(THRESHOLD);
    assert_eq!(tick, Duration::from_micros(12_500));
    assert_eq!(w.look(1_000), []);
    assert_eq!(w.look(1_087), [], "99.5 ms after it went to sleep");
    assert_eq!(w.look(1_088), [(1, 1)]);
}

#[test]
fn the_runtimes_own_wait_is_read_three_times_then_ignored() {
    let mut w = Looks::new();
    w.asleep(1);
    w.sys.thread(1).stack = StackRead::Named(stack(false, false));
    w.look(0);
    for ms in [100, 110, 120, 130, 140, 150, 5_000] {
        assert_eq!(w.look(ms), []);
    }
    assert_eq!(w.sys.reads, [1, 1, 1]);
    w.sys.thread(1).asleep = None;
    assert_eq!(w.look(5_010), [], "no slow poll either");
}

#[test]
fn a_stack_that_comes_late_is_waited_for() {
    let mut w = Looks::new();
    w.asleep(1);
    w.sys.thread(1).stack = StackRead::Later;
    w.look(0);
    assert_eq!(w.look(100), []);
    assert_eq!(w.look(500), [], "however long it takes");
    w.sys.deliver(1, Some(stack(true, false)));
    w.watch(510);
    match &w.sys.reports()[..] {
        [Reported::Stall(s)] => assert_eq!((s.nth, s.blocked), (1, 510 * MS)),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.sys.reads, [1]);
}

#[test]
fn a_worker_that_wakes_while_its_stack_is_read_leaves_its_slow_poll_to_the_rendezvous() {
    let mut w = Looks::new();
    w.asleep(1);
    w.sys.thread(1).stack = StackRead::Later;
    w.look(0);
    assert_eq!(w.look(100), []);
    w.sys.thread(1).asleep = None;
    assert_eq!(w.look(110), []);
    assert!(!w.workers.is_tracking());
    assert!(
        !crate::detect::pending::settle(Duration::ZERO),
        "parked until the stack comes"
    );
    // The stack names nothing: no slow poll (one that names a task is made by the
    // rendezvous, through the dispatcher: `pending.rs`'s tests).
    w.sys.deliver(1, None);
    assert!(w.sys.reports().is_empty());
}

#[test]
fn a_worker_thread_that_exits_is_forgotten() {
    let mut w = Looks::new();
    let gone = w.asleep(1);
    w.asleep(2);
    w.look(0);
    assert_eq!(w.look(100), [(1, 1), (2, 1)]);
    // Thread 1 exits (its slot is released); thread 2's slot is taken by another thread.
    w.slots.retain(|(_, s)| !std::ptr::eq(*s, gone));
    let reclaimed = Slot::detached(3);
    reclaimed.set_parked(false);
    w.slots[0].1 = reclaimed;
    w.sys.thread(3).asleep = Some(1);
    w.watch(150);
    let mut ended: Vec<i64> = w
        .sys
        .reports()
        .into_iter()
        .map(|r| match r {
            Reported::SlowPoll(s) => s.tid,
            other => panic!("{other:?}"),
        })
        .collect();
    ended.sort_unstable();
    assert_eq!(ended, [1, 2], "each the slow poll it was");
    assert!(w.workers.is_tracking(), "the new thread, from now on");
    assert_eq!(w.look(249), []);
}

#[test]
fn of_many_workers_only_those_a_task_holds_are_reported() {
    let mut w = Looks::new();
    for tid in 1..=64 {
        let slot = w.asleep(tid);
        match tid % 4 {
            0 => {}
            // Running, in the runtime's own wait, polling a timed future (the polls' part).
            1 => w.sys.thread(tid).asleep = None,
            2 => w.sys.thread(tid).stack = StackRead::Named(stack(false, false)),
            _ => slot.enter_at(0, Who::Untracked, w.clock.start(0)),
        }
    }
    w.look(0);
    let mut held = w.look(100);
    held.sort_unstable();
    assert_eq!(held, (1..=16).map(|n| (n * 4, 1)).collect::<Vec<_>>());
}

#[test]
fn a_stopping_watchdog_reports_the_sleeps_it_saw() {
    let mut w = Looks::new();
    w.asleep(1);
    w.asleep(2);
    w.look(0);
    w.sys.thread(2).asleep = Some(9);
    assert_eq!(w.look(50), [], "2 sleeps anew");
    assert_eq!(w.look(100), [(1, 1)]);
    w.workers.stop(&w.sys);
    match &w.sys.reports()[..] {
        [Reported::SlowPoll(s)] => assert_eq!((s.tid, s.blocked), (1, THRESHOLD)),
        other => panic!("{other:?}"),
    }
    assert!(!w.workers.is_tracking());
}
