//! The native stack of a stalled thread, read without interrupting it, and the culprit named
//! from it: the user's fn and line, and the async chain above it.
//!
//! Signal-based capture (interrupt the worker, unwind in the handler) is what profilers do, but
//! it changes what the program does: `poll`, `epoll_wait`, `nanosleep`, timed futex waits and
//! others return `EINTR` even with `SA_RESTART`, and code that does not retry breaks. pollwatch
//! sends no signal:
//!
//! - a thread blocked in a system call has a frozen stack, read from outside (`capture.rs`);
//! - a CPU-bound thread is sampled by a perf event on that one thread (`perf.rs`);
//! - either is unwound from its registers with the modules' call-frame information
//!   (`unwind.rs`; a scan for return addresses where that fails), on the watchdog thread;
//! - and symbolized on a thread of its own (`symbolize.rs`), warmed up when it starts, so the
//!   stall report waits for it only briefly (and gets a follow-up if it takes longer).
//!
//! | file | holds |
//! |---|---|
//! | `memory.rs` | a process's `/proc/<pid>/maps`, `process_vm_readv`, a stack copy |
//! | `attach.rs` | another process's threads, for `pollwatch-cli` (hidden) |
//! | `capture.rs` | a thread frozen in a system call; the scan fallback |
//! | `perf.rs` | one sample of a running thread |
//! | `unwind.rs` | framehop over this process's modules |
//! | `symbolize.rs` | names, lines, the culprit and the chain |

pub(crate) mod attach;
mod capture;
mod memory;
mod perf;
mod symbolize;
mod unwind;

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use super::pending::Pending;
use crate::record::{Kind, StackMethod};
use crate::util::lock;

/// How long a stall's first report waits for its stack: an annotated fn is named already (its
/// report goes out without the stack past this, the stack follows); an un-annotated task is
/// named only by its stack. Warm, symbolizing takes a millisecond or two. Cold (the first
/// address in a compilation unit), a little longer, and a first look at the binary a few
/// hundred milliseconds in a debug build, which is why the symbolizer warms up as soon as the
/// watchdog starts. The watchdog never waits itself: it goes on with other threads, and the
/// symbolizer wakes it when a stack is ready.
pub(crate) const WAIT_ANNOTATED: Duration = Duration::from_millis(50);
pub(crate) const WAIT_UNNAMED: Duration = Duration::from_millis(400);
/// How long any first report waits for its stack while the symbolizer still warms up (it
/// starts with the watchdog, in the background: a few hundred milliseconds of CPU in a debug
/// build, more on a busy machine): a stall in a program's first moments is then named from its
/// stack like any later one, a little later.
pub(crate) const WAIT_COLD: Duration = Duration::from_secs(2);

/// Whether the symbolizer has warmed up (its first reports then wait only briefly).
pub(crate) fn is_warm() -> bool {
    *lock(&WARM)
}

/// Whether the symbolizer has warmed up, for [`wait_warm`].
static WARM: Mutex<bool> = Mutex::new(false);
static WARMED: Condvar = Condvar::new();

/// Starts the symbolizer if it has not started, and waits (at most `timeout`) until it has
/// warmed up; `true` if it has.
pub(crate) fn wait_warm(timeout: Duration) -> bool {
    if symbolizer().is_none() {
        return false;
    }
    let warm = lock(&WARM);
    let (warm, _) = WARMED
        .wait_timeout_while(warm, timeout, |warm| !*warm)
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *warm
}

/// What reading a thread's stack gave.
pub(crate) enum Read {
    /// Read: the symbolizer delivers the culprit to the rendezvous.
    Sent,
    /// Nothing to read (the thread runs and cannot be sampled, or is gone); the rendezvous
    /// was told.
    Nothing,
    /// A running thread gave no sample this time (it waited for a CPU the whole window, on a
    /// busy machine): a later read may; the rendezvous was told.
    Missed,
}

/// A request to the symbolizer: lookup addresses, the syscall, how they were found, and the
/// rendezvous to deliver to (on drop, unanswered, it delivers nothing: no waiter is left
/// hanging).
struct Request {
    lookups: Vec<u64>,
    syscall: Option<String>,
    method: StackMethod,
    pending: Delivery,
}

struct Delivery(Arc<Pending>);

impl Drop for Delivery {
    fn drop(&mut self) {
        self.0.deliver(None);
    }
}

