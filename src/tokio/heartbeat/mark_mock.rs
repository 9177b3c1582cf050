//! Stand-in for `mark.rs` where no task hook asks which task is the heartbeat (no
//! `task-lag`): nothing to mark, and no need for `tokio::task::Id` (Tokio ≥ 1.41), so
//! the Tokio an application already uses will do.

use tokio::task::JoinHandle;

/// Marks nothing.
#[derive(Debug)]
pub(crate) struct HeartbeatMark;

impl HeartbeatMark {
    pub(crate) fn of(_handle: &JoinHandle<()>) -> Self {
        HeartbeatMark
    }
}
