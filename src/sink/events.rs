//! The only place that emits tracing events: each fn here turns one record into one event.
//! The fan-out (counters, stored records, callback, rate limits) happened before, in
//! `crate::dispatch`; targets and field names come from `names.rs`.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use tracing::{Level, event};

use super::last_resort;
use super::names::{fields::*, targets};
#[cfg(all(feature = "stacks", target_os = "linux"))]
use crate::record::Blocked;
use crate::record::{Chain, Digest, Kind, SlowPoll, Stall, TaskRef, Who};
use crate::site::CallSite;
use crate::util::{Dur, FileLine};

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
    use crate::site::{Finished, Values};
    use crate::util::Dur;
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

/// A slow poll, as a `WARN` (`ERROR` in strict mode) event; `suppressed`: how many lines the
/// global cap held back before this one.
pub(crate) fn slow_poll(slow: &SlowPoll, strict: bool, suppressed: u64) {
    let level = if strict { Level::ERROR } else { Level::WARN };
    let location = slow.location();
    let created_at = FileLine::from(slow.created_at);
    let message = Both(Headline { slow, location }, SuppressedSuffix(suppressed));
    let recorded = if strict {
        tracing::enabled!(target: targets::SLOW_POLL, Level::ERROR)
    } else {
        tracing::enabled!(target: targets::SLOW_POLL, Level::WARN)
    };
    event_at!(level, target: targets::SLOW_POLL,
        { FN } = slow.culprit.fn_site().map(CallSite::name),
        { TASK } = slow.task.map(|t| t.id),
        { SPAWNED_AT } = slow.task.map(|t| display(t.spawned_at())),
        { LOCATION } = %location,
        { CREATED_AT } = %created_at,
        { DURATION } = %Dur(slow.blocked),
        { SELF_TIME } = %Dur(slow.self_time),
        { THRESHOLD } = %Dur(slow.threshold),
        { CHAIN } = (!slow.chain.is_empty()).then(|| display(&slow.chain)),
        { POLL } = (slow.poll != 0).then_some(slow.poll),
        { CALLS } = slow.calls,
        { KIND } = %slow.kind,
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}",
        message,
    );
    last_resort::unless_recorded(recorded, level, targets::SLOW_POLL, &message, None);
}

/// Two messages, one after the other.
struct Both<A, B>(A, B);

impl<A: fmt::Display, B: fmt::Display> fmt::Display for Both<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

/// `f (3 calls) blocked the executor for 606.1ms (cpu-bound) at src/x.rs:4 [main > f] in task 7
/// spawned at src/main.rs:20`, or for an un-annotated task `task 7 blocked the executor for
/// 300.2ms at src/main.rs:20 (where it was spawned)`.
struct Headline<'a> {
    slow: &'a SlowPoll,
    location: FileLine,
}

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.slow;
        write!(
            f,
            "{}{} blocked the executor for {}{} at {}",
            r.culprit,
            CallsSuffix(r.calls),
            Dur(r.blocked),
            KindSuffix(r.kind),
            self.location
        )?;
        match r.culprit {
            Who::Task(_) => f.write_str(" (where it was spawned)")?,
            Who::Fn(_) => write!(f, "{}{}", ChainSuffix(&r.chain), InTask(r.task))?,
        }
        if r.stalled {
            f.write_str("; reported as a stall while it ran")?;
        }
        Ok(())
    }
}

/// A poll that is still running past the threshold, as a `WARN` event.
pub(crate) fn stall(s: &Stall, suppressed: u64) {
    let location = s.location();
    let message = Both(StallMessage { s, location }, SuppressedSuffix(suppressed));
    let recorded = tracing::enabled!(target: targets::STALL, Level::WARN);
    event!(target: targets::STALL, Level::WARN,
        { FN } = s.culprit.map(CallSite::name),
        { TASK } = s.task.map(|t| t.id),
        { SPAWNED_AT } = s.task.map(|t| display(t.spawned_at())),
        { LOCATION } = location.map(display),
        { CHAIN } = (!s.chain.is_empty()).then(|| display(&s.chain)),
        { THREAD } = %s.thread,
        { BLOCKED_FOR } = %Dur(s.blocked),
        { THRESHOLD } = %Dur(s.threshold),
        { KIND } = %s.kind,
        { REPORT } = s.nth,
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}",
        message,
    );
    last_resort::unless_recorded(recorded, Level::WARN, targets::STALL, &message, None);
}

/// `crunch has been blocking thread main for 100.5ms (cpu-bound) at src/x.rs:17 [main > crunch];
/// it is still running`.
struct StallMessage<'a> {
    s: &'a Stall,
    location: Option<FileLine>,
}

