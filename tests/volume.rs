//! Log volume: a chronic blocker is reported once in full, then in one digest line per interval,
//! under a cap of lines per second; the callback, the counters and the report still see every
//! occurrence. (Its own binary: it sets the process-wide config.)
#![cfg(feature = "tokio")]

mod support;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use pollwatch::{Builder, Config, DebugMode, async_timed, targets};
use support::{Captured, capture, unrouted};

static CALLBACKS: AtomicU64 = AtomicU64::new(0);

/// Tests here set the config: they take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup(digest: Duration, lines_per_second: u32, threshold: Duration) {
    // The harness installs its subscriber (and its own config) first.
    let _ = unrouted();
    Config::default()
        .debug_mode(DebugMode::On)
        .slow_poll(threshold)
        .digest_interval(digest)
        .warnings_per_second(lines_per_second)
        .on_slow_poll(|_| {
            CALLBACKS.fetch_add(1, Relaxed);
        })
        .apply();
}

/// Every line pollwatch printed about `name`, from the routed and the watchdog's sinks.
fn lines_about(events: &support::Events, name: &str) -> Vec<Captured> {
    let ours = |e: &Captured| {
        e.field("fn") == Some(name)
            && [targets::SLOW_POLL, targets::STALL, targets::DIGEST].contains(&e.target.as_str())
    };
    let mut all: Vec<Captured> = events.all().into_iter().filter(ours).collect();
    all.extend(unrouted().all().into_iter().filter(ours));
    all.sort_by_key(|e| e.at);
    all
}

#[async_timed]
async fn chronic_blocker() {
    std::thread::sleep(Duration::from_millis(120));
}

#[test]
fn a_chronic_blocker_is_reported_once_then_digested() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    setup(Duration::from_secs(1), 5, Duration::from_millis(100));
    CALLBACKS.store(0, Relaxed);
    let rt = Builder::new_current_thread().build().unwrap();
    let start = Instant::now();
    let ((), events) = capture(|| {
        rt.block_on(async {
            // 24 blocking calls over about three seconds.
            for _ in 0..24 {
                chronic_blocker().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        // The last interval's digest comes from the watchdog's tick.
        std::thread::sleep(Duration::from_millis(1300));
    });
    let ran_for = start.elapsed();
    let lines = lines_about(&events, "chronic_blocker");
    let of =
        |target: &str| -> Vec<&Captured> { lines.iter().filter(|e| e.target == target).collect() };
    let slow = of(targets::SLOW_POLL);
    let stalls: Vec<_> = of(targets::STALL)
        .into_iter()
        .filter(|e| e.field("report").is_some())
        .collect();
    let stacks: Vec<_> = of(targets::STALL)
        .into_iter()
        .filter(|e| e.field("stack").is_some())
        .collect();
    let digests = of(targets::DIGEST);
    assert_eq!(slow.len(), 1, "the first occurrence in full: {lines:#?}");
    assert!(stalls.len() <= 1, "{stalls:#?}");
    assert!(stacks.len() <= 1, "{stacks:#?}");
    assert!(
        (2..=4).contains(&digests.len()),
        "one digest a second over about three seconds: {digests:#?}"
    );
    let digested: u64 = digests.iter().map(|d| d.count("count")).sum();
    assert_eq!(digested + 1, 24, "every other slow poll is in a digest");
    let max = digests.iter().map(|d| d.duration("max")).max().unwrap();
    assert!(max >= Duration::from_millis(119), "{max:?}");
    assert!(digests[0].message().contains("more times in the last"));
    // Everything pollwatch printed stayed under the cap.
    let warning = |e: &Captured| e.level <= tracing::Level::WARN;
    let printed = events.all().into_iter().filter(warning).count()
        + unrouted().all().into_iter().filter(warning).count();
    let seconds = ran_for.as_secs() + 1;
    assert!(
        printed as u64 <= 5 * seconds,
        "{printed} lines in {ran_for:?}"
    );
    // What is not printed is still counted, stored and handed to the callback.
    assert_eq!(CALLBACKS.load(Relaxed), 24);
    let report = pollwatch::report();
    let stored = report
        .slow_polls
        .iter()
        .filter(|p| p.fn_name.as_deref() == Some("chronic_blocker"))
        .count();
    assert_eq!(stored, 24);
    let summary = report
        .call_sites
        .iter()
        .find(|c| c.fn_name == "chronic_blocker")
        .unwrap();
    assert_eq!(summary.slow_polls, 24);
}

#[async_timed]
async fn flooding() {
    std::thread::sleep(Duration::from_millis(25));
}

#[test]
fn the_cap_holds_back_lines_and_the_next_one_says_how_many() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // Every occurrence in full: only the cap limits.
    setup(Duration::ZERO, 5, Duration::from_millis(20));
    CALLBACKS.store(0, Relaxed);
    let start = Instant::now();
    let ((), events) = capture(|| {
        futures::executor::block_on(async {
            for _ in 0..12 {
                flooding().await;
            }
        });
        std::thread::sleep(Duration::from_millis(1100));
        futures::executor::block_on(flooding());
    });
    // The cap counts every line pollwatch prints, whatever it is about: the slow polls, the
    // watchdog's stall reports and late stack follow-ups (on a loaded machine these come a
    // second late and may be the line that says what was held back). Another test's leftovers
    // are not this test's.
    let capped = [
        targets::SLOW_POLL,
        targets::STALL,
        targets::DIGEST,
        targets::LAG,
    ];
    let mut lines: Vec<Captured> = events
        .all()
        .into_iter()
        .chain(unrouted().all())
        .filter(|e| capped.contains(&e.target.as_str()) && e.at >= start)
        .filter(|e| e.field("fn") != Some("chronic_blocker"))
        .collect();
    lines.sort_by_key(|e| e.at);
    let first = lines.first().expect("a line").at;
    let in_first_second = lines
        .iter()
        .take_while(|e| e.at < first + Duration::from_millis(900))
        .count();
    assert!(in_first_second <= 5, "5 lines a second: {lines:#?}");
    // Twelve slow polls in the first ~300 ms: the cap held some back, and the first line let
    // through after them, in a later second, says so.
    let says = lines
        .iter()
        .position(|e| e.field("suppressed").is_some())
        .unwrap_or_else(|| panic!("no line says what was held back: {lines:#?}"));
    assert!(says >= 5, "held back only once 5 were printed: {lines:#?}");
    assert!(lines[says].at >= first + Duration::from_millis(900));
    assert!(
        lines[says]
            .message()
            .contains("pollwatch lines held back before this one"),
        "{:?}",
        lines[says]
    );
    // Nothing is lost: every slow poll (13) was printed or counted as held back.
    let held_back: u64 = lines
        .iter()
        .filter_map(|e| e.field("suppressed"))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(
        held_back + lines.len() as u64 >= 13,
        "{held_back} held back: {lines:#?}"
    );
    assert_eq!(CALLBACKS.load(Relaxed), 13);
}
