//! What the kernel says about a thread: its id, its CPU clock, how much CPU it used. The libc
//! shims the watchdog needs, with stand-ins where the platform has none.

use std::time::Duration;

use crate::record::Kind;

/// No CPU clock: outside `clockid_t`'s range, which covers the negative per-thread ids.
pub(crate) const NO_CLOCK: i64 = i64::MIN;

/// The calling thread's CPU clock id (Linux; such ids are negative), or [`NO_CLOCK`].
#[cfg(target_os = "linux")]
pub(crate) fn current_thread_cpu_clock() -> i64 {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: pthread_self() is always a valid thread handle for the calling thread, and
    // `clock` is a valid out-pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if rc == 0 { i64::from(clock) } else { NO_CLOCK }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn current_thread_cpu_clock() -> i64 {
    NO_CLOCK
}

pub(crate) use crate::util::current_tid;

/// CPU time consumed so far by the thread owning `clock`; `None` if unavailable (not Linux, or
/// the thread exited).
#[cfg(target_os = "linux")]
pub(crate) fn cpu_time(clock: i64) -> Option<Duration> {
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
pub(crate) fn cpu_time(_clock: i64) -> Option<Duration> {
    None
}

/// How long a thread has been *active* so far: on a CPU, or runnable and waiting for one.
///
/// On a loaded machine a busy loop gets only part of a CPU and waits for the rest on a run
/// queue; counting CPU time alone would call it `mixed` (it did, on a 2-core machine running a
/// build: the README's test command failed). Linux's `/proc/self/task/<tid>/schedstat` gives
/// both parts; where it is missing, the thread's CPU clock (`clock`) is the fallback.
pub(crate) fn active_time(tid: i64, clock: i64) -> Option<Duration> {
    sched_active_time(tid).or_else(|| cpu_time(clock))
}

/// `on CPU + waiting on a run queue` from `/proc/self/task/<tid>/schedstat`.
fn sched_active_time(tid: i64) -> Option<Duration> {
    let [on_cpu, waiting, _] = schedstat_of(tid)?;
    Some(Duration::from_nanos(on_cpu.saturating_add(waiting)))
}

/// How long the thread has waited on a run queue for a CPU so far: the scheduler adds each
/// wait when the thread gets its CPU (a wait still going on is not in it yet).
pub(crate) fn run_queue_wait(tid: i64) -> Option<Duration> {
    let [_, waiting, _] = schedstat_of(tid)?;
    Some(Duration::from_nanos(waiting))
}

/// [`run_queue_wait`] of the calling thread (which is running: every wait it had is in).
pub(crate) fn own_run_queue_wait() -> Option<Duration> {
    let [_, waiting, _] = schedstat("/proc/thread-self/schedstat")?;
    Some(Duration::from_nanos(waiting))
}

/// A poll of `wall` whose thread spent `waited` of it on a run queue, waiting for a CPU the
/// machine gave to others: *starved*, not blocking, if it waited most of the poll and its own
/// time stays under half its `threshold`. A quick poll gets no blame for a busy machine (a
/// `#[pollwatch::test]` verdict must not depend on what else runs), while a busy loop is judged
/// on its wall time, as ever, if it gets half a CPU, or a third of one for a poll of three
/// times its threshold: its own time alone is then a good part of the threshold.
pub(crate) fn starved(wall: Duration, waited: Duration, threshold: Duration) -> bool {
    waited.saturating_mul(2) >= wall && wall.saturating_sub(waited) < threshold / 2
}

/// `/proc/self/task/<tid>/schedstat`'s fields: on CPU, waiting on a run queue (ns), switches
/// onto a CPU.
fn schedstat_of(tid: i64) -> Option<[u64; 3]> {
    if tid <= 0 {
        return None;
    }
    schedstat(&format!("/proc/self/task/{tid}/schedstat"))
}

#[cfg(target_os = "linux")]
fn schedstat(path: &str) -> Option<[u64; 3]> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(not(target_os = "linux"))]
fn schedstat(_path: &str) -> Option<[u64; 3]> {
    None
}

