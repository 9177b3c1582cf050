//! The names of pollwatch's events: their targets and field names, defined once and used
//! everywhere (by the events, the fmt layer, and the start/finish events the macro writes into
//! users' crates).

/// The targets of pollwatch's events, for filters (`RUST_LOG=pollwatch::slow_poll=warn`) and
/// layers.
///
/// # Examples
///
/// ```
/// assert_eq!(pollwatch::targets::SLOW_POLL, "pollwatch::slow_poll");
/// let filter = format!("{}=warn", pollwatch::targets::CANCELLED);
/// # let _ = filter;
/// ```
pub mod targets {
    /// Start and finish of an `#[async_timed]` fn (unless it sets `target = "…"`), at the fn's level.
    pub const TIMED: &str = "pollwatch";
    /// A poll blocked its thread for at least the threshold: `WARN` (`ERROR` in strict mode).
    pub const SLOW_POLL: &str = "pollwatch::slow_poll";
    /// A future was dropped after being polled but before completing: `INFO` in debug mode,
    /// `DEBUG` otherwise.
    pub const CANCELLED: &str = "pollwatch::cancelled";
    /// A future was dropped without ever being polled: `WARN` in debug mode, `DEBUG` otherwise.
    pub const NEVER_POLLED: &str = "pollwatch::never_polled";
    /// A poll panicked: `ERROR`. The panic then continues unchanged.
    pub const PANICKED: &str = "pollwatch::panicked";
    /// A poll is *still* blocking its thread past the threshold (reported by the watchdog while
    /// it runs, then again after 1 s, 5 s, 30 s, and every 30 s): `WARN`.
    pub const STALL: &str = "pollwatch::stall";
    /// A ready task waited at least the threshold before it was polled: `WARN`. Needs the
    /// runtime from [`Builder`](crate::Builder), [`run`](crate::run) or `#[pollwatch::main]`.
    pub const LAG: &str = "pollwatch::lag";
    /// What a culprit did since its first, full report, in one line per interval
    /// ([`Config::digest_interval`](crate::Config::digest_interval)): how many more slow polls,
    /// their median and maximum, the lag they caused: `WARN`.
    pub const DIGEST: &str = "pollwatch::digest";
    /// Where the tokio-console server listens, once, when [`init`](crate::init) starts it
    /// (`console` feature): `INFO`.
    pub const CONSOLE: &str = "pollwatch::console";
}

/// The field names of pollwatch's events. Durations are recorded with `Display` in adaptive units
/// (`523.1ms`, `1.204s`, `850ns`); counts are integers.
///
/// # Examples
///
/// ```
/// assert_eq!(pollwatch::fields::CHAIN, "chain");
/// ```
pub mod fields {
    /// The instrumented fn (its `name = "…"` if given). All events except `lag`, and except
    /// `slow_poll` when an un-annotated task is to blame (see `task`).
    pub const FN: &str = "fn";
    /// `file:line` of the fn's definition. `slow_poll`.
    pub const LOCATION: &str = "location";
    /// `file:line` where the future was created (the caller). `slow_poll`, `cancelled`,
    /// `never_polled`.
    pub const CREATED_AT: &str = "created_at";
    /// The Tokio task id, when the runtime's task hooks saw the poll (`--cfg tokio_unstable`).
    /// `slow_poll`, `lag`.
    pub const TASK: &str = "task";
    /// `file:line` where that task was spawned. `slow_poll`, `lag`.
    pub const SPAWNED_AT: &str = "spawned_at";
    /// How long a ready task waited before it was polled. `lag`.
    pub const DELAY: &str = "delay";
    /// The name of the blocked thread. `stall`.
    pub const THREAD: &str = "thread";
    /// How long the poll has been blocking so far. `stall`.
    pub const BLOCKED_FOR: &str = "blocked_for";
    /// 1 for a stall's first report, 2, 3, … for the reminders. `stall`.
    pub const REPORT: &str = "report";
    /// The system call a blocked thread is in (`futex`, `clock_nanosleep`, `read`, …). `stall`,
    /// first report, with the `stacks` feature on Linux.
    pub const SYSCALL: &str = "syscall";
    /// The blocked thread's native stack, innermost first, one `function (file:line)` a line;
    /// read without interrupting the thread, so approximate. With `syscall`.
    pub const STACK: &str = "stack";
    /// How long the thread was blocked by the poll. `slow_poll`.
    pub const DURATION: &str = "duration";
    /// The culprit fn's own part of `duration` (summed over its `calls`), excluding instrumented
    /// fns it polled. `slow_poll`.
    pub const SELF_TIME: &str = "self_time";
    /// The threshold that was exceeded. `slow_poll`.
    pub const THRESHOLD: &str = "threshold";
    /// The async call chain, outermost first: `main > handler > cpu_bound_task`. `slow_poll`.
    pub const CHAIN: &str = "chain";
    /// Which poll of the culprit's future blocked (1-based). `slow_poll`.
    pub const POLL: &str = "poll";
    /// How many calls of the culprit fn shared `self_time` in this one poll (e.g. three blocking
    /// calls run by one `join!`). `slow_poll`.
    pub const CALLS: &str = "calls";
    /// `cpu-bound` (active ≥ 80 % of the time: on a CPU, or runnable and waiting for one, so a
    /// busy loop on a loaded machine is still `cpu-bound`), `blocking` (≤ 20 %: asleep in a
    /// sleep, I/O or a lock), `mixed`, or `unknown` when the watchdog did not sample the poll (it
    /// does for polls it reports as stalls; Linux only). `slow_poll`, `stall`.
    pub const KIND: &str = "kind";
    /// How many of pollwatch's lines the global cap
    /// ([`Config::warnings_per_second`](crate::Config::warnings_per_second)) held back before
    /// this one; only recorded when not zero. Any warning.
    pub const SUPPRESSED: &str = "suppressed";
    /// How many more slow polls a digest summarizes. `digest`.
    pub const COUNT: &str = "count";
    /// How many more stall reports a digest summarizes. `digest`.
    pub const STALLS: &str = "stalls";
    /// The median of the slow polls a digest summarizes. `digest`.
    pub const P50: &str = "p50";
    /// The longest of them. `digest`.
    pub const MAX: &str = "max";
    /// The longest lag seen right after the culprit blocked. `digest`.
    pub const LAG_MAX: &str = "lag_max";
    /// The time a digest covers: since the last line about its culprit. `digest`.
    pub const WINDOW: &str = "window";
    /// From the start of the first poll to the end of the last. finish, `cancelled`, `panicked`.
    pub const ELAPSED: &str = "elapsed";
    /// Sum of poll durations. finish, `cancelled`.
    pub const BUSY: &str = "busy";
    /// `elapsed - busy`: waiting for a wake-up or a worker. finish.
    pub const IDLE: &str = "idle";
    /// Number of polls. finish, `cancelled`, `panicked`.
    pub const POLLS: &str = "polls";
    /// The returned value, with `ret`. finish.
    pub const RETURN: &str = "return";
    /// The error, with `err`, when the fn returned `Err`. finish.
    pub const ERROR: &str = "error";
}
