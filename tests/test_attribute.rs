//! `#[pollwatch::test]`: a test fails when a poll in it blocks for its budget, with the list of
//! offenders; healthy tests pass; tests in parallel do not see each other's slow polls.
#![cfg(feature = "tokio")]

use std::time::Duration;

use pollwatch::async_timed;

#[async_timed]
async fn blocks_for(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[async_timed]
async fn cooperative() -> u32 {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    7
}

#[pollwatch::test]
async fn a_healthy_test_passes() {
    assert_eq!(cooperative().await, 7);
}

#[pollwatch::test]
#[should_panic(expected = "blocks_for at tests/test_attribute.rs:")]
async fn a_blocking_test_fails_naming_the_fn() {
    blocks_for(150).await;
}

#[pollwatch::test(slow = "10ms")]
#[should_panic(expected = "1 poll blocked the executor for 10.0ms or more")]
async fn the_budget_is_per_test() {
    blocks_for(40).await;
}

// The watchdog applies the test's budget too, so a block shorter than the global threshold
// (100 ms) is classified while it runs.
#[cfg(target_os = "linux")]
#[pollwatch::test(slow = "10ms")]
#[should_panic(expected = "ms (blocking")]
async fn short_blocks_in_a_test_are_classified() {
    blocks_for(90).await;
}

#[pollwatch::test(slow = "200ms")]
async fn a_generous_budget_lets_a_block_pass() {
    blocks_for(40).await;
}

#[pollwatch::test]
async fn result_tests_work() -> Result<(), String> {
    cooperative().await;
    Ok(())
}

#[pollwatch::test]
#[should_panic(expected = "the body's own panic")]
async fn should_panic_sees_the_bodys_panic() {
    panic!("the body's own panic");
}

#[pollwatch::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "blocks_for at tests/test_attribute.rs:")]
async fn blocking_on_a_worker_thread_fails_the_test() {
    tokio::spawn(blocks_for(150)).await.unwrap();
}

#[pollwatch::test(start_paused = true)]
async fn start_paused_time_advances_instantly() {
    let start = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(start.elapsed() < Duration::from_secs(5));
}

// Runs in parallel with the blocking tests above (libtest's default): their slow polls are
// theirs, so this one, which never blocks, must pass.
#[pollwatch::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_tests_do_not_see_each_others_slow_polls() {
    for _ in 0..20 {
        cooperative().await;
    }
}