/// Whether the thread is runnable right now (state `R` in `/proc/self/task/<tid>/stat`), as
/// opposed to asleep (`S`, `D`: in a system call, a lock, I/O); `None` if unknown.
#[cfg(target_os = "linux")]
pub(crate) fn is_runnable(tid: i64) -> Option<bool> {
    if tid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // `pid (comm) S …`: the comm may hold spaces and parentheses; the state follows the last `)`.
    let state = text.rsplit_once(')')?.1.split_whitespace().next()?;
    Some(state == "R")
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn is_runnable(_tid: i64) -> Option<bool> {
    None
}

/// If the thread is asleep right now (`S`, `D`), how many times it has been switched onto a
/// CPU so far (`/proc/self/task/<tid>/schedstat`'s third field). Asleep at two looks with the
/// same count: it did not run in between, so it is still in the same wait.
#[cfg(target_os = "linux")]
pub(crate) fn asleep_since_switch(tid: i64) -> Option<u64> {
    if is_runnable(tid)? {
        return None;
    }
    let [_, _, switches] = schedstat_of(tid)?;
    Some(switches)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn asleep_since_switch(_tid: i64) -> Option<u64> {
    None
}

/// How long an asleep thread has been off its CPU: its scheduler's `se.exec_start` (when it
/// last ran, in the scheduler's clock) against this running thread's, both from
/// `/proc/…/sched` (kernels with scheduler debugging, the common default); `None` where that
/// file is missing.
#[cfg(target_os = "linux")]
pub(crate) fn off_cpu_for(tid: i64) -> Option<Duration> {
    fn exec_start_ns(path: &str) -> Option<u64> {
        let text = std::fs::read_to_string(path).ok()?;
        let line = text.lines().find(|l| l.starts_with("se.exec_start"))?;
        let ms = line.rsplit(':').next()?.trim();
        let (whole, frac) = ms.split_once('.').unwrap_or((ms, "0"));
        let frac = format!("{frac:0<6}");
        let frac: u64 = frac.get(..6)?.parse().ok()?;
        Some(whole.parse::<u64>().ok()? * 1_000_000 + frac)
    }
    if tid <= 0 {
        return None;
    }
    let theirs = exec_start_ns(&format!("/proc/self/task/{tid}/sched"))?;
    let ours = exec_start_ns("/proc/thread-self/sched")?;
    Some(Duration::from_nanos(ours.saturating_sub(theirs)))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn off_cpu_for(_tid: i64) -> Option<Duration> {
    None
}

/// Active share of wall time → kind: ≥ 80 % active (on CPU or waiting for one) is CPU-bound,
/// ≤ 20 % is blocking (asleep: a sleep, a lock, I/O). In between, a thread found runnable when
/// sampled is CPU-bound (a run queue's bookkeeping lags while the thread waits on it); otherwise
/// it really alternated: mixed.
pub(crate) fn classify(active: Duration, wall: Duration, runnable: Option<bool>) -> Kind {
    if wall.is_zero() {
        return Kind::Unknown;
    }
    let share = active.as_secs_f64() / wall.as_secs_f64();
    if share >= 0.8 {
        Kind::CpuBound
    } else if share <= 0.2 {
        Kind::Blocking
    } else if runnable == Some(true) {
        Kind::CpuBound
    } else {
        Kind::Mixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_by_active_share() {
        let ms = Duration::from_millis;
        assert_eq!(classify(ms(95), ms(100), None), Kind::CpuBound);
        assert_eq!(classify(ms(3), ms(100), Some(false)), Kind::Blocking);
        assert_eq!(classify(ms(50), ms(100), Some(false)), Kind::Mixed);
        assert_eq!(classify(ms(50), ms(100), Some(true)), Kind::CpuBound);
        assert_eq!(classify(ms(0), ms(0), None), Kind::Unknown);
    }

    #[test]
    fn a_poll_is_starved_when_it_waited_most_of_it_for_a_cpu_and_its_own_time_is_short() {
        let ms = Duration::from_millis;
        // The CI flake: a 108 ms poll of a few yields, its thread waiting for a CPU.
        assert!(starved(ms(108), ms(104), ms(100)));
        // A busy loop getting two thirds of a CPU on a loaded machine: judged on wall time.
        assert!(!starved(ms(112), ms(37), ms(100)));
        // Mostly waiting, but its own time alone is past the threshold.
        assert!(!starved(ms(500), ms(300), ms(100)));
        // A busy loop of three times the threshold, with a third of a CPU: blamed.
        assert!(!starved(ms(300), ms(200), ms(100)));
        // With a tenth of one: 30 ms of its own are not the threshold's 100.
        assert!(starved(ms(300), ms(270), ms(100)));
        // A poll that blocked in a system call waits for no CPU.
        assert!(!starved(ms(150), ms(0), ms(100)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_sharing_its_cpu_with_a_busy_one_waits_on_the_run_queue() {
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        static STOP: AtomicBool = AtomicBool::new(false);
        if !pin_to_first_cpu() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let hog = std::thread::spawn(move || {
            tx.send(pin_to_first_cpu()).unwrap();
            while !STOP.load(Relaxed) {
                std::hint::spin_loop();
            }
        });
        let hog_pinned = rx.recv().unwrap();
        let before = own_run_queue_wait().expect("schedstat");
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            std::hint::spin_loop();
        }
        let waited = own_run_queue_wait().unwrap() - before;
        let wall = start.elapsed();
        STOP.store(true, Relaxed);
        hog.join().unwrap();
        assert!(
            run_queue_wait(current_tid()).is_some(),
            "read by thread id too"
        );
        if hog_pinned {
            // About half of it; more on a loaded machine.
            assert!(waited >= wall / 5, "{waited:?} of {wall:?}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_spinning_thread_is_active_a_sleeping_one_is_not() {
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        static STOP: AtomicBool = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::channel();
        let spinner = std::thread::spawn(move || {
            tx.send(current_tid()).unwrap();
            while !STOP.load(Relaxed) {
                std::hint::spin_loop();
            }
        });
        let tid = rx.recv().unwrap();
        let before = active_time(tid, NO_CLOCK).unwrap();
        let start = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        let active = active_time(tid, NO_CLOCK).unwrap() - before;
        let wall = start.elapsed();
        STOP.store(true, Relaxed);
        spinner.join().unwrap();
        // Runnable the whole time, whatever else the machine runs.
        assert!(active >= wall * 3 / 4, "{active:?} of {wall:?}");
        assert_eq!(
            is_runnable(current_tid()),
            Some(true),
            "this thread, reading"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_cpu_clock_of_this_thread_advances_when_busy() {
        // Spin until the thread's CPU clock shows 15 ms, however long a loaded machine takes to
        // give them; a clock that never advances fails at the deadline.
        let clock = current_thread_cpu_clock();
        let before = cpu_time(clock).unwrap();
        let start = std::time::Instant::now();
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

    /// Keeps this thread on the first CPU it may run on; whether it could.
    #[cfg(target_os = "linux")]
    fn pin_to_first_cpu() -> bool {
        // SAFETY: `set` is a plain bitmask the kernel reads and writes; 0 is this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return false;
            }
            let Some(cpu) = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set))
            else {
                return false;
            };
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) == 0
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_sleeping_threads_time_off_cpu_is_read_from_the_scheduler() {
        // Both threads on one CPU: its scheduler clock is then the only one read. (Two CPUs'
        // clocks differ by their interrupt and steal time; on a VM, by seconds at times, which
        // is why the watchdog caps this at a tick.)
        let pinned = pin_to_first_cpu();
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            let pinned = pin_to_first_cpu();
            tx.send((current_tid(), pinned)).unwrap();
            std::thread::sleep(Duration::from_millis(400));
        });
        let (tid, sleeper_pinned) = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(250));
        // Read wherever the kernel has scheduler debugging (`/proc/…/sched`).
        let readable = std::path::Path::new(&format!("/proc/self/task/{tid}/sched")).exists()
            && std::path::Path::new("/proc/thread-self/sched").exists();
        let off = off_cpu_for(tid);
        assert_eq!(off.is_some(), readable, "{off:?}");
        if let Some(off) = off.filter(|_| pinned && sleeper_pinned) {
            // Asleep since about 250 ms ago (this thread's own sleep, give or take scheduling).
            assert!(
                off >= Duration::from_millis(150) && off <= Duration::from_secs(2),
                "{off:?}"
            );
        }
        sleeper.join().unwrap();
    }
}
