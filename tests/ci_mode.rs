//! CI mode end to end: a fixture suite with known blockers (`tests/fixtures/ci_fixture.rs`) run
//! as a subprocess in strict mode fails exactly the blocking tests, each naming its fn, and
//! leaves a JSON report that matches `schema/report-v1.json`.
#![cfg(all(feature = "tokio", unix))]

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The fixture test binary, built by the same `cargo test` next to this one (builds with other
/// features leave other `ci_fixture-*` binaries there: the newest that has the tests).
fn fixture_binary() -> PathBuf {
    support::sibling_test_binary("ci_fixture-", "cpu_bound_handler: test")
}

/// Checks `value` against the subset of JSON Schema that `schema/report-v1.json` uses.
fn validate(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(c) = schema.get("const")
        && value != c
    {
        errors.push(format!("{path}: {value} is not {c}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {options:?}"));
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "null" => value.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{path}: {value} is not of type {types:?}"));
        }
    }
    if let (Some(obj), Some(required)) = (
        value.as_object(),
        schema.get("required").and_then(Value::as_array),
    ) {
        for key in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(key) {
                errors.push(format!("{path}: missing `{key}`"));
            }
        }
    }
    if let (Some(obj), Some(props)) = (
        value.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for (key, sub) in props {
            if let Some(v) = obj.get(key) {
                validate(v, sub, &format!("{path}.{key}"), errors);
            }
        }
    }
    if let (Some(items), Some(sub)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            validate(v, sub, &format!("{path}[{i}]"), errors);
        }
    }
}

#[test]
fn strict_suite_fails_exactly_the_blocking_tests_and_writes_a_valid_report() {
    let reports = std::env::temp_dir().join(format!("pollwatch-ci-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&reports);
    std::fs::create_dir_all(&reports).unwrap();
    let out = Command::new(fixture_binary())
        .env("POLLWATCH_FIXTURE", "1")
        .env("POLLWATCH", "strict")
        .env("POLLWATCH_REPORT", format!("{}/", reports.display()))
        .arg("--test-threads=3")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the suite must fail:\n{stdout}");

    let verdicts = |word: &str| -> BTreeSet<String> {
        stdout
            .lines()
            .filter_map(|l| {
                l.strip_prefix("test ")?
                    .strip_suffix(&format!(" ... {word}"))
            })
            .map(str::to_owned)
            .collect()
    };
    let failed = verdicts("FAILED");
    let expected: BTreeSet<String> = [
        "cpu_bound_handler",
        "file_reading_handler",
        "sleeping_handler",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        failed, expected,
        "exactly the blocking tests fail:\n{stdout}"
    );
    assert_eq!(verdicts("ok").len(), 3, "{stdout}");

    // Each failure names the fn that blocked, where it is, and its chain.
    for (test, culprit) in [
        ("cpu_bound_handler", "crunch_numbers"),
        ("sleeping_handler", "nap"),
        ("file_reading_handler", "read_big_file"),
    ] {
        let section = stdout
            .split(&format!("---- {test} stdout ----"))
            .nth(1)
            .unwrap_or_else(|| panic!("no failure output for {test}:\n{stdout}"));
        let section = section.split("\n---- ").next().unwrap();
        assert!(
            section.contains(&format!("- {culprit} at tests/fixtures/ci_fixture.rs:")),
            "{test} must name {culprit}:\n{section}"
        );
        assert!(
            section.contains(&format!("[{test} > {culprit}]")),
            "{section}"
        );
        // No subscriber is set: pollwatch printed its warnings itself, into this test's
        // captured output, the watchdog's stall reports included, and none of the other tests'
        // (the three run at once).
        assert!(
            section.contains(&format!(
                "pollwatch::slow_poll: {culprit} blocked the executor"
            )),
            "{section}"
        );
        if test != "file_reading_handler" {
            assert!(
                section.contains(&format!("pollwatch::stall: {culprit} has been blocking")),
                "the watchdog's report is in {test}'s output:\n{section}"
            );
        }
        for other in ["crunch_numbers", "nap", "read_big_file"] {
            if other != culprit {
                assert!(
                    !section.contains(&format!(": {other} ")),
                    "{other} in {test}'s output:\n{section}"
                );
            }
        }
    }

    // One process, one report file, valid against the schema.
    let files: Vec<PathBuf> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let schema: Value = serde_json::from_str(include_str!("../schema/report-v1.json")).unwrap();
    let mut errors = Vec::new();
    validate(&report, &schema, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "report does not match its schema: {errors:#?}"
    );
    assert_eq!(report["process"]["debug_mode"], "strict");
    let slow_fns: BTreeSet<&str> = report["slow_polls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["fn"].as_str())
        .collect();
    for f in ["crunch_numbers", "nap", "read_big_file"] {
        assert!(slow_fns.contains(f), "{f} in {slow_fns:?}");
    }
    let crunch = report["call_sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fn"] == "crunch_numbers")
        .expect("crunch_numbers in the summary");
    assert_eq!(crunch["calls"], 1);
    assert_eq!(crunch["completed"], 1);
    assert!(crunch["slow_polls"].as_u64().unwrap() >= 1);
    assert!(crunch["max_poll_ns"].as_u64().unwrap() >= 600_000_000);
    // The picture beside the data: an HTML page next to the JSON, named in each failure.
    let html_path = files[0].with_extension("html");
    let html = std::fs::read_to_string(&html_path).expect("an .html beside the .json");
    for f in ["crunch_numbers", "nap", "read_big_file"] {
        assert!(html.contains(&format!(">{f}<")), "{f} in the page");
    }
    assert!(html.contains("id=\"pw-timeline\"") && html.contains("id=\"pw-flamegraph\""));
    assert!(
        stdout.contains(&format!("HTML report: {}", html_path.display())),
        "the failure names the page:\n{stdout}"
    );
    let _ = std::fs::remove_dir_all(&reports);
}

/// `value` of `key` in a workflow command's properties, unescaped as the runner does.
fn property(properties: &str, key: &str) -> Option<String> {
    properties.split(',').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k == key).then(|| {
            v.replace("%0D", "\r")
                .replace("%0A", "\n")
                .replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%25", "%")
        })
    })
}

