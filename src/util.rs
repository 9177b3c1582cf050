//! Cross-cutting helpers, each written once: saturating duration math, the two display types
//! (`Dur`, `FileLine`), poison-tolerant locking, the one stderr writer, the calling thread's
//! kernel id, and the one `unsafe` that turns a stored pointer back into a `&'static` reference.
//!
//! Nothing here imports from the rest of the crate.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The calling thread's kernel id (Linux); 0 elsewhere.
#[cfg(target_os = "linux")]
pub(crate) fn current_tid() -> i64 {
    // SAFETY: gettid has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

/// The calling thread's kernel id (Linux); 0 elsewhere.
#[cfg(not(target_os = "linux"))]
pub(crate) fn current_tid() -> i64 {
    0
}

/// `d` in nanoseconds, `u64::MAX` past 584 years.
#[inline]
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A duration displayed in the largest unit that keeps it readable: `1.204s`, `523.1ms`,
/// `12.3µs`, `850ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        match ns {
            0..1_000 => write!(f, "{ns}ns"),
            1_000..1_000_000 => write!(f, "{:.1}µs", ns as f64 / 1e3),
            1_000_000..1_000_000_000 => write!(f, "{:.1}ms", ns as f64 / 1e6),
            _ => write!(f, "{:.3}s", ns as f64 / 1e9),
        }
    }
}

/// `file:line`, displayed that way: where a fn is defined, a future created, a task spawned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileLine {
    pub(crate) file: &'static str,
    pub(crate) line: u32,
}

impl fmt::Display for FileLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl From<&'static std::panic::Location<'static>> for FileLine {
    fn from(l: &'static std::panic::Location<'static>) -> Self {
        FileLine {
            file: short_path(l.file()),
            line: l.line(),
        }
    }
}

/// A dependency's or the toolchain's source path, from where it is readable (stack frames and
/// spawn sites alike):
/// `…/.cargo/registry/src/index.crates.io-…/tokio-1.54.1/src/x.rs` → `tokio-1.54.1/src/x.rs`,
/// `/rustc/<hash>/library/std/src/x.rs` → `library/std/src/x.rs`.
pub(crate) fn short_path(file: &str) -> &str {
    if let Some(i) = file.find("/.cargo/registry/src/") {
        let rest = &file[i + "/.cargo/registry/src/".len()..];
        return rest
            .split_once('/')
            .map_or(rest, |(_, crate_path)| crate_path);
    }
    if let Some(rest) = file.strip_prefix("/rustc/") {
        return rest.split_once('/').map_or(rest, |(_, path)| path);
    }
    file
}

/// Locks `m`, recovering from poison: a panic elsewhere while it was held leaves data that is
/// still valid for everything pollwatch keeps behind a lock (lists, options, counters), and
/// instrumentation must never panic because a user's code did.
#[inline]
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes one line to stderr, as is. Not `eprintln!`: it panics when stderr is closed, and
/// this runs inside users' polls and on pollwatch's own threads.
pub(crate) fn say(line: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// An `AtomicPtr` that only ever holds `&'static T` (or null): the one place that proves, once,
/// that turning the loaded pointer back into a reference is sound.
#[derive(Debug)]
pub(crate) struct AtomicStaticRef<T: 'static>(AtomicPtr<T>);

impl<T: 'static> AtomicStaticRef<T> {
    pub(crate) const fn none() -> Self {
        AtomicStaticRef(AtomicPtr::new(std::ptr::null_mut()))
    }

    #[inline]
    fn ptr(r: Option<&'static T>) -> *mut T {
        r.map_or(std::ptr::null_mut(), |r| std::ptr::from_ref(r).cast_mut())
    }

    #[inline]
    pub(crate) fn store(&self, r: Option<&'static T>, order: Ordering) {
        self.0.store(Self::ptr(r), order);
    }

    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> Option<&'static T> {
        // SAFETY: the only writers are `store` and `compare_exchange_weak`, which take
        // `Option<&'static T>`: the pointer is null or points to a `T` that lives forever and is
        // only ever shared (never mutated through it).
        unsafe { self.0.load(order).as_ref() }
    }

    pub(crate) fn compare_exchange_weak(
        &self,
        current: Option<&'static T>,
        new: Option<&'static T>,
        success: Ordering,
        failure: Ordering,
    ) -> Result<(), Option<&'static T>> {
        self.0
            .compare_exchange_weak(Self::ptr(current), Self::ptr(new), success, failure)
            .map(drop)
            // SAFETY: as in `load`: every value ever stored came from an `Option<&'static T>`.
            .map_err(|p| unsafe { p.as_ref() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn dependency_and_toolchain_paths_are_shortened_user_paths_kept() {
        assert_eq!(
            short_path(
                "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/axum-0.8.9/src/serve/mod.rs"
            ),
            "axum-0.8.9/src/serve/mod.rs"
        );
        assert_eq!(
            short_path("/rustc/59807616e/library/std/src/thread/mod.rs"),
            "library/std/src/thread/mod.rs"
        );
        assert_eq!(short_path("src/main.rs"), "src/main.rs");
        assert_eq!(short_path("/work/app/src/main.rs"), "/work/app/src/main.rs");
    }

    #[test]
    fn durations_use_readable_units() {
        let cases = [
            (Duration::from_nanos(850), "850ns"),
            (Duration::from_nanos(12_340), "12.3µs"),
            (Duration::from_micros(523_149), "523.1ms"),
            (Duration::from_millis(1204), "1.204s"),
            (Duration::from_secs(90), "90.000s"),
        ];
        for (d, s) in cases {
            assert_eq!(Dur(d).to_string(), s);
        }
    }

    #[test]
    fn static_refs_round_trip() {
        static A: u32 = 1;
        static B: u32 = 2;
        let r = AtomicStaticRef::<u32>::none();
        assert_eq!(r.load(Relaxed), None);
        r.store(Some(&A), Relaxed);
        assert_eq!(r.load(Relaxed), Some(&1));
        assert_eq!(
            r.compare_exchange_weak(Some(&B), None, Relaxed, Relaxed),
            Err(Some(&1))
        );
        while r
            .compare_exchange_weak(Some(&A), Some(&B), Relaxed, Relaxed)
            .is_err()
        {}
        assert_eq!(r.load(Relaxed), Some(&2));
    }

    #[test]
    fn a_poisoned_lock_is_still_usable() {
        let m = std::sync::Arc::new(Mutex::new(5));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 5);
    }
}
