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

#[test]
fn three_blocking_sites_in_one_fn_are_three_culprits() {
    let text = run("three_blocking_sites_in_one_fn");
    assert_eq!(
        text.matches("three_sites blocked the executor for 4")
            .count(),
        3,
        "each site's first occurrence in full:\n{text}"
    );
    for line in [41, 43, 45] {
        assert!(
            text.contains(&format!("first_contact_fixture.rs:{line} [three_sites]")),
            "the line that blocked, {line}:\n{text}"
        );
    }
    assert!(!text.contains("more time"), "nothing digested:\n{text}");
}

/// The first warning of a program whose very first poll blocks: its slow-poll line.
fn first_warning(text: &str) -> &str {
    text.lines()
        .find(|l| l.contains("pollwatch::slow_poll:"))
        .unwrap_or_else(|| panic!("no slow poll:\n{text}"))
}

#[test]
fn a_first_poll_that_sleeps_is_named_by_its_line_and_syscall() {
    let text = run("first_poll_sleeps");
    let first = first_warning(&text);
    assert!(
        first.contains("sleeps_at_once blocked the executor")
            && first.contains(
                "(blocking: clock_nanosleep) at tests/fixtures/first_contact_fixture.rs:"
            ),
        "{text}"
    );
    assert!(
        first.contains(&format!(":{} [", line_of("SLEEPS HERE"))),
        "{text}"
    );
}

#[test]
fn a_first_poll_that_waits_for_a_lock_is_named_by_its_line_and_syscall() {
    let text = run("first_poll_locks");
    let first = first_warning(&text);
    assert!(
        first.contains("locks_at_once blocked the executor") && first.contains("(blocking: futex)"),
        "{text}"
    );
    assert!(
        first.contains(&format!(":{} [", line_of("LOCKS HERE"))),
        "{text}"
    );
}

#[test]
fn a_first_poll_that_spins_is_cpu_bound() {
    let text = run("first_poll_spins");
    let first = first_warning(&text);
    assert!(
        first.contains("spins_at_once blocked the executor") && first.contains("(cpu-bound)"),
        "{text}"
    );
    // Its line comes from a sample of the running thread, where perf events are allowed: a
    // line of the loop (the sample lands on its condition, its body or its back edge).
    if !text.contains("perf events") {
        let spin = line_of("SPINS HERE");
        assert!(
            [spin - 1, spin, spin + 1]
                .iter()
                .any(|l| first.contains(&format!(":{l} ["))),
            "{text}"
        );
    }
}

/// The line of the fixture that carries `marker` in a comment.
fn line_of(marker: &str) -> usize {
    include_str!("fixtures/first_contact_fixture.rs")
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker}"))
        + 1
}