#[test]
fn on_github_actions_a_failing_test_annotates_the_culprits_line_and_writes_a_summary() {
    let summary =
        std::env::temp_dir().join(format!("pollwatch-gh-summary-{}.md", std::process::id()));
    let _ = std::fs::remove_file(&summary);
    let workspace = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(fixture_binary())
        .env("POLLWATCH_FIXTURE", "1")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", workspace)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env_remove("POLLWATCH")
        .args(["cpu_bound_handler", "sleeping_handler", "--test-threads=2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "both tests fail:\n{stdout}");
    let fixture =
        std::fs::read_to_string(format!("{workspace}/tests/fixtures/ci_fixture.rs")).unwrap();
    let fixture: Vec<&str> = fixture.lines().collect();
    for culprit in ["crunch_numbers", "nap"] {
        // The runner reads a command from the start of a line: `::error <properties>::<message>`.
        let (properties, message) = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("::error ")?.split_once("::"))
            .find(|(p, _)| {
                property(p, "title").is_some_and(|t| t.contains(&format!(" {culprit} ")))
            })
            .unwrap_or_else(|| panic!("no annotation for {culprit}:\n{stdout}"));
        assert_eq!(
            property(properties, "file").as_deref(),
            Some("tests/fixtures/ci_fixture.rs"),
            "relative to the repository: {properties}"
        );
        let line: usize = property(properties, "line").unwrap().parse().unwrap();
        // The line is inside the culprit: the nearest `fn` at or above it is the culprit's.
        let enclosing = fixture[..line]
            .iter()
            .rev()
            .find(|l| l.contains("fn "))
            .unwrap();
        assert!(
            enclosing.contains(&format!("fn {culprit}(")),
            "line {line} ({:?}) is not in {culprit}",
            fixture[line - 1]
        );
        let title = property(properties, "title").unwrap();
        assert!(
            title.starts_with(&format!("pollwatch: {culprit} blocked the executor for ")),
            "{title}"
        );
        assert!(
            message.contains("_handler: "),
            "the test is named: {message}"
        );
    }
    let summary_md = std::fs::read_to_string(&summary).expect("the step summary was written");
    for (test, culprit) in [
        ("cpu_bound_handler", "crunch_numbers"),
        ("sleeping_handler", "nap"),
    ] {
        assert!(
            summary_md.contains(&format!("### pollwatch: `{test}` failed")),
            "{summary_md}"
        );
        let row = summary_md
            .lines()
            .find(|l| l.starts_with(&format!("| `{culprit}` | tests/fixtures/ci_fixture.rs:")))
            .unwrap_or_else(|| panic!("no row for {culprit}:\n{summary_md}"));
        assert_eq!(row.matches(" | ").count(), 5, "six cells: {row}");
    }
    let _ = std::fs::remove_file(&summary);
}
