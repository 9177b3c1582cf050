//! The per-thread board the watchdog reads: each thread that polls in debug mode owns a [`Slot`]
//! in a static array and publishes, with relaxed stores, when its outermost poll began and which
//! instrumented frames are on its stack (pointers to `'static` call sites, so always valid to
//! read from another thread). Written by `frames.rs` on every poll; read by `watchdog/`.

use std::panic::Location;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::pending::Pending;
use super::thread_cpu::{self, NO_CLOCK};
use crate::clock::Ticks;
use crate::dispatch::Route;
use crate::record::{Chain, ChainLink, Kind, NativeStack, TaskRef, Who};
use crate::site::CallSite;
use crate::util::{AtomicStaticRef, lock, saturating_nanos};

/// Frames deeper than this are neither tracked nor published: their time counts as self time of
/// the deepest tracked frame, and the chain ends in `…`.
pub(crate) const MAX_DEPTH: usize = 32;

/// Threads watched at once; a thread beyond that polls unwatched (its slow polls are still
/// reported when they end).
const SLOTS: usize = 128;

/// One thread's published state. Aligned to two cache lines (the adjacent-line prefetcher's
/// unit) so that workers publishing their polls never write to a line another worker's slot is on.
#[repr(align(128))]
pub(crate) struct Slot {
    claimed: AtomicBool,
    /// When the outermost poll began, a raw [`Ticks`] reading (never 0); 0 when idle.
    start_ticks: AtomicU64,
    depth: AtomicUsize,
    frames: [AtomicStaticRef<CallSite>; MAX_DEPTH],
    task_id: AtomicU64,
    task_at: AtomicStaticRef<Location<'static>>,
    /// The thread's CPU clock id (Linux; such ids are negative), or [`NO_CLOCK`].
    cpu_clock: AtomicI64,
    /// The thread's kernel id (Linux), for reading what it is blocked in; 0 if unknown.
    tid: AtomicI64,
    /// A `#[pollwatch::test]`'s budget on this thread (0: none): stalls are reported from it.
    budget_ns: AtomicU64,
    /// The kind the watchdog found for `kind_cs` (none: the task itself) during the poll that
    /// began at `kind_for` (a `start_ticks`).
    kind: AtomicU8,
    kind_cs: AtomicStaticRef<CallSite>,
    kind_for: AtomicU64,
    /// The native stack the watchdog read during the poll that began at `kind_for`, and the
    /// rendezvous where that poll's slow-poll report waits for it while it is being read.
    stack: Mutex<Option<Arc<NativeStack>>>,
    pending: Mutex<Option<Arc<Pending>>>,
    /// The poll that began at this `start_ticks` was blocking inside Tokio's `block_in_place`,
    /// which handed the worker's other tasks to another thread: not a blocking poll.
    handed_off: AtomicU64,
    /// Production profile: the poll that began at this `start_ticks` was seen running for half its
    /// threshold, so it reads the clock when it ends; and what the watchdog saw then.
    long_for: AtomicU64,
    marked: Mutex<Option<Marked>>,
    /// The thread's run-queue wait when the watchdog first saw the poll that began at
    /// `wait_base_for` (ns): a slow poll that spent most of its time waiting for a CPU since
    /// then was starved, not blocking.
    wait_base: AtomicU64,
    wait_base_for: AtomicU64,
    /// A Tokio worker (its park/unpark hooks ran here), and whether it is parked now: the
    /// watchdog watches an unparked worker's system calls on stable Tokio.
    worker: AtomicBool,
    parked: AtomicBool,
    name: Mutex<String>,
    /// Where the watchdog's reports about this thread go, when not to its own thread's output.
    route: Mutex<Option<Route>>,
}

#[allow(clippy::declare_interior_mutable_const)] // a template for the static array, never used as a value
const SLOT: Slot = Slot {
    claimed: AtomicBool::new(false),
    start_ticks: AtomicU64::new(0),
    depth: AtomicUsize::new(0),
    frames: [const { AtomicStaticRef::none() }; MAX_DEPTH],
    task_id: AtomicU64::new(0),
    task_at: AtomicStaticRef::none(),
    cpu_clock: AtomicI64::new(NO_CLOCK),
    tid: AtomicI64::new(0),
    budget_ns: AtomicU64::new(0),
    kind: AtomicU8::new(0),
    kind_cs: AtomicStaticRef::none(),
    kind_for: AtomicU64::new(0),
    stack: Mutex::new(None),
    pending: Mutex::new(None),
    handed_off: AtomicU64::new(0),
    long_for: AtomicU64::new(0),
    wait_base: AtomicU64::new(0),
    wait_base_for: AtomicU64::new(0),
    marked: Mutex::new(None),
    worker: AtomicBool::new(false),
    parked: AtomicBool::new(false),
    name: Mutex::new(String::new()),
    route: Mutex::new(None),
};

