//! The plain data every layer shares: what a detector found, handed to the dispatcher, stored,
//! called back and logged. Nothing here does anything; everything above reads it.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::site::CallSite;
use crate::util::{Dur, FileLine};

/// What a blocked thread was doing, from its CPU clock and scheduler state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) enum Kind {
    /// No watchdog sampled the poll.
    #[default]
    Unknown,
    /// On CPU (or runnable, waiting for a CPU) nearly all the time.
    CpuBound,
    /// Asleep nearly all the time: a sleep, a lock, synchronous I/O.
    Blocking,
    /// Both, alternating.
    Mixed,
}

impl Kind {
    /// The name used in events, reports and the callback: `cpu-bound`, `blocking`, `mixed`,
    /// `unknown`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Kind::Unknown => "unknown",
            Kind::CpuBound => "cpu-bound",
            Kind::Blocking => "blocking",
            Kind::Mixed => "mixed",
        }
    }

    /// For an atomic.
    pub(crate) const fn to_u8(self) -> u8 {
        match self {
            Kind::Unknown => 0,
            Kind::CpuBound => 1,
            Kind::Blocking => 2,
            Kind::Mixed => 3,
        }
    }

    pub(crate) const fn from_u8(v: u8) -> Kind {
        match v {
            1 => Kind::CpuBound,
            2 => Kind::Blocking,
            3 => Kind::Mixed,
            _ => Kind::Unknown,
        }
    }

    pub(crate) fn is_known(self) -> bool {
        self != Kind::Unknown
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Tokio task, as the runtime's hooks see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskRef {
    pub(crate) id: u64,
    pub(crate) spawned_at: &'static Location<'static>,
}

impl TaskRef {
    pub(crate) fn spawned_at(&self) -> FileLine {
        self.spawned_at.into()
    }
}

/// What a frame is a poll of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Who {
    /// A future of an `#[async_timed]` fn.
    Fn(&'static CallSite),
    /// A whole Tokio task, timed by the runtime's poll hooks (only with `--cfg tokio_unstable`,
    /// the one build that makes these; every other build still reads them).
    #[cfg_attr(not(tokio_unstable), allow(dead_code))]
    Task(TaskRef),
}

impl Who {
    /// The same fn (same call site) or the same task.
    pub(crate) fn same(&self, other: &Who) -> bool {
        match (self, other) {
            (Who::Fn(a), Who::Fn(b)) => std::ptr::eq(*a, *b),
            (Who::Task(a), Who::Task(b)) => a.id == b.id,
            _ => false,
        }
    }

    pub(crate) fn fn_site(&self) -> Option<&'static CallSite> {
        match self {
            Who::Fn(cs) => Some(cs),
            Who::Task(_) => None,
        }
    }

    pub(crate) fn task(&self) -> Option<TaskRef> {
        match self {
            Who::Fn(_) => None,
            Who::Task(t) => Some(*t),
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Fn(cs) => f.write_str(cs.name()),
            Who::Task(t) => write!(f, "task {}", t.id),
        }
    }
}

/// One link of a [`Chain`]: a frame, or the frames too deep to track.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ChainLink {
    Frame(Who),
    Elided,
}

impl fmt::Display for ChainLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainLink::Frame(who) => who.fmt(f),
            ChainLink::Elided => f.write_str("…"),
        }
    }
}

/// The async call chain from the outermost instrumented fn to the culprit, outermost first. The
/// task a poll belongs to is reported separately, so it appears here only when it is the culprit
/// itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chain(Vec<ChainLink>);

impl Chain {
    pub(crate) fn new(links: Vec<ChainLink>) -> Self {
        Chain(links)
    }

    /// The links shown: fns, or the task when there is nothing else.
    pub(crate) fn links(&self) -> impl Iterator<Item = ChainLink> + '_ {
        let only_task = self
            .0
            .iter()
            .all(|l| matches!(l, ChainLink::Frame(Who::Task(_))));
        self.0
            .iter()
            .copied()
            .filter(move |l| only_task || !matches!(l, ChainLink::Frame(Who::Task(_))))
    }

    /// The shown links' names, for reports.
    pub(crate) fn names(&self) -> Vec<String> {
        self.links().map(|l| l.to_string()).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.links().next().is_none()
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, link) in self.links().enumerate() {
            if i > 0 {
                f.write_str(" > ")?;
            }
            link.fmt(f)?;
        }
        Ok(())
    }
}

/// One poll that blocked its thread for at least a threshold.
#[derive(Debug)]
pub(crate) struct SlowPoll {
    /// The fn (or, when no instrumented fn did the work, the task) with the most self time.
    pub(crate) culprit: Who,
    /// The task being polled, when the runtime's hooks saw the poll.
    pub(crate) task: Option<TaskRef>,
    /// How many calls of the culprit's fn shared its self time in this poll.
    pub(crate) calls: u32,
    /// Where the culprit's (first) future was created.
    pub(crate) created_at: &'static Location<'static>,
    /// Which poll of the culprit's future this was (1-based; 0 for a task).
    pub(crate) poll: u64,
    /// Outermost frame to culprit.
    pub(crate) chain: Chain,
    /// How long the outermost poll kept the thread.
    pub(crate) blocked: Duration,
    /// The culprit fn's own share of it, summed over its `calls`.
    pub(crate) self_time: Duration,
    /// The threshold that was exceeded (the smallest, if several frames exceeded theirs).
    pub(crate) threshold: Duration,
    /// What the watchdog found while the poll ran, if it sampled it.
    pub(crate) kind: Kind,
    /// The watchdog already reported this poll as a stall while it ran.
    pub(crate) stalled: bool,
}

