//! The only place that emits tracing events: each fn here turns one record into one event.
//! The fan-out (counters, stored records, callback, rate limits) happened before, in
//! `crate::dispatch`; targets and field names come from `names.rs`.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use tracing::{Level, event};

use super::last_resort;
use super::names::{fields::*, targets};
#[cfg(feature = "tokio")]
use crate::record::TaskRef;
use crate::record::{Blame, Digest, Kind, NativeStack, ShownChain, SlowPoll, Stall, Who};
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
pub(crate) fn slow_poll(slow: &SlowPoll, strict: bool, suppressed: u64, in_test: bool) {
    let level = if strict { Level::ERROR } else { Level::WARN };
    let location = slow.blame.location();
    let chain = slow.blame.shown_chain();
    let stack = slow.blame.stack.as_deref();
    let message = Both(Headline { slow }, SuppressedSuffix(suppressed));
    let recorded = if strict {
        tracing::enabled!(target: targets::SLOW_POLL, Level::ERROR)
    } else {
        tracing::enabled!(target: targets::SLOW_POLL, Level::WARN)
    };
    event_at!(level, target: targets::SLOW_POLL,
        { FN } = slow.blame.fn_name(),
        { TASK } = slow.blame.task.map(|t| t.id),
        { SPAWNED_AT } = slow.blame.task.map(|t| display(t.spawned_at())),
        { LOCATION } = location,
        { CREATED_AT } = slow.blame.created_at.map(|c| display(FileLine::from(c))),
        { DURATION } = %Dur(slow.blocked),
        { SELF_TIME } = %Dur(slow.self_time),
        { THRESHOLD } = %Dur(slow.threshold),
        { CHAIN } = (!chain.is_empty()).then(|| display(chain)),
        { POLL } = (slow.poll != 0).then_some(slow.poll),
        { CALLS } = slow.calls,
        { KIND } = %slow.kind,
        { SYSCALL } = stack.and_then(|b| b.syscall.as_deref()),
        { THREAD } = slow.thread.as_deref(),
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}",
        message,
    );
    last_resort::unless_recorded(in_test, recorded, level, targets::SLOW_POLL, &message, None);
}

/// A slow poll's message, as its event says it (for other sinks).
#[cfg(feature = "otel")]
pub(crate) fn slow_poll_message(slow: &SlowPoll) -> String {
    Headline { slow }.to_string()
}

/// A stall's message, as its event says it (for other sinks).
#[cfg(feature = "otel")]
pub(crate) fn stall_message(s: &Stall) -> String {
    StallMessage { s }.to_string()
}

/// Two messages, one after the other.
struct Both<A, B>(A, B);

impl<A: fmt::Display, B: fmt::Display> fmt::Display for Both<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

/// `f (3 calls) blocked the executor for 606.1ms (cpu-bound) at src/x.rs:4 [main > f] in task 7
/// spawned at src/main.rs:20`; named from the stack, `Get::apply blocked the executor for
/// 154.0ms (blocking: clock_nanosleep) at src/cmd/get.rs:66 [Handler::run > Get::apply] in task
/// 5 spawned at src/server.rs:259`; with nothing but a task, `task 7 blocked the executor for
/// 300.2ms at src/main.rs:20 (where it was spawned)`.
struct Headline<'a> {
    slow: &'a SlowPoll,
}

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.slow;
        let stack = r.blame.stack.as_deref();
        write!(
            f,
            "{}{} blocked the executor for {}{}{}",
            r.blame.name(),
            CallsSuffix(r.calls),
            if matches!(r.blame.culprit, Who::Untracked) {
                "about "
            } else {
                ""
            },
            Dur(r.blocked),
            KindSuffix(r.kind, stack),
        )?;
        write!(f, "{}", Blamed(&r.blame))?;
        match (r.blame.task, &r.thread) {
            // Named when the report was made off the thread: a worker the watchdog found
            // asleep, or a poll whose report waited for its stack.
            (None, Some(thread)) if r.blame.culprit.fn_site().is_none() => {
                write!(f, " on worker thread {thread}")?;
            }
            (None, Some(thread)) => write!(f, " on thread {thread}")?,
            _ => {}
        }
        if r.stalled {
            f.write_str("; reported as a stall while it ran")?;
        }
        Ok(())
    }
}

/// What a slow poll's and a stall's messages say of whom they blame, after the duration: the
/// place, the chain and the task, ` at src/x.rs:4 [main > f] in task 7 spawned at
/// src/main.rs:20`.
struct Blamed<'a>(&'a Blame);