impl fmt::Display for StallMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.s;
        write!(
            f,
            "{} {} thread {} for {}{}",
            s.who(),
            if s.nth == 1 {
                "has been blocking"
            } else {
                "is still blocking"
            },
            s.thread,
            Dur(s.blocked),
            KindSuffix(s.kind),
        )?;
        if let Some(l) = self.location {
            write!(f, " at {l}")?;
        }
        write!(f, "{}", ChainSuffix(&s.chain))?;
        if s.nth == 1 {
            f.write_str("; it is still running")?;
        }
        Ok(())
    }
}

/// What a stalled thread is blocked in: its system call and native stack, read without
/// interrupting it (`stacks` feature, Linux), as a follow-up line of the stall report.
#[cfg(all(feature = "stacks", target_os = "linux"))]
pub(crate) fn stall_stack(s: &Stall, b: &Blocked, suppressed: u64) {
    let stack: String = b.frames.iter().map(|f| format!("\n    {f}")).collect();
    let stack = format!("(approximate, innermost first):{stack}");
    let message = Both(StackMessage { s, b }, SuppressedSuffix(suppressed));
    let recorded = tracing::enabled!(target: targets::STALL, Level::WARN);
    event!(target: targets::STALL, Level::WARN,
        { FN } = s.culprit.map(CallSite::name),
        { TASK } = s.task.map(|t| t.id),
        { THREAD } = %s.thread,
        { KIND } = %s.kind,
        { SYSCALL } = %b.syscall,
        { STACK } = stack.as_str(),
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}",
        message,
    );
    let detail = format!("  native stack {stack}");
    last_resort::unless_recorded(
        recorded,
        Level::WARN,
        targets::STALL,
        &message,
        Some(&detail),
    );
}

/// `load_config was blocked in `futex` (a lock or condition wait) called from … when reported`.
#[cfg(all(feature = "stacks", target_os = "linux"))]
struct StackMessage<'a> {
    s: &'a Stall,
    b: &'a Blocked,
}

#[cfg(all(feature = "stacks", target_os = "linux"))]
impl fmt::Display for StackMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} was blocked in `{}` ({})",
            self.s.who(),
            self.b.syscall,
            self.b.hint()
        )?;
        if let Some(frame) = &self.b.user_frame {
            write!(f, " called from {frame}")?;
        }
        f.write_str(" when reported")
    }
}

/// A task waited `delay` between being woken and being polled: the time every other task
/// suffers while one poll blocks their worker. `task` is `None` for the heartbeat probe, which
/// measures how late a timer fired instead.
#[cfg(feature = "tokio")]
pub(crate) fn lag(task: Option<TaskRef>, delay: Duration, threshold: Duration, suppressed: u64) {
    let message = Both(LagMessage(task, delay), SuppressedSuffix(suppressed));
    let recorded = tracing::enabled!(target: targets::LAG, Level::WARN);
    event!(target: targets::LAG, Level::WARN,
        { TASK } = task.map(|t| t.id),
        { SPAWNED_AT } = task.map(|t| display(t.spawned_at())),
        { DELAY } = %Dur(delay),
        { THRESHOLD } = %Dur(threshold),
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}",
        message,
    );
    last_resort::unless_recorded(recorded, Level::WARN, targets::LAG, &message, None);
}

#[cfg(feature = "tokio")]
struct LagMessage(Option<TaskRef>, Duration);

#[cfg(feature = "tokio")]
impl fmt::Display for LagMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(
                f,
                "task {} (spawned at {}) waited {} to be polled: a poll on its worker kept it from running",
                t.id,
                t.spawned_at(),
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

/// ` [main > handler]`, or nothing for an empty chain.
struct ChainSuffix<'a>(&'a Chain);
impl fmt::Display for ChainSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, " [{}]", self.0)
        }
    }
}

struct InTask(Option<TaskRef>);
impl fmt::Display for InTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(f, " in task {} spawned at {}", t.id, t.spawned_at()),
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

struct KindSuffix(Kind);
impl fmt::Display for KindSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_known() {
            write!(f, " ({})", self.0)
        } else {
            Ok(())
        }
    }
}

struct SuppressedSuffix(u64);
impl fmt::Display for SuppressedSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            1 => f.write_str(" (1 pollwatch line held back before this one)"),
            n => write!(f, " ({n} pollwatch lines held back before this one)"),
        }
    }
}

