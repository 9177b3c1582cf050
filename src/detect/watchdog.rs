//! The live stall watchdog: reports a poll that is *still* blocking its thread, which the
//! slow-poll warning (emitted when the poll returns) cannot do for a poll that never returns.
//!
//! A watchdog thread wakes every eighth of the threshold, reads every thread's [slot](super::slot),
//! reports each poll that has been running for at least the threshold once, then again at
//! growing intervals, and classifies it from the blocked thread's CPU clock: CPU-bound (CPU time
//! ≈ wall time) or blocking (asleep in a syscall, a lock, I/O).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::pending::Pending;
use super::slot::{self, Slot, same_site};
use super::stacks::{Read, Stacks, WAIT_ANNOTATED, WAIT_COLD, WAIT_UNNAMED, is_warm};
use super::thread_cpu::{active_time, asleep_since_switch, classify, is_runnable, off_cpu_for};
use crate::clock::{Instant, Ticks};
use crate::record::{Blocked, Chain, Kind, Route, SlowPoll, Stall, Who};
use crate::site::CallSite;
use crate::util::{lock, say};

/// Keeps the watchdog thread running; the thread stops (and is joined) when the last guard is
/// dropped. Every runtime built by [`Builder`](crate::Builder) holds one. Without any, the first
/// instrumented poll in debug mode starts the watchdog for the rest of the process; hold a
/// guard to start it earlier (before the first poll) or to have it stopped and joined at a
/// point of your choosing.
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

impl WatchdogGuard {
    /// Warms the symbolizer up now and waits, at most `timeout`, until the watchdog can name a
    /// stall's culprit from its native stack at once: the symbolizer has parsed the binary's
    /// debug information (tens of milliseconds in a release build, a few hundred in a debug
    /// one; longer on a busy machine). Returns whether it is ready (always `true` without the
    /// `stacks` feature).
    ///
    /// Nothing in pollwatch waits for this, and the symbolizer otherwise starts with the first
    /// stack it has to name (a program or a test that never blocks never pays for it); the
    /// reports of a stall meanwhile wait for their stack, off the blocked thread. A service may
    /// warm it up before serving, so that even a stall in its first requests is reported at
    /// once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let watchdog = pollwatch::watchdog();
    /// let ready = watchdog.wait_until_ready(Duration::from_secs(3));
    /// # let _ = ready;
    /// ```
    pub fn wait_until_ready(&self, timeout: Duration) -> bool {
        RUNNING.load(Relaxed) && super::stacks::wait_warm(timeout)
    }
}

struct Control {
    users: usize,
    thread: Option<JoinHandle<()>>,
    stop: bool,
    /// Look now, not at the next tick (see [`look_now`]).
    kick: bool,
    /// Looks completed (ticks and kicks).
    passes: u64,
}

static CONTROL: Mutex<Control> = Mutex::new(Control {
    users: 0,
    thread: None,
    stop: false,
    kick: false,
    passes: 0,
});
/// Signalled when a look completes.
static PASSED: Condvar = Condvar::new();
static WAKE: Condvar = Condvar::new();
/// The watchdog thread runs (read on every outermost poll in debug mode, without the lock).
static RUNNING: AtomicBool = AtomicBool::new(false);
/// The thread could not be started: do not try again on every poll.
static GAVE_UP: AtomicBool = AtomicBool::new(false);
/// The last look left something to report later (a poll or a sleeping worker it watches):
/// only then does [`look_now`] wait for another look.
static TRACKING: AtomicBool = AtomicBool::new(false);

/// Starts the watchdog if none runs and debug mode is on. From a thread of no pollwatch
/// runtime (`worker` false), for the rest of the process: the first instrumented poll does, so
/// a poll that never returns is reported under any executor (plain `#[tokio::main]`,
/// `futures::executor`), not only on pollwatch's runtimes. From a pollwatch runtime's worker,
/// only while a guard wants it (debug mode turned on after the runtime was built, off): its
/// runtime's guard then stops it; a worker polling while its runtime shuts down must not start
/// it for good. One relaxed load when it already runs.
#[inline(always)]
pub(crate) fn ensure_running(worker: bool) {
    if !RUNNING.load(Relaxed) {
        start_when_needed(worker);
    }
}

