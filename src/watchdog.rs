//! The live stall watchdog: reports a poll that is *still* blocking its thread, which the
//! slow-poll warning (emitted when the poll returns) cannot do for a poll that never returns.
//!
//! Each thread that polls in debug mode owns a [`Slot`] in a static array and publishes, with
//! relaxed stores, when its outermost poll began and which instrumented frames are on its stack
//! (pointers to `'static` call sites, so always valid to read from another thread). A watchdog
//! thread wakes every quarter threshold, reports each poll that has been running for at least the
//! threshold once, then again at growing intervals, and classifies it from the blocked thread's
//! CPU clock: CPU-bound (CPU time ≈ wall time) or blocking (asleep in a syscall, a lock, I/O).

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering::Acquire,
    Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::Instant;

use crate::callsite::CallSite;
use crate::frames::{MAX_DEPTH, Who};

/// Threads watched at once; a thread beyond that polls unwatched (its slow polls are still
/// reported when they end).
const SLOTS: usize = 128;

/// One thread's published state. Aligned to two cache lines (the adjacent-line prefetcher's
/// unit) so that workers publishing their polls never write to a line another worker's slot is on.
#[repr(align(128))]
pub(crate) struct Slot {
    claimed: AtomicBool,
    /// Nanoseconds since [`epoch`] (+1, so never 0) when the outermost poll began; 0 when idle.
    start_ns: AtomicU64,
    depth: AtomicUsize,
    frames: [AtomicPtr<CallSite>; MAX_DEPTH],
    task_id: AtomicU64,
    task_at: AtomicPtr<Location<'static>>,
    /// The thread's CPU clock id (Linux; such ids are negative), or [`NO_CLOCK`].
    cpu_clock: AtomicI64,
    /// The thread's kernel id (Linux), for reading what it is blocked in; 0 if unknown.
    tid: AtomicI64,
    /// A `#[pollwatch::test]`'s budget on this thread (0: none): stalls are reported from it.
    budget_ns: AtomicU64,
    /// The kind the watchdog found for `kind_cs` (null: the task itself) during the poll that
    /// began at `kind_for` (a `start_ns`).
    kind: AtomicU8,
    kind_cs: AtomicPtr<CallSite>,
    kind_for: AtomicU64,
    name: Mutex<String>,
}

#[allow(clippy::declare_interior_mutable_const)] // a template for the static array, never used as a value
const SLOT: Slot = Slot {
    claimed: AtomicBool::new(false),
    start_ns: AtomicU64::new(0),
    depth: AtomicUsize::new(0),
    frames: [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_DEPTH],
    task_id: AtomicU64::new(0),
    task_at: AtomicPtr::new(std::ptr::null_mut()),
    cpu_clock: AtomicI64::new(NO_CLOCK),
    tid: AtomicI64::new(0),
    budget_ns: AtomicU64::new(0),
    kind: AtomicU8::new(KIND_UNKNOWN),
    kind_cs: AtomicPtr::new(std::ptr::null_mut()),
    kind_for: AtomicU64::new(0),
    name: Mutex::new(String::new()),
};

static SLOT_TABLE: [Slot; SLOTS] = [SLOT; SLOTS];

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[inline]
fn ns_since_epoch(t: Instant) -> u64 {
    let d = t.saturating_duration_since(epoch());
    // u64 arithmetic (584 years of uptime), cheaper than `as_nanos()`'s u128 on this path.
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
        .saturating_add(1)
}

impl Slot {
    /// Publishes a frame entering at `depth`; at depth 0 also the poll's start.
    #[inline]
    pub(crate) fn enter(&self, depth: usize, who: Who, start: Instant) {
        if depth == 0 {
            match who {
                Who::Task { id, spawned_at } => {
                    self.task_id.store(id, Relaxed);
                    self.task_at
                        .store(std::ptr::from_ref(spawned_at).cast_mut(), Relaxed);
                }
                Who::Fn(_) => self.task_at.store(std::ptr::null_mut(), Relaxed),
            }
            self.start_ns.store(ns_since_epoch(start), Release);
        }
        if let (Some(frame), Who::Fn(cs)) = (self.frames.get(depth), who) {
            frame.store(std::ptr::from_ref(cs).cast_mut(), Relaxed);
        } else if let Some(frame) = self.frames.get(depth) {
            frame.store(std::ptr::null_mut(), Relaxed);
        }
        self.depth.store(depth + 1, Release);
    }

