//! `pollwatch dump` and `pollwatch watch` on real Tokio processes built without pollwatch
//! (`tests/fixtures/tokio_app.rs`), each blocking three async fns deep in a known way.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const CLI: &str = env!("CARGO_BIN_EXE_pollwatch");
const SOURCE: &str = include_str!("fixtures/tokio_app.rs");

/// The line of the fixture carrying `marker`.
fn line_of(marker: &str) -> usize {
    SOURCE
        .lines()
        .position(|l| l.contains(marker))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no {marker} in the fixture"))
}

/// The fixture, built by `cargo test` next to this test's binary.
fn fixture() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let fixture = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("tokio_app-") && p.extension().is_none()
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("the tokio_app fixture is built with the tests");
    let modified = |p: &std::path::Path| p.metadata().and_then(|m| m.modified()).unwrap();
    let source = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tokio_app.rs"
    ));
    assert!(
        modified(&fixture) >= modified(source),
        "the tokio_app fixture is older than its source: build it with the tests \
         (cargo test -p pollwatch-cli --test attach --test tokio_app)"
    );
    fixture
}

/// The fixture running `mode`, once it said it is ready; killed when dropped.
struct App(Child);

impl App {
    fn start(mode: &str) -> App {
        App::start_binary(&fixture(), mode)
    }

