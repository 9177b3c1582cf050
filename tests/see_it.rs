//! The pictures: the HTML report of a known run has its timeline, flame graph and tables (also
//! as headless Chromium parses it; the page has no script), and the poll trace is well-formed
//! Chrome trace-event JSON. (Its own binary: it sets the process-wide config.)
#![cfg(feature = "tokio")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use pollwatch::{Builder, Config, DebugMode, async_timed};
use serde_json::Value;

#[async_timed]
async fn load_profile() {
    // A blocking call inside an async fn: `requests.get` in asyncio's tutorials.
    std::thread::sleep(Duration::from_millis(150));
}

#[async_timed]
async fn handler() {
    tokio::task::yield_now().await;
    load_profile().await;
}

#[async_timed]
async fn crunch() {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(120) {
        std::hint::black_box(0);
    }
}

#[async_timed]
async fn healthy(i: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    i * 2
}

/// One known run, once per binary: a blocking call two fns deep, a busy loop, healthy fns
/// around them; debug mode on, polls recorded for the trace.
fn known_run() -> &'static Dir {
    static RUN: OnceLock<Dir> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = Dir::new();
        Config::default()
            .debug_mode(DebugMode::On)
            .slow_poll(Duration::from_millis(50))
            .trace_to(dir.path("trace.json").to_string_lossy())
            .apply();
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..20 {
                tasks.push(tokio::spawn(healthy(i)));
            }
            tokio::spawn(handler()).await.unwrap();
            tokio::spawn(crunch()).await.unwrap();
            for t in tasks {
                t.await.unwrap();
            }
        });
        drop(rt);
        // A slow poll that ended while its stack was read is reported once the stack is in.
        assert!(pollwatch::settle(std::time::Duration::from_secs(10)));
        pollwatch::write_html(dir.path("report.html")).unwrap();
        pollwatch::write_trace(dir.path("trace.json")).unwrap();
        dir
    })
}

struct Dir(PathBuf);

impl Dir {
    /// Under `target/tmp`: the page, trace and screenshot of the last run stay there to look at.
    fn new() -> Dir {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("see-it");
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Checks the page's content; `html` is the file as written or the DOM as Chromium parsed it.
fn check_page(html: &str) {
    // The timeline: an SVG with a bar per slow poll, coloured by kind, labelled by culprit.
    let timeline = section(html, "id=\"pw-timeline\"", "</svg>");
    assert!(
        count(timeline, "class=\"pw-slow-poll\"") >= 2,
        "a bar per slow poll: {timeline}"
    );
    assert!(timeline.contains("data-kind=\"blocking\""), "{timeline}");
    assert!(timeline.contains("data-kind=\"cpu-bound\""), "{timeline}");
    assert!(timeline.contains(">load_profile<"), "labelled by culprit");
    assert!(
        timeline.contains("handler &gt; load_profile"),
        "the chain in the tooltip"
    );
    assert!(count(timeline, "class=\"pw-thread\"") >= 1);
    // The flame graph of blocked time by chain: a frame per fn, outermost `handler`.
    let flame = section(html, "id=\"pw-flamegraph\"", "</div>");
    assert!(flame.contains("<svg"), "{flame}");
    for frame in ["handler", "load_profile", "crunch"] {
        assert!(
            flame.contains(&format!("<title>{frame} (")),
            "a frame titled {frame}: {flame}"
        );
    }
    // The tables: blocked time by chain, per fn, slow polls.
    let chains = section(html, "id=\"pw-chains\"", "</table>");
    assert!(chains.contains("handler &gt; load_profile"), "{chains}");
    let fns = section(html, "id=\"pw-fns\"", "</table>");
    for f in ["load_profile", "handler", "crunch", "healthy"] {
        assert!(fns.contains(&format!(">{f}<")), "{f} in {fns}");
    }
    let healthy = fns
        .split("<tr>")
        .find(|row| row.contains(">healthy<"))
        .unwrap();
    assert!(healthy.contains("<td>20</td>"), "20 calls: {healthy}");
    let slow = section(html, "id=\"pw-slow-polls\"", "</table>");
    let row = slow
        .split("<tr>")
        .find(|row| row.contains(">load_profile<"))
        .unwrap_or_else(|| panic!("{slow}"));
    assert!(
        row.contains("blocking") && row.contains("handler &gt; load_profile"),
        "{row}"
    );
    assert!(html.contains("id=\"pw-stalls\""));
}

/// From `start` to the first `end` after it.
fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page"));
    let rest = &html[i..];
    &rest[..rest.find(end).map_or(rest.len(), |j| j + end.len())]
}

#[test]
fn the_html_report_shows_the_timeline_the_flame_graph_and_the_tables() {
    let dir = known_run();
    let html = std::fs::read_to_string(dir.path("report.html")).unwrap();
    check_page(&html);
    // Self-contained: nothing fetched, no script.
    for outside in [
        "src=\"http",
        "href=\"http",
        "<script",
        "@import",
        "url(http",
    ] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
}

/// Where Debian's Chromium is, if installed (`POLLWATCH_CHROMIUM` names another).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("POLLWATCH_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    // The flags a closed network and a root user need (no sandbox, no background fetches).
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

#[test]
fn chromium_parses_and_draws_the_page() {
    let Some(chromium) = chromium() else {
        let why = "chromium not found at /usr/bin/chromium (install Debian's `chromium`, or set \
                   POLLWATCH_CHROMIUM)";
        // `.ci/run` installs it and sets POLLWATCH_REQUIRE_CHROMIUM: there, no skipping.
        assert!(
            std::env::var_os("POLLWATCH_REQUIRE_CHROMIUM").is_none(),
            "{why}"
        );
        // Past the test harness's capture: a skip is never silent.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED chromium_parses_and_draws_the_page: {why}"
        );
        return;
    };
    let dir = known_run();
    let page = dir.path("report.html");
    let out = headless(&chromium, &dir.path("chromium-profile"))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    check_page(&dom);
    // The page has no script: what a reader with JavaScript off sees is this DOM. (Headless
    // Chromium itself cannot run with scripts disabled: `--dump-dom` and `--screenshot` then
    // print nothing.) And it draws: a screenshot of it is a real picture.
    assert!(!dom.contains("<script"));
    let png = dir.path("report.png");
    let out = headless(&chromium, &dir.path("chromium-profile"))
        .args(["--window-size=1400,1200", "--hide-scrollbars"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "{out:?}");
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{}",
        bytes.len()
    );
}

