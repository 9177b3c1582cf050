//! Tokio integration: a runtime that watches every task poll (with `--cfg tokio_unstable`), the
//! root future of `block_on`, and the lag other tasks suffer while one poll blocks; [`run`] and
//! what `#[pollwatch::main]` expands to.

#[cfg(tokio_unstable)]
use std::cell::Cell;
use std::future::Future;
#[cfg(tokio_unstable)]
use std::hash::{Hash as _, Hasher};
use std::io;
use std::ops::Deref;
#[cfg(tokio_unstable)]
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use crate::callsite::{CallSite, Emit};
use crate::config::{self, Config, DebugMode};
use crate::events;
#[cfg(tokio_unstable)]
use crate::frames;

/// A task poll hook, as Tokio's `on_before_task_poll` / `on_after_task_poll` take it.
#[cfg(tokio_unstable)]
type Hook = Arc<dyn Fn(&tokio::runtime::TaskMeta<'_>) + Send + Sync>;

/// Builds a Tokio runtime with pollwatch watching it (asyncio: a loop with `set_debug(True)`).
///
/// What it adds to `tokio::runtime::Builder`:
///
/// - **every task poll is timed** (with `--cfg tokio_unstable`, through Tokio's task poll
///   hooks): an un-annotated task that blocks its worker is reported with its task id and spawn
///   location; inside a task, `#[async_timed]` fns are still blamed by name, with one warning per
///   poll. Tokio keeps one callback per hook, so set yours through this builder's
///   `on_before_task_poll` / `on_after_task_poll` (with `tokio_unstable`): both run.
/// - **lag**: a `pollwatch::lag` warning when work waited at least the threshold because a poll
///   blocked: a heartbeat task measures how late a timer fires (aiodebug's `monitor_loop_lag`),
///   and with pollwatch's `schedule-latency` feature (Tokio's, needs `tokio_unstable` and a
///   64-bit target) each ready task that waited behind a slow poll on its worker is named.
/// - [`Runtime::block_on`] times the root future too, which is not a task, so no hook sees it.
/// - the [watchdog](crate::watchdog) runs while the runtime lives: a poll still blocking its
///   worker past the threshold is reported as a `pollwatch::stall`, CPU-bound or blocking.
///
/// Without `--cfg tokio_unstable`, only `#[async_timed]` fns and the root future are timed, and
/// lag comes from the heartbeat.
///
/// # Examples
///
/// ```
/// let rt = pollwatch::Builder::new_multi_thread()
///     .worker_threads(2)
///     .tokio(|b| {
///         b.thread_name("app-worker");
///     })
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
#[must_use = "a Builder does nothing until `build` is called"]
pub struct Builder {
    inner: tokio::runtime::Builder,
    config: Option<Config>,
    heartbeat: Option<bool>,
    #[cfg(tokio_unstable)]
    before: Option<Hook>,
    #[cfg(tokio_unstable)]
    after: Option<Hook>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A multi-thread runtime (as `#[tokio::main]`), all drivers enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_multi_thread().build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn new_multi_thread() -> Self {
        Self::wrap(tokio::runtime::Builder::new_multi_thread())
    }

    /// A current-thread runtime (asyncio's single-threaded loop), all drivers enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(async { "ok" }), "ok");
    /// ```
    pub fn new_current_thread() -> Self {
        Self::wrap(tokio::runtime::Builder::new_current_thread())
    }

    fn wrap(mut inner: tokio::runtime::Builder) -> Self {
        inner.enable_all();
        Builder {
            inner,
            config: None,
            heartbeat: None,
            #[cfg(tokio_unstable)]
            before: None,
            #[cfg(tokio_unstable)]
            after: None,
        }
    }

    /// Sets the number of worker threads (multi-thread runtimes).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.inner.worker_threads(n);
        self
    }

    /// Configures the wrapped `tokio::runtime::Builder` (thread names, stack size, …). Its task
    /// poll hooks are set by [`build`](Self::build): set yours with this builder's
    /// `on_before_task_poll` and
    /// `on_after_task_poll` instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_multi_thread()
    ///     .tokio(|b| {
    ///         b.thread_name("worker").thread_stack_size(4 << 20);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn tokio(mut self, configure: impl FnOnce(&mut tokio::runtime::Builder)) -> Self {
        configure(&mut self.inner);
        self
    }

    /// Applies `config` process-wide when the runtime is built. By default the config in force
    /// stays (the environment's, or one applied earlier).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = pollwatch::Builder::new_current_thread()
    ///     .config(pollwatch::Config::default().slow_poll(Duration::from_millis(50)))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Runs (or not) the heartbeat task that detects lag by how late a timer fires. By default
    /// it runs: even with the exact per-task measurement (`schedule-latency`), tasks waiting on
    /// a timer or I/O are not woken while their worker is blocked, so only the heartbeat sees
    /// their delay.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread().heartbeat(false).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn heartbeat(mut self, enabled: bool) -> Self {
        self.heartbeat = Some(enabled);
        self
    }

    /// Your own `on_before_task_poll` hook; it runs before pollwatch starts timing the poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(tokio_unstable)] {
    /// let rt = pollwatch::Builder::new_current_thread()
    ///     .on_before_task_poll(|meta| println!("polling task {}", meta.id()))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// # }
    /// ```
    #[cfg(tokio_unstable)]
    pub fn on_before_task_poll(
        mut self,
        hook: impl Fn(&tokio::runtime::TaskMeta<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.before = Some(Arc::new(hook));
        self
    }

    /// Your own `on_after_task_poll` hook; it runs after pollwatch has timed the poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(tokio_unstable)] {
    /// let rt = pollwatch::Builder::new_current_thread()
    ///     .on_after_task_poll(|meta| println!("polled task {}", meta.id()))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// # }
    /// ```
    #[cfg(tokio_unstable)]
    pub fn on_after_task_poll(
        mut self,
        hook: impl Fn(&tokio::runtime::TaskMeta<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.after = Some(Arc::new(hook));
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    ///
    /// Whatever `tokio::runtime::Builder::build` returns (e.g. threads could not be spawned).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_multi_thread().build()?;
    /// rt.block_on(async { /* … */ });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(mut self) -> io::Result<Runtime> {
        if let Some(config) = self.config.take() {
            config.apply();
        }
        #[cfg(tokio_unstable)]
        self.install_hooks();
        let inner = self.inner.build()?;
        if self.heartbeat.unwrap_or(true) {
            spawn_heartbeat(&inner)?;
        }
        Ok(Runtime {
            inner,
            _watchdog: crate::watchdog::watchdog(),
        })
    }

    #[cfg(tokio_unstable)]
    fn install_hooks(&mut self) {
        #[cfg(feature = "schedule-latency")]
        self.inner.track_task_schedule_latency();
        let before = self.before.take();
        let after = self.after.take();
        self.inner
            .on_before_task_poll(move |meta| {
                if let Some(hook) = &before {
                    hook(meta);
                }
                task_poll_started(meta);
            })
            .on_after_task_poll(move |meta| {
                task_poll_ended();
                if let Some(hook) = &after {
                    hook(meta);
                }
            });
    }
}

/// How far before a task's wait began the slow poll that caused it may have ended (the
/// hand-off between the two takes a little time).
#[cfg(all(tokio_unstable, feature = "schedule-latency"))]
const LAG_SLACK: Duration = Duration::from_millis(10);

/// A Tokio runtime built by [`Builder`]; derefs to `tokio::runtime::Runtime` for everything
/// else (`spawn`, `handle`, `shutdown_timeout`, …).
///
/// # Examples
///
/// ```
/// let rt = pollwatch::Builder::new_multi_thread().build().unwrap();
/// let task = rt.spawn(async { 40 + 2 });
/// assert_eq!(rt.block_on(task).unwrap(), 42);
/// ```
#[derive(Debug)]
pub struct Runtime {
    // Field order matters: the runtime shuts down before the watchdog stops.
    inner: tokio::runtime::Runtime,
    _watchdog: crate::watchdog::WatchdogGuard,
}

impl Runtime {
    /// Runs `future` to completion, timing it as the root of every chain (`main > …`). The
    /// root future of `block_on` is not a task, so the task hooks never see it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(async { 7 }), 7);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.inner
            .block_on(crate::timed::timed(&ROOT, None, future))
    }

    /// The wrapped Tokio runtime. The watchdog stops watching it (unless another
    /// [`watchdog`](crate::watchdog) guard keeps it running).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    /// let tokio_rt: tokio::runtime::Runtime = rt.into_inner();
    /// # drop(tokio_rt);
    /// ```
    pub fn into_inner(self) -> tokio::runtime::Runtime {
        self.inner
    }
}

