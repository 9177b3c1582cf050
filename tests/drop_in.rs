//! pollwatch dropped into an application that has its own `tracing` setup: the application's
//! subscriber still installs, its logs print as configured, and pollwatch's warnings reach a
//! person either way. Its own binary: nothing here sets a global subscriber first.
#![cfg(all(feature = "tokio", unix))]

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

/// `examples/existing_app.rs`, which `cargo test` builds next to this binary.
fn existing_app(rust_log: Option<&str>) -> Output {
    let exe = std::env::current_exe().unwrap();
    let app: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("existing_app"))
        .unwrap();
    assert!(
        app.exists(),
        "`cargo test` builds the examples: {}",
        app.display()
    );
    let mut cmd = Command::new(app);
    cmd.env_remove("RUST_LOG")
        .env_remove("POLLWATCH")
        .env("NO_COLOR", "1");
    if let Some(spec) = rust_log {
        cmd.env("RUST_LOG", spec);
    }
    cmd.output().unwrap()
}

#[test]
fn main_leaves_the_subscriber_to_the_app_and_warnings_still_reach_stderr() {
    let out = existing_app(None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "its own try_init() succeeds under #[pollwatch::main]:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("existing_app: serving"), "{stdout}");
    assert!(
        stdout.contains("existing_app: SET user:21 done"),
        "{stdout}"
    );
    // Its filter (`existing_app=info`) leaves pollwatch out: pollwatch prints its own warning.
    assert!(
        stderr.contains("WARN pollwatch::slow_poll: set blocked the executor for"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("pollwatch"),
        "its filter is respected: {stdout}"
    );
    assert!(!format!("{stdout}{stderr}").contains("session-token"));
}

#[test]
fn with_rust_log_pollwatch_goes_through_the_apps_subscriber_without_leaking_the_handle() {
    let out = existing_app(Some("info"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("pollwatch::slow_poll") && stdout.contains("set blocked the executor"),
        "the app's subscriber records the warning: {stdout}"
    );
    assert!(
        !stderr.contains("pollwatch::slow_poll"),
        "recorded, so not printed again: {stderr}"
    );
    // `skip(db)` / `skip(db, value)` from `#[instrument]`, in either order.
    let started_get = stdout
        .lines()
        .find(|l| l.contains("started get"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(started_get.contains("key=\"user:7\""), "{started_get}");
    assert!(!started_get.contains("db="), "{started_get}");
    assert!(!stdout.contains("session-token"), "{stdout}");
}

#[pollwatch::test]
async fn a_test_can_install_its_own_subscriber() {
    tracing_subscriber::fmt()
        .with_test_writer()
        .try_init()
        .expect("#[pollwatch::test] set no global subscriber");
}

#[test]
fn every_event_of_the_first_call_on_each_test_thread_prints() {
    let fixture = support::sibling_test_binary("first_events_fixture-", "t15: test");
    for round in 0..5 {
        let out = Command::new(&fixture)
            .env("POLLWATCH_FIXTURE", "1")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .args(["--nocapture", "--test-threads=16"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for n in 0..16 {
            for what in ["started", "finished"] {
                let line = format!("{what} work{n:02}");
                assert_eq!(
                    text.matches(&line).count(),
                    1,
                    "round {round}: `{line}` once:\n{text}"
                );
            }
        }
    }
}
