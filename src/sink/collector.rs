//! Per-test routing of slow polls: each `#[pollwatch::test]` runs on its own runtime whose
//! threads hand their slow polls to that test's [`Collector`], so tests running in parallel
//! never see each other's.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::schema::SlowPollRecord;
use crate::util::lock;

/// Collects the slow polls of one test (or one strict run), from the threads it runs on.
#[derive(Debug)]
pub(crate) struct Collector {
    budget: Duration,
    offenders: Mutex<Vec<SlowPollRecord>>,
}

impl Collector {
    pub(crate) fn new(budget: Duration) -> Arc<Self> {
        Arc::new(Collector {
            budget,
            offenders: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn budget(&self) -> Duration {
        self.budget
    }

    /// The slow polls at or over the budget so far.
    pub(crate) fn offenders(&self) -> Vec<SlowPollRecord> {
        lock(&self.offenders).clone()
    }
}

thread_local! {
    static COLLECTOR: RefCell<Option<Arc<Collector>>> = const { RefCell::new(None) };
}

/// Routes this thread's slow polls to `collector` (`None`: to none); returns the previous one.
pub(crate) fn replace(collector: Option<Arc<Collector>>) -> Option<Arc<Collector>> {
    COLLECTOR
        .try_with(|c| std::mem::replace(&mut *c.borrow_mut(), collector))
        .ok()
        .flatten()
}

/// Hands `record` to this thread's collector if it blocked for the collector's budget or more.
pub(crate) fn route(record: &SlowPollRecord, blocked: Duration) {
    let _ = COLLECTOR.try_with(|c| {
        if let Some(c) = c.borrow().as_ref() {
            if blocked >= c.budget {
                lock(&c.offenders).push(record.clone());
            }
        }
    });
}

/// Whether this thread runs for a test (its output is the test's captured output).
pub(crate) fn in_test() -> bool {
    COLLECTOR
        .try_with(|c| c.borrow().is_some())
        .unwrap_or(false)
}

/// The test this thread runs for, as a number (its collector's address), or 0 for none: the
/// log-volume policy keeps each test's culprits apart.
pub(crate) fn test_id() -> usize {
    COLLECTOR
        .try_with(|c| c.borrow().as_ref().map_or(0, |c| Arc::as_ptr(c) as usize))
        .unwrap_or(0)
}
