//! Which test this thread reports to: one thread-local, holding a [`ThreadTest`] while the
//! thread runs for a `#[pollwatch::test]` (its runtime's workers, the test's own thread, its
//! printer). Set and restored in one place, `detect::frames::set_thread_test`, which also
//! applies the test's budget to the thread's polls; read here by the dispatcher (the test's
//! log-volume policy, its collector, its captured output) and by the detectors (the budget,
//! the route of the watchdog's reports).
//!
//! It sits in `dispatch` because that is the one layer the detectors may use that may also
//! name a sink's `Collector` (`tests/layers.rs`). The sinks never read it: the dispatcher hands
//! them what they need of it (the collector, whether the output is a test's).

use std::cell::RefCell;
use std::sync::Arc;

use super::Route;
use crate::sink::collector::Collector;

/// A `#[pollwatch::test]` as the threads it runs on see it.
#[derive(Clone, Debug)]
pub(crate) struct ThreadTest {
    /// The test's number in this process (1, 2, …; 0 is no test): each test's culprits are
    /// its own in the log-volume policy.
    pub(crate) id: u64,
    /// Every poll on the thread is checked against this budget (or its own smaller threshold).
    pub(crate) budget_ns: u64,
    /// Where the watchdog's reports about the thread go: the test's own output.
    pub(crate) route: Option<Route>,
    /// Gets the thread's slow polls at or over the budget: the test's verdict.
    pub(crate) collector: Arc<Collector>,
}

#[cfg(feature = "tokio")]
impl ThreadTest {
    /// A new test, numbered, whose budget is `collector`'s; no route yet.
    pub(crate) fn new(collector: Arc<Collector>) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        ThreadTest {
            id: NEXT_ID.fetch_add(1, Relaxed),
            budget_ns: crate::util::saturating_nanos(collector.budget()),
            route: None,
            collector,
        }
    }
}

thread_local! {
    static TEST: RefCell<Option<ThreadTest>> = const { RefCell::new(None) };
}

/// Makes this thread run for `test` (`None`: for none); returns the previous one. Only
/// `detect::frames::set_thread_test` calls this (it applies the budget too).
#[cfg(feature = "tokio")]
pub(crate) fn replace(test: Option<ThreadTest>) -> Option<ThreadTest> {
    TEST.try_with(|t| std::mem::replace(&mut *t.borrow_mut(), test))
        .ok()
        .flatten()
}

/// `f` of the test this thread runs for, if any.
fn read<R>(f: impl FnOnce(&ThreadTest) -> R) -> Option<R> {
    TEST.try_with(|t| t.try_borrow().ok()?.as_ref().map(f))
        .ok()
        .flatten()
}

/// The test this thread runs for.
pub(crate) fn current() -> Option<ThreadTest> {
    read(ThreadTest::clone)
}

/// The number of the test this thread runs for, or 0 for none.
pub(crate) fn id() -> u64 {
    read(|t| t.id).unwrap_or(0)
}

/// Whether this thread runs for a test (its output is the test's captured output).
pub(crate) fn in_test() -> bool {
    read(|_| ()).is_some()
}

/// The collector of the test this thread runs for.
pub(crate) fn collector() -> Option<Arc<Collector>> {
    read(|t| t.collector.clone())
}
