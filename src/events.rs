//! The only place that emits tracing events. Targets and field names are defined once, here, and
//! used everywhere (including by the start/finish events the macro writes into users' crates,
//! through [`emit_timed!`](crate::__emit_timed)).

use std::fmt;
use std::time::Duration;

use tracing::field::display;
use tracing::{Level, event};

use crate::callsite::{CallSite, Location, RateLimit, Verdict, now_ms};
use crate::frames::{SlowPoll, Who};

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
    /// `cpu-bound` (on CPU ≥ 80 % of the time), `blocking` (≤ 20 %: sleeping, waiting on I/O or
    /// a lock), `mixed`, or `unknown` when the watchdog did not sample the poll (it does for polls
    /// it reports as stalls; Linux only). `slow_poll`, `stall`.
    pub const KIND: &str = "kind";
    /// How many warnings of this fn the rate limit suppressed before this one; only recorded
    /// when not zero. `slow_poll`.
    pub const SUPPRESSED: &str = "suppressed";
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

use fields::*;

/// A duration displayed in the largest unit that keeps it readable: `1.204s`, `523.1ms`,
/// `12.3µs`, `850ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        match ns {
            0..1_000 => write!(f, "{ns}ns"),
            1_000..1_000_000 => write!(f, "{:.1}µs", ns as f64 / 1e3),
            1_000_000..1_000_000_000 => write!(f, "{:.1}ms", ns as f64 / 1e6),
            _ => write!(f, "{:.3}s", ns as f64 / 1e9),
        }
    }
}

/// Writes the start and finish events of one `#[async_timed]` fn. The macro calls it inside a
/// generated fn in the user's crate, so each fn gets its own tracing callsites with its own
/// target, level and argument fields.
#[doc(hidden)]
#[macro_export]
macro_rules! __emit_timed {
    (
        target: $target:expr,
        level: $level:expr,
        callsite: $cs:expr,
        event: $event:expr,
        values: [$($idx:literal => $name:literal),* $(,)?] $(,)?
    ) => {
        match $event {
            $crate::__private::Emit::Enabled => {
                $crate::__private::tracing::enabled!(target: $target, $level)
            }
            $crate::__private::Emit::Start(__pollwatch_values) => {
                let _ = &__pollwatch_values;
                $crate::__private::tracing::event!(
                    target: $target,
                    $level,
                    { $crate::fields::FN } = $cs.name(),
                    $({ $name } = $crate::__private::value_field(__pollwatch_values, $idx),)*
                    "started {}",
                    $cs.name(),
                );
                true
            }
            $crate::__private::Emit::Finish(__pollwatch_f) => {
                $crate::__private::tracing::event!(
                    target: $target,
                    $level,
                    { $crate::fields::FN } = $cs.name(),
                    $({ $name } = __pollwatch_f.values.and_then(|v| $crate::__private::value_field(v, $idx)),)*
                    { $crate::fields::ELAPSED } = $crate::__private::dur_field(__pollwatch_f.elapsed),
                    { $crate::fields::BUSY } = $crate::__private::dur_field(__pollwatch_f.busy),
                    { $crate::fields::IDLE } = $crate::__private::dur_field(__pollwatch_f.idle),
                    { $crate::fields::POLLS } = __pollwatch_f.polls,
                    { $crate::fields::RETURN } = $crate::__private::outcome_field(__pollwatch_f, false),
                    { $crate::fields::ERROR } = $crate::__private::outcome_field(__pollwatch_f, true),
                    "finished {} in {}",
                    $cs.name(),
                    $crate::__private::Dur(__pollwatch_f.elapsed),
                );
                true
            }
        }
    };
}

/// Helpers for `__emit_timed!`, which cannot name private items.
pub(crate) mod helpers {
    use super::Dur;
    use crate::callsite::Finished;
    use crate::values::Values;
    use std::time::Duration;
    use tracing::field::{DisplayValue, display};

    /// The `i`-th captured value as a display field (missing: not recorded).
    pub fn value_field(values: &Values, i: usize) -> Option<DisplayValue<&str>> {
        values.get(i).map(display)
    }