#[cold]
#[inline(never)]
fn start_when_needed(worker: bool) {
    if GAVE_UP.load(Relaxed) || !crate::config::debug_mode().is_on() {
        return;
    }
    let mut c = lock(&CONTROL);
    if c.thread.is_some() {
        return;
    }
    if worker {
        if c.users == 0 {
            return;
        }
    } else {
        // A user that is never dropped: the process keeps it. Guards taken later add to it,
        // and dropping them leaves it running.
        c.users += 1;
    }
    start(&mut c);
}

/// Starts the thread (the lock is held).
fn start(c: &mut Control) {
    crate::clock::warm_up();
    super::at_exit::register();
    c.stop = false;
    c.thread = std::thread::Builder::new()
        .name(WATCHDOG_THREAD.into())
        .spawn(run)
        .ok();
    match c.thread {
        Some(_) => RUNNING.store(true, Relaxed),
        None => GAVE_UP.store(true, Relaxed),
    }
}

/// Starts the watchdog thread (if it is not running) and keeps it running while the guard lives.
///
/// It reports, as `pollwatch::stall` events, polls that have blocked their thread for at least
/// the slow-poll threshold *while they still run*, with the culprit's line and native stack;
/// it only acts in debug mode.
///
/// # Examples
///
/// ```
/// let _watchdog = pollwatch::watchdog();
/// ```
pub fn watchdog() -> WatchdogGuard {
    let mut c = lock(&CONTROL);
    c.users += 1;
    // Off is free: no thread (nor its symbolizer) until debug mode is on; the first poll
    // timed after that starts it (`ensure_running`).
    if c.thread.is_none() && crate::config::debug_mode().is_on() {
        start(&mut c);
    }
    WatchdogGuard(())
}

/// The watchdog thread's name (at most 15 bytes: Linux truncates longer names in `top`).
const WATCHDOG_THREAD: &str = "pollwatch-wdog";

impl Drop for WatchdogGuard {
    fn drop(&mut self) {
        let handle = {
            let mut c = lock(&CONTROL);
            c.users = c.users.saturating_sub(1);
            if c.users > 0 {
                return;
            }
            c.stop = true;
            RUNNING.store(false, Relaxed);
            c.thread.take()
        };
        WAKE.notify_all();
        // A `look_now` waiting for the next look: there will be none.
        PASSED.notify_all();
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
    stack: Option<Arc<Blocked>>,
    /// The poll was marked as long (production profile).
    marked: bool,
}

impl Watch {
    fn new(culprit: Option<&'static CallSite>, since: Instant, slot: &Slot, now: Instant) -> Self {
        Watch {
            culprit,
            since,
            active_base: active_time(slot.tid(), slot.cpu_clock()),
            active_base_at: now,
            reports: 0,
            handed_off: false,
            first: None,
            stack: None,
            marked: false,
        }
    }
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

/// Polls being watched, by slot index and the poll's start.
type Watching = HashMap<(usize, u64), Watch>;

/// Unparked Tokio workers found asleep with no timed poll running, by slot index.
type Sleepers = HashMap<usize, Sleeper>;

fn run() {
    let mut stacks = Stacks::new();
    let mut watching = Watching::new();
    let mut sleepers = Sleepers::new();
    loop {
        let threshold = Duration::from_nanos(crate::config::slow_poll_nanos().max(1_000_000));
        let tick = tick_of(threshold);
        {
            let c = lock(&CONTROL);
            let (mut c, _) = WAKE
                .wait_timeout_while(c, tick, |c| !c.stop && !c.kick)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            c.kick = false;
            if c.stop {
                drop(c);
                // What was seen is reported, not lost with this thread: sleeps the last look
                // found (a runtime dropped right after its worker woke), first reports waiting
                // for their stacks.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    for (_, sleeper) in sleepers.drain() {
                        woke(sleeper);
                    }
                    for (_, mut watch) in watching.drain() {
                        if let Some(first) = watch.first.take() {
                            first.decide(false);
                        }
                    }
                }));
                return;
            }
        }
        let mode = crate::config::debug_mode();
        if mode.is_watch() {
            crate::clock::start_ticker(|| crate::config::debug_mode().is_watch());
        }
        if mode.is_on() {
            look(&mut watching, &mut sleepers, &mut stacks, threshold);
        } else {
            watching.clear();
            sleepers.clear();
        }
        TRACKING.store(!watching.is_empty() || !sleepers.is_empty(), Relaxed);
        lock(&CONTROL).passes += 1;
        PASSED.notify_all();
    }
}

