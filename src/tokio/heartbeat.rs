//! The heartbeat: aiodebug's `monitor_loop_lag`, a task that sleeps and sees how late the runtime
//! woke it. Marked explicitly by task id, so the task hooks can tell it from the user's tasks.

use std::io;
use std::time::Duration;

use tokio::task::Id;

use crate::clock::Instant;
use crate::config;
use crate::dispatch;
use crate::util::lock;

/// The ids of the heartbeat tasks of live runtimes.
static HEARTBEATS: std::sync::Mutex<Vec<Id>> = std::sync::Mutex::new(Vec::new());

/// Marks a heartbeat task as such while the runtime that runs it lives.
#[derive(Debug)]
pub(crate) struct HeartbeatMark(Id);

impl Drop for HeartbeatMark {
    fn drop(&mut self) {
        lock(&HEARTBEATS).retain(|id| *id != self.0);
    }
}

/// Whether task `id` is a heartbeat (which reports its own lateness).
#[cfg(all(tokio_unstable, feature = "schedule-latency"))]
pub(crate) fn is_heartbeat(id: Id) -> bool {
    lock(&HEARTBEATS).contains(&id)
}

/// Spawns the heartbeat on `rt`; named where Tokio has task names, so tokio-console does not
/// list it as an anonymous task of pollwatch's.
pub(crate) fn spawn(rt: &tokio::runtime::Runtime) -> io::Result<HeartbeatMark> {
    #[cfg(all(tokio_unstable, feature = "console"))]
    let handle = tokio::task::Builder::new()
        .name("pollwatch heartbeat")
        .spawn_on(beat(), rt.handle())?;
    #[cfg(not(all(tokio_unstable, feature = "console")))]
    let handle = rt.spawn(beat());
    let id = handle.id();
    lock(&HEARTBEATS).push(id);
    Ok(HeartbeatMark(id))
}

/// Sleeps half the threshold, so lag of a full threshold cannot hide between two beats.
async fn beat() {
    loop {
        // `debug_mode` first: it initializes the config the threshold comes from.
        let on = config::debug_mode().is_on();
        let threshold = Duration::from_nanos(config::slow_poll_nanos().max(1));
        let interval = (threshold / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let start = Instant::now();
        tokio::time::sleep(interval).await;
        let late = start.elapsed().saturating_sub(interval);
        if late >= threshold && on {
            dispatch::lag(None, late, threshold);
        }
    }
}