    /// A duration as a display field.
    pub fn dur_field(d: Duration) -> DisplayValue<Dur> {
        display(Dur(d))
    }

    /// The captured return value (`error == false`) or error.
    pub fn outcome_field<'a>(f: &'a Finished<'a>, error: bool) -> Option<DisplayValue<&'a str>> {
        let o = f.outcome?;
        let v = if error { &o.err } else { &o.ret };
        v.single().map(display)
    }
}

/// Emits `event!` at a level chosen at run time (one callsite per level, as tracing requires).
macro_rules! event_at {
    ($level:expr, target: $target:expr, $($rest:tt)+) => {
        match $level {
            Level::ERROR => event!(target: $target, Level::ERROR, $($rest)+),
            Level::WARN => event!(target: $target, Level::WARN, $($rest)+),
            Level::INFO => event!(target: $target, Level::INFO, $($rest)+),
            Level::DEBUG => event!(target: $target, Level::DEBUG, $($rest)+),
            _ => event!(target: $target, Level::TRACE, $($rest)+),
        }
    };
}

/// Slow polls of un-annotated tasks share one limiter (they have no call site of their own).
static TASK_LIMITER: RateLimit = RateLimit::new();
/// Lag warnings share one limiter: one blocked worker delays every task queued behind it.
#[cfg(feature = "tokio")]
static LAG_LIMITER: RateLimit = RateLimit::new();

/// Reports a slow poll: to the `on_slow_poll` callback always, as an event subject to the
/// culprit's rate limit.
pub(crate) fn slow_poll(report: &SlowPoll, strict: bool) {
    let kind = report.kind;
    if let Who::Fn(cs) = report.culprit {
        cs.stats()
            .slow_polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    crate::report::record_slow_poll(report, strict);
    crate::notify::slow_poll(report, kind);
    let limiter = match report.culprit {
        Who::Fn(cs) => cs.limiter(),
        Who::Task { .. } => &TASK_LIMITER,
    };
    let suppressed = match limiter.check(now_ms(), crate::config::warnings_per_second()) {
        Verdict::Suppress => return,
        Verdict::Emit { suppressed_before } => suppressed_before,
    };
    let level = if strict { Level::ERROR } else { Level::WARN };
    let location = report.location();
    let created_at = Location::from(report.created_at);
    let fn_name = match report.culprit {
        Who::Fn(cs) => Some(cs.name()),
        Who::Task { .. } => None,
    };
    let task = report.task.map(|(id, _)| id);
    let spawned_at = report.task.map(|(_, at)| display(Location::from(at)));
    event_at!(level, target: targets::SLOW_POLL,
        { FN } = fn_name,
        { TASK } = task,
        { SPAWNED_AT } = spawned_at,
        { LOCATION } = %location,
        { CREATED_AT } = %created_at,
        { DURATION } = %Dur(report.blocked),
        { SELF_TIME } = %Dur(report.self_time),
        { THRESHOLD } = %Dur(report.threshold),
        { CHAIN } = %report.chain,
        { POLL } = (report.poll != 0).then_some(report.poll),
        { CALLS } = report.calls,
        { KIND } = %kind,
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}{}",
        Headline { report, kind, location },
        SuppressedSuffix(suppressed),
    );
}

/// `f (3 calls) blocked the executor for 606.1ms (cpu-bound) at src/x.rs:4 [main > f] in task 7
/// spawned at src/main.rs:20`, or for an un-annotated task `task 7 blocked the executor for
/// 300.2ms at src/main.rs:20 (where it was spawned)`.
struct Headline<'a> {
    report: &'a SlowPoll,
    kind: &'static str,
    location: Location,
}

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        write!(
            f,
            "{}{} blocked the executor for {}{} at {}",
            r.culprit,
            CallsSuffix(r.calls),
            Dur(r.blocked),
            KindSuffix(self.kind),
            self.location
        )?;
        match r.culprit {
            Who::Task { .. } => f.write_str(" (where it was spawned)")?,
            Who::Fn(_) => write!(f, " [{}]{}", r.chain, InTask(r.task))?,
        }
        if r.stalled {
            f.write_str("; reported as a stall while it ran")?;
        }
        Ok(())
    }
}

