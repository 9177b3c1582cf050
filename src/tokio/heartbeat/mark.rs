//! The heartbeat's task id, for the task hooks' per-task lag (`task-lag`, which needs
//! Tokio ≥ 1.54: `tokio::task::Id` is there).

use tokio::task::{Id, JoinHandle};

use crate::util::lock;

/// The ids of the heartbeat tasks of live runtimes.
static HEARTBEATS: std::sync::Mutex<Vec<Id>> = std::sync::Mutex::new(Vec::new());

/// Marks a heartbeat task as such while the runtime that runs it lives.
#[derive(Debug)]
pub(crate) struct HeartbeatMark(Id);

impl HeartbeatMark {
    pub(crate) fn of(handle: &JoinHandle<()>) -> Self {
        let id = handle.id();
        lock(&HEARTBEATS).push(id);
        HeartbeatMark(id)
    }
}

impl Drop for HeartbeatMark {
    fn drop(&mut self) {
        lock(&HEARTBEATS).retain(|id| *id != self.0);
    }
}

/// Whether task `id` is a heartbeat (which reports its own lateness).
pub(crate) fn is_heartbeat(id: Id) -> bool {
    lock(&HEARTBEATS).contains(&id)
}