#[test]
fn the_trace_is_well_formed_chrome_trace_event_json() {
    let dir = known_run();
    let text = std::fs::read_to_string(dir.path("trace.json")).unwrap();
    let json: Value = serde_json::from_str(&text).expect("valid JSON");
    let events = json["traceEvents"].as_array().expect("traceEvents");
    let mut named = std::collections::BTreeSet::new();
    let mut slices: std::collections::BTreeMap<u64, Vec<(f64, f64, String)>> = Default::default();
    let mut slow_slices = Vec::new();
    let mut instants = Vec::new();
    for e in events {
        let ph = e["ph"].as_str().expect("ph");
        assert!(e["pid"].is_u64(), "{e}");
        let tid = e["tid"].as_u64().expect("tid");
        let name = e["name"].as_str().expect("name").to_owned();
        match ph {
            "M" => {
                assert!(["process_name", "thread_name"].contains(&name.as_str()));
                assert!(e["args"]["name"].is_string(), "{e}");
                if name == "thread_name" {
                    assert!(named.insert(tid), "one name per track: {e}");
                }
            }
            "X" => {
                let ts = e["ts"].as_f64().expect("ts");
                let dur = e["dur"].as_f64().expect("dur");
                assert!(ts >= 0.0 && dur >= 0.0, "{e}");
                assert!(e["cat"].as_str().unwrap().contains("poll"), "{e}");
                if e["cat"].as_str().unwrap().contains("slow_poll") {
                    slow_slices.push(name.clone());
                    // The outermost slow slice carries the report's verdict.
                    if name == "crunch" {
                        assert_eq!(e["args"]["kind"], "cpu-bound", "{e}");
                    }
                }
                slices.entry(tid).or_default().push((ts, ts + dur, name));
            }
            "i" => {
                assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0), "{e}");
                assert_eq!(e["s"], "t", "{e}");
                instants.push((e["cat"].as_str().unwrap().to_owned(), name));
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    // Every track used is named.
    for tid in slices.keys() {
        assert!(named.contains(tid), "track {tid} has no thread_name");
    }
    // Per thread, slices nest as polls do (a child inside its parent) and never partly
    // overlap. (Timestamps are microseconds as f64; allow a nanosecond of rounding.)
    let eps = 1e-3;
    let mut polls = 0;
    for (tid, list) in &mut slices {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut open: Vec<&(f64, f64, String)> = Vec::new();
        for s in list.iter() {
            while open.last().is_some_and(|p| p.1 <= s.0 + eps) {
                open.pop();
            }
            if let Some(parent) = open.last() {
                assert!(
                    s.1 <= parent.1 + eps,
                    "on track {tid}, {s:?} overlaps {parent:?} without nesting in it"
                );
            }
            open.push(s);
            polls += 1;
        }
    }
    // The known run: every healthy call's polls, the slow ones marked.
    assert!(polls >= 40, "{polls} polls");
    assert!(
        slices
            .values()
            .flatten()
            .filter(|s| s.2 == "healthy")
            .count()
            >= 40,
        "each of 20 healthy calls polled at least twice"
    );
    assert!(
        slow_slices.iter().any(|n| n == "load_profile"),
        "{slow_slices:?}"
    );
    assert!(slow_slices.iter().any(|n| n == "crunch"), "{slow_slices:?}");
    assert!(
        instants
            .iter()
            .any(|(cat, name)| cat == "slow_poll" && name.contains("load_profile")),
        "{instants:?}"
    );
    assert_eq!(json["otherData"]["polls_per_thread"], 32_768);
}
