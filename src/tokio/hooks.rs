//! Tokio's task poll hooks (`--cfg tokio_unstable`): every task poll, annotated or not, becomes
//! a frame, so an un-annotated task that blocks its worker is reported with its id and spawn
//! location; with the `task-lag` feature, a task that waited behind a slow poll is named.

use std::cell::Cell;
use std::hash::{Hash as _, Hasher};
#[cfg(feature = "task-lag")]
use std::time::Duration;

use crate::clock::Ticks;
use crate::config;
use crate::detect::frames;
use crate::dispatch;
use crate::record::{TaskRef, Who};

/// How far before a task's wait began the slow poll that caused it may have ended (the
/// hand-off between the two takes a little time).
#[cfg(feature = "task-lag")]
const LAG_SLACK: Duration = Duration::from_millis(10);

/// `tokio::task::Id` has no public integer accessor; its `Hash` writes the id as one `u64`.
fn task_id(id: tokio::task::Id) -> u64 {
    #[derive(Default)]
    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 << 8) | u64::from(*b);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    let mut h = Capture::default();
    id.hash(&mut h);
    h.finish()
}

/// The task poll in progress on this thread, as the hooks see it.
enum Hook {
    /// None (or debug mode was off when it began).
    Idle,
    /// The production profile: its frame is on the slot.
    Watching,
    /// Timed exactly (debug mode).
    Timed(frames::Token, Ticks),
}

thread_local! {
    /// One thread-local, read once as a poll begins and once as it ends. A nested task poll (a
    /// runtime driven from inside a task) replaces it; the outer one is then not timed.
    static HOOK: Cell<Hook> = const { Cell::new(Hook::Idle) };
}

/// `on_before_task_poll`.
pub(crate) fn task_poll_started(meta: &tokio::runtime::TaskMeta<'_>) {
    let mode = config::debug_mode();
    if !mode.is_on() {
        return;
    }
    let task = TaskRef {
        id: task_id(meta.id()),
        spawned_at: meta.spawned_at(),
    };
    #[cfg(feature = "task-lag")]
    if let Some(waited) = meta.schedule_latency() {
        let threshold = Duration::from_nanos(config::slow_poll_nanos());
        // Only lag caused by a blocking poll on this worker: a merely busy runtime (10k ready
        // tasks taking turns) also makes tasks wait, but nothing here is to blame for that.
        // The heartbeat reports its own lateness.
        if waited >= threshold
            && frames::slow_poll_within(waited + LAG_SLACK)
            && !super::heartbeat::is_heartbeat(meta.id())
        {
            dispatch::lag(Some(task), waited, threshold);
        }
    }
    if mode.is_watch() {
        let fresh = HOOK.try_with(|h| !matches!(h.replace(Hook::Watching), Hook::Watching));
        if fresh.unwrap_or(false) {
            frames::enter_watch(Who::Task(task));
        }
        return;
    }
    let start = Ticks::now();
    let threshold_ns = config::slow_poll_nanos();
    if let Some(token) = frames::enter(Who::Task(task), task.spawned_at, 0, threshold_ns, start) {
        let _ = HOOK.try_with(|h| h.set(Hook::Timed(token, start)));
    }
}

/// `on_after_task_poll`.
pub(crate) fn task_poll_ended() {
    let slow = match HOOK.try_with(|h| h.replace(Hook::Idle)) {
        Ok(Hook::Watching) => frames::exit_watch(false),
        Ok(Hook::Timed(token, start)) => frames::exit(token, start.elapsed(), false),
        Ok(Hook::Idle) | Err(_) => return,
    };
    if let Some(slow) = slow {
        dispatch::slow_poll(&slow, config::debug_mode().is_strict());
    }
}
