//! A test's slow polls: each `#[pollwatch::test]` runs on its own runtime whose threads hand
//! their slow polls to that test's [`Collector`] (the dispatcher finds it in the thread's
//! `dispatch::thread_test`), so tests running in parallel never see each other's.

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

    /// Keeps `record` if it blocked for the budget or more.
    pub(crate) fn offer(&self, record: &SlowPollRecord, blocked: Duration) {
        if blocked >= self.budget {
            lock(&self.offenders).push(record.clone());
        }
    }
}
