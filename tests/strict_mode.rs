//! `DebugMode::Strict` turns slow-poll warnings into errors.

mod support;

use std::time::Duration;

use pollwatch::{DebugMode, async_timed};
use support::{block_thread, capture};
use tracing::Level;

#[async_timed]
async fn blocks() {
    block_thread(Duration::from_millis(150));
}

#[test]
fn strict_mode_reports_slow_polls_as_errors() {
    pollwatch::set_debug_mode(DebugMode::Strict);
    let ((), events) = capture(|| futures::executor::block_on(blocks()));
    let slow = events.slow_polls();
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].level, Level::ERROR);
}
