//! The recorder: each timed poll into its thread's ring. It runs on every timed poll while a
//! trace is asked for, so it takes one uncontended lock and copies 48 bytes (BENCHMARKS.md:
//! 13–15 ns a poll); everything else waits for the writer.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use crate::clock::Ticks;
use crate::record::Who;
use crate::util::lock;

/// Polls kept per thread.
pub(super) const PER_THREAD: usize = 32_768;
/// Threads kept.
pub(super) const THREADS: usize = 64;

/// One poll: who, which of its polls, nesting depth, when it began and how long it took.
#[derive(Clone, Copy)]
pub(super) struct PollEvent {
    pub(super) who: Who,
    pub(super) start: Ticks,
    pub(super) dur_ns: u64,
    pub(super) poll: u32,
    pub(super) depth: u16,
    /// It lasted its frame's threshold or longer.
    pub(super) slow: bool,
}

/// One thread's ring.
pub(super) struct Ring {
    /// The thread's name, when its ring was made.
    pub(super) name: String,
    /// Its kernel id (0 where unknown).
    pub(super) tid: i64,
    events: Vec<PollEvent>,
    /// Where the next event goes once `events` is full.
    next: usize,
    /// Events lost to newer ones.
    pub(super) overwritten: u64,
}

impl Ring {
    fn push(&mut self, e: PollEvent) {
        if self.events.len() < PER_THREAD {
            self.events.push(e);
        } else {
            self.events[self.next] = e;
            self.next = (self.next + 1) % PER_THREAD;
            self.overwritten += 1;
        }
    }

    /// Oldest first.
    pub(super) fn in_order(&self) -> impl Iterator<Item = &PollEvent> {
        let (newer, older) = self.events.split_at(self.next);
        older.iter().chain(newer)
    }
}

static RINGS: Mutex<Vec<Arc<Mutex<Ring>>>> = Mutex::new(Vec::new());

/// The rings kept, oldest first. A copy of the list: the writer then locks one ring at a time,
/// and a thread making its first ring meanwhile does not wait for the whole trace to be written.
pub(super) fn rings() -> Vec<Arc<Mutex<Ring>>> {
    lock(&RINGS).clone()
}

thread_local! {
    static MINE: RefCell<Option<Arc<Mutex<Ring>>>> = const { RefCell::new(None) };
}

/// A new ring for this thread, registered (making room if [`THREADS`] are kept).
fn new_ring() -> Arc<Mutex<Ring>> {
    let ring = Arc::new(Mutex::new(Ring {
        name: std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned(),
        tid: crate::util::current_tid(),
        events: Vec::new(),
        next: 0,
        overwritten: 0,
    }));
    let mut rings = lock(&RINGS);
    if rings.len() >= THREADS {
        // Make room: the oldest ring whose thread has ended, else the oldest.
        let gone = rings.iter().position(|r| Arc::strong_count(r) == 1);
        rings.remove(gone.unwrap_or(0));
    }
    rings.push(ring.clone());
    ring
}

/// Records one timed poll of `who` on this thread.
#[cold]
pub(crate) fn record(who: Who, poll: u64, depth: usize, start: Ticks, dur_ns: u64, slow: bool) {
    let event = PollEvent {
        who,
        start,
        dur_ns,
        poll: u32::try_from(poll).unwrap_or(u32::MAX),
        depth: u16::try_from(depth).unwrap_or(u16::MAX),
        slow,
    };
    // The ring is this thread's: its lock is only contended while the trace is written.
    let _ = MINE.try_with(|mine| {
        if let Ok(mut mine) = mine.try_borrow_mut() {
            lock(mine.get_or_insert_with(new_ring)).push(event);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_last_polls_oldest_first() {
        let mut ring = Ring {
            name: "t".to_owned(),
            tid: 1,
            events: Vec::new(),
            next: 0,
            overwritten: 0,
        };
        let start = Ticks::now();
        for i in 0..(PER_THREAD as u64 + 10) {
            ring.push(PollEvent {
                who: Who::Untracked,
                start,
                dur_ns: i,
                poll: 0,
                depth: 0,
                slow: false,
            });
        }
        assert_eq!(ring.events.len(), PER_THREAD);
        assert_eq!(ring.overwritten, 10);
        let kept: Vec<u64> = ring.in_order().map(|e| e.dur_ns).collect();
        assert_eq!(kept.first(), Some(&10));
        assert_eq!(kept.last(), Some(&(PER_THREAD as u64 + 9)));
        assert!(kept.windows(2).all(|w| w[0] + 1 == w[1]));
    }

    #[test]
    fn a_poll_event_stays_small() {
        // The documented memory cap (48 bytes a poll) depends on it.
        assert!(std::mem::size_of::<PollEvent>() <= 48);
    }
}