impl Deref for Runtime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &tokio::runtime::Runtime {
        &self.inner
    }
}

/// The root future of `block_on`: named `main`, located where `block_on` was called.
static ROOT: CallSite = CallSite::new("main", module_path!(), file!(), 0, 0, root_emit);

fn root_emit(_: &'static CallSite, _: Emit<'_>) -> bool {
    false
}

/// Runs `future` on a new multi-thread runtime in debug mode, like
/// `asyncio.run(main(), debug=True)`: turns debug mode on (unless `POLLWATCH` says otherwise),
/// installs [`init`](crate::init)'s subscriber if none is set, and times every task and the root
/// future.
///
/// # Panics
///
/// If the runtime cannot be built, as `#[tokio::main]` does.
///
/// # Examples
///
/// ```
/// #[pollwatch::async_timed]
/// async fn work() -> u32 {
///     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
///     42
/// }
///
/// assert_eq!(pollwatch::run(work()), 42);
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    let rt = prepare(Builder::new_multi_thread());
    let out = rt.block_on(future);
    drop(rt);
    finish();
    out
}

/// The end of `run` / `#[pollwatch::main]`: summary and JSON report if asked for; in strict mode,
/// the process fails if any poll blocked past the threshold, listing each offender.
fn finish() {
    crate::report::finish_run();
    if config::debug_mode().is_strict() {
        let verdict = crate::report::process_verdict(Config::current().get_slow_poll());
        if !verdict.is_empty() {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{verdict}\n(POLLWATCH=strict: failing)");
            std::process::exit(1);
        }
    }
}

