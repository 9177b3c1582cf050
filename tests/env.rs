//! Environment variables, read in a child process (the real process environment, read once):
//! bad values print one line naming the variable and the accepted form, keep the defaults, and
//! never panic.

use std::process::Command;
use std::time::Duration;

use pollwatch::{Config, DebugMode};

const CHILD: &str = "POLLWATCH_TEST_CHILD";

/// Runs one test of this binary in a child process with `vars` set.
fn run_child(test: &str, vars: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("POLLWATCH")
        .env_remove("POLLWATCH_SLOW");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn child_prints_config() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let c = Config::current();
    println!("MODE={} SLOW={:?}", c.get_debug_mode(), c.get_slow_poll());
}

#[test]
fn valid_values_apply() {
    let (ok, out, err) = run_child(
        "child_prints_config",
        &[("POLLWATCH", "strict"), ("POLLWATCH_SLOW", "250ms")],
    );
    assert!(ok, "{err}");
    assert!(out.contains("MODE=strict SLOW=250ms"), "{out}");
    assert!(!err.contains("pollwatch:"), "{err}");
}

#[test]
fn off_disables_even_in_debug_builds() {
    let (ok, out, _) = run_child("child_prints_config", &[("POLLWATCH", "0")]);
    assert!(ok);
    assert!(out.contains("MODE=off"), "{out}");
}

#[test]
fn invalid_values_print_one_line_each_and_keep_defaults() {
    let (ok, out, err) = run_child(
        "child_prints_config",
        &[("POLLWATCH", "yes"), ("POLLWATCH_SLOW", "fast")],
    );
    assert!(ok, "never panics: {err}");
    let default = DebugMode::build_default();
    assert!(out.contains(&format!("MODE={default} SLOW=100ms")), "{out}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("pollwatch:"))
        .collect();
    assert_eq!(
        lines,
        [
            "pollwatch: ignoring POLLWATCH=\"yes\": expected `0`, `1`, `strict` or `watch` (also `off`/`on`, `false`/`true`, `production`); using the default",
            "pollwatch: ignoring POLLWATCH_SLOW=\"fast\": expected a duration such as `100ms`, `250ms`, `1s`, `1s 500ms`; using the default",
        ]
    );
}

#[test]
fn guide_env_table_matches_the_parser() {
    // The guide's "Debug mode" chapter (docs.rs: `pollwatch::guide::debug_mode`) has the table.
    let page = include_str!("../src/guide/debug_mode.md");
    for var in pollwatch::ENV_VARS {
        let row = page
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", var.name)))
            .unwrap_or_else(|| {
                panic!(
                    "src/guide/debug_mode.md has no env table row for {}",
                    var.name
                )
            });
        assert!(
            row.contains(var.accepted),
            "the guide's row for {} must list {}",
            var.name,
            var.accepted
        );
        assert!(
            row.contains(var.default),
            "the guide's row for {} must give the default {}",
            var.name,
            var.default
        );
    }
    assert_eq!(Config::DEFAULT_SLOW_POLL, Duration::from_millis(100));
}

mod properties {
    use proptest::prelude::*;

    /// Strings that look like what people type: durations, numbers, words, blanks, unicode.
    fn values() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9]{0,25}(ns|us|µs|ms|s|m|h|d|w|y|x|)",
            "[ \\t]*[-+]?[0-9]{1,20}[ .,]?[0-9]{0,5} ?[a-zA-Zµ]{0,6}[ \\t]*",
            "(on|off|true|false|strict|yes|no|1|0|ON|Strict)[ \\n]?",
        ]
    }

    proptest! {
        #[test]
        fn any_value_of_any_variable_is_parsed_or_named_never_a_panic(value in values()) {
            for var in pollwatch::ENV_VARS {
                let result = pollwatch::Config::from_env_with(|name| {
                    (name == var.name).then(|| value.clone())
                });
                if let Err(err) = result {
                    let line = err.to_string();
                    prop_assert_eq!(err.variable(), var.name);
                    prop_assert!(line.contains(&format!("ignoring {}=", var.name)), "{}", line);
                    prop_assert!(line.contains(var.accepted), "{}", line);
                    prop_assert!(!line.contains('\n'), "one line: {:?}", line);
                }
            }
        }

        #[test]
        fn an_accepted_threshold_is_the_duration_written(ms in 1u64..10_000_000) {
            let config = pollwatch::Config::from_env_with(|name| {
                (name == "POLLWATCH_SLOW").then(|| format!("{ms}ms"))
            })
            .unwrap();
            prop_assert_eq!(config.get_slow_poll(), std::time::Duration::from_millis(ms));
        }
    }
}
