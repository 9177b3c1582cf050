//! Stand-in for `stacks/` where native stacks cannot be read (the `stacks` feature is off, or
//! the platform is not Linux): the same API, reading nothing.

use std::sync::Arc;

use super::pending::Pending;
use crate::record::Kind;

/// What reading a thread's stack gave: here, always nothing.
pub(crate) enum Read {
    #[allow(dead_code)] // the real reader's variant, matched by the watchdog
    Sent,
    Nothing,
    #[allow(dead_code)] // the real reader's variant, matched by the watchdog
    Missed,
}

pub(crate) const WAIT_ANNOTATED: std::time::Duration = std::time::Duration::ZERO;
pub(crate) const WAIT_UNNAMED: std::time::Duration = std::time::Duration::ZERO;

pub(crate) const WAIT_COLD: std::time::Duration = std::time::Duration::ZERO;

/// Nothing to warm up.
pub(crate) fn warm_up_soon() {}

/// Always warm: nothing to warm up.
pub(crate) fn is_warm() -> bool {
    true
}

/// Nothing to warm up.
pub(crate) fn wait_warm(_timeout: std::time::Duration) -> bool {
    true
}

/// Reads no stacks.
pub(crate) struct Stacks;

impl Stacks {
    pub(crate) fn new() -> Self {
        Stacks
    }

    /// Nothing to read.
    pub(crate) fn read(&mut self, _tid: i64, _kind: Kind, pending: &Arc<Pending>) -> Read {
        pending.deliver(None);
        Read::Nothing
    }
}