/// What a culprit did since its last line, as one `WARN` line.
pub(crate) fn digest(d: &Digest, suppressed: u64) {
    let message = Both(DigestMessage(d), SuppressedSuffix(suppressed));
    let recorded = tracing::enabled!(target: targets::DIGEST, Level::WARN);
    event!(target: targets::DIGEST, Level::WARN,
        { FN } = d.fn_name,
        { LOCATION } = d.location.map(display),
        { SPAWNED_AT } = d.spawned_at.map(display),
        { COUNT } = d.slow_polls,
        { STALLS } = (d.stalls != 0).then_some(d.stalls),
        { P50 } = d.p50.map(|p| display(Dur(p))),
        { MAX } = d.max.map(|m| display(Dur(m))),
        { LAG_MAX } = d.lag_max.map(|l| display(Dur(l))),
        { WINDOW } = %Dur(d.window),
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}",
        message,
    );
    last_resort::unless_recorded(recorded, Level::WARN, targets::DIGEST, &message, None);
}

/// `Get::apply (src/cmd/get.rs:66) blocked the executor 37 more times in the last 10.0s, p50
/// 150.1ms, max 152.0ms; workers lagged up to 594.0ms`.
struct DigestMessage<'a>(&'a Digest);

impl fmt::Display for DigestMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let window = Dur(d.window);
        if d.lag_only {
            return write!(
                f,
                "the executor ran ready tasks late again in the last {window}, up to {}",
                Dur(d.lag_max.unwrap_or_default())
            );
        }
        let who = DigestWho(d);
        let times = |n: u64| if n == 1 { "time" } else { "times" };
        if d.slow_polls > 0 {
            write!(
                f,
                "{who} blocked the executor {} more {} in the last {window}",
                d.slow_polls,
                times(d.slow_polls)
            )?;
            if let (Some(p50), Some(max)) = (d.p50, d.max) {
                write!(f, ", p50 {}, max {}", Dur(p50), Dur(max))?;
            }
        } else if d.stalls > 0 {
            write!(
                f,
                "{who} was reported blocking the executor {} more {} in the last {window}",
                d.stalls,
                times(d.stalls)
            )?;
        } else {
            write!(f, "after {who} blocked the executor")?;
        }
        if let Some(lag) = d.lag_max {
            write!(f, "; workers lagged up to {}", Dur(lag))?;
        }
        Ok(())
    }
}

/// `Get::apply (src/cmd/get.rs:66)`, `a task spawned at src/server.rs:259`.
struct DigestWho<'a>(&'a Digest);

impl fmt::Display for DigestWho<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.fn_name, self.0.location, self.0.spawned_at) {
            (Some(name), Some(at), _) => write!(f, "{name} ({at})"),
            (Some(name), None, _) => f.write_str(name),
            (None, _, Some(at)) => write!(f, "a task spawned at {at}"),
            (None, _, None) => f.write_str("a poll"),
        }
    }
}

/// A call dropped after at least one poll, unfinished: at `level` (the fn's `cancelled`
/// option; `DEBUG` by default, as cancellation is routine in Rust: a timeout, a `select!` loser).
pub(crate) fn cancelled(
    cs: &CallSite,
    created_at: &'static Location<'static>,
    elapsed: Option<Duration>,
    busy: Duration,
    polls: u64,
    level: Level,
) {
    let created_at = FileLine::from(created_at);
    let elapsed = elapsed.map(Dur);
    event_at!(level, target: targets::CANCELLED,
        { FN } = cs.name(),
        { CREATED_AT } = %created_at,
        { ELAPSED } = elapsed.map(display),
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

/// A call dropped before its first poll: `WARN` in debug mode, else `DEBUG`.
pub(crate) fn never_polled(cs: &CallSite, created_at: &'static Location<'static>, debug: bool) {
    let level = if debug { Level::WARN } else { Level::DEBUG };
    let created_at = FileLine::from(created_at);
    let message = NeverPolled(cs.name(), created_at);
    event_at!(level, target: targets::NEVER_POLLED,
        { FN } = cs.name(),
        { CREATED_AT } = %created_at,
        "{}",
        message,
    );
    if debug {
        let recorded = tracing::enabled!(target: targets::NEVER_POLLED, Level::WARN);
        last_resort::unless_recorded(recorded, level, targets::NEVER_POLLED, &message, None);
    }
}

struct NeverPolled(&'static str, FileLine);
impl fmt::Display for NeverPolled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} was dropped without ever being polled (created at {}); was an `.await` forgotten?",
            self.0, self.1
        )
    }
}

/// A poll that panicked: `ERROR`.
pub(crate) fn panicked(cs: &CallSite, elapsed: Option<Duration>, polls: u64) {
    let elapsed = elapsed.map(Dur);
    let message = Panicked(cs.name(), polls, elapsed);
    event!(target: targets::PANICKED, Level::ERROR,
        { FN } = cs.name(),
        { ELAPSED } = elapsed.map(display),
        { POLLS } = polls,
        "{}",
        message,
    );
}

struct Panicked(&'static str, u64, Option<Dur>);
impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} panicked in poll {}", self.0, self.1)?;
        if let Some(e) = self.2 {
            write!(f, ", {e} after it started")?;
        }
        Ok(())
    }
}
