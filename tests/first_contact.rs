//! pollwatch as a new user first meets it: each program of `tests/fixtures/
//! first_contact_fixture.rs` in a fresh process (cold caches, nothing warmed up), its output
//! read as the user reads it.
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod support;

use std::process::Command;

/// Runs one program of the fixture in a process of its own; its stdout and stderr.
fn run(program: &str) -> String {
    let fixture = support::sibling_test_binary("first_contact_fixture-", program);
    let out = Command::new(fixture)
        .env("POLLWATCH_PROGRAM", program)
        .env_remove("POLLWATCH")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .args([program, "--exact", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program}:\n{text}");
    text
}

#[test]
fn two_blocking_calls_then_an_immediate_exit_print_both() {
    let text = run("two_blocking_calls_then_exit");
    assert_eq!(
        text.matches("crunch blocked the executor for").count(),
        1,
        "the first in full:\n{text}"
    );
    assert!(
        text.contains("blocked the executor 1 more time"),
        "the second in the digest written at exit:\n{text}"
    );
}

#[test]
fn three_blocking_sites_in_one_fn_are_three_culprits() {
    let text = run("three_blocking_sites_in_one_fn");
    assert_eq!(
        text.matches("three_sites blocked the executor for").count(),
        3,
        "each site's first occurrence in full:\n{text}"
    );
    assert!(!text.contains("more time"), "nothing digested:\n{text}");
}