/// A poll the watchdog found still blocking its thread.
pub(crate) struct Stall {
    /// The innermost instrumented fn on the blocked thread's stack, if any.
    pub(crate) culprit: Option<&'static CallSite>,
    pub(crate) task: Option<(u64, &'static std::panic::Location<'static>)>,
    pub(crate) chain: String,
    pub(crate) thread: String,
    pub(crate) blocked: Duration,
    pub(crate) threshold: Duration,
    pub(crate) kind: &'static str,
    /// 1 for the first report of this stall, 2+ for escalations.
    pub(crate) nth: u32,
}

/// Reports a poll that is still running past the threshold (rate limited with the slow polls
/// of the same fn, and per report: once, then at growing intervals).
pub(crate) fn stall(s: &Stall) {
    crate::report::record_stall(s);
    let location = s
        .culprit
        .and_then(CallSite::location)
        .or_else(|| s.task.map(|(_, at)| Location::from(at)));
    let who = s.who();

    event!(target: targets::STALL, Level::WARN,
        { FN } = s.culprit.map(CallSite::name),
        { TASK } = s.task.map(|(id, _)| id),
        { SPAWNED_AT } = s.task.map(|(_, at)| display(Location::from(at))),
        { LOCATION } = location.map(display),
        { CHAIN } = %s.chain,
        { THREAD } = %s.thread,
        { BLOCKED_FOR } = %Dur(s.blocked),
        { THRESHOLD } = %Dur(s.threshold),
        { KIND } = %s.kind,
        { REPORT } = s.nth,
        "{} {} thread {} for {}{}{}{}{}",
        who,
        if s.nth == 1 { "has been blocking" } else { "is still blocking" },
        s.thread,
        Dur(s.blocked),
        KindSuffix(s.kind),
        location.map_or(String::new(), |l| format!(" at {l}")),
        if s.chain.is_empty() { String::new() } else { format!(" [{}]", s.chain) },
        if s.nth == 1 { "; it is still running" } else { "" },
    );
}

impl Stall {
    fn who(&self) -> String {
        match (self.culprit, self.task) {
            (Some(cs), _) => cs.name().to_owned(),
            (None, Some((id, _))) => format!("task {id}"),
            (None, None) => "a poll".to_owned(),
        }
    }
}

/// What a stalled thread is blocked in: its system call and native stack, read without
/// interrupting it (`stacks` feature, Linux), as a follow-up line of the stall report.
#[cfg(all(feature = "stacks", target_os = "linux"))]
pub(crate) fn stall_stack(s: &Stall, b: &crate::stacks::Blocked) {
    let stack: String = b.frames.iter().map(|f| format!("\n    {f}")).collect();
    event!(target: targets::STALL, Level::WARN,
        { FN } = s.culprit.map(CallSite::name),
        { TASK } = s.task.map(|(id, _)| id),
        { THREAD } = %s.thread,
        { KIND } = %s.kind,
        { SYSCALL } = %b.syscall,
        { STACK } = format!("(approximate, innermost first):{stack}").as_str(),
        "{} was blocked in `{}` ({}){} when reported",
        s.who(),
        b.syscall,
        crate::stacks::syscall_hint(&b.syscall),
        b.user_frame.as_ref().map_or(String::new(), |f| format!(" called from {f}")),
    );
}

/// Reports that a task waited `delay` between being woken and being polled: the time every
/// other task suffers while one poll blocks their worker. `task` is `None` for the heartbeat
/// probe, which measures how late a timer fired instead.
#[cfg(feature = "tokio")]
pub(crate) fn lag(
    task: Option<(u64, &'static std::panic::Location<'static>)>,
    delay: Duration,
    threshold: Duration,
) {
    let suppressed = match LAG_LIMITER.check(now_ms(), crate::config::warnings_per_second()) {
        Verdict::Suppress => return,
        Verdict::Emit { suppressed_before } => suppressed_before,
    };
    let spawned_at = task.map(|(_, at)| display(Location::from(at)));
    event!(target: targets::LAG, Level::WARN,
        { TASK } = task.map(|(id, _)| id),
        { SPAWNED_AT } = spawned_at,
        { DELAY } = %Dur(delay),
        { THRESHOLD } = %Dur(threshold),
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}{}",
        LagMessage(task, delay),
        SuppressedSuffix(suppressed),
    );
}

