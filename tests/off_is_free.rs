//! Debug mode off costs no thread: no watchdog, symbolizer or clock ticker starts, whatever
//! runs (`pollwatch::run`, a `Builder` runtime, a `watchdog()` guard, instrumented polls). Its
//! own binary: pollwatch's threads are process-wide. Threads are counted, not timed.
#![cfg(all(feature = "tokio", target_os = "linux"))]

use std::time::Duration;

/// The names of this process's threads that pollwatch started (`pollwatch-…`).
fn pollwatch_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("pollwatch"))
        .collect()
}

#[pollwatch::async_timed]
async fn blocks_a_little() -> u32 {
    std::thread::sleep(Duration::from_millis(30));
    tokio::task::yield_now().await;
    7
}

#[test]
fn debug_mode_off_starts_no_pollwatch_thread() {
    // `POLLWATCH=0`, as a user turns it off (`run` turns debug mode on unless it is set).
    // SAFETY: the only test of this binary, before it starts any thread of its own.
    unsafe { std::env::set_var("POLLWATCH", "0") };
    pollwatch::Config::default()
        .debug_mode(pollwatch::DebugMode::Off)
        .slow_poll(Duration::from_millis(10))
        .apply();

    assert_eq!(pollwatch::run(blocks_a_little()), 7);
    let rt = pollwatch::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let guard = pollwatch::watchdog();
    rt.block_on(async {
        let tasks: Vec<_> = (0..4).map(|_| tokio::spawn(blocks_a_little())).collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
    });
    futures::executor::block_on(blocks_a_little());
    // Built off, a runtime installs no task poll hook of pollwatch's; the application's own run.
    #[cfg(tokio_unstable)]
    {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        static BEFORE: AtomicUsize = AtomicUsize::new(0);
        static AFTER: AtomicUsize = AtomicUsize::new(0);
        let hooked = pollwatch::Builder::new_current_thread()
            .on_before_task_poll(|_| {
                BEFORE.fetch_add(1, Relaxed);
            })
            .on_after_task_poll(|_| {
                AFTER.fetch_add(1, Relaxed);
            })
            .build()
            .unwrap();
        hooked.block_on(async { tokio::spawn(blocks_a_little()).await.unwrap() });
        assert!(BEFORE.load(Relaxed) >= 2 && AFTER.load(Relaxed) >= 2);
    }
    // Give any thread that was started (it names itself first thing) time to show up.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(pollwatch_threads(), Vec::<String>::new(), "debug mode off");

    // Turned on while a guard is held: the next timed poll starts the watchdog.
    pollwatch::set_debug_mode(pollwatch::DebugMode::On);
    rt.block_on(blocks_a_little());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !pollwatch_threads().iter().any(|t| t == "pollwatch-wdog") {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            pollwatch_threads()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(rt);
    drop(guard);
}
