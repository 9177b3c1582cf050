//! [`Builder`] and [`Runtime`]: a Tokio runtime with pollwatch watching it. The task poll
//! hooks are `hooks.rs`'s, the heartbeat `heartbeat.rs`'s; this file wires them in.

use std::future::Future;
use std::io;
use std::sync::Arc;

use super::heartbeat::{self, HeartbeatMark};
#[cfg(pollwatch_task_hooks)]
use super::hooks;
use crate::config::Config;
use crate::detect::frames;
use crate::detect::{WatchdogGuard, watchdog};
use crate::site::{CallSite, no_events};

/// A task poll hook, as Tokio's `on_before_task_poll` / `on_after_task_poll` take it.
#[cfg(pollwatch_task_hooks)]
type Hook = Arc<dyn Fn(&tokio::runtime::TaskMeta<'_>) + Send + Sync>;

/// A thread hook, as Tokio's `on_thread_park` / `on_thread_unpark` take it.
type ThreadHook = Arc<dyn Fn() + Send + Sync>;

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
///   and with pollwatch's `task-lag` feature (Tokio's `schedule-latency`; needs `tokio_unstable`, a
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
    #[cfg(pollwatch_task_hooks)]
    before: Option<Hook>,
    #[cfg(pollwatch_task_hooks)]
    after: Option<Hook>,
    start: Option<ThreadHook>,
    park: Option<ThreadHook>,
    unpark: Option<ThreadHook>,
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
            #[cfg(pollwatch_task_hooks)]
            before: None,
            #[cfg(pollwatch_task_hooks)]
            after: None,
            start: None,
            park: None,
            unpark: None,
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

    /// Configures the wrapped `tokio::runtime::Builder` (thread names, stack size, …). Its
    /// thread start and park hooks and its task poll hooks are set by [`build`](Self::build)
    /// (Tokio keeps one of each, so one set here is replaced): set yours with this builder's
    /// [`on_thread_start`](Self::on_thread_start), [`on_thread_park`](Self::on_thread_park),
    /// [`on_thread_unpark`](Self::on_thread_unpark), `on_before_task_poll` and
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
    /// it runs if debug mode is on when the runtime is built: even with the exact per-task measurement (`task-lag`), tasks waiting on
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

    /// Your own `on_thread_start` hook (a worker or blocking-pool thread starts); it runs
    /// after pollwatch's, which marks the thread as one of the runtime's.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_multi_thread()
    ///     .on_thread_start(|| println!("{:?} started", std::thread::current().name()))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn on_thread_start(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.start = Some(Arc::new(hook));
        self
    }

    /// Your own `on_thread_park` hook (a worker is about to wait for work); pollwatch's runs
    /// first. pollwatch uses this hook, with `on_thread_unpark`, to know which threads are
    /// Tokio workers running tasks: on stable Tokio, a task holding one in a blocking system
    /// call is then reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// static PARKS: AtomicUsize = AtomicUsize::new(0);
    /// let rt = pollwatch::Builder::new_multi_thread()
    ///     .on_thread_park(|| {
    ///         PARKS.fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn on_thread_park(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.park = Some(Arc::new(hook));
        self
    }

    /// Your own `on_thread_unpark` hook (a worker woke up to run tasks); pollwatch's runs
    /// after it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread()
    ///     .on_thread_unpark(|| { /* e.g. count wake-ups */ })
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn on_thread_unpark(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.unpark = Some(Arc::new(hook));
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
    #[cfg(pollwatch_task_hooks)]
    #[cfg_attr(docsrs, doc(cfg(tokio_unstable)))]
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
    #[cfg(pollwatch_task_hooks)]
    #[cfg_attr(docsrs, doc(cfg(tokio_unstable)))]
    pub fn on_after_task_poll(
        mut self,
        hook: impl Fn(&tokio::runtime::TaskMeta<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.after = Some(Arc::new(hook));
        self
    }

    /// Builds the runtime.
    ///
    /// Built while debug mode is off (`POLLWATCH=0`, [`DebugMode::Off`](crate::DebugMode::Off)),
    /// the runtime costs nothing per poll: pollwatch installs no task poll hooks and starts no
    /// heartbeat (unless [`heartbeat(true)`](Self::heartbeat) asks for it); your own hooks are
    /// installed as ever. Debug mode turned on later still times `#[async_timed]` fns and
    /// watches the workers as on stable Tokio, but un-annotated tasks' polls are timed only on
    /// a runtime built with debug mode on.
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
        // Off when built: nothing on the per-poll path, no heartbeat waking up.
        let timing = crate::config::debug_mode().is_on();
        #[cfg(pollwatch_task_hooks)]
        self.install_hooks(timing);
        #[cfg(pollwatch_old_tokio)]
        if timing {
            say_tokio_has_no_task_hooks();
        }
        self.install_thread_hooks();
        let inner = self.inner.build()?;
        let heartbeat = if self.heartbeat.unwrap_or(timing) {
            Some(heartbeat::spawn(&inner)?)
        } else {
            None
        };
        Ok(Runtime {
            inner,
            _heartbeat: heartbeat,
            _watchdog: watchdog(),
        })
    }

    /// Start, park and unpark: which threads are workers running tasks (stable Tokio's worker
    /// watch). A worker may run its first tasks before it ever parks, so a thread counts as
    /// running from its start; a blocking-pool thread (also started by this hook) is told
    /// apart by its stack when it blocks.
    fn install_thread_hooks(&mut self) {
        let start = self.start.take();
        let park = self.park.take();
        let unpark = self.unpark.take();
        self.inner
            .on_thread_start(move || {
                frames::worker_parked(false);
                if let Some(hook) = &start {
                    hook();
                }
            })
            .on_thread_park(move || {
                frames::worker_parked(true);
                if let Some(hook) = &park {
                    hook();
                }
            })
            .on_thread_unpark(move || {
                if let Some(hook) = &unpark {
                    hook();
                }
                frames::worker_parked(false);
            });
    }

    /// Tokio's task poll hooks: pollwatch's if `timing` (debug mode is on), and the user's.
    #[cfg(pollwatch_task_hooks)]
    fn install_hooks(&mut self, timing: bool) {
        let before = self.before.take();
        let after = self.after.take();
        if !timing {
            if let Some(hook) = before {
                self.inner.on_before_task_poll(move |meta| hook(meta));
            }
            if let Some(hook) = after {
                self.inner.on_after_task_poll(move |meta| hook(meta));
            }
            return;
        }
        #[cfg(feature = "task-lag")]
        self.inner.track_task_schedule_latency();
        self.inner
            .on_before_task_poll(move |meta| {
                if let Some(hook) = &before {
                    hook(meta);
                }
                hooks::task_poll_started(meta);
            })
            .on_after_task_poll(move |meta| {
                hooks::task_poll_ended();
                if let Some(hook) = &after {
                    hook(meta);
                }
            });
    }
}

