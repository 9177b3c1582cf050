//! `polls.rs`'s decisions, look by look: a fake system, slots of no thread, a fake clock.

use super::*;
use crate::detect::watchdog::system::fake::{Clock, Fake, Reported, StackRead, stack};
use crate::record::Who;
use crate::site::no_events;

const THRESHOLD: Duration = Duration::from_millis(100);
const MS: Duration = Duration::from_millis(1);

static BLOCKS: CallSite = CallSite::new("blocks", "m", "a.rs", 1, 0, no_events);
static INNER: CallSite = CallSite::new("inner", "m", "a.rs", 2, 0, no_events);
static OWN: CallSite = CallSite::new("own", "m", "a.rs", 3, 20_000_000, no_events);

/// Polls watched through a fake system, on slots of no thread, at a fake clock.
struct Looks {
    polls: Polls,
    sys: Fake,
    clock: Clock,
    slots: Vec<(usize, &'static Slot)>,
    marking: bool,
}

impl Looks {
    fn new() -> Self {
        Looks {
            polls: Polls::default(),
            sys: Fake::new(),
            clock: Clock::new(),
            slots: Vec::new(),
            marking: false,
        }
    }

    /// A thread `tid` whose poll began `ms` milliseconds in, in `culprit` (none: a task).
    fn polling(&mut self, tid: i64, ms: u64, culprit: Option<&'static CallSite>) -> &'static Slot {
        let slot = Slot::detached(tid);
        let who = culprit.map_or(Who::Untracked, Who::Fn);
        slot.enter_at(0, who, self.clock.start(ms));
        self.sys.thread(tid).active = Some(Duration::ZERO);
        self.slots.push((self.slots.len(), slot));
        slot
    }

    /// A look `ms` milliseconds in; the stalls it reported, as (thread, nth).
    fn look(&mut self, ms: u64) -> Vec<(i64, u32)> {
        self.scan(ms);
        self.sys.stalls()
    }

    /// A look `ms` milliseconds in (its reports stay in the fake).
    fn scan(&mut self, ms: u64) {
        let now = self.clock.at(ms);
        self.polls
            .scan(now, &self.slots, THRESHOLD, self.marking, &mut self.sys);
    }

    /// The one stall reported by a look `ms` milliseconds in.
    fn one_stall(&mut self, ms: u64) -> Stall {
        self.scan(ms);
        match &self.sys.reports()[..] {
            [Reported::Stall(s)] => s.clone(),
            other => panic!("not one stall: {other:?}"),
        }
    }
}

#[test]
fn a_poll_is_reported_at_its_threshold_once_then_at_the_escalations() {
    let mut w = Looks::new();
    w.polling(1, 0, Some(&BLOCKS));
    assert_eq!(w.look(50), []);
    assert_eq!(w.look(99), [], "just under the threshold");
    let first = w.one_stall(100);
    assert_eq!((first.nth, first.blocked), (1, THRESHOLD), "exactly at it");
    assert_eq!(first.threshold, THRESHOLD);
    assert!(std::ptr::eq(
        first.blame.culprit.fn_site().unwrap(),
        &BLOCKS
    ));
    assert_eq!(w.look(101), [], "once");
    assert_eq!(w.look(999), []);
    assert_eq!(w.look(1_000), [(1, 2)]);
    assert_eq!(w.look(4_999), []);
    assert_eq!(w.look(5_000), [(1, 3)]);
    assert_eq!(w.look(29_999), []);
    assert_eq!(w.look(30_000), [(1, 4)]);
    assert_eq!(w.look(59_999), []);
    assert_eq!(w.look(60_000), [(1, 5)]);
    assert!(w.polls.is_tracking());
}

#[test]
fn a_poll_first_seen_past_its_threshold_is_reported_at_once() {
    let mut w = Looks::new();
    w.polling(1, 0, None);
    let stall = w.one_stall(250);
    assert_eq!((stall.nth, stall.blocked), (1, 250 * MS));
    assert_eq!(w.look(999), []);
    assert_eq!(w.look(1_000), [(1, 2)]);
}

#[test]
fn a_fn_with_its_own_threshold_is_held_to_it() {
    let mut w = Looks::new();
    w.polling(1, 0, Some(&OWN));
    w.polling(2, 0, Some(&BLOCKS));
    assert_eq!(w.look(19), []);
    let stall = w.one_stall(20);
    assert_eq!((stall.tid, stall.threshold), (1, 20 * MS));
    assert_eq!(w.look(99), []);
    assert_eq!(w.look(100), [(2, 1)], "the others keep the threshold");
}

#[test]
fn a_tests_budget_lowers_the_threshold() {
    let mut w = Looks::new();
    let slot = w.polling(1, 0, Some(&OWN));
    slot.set_test(Some(10_000_000), None);
    assert_eq!(w.look(9), []);
    assert_eq!(w.one_stall(10).threshold, 10 * MS);
}

#[test]
fn each_fn_a_poll_blocks_in_is_a_stall_of_its_own() {
    let mut w = Looks::new();
    let slot = w.polling(1, 0, Some(&BLOCKS));
    assert_eq!(w.look(100), [(1, 1)]);
    // The same poll goes on into another fn: tracked from when it was first seen there.
    slot.push(1, Who::Fn(&INNER));
    assert_eq!(w.look(150), []);
    assert_eq!(w.look(249), []);
    let stall = w.one_stall(250);
    assert_eq!((stall.nth, stall.blocked), (1, THRESHOLD));
    assert!(std::ptr::eq(stall.blame.culprit.fn_site().unwrap(), &INNER));
}

#[test]
fn the_kind_comes_from_the_threads_active_time() {
    let mut w = Looks::new();
    for tid in 1..=5 {
        w.polling(tid, 0, None);
    }
    w.sys.thread(5).active = None;
    assert_eq!(w.look(10), []);
    // From 10 ms to 110 ms (100 ms of wall time): active all of it, none of it, half of
    // it runnable or asleep, unreadable.
    w.sys.thread(1).active = Some(100 * MS);
    w.sys.thread(3).active = Some(50 * MS);
    w.sys.thread(3).runnable = Some(true);
    w.sys.thread(4).active = Some(50 * MS);
    w.sys.thread(4).runnable = Some(false);
    w.scan(110);
    let mut kinds: Vec<(i64, Kind)> = w
        .sys
        .reports()
        .into_iter()
        .map(|r| match r {
            Reported::Stall(s) => (s.tid, s.kind),
            other => panic!("{other:?}"),
        })
        .collect();
    kinds.sort_by_key(|(tid, _)| *tid);
    assert_eq!(
        kinds,
        [
            (1, Kind::CpuBound),
            (2, Kind::Blocking),
            (3, Kind::CpuBound),
            (4, Kind::Mixed),
            (5, Kind::Unknown)
        ]
    );
    assert_eq!(w.sys.pauses, 0, "seen long enough: no sampling");
}

#[test]
fn a_poll_first_seen_past_its_threshold_is_sampled_briefly() {
    let mut w = Looks::new();
    w.polling(1, 0, None);
    w.polling(2, 0, None);
    w.sys.thread(1).spinning = true;
    w.scan(150);
    let kinds: Vec<_> = w
        .sys
        .reports()
        .into_iter()
        .map(|r| match r {
            Reported::Stall(s) => (s.tid, s.kind),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, [(1, Kind::CpuBound), (2, Kind::Blocking)]);
    assert_eq!(w.sys.pauses, 2, "10 ms each, on the watchdog's thread");
}

#[test]
fn a_stack_in_before_the_deadline_goes_in_the_first_report() {
    let mut w = Looks::new();
    w.polling(1, 0, Some(&BLOCKS));
    w.sys.thread(1).stack = StackRead::Later;
    assert_eq!(w.look(100), [], "waits for the stack");
    assert_eq!(w.sys.reads, [1]);
    w.sys.deliver(1, Some(stack(true, false)));
    let stall = w.one_stall(100);
    assert_eq!(stall.nth, 1);
    assert!(stall.blame.stack.is_some());
    // Later reports name the same stack; it is not read again.
    let again = w.one_stall(1_000);
    assert_eq!(again.nth, 2);
    assert!(again.blame.stack.is_some());
    assert_eq!(w.sys.reads, [1]);
}

#[test]
fn a_running_thread_its_sample_missed_is_sampled_again_at_the_next_look() {
    // A busy machine: the spinning thread waited for a CPU the whole sample window.
    let mut w = Looks::new();
    w.polling(1, 0, Some(&BLOCKS));
    w.sys.thread(1).stack = StackRead::Missed;
    assert_eq!(w.look(100), [], "not yet: sampled again");
    w.sys.thread(1).stack = StackRead::Named(stack(true, false));
    assert_eq!(w.look(112), [], "read again, and named");
    let stall = w.one_stall(125);
    assert_eq!(stall.nth, 1);
    assert!(stall.blame.stack.is_some(), "with its line");
    assert_eq!(w.sys.reads, [1, 1]);
}

#[test]
fn a_thread_never_sampled_is_reported_without_its_stack_after_a_few_looks() {
    let mut w = Looks::new();
    w.polling(1, 0, Some(&BLOCKS));
    w.sys.thread(1).stack = StackRead::Missed;
    for ms in [100, 112, 125] {
        assert_eq!(w.look(ms), [], "at {ms} ms");
    }
    let stall = w.one_stall(137);
    assert_eq!(stall.nth, 1);
    assert!(stall.blame.stack.is_none());
    assert_eq!(w.sys.reads, [1, 1, 1, 1]);
}

#[test]
fn a_stack_late_for_the_deadline_comes_as_a_follow_up() {
    let mut w = Looks::new();
    w.polling(1, 0, Some(&BLOCKS));
    w.sys.thread(1).stack = StackRead::Later;
    assert_eq!(w.look(100), []);
    let at = |wait: Duration| 100 + u64::try_from(wait.as_millis()).unwrap();
    if WAIT_ANNOTATED > MS {
        assert_eq!(
            w.look(at(WAIT_ANNOTATED) - 1),
            [],
            "an annotated fn waits briefly"
        );
    }
    let stall = w.one_stall(at(WAIT_ANNOTATED));
    assert_eq!(stall.nth, 1);
    assert!(stall.blame.stack.is_none(), "the deadline passed");
    w.sys.deliver(1, Some(stack(true, false)));
    match &w.sys.reports()[..] {
        [Reported::StallStack(s, b)] => assert!(s.nth == 1 && b.in_task_poll),
        other => panic!("no follow-up: {other:?}"),
    }
    // The escalations have no stack: the follow-up did not change the watch.
    let again = w.one_stall(1_000);
    assert!(again.nth == 2 && again.blame.stack.is_none());
}

#[test]
fn a_task_waits_longer_for_its_stack_and_longest_while_the_symbolizer_is_cold() {
    for (warm, wait) in [(true, WAIT_UNNAMED), (false, WAIT_COLD)] {
        let mut w = Looks::new();
        w.polling(1, 0, None);
        w.sys.warm = warm;
        w.sys.thread(1).stack = StackRead::Later;
        assert_eq!(w.look(100), []);
        let at = 100 + u64::try_from(wait.as_millis()).unwrap();
        if wait > MS {
            assert_eq!(w.look(at - 1), [], "warm: {warm}");
        }
        assert_eq!(w.look(at), [(1, 1)], "warm: {warm}");
    }
}

#[test]
fn a_poll_that_ends_while_its_stack_is_read_is_not_reported() {
    for answer in [StackRead::Nothing, StackRead::Later] {
        let mut w = Looks::new();
        let slot = w.polling(1, 0, Some(&BLOCKS));
        w.sys.thread(1).ends_on_read = Some(slot);
        w.sys.thread(1).stack = answer;
        assert_eq!(w.look(100), []);
        assert_eq!(w.look(110), []);
        assert!(!w.polls.is_tracking(), "forgotten");
        w.sys.deliver(1, Some(stack(true, false)));
        assert!(w.sys.reports().is_empty(), "no follow-up either");
    }
}

#[test]
fn a_thread_that_exits_is_forgotten() {
    let mut w = Looks::new();
    let slot = w.polling(1, 0, Some(&BLOCKS));
    w.sys.thread(1).stack = StackRead::Later;
    w.polling(2, 0, Some(&BLOCKS));
    assert_eq!(w.look(100), [(2, 1)], "1 waits for its stack");
    // Thread 1 exits: its slot is released (idle, no longer claimed).
    let _ = slot.exit(0);
    w.slots.retain(|(_, s)| !std::ptr::eq(*s, slot));
    assert_eq!(w.look(200), []);
    w.sys.deliver(1, Some(stack(true, false)));
    assert!(w.sys.reports().is_empty());
    assert_eq!(w.look(1_000), [(2, 2)], "the other one is still watched");
    w.slots.clear();
    assert_eq!(w.look(1_100), []);
    assert!(!w.polls.is_tracking());
}

#[test]
fn of_many_threads_only_the_stuck_ones_are_reported() {
    let mut w = Looks::new();
    for tid in 1..=64 {
        let slot = w.polling(tid, if tid % 8 == 0 { 0 } else { 60 }, None);
        if tid % 3 == 0 && tid % 8 != 0 {
            let _ = slot.exit(0); // idle
        }
    }
    assert_eq!(w.look(99), []);
    let mut stuck = w.look(100);
    stuck.sort_unstable();
    assert_eq!(stuck, (1..=8).map(|n| (n * 8, 1)).collect::<Vec<_>>());
    assert_eq!(w.look(159), []);
    assert_eq!(
        w.look(160).len(),
        64 - 8 - 19,
        "the others, at their own threshold"
    );
}

#[test]
fn a_poll_blocking_inside_block_in_place_is_not_reported() {
    let mut w = Looks::new();
    let slot = w.polling(1, 0, None);
    w.sys.thread(1).stack = StackRead::Named(stack(true, true));
    assert_eq!(w.look(100), []);
    assert_eq!(w.look(5_000), []);
    assert_eq!(w.sys.reads, [1]);
    assert!(slot.exit(0).is_some_and(|watched| watched.handed_off));
}

#[test]
fn the_production_profile_marks_a_poll_at_half_its_threshold() {
    let mut w = Looks::new();
    w.marking = true;
    let slot = w.polling(1, 0, Some(&BLOCKS));
    let start = w.clock.start(0);
    w.look(49);
    assert!(!slot.seen_long(start));
    w.look(50);
    assert!(slot.seen_long(start));
    let marked = slot.take_marked(start).expect("what was innermost");
    assert!(std::ptr::eq(marked.culprit.unwrap(), &BLOCKS));
}

#[test]
fn the_symbolizer_warms_up_at_half_the_threshold() {
    let mut w = Looks::new();
    w.polling(1, 0, None);
    w.look(49);
    assert_eq!(w.sys.warm_ups.get(), 0);
    w.look(50);
    assert_eq!(w.sys.warm_ups.get(), 1);
}

#[test]
fn the_slow_poll_learns_what_the_watchdog_found() {
    let mut w = Looks::new();
    let slot = w.polling(1, 0, Some(&BLOCKS));
    w.sys.thread(1).stack = StackRead::Named(stack(true, false));
    assert_eq!(w.look(100), []);
    // The delivery kicks the watchdog: the report is made at the next look.
    assert_eq!(w.look(100), [(1, 1)]);
    let watched = slot.exit(0).expect("watched");
    assert_eq!(watched.kind, Kind::Blocking);
    assert!(watched.stack.is_some() && !watched.handed_off);
}

#[test]
fn the_first_look_at_a_poll_notes_its_threads_run_queue_wait_for_the_slow_poll() {
    let mut w = Looks::new();
    let slot = w.polling(1, 0, Some(&BLOCKS));
    w.sys.thread(1).waited = Some(Duration::from_millis(500));
    assert_eq!(w.look(10), []);
    let start = slot.start_ticks();
    assert_eq!(slot.wait_base(start), Some(500 * MS));
    // Later looks keep the first.
    w.sys.thread(1).waited = Some(Duration::from_millis(590));
    w.sys.thread(1).runnable = Some(true);
    assert_eq!(w.look(60), []);
    assert_eq!(slot.wait_base(start), Some(500 * MS));
    // The stall reports go by wall time, starved or not: they are made while it runs.
    assert_eq!(w.look(110), [(1, 1)]);
    // The next poll on the thread has a base of its own.
    let _ = slot.exit(0);
    assert_eq!(slot.wait_base(start), Some(500 * MS), "kept, for that poll");
    slot.enter_at(0, Who::Fn(&BLOCKS), w.clock.start(200));
    assert_eq!(slot.wait_base(slot.start_ticks()), None);
}