static SLOT_TABLE: [Slot; SLOTS] = [SLOT; SLOTS];

/// What the watchdog saw of a long poll in the production profile: the innermost fn and the
/// chain, for the slow-poll report (no per-frame timing there to blame by self time).
#[derive(Debug)]
pub(crate) struct Marked {
    pub(crate) start: u64,
    pub(crate) culprit: Option<&'static CallSite>,
    pub(crate) chain: Chain,
}

/// What the watchdog found while a poll ran, handed to the slow-poll report when it ends.
#[derive(Debug)]
pub(crate) struct Watched {
    pub(crate) kind: Kind,
    /// The fn it watched (`None`: the task itself).
    pub(crate) culprit: Option<&'static CallSite>,
    pub(crate) stack: Option<Arc<NativeStack>>,
    /// Where the slow-poll report waits while the stack is still being read.
    pub(crate) pending: Option<Arc<Pending>>,
    /// Blocking inside `block_in_place`: not a blocking poll.
    pub(crate) handed_off: bool,
}

/// Whether two optional call sites are the same one.
pub(crate) fn same_site(a: Option<&'static CallSite>, b: Option<&'static CallSite>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => std::ptr::eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl Slot {
    /// Publishes a frame entering at `depth`; at depth 0 also the poll's start.
    #[inline]
    pub(crate) fn enter(&self, depth: usize, who: Who, start: Ticks) {
        self.enter_at(depth, who, start.raw());
    }

    /// [`enter`](Self::enter) with the start as a raw [`Ticks`] reading (never 0).
    #[inline(always)]
    pub(crate) fn enter_at(&self, depth: usize, who: Who, start_ticks: u64) {
        if depth == 0 {
            match who {
                Who::Task(task) => {
                    self.task_id.store(task.id, Relaxed);
                    self.task_at.store(Some(task.spawned_at), Relaxed);
                }
                Who::Fn(_) | Who::Untracked => self.task_at.store(None, Relaxed),
            }
            self.start_ticks.store(start_ticks, Release);
        }
        if let Some(frame) = self.frames.get(depth) {
            frame.store(who.fn_site(), Relaxed);
        }
        self.depth.store(depth + 1, Release);
    }

    /// Publishes the test this thread runs for: its budget (`None`: the threshold applies) and
    /// where reports about the thread go.
    pub(crate) fn set_test(&self, budget_ns: Option<u64>, route: Option<Route>) {
        self.budget_ns.store(budget_ns.unwrap_or(0), Relaxed);
        *lock(&self.route) = route;
    }

    /// The number of frames published (read by the thread that owns the slot).
    #[inline(always)]
    pub(crate) fn depth(&self) -> usize {
        self.depth.load(Relaxed)
    }

    /// Publishes a nested frame (production profile: no timestamp).
    #[inline(always)]
    pub(crate) fn push(&self, depth: usize, who: Who) {
        if let Some(frame) = self.frames.get(depth) {
            frame.store(who.fn_site(), Relaxed);
        }
        self.depth.store(depth + 1, Release);
    }

    /// Publishes a nested frame leaving.
    #[inline(always)]
    pub(crate) fn pop(&self, depth: usize) {
        self.depth.store(depth, Release);
    }

    /// The outermost poll ends (production profile): the thread goes idle. Returns the poll's
    /// start, for [`seen_long`](Self::seen_long).
    #[inline(always)]
    pub(crate) fn end_outermost(&self) -> u64 {
        self.depth.store(0, Release);
        // Only this thread writes `start_ticks` while the slot is claimed.
        let start = self.start_ticks.load(Relaxed);
        self.start_ticks.store(0, Release);
        start
    }

    /// What the watchdog found during the poll that began at `start`, once it ended (what
    /// [`exit`](Self::exit) returns for the outermost frame).
    pub(crate) fn watched(&self, start: u64) -> Option<Watched> {
        if self.kind_for.load(Acquire) != start {
            return None;
        }
        Some(Watched {
            kind: Kind::from_u8(self.kind.load(Relaxed)),
            culprit: self.kind_cs.load(Relaxed),
            stack: lock(&self.stack).take(),
            pending: lock(&self.pending).take(),
            handed_off: self.handed_off.load(Relaxed) == start,
        })
    }

    /// Whether the watchdog saw the poll that began at `start` running for half its threshold
    /// (production profile: it then reads the clock when it ends).
    #[inline(always)]
    pub(crate) fn seen_long(&self, start: u64) -> bool {
        self.long_for.load(Acquire) == start
    }

    /// The watchdog saw the poll that began at `start` running long, with `culprit` innermost.
    pub(crate) fn mark_long(&self, start: u64, culprit: Option<&'static CallSite>) {
        *lock(&self.marked) = Some(Marked {
            start,
            culprit,
            chain: self.chain(),
        });
        self.long_for.store(start, Release);
    }

    /// What [`mark_long`](Self::mark_long) recorded for the poll that began at `start`.
    pub(crate) fn take_marked(&self, start: u64) -> Option<Marked> {
        lock(&self.marked).take().filter(|m| m.start == start)
    }

    /// The watchdog first saw the poll that began at `start`, its thread having waited
    /// `waited` on a run queue so far (the first sighting of a poll counts).
    pub(crate) fn note_wait_base(&self, start: u64, waited: Duration) {
        if self.wait_base_for.load(Relaxed) == start {
            return;
        }
        self.wait_base.store(saturating_nanos(waited), Relaxed);
        self.wait_base_for.store(start, Release);
    }

    /// What [`note_wait_base`](Self::note_wait_base) recorded for the poll that began at
    /// `start`.
    pub(crate) fn wait_base(&self, start: u64) -> Option<Duration> {
        (self.wait_base_for.load(Acquire) == start)
            .then(|| Duration::from_nanos(self.wait_base.load(Relaxed)))
    }

    /// Publishes a frame leaving; at depth 0 the thread goes idle. Returns what the watchdog
    /// found while this poll ran.
    #[inline]
    pub(crate) fn exit(&self, depth: usize) -> Option<Watched> {
        self.depth.store(depth, Release);
        if depth != 0 {
            return None;
        }
        // Only this thread writes `start_ticks` while the slot is claimed: a load and a store,
        // not a locked read-modify-write, on the per-poll path.
        let start = self.start_ticks.load(Relaxed);
        self.start_ticks.store(0, Release);
        self.watched(start)
    }

    // What the watchdog reads.

    /// When the thread's outermost poll began (raw [`Ticks`]), or 0 if it is not polling.
    pub(crate) fn start_ticks(&self) -> u64 {
        self.start_ticks.load(Acquire)
    }

    pub(crate) fn cpu_clock(&self) -> i64 {
        self.cpu_clock.load(Relaxed)
    }

    pub(crate) fn tid(&self) -> i64 {
        self.tid.load(Relaxed)
    }

    pub(crate) fn budget_ns(&self) -> Option<u64> {
        match self.budget_ns.load(Relaxed) {
            0 => None,
            ns => Some(ns),
        }
    }

    fn published_frames(&self) -> impl Iterator<Item = &'static CallSite> + '_ {
        let depth = self.depth.load(Acquire).min(MAX_DEPTH);
        self.frames[..depth].iter().filter_map(|f| f.load(Relaxed))
    }

    /// The innermost instrumented frame on the thread's stack, if any.
    pub(crate) fn innermost(&self) -> Option<&'static CallSite> {
        self.published_frames().last()
    }

    /// The instrumented frames on the thread's stack, outermost first.
    pub(crate) fn chain(&self) -> Chain {
        Chain::new(
            self.published_frames()
                .map(|cs| ChainLink::Frame(Who::Fn(cs)))
                .collect(),
        )
    }

    /// The task being polled, when the runtime's hooks published one.
    pub(crate) fn task(&self) -> Option<TaskRef> {
        let spawned_at = self.task_at.load(Relaxed)?;
        Some(TaskRef {
            id: self.task_id.load(Relaxed),
            spawned_at,
        })
    }

    /// Where reports about this thread go, if not to the reporting thread's own output.
    pub(crate) fn route(&self) -> Option<Route> {
        lock(&self.route).clone()
    }

    /// The name of the thread that owns the slot.
    pub(crate) fn thread_name(&self) -> String {
        lock(&self.name).clone()
    }

    /// Records what the watchdog found for `culprit` during the poll that began at `start`, for
    /// the slow-poll report made when that poll ends, and where that report waits for the
    /// stack being read.
    pub(crate) fn publish_kind(
        &self,
        kind: Kind,
        culprit: Option<&'static CallSite>,
        start: u64,
        pending: Option<Arc<Pending>>,
    ) {
        if let Some(pending) = pending {
            *lock(&self.stack) = None;
            *lock(&self.pending) = Some(pending);
        }
        self.kind.store(kind.to_u8(), Relaxed);
        self.kind_cs.store(culprit, Relaxed);
        self.kind_for.store(start, Release);
    }

    /// Records the native stack read during the poll that began at `start` (after
    /// [`publish_kind`](Self::publish_kind) for it); `handed_off`: it was blocking inside
    /// `block_in_place`.
    pub(crate) fn publish_stack(&self, stack: Arc<NativeStack>, start: u64) {
        if stack.in_block_in_place {
            self.handed_off.store(start, Relaxed);
        }
        *lock(&self.stack) = Some(stack);
        // The poll may have ended meanwhile: then nobody takes the stack; drop it now.
        if self.start_ticks.load(Acquire) != start {
            lock(&self.stack).take();
        }
    }

    /// Marks this thread as a Tokio worker, parked or not.
    #[cfg(any(test, feature = "tokio"))]
    pub(crate) fn set_parked(&self, parked: bool) {
        self.worker.store(true, Relaxed);
        self.parked.store(parked, Relaxed);
    }

    /// Marks this thread as no longer running a runtime (a `block_on` returned).
    #[cfg(feature = "tokio")]
    pub(crate) fn clear_worker(&self) {
        self.worker.store(false, Relaxed);
    }

    /// A worker of a pollwatch runtime (its thread hooks ran here): that runtime's guard keeps
    /// the watchdog running while it lives.
    pub(crate) fn is_worker(&self) -> bool {
        self.worker.load(Relaxed)
    }

    /// A Tokio worker that is not parked: running tasks (or blocked in one).
    pub(crate) fn is_running_worker(&self) -> bool {
        self.worker.load(Relaxed) && !self.parked.load(Relaxed)
    }
}