#[cfg(feature = "tokio")]
struct LagMessage(
    Option<(u64, &'static std::panic::Location<'static>)>,
    Duration,
);
#[cfg(feature = "tokio")]
impl fmt::Display for LagMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((id, at)) => write!(
                f,
                "task {id} (spawned at {}) waited {} to be polled: a poll on its worker kept it from running",
                Location::from(at),
                Dur(self.1)
            ),
            None => write!(
                f,
                "the executor ran a ready task {} late: a poll blocked its worker, or the workers \
                 had more ready work than they could run",
                Dur(self.1)
            ),
        }
    }
}

struct InTask(Option<(u64, &'static std::panic::Location<'static>)>);
impl fmt::Display for InTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((id, at)) => write!(f, " in task {id} spawned at {}", Location::from(at)),
            None => Ok(()),
        }
    }
}

struct CallsSuffix(u32);
impl fmt::Display for CallsSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 | 1 => Ok(()),
            n => write!(f, " ({n} calls)"),
        }
    }
}

struct KindSuffix(&'static str);
impl fmt::Display for KindSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            "unknown" => Ok(()),
            kind => write!(f, " ({kind})"),
        }
    }
}

struct SuppressedSuffix(u64);
impl fmt::Display for SuppressedSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, "; suppressed {n} slow polls of this fn before this one"),
        }
    }
}

pub(crate) fn cancelled(
    cs: &CallSite,
    created_at: &'static std::panic::Location<'static>,
    elapsed: Option<Duration>,
    busy: Duration,
    polls: u64,
    debug: bool,
) {
    let level = if debug { Level::INFO } else { Level::DEBUG };
    let created_at = Location::from(created_at);
    let elapsed = elapsed.map(Dur);
    event_at!(level, target: targets::CANCELLED,
        { FN } = cs.name(),
        { CREATED_AT } = %created_at,
        { ELAPSED } = elapsed.map(tracing::field::display),
        { BUSY } = %Dur(busy),
        { POLLS } = polls,
        "{} was cancelled after {}{} ({} poll{})",
        cs.name(),
        elapsed.map_or(String::new(), |e| e.to_string()),
        if elapsed.is_none() { "?" } else { "" },
        polls,
        if polls == 1 { "" } else { "s" },
    );
}

pub(crate) fn never_polled(
    cs: &CallSite,
    created_at: &'static std::panic::Location<'static>,
    debug: bool,
) {
    let level = if debug { Level::WARN } else { Level::DEBUG };
    let created_at = Location::from(created_at);
    event_at!(level, target: targets::NEVER_POLLED,
        { FN } = cs.name(),
        { CREATED_AT } = %created_at,
        "{} was dropped without ever being polled (created at {}); was an `.await` forgotten?",
        cs.name(),
        created_at,
    );
}

pub(crate) fn panicked(cs: &CallSite, elapsed: Option<Duration>, polls: u64) {
    let elapsed = elapsed.map(Dur);
    event!(target: targets::PANICKED, Level::ERROR,
        { FN } = cs.name(),
        { ELAPSED } = elapsed.map(tracing::field::display),
        { POLLS } = polls,
        "{} panicked in poll {}{}",
        cs.name(),
        polls,
        elapsed.map_or(String::new(), |e| format!(", {e} after it started")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_readable_units() {
        let cases = [
            (Duration::from_nanos(850), "850ns"),
            (Duration::from_nanos(12_340), "12.3µs"),
            (Duration::from_micros(523_149), "523.1ms"),
            (Duration::from_millis(1204), "1.204s"),
            (Duration::from_secs(90), "90.000s"),
        ];
        for (d, s) in cases {
            assert_eq!(Dur(d).to_string(), s);
        }
    }
}