/// Debug mode on unless the environment chose, a subscriber if none is set, then build.
#[track_caller]
fn prepare(builder: Builder) -> Runtime {
    if std::env::var_os("POLLWATCH").is_none() {
        config::set_debug_mode(DebugMode::On);
    }
    if !tracing::dispatcher::has_been_set() {
        let _ = crate::try_init();
    }
    match builder.build() {
        Ok(rt) => rt,
        Err(e) => panic!("pollwatch: failed to build the Tokio runtime: {e}"),
    }
}

/// What `#[pollwatch::main]` calls: `future` is the user's `main`, already instrumented by the
/// macro, so it is not wrapped again.
#[doc(hidden)]
#[track_caller]
pub fn run_main<F: Future>(builder: Builder, future: F) -> F::Output {
    let rt = prepare(builder);
    let out = rt.inner.block_on(future);
    drop(rt);
    finish();
    out
}

/// What `#[pollwatch::test]` calls: runs the (instrumented) test body on its own runtime, with
/// every poll on the runtime's threads checked against `budget_ns` (0: the threshold), and fails
/// the test, listing each offender, if any poll blocked that long. Slow polls of tests running
/// in parallel go to their own test: each runtime's threads report to their test's collector.
///
/// # Panics
///
/// That is how the test fails: with the list of offenders; also if the runtime cannot be built.
#[doc(hidden)]
#[track_caller]
pub fn run_test<F: Future>(builder: Builder, budget_ns: u64, future: F) -> F::Output {
    if std::env::var_os("POLLWATCH").is_none() {
        config::set_debug_mode(DebugMode::On);
    }
    if !tracing::dispatcher::has_been_set() {
        let _ = crate::subscriber::try_init_for_tests();
    }
    let budget = match budget_ns {
        0 => Config::current().get_slow_poll(),
        ns => Duration::from_nanos(ns),
    };
    let collector = crate::report::Collector::new(budget);
    let workers = collector.clone();
    let builder = builder.tokio(move |b| {
        b.on_thread_start(move || crate::report::install_collector(workers.clone()));
    });
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => panic!("pollwatch: failed to build the Tokio runtime: {e}"),
    };
    let out = {
        let _route = crate::report::enter_collector(collector.clone());
        rt.inner.block_on(future)
    };
    drop(rt);
    crate::report::finish_run();
    let verdict = collector.offenders();
    if !verdict.is_empty() {
        panic!("{verdict}");
    }
    out
}

