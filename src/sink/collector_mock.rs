//! Stand-in for `collector.rs` without the Tokio integration, where no `#[pollwatch::test]`
//! installs a collector: routing finds none.

use std::time::Duration;

use super::schema::SlowPollRecord;

#[inline]
pub(crate) fn route(_record: &SlowPollRecord, _blocked: Duration) {}

/// No thread runs for a test without the Tokio integration.
#[inline]
pub(crate) fn in_test() -> bool {
    false
}

/// No test, no id.
#[inline]
pub(crate) fn test_id() -> usize {
    0
}