    /// `binary` (the fixture, or a copy of it) running `mode`.
    fn start_binary(binary: &std::path::Path, mode: &str) -> App {
        let mut child = Command::new(binary)
            .arg(mode)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        App(child)
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pollwatch(args: &[&str]) -> Output {
    Command::new(CLI).args(args).output().unwrap()
}

/// `dump --json` until a thread is seen polling (the task may not have reached its blocking
/// call at the first look).
fn dump_until_polling(app: &App) -> (Value, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = pollwatch(&["dump", &app.pid(), "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump: Value = serde_json::from_slice(&out.stdout).unwrap();
        let polling = dump["threads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["activity"] == "polling")
            .cloned();
        if let Some(t) = polling {
            return (dump, t);
        }
        assert!(Instant::now() < deadline, "never seen polling: {dump:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `dump --json` of `app`, which must succeed.
fn dump_json(app: &App) -> Value {
    let out = pollwatch(&["dump", &app.pid(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn untouched(app: &App) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", app.pid())).unwrap();
    assert!(status.contains("TracerPid:\t0"), "{status}");
    assert!(!status.contains("State:\tt"), "{status}");
    assert!(!status.contains("State:\tT"), "{status}");
}

#[test]
fn dump_names_a_sleeping_fn_its_line_and_its_chain() {
    let app = App::start("sleep");
    let (dump, t) = dump_until_polling(&app);
    assert_eq!(t["role"], "worker", "{t:#}");
    assert_eq!(t["kind"], "blocking", "{t:#}");
    assert_eq!(t["syscall"], "clock_nanosleep", "{t:#}");
    assert_eq!(t["culprit"], "query", "{t:#}");
    let location = t["location"].as_str().unwrap();
    assert!(
        location.ends_with(&format!("tokio_app.rs:{}", line_of("BLOCKS: sleep"))),
        "{t:#}"
    );
    assert_eq!(
        t["chain"],
        serde_json::json!(["handle_request", "load_user", "query"]),
        "{t:#}"
    );
    assert_eq!(t["method"], "unwound", "{t:#}");
    assert_eq!(dump["links_pollwatch"], false);
    assert_eq!(dump["detail"], "lines");
    // The other worker is idle, and the text says the same in one screen.
    let threads = dump["threads"].as_array().unwrap();
    assert!(
        threads
            .iter()
            .any(|t| t["role"] == "worker" && t["activity"] == "idle"),
        "{dump:#}"
    );
    let text = pollwatch(&["dump", &app.pid()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("polling a task: blocking: clock_nanosleep"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "tokio_app.rs:{} [handle_request > load_user > query]",
            line_of("BLOCKS: sleep")
        )),
        "{text}"
    );
    assert!(text.contains("idle (parked"), "{text}");
    untouched(&app);
}

#[test]
fn dump_names_a_fn_waiting_on_a_std_mutex() {
    let app = App::start("mutex");
    let (_, t) = dump_until_polling(&app);
    assert_eq!(t["syscall"], "futex", "{t:#}");
    assert_eq!(t["culprit"], "query", "{t:#}");
    assert!(
        t["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("tokio_app.rs:{}", line_of("BLOCKS: mutex"))),
        "{t:#}"
    );
    assert!(
        t["stack"].to_string().contains("Mutex"),
        "the native stack shows the lock: {t:#}"
    );
    untouched(&app);
}

#[test]
fn dump_samples_a_busy_loop_as_cpu_bound() {
    let app = App::start("spin");
    let deadline = Instant::now() + Duration::from_secs(20);
    let t = loop {
        let out = pollwatch(&["dump", &app.pid(), "--json"]);
        let dump: Value = serde_json::from_slice(&out.stdout).unwrap();
        let busy = dump["threads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["activity"] == "polling" || t["activity"] == "unknown")
            .cloned();
        if let Some(t) = busy
            .filter(|t| t["activity"] == "polling" || t["why_unknown"].to_string().contains("perf"))
        {
            break t;
        }
        assert!(Instant::now() < deadline, "never seen busy: {dump:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    if t["activity"] == "unknown" {
        // perf events are refused here: said, with how to allow them.
        let why = t["why_unknown"].as_str().unwrap();
        assert!(why.contains("perf_event_paranoid"), "{t:#}");
        return;
    }
    assert_eq!(t["kind"], "cpu-bound", "{t:#}");
    assert_eq!(t["culprit"], "spin", "{t:#}");
    assert_eq!(
        t["chain"],
        serde_json::json!(["handle_request", "load_user", "query", "spin"]),
        "{t:#}"
    );
    untouched(&app);
}

#[test]
fn a_stripped_binary_gives_addresses_and_says_how_to_get_names() {
    let dir = std::env::temp_dir().join(format!("pollwatch-stripped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stripped = dir.join("tokio_app");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(fixture())
        .status()
        .expect("binutils' strip (the linker's package) is installed");
    assert!(status.success());
    let app = App::start_binary(&stripped, "sleep");
    std::thread::sleep(Duration::from_millis(100));
    let dump = dump_json(&app);
    assert_eq!(dump["detail"], "addresses", "{dump:#}");
    // Known by Tokio's default thread name, and said to be unreadable, not idle.
    let workers: Vec<&Value> = dump["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "worker")
        .collect();
    assert_eq!(workers.len(), 2, "{dump:#}");
    assert!(
        workers.iter().all(
            |t| t["activity"] == "unknown" && t["why_unknown"].to_string().contains("stripped")
        ),
        "{dump:#}"
    );
    let text = pollwatch(&["dump", &app.pid()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("the binary is stripped; build it with `strip = false`"),
        "{text}"
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_idle_runtime_is_shown_idle() {
    let app = App::start("idle");
    std::thread::sleep(Duration::from_millis(200));
    let dump = dump_json(&app);
    let workers: Vec<&Value> = dump["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "worker")
        .collect();
    assert_eq!(workers.len(), 2, "{dump:#}");
    assert!(workers.iter().all(|t| t["activity"] == "idle"), "{dump:#}");
    assert!(
        dump["threads"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["activity"] != "polling"),
        "{dump:#}"
    );
}

#[test]
fn watch_reports_a_poll_that_stays_past_the_threshold() {
    let app = App::start("repeat");
    let out = pollwatch(&[
        "watch",
        &app.pid(),
        "--slow",
        "150ms",
        "--for",
        "4s",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stalls: Vec<&Value> = lines.iter().filter(|l| l["event"] == "stall").collect();
    assert!(!stalls.is_empty(), "{lines:#?}");
    let line = format!("tokio_app.rs:{}", line_of("BLOCKS: repeat"));
    for s in &stalls {
        assert_eq!(s["culprit"], "query", "{s:#}");
        assert!(s["location"].as_str().unwrap().ends_with(&line), "{s:#}");
        assert_eq!(s["kind"], "blocking: clock_nanosleep", "{s:#}");
        assert_eq!(
            s["chain"],
            serde_json::json!(["handle_request", "load_user", "query"])
        );
        // Each poll sleeps 300 ms: never reported as longer.
        assert!(s["blocked_for_ms"].as_u64().unwrap() < 300, "{s:#}");
    }
    // Polls of 300 ms, 400 ms apart (far more than the 50 ms between looks, even with a round
    // slowed by a first symbolization in this debug build): distinct polls, never one long one.
    let ended: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "poll_ended")
        .collect();
    assert!(!ended.is_empty(), "{lines:#?}");
    for e in &ended {
        assert!(e["blocked_for_ms"].as_u64().unwrap() < 330, "{e:#}");
    }
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["ended"], "the time given");
    assert_eq!(summary["culprits"][0]["culprit"], "query");
    untouched(&app);
}

#[test]
fn watch_ends_with_its_summary_when_the_process_exits() {
    let app = App::start("exit");
    let out = pollwatch(&["watch", &app.pid(), "--for", "20s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("until the process exited"), "{text}");
}

#[test]
fn bad_targets_get_one_line_and_a_failure() {
    let one_line = |out: &Output, says: &str| {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("pollwatch: "), "{err}");
        assert!(err.contains(says), "{err}");
    };
    one_line(&pollwatch(&["dump", "999999999"]), "no process 999999999");
    one_line(&pollwatch(&["watch", "999999999"]), "no process 999999999");
    one_line(&pollwatch(&["dump", "0"]), "not a process id");
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let pid = sleeper.id().to_string();
    one_line(
        &pollwatch(&["dump", &pid]),
        "is not a Tokio program: no worker threads",
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let bad = pollwatch(&["watch", "1", "--slow", "soon"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("expected a duration such as 100ms"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_refused_read_says_what_was_refused_and_how_to_allow_it() {
    let app = App::start("idle");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let out = if root {
        // As nobody, without capabilities: another user's process may not be read.
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(CLI)
            .args(["dump", &app.pid()])
            .output()
            .expect("setpriv (util-linux) runs the tool as another user")
    } else {
        // A process of root's (init) may not be read by this user.
        pollwatch(&["dump", "1"])
    };
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("may not read process"), "{err}");
    assert!(err.contains("CAP_SYS_PTRACE"), "{err}");
    untouched(&app);
}
