//! Stand-in for `collector.rs` without the Tokio integration, where no `#[pollwatch::test]`
//! runs: there is no collector.

use std::time::Duration;

use super::schema::SlowPollRecord;

/// No test, no collector: a type with no values.
#[derive(Debug)]
pub(crate) enum Collector {}

impl Collector {
    pub(crate) fn offer(&self, _record: &SlowPollRecord, _blocked: Duration) {
        match *self {}
    }
}