/// One look at every thread.
fn look(
    watching: &mut Watching,
    sleepers: &mut Sleepers,
    stacks: &mut Stacks,
    threshold: Duration,
) {
    // A panic while reporting (a subscriber's layer, a callback) must not end the watchdog for
    // the rest of the process: it is reported, and the next look goes on.
    let looked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        scan(watching, stacks, threshold);
        watch_workers(sleepers, stacks, threshold);
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

/// Makes the watchdog look at every thread now and waits (at most `timeout`) until it has
/// looked once entirely after this call: what ended before it (a worker's blocking call, a
/// runtime's threads) has then been reported. At the end of a `#[pollwatch::test]`, before
/// its verdict.
#[cfg(feature = "tokio")]
pub(crate) fn look_now(timeout: Duration) {
    // Nothing was being watched at the last look: nothing that ended since can be reported
    // later (a blocking call shorter than a look's interval is never seen), so a test that
    // blocked nothing does not wait for the watchdog's next tick.
    if !TRACKING.load(Relaxed) {
        return;
    }
    let mut c = lock(&CONTROL);
    if c.thread.is_none() || c.stop {
        return;
    }
    // The look under way may have begun before this call: wait for the one after it.
    let target = c.passes + 2;
    c.kick = true;
    WAKE.notify_all();
    let _ = PASSED
        .wait_timeout_while(c, timeout, |c| c.passes < target && c.thread.is_some())
        .unwrap_or_else(std::sync::PoisonError::into_inner);
}

/// How often the watchdog looks: an eighth of the threshold, within 5 ms and 250 ms, so a
/// stall is seen by 1.125 x its threshold and reported by 1.25 x with every core busy
/// (`benches/accuracy.rs`: a quarter let the slowest reports reach 1.30 x).
fn tick_of(threshold: Duration) -> Duration {
    (threshold / 8).clamp(Duration::from_millis(5), Duration::from_millis(250))
}

/// Makes the watchdog look now rather than at its next tick (a stack it waits for is in).
fn kick() {
    let mut c = lock(&CONTROL);
    if c.thread.is_some() {
        c.kick = true;
        WAKE.notify_all();
    }
}

/// The threshold for `culprit` on `slot`'s thread: its own, or a test's smaller budget.
fn threshold_for(culprit: Option<&'static CallSite>, slot: &Slot, threshold: Duration) -> Duration {
    let own = culprit
        .and_then(CallSite::own_threshold_nanos)
        .map_or(threshold, Duration::from_nanos);
    match slot.budget_ns() {
        None => own,
        Some(budget) => own.min(Duration::from_nanos(budget)),
    }
}

/// One tick: reports every timed poll blocking past its threshold.
fn scan(watching: &mut Watching, stacks: &mut Stacks, threshold: Duration) {
    let marking = crate::config::debug_mode().is_watch();
    let now = Instant::now();
    let now_ticks = Ticks::now();
    watching.retain(|(i, start), watch| {
        let running = slot::get(*i).is_some_and(|s| s.start_ns() == *start);
        if !running {
            // Its poll ended while its first report waited for the stack: the slow-poll
            // report speaks (completed with the stack when it comes).
            if let Some(first) = watch.first.take() {
                first.decide(false);
            }
        }
        running
    });
    for (i, slot) in slot::claimed() {
        let start = slot.start_ns();
        if start == 0 {
            continue;
        }
        let blocked =
            Ticks::from_raw(start).map_or(Duration::ZERO, |s| now_ticks.duration_since(s));
        let poll_start = now.checked_sub(blocked).unwrap_or(now);
        let culprit = slot.innermost();
        let watch = watching
            .entry((i, start))
            .or_insert_with(|| Watch::new(culprit, poll_start, slot, now));
        if !same_site(watch.culprit, culprit) {
            if let Some(first) = watch.first.take() {
                first.decide(false);
            }
            *watch = Watch::new(culprit, now, slot, now);
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
        warm_up_if_likely(blocking_for, own);
        if blocking_for < next_report_after(watch.reports, own) {
            continue;
        }
        let kind = classify_now(watch, slot, now);
        let route = slot.route();
        let mut stall = stall_of(slot, culprit, blocking_for, kind, watch.reports + 1, own);
        if watch.reports > 0 {
            stall.stack.clone_from(&watch.stack);
            slot.publish_kind(kind, culprit, start, None);
            watch.reports += 1;
            Route::run_or_here(route.as_ref(), move || crate::dispatch::stall(&stall));
            continue;
        }
        // The first report says where the thread is: its native stack, read now. If the poll
        // ends meanwhile, an un-annotated task's slow-poll report waits for it in `pending`.
        let pending = Pending::new(kick);
        slot.publish_kind(kind, culprit, start, Some(pending.clone()));
        let first = First {
            pending: pending.clone(),
            stall,
            route,
            slot,
            start,
            // An annotated fn is named already: its report waits for the stack briefly. A
            // task is named only by its stack: its report waits longer. Other threads are
            // looked at meanwhile; the symbolizer wakes the watchdog when the stack is in.
            // A task waits longer while the symbolizer still warms up (the program's first
            // moments): its report would otherwise name nothing. An annotated fn's goes out
            // with its own name and line, the stack as a follow-up.
            deadline: now
                + match (culprit, is_warm()) {
                    (Some(_), _) => WAIT_ANNOTATED,
                    (None, true) => WAIT_UNNAMED,
                    (None, false) => WAIT_COLD,
                },
        };
        if slot.start_ns() != start {
            // The poll ended while we looked: its slow-poll warning speaks.
            pending.deliver(None);
            first.decide(false);
            continue;
        }
        match stacks.read(slot.tid(), kind, &pending) {
            Read::Sent => watch.first = Some(first),
            Read::Nothing => first.make(watch, None, false),
        }
    }
}

/// A poll blocked for half its threshold will likely need its stack named: the symbolizer
/// starts warming up now (the first time only), not when the stack is read — a process's
/// first stall is then named about as soon as a later one, and a process that never blocks
/// that long never pays for the warm-up.
fn warm_up_if_likely(blocked: Duration, threshold: Duration) {
    if blocked >= threshold / 2 {
        super::stacks::warm_up_soon();
    }
}

/// A poll's first stall report, made once its stack is read (or the wait for it is over).
struct First {
    pending: Arc<Pending>,
    stall: Stall,
    route: Option<Route>,
    slot: &'static Slot,
    start: u64,
    deadline: Instant,
}

impl First {
    /// Makes the report, with the stack if it is in (`late`: it is not, and comes as a
    /// follow-up), if the poll still runs.
    fn make(mut self, watch: &mut Watch, stack: Option<Arc<Blocked>>, late: bool) {
        if let Some(b) = &stack {
            self.slot.publish_stack(b.clone(), self.start);
        }
        self.stall.stack = stack;
        watch.stack.clone_from(&self.stall.stack);
        // Blocking is what `block_in_place` is for: its worker's tasks moved on.
        let handed_off = self
            .stall
            .stack
            .as_ref()
            .is_some_and(|b| b.in_block_in_place);
        watch.handed_off = handed_off;
        // Only a poll still running is reported as a stall ("it is still running").
        let report = !handed_off && self.slot.start_ns() == self.start;
        if report {
            // Marked before reporting: a panicking layer must not make the next tick report
            // it as the first time again.
            watch.reports += 1;
            let stall = self.stall.clone();
            Route::run_or_here(self.route.as_ref(), move || crate::dispatch::stall(&stall));
        }
        self.decide_with(report, late);
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
                    Route::run_or_here(route.as_ref(), move || {
                        crate::dispatch::stall_stack(&stall, &b);
                    });
                }
            }),
        );
    }
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
    Read(Arc<Blocked>),
}

