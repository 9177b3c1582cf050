//! `pollwatch::run` on the lowest Tokio. With `--cfg tokio_unstable`, that Tokio has no task
//! poll hooks: pollwatch builds without them and says so once (`.ci/run` checks the line).

fn main() {
    pollwatch::Config::default()
        .debug_mode(pollwatch::DebugMode::On)
        .apply();
    pollwatch::run(async { tokio::task::yield_now().await });
}
