//! The watchdog's one process-wide handle: the thread that looks, started by the first guard
//! (or the first instrumented poll in debug mode), kicked to look now, stopped and joined when
//! the last guard goes. Every process-wide static of the watchdog lives here.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Watchdog;
use super::schedule::tick_of;
use crate::util::lock;

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
        RUNNING.load(Relaxed) && crate::detect::stacks::wait_warm(timeout)
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
    crate::detect::at_exit::register();
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

/// The watchdog thread: a look every tick (or at once when kicked) until it is stopped.
fn run() {
    let mut watchdog = Watchdog::new(kick);
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
                watchdog.stop();
                return;
            }
        }
        let tracking = watchdog.tick(threshold);
        TRACKING.store(tracking, Relaxed);
        lock(&CONTROL).passes += 1;
        PASSED.notify_all();
    }
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

/// Makes the watchdog look now rather than at its next tick (a stack it waits for is in).
fn kick() {
    let mut c = lock(&CONTROL);
    if c.thread.is_some() {
        c.kick = true;
        WAKE.notify_all();
    }
}
