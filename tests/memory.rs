//! Memory is per call site, never per call: a million calls of one fn in debug mode leave the
//! resident set where it was. (Its own binary: no subscriber, so nothing is logged or kept.)
#![cfg(target_os = "linux")]

use pollwatch::{DebugMode, async_timed};

#[async_timed]
async fn called_a_million_times(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n + 1
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_million_calls_use_constant_memory() {
    pollwatch::set_debug_mode(DebugMode::On);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = |n: u64| {
        rt.block_on(async {
            let mut sum = 0;
            for i in 0..n {
                sum += called_a_million_times(i).await;
            }
            sum
        })
    };
    run(100_000); // warm up allocator and runtime
    // And pollwatch's one-time warm-up (the symbolizer parses debug information in the
    // background, a few MB, once per process): this test is about memory per call.
    let watchdog = pollwatch::watchdog();
    assert!(watchdog.wait_until_ready(std::time::Duration::from_secs(30)));
    let before = rss_kib();
    run(1_000_000);
    let after = rss_kib();
    let s = pollwatch::report()
        .call_sites
        .into_iter()
        .find(|c| c.fn_name == "called_a_million_times")
        .unwrap();
    assert_eq!(s.completed, 1_100_000);
    assert!(
        after.saturating_sub(before) < 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}
