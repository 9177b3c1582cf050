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
fn blocking_calls_then_an_immediate_exit_are_all_reported() {
    let text = run("three_blocking_calls_then_exit");
    // The first in full; the others in full or in a digest written at exit. The first may be
    // keyed by its fn (its stack came after it, from a symbolizer still warming up), the
    // others by the line their stack names: at least two share a culprit, so at least one is
    // only in a digest, which the process would end before printing without the exit hook.
    let full = text.matches("crunch blocked the executor for").count();
    let digested: usize = [("1 more time", 1), ("2 more times", 2)]
        .iter()
        .map(|(what, n)| text.matches(what).count() * n)
        .sum();
    assert!(full >= 1, "the first in full:\n{text}");
    assert!(digested >= 1, "a digest at exit:\n{text}");
    assert_eq!(full + digested, 3, "all three reported:\n{text}");
}