/// `--cfg tokio_unstable` with a Tokio older than the task poll hooks (the application's lock
/// file holds it): once per process, what that means and how to have them.
#[cfg(pollwatch_old_tokio)]
fn say_tokio_has_no_task_hooks() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        crate::dispatch::notice(format_args!(
            "pollwatch: --cfg tokio_unstable is set, but Tokio {} (Cargo.lock) has no task poll \
             hooks (Tokio 1.46.1 and later have them): un-annotated tasks are watched as on \
             stable Tokio; `cargo update -p tokio` gives a Tokio that has them",
            env!("POLLWATCH_LOCKED_TOKIO")
        ));
    });
}

/// A Tokio runtime built by [`Builder`]: `block_on` times the root future; `spawn`,
/// `spawn_blocking`, `handle` and `enter` are Tokio's; [`tokio`](Runtime::tokio) and
/// [`into_inner`](Runtime::into_inner) give the Tokio runtime itself for the rest.
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
    _heartbeat: Option<HeartbeatMark>,
    _watchdog: WatchdogGuard,
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
        self.block_on_instrumented(crate::timed::timed(&ROOT, None, future))
    }

    /// Runs `future`, already instrumented by `#[pollwatch::main]` / `#[pollwatch::test]`, as is.
    pub(crate) fn block_on_instrumented<F: Future>(&self, future: F) -> F::Output {
        // A current-thread runtime runs its tasks on this thread, from its first poll on (it
        // may never park before a task blocks): a worker until `block_on` returns.
        let current_thread = matches!(
            self.inner.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        struct Done;
        impl Drop for Done {
            fn drop(&mut self) {
                frames::worker_done();
            }
        }
        let _done = current_thread.then(|| {
            frames::worker_parked(false);
            Done
        });
        self.inner.block_on(future)
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

    /// The wrapped Tokio runtime, for what this type does not forward (its metrics, say).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// assert_eq!(rt.tokio().metrics().num_workers(), 2);
    /// ```
    pub fn tokio(&self) -> &tokio::runtime::Runtime {
        &self.inner
    }

    /// Spawns a task on the runtime, as `tokio::runtime::Runtime::spawn` does.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    /// let task = rt.spawn(async { 40 + 2 });
    /// assert_eq!(rt.block_on(task).unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.spawn(future)
    }

    /// Runs `f` on the runtime's blocking pool, as `tokio::runtime::Runtime::spawn_blocking`
    /// does.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    /// let job = rt.spawn_blocking(|| 6 * 7);
    /// assert_eq!(rt.block_on(job).unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> tokio::task::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.inner.spawn_blocking(f)
    }

    /// A handle to the runtime, as `tokio::runtime::Runtime::handle` gives it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    /// let handle = rt.handle().clone();
    /// assert_eq!(rt.block_on(async move { handle.spawn(async { 7 }).await.unwrap() }), 7);
    /// ```
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.inner.handle()
    }

    /// Enters the runtime's context, as `tokio::runtime::Runtime::enter` does.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = pollwatch::Builder::new_current_thread().build().unwrap();
    /// let _guard = rt.enter();
    /// let task = tokio::spawn(async { 7 });
    /// # drop(_guard);
    /// assert_eq!(rt.block_on(task).unwrap(), 7);
    /// ```
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.inner.enter()
    }
}

/// The root future of `block_on`: named `main`, located where `block_on` was called.
static ROOT: CallSite = CallSite::new("main", module_path!(), file!(), 0, 0, no_events);