/// `tokio::task::Id` has no public integer accessor; its `Hash` writes the id as one `u64`.
#[cfg(tokio_unstable)]
fn task_id(id: tokio::task::Id) -> u64 {
    #[derive(Default)]
    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 << 8) | u64::from(*b);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    let mut h = Capture::default();
    id.hash(&mut h);
    h.finish()
}

#[cfg(tokio_unstable)]
thread_local! {
    /// The task poll in progress on this thread: its frame and start. A nested task poll (a
    /// runtime driven from inside a task) replaces it; the outer one is then not timed.
    static TASK_POLL: Cell<Option<(frames::Token, Instant)>> = const { Cell::new(None) };
}

#[cfg(tokio_unstable)]
fn task_poll_started(meta: &tokio::runtime::TaskMeta<'_>) {
    let mode = config::debug_mode();
    if !mode.is_on() {
        return;
    }
    let id = task_id(meta.id());
    let spawned_at = meta.spawned_at();
    let threshold_ns = config::slow_poll_nanos();
    #[cfg(feature = "schedule-latency")]
    if let Some(waited) = meta.schedule_latency() {
        let threshold = Duration::from_nanos(threshold_ns);
        // Only lag caused by a blocking poll on this worker: a merely busy runtime (10k ready
        // tasks taking turns) also makes tasks wait, but nothing here is to blame for that.
        // The heartbeat reports its own lateness.
        let heartbeat = spawned_at.file() == file!();
        if waited >= threshold && !heartbeat && frames::slow_poll_within(waited + LAG_SLACK) {
            events::lag(Some((id, spawned_at)), waited, threshold);
        }
    }
    let who = frames::Who::Task { id, spawned_at };
    let start = Instant::now();
    if let Some(token) = frames::enter(who, spawned_at, 0, threshold_ns, start) {
        let _ = TASK_POLL.try_with(|t| t.set(Some((token, start))));
    }
}

#[cfg(tokio_unstable)]
fn task_poll_ended() {
    let Some((token, start)) = TASK_POLL.try_with(Cell::take).ok().flatten() else {
        return;
    };
    if let Some(report) = frames::exit(token, start.elapsed()) {
        events::slow_poll(&report, config::debug_mode().is_strict());
    }
}

/// Spawns the heartbeat; named where Tokio has task names, so tokio-console does not list it as
/// an anonymous task of `runtime.rs`.
fn spawn_heartbeat(rt: &tokio::runtime::Runtime) -> io::Result<()> {
    #[cfg(all(tokio_unstable, feature = "console"))]
    return tokio::task::Builder::new()
        .name("pollwatch heartbeat")
        .spawn_on(heartbeat_task(), rt.handle())
        .map(drop);
    #[cfg(not(all(tokio_unstable, feature = "console")))]
    {
        rt.spawn(heartbeat_task());
        Ok(())
    }
}

/// aiodebug's `monitor_loop_lag`: sleep, and see how late the runtime woke us. Sleeps half the
/// threshold, so lag of a full threshold cannot hide between two beats.
async fn heartbeat_task() {
    loop {
        // `debug_mode` first: it initializes the config the threshold comes from.
        let on = config::debug_mode().is_on();
        let threshold = Duration::from_nanos(config::slow_poll_nanos().max(1));
        let interval = (threshold / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let start = Instant::now();
        tokio::time::sleep(interval).await;
        let late = start.elapsed().saturating_sub(interval);
        if late >= threshold && on {
            events::lag(None, late, threshold);
        }
    }
}