/// The stack reader: the unwinder (on the watchdog thread) and the symbolizer thread.
pub(crate) struct Stacks {
    /// perf events were refused here: CPU-bound stalls get no stack (said once).
    perf_denied: bool,
}

/// The symbolizer, for the rest of the process once started (`Some(None)`: it could not be).
/// It starts with the first stack to name, not with the watchdog: warming up costs a few
/// hundred milliseconds of CPU in a debug build (tens in a release one), which a process or a
/// test that never blocks should not pay, on a core its workers need. Once started it stays:
/// a watchdog stopped and started again (a test's runtime after another's) does not pay it
/// twice, nor wait for a warm-up under way when it stops. Idle, it is a thread blocked on its
/// channel.
static SYMBOLIZER: Mutex<Option<Option<Sender<Request>>>> = Mutex::new(None);

/// Starts the symbolizer (and its warm-up) if it has not started: a stack will likely be
/// needed soon. One relaxed load once it has.
pub(crate) fn warm_up_soon() {
    static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !STARTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let _ = symbolizer();
    }
}

/// The symbolizer's channel, starting its thread if this is the first need.
fn symbolizer() -> Option<Sender<Request>> {
    lock(&SYMBOLIZER)
        .get_or_insert_with(|| {
            let (tx, rx) = std::sync::mpsc::channel::<Request>();
            let started = std::thread::Builder::new()
                .name("pollwatch-syms".into())
                .spawn(move || symbolizer_thread(&rx))
                .is_ok();
            started.then_some(tx)
        })
        .clone()
}

/// Every module's unwind information, loaded once (copied from each module's sections): on
/// the symbolizer thread as it starts, or by the first stack read if that comes first.
static UNWINDING: OnceLock<Mutex<unwind::Unwinding>> = OnceLock::new();

fn unwinding() -> &'static Mutex<unwind::Unwinding> {
    UNWINDING.get_or_init(|| Mutex::new(unwind::Unwinding::new()))
}

impl Stacks {
    /// The stack reader; the symbolizer starts with the first stack it reads.
    pub(crate) fn new() -> Self {
        Stacks { perf_denied: false }
    }

    /// Reads what thread `tid` is doing (a system call it is blocked in, or, `kind` being
    /// CPU-bound or mixed, a sample of it running) and hands it to the symbolizer, which
    /// delivers the culprit to `pending` (nothing, if nothing could be read).
    pub(crate) fn read(&mut self, tid: i64, kind: Kind, pending: &Arc<Pending>) -> Read {
        match self.lookups(tid, kind) {
            Ok(lookups) => self.symbolize(lookups, pending),
            Err(read) => {
                pending.deliver(None);
                read
            }
        }
    }

    /// The thread's frames, as lookup addresses, with its syscall and how they were found;
    /// or why there are none.
    fn lookups(
        &mut self,
        tid: i64,
        kind: Kind,
    ) -> Result<(Vec<u64>, Option<String>, StackMethod), Read> {
        if tid <= 0 {
            return Err(Read::Nothing);
        }
        let maps = memory::Maps::read().ok_or(Read::Nothing)?;
        let mut unwinding = lock(unwinding());
        let (lookups, syscall, method) = match capture::read_frozen(tid, &maps) {
            Some(frozen) => {
                let syscall = symbolize::syscall_name(frozen.syscall);
                match unwinding.unwind(frozen.pc, None, &frozen.stack) {
                    Some(frames) if frames.len() >= 3 => {
                        (frames, Some(syscall), StackMethod::Unwound)
                    }
                    _ => (
                        capture::scan(frozen.pc, &frozen.stack, &maps),
                        Some(syscall),
                        StackMethod::Scanned,
                    ),
                }
            }
            None if kind != Kind::Blocking && !self.perf_denied => match perf::sample(tid) {
                Ok(sample) => {
                    let frames = unwinding
                        .unwind(sample.ip, Some(sample.bp), &sample.stack)
                        .ok_or(Read::Nothing)?;
                    (frames, None, StackMethod::Unwound)
                }
                Err(perf::SampleError::Denied(e)) => {
                    self.perf_refused(&e);
                    return Err(Read::Nothing);
                }
                Err(perf::SampleError::NoSample) => return Err(Read::Missed),
            },
            None => return Err(Read::Nothing),
        };
        Ok((lookups, syscall, method))
    }