impl SlowPoll {
    /// Where the culprit is defined: the fn's `file:line`; for a task, where it was spawned.
    pub(crate) fn location(&self) -> FileLine {
        match self.culprit {
            Who::Fn(cs) => cs.location().unwrap_or_else(|| self.created_at.into()),
            Who::Task(t) => t.spawned_at(),
        }
    }
}

/// A poll the watchdog found still blocking its thread.
#[derive(Clone, Debug)]
pub(crate) struct Stall {
    /// The innermost instrumented fn on the blocked thread's stack, if any.
    pub(crate) culprit: Option<&'static CallSite>,
    pub(crate) task: Option<TaskRef>,
    pub(crate) chain: Chain,
    pub(crate) thread: String,
    pub(crate) blocked: Duration,
    pub(crate) threshold: Duration,
    pub(crate) kind: Kind,
    /// 1 for the first report of this stall, 2+ for escalations.
    pub(crate) nth: u32,
}

impl Stall {
    /// The fn's `file:line`, or where the task was spawned.
    pub(crate) fn location(&self) -> Option<FileLine> {
        self.culprit
            .and_then(CallSite::location)
            .or_else(|| self.task.map(|t| t.spawned_at()))
    }

    /// The fn's name, `task <id>`, or `a poll`.
    pub(crate) fn who(&self) -> String {
        match (self.culprit, self.task) {
            (Some(cs), _) => cs.name().to_owned(),
            (None, Some(t)) => format!("task {}", t.id),
            (None, None) => "a poll".to_owned(),
        }
    }
}

/// What a blocked thread is doing, read from its native stack.
#[cfg(all(feature = "stacks", target_os = "linux"))]
#[derive(Debug)]
pub(crate) struct Blocked {
    /// The system call, e.g. `futex` (a lock or condvar wait), `clock_nanosleep`, `read`.
    pub(crate) syscall: String,
    /// Innermost first: `function (file:line)`.
    pub(crate) frames: Vec<String>,
    /// The innermost frame in the user's own code (not std, not a dependency).
    pub(crate) user_frame: Option<String>,
}

#[cfg(all(feature = "stacks", target_os = "linux"))]
impl Blocked {
    /// What the syscall usually means for an async program.
    pub(crate) fn hint(&self) -> &'static str {
        match self.syscall.as_str() {
            "futex" => "a lock or condition wait",
            "nanosleep" | "clock_nanosleep" => "a sleep",
            "read" | "pread64" | "recvfrom" | "recvmsg" | "write" | "pwrite64" | "fsync"
            | "openat" => "synchronous I/O",
            "connect" | "accept" | "accept4" => "synchronous networking",
            "poll" | "ppoll" | "select" | "pselect6" | "epoll_wait" | "epoll_pwait" => {
                "waiting on file descriptors"
            }
            "wait4" => "waiting for a child process",
            _ => "a blocking system call",
        }
    }
}

/// What a culprit did since its last line, in one line: the digest of a chronic blocker.
#[derive(Clone, Debug)]
pub(crate) struct Digest {
    pub(crate) fn_name: Option<&'static str>,
    /// The fn's `file:line`.
    pub(crate) location: Option<FileLine>,
    /// Where the un-annotated task was spawned.
    pub(crate) spawned_at: Option<FileLine>,
    /// A digest of lag alone, which no culprit explains.
    pub(crate) lag_only: bool,
    /// Slow polls and stall reports not printed since the last line.
    pub(crate) slow_polls: u64,
    pub(crate) stalls: u64,
    /// Median and longest of those slow polls.
    pub(crate) p50: Option<Duration>,
    pub(crate) max: Option<Duration>,
    /// The longest lag seen right after this culprit blocked (or, `lag_only`, at all).
    pub(crate) lag_max: Option<Duration>,
    /// Since the last line about this culprit.
    pub(crate) window: Duration,
}

/// A report to make on another thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Where reports about a thread are made when they are made elsewhere: a `#[pollwatch::test]`
/// routes the watchdog's reports about its threads to a thread of its own, started from the
/// test, so they land in that test's captured output and not in another test's.
#[derive(Clone, Debug)]
pub(crate) struct Route(std::sync::mpsc::Sender<Option<Job>>);

impl Route {
    /// A route to the thread receiving from `tx` (a `#[pollwatch::test]`'s printer).
    #[cfg(feature = "tokio")]
    pub(crate) fn new(tx: std::sync::mpsc::Sender<Option<Job>>) -> Self {
        Route(tx)
    }

