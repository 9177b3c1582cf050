//! Stand-in for `stacks.rs` where native stacks cannot be read (the `stacks` feature is off, or
//! the platform is not Linux): the same API, showing nothing.

use crate::record::{Kind, Route, Stall};

/// Shows no stacks.
pub(crate) struct Stacks;

impl Stacks {
    pub(crate) fn start() -> Self {
        Stacks
    }

    /// Nothing to show: done.
    pub(crate) fn show(
        &self,
        _tid: i64,
        _kind: Kind,
        _stall: &Stall,
        _route: Option<Route>,
    ) -> bool {
        true
    }

    pub(crate) fn stop(self) {}
}