/// One tick of stable Tokio's worker watch: an unparked worker, polling no timed future,
/// found asleep in the same system call (never switched onto a CPU in between) for the
/// threshold is a task blocking it: reported as a stall with its stack, and as a slow poll
/// once it wakes.
fn watch_workers(sleepers: &mut Sleepers, stacks: &mut Stacks, threshold: Duration) {
    let now = Instant::now();
    let mut live = Vec::new();
    for (i, slot) in slot::claimed() {
        if !slot.is_running_worker() || slot.start_ns() != 0 {
            continue;
        }
        let Some(switches) = asleep_since_switch(slot.tid()) else {
            continue;
        };
        live.push(i);
        // Another sleep, or another thread on a slot released and claimed again.
        if sleepers
            .get(&i)
            .is_some_and(|s| s.switches != switches || s.tid != slot.tid())
        {
            if let Some(ended) = sleepers.remove(&i) {
                woke(ended);
            }
        }
        let sleeper = sleepers.entry(i).or_insert_with(|| Sleeper {
            tid: slot.tid(),
            switches,
            // Asleep since before this look, but not before the last look (which did not
            // find it in this sleep): since when, by the scheduler's clock, capped at a tick
            // (each CPU's scheduler clock drifts from the others' by its interrupt and steal
            // time, tens of milliseconds on a busy VM).
            since: off_cpu_for(slot.tid())
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
        warm_up_if_likely(held, own);
        if held < next_report_after(sleeper.reports, own) {
            continue;
        }
        if sleeper.thread.is_empty() {
            sleeper.thread = slot.thread_name();
            sleeper.route = slot.route();
        }
        let Some(stack) = worker_stack(sleeper, stacks, slot) else {
            continue;
        };
        sleeper.reports += 1;
        let stall = Stall {
            culprit: None,
            task: None,
            chain: Chain::default(),
            thread: slot.thread_name(),
            tid: slot.tid(),
            blocked: held,
            threshold: own,
            kind: Kind::Blocking,
            nth: sleeper.reports,
            stack: Some(stack),
        };
        if sleeper.reported.is_none() {
            sleeper.reported = Some(stall.clone());
        }
        Route::run_or_here(sleeper.route.as_ref(), move || {
            crate::dispatch::stall(&stall);
        });
    }
    // Those no longer asleep (or parked, or polling a timed future again) woke up.
    let ended: Vec<usize> = sleepers
        .keys()
        .filter(|i| !live.contains(i))
        .copied()
        .collect();
    for i in ended {
        if let Some(s) = sleepers.remove(&i) {
            woke(s);
        }
    }
}

/// The stack of a sleeping worker, if it shows a task blocking it (read on first need).
fn worker_stack(sleeper: &mut Sleeper, stacks: &mut Stacks, slot: &Slot) -> Option<Arc<Blocked>> {
    if let StackState::Unread = sleeper.stack {
        let pending = Pending::new(kick);
        sleeper.stack = match stacks.read(slot.tid(), Kind::Blocking, &pending) {
            Read::Sent => StackState::Pending(pending),
            Read::Nothing => StackState::Ignored,
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
fn woke(s: Sleeper) {
    let held = s.last_seen.saturating_duration_since(s.since);
    let slow = |stalled: bool, stack: Option<Arc<Blocked>>| SlowPoll {
        culprit: Who::Untracked,
        task: None,
        calls: 1,
        created_at: None,
        poll: 0,
        chain: Chain::default(),
        blocked: held,
        self_time: held,
        threshold: s.threshold,
        kind: Kind::Blocking,
        stalled,
        stack,
        thread: Some(s.thread.clone()),
        tid: s.tid,
        ended_ns: crate::clock::now_ns(),
    };
    match (&s.reported, &s.stack) {
        (Some(stall), _) => {
            let slow = slow(true, stall.stack.clone());
            Route::run_or_here(s.route.as_ref(), move || {
                crate::dispatch::slow_poll(&slow, crate::config::debug_mode().is_strict());
            });
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

/// Active share since the watchdog first saw the culprit; if that was just now, samples for a
/// short while on this thread, so that even the first report is classified.
fn classify_now(watch: &Watch, slot: &Slot, now: Instant) -> Kind {
    let (tid, clock) = (slot.tid(), slot.cpu_clock());
    let (Some(base), Some(mut active)) = (watch.active_base, active_time(tid, clock)) else {
        return Kind::Unknown;
    };
    let mut wall = now.saturating_duration_since(watch.active_base_at);
    if wall < Duration::from_millis(5) {
        std::thread::sleep(Duration::from_millis(10));
        active = active_time(tid, clock).unwrap_or(active);
        wall = watch.active_base_at.elapsed();
    }
    classify(active.saturating_sub(base), wall, is_runnable(tid))
}

fn stall_of(
    slot: &Slot,
    culprit: Option<&'static CallSite>,
    blocked: Duration,
    kind: Kind,
    nth: u32,
    threshold: Duration,
) -> Stall {
    Stall {
        culprit,
        task: slot.task(),
        chain: slot.chain(),
        thread: slot.thread_name(),
        tid: slot.tid(),
        blocked,
        threshold,
        kind,
        nth,
        stack: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