    /// Publishes the budget of the test running on this thread (`None`: the threshold applies).
    pub(crate) fn set_budget(&self, budget_ns: Option<u64>) {
        self.budget_ns.store(budget_ns.unwrap_or(0), Relaxed);
    }

    /// Publishes a frame leaving; at depth 0 the thread goes idle. Returns what the watchdog
    /// found while this poll ran: the kind, for which fn (`None`: the task itself).
    #[inline]
    pub(crate) fn exit(&self, depth: usize) -> Option<(&'static str, Option<&'static CallSite>)> {
        self.depth.store(depth, Release);
        if depth != 0 {
            return None;
        }
        // Only this thread writes `start_ns` while the slot is claimed: a load and a store,
        // not a locked read-modify-write, on the per-poll path.
        let start = self.start_ns.load(Relaxed);
        self.start_ns.store(0, Release);
        if self.kind_for.load(Acquire) != start {
            return None;
        }
        // SAFETY: non-null pointers here are `&'static CallSite`s stored by the watchdog.
        let cs = unsafe { self.kind_cs.load(Relaxed).as_ref() };
        Some((kind_name(self.kind.load(Relaxed)), cs))
    }
}

/// This thread's slot, claimed on first use and released when the thread exits.
pub(crate) fn claim() -> Option<&'static Slot> {
    let slot = SLOT_TABLE.iter().find(|s| {
        s.claimed
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
    })?;
    slot.start_ns.store(0, Relaxed);
    slot.depth.store(0, Relaxed);
    slot.kind_for.store(0, Relaxed);
    slot.budget_ns.store(0, Relaxed);
    slot.cpu_clock.store(current_thread_cpu_clock(), Relaxed);
    slot.tid.store(current_tid(), Relaxed);
    if let Ok(mut name) = slot.name.lock() {
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
            slot.start_ns.store(0, Relaxed);
            slot.cpu_clock.store(NO_CLOCK, Relaxed);
            slot.claimed.store(false, Release);
        }
    }
}

thread_local! {
    static RELEASE: SlotRelease = const { SlotRelease(std::cell::Cell::new(None)) };
}

/// No CPU clock: outside `clockid_t`'s range, which covers the negative per-thread ids.
const NO_CLOCK: i64 = i64::MIN;

const KIND_UNKNOWN: u8 = 0;
const KIND_CPU: u8 = 1;
const KIND_BLOCKING: u8 = 2;
const KIND_MIXED: u8 = 3;

fn kind_name(k: u8) -> &'static str {
    match k {
        KIND_CPU => "cpu-bound",
        KIND_BLOCKING => "blocking",
        KIND_MIXED => "mixed",
        _ => "unknown",
    }
}

/// CPU share of wall time → kind: ≥ 80 % on CPU is CPU-bound, ≤ 20 % is blocking.
fn classify(cpu: Duration, wall: Duration) -> u8 {
    if wall.is_zero() {
        return KIND_UNKNOWN;
    }
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    if share >= 0.8 {
        KIND_CPU
    } else if share <= 0.2 {
        KIND_BLOCKING
    } else {
        KIND_MIXED
    }
}

#[cfg(target_os = "linux")]
fn current_thread_cpu_clock() -> i64 {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: pthread_self() is always a valid thread handle for the calling thread, and
    // `clock` is a valid out-pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if rc == 0 { i64::from(clock) } else { NO_CLOCK }
}

#[cfg(not(target_os = "linux"))]
fn current_thread_cpu_clock() -> i64 {
    NO_CLOCK
}

