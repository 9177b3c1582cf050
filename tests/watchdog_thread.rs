//! The watchdog thread lives exactly as long as something needs it (its own binary: the
//! watchdog is process-wide, and other tests' runtimes would keep it alive).
#![cfg(all(feature = "tokio", target_os = "linux"))]

fn watchdog_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "pollwatch-wdog")
        .count()
}

/// A new thread sets its own name once it runs: wait (generously) for the count to settle.
fn settles_at(n: usize) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if watchdog_threads() == n {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}

#[test]
fn the_watchdog_thread_lives_as_long_as_something_needs_it() {
    // Debug mode as the environment says (on in a debug build): runtimes own the watchdog.
    assert_eq!(watchdog_threads(), 0);
    let rt = pollwatch::Builder::new_multi_thread().build().unwrap();
    let rt2 = pollwatch::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {});
    assert!(settles_at(1), "one watchdog for all runtimes");
    drop(rt);
    // A thread the watchdog starts (its symbolizer) is named `pollwatch-wdog` until it renames
    // itself: wait for the count to settle rather than read it once.
    assert!(settles_at(1), "still needed by the second runtime");
    drop(rt2);
    // Joined; /proc may list a joined thread a moment longer on a loaded machine.
    assert!(settles_at(0), "stopped and joined with the last runtime");

    let guard = pollwatch::watchdog();
    assert!(settles_at(1));
    drop(guard);
    assert!(settles_at(0));

    // No thread while debug mode is off, whatever runs.
    pollwatch::set_debug_mode(pollwatch::DebugMode::Off);
    futures::executor::block_on(instrumented());
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(watchdog_threads(), 0, "debug mode off: no watchdog");

    // In debug mode, the first instrumented poll starts it, under any executor, for the rest
    // of the process.
    pollwatch::set_debug_mode(pollwatch::DebugMode::On);
    futures::executor::block_on(instrumented());
    assert!(settles_at(1), "started by the first poll");
    let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    drop(rt);
    assert!(settles_at(1), "the process keeps it");
}

#[pollwatch::async_timed]
async fn instrumented() {}