impl fmt::Display for Blamed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blame = self.0;
        write!(f, "{}", Place(blame))?;
        if !blame.at_spawn_site() || matches!(blame.shown_chain(), ShownChain::Stack(_)) {
            write!(f, "{}", ChainSuffix(blame.shown_chain()))?;
        }
        if let Some(t) = blame.task.filter(|_| !blame.at_spawn_site()) {
            write!(f, " in task {} spawned at {}", t.id, t.spawned_at())?;
        }
        Ok(())
    }
}

/// ` at src/cmd/get.rs:66`, ` at src/x.rs:12 (in read_file)` when the stack's line is in
/// another fn than the annotated one, ` at src/main.rs:20 (where it was spawned)`.
struct Place<'a>(&'a Blame);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blame = self.0;
        let stack = blame.stack.as_deref();
        let Some(location) = blame.location() else {
            // No frame of the user's: a release build's handler inlined into a framework.
            if let Some(into) = stack.and_then(|b| b.inlined_into.as_deref()) {
                write!(f, " in code inlined into {into}")?;
            }
            return Ok(());
        };
        write!(f, " at {location}")?;
        if blame.at_spawn_site() {
            return f.write_str(" (where it was spawned)");
        }
        let leaf = stack.and_then(|b| b.culprit.as_ref());
        match (blame.culprit.fn_site().map(CallSite::name), leaf) {
            (Some(name), Some(leaf)) if leaf.name != name => write!(f, " (in {})", leaf.name),
            _ => Ok(()),
        }
    }
}

/// A poll that is still running past the threshold, as a `WARN` event, with the native stack
/// (the first report) as its `stack` field and, printed as a last resort, below it.
pub(crate) fn stall(s: &Stall, suppressed: u64, in_test: bool) {
    let location = s.blame.location();
    let chain = s.blame.shown_chain();
    let stack = s.blame.stack.as_deref();
    // The stack block once; reminders name the same line.
    let stack_text = stack.filter(|_| s.nth == 1).map(NativeStack::text);
    let message = Both(StallMessage { s }, SuppressedSuffix(suppressed));
    let recorded = tracing::enabled!(target: targets::STALL, Level::WARN);
    event!(target: targets::STALL, Level::WARN,
        { FN } = s.blame.fn_name(),
        { TASK } = s.blame.task.map(|t| t.id),
        { SPAWNED_AT } = s.blame.task.map(|t| display(t.spawned_at())),
        { LOCATION } = location,
        { CHAIN } = (!chain.is_empty()).then(|| display(chain)),
        { THREAD } = %s.thread,
        { BLOCKED_FOR } = %Dur(s.blocked),
        { THRESHOLD } = %Dur(s.threshold),
        { KIND } = %s.kind,
        { SYSCALL } = stack.and_then(|b| b.syscall.as_deref()),
        { STACK } = stack_text.as_deref(),
        { REPORT } = s.nth,
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}",
        message,
    );
    let detail = stack_text.map(|t| format!("  {t}"));
    last_resort::unless_recorded(
        in_test,
        recorded,
        Level::WARN,
        targets::STALL,
        &message,
        detail.as_deref(),
    );
}

/// `crunch has been blocking thread main for 100.5ms (cpu-bound) at src/x.rs:17 [main > crunch];
/// it is still running`.
struct StallMessage<'a> {
    s: &'a Stall,
}

impl fmt::Display for StallMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.s;
        let stack = s.blame.stack.as_deref();
        write!(
            f,
            "{} {} thread {} for {}{}{}",
            s.blame.name(),
            if s.nth == 1 {
                "has been blocking"
            } else {
                "is still blocking"
            },
            s.thread,
            Dur(s.blocked),
            KindSuffix(s.kind, stack),
            Blamed(&s.blame),
        )?;
        if s.nth == 1 {
            f.write_str("; it is still running")?;
        }
        Ok(())
    }
}

