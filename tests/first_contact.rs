//! pollwatch as a new user first meets it: each program of `tests/fixtures/
//! first_contact_fixture.rs` in a fresh process (cold caches, nothing warmed up), its output
//! read as the user reads it.
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod support;

use std::os::unix::process::CommandExt as _;
use std::process::Command;

/// Runs one program of the fixture in a process of its own; its stdout and stderr.
fn run(program: &str) -> String {
    let (ok, text) = run_with(program, &[]);
    assert!(ok, "{program}:\n{text}");
    text
}

/// Runs one program with `env` set; whether it succeeded, and its stdout and stderr.
fn run_with(program: &str, env: &[(&str, &str)]) -> (bool, String) {
    let fixture = support::sibling_test_binary("first_contact_fixture-", program);
    let out = Command::new(fixture)
        .env("POLLWATCH_PROGRAM", program)
        .env_remove("POLLWATCH")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .args([program, "--exact", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
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

/// A server killed by `signal` (no graceful shutdown, as most web framework examples) leaves
/// the report and page it was asked for, current: written within about a second of its finding.
fn killed_server_leaves_current_reports(signal: libc::c_int) {
    let dir =
        std::env::temp_dir().join(format!("pollwatch-killed-{}-{signal}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let program = "server_until_killed";
    let fixture = support::sibling_test_binary("first_contact_fixture-", program);
    let html = dir.join("page.html");
    let mut command = Command::new(fixture);
    command
        .env("POLLWATCH_PROGRAM", program)
        .env("POLLWATCH_REPORT", format!("{}/", dir.display()))
        .env("POLLWATCH_HTML", &html)
        .env_remove("POLLWATCH")
        .args([program, "--exact", "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // The server starts as one started from a terminal does: with the signal's default
    // disposition. (A test run from a background job of a script inherits SIGINT ignored, and
    // a program that ignores SIGINT is not stopped by it, pollwatch or not.)
    // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(move || {
            libc::signal(signal, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    // The report of the blocking request appears while the server runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut path = std::path::PathBuf::new();
    let report = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "json"))
        });
        if let Some(found) = &found {
            path.clone_from(found);
        }
        let page_shows_it = std::fs::read_to_string(&html).is_ok_and(|p| p.contains("crunch"));
        if let Some(report) = found
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            && slow_poll_of(&report, "crunch")
            && page_shows_it
        {
            break report;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no current report while the server runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: a plain kill(2) of the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not stop within 20 s of signal {signal}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!status.success(), "killed: {status}");
    // Atomically written: the file read after the kill is still a whole report with it.
    let after: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .expect("a whole JSON report");
    assert!(slow_poll_of(&after, "crunch"), "{report:#}");
    let page = std::fs::read_to_string(&html).expect("the page asked for");
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    assert!(page.contains("crunch"), "the page shows the finding");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_killed_with_sigint_leaves_current_reports() {
    killed_server_leaves_current_reports(libc::SIGINT);
}

#[test]
fn a_server_killed_with_sigterm_leaves_current_reports() {
    killed_server_leaves_current_reports(libc::SIGTERM);
}

fn slow_poll_of(report: &serde_json::Value, name: &str) -> bool {
    report["slow_polls"]
        .as_array()
        .is_some_and(|polls| polls.iter().any(|p| p["fn"] == name))
}

#[test]
fn a_first_test_blocking_in_a_closure_handler_names_its_line_in_the_verdict_and_report() {
    let dir = std::env::temp_dir().join(format!("pollwatch-closure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report_dir = format!("{}/", dir.display());
    let (ok, text) = run_with(
        "calls_a_closure_handler",
        &[("POLLWATCH_REPORT", report_dir.as_str())],
    );
    assert!(!ok, "the test fails:\n{text}");
    let line = line_of("HANDLER BLOCKS HERE");
    let verdict = text
        .lines()
        .find(|l| l.trim_start().starts_with("- calls_a_closure_handler at"))
        .unwrap_or_else(|| panic!("a verdict:\n{text}"));
    assert!(
        verdict.contains(&format!(
            "first_contact_fixture.rs:{line} [calls_a_closure_handler > app]"
        )) && verdict.contains("(blocking: clock_nanosleep)"),
        "{verdict}\n{text}"
    );
    let json = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("the JSON report");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let poll = &report["slow_polls"][0];
    assert_eq!(
        poll["location"],
        format!("tests/fixtures/first_contact_fixture.rs:{line}"),
        "{report:#}"
    );
    assert_eq!(
        poll["chain"],
        serde_json::json!(["calls_a_closure_handler", "app"])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_the_last_resort_off_nothing_is_printed_and_everything_is_kept() {
    let dir = std::env::temp_dir().join(format!("pollwatch-quiet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report_dir = format!("{}/", dir.display());
    let (ok, text) = run_with(
        "first_poll_sleeps",
        &[
            ("POLLWATCH_LAST_RESORT", "0"),
            ("POLLWATCH_REPORT", report_dir.as_str()),
        ],
    );
    assert!(ok, "{text}");
    assert!(
        !text.contains("pollwatch::"),
        "no subscriber, and the last resort off: nothing printed\n{text}"
    );
    let json = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("the JSON report");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert!(slow_poll_of(&report, "sleeps_at_once"), "{report:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
