//! The settings from the environment and from code, and their round trip through the globals.

use std::time::Duration;

use super::*;

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn accepted_modes() {
    for (value, mode) in [
        ("0", DebugMode::Off),
        ("off", DebugMode::Off),
        ("FALSE", DebugMode::Off),
        ("1", DebugMode::On),
        (" on ", DebugMode::On),
        ("true", DebugMode::On),
        ("strict", DebugMode::Strict),
        ("Strict", DebugMode::Strict),
        ("watch", DebugMode::Watch),
        ("Production", DebugMode::Watch),
    ] {
        let config = Config::from_env_with(env(&[("POLLWATCH", value)])).unwrap();
        assert_eq!(config.get_debug_mode(), mode, "POLLWATCH={value}");
    }
}

#[test]
fn invalid_values_keep_defaults_and_name_the_variable() {
    let (config, errors) = Config::from_env_lossy(env(&[
        ("POLLWATCH", "yes please"),
        ("POLLWATCH_SLOW", "fast"),
    ]));
    assert_eq!(config, Config::default());
    assert_eq!(errors.len(), 2);
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines[0],
        "pollwatch: ignoring POLLWATCH=\"yes please\": expected `0`, `1`, `strict` or `watch` \
         (also `off`/`on`, `false`/`true`, `production`); using the default"
    );
    assert!(
        lines[1].starts_with("pollwatch: ignoring POLLWATCH_SLOW=\"fast\": expected a duration")
    );
    assert!(lines.iter().all(|l| !l.contains('\n')));
}

#[test]
fn one_bad_variable_does_not_discard_the_good_one() {
    let (config, errors) =
        Config::from_env_lossy(env(&[("POLLWATCH", "strict"), ("POLLWATCH_SLOW", "0ms")]));
    assert!(config.get_debug_mode().is_strict());
    assert_eq!(config.get_slow_poll(), Config::DEFAULT_SLOW_POLL);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].variable(), "POLLWATCH_SLOW");
}

#[test]
fn slow_accepts_humantime() {
    let config = Config::from_env_with(env(&[("POLLWATCH_SLOW", "1s 500ms")])).unwrap();
    assert_eq!(config.get_slow_poll(), Duration::from_millis(1500));
}

#[test]
fn current_round_trips_every_setting() {
    let config = Config::default()
        .debug_mode(DebugMode::Strict)
        .report_to("out-{pid}.json")
        .print_summary(true);
    config.clone().apply();
    let now = Config::current();
    assert_eq!(now.get_report_path(), Some("out-{pid}.json"));
    assert!(now.get_print_summary());
    Config::default().apply();
}

#[test]
fn zero_threshold_in_code_is_ignored() {
    assert_eq!(
        Config::default().slow_poll(Duration::ZERO).get_slow_poll(),
        Config::DEFAULT_SLOW_POLL
    );
}