    /// Runs `job` where `route` says, or here without one.
    pub(crate) fn run_or_here(route: Option<&Route>, job: impl FnOnce() + Send + 'static) {
        match route {
            Some(route) => route.run(Box::new(job)),
            None => job(),
        }
    }

    /// Runs `job` on the route's thread. Once that thread has stopped (its test is over), the
    /// report is dropped rather than made in another test's output: only a late follow-up (a
    /// stall's native stack) can arrive then, and the stall itself is stored for the report.
    pub(crate) fn run(&self, job: Job) {
        let _ = self.0.send(Some(job));
    }
}

/// One slow poll, as handed to [`Config::on_slow_poll`](crate::Config::on_slow_poll).
///
/// Its `Display` is the warning's message.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let slow_ms = Arc::new(AtomicU64::new(0));
/// let total = slow_ms.clone();
/// pollwatch::Config::default()
///     .on_slow_poll(move |info| {
///         total.fetch_add(info.duration().as_millis() as u64, Ordering::Relaxed);
///         eprintln!("{} (kind: {}, chain: {})", info.name(), info.kind(), info.chain());
///     })
///     .apply();
/// ```
pub struct SlowPollInfo<'a> {
    slow: &'a SlowPoll,
}

impl<'a> SlowPollInfo<'a> {
    pub(crate) fn new(slow: &'a SlowPoll) -> Self {
        SlowPollInfo { slow }
    }
}

impl SlowPollInfo<'_> {
    /// The instrumented fn to blame, or `None` when an un-annotated task did the work (see
    /// [`task_id`](Self::task_id)).
    pub fn fn_name(&self) -> Option<&'static str> {
        self.slow.culprit.fn_site().map(CallSite::name)
    }

    /// The fn name, or `task <id>` for an un-annotated task.
    pub fn name(&self) -> String {
        self.slow.culprit.to_string()
    }

    /// The Tokio task the poll belonged to, when the runtime's poll hooks saw it
    /// (`--cfg tokio_unstable` and a runtime from [`Builder`](crate::Builder)).
    pub fn task_id(&self) -> Option<u64> {
        self.slow.task.map(|t| t.id)
    }

    /// Where that task was spawned.
    pub fn spawned_at(&self) -> Option<&'static Location<'static>> {
        self.slow.task.map(|t| t.spawned_at)
    }

    /// `file:line` of the culprit: the fn's definition, or the task's spawn location.
    pub fn location(&self) -> String {
        self.slow.location().to_string()
    }

    /// Where the culprit's future was created.
    pub fn created_at(&self) -> &'static Location<'static> {
        self.slow.created_at
    }

    /// How long the poll kept its thread.
    pub fn duration(&self) -> Duration {
        self.slow.blocked
    }

    /// The culprit's own share of [`duration`](Self::duration), over its [`calls`](Self::calls).
    pub fn self_time(&self) -> Duration {
        self.slow.self_time
    }

    /// How many calls of the culprit fn ran in this one poll.
    pub fn calls(&self) -> u32 {
        self.slow.calls
    }

    /// The threshold that was exceeded.
    pub fn threshold(&self) -> Duration {
        self.slow.threshold
    }

    /// Which poll of the culprit's future it was (1-based); `None` for a task.
    pub fn poll(&self) -> Option<u64> {
        (self.slow.poll != 0).then_some(self.slow.poll)
    }

    /// `cpu-bound`, `blocking`, `mixed`, or `unknown` when no watchdog sampled the poll.
    pub fn kind(&self) -> &'static str {
        self.slow.kind.as_str()
    }

    /// The async call chain, outermost first: `main > handler > cpu_bound_task`.
    pub fn chain(&self) -> String {
        self.slow.chain.to_string()
    }
}

impl fmt::Debug for SlowPollInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlowPollInfo")
            .field("name", &self.name())
            .field("task_id", &self.task_id())
            .field("location", &self.location())
            .field("duration", &self.duration())
            .field("self_time", &self.self_time())
            .field("chain", &self.chain())
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SlowPollInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} blocked the executor for {} at {} [{}]",
            self.slow.culprit,
            Dur(self.duration()),
            self.location(),
            self.chain()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_u8_and_name() {
        for k in [Kind::Unknown, Kind::CpuBound, Kind::Blocking, Kind::Mixed] {
            assert_eq!(Kind::from_u8(k.to_u8()), k);
        }
        assert_eq!(Kind::CpuBound.to_string(), "cpu-bound");
        assert_eq!(Kind::from_u8(200), Kind::Unknown);
    }

    #[test]
    fn a_chain_shows_the_task_only_when_it_is_alone() {
        let task = ChainLink::Frame(Who::Task(TaskRef {
            id: 7,
            spawned_at: Location::caller(),
        }));
        assert_eq!(Chain::new(vec![task]).to_string(), "task 7");
        assert_eq!(Chain::new(vec![task]).names(), ["task 7"]);
        assert!(Chain::default().is_empty());
        assert_eq!(
            Chain::new(vec![task, ChainLink::Elided]).to_string(),
            "…",
            "the task is reported apart from the fns"
        );
    }
}