#[cfg(target_os = "linux")]
fn current_tid() -> i64 {
    // SAFETY: gettid has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

#[cfg(not(target_os = "linux"))]
fn current_tid() -> i64 {
    0
}

/// Native stacks of stalled threads (`stacks` feature, Linux): captured here, symbolized and
/// reported by a thread of their own, started and stopped with the watchdog.
#[cfg(all(feature = "stacks", target_os = "linux"))]
struct Stacks(Option<crate::stacks::Symbolizer>);

#[cfg(all(feature = "stacks", target_os = "linux"))]
impl Stacks {
    fn start() -> Self {
        Stacks(crate::stacks::symbolizer())
    }

    /// Captures what the stalled thread is blocked in and hands it over; `true` once done.
    fn show(&self, slot: &Slot, kind: u8, stall: crate::events::Stall) -> bool {
        // A CPU-bound thread is not in a system call: there is no frozen stack to read.
        let tid = slot.tid.load(Relaxed);
        if kind == KIND_CPU || tid <= 0 {
            return false;
        }
        let (Some((tx, _)), Some(raw)) = (&self.0, crate::stacks::capture(tid)) else {
            return false;
        };
        let _ = tx.send((stall, raw));
        true
    }

    fn stop(self) {
        if let Some((tx, handle)) = self.0 {
            drop(tx);
            let _ = handle.join();
        }
    }
}

#[cfg(not(all(feature = "stacks", target_os = "linux")))]
struct Stacks;

#[cfg(not(all(feature = "stacks", target_os = "linux")))]
impl Stacks {
    fn start() -> Self {
        Stacks
    }

    fn show(&self, _slot: &Slot, _kind: u8, _stall: crate::events::Stall) -> bool {
        true
    }

    fn stop(self) {}
}

/// CPU time consumed so far by the thread owning `clock`; `None` if unavailable (not Linux, or
/// the thread exited).
#[cfg(target_os = "linux")]
fn cpu_time(clock: i64) -> Option<Duration> {
    let clock = libc::clockid_t::try_from(clock).ok()?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; an invalid clock id makes the call fail with EINVAL,
    // which is handled, never UB.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| {
        Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn cpu_time(_clock: i64) -> Option<Duration> {
    None
}

/// Keeps the watchdog thread running; the thread stops (and is joined) when the last guard is
/// dropped. Every runtime built by [`Builder`](crate::Builder) holds one; hold one yourself to
/// watch `#[async_timed]` fns under another executor.
///
/// # Examples
///
/// ```
/// let guard = pollwatch::watchdog();
/// futures::executor::block_on(async { /* polls here are watched while they run */ });
/// drop(guard); // the watchdog thread stops here if nothing else holds it
/// ```
#[must_use = "the watchdog stops when the guard is dropped"]
#[derive(Debug)]
pub struct WatchdogGuard(());

struct Control {
    users: usize,
    thread: Option<JoinHandle<()>>,
    stop: bool,
}

static CONTROL: Mutex<Control> = Mutex::new(Control {
    users: 0,
    thread: None,
    stop: false,
});
static WAKE: Condvar = Condvar::new();

/// Starts the watchdog thread (if it is not running) and keeps it running while the guard lives.
///
/// It reports, as `pollwatch::stall` events, polls that have blocked their thread for at least
/// the slow-poll threshold *while they still run*; it only acts in debug mode.
///
/// # Examples
///
/// ```
/// let _watchdog = pollwatch::watchdog();
/// ```
pub fn watchdog() -> WatchdogGuard {
    crate::clock::warm_up();
    let mut c = CONTROL.lock().unwrap_or_else(|e| e.into_inner());
    c.users += 1;
    if c.thread.is_none() {
        c.stop = false;
        c.thread = std::thread::Builder::new()
            .name(WATCHDOG_THREAD.into())
            .spawn(run)
            .ok();
    }
    WatchdogGuard(())
}

/// The watchdog thread's name (at most 15 bytes: Linux truncates longer names in `top`).
pub(crate) const WATCHDOG_THREAD: &str = "pollwatch-wdog";

impl Drop for WatchdogGuard {
    fn drop(&mut self) {
        let handle = {
            let mut c = CONTROL.lock().unwrap_or_else(|e| e.into_inner());
            c.users = c.users.saturating_sub(1);
            if c.users > 0 {
                return;
            }
            c.stop = true;
            c.thread.take()
        };
        WAKE.notify_all();
        if let Some(handle) = handle {
            // Never join from the watchdog thread itself (a guard dropped by an event handler).
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

/// What the watchdog remembers of a poll it is watching. One long poll can run several
/// blocking fns one after the other (none of them yields): each is a stall of its own, tracked
/// from when it became the innermost frame.
struct Watch {
    /// The innermost frame (null: none, the task itself) and since when it was (the poll's
    /// start for the first culprit of a poll).
    culprit: *const CallSite,
    since: Instant,
    /// The thread's CPU time when the watchdog first saw this culprit, and when that was.
    cpu_base: Option<Duration>,
    cpu_base_at: Instant,
    reports: u32,
    stack_shown: bool,
}

/// Reports again after the poll has been blocked this long (then every 30 s).
const ESCALATIONS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

fn next_report_after(reports: u32, threshold: Duration) -> Duration {
    match reports {
        0 => threshold,
        n => {
            let i = (n - 1) as usize;
            ESCALATIONS
                .get(i)
                .copied()
                .unwrap_or_else(|| Duration::from_secs(30) * (n - 2))
                .max(threshold)
        }
    }
}

fn run() {
    let stacks = Stacks::start();
    let mut watching: HashMap<(usize, u64), Watch> = HashMap::new();
    loop {
        let threshold = Duration::from_nanos(crate::config::slow_poll_nanos().max(1_000_000));
        let tick = (threshold / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
        {
            let c = CONTROL.lock().unwrap_or_else(|e| e.into_inner());
            let (c, _) = WAKE
                .wait_timeout_while(c, tick, |c| !c.stop)
                .unwrap_or_else(|e| e.into_inner());
            if c.stop {
                drop(c);
                stacks.stop();
                return;
            }
        }
        if !crate::config::debug_mode().is_on() {
            watching.clear();
            continue;
        }
        let now = Instant::now();
        let now_ns = ns_since_epoch(now);
        watching.retain(|(i, start), _| SLOT_TABLE[*i].start_ns.load(Acquire) == *start);
        for (i, slot) in SLOT_TABLE.iter().enumerate() {
            if !slot.claimed.load(Acquire) {
                continue;
            }
            let start = slot.start_ns.load(Acquire);
            if start == 0 {
                continue;
            }
            let clock = slot.cpu_clock.load(Relaxed);
            let blocked = Duration::from_nanos(now_ns.saturating_sub(start));
            let poll_start = now.checked_sub(blocked).unwrap_or(now);
            let culprit = innermost(slot);
            let watch = watching.entry((i, start)).or_insert_with(|| Watch {
                culprit,
                since: poll_start,
                cpu_base: cpu_time(clock),
                cpu_base_at: now,
                reports: 0,
                stack_shown: false,
            });
            if !std::ptr::eq(watch.culprit, culprit) {
                *watch = Watch {
                    culprit,
                    since: now,
                    cpu_base: cpu_time(clock),
                    cpu_base_at: now,
                    reports: 0,
                    stack_shown: false,
                };
            }
            let blocking_for = now.saturating_duration_since(watch.since);
            // SAFETY: non-null frame pointers are `&'static CallSite`s stored by `Slot::enter`.
            let own = unsafe { culprit.as_ref() }
                .and_then(CallSite::own_threshold_nanos)
                .map_or(threshold, Duration::from_nanos);
            let own = match slot.budget_ns.load(Relaxed) {
                0 => own,
                budget => own.min(Duration::from_nanos(budget)),
            };
            if blocking_for < next_report_after(watch.reports, own) {
                continue;
            }
            let kind = classify_now(watch, clock, now);
            slot.kind.store(kind, Relaxed);
            slot.kind_cs.store(culprit.cast_mut(), Relaxed);
            slot.kind_for.store(start, Release);
            // The poll may have ended while we looked: then its slow-poll warning speaks.
            if slot.start_ns.load(Acquire) != start {
                continue;
            }
            watch.reports += 1;
            let stall = stall_of(slot, blocking_for, kind_name(kind), watch.reports, own);
            crate::events::stall(&stall);
            // Then, once per stall, what the thread is blocked in: symbolizing can take a while
            // (debug info is parsed lazily), so it never delays the report above.
            if !watch.stack_shown {
                watch.stack_shown = stacks.show(slot, kind, stall);
            }
        }
    }
}

/// The innermost instrumented frame on the slot's stack (null if none).
fn innermost(slot: &Slot) -> *const CallSite {
    let depth = slot.depth.load(Acquire).min(MAX_DEPTH);
    slot.frames[..depth]
        .iter()
        .rev()
        .map(|f| f.load(Relaxed).cast_const())
        .find(|p| !p.is_null())
        .unwrap_or(std::ptr::null())
}

/// CPU share since the watchdog first saw the culprit; if that was just now, samples for a
/// short while on this thread, so that even the first report is classified.
fn classify_now(watch: &Watch, clock: i64, now: Instant) -> u8 {
    let (Some(cpu0), Some(mut cpu1)) = (watch.cpu_base, cpu_time(clock)) else {
        return KIND_UNKNOWN;
    };
    let mut wall = now.saturating_duration_since(watch.cpu_base_at);
    if wall < Duration::from_millis(5) {
        std::thread::sleep(Duration::from_millis(10));
        cpu1 = cpu_time(clock).unwrap_or(cpu1);
        wall = watch.cpu_base_at.elapsed();
    }
    classify(cpu1.saturating_sub(cpu0), wall)
}

fn stall_of(
    slot: &Slot,
    blocked: Duration,
    kind: &'static str,
    nth: u32,
    threshold: Duration,
) -> crate::events::Stall {
    let depth = slot.depth.load(Acquire).min(MAX_DEPTH);
    let mut chain: Vec<&'static str> = Vec::with_capacity(depth);
    let mut innermost: Option<&'static CallSite> = None;
    for frame in &slot.frames[..depth] {
        // SAFETY: non-null frame pointers are `&'static CallSite`s stored by `Slot::enter`.
        if let Some(cs) = unsafe { frame.load(Relaxed).as_ref() } {
            chain.push(cs.name());
            innermost = Some(cs);
        }
    }
    // SAFETY: non-null task locations are `&'static Location`s stored by `Slot::enter`.
    let task_at = unsafe { slot.task_at.load(Relaxed).as_ref() };
    let task = task_at.map(|at| (slot.task_id.load(Relaxed), at));
    let thread = slot.name.lock().map(|n| n.clone()).unwrap_or_default();
    crate::events::Stall {
        culprit: innermost,
        task,
        chain: chain.join(" > "),
        thread,
        blocked,
        threshold,
        kind,
        nth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_by_cpu_share() {
        let ms = Duration::from_millis;
        assert_eq!(kind_name(classify(ms(95), ms(100))), "cpu-bound");
        assert_eq!(kind_name(classify(ms(3), ms(100))), "blocking");
        assert_eq!(kind_name(classify(ms(50), ms(100))), "mixed");
        assert_eq!(kind_name(classify(ms(0), ms(0))), "unknown");
    }

    #[test]
    fn escalation_intervals_grow() {
        let t = Duration::from_millis(100);
        let at: Vec<_> = (0..5).map(|n| next_report_after(n, t)).collect();
        assert_eq!(
            at,
            [
                t,
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(60)
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_cpu_clock_of_this_thread_advances_when_busy() {
        // Spin until the thread's CPU clock shows 15 ms, however long a loaded machine takes to
        // give them; a clock that never advances fails at the deadline.
        let clock = current_thread_cpu_clock();
        let before = cpu_time(clock).unwrap();
        let start = Instant::now();
        let mut used = Duration::ZERO;
        while used < Duration::from_millis(15) && start.elapsed() < Duration::from_secs(30) {
            for _ in 0..10_000 {
                std::hint::black_box(0);
            }
            used = cpu_time(clock).unwrap() - before;
        }
        assert!(
            used >= Duration::from_millis(15),
            "{used:?} after {:?}",
            start.elapsed()
        );
    }
}
