//! Python logging's *last resort*: a warning that no subscriber would record is printed anyway.
//! pollwatch never installs a global subscriber behind the application's back (its own
//! `try_init()` would then fail); instead, each warning asks whether anything records it (no
//! subscriber at all, or a filter such as `my_app=info` that leaves pollwatch out), and if
//! nothing does, prints itself. To leave it all to your subscriber, `POLLWATCH_LAST_RESORT=0`
//! (`Config::last_resort(false)`); to silence pollwatch, turn debug mode off (`POLLWATCH=0`),
//! or say so in the filter of [`init`](crate::init) (`RUST_LOG=…,pollwatch=off`).
//!
//! Inside a `#[pollwatch::test]` the line goes through the test harness's output capture, so
//! it shows under the failing test; elsewhere it is written to stderr directly (never
//! `eprintln!`, which panics when stderr is a closed pipe).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use tracing::Level;

use crate::util::say;

/// Set when pollwatch's own subscriber was installed with a filter that names pollwatch: what
/// that filter hides was hidden on purpose.
static FILTERED_ON_PURPOSE: AtomicBool = AtomicBool::new(false);

/// Records that the filter of pollwatch's own subscriber says what to do with its events.
pub(crate) fn filtered_on_purpose() {
    FILTERED_ON_PURPOSE.store(true, Relaxed);
}

/// Prints `WARN pollwatch::slow_poll: <message>` (and the `detail` lines after it) unless the
/// event was `recorded` by a subscriber; `in_test`: the thread runs for a test, whose harness
/// captures its output.
pub(crate) fn unless_recorded(
    in_test: bool,
    recorded: bool,
    level: Level,
    target: &str,
    message: &dyn fmt::Display,
    detail: Option<&str>,
) {
    if recorded || FILTERED_ON_PURPOSE.load(Relaxed) || !crate::config::last_resort() {
        return;
    }
    let line = match detail {
        Some(detail) => format!("{level:>5} {target}: {message}\n{detail}"),
        None => format!("{level:>5} {target}: {message}"),
    };
    if in_test {
        // The harness captures `eprint!` (not writes to the stderr handle); a test is never a
        // `panic = "abort"` build, so a failing write is caught rather than fatal.
        let _ = std::panic::catch_unwind(|| eprintln!("{line}"));
    } else {
        say(format_args!("{line}"));
    }
}
