//! The end of a process that did not end through `run`, `#[pollwatch::main]` or a test (a plain
//! `#[tokio::main]`, `futures::executor`): what is still pending is reported before it exits.
//! A short program that blocked twice printed the first occurrence and lost the second, which
//! waited in its culprit's digest for an interval the process did not live to see.
//!
//! Registered with `atexit` when the watchdog first starts (debug mode on), so it runs when
//! `main` returns or `std::process::exit` is called, never on a signal's default action (a
//! report asked for survives that by being written as findings come). The work runs on a
//! thread of its own, waited for a bounded time: an exit while another thread holds one of
//! pollwatch's locks must not hang the process.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

/// The longest the process's exit waits for the last reports: slow-poll reports waiting for
/// their stack, then the digests.
const LIMIT: Duration = Duration::from_secs(2);

static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers the exit hook, once per process.
pub(crate) fn register() {
    if REGISTERED.swap(true, Relaxed) {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `at_exit` is a plain `extern "C" fn()` that never unwinds (it catches panics).
    unsafe {
        libc::atexit(at_exit);
    }
}

#[cfg(target_os = "linux")]
extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(flush_with_limit);
}

/// Makes the pending reports on a thread of its own, waiting for it at most [`LIMIT`].
fn flush_with_limit() {
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("pollwatch-exit".into())
        .spawn(move || {
            let _ = std::panic::catch_unwind(flush);
            let _ = done.send(());
        });
    if spawned.is_ok() {
        let _ = finished.recv_timeout(LIMIT);
    }
}

/// The parked slow-poll reports (waiting for their stack), every digest due or not, and the
/// files asked for if something new was found since they were last written.
fn flush() {
    super::pending::settle(LIMIT / 2);
    crate::dispatch::digests(true);
    crate::dispatch::keep_files_current(true);
}