#[cfg(test)]
impl Slot {
    /// A claimed slot outside the table, for a test that plays a thread (kernel id `tid`)
    /// without one; leaked, as the table's slots are `'static`.
    pub(crate) fn detached(tid: i64) -> &'static Slot {
        let slot: &'static Slot = Box::leak(Box::new(SLOT));
        slot.claimed.store(true, Relaxed);
        slot.tid.store(tid, Relaxed);
        lock(&slot.name).push_str("test-thread");
        slot
    }
}

/// Every slot that a live thread holds, with its index.
pub(crate) fn claimed() -> impl Iterator<Item = (usize, &'static Slot)> {
    SLOT_TABLE
        .iter()
        .enumerate()
        .filter(|(_, s)| s.claimed.load(Acquire))
}

/// This thread's slot, claimed on first use and released when the thread exits.
pub(crate) fn claim() -> Option<&'static Slot> {
    let slot = SLOT_TABLE.iter().find(|s| {
        s.claimed
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
    })?;
    slot.start_ticks.store(0, Relaxed);
    slot.depth.store(0, Relaxed);
    slot.kind_for.store(0, Relaxed);
    slot.handed_off.store(0, Relaxed);
    slot.long_for.store(0, Relaxed);
    slot.worker.store(false, Relaxed);
    slot.parked.store(false, Relaxed);
    slot.budget_ns.store(0, Relaxed);
    slot.cpu_clock
        .store(thread_cpu::current_thread_cpu_clock(), Relaxed);
    slot.tid.store(thread_cpu::current_tid(), Relaxed);
    {
        let mut name = lock(&slot.name);
        name.clear();
        name.push_str(std::thread::current().name().unwrap_or("unnamed"));
    }
    // Give the slot back when this thread exits.
    let _ = RELEASE.try_with(|r| r.0.set(Some(slot)));
    Some(slot)
}

struct SlotRelease(std::cell::Cell<Option<&'static Slot>>);

impl Drop for SlotRelease {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.start_ticks.store(0, Relaxed);
            slot.cpu_clock.store(NO_CLOCK, Relaxed);
            slot.worker.store(false, Relaxed);
            *lock(&slot.route) = None;
            lock(&slot.stack).take();
            slot.claimed.store(false, Release);
        }
    }
}

thread_local! {
    static RELEASE: SlotRelease = const { SlotRelease(std::cell::Cell::new(None)) };
}