/// A native stack that missed the report it belongs to (symbolized after the stall was
/// reported, or read while an annotated fn's poll ended): a follow-up, with the fn, line and
/// chain the stack names.
pub(crate) fn stall_stack(s: &Stall, b: &Arc<NativeStack>, suppressed: u64, in_test: bool) {
    let named = Blame {
        stack: Some(b.clone()),
        ..s.blame.clone()
    };
    let text = b.text();
    let chain = named.shown_chain();
    let message = Both(
        StackMessage { blame: &named, b },
        SuppressedSuffix(suppressed),
    );
    let recorded = tracing::enabled!(target: targets::STALL, Level::WARN);
    event!(target: targets::STALL, Level::WARN,
        { FN } = named.fn_name(),
        { TASK } = s.blame.task.map(|t| t.id),
        { SPAWNED_AT } = s.blame.task.map(|t| display(t.spawned_at())),
        { LOCATION } = named.location(),
        { CHAIN } = (!chain.is_empty()).then(|| display(chain)),
        { THREAD } = %s.thread,
        { KIND } = %s.kind,
        { SYSCALL } = b.syscall.as_deref(),
        { STACK } = text.as_str(),
        { SUPPRESSED } = (suppressed != 0).then_some(suppressed),
        "{}",
        message,
    );
    let detail = format!("  {text}");
    last_resort::unless_recorded(
        in_test,
        recorded,
        Level::WARN,
        targets::STALL,
        &message,
        Some(&detail),
    );
}

/// `Get::apply was blocked in `clock_nanosleep` (a sleep) at src/cmd/get.rs:66 [Handler::run >
/// Get::apply] in task 5 when the watchdog looked`.
struct StackMessage<'a> {
    /// The stall's blame, with the stack `b`.
    blame: &'a Blame,
    b: &'a NativeStack,
}

impl fmt::Display for StackMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blame = self.blame;
        write!(f, "{} was ", blame.name())?;
        match &self.b.syscall {
            Some(call) => write!(f, "blocked in `{call}` ({})", self.b.hint())?,
            None => f.write_str("running")?,
        }
        write!(f, "{}", Place(blame))?;
        if !blame.at_spawn_site() {
            write!(f, "{}", ChainSuffix(blame.shown_chain()))?;
        }
        if let Some(t) = blame.task {
            write!(f, " in task {} spawned at {}", t.id, t.spawned_at())?;
        }
        f.write_str(" when the watchdog looked")
    }
}

/// One line about what pollwatch cannot do here (`INFO`, once per cause, printed as a last
/// resort when nothing records it).
pub(crate) fn notice(message: fmt::Arguments<'_>, in_test: bool) {
    let recorded = tracing::enabled!(target: targets::TIMED, Level::INFO);
    event!(target: targets::TIMED, Level::INFO, "{}", message);
    last_resort::unless_recorded(
        in_test,
        recorded,
        Level::INFO,
        targets::TIMED,
        &message,
        None,
    );
}

/// A task waited `delay` between being woken and being polled: the time every other task
/// suffers while one poll blocks their worker. `task` is `None` for the heartbeat probe, which
/// measures how late a timer fired instead.
#[cfg(feature = "tokio")]
pub(crate) fn lag(
    task: Option<TaskRef>,
    delay: Duration,
    threshold: Duration,
    suppressed: u64,
    in_test: bool,
) {
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
    last_resort::unless_recorded(in_test, recorded, Level::WARN, targets::LAG, &message, None);
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
struct ChainSuffix<'a>(ShownChain<'a>);
impl fmt::Display for ChainSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, " [{}]", self.0)
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

/// ` (cpu-bound)`, ` (blocking: clock_nanosleep)`, or nothing for an unknown kind.
struct KindSuffix<'a>(Kind, Option<&'a NativeStack>);
impl fmt::Display for KindSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let call = self.1.and_then(|b| b.syscall.as_deref());
        match (self.0.is_known(), call) {
            (true, Some(call)) => write!(f, " ({}: {call})", self.0),
            (true, None) => write!(f, " ({})", self.0),
            (false, Some(call)) => write!(f, " (in {call})"),
            (false, None) => Ok(()),
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
pub(crate) fn digest(d: &Digest, suppressed: u64, in_test: bool) {
    let message = Both(DigestMessage(d), SuppressedSuffix(suppressed));
    let recorded = tracing::enabled!(target: targets::DIGEST, Level::WARN);
    event!(target: targets::DIGEST, Level::WARN,
        { FN } = d.fn_name.as_deref(),
        { LOCATION } = d.location.as_deref(),
        { SPAWNED_AT } = d.spawned_at.as_deref(),
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
    last_resort::unless_recorded(
        in_test,
        recorded,
        Level::WARN,
        targets::DIGEST,
        &message,
        None,
    );
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
        let d = self.0;
        match (
            d.fn_name.as_deref(),
            d.location.as_deref(),
            d.spawned_at.as_deref(),
        ) {
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
pub(crate) fn never_polled(
    cs: &CallSite,
    created_at: &'static Location<'static>,
    debug: bool,
    in_test: bool,
) {
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
        last_resort::unless_recorded(
            in_test,
            recorded,
            level,
            targets::NEVER_POLLED,
            &message,
            None,
        );
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
