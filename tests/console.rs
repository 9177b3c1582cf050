//! tokio-console, checked with a real console client: the `console-api` gRPC client connects
//! (`Instrument` service, `WatchUpdates`) and must find the tasks by name, with their spawn
//! locations and poll counts.
//!
//! 1. In process: `pollwatch::try_init()` on `TOKIO_CONSOLE_BIND=127.0.0.1:0`, tasks spawned
//!    with `pollwatch::spawn` (named) and without (unnamed).
//! 2. The `console` example as a subprocess, as a user runs it: its tasks, their busy time
//!    against their polls, and pollwatch's WARN lines still printed next to the console.
//!
//! Without `--cfg tokio_unstable` the example must say, in one line, why there is no console.
//!
//! `harness = false`: the in-process check sets an environment variable before any thread runs.

fn main() {
    #[cfg(all(feature = "console", unix))]
    checks::run();
    #[cfg(not(all(feature = "console", unix)))]
    println!("console: needs the `console` feature (and --cfg tokio_unstable for the client)");
}

#[cfg(all(feature = "console", unix))]
mod checks {
    use std::io::{BufRead as _, BufReader};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// The `console` example, built by the same `cargo test` (which builds the examples).
    pub(super) fn example_binary() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/console-<hash> → target/<profile>/examples/console
        let path = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples/console");
        let built = std::fs::metadata(&path).and_then(|m| m.modified());
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/console.rs");
        let edited = std::fs::metadata(source)
            .and_then(|m| m.modified())
            .unwrap();
        assert!(
            built.is_ok_and(|built| built >= edited),
            "{} is missing or older than examples/console.rs: `cargo test --features console` \
             builds it (a `--test console` filter does not; `cargo build --example console \
             --features console` with the same RUSTFLAGS does)",
            path.display()
        );
        path
    }

    /// A child process killed on drop, its stderr collected line by line.
    pub(super) struct Example {
        child: Child,
        pub(super) stderr: Arc<Mutex<Vec<String>>>,
        reader: Option<std::thread::JoinHandle<()>>,
    }

    impl Example {
        pub(super) fn start(envs: &[(&str, &str)], run_for: &str) -> Example {
            let mut child = Command::new(example_binary())
                .arg(run_for)
                .envs(envs.iter().copied())
                .env("NO_COLOR", "1")
                .env_remove("RUST_LOG")
                .env_remove("POLLWATCH")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the example starts");
            let stderr = Arc::new(Mutex::new(Vec::new()));
            let lines = stderr.clone();
            let pipe = child.stderr.take().unwrap();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
            Example {
                child,
                stderr,
                reader: Some(reader),
            }
        }

        /// The first stderr line for which `f` returns something, waiting up to `timeout`.
        #[cfg_attr(not(tokio_unstable), allow(dead_code))]
        pub(super) fn wait_line<T>(&self, timeout: Duration, f: impl Fn(&str) -> Option<T>) -> T {
            let deadline = Instant::now() + timeout;
            loop {
                if let Some(t) = self.stderr.lock().unwrap().iter().find_map(|l| f(l)) {
                    return t;
                }
                assert!(
                    Instant::now() < deadline,
                    "not printed within {timeout:?}; stderr:\n{}",
                    self.stderr.lock().unwrap().join("\n")
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        /// Waits for the process to exit and for its stderr to be read to the end.
        pub(super) fn wait(mut self) -> std::process::ExitStatus {
            let status = self.child.wait().unwrap();
            if let Some(reader) = self.reader.take() {
                reader.join().unwrap();
            }
            status
        }
    }

    impl Drop for Example {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[cfg(tokio_unstable)]
    pub(super) fn run() {
        client::in_process();
        println!("console: in-process tasks seen by a console client ... ok");
        let addr = client::example();
        println!("console: the `console` example seen by a console client ... ok");
        taken_port(addr);
        println!("console: a taken port is one line, and the warnings still print ... ok");
        bad_values_are_one_line_each();
        println!("console: bad TOKIO_CONSOLE_* values are one line each, never a panic ... ok");
    }

    /// Runs the example for 5 s (its blocking task first blocks at 2 s) with `envs`; checks
    /// that it exits cleanly without a panic and that pollwatch's slow-poll warning printed (the
    /// console, or its absence, changes nothing else). Returns its stderr.
    fn run_example(envs: &[(&str, &str)]) -> Vec<String> {
        let example = Example::start(envs, "5s");
        let lines = example.stderr.clone();
        let status = example.wait();
        let lines = lines.lock().unwrap().clone();
        assert!(status.success(), "{status}: {lines:#?}");
        assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("WARN pollwatch::slow_poll: refresh_rates blocked")),
            "{lines:#?}"
        );
        lines
    }

    /// Runs the example with `TOKIO_CONSOLE_BIND=bind`; checks that exactly one stderr line is
    /// about the console and starts with `about`. Returns that line.
    fn one_line_about_the_console(bind: &str, about: &str) -> String {
        let lines = run_example(&[("TOKIO_CONSOLE_BIND", bind)]);
        let said: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("tokio-console"))
            .collect();
        assert_eq!(said.len(), 1, "one line about the console: {lines:#?}");
        assert!(said[0].starts_with(about), "{}", said[0]);
        said[0].clone()
    }

    /// Values console-subscriber itself would panic on (some later, on its own thread): one line
    /// each naming the variable, and the console served with the defaults.
    #[cfg(tokio_unstable)]
    fn bad_values_are_one_line_each() {
        let huge = (usize::MAX >> 2).to_string();
        let lines = run_example(&[
            ("TOKIO_CONSOLE_BIND", "127.0.0.1:0"),
            ("TOKIO_CONSOLE_PUBLISH_INTERVAL", "0s"),
            ("TOKIO_CONSOLE_RETENTION", "a while"),
            ("TOKIO_CONSOLE_BUFFER_CAPACITY", huge.as_str()),
            ("TOKIO_CONSOLE_RECORD_PATH", "/nonexistent-dir/console.rec"),
        ]);
        for start in [
            "pollwatch: ignoring TOKIO_CONSOLE_PUBLISH_INTERVAL=\"0s\": expected a positive",
            "pollwatch: ignoring TOKIO_CONSOLE_RETENTION=\"a while\": ",
            "pollwatch: ignoring TOKIO_CONSOLE_BUFFER_CAPACITY=",
            "pollwatch: not recording: TOKIO_CONSOLE_RECORD_PATH=/nonexistent-dir/console.rec: ",
        ] {
            let n = lines.iter().filter(|l| l.starts_with(start)).count();
            assert_eq!(n, 1, "{start}: {lines:#?}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("tokio-console: serving on 127.0.0.1:"))
        );
        assert!(!lines.iter().any(|l| l.contains("stopped")), "{lines:#?}");
    }

    /// A second program on the same port: one line says why there is no console.
    #[cfg(tokio_unstable)]
    fn taken_port(addr: std::net::SocketAddr) {
        // Taken by us, or (if binding fails) by someone else: taken either way.
        let _listener = std::net::TcpListener::bind(addr).ok();
        let about = format!("pollwatch: tokio-console not served: cannot listen on {addr}: ");
        one_line_about_the_console(&addr.to_string(), &about);
    }

    #[cfg(not(tokio_unstable))]
    pub(super) fn run() {
        let line = one_line_about_the_console(
            "127.0.0.1:0",
            "pollwatch: tokio-console unavailable: this build lacks `--cfg tokio_unstable`",
        );
        assert!(
            line.contains("RUSTFLAGS=\"--cfg tokio_unstable\""),
            "{line}"
        );
        println!("console: without tokio_unstable, one line says why, and nothing panics ... ok");
    }

    #[cfg(tokio_unstable)]
    mod client {
        use std::collections::HashMap;
        use std::time::{Duration, Instant};

        use console_api::field;
        use console_api::instrument::InstrumentRequest;
        use console_api::instrument::instrument_client::InstrumentClient;
        use tracing::Instrument as _;

        use super::Example;

        /// What the console knows of one task.
        #[derive(Debug, Default, Clone)]
        pub(super) struct Task {
            pub(super) name: Option<String>,
            pub(super) file: String,
            pub(super) line: u32,
            pub(super) polls: u64,
            pub(super) busy: Duration,
        }

        /// Watches `addr` as tokio-console does until `done` is satisfied by the tasks seen, or
        /// panics after `timeout` showing them.
        pub(super) fn watch(
            addr: std::net::SocketAddr,
            timeout: Duration,
            done: impl Fn(&HashMap<u64, Task>) -> bool,
        ) -> HashMap<u64, Task> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let deadline = Instant::now() + timeout;
                let mut client = loop {
                    match InstrumentClient::connect(format!("http://{addr}")).await {
                        Ok(c) => break c,
                        Err(e) if Instant::now() > deadline => panic!("cannot connect: {e}"),
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                };
                let mut updates = client
                    .watch_updates(InstrumentRequest {})
                    .await
                    .expect("WatchUpdates")
                    .into_inner();
                let mut field_names: HashMap<u64, Vec<String>> = HashMap::new();
                let mut tasks: HashMap<u64, Task> = HashMap::new();
                while !done(&tasks) {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let update = match tokio::time::timeout(left, updates.message()).await {
                        Ok(Ok(Some(update))) => update,
                        other => panic!("no more updates ({other:?}); tasks seen: {tasks:#?}"),
                    };
                    for m in update.new_metadata.into_iter().flat_map(|m| m.metadata) {
                        if let (Some(id), Some(meta)) = (m.id, m.metadata) {
                            field_names.insert(id.id, meta.field_names);
                        }
                    }
                    let Some(update) = update.task_update else {
                        continue;
                    };
                    for t in update.new_tasks {
                        let id = t.id.expect("a task id").id;
                        let names = t.metadata.and_then(|m| field_names.get(&m.id));
                        let name = t.fields.iter().find_map(|f| {
                            let fname = match f.name.as_ref()? {
                                field::Name::StrName(s) => s.clone(),
                                field::Name::NameIdx(i) => names?.get(*i as usize)?.clone(),
                            };
                            (fname == "task.name").then(|| match f.value.as_ref() {
                                Some(field::Value::StrVal(s)) => s.clone(),
                                Some(field::Value::DebugVal(s)) => s.trim_matches('"').to_owned(),
                                other => format!("{other:?}"),
                            })
                        });
                        // Tokio records an unnamed task's name as "".
                        let name = name.filter(|n| !n.is_empty());
                        let loc = t.location.unwrap_or_default();
                        let task = tasks.entry(id).or_default();
                        task.name = name;
                        task.file = loc.file.unwrap_or_default();
                        task.line = loc.line.unwrap_or_default();
                    }
                    for (id, stats) in update.stats_update {
                        let poll = stats.poll_stats.unwrap_or_default();
                        let task = tasks.entry(id).or_default();
                        task.polls = poll.polls;
                        task.busy = poll
                            .busy_time
                            .and_then(|d| Duration::try_from(d).ok())
                            .unwrap_or_default();
                    }
                }
                tasks
            })
        }

        fn named<'a>(tasks: &'a HashMap<u64, Task>, name: &str) -> Vec<&'a Task> {
            tasks
                .values()
                .filter(|t| t.name.as_deref() == Some(name))
                .collect()
        }

        #[pollwatch::async_timed]
        async fn ticker(period_ms: u64) {
            loop {
                tokio::time::sleep(Duration::from_millis(period_ms)).await;
            }
        }

        #[pollwatch::async_timed]
        async fn other_ticker(period_ms: u64) {
            loop {
                tokio::time::sleep(Duration::from_millis(period_ms)).await;
            }
        }

        /// Plain fns returning `impl Future`: both return `Timed<Sleep>`, so the type cannot
        /// say which fn made the future, and `pollwatch::spawn` must not guess.
        #[pollwatch::async_timed]
        fn nap_a() -> impl std::future::Future<Output = ()> {
            tokio::time::sleep(Duration::from_secs(3600))
        }

        #[pollwatch::async_timed]
        fn nap_b() -> impl std::future::Future<Output = ()> {
            tokio::time::sleep(Duration::from_secs(3600))
        }

        #[pollwatch::async_timed(skip(shared))]
        async fn local_ticker(shared: std::rc::Rc<u64>) {
            loop {
                tokio::time::sleep(Duration::from_millis(*shared)).await;
            }
        }

        fn registry_with_pollwatch() -> impl tracing::Subscriber + Send + Sync {
            use tracing_subscriber::layer::SubscriberExt as _;
            tracing_subscriber::registry().with(pollwatch::layer())
        }

        pub(super) fn in_process() {
            // SAFETY: no other thread exists yet (`harness = false`, nothing spawned).
            unsafe { std::env::set_var("TOKIO_CONSOLE_BIND", "127.0.0.1:0") };

            // The server lives as long as its layer: a scoped subscriber's ends with it.
            let scoped = registry_with_pollwatch();
            let first = pollwatch::console_addr().expect("the console server is up");
            drop(scoped);
            let deadline = Instant::now() + Duration::from_secs(30);
            while pollwatch::console_addr().is_some() || std::net::TcpStream::connect(first).is_ok()
            {
                assert!(Instant::now() < deadline, "the server outlived its layer");
                std::thread::sleep(Duration::from_millis(20));
            }

            // A user's own registry with `pollwatch::layer()` in it.
            tracing::subscriber::set_global_default(registry_with_pollwatch()).unwrap();
            let addr = pollwatch::console_addr().expect("the console server is up");
            assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
            // A second layer while it serves: no second server, the first one unchanged.
            drop(registry_with_pollwatch());
            assert_eq!(pollwatch::console_addr(), Some(addr));
            // `try_init` with a subscriber already set starts nothing either.
            assert!(pollwatch::try_init().is_err());
            assert_eq!(pollwatch::console_addr(), Some(addr));

            let rt = pollwatch::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            let mut expected: Vec<(u32, Option<&str>, &str)> = rt.block_on(async {
                let named = (line!(), pollwatch::spawn(ticker(10)));
                let traced = other_ticker(10).instrument(tracing::info_span!("traced"));
                let wrapped = (line!(), pollwatch::spawn(traced));
                let plain = (line!(), tokio::spawn(ticker(10)));
                // Created before another annotated fn's future: not misnamed `ticker`.
                let early = other_ticker(10);
                let _later = ticker(10);
                let stale = (line!(), pollwatch::spawn(early));
                let both = futures::future::join(ticker(10), other_ticker(10));
                let joined = (line!(), pollwatch::spawn(both));
                let nap = nap_a();
                let _other_nap = nap_b();
                let napping = (line!(), pollwatch::spawn(nap));
                vec![
                    (named.0, Some("ticker"), "named after its fn"),
                    (wrapped.0, Some("other_ticker"), "named through a wrapper"),
                    (plain.0, None, "tokio::spawn names nothing"),
                    (stale.0, None, "an older future is not misnamed"),
                    (joined.0, None, "two fns' futures are neither"),
                    (napping.0, None, "`impl Future` fns' types do not name them"),
                ]
            });
            // `spawn_local` on a thread of its own, driving its `LocalSet` for good.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async {
                    let period = std::rc::Rc::new(10);
                    let (line, task) = (line!(), pollwatch::spawn_local(local_ticker(period)));
                    tx.send(line).unwrap();
                    task.await.unwrap();
                });
            });
            expected.push((rx.recv().unwrap(), Some("local_ticker"), "spawn_local"));

            let file = file!();
            let at = |tasks: &HashMap<u64, Task>, line| -> Option<Task> {
                let mut here = tasks
                    .values()
                    .filter(|t| t.file.ends_with(file) && t.line == line);
                here.next().cloned()
            };
            let tasks = watch(addr, Duration::from_secs(60), |tasks| {
                expected
                    .iter()
                    .all(|&(line, ..)| at(tasks, line).is_some_and(|t| t.polls >= 1))
                    && at(tasks, expected[0].0).is_some_and(|t| t.polls >= 5)
            });
            for (line, name, why) in &expected {
                let task = at(&tasks, *line).unwrap();
                assert_eq!(
                    task.name.as_deref(),
                    *name,
                    "line {line}, {why}: {tasks:#?}"
                );
            }
            drop(rt);
        }

        /// Returns the example's console address.
        pub(super) fn example() -> std::net::SocketAddr {
            let example = Example::start(&[("TOKIO_CONSOLE_BIND", "127.0.0.1:0")], "60s");
            let addr: std::net::SocketAddr = example.wait_line(Duration::from_secs(30), |l| {
                let rest = l.split("tokio-console: serving on ").nth(1)?;
                rest.split(';').next()?.parse().ok()
            });
            let src = include_str!("../examples/console.rs");
            let spawn_line = |call: &str| {
                1 + src
                    .lines()
                    .position(|l| l.contains(&format!("pollwatch::spawn({call}")))
                    .unwrap_or_else(|| panic!("examples/console.rs spawns {call}"))
                    as u32
            };
            let tasks = watch(addr, Duration::from_secs(50), |tasks| {
                let polled = |name| named(tasks, name).iter().any(|t| t.polls > 0);
                // refresh_rates blocks 300 ms every 2 s: wait for two of its blocks.
                named(tasks, "poll_prices").len() == 3
                    && polled("serve_requests")
                    && polled("handle_request")
                    && named(tasks, "refresh_rates")
                        .first()
                        .is_some_and(|t| t.busy >= Duration::from_millis(550))
            });
            for (name, call) in [
                ("poll_prices", "poll_prices"),
                ("refresh_rates", "refresh_rates"),
                ("serve_requests", "serve_requests"),
                ("handle_request", "handle_request"),
            ] {
                for t in named(&tasks, name) {
                    assert_eq!(t.file, "examples/console.rs", "{name}: {t:?}");
                    assert_eq!(t.line, spawn_line(call), "{name}: {t:?}");
                }
            }
            let mut seen: Vec<&Task> = tasks.values().filter(|t| t.name.is_some()).collect();
            seen.sort_by_key(|t| (t.line, t.name.clone()));
            for t in seen
                .iter()
                .filter(|t| t.name.as_deref() != Some("handle_request"))
            {
                println!(
                    "  {:<16} {}:{:<4} polls {:>4}  busy {:>10.1?}",
                    t.name.as_deref().unwrap_or(""),
                    t.file,
                    t.line,
                    t.polls,
                    t.busy
                );
            }
            // pollwatch's own task is never an anonymous task of pollwatch's sources: it is
            // named, or (spawned with the runtime, before `init()` in `main` set up the
            // console) not listed at all.
            let ours: Vec<&Task> = tasks
                .values()
                .filter(|t| t.file.contains("src/tokio/"))
                .collect();
            assert!(
                ours.iter()
                    .all(|t| t.name.as_deref() == Some("pollwatch heartbeat")),
                "{ours:#?}"
            );
            // What the guide's console chapter tells users to look at: the blocker's busy time grows by whole
            // blocks per poll, the healthy feeds' by microseconds over many polls.
            let refresh = named(&tasks, "refresh_rates")[0];
            let per_poll = |t: &Task| t.busy / u32::try_from(t.polls.max(1)).unwrap();
            assert!(
                per_poll(refresh) >= Duration::from_millis(100),
                "{refresh:?}"
            );
            for feed in named(&tasks, "poll_prices") {
                assert!(feed.polls >= 20, "{feed:?}");
                assert!(per_poll(feed) < Duration::from_millis(10), "{feed:?}");
            }
            // And pollwatch's own warnings still print next to the console.
            example.wait_line(Duration::from_secs(10), |l| {
                l.contains("WARN pollwatch::slow_poll: refresh_rates blocked the executor for")
                    .then_some(())
            });
            addr
        }
    }
}
