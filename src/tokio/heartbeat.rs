//! The heartbeat: aiodebug's `monitor_loop_lag`, a task that sleeps and sees how late the runtime
//! woke it. Where the task hooks report lag per task (`task-lag`), the heartbeat's task
//! is marked by its id, so they can tell it from the user's tasks.

use std::io;
use std::time::Duration;

use crate::clock::Instant;
use crate::config;
use crate::dispatch;

#[cfg_attr(
    not(all(pollwatch_task_hooks, feature = "task-lag")),
    path = "heartbeat/mark_mock.rs"
)]
mod mark;

pub(crate) use mark::HeartbeatMark;
#[cfg(all(pollwatch_task_hooks, feature = "task-lag"))]
pub(crate) use mark::is_heartbeat;

/// Spawns the heartbeat on `rt`; named where Tokio has task names, so tokio-console does not
/// list it as an anonymous task of pollwatch's.
pub(crate) fn spawn(rt: &tokio::runtime::Runtime) -> io::Result<HeartbeatMark> {
    #[cfg(all(tokio_unstable, feature = "console"))]
    let handle = tokio::task::Builder::new()
        .name("pollwatch heartbeat")
        .spawn_on(beat(), rt.handle())?;
    #[cfg(not(all(tokio_unstable, feature = "console")))]
    let handle = rt.spawn(beat());
    Ok(HeartbeatMark::of(&handle))
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