    /// perf events are refused here: CPU-bound stalls get no stack; said once per process.
    /// Returns whether it was said now.
    fn perf_refused(&mut self, e: &std::io::Error) -> bool {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        self.perf_denied = true;
        if SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        crate::dispatch::notice(format_args!(
            "pollwatch: CPU-bound stalls are reported without a native stack: this system does \
             not let a process sample its own threads with perf events ({e}); it needs \
             /proc/sys/kernel/perf_event_paranoid at 2 or lower, and in a container \
             perf_event_open allowed by its seccomp profile"
        ));
        true
    }

    fn symbolize(
        &self,
        (lookups, syscall, method): (Vec<u64>, Option<String>, StackMethod),
        pending: &Arc<Pending>,
    ) -> Read {
        let Some(tx) = symbolizer() else {
            pending.deliver(None);
            return Read::Nothing;
        };
        let request = Request {
            lookups,
            syscall,
            method,
            pending: Delivery(pending.clone()),
        };
        // Unsent, the request's drop delivers nothing.
        match tx.send(request) {
            Ok(()) => Read::Sent,
            Err(_) => Read::Nothing,
        }
    }
}

/// The symbolizer thread: loads the unwind information and warms up, then symbolizes what the
/// watchdog sends, for the rest of the process.
fn symbolizer_thread(rx: &Receiver<Request>) {
    let _ = std::panic::catch_unwind(|| {
        let _ = unwinding();
    });
    let _ = std::panic::catch_unwind(warm_up);
    *lock(&WARM) = true;
    WARMED.notify_all();
    for request in rx {
        // A panic (in a layer reached through a late report) must not end the thread; the
        // request's delivery then says "nothing".
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let frames = symbolize::symbolize(&request.lookups);
            let blocked = symbolize::describe(frames, request.syscall.clone(), request.method);
            request.pending.0.deliver(Some(Arc::new(blocked)));
        }));
    }
}

/// Parses the debug information a stall's stack needs (this binary's, the C library's, the
/// runtime's) before the first stall, by symbolizing this thread's own stack: the first report
/// then does not wait for it.
fn warm_up() {
    backtrace::trace(|frame| {
        backtrace::resolve_frame(frame, |_| {});
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn sleeping_here() {
        std::thread::sleep(Duration::from_millis(600));
        std::hint::black_box(());
    }

    #[test]
    fn a_sleeping_thread_is_unwound_to_its_caller() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(i64::from(unsafe { libc::gettid() })).unwrap();
            sleeping_here();
        });
        let tid = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let mut stacks = Stacks::new();
        let pending = Pending::new(|| {});
        assert!(matches!(
            stacks.read(tid, Kind::Blocking, &pending),
            Read::Sent
        ));
        let blocked = pending
            .wait(Duration::from_secs(5))
            .flatten()
            .expect("the thread is in a system call");
        sleeper.join().unwrap();
        assert!(
            blocked.syscall.as_deref().unwrap().contains("sleep"),
            "{blocked:?}"
        );
        assert!(
            blocked.frames.iter().any(|f| f.contains("sleeping_here")),
            "{blocked:?}"
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(blocked.method, StackMethod::Unwound, "{blocked:?}");
        // This test is pollwatch's own code, never a culprit: `tests/native_stack.rs` checks
        // culprits in code of the user's.
        let frame = blocked
            .frames
            .iter()
            .find(|f| f.contains("sleeping_here"))
            .expect("the caller's frame");
        assert!(frame.contains("src/detect/stacks/mod.rs:"), "{blocked:?}");
    }

    #[test]
    fn a_running_thread_has_no_frozen_stack() {
        let maps = memory::Maps::read().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let spinner = std::thread::spawn({
            let stop = stop.clone();
            move || {
                // SAFETY: gettid has no preconditions.
                tx.send(i64::from(unsafe { libc::gettid() })).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }
        });
        let tid = rx.recv().unwrap();
        // On a CPU (or waiting for one), not in a system call: nothing frozen to read.
        assert!(capture::read_frozen(tid, &maps).is_none());
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spinner.join().unwrap();
        assert!(capture::read_frozen(-5, &maps).is_none());
    }

    #[test]
    fn refused_perf_events_are_said_once_and_not_tried_again() {
        let mut stacks = Stacks::new();
        let denied = std::io::Error::from_raw_os_error(libc::EACCES);
        let first = stacks.perf_refused(&denied);
        let again = stacks.perf_refused(&denied);
        assert!(stacks.perf_denied);
        assert!(first && !again, "one line per process");
    }
}
