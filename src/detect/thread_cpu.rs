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

/// The calling thread's kernel id (Linux), for reading what it is blocked in; 0 if unknown.
#[cfg(target_os = "linux")]
pub(crate) fn current_tid() -> i64 {
    // SAFETY: gettid has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn current_tid() -> i64 {
    0
}

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

/// CPU share of wall time → kind: ≥ 80 % on CPU is CPU-bound, ≤ 20 % is blocking.
pub(crate) fn classify(cpu: Duration, wall: Duration) -> Kind {
    if wall.is_zero() {
        return Kind::Unknown;
    }
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    if share >= 0.8 {
        Kind::CpuBound
    } else if share <= 0.2 {
        Kind::Blocking
    } else {
        Kind::Mixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_by_cpu_share() {
        let ms = Duration::from_millis;
        assert_eq!(classify(ms(95), ms(100)), Kind::CpuBound);
        assert_eq!(classify(ms(3), ms(100)), Kind::Blocking);
        assert_eq!(classify(ms(50), ms(100)), Kind::Mixed);
        assert_eq!(classify(ms(0), ms(0)), Kind::Unknown);
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
}
