//! The plain data every layer shares: what a detector found, handed to the dispatcher, stored,
//! called back and logged. Nothing here does anything; everything above reads it.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::site::CallSite;
use crate::util::{Dur, FileLine};

/// What a blocked thread was doing, from its CPU clock and scheduler state: the kind of a slow
/// poll ([`SlowPollInfo::kind`]) or a stall. In events and reports it is written as
/// [`as_str`](Kind::as_str) gives it (`cpu-bound`, …), which [`from_name`](Kind::from_name)
/// reads back.
///
/// # Examples
///
/// ```
/// use pollwatch::Kind;
///
/// assert_eq!(Kind::CpuBound.to_string(), "cpu-bound");
/// assert_eq!(Kind::from_name("blocking"), Some(Kind::Blocking));
/// assert_eq!(Kind::default(), Kind::Unknown);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Kind {
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
    /// The name used in events and reports: `cpu-bound`, `blocking`, `mixed`, `unknown`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pollwatch::Kind::Blocking.as_str(), "blocking");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Unknown => "unknown",
            Kind::CpuBound => "cpu-bound",
            Kind::Blocking => "blocking",
            Kind::Mixed => "mixed",
        }
    }

    /// The kind named `name` as [`as_str`](Kind::as_str) writes it (a report's `kind` field),
    /// if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use pollwatch::Kind;
    ///
    /// assert_eq!(Kind::from_name("mixed"), Some(Kind::Mixed));
    /// assert_eq!(Kind::from_name("blocking: futex"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Kind> {
        [Kind::Unknown, Kind::CpuBound, Kind::Blocking, Kind::Mixed]
            .into_iter()
            .find(|k| k.as_str() == name)
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
    #[cfg_attr(not(pollwatch_task_hooks), allow(dead_code))]
    Task(TaskRef),
    /// A task on a runtime worker that no poll hook times (stable Tokio): the watchdog saw the
    /// worker held in one blocking system call; or a stall in neither a fn nor a task the
    /// hooks saw. Never a frame; only a culprit.
    Untracked,
}

impl Who {
    /// The fn, else the task, else [`Who::Untracked`]: whom a report blames.
    pub(crate) fn blamed(fn_site: Option<&'static CallSite>, task: Option<TaskRef>) -> Who {
        match (fn_site, task) {
            (Some(cs), _) => Who::Fn(cs),
            (None, Some(t)) => Who::Task(t),
            (None, None) => Who::Untracked,
        }
    }

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
            Who::Task(_) | Who::Untracked => None,
        }
    }

    pub(crate) fn task(&self) -> Option<TaskRef> {
        match self {
            Who::Task(t) => Some(*t),
            Who::Fn(_) | Who::Untracked => None,
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Fn(cs) => f.write_str(cs.name()),
            Who::Task(t) => write!(f, "task {}", t.id),
            Who::Untracked => f.write_str("a task"),
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

/// Who a blocked thread is blamed on, and where: what a slow poll and a stall share, so that
/// each sink says it the same way for both.
#[derive(Clone, Debug)]
pub(crate) struct Blame {
    /// The fn (annotated) to blame; else the task being polled; else [`Who::Untracked`]. For a
    /// slow poll, the fn with the most self time; for a stall, the innermost instrumented fn
    /// on the blocked thread's stack.
    pub(crate) culprit: Who,
    /// The task being polled, when the runtime's hooks saw the poll.
    pub(crate) task: Option<TaskRef>,
    /// Where the culprit's (first) future was created, when its frame was seen (a slow poll
    /// timed by its frames; never for [`Who::Untracked`] or a stall).
    pub(crate) created_at: Option<&'static Location<'static>>,
    /// Outermost frame to culprit.
    pub(crate) chain: Chain,
    /// The blocked thread's native stack, read by the watchdog while the poll ran.
    pub(crate) stack: Option<Arc<NativeStack>>,
}

impl Blame {
    /// Who is blamed: the annotated fn; else the fn the stack names; else `task <id>` or `a task`.
    pub(crate) fn name(&self) -> String {
        match (self.culprit, stack_culprit(self.stack.as_ref())) {
            (Who::Fn(cs), _) => cs.name().to_owned(),
            (_, Some(frame)) => frame.name.clone(),
            (who, None) => who.to_string(),
        }
    }

    /// The fn blamed, by annotation or from the stack; `None` for a task the stack did not
    /// name.
    pub(crate) fn fn_name(&self) -> Option<String> {
        match self.culprit {
            Who::Fn(cs) => Some(cs.name().to_owned()),
            _ => stack_culprit(self.stack.as_ref()).map(|f| f.name.clone()),
        }
    }

    /// Where it blocked: the line the stack names; else the fn's `file:line` (or where its
    /// future was created, or its task spawned); for a task, where it was spawned.
    pub(crate) fn location(&self) -> Option<String> {
        if let Some(at) = stack_line(self.stack.as_ref()) {
            return Some(at);
        }
        match self.culprit {
            Who::Fn(cs) => cs
                .location()
                .or_else(|| self.created_at.map(FileLine::from))
                .or_else(|| self.task.map(|t| t.spawned_at()))
                .map(|l| l.to_string()),
            Who::Task(t) => Some(t.spawned_at().to_string()),
            Who::Untracked => None,
        }
    }

    /// Whether the location is only where the task was spawned.
    pub(crate) fn at_spawn_site(&self) -> bool {
        matches!(self.culprit, Who::Task(_)) && stack_line(self.stack.as_ref()).is_none()
    }

    /// The chain shown: the instrumented one for an annotated fn, else the one the stack
    /// names.
    pub(crate) fn shown_chain(&self) -> ShownChain<'_> {
        ShownChain::pick(
            self.culprit.fn_site().is_some(),
            &self.chain,
            self.stack.as_deref(),
        )
    }
}

/// One poll that blocked its thread for at least a threshold.
#[derive(Debug)]
pub(crate) struct SlowPoll {
    /// Who is blamed (the fn with the most self time, or the task) and where.
    pub(crate) blame: Blame,
    /// How many calls of the culprit's fn shared its self time in this poll.
    pub(crate) calls: u32,
    /// Which poll of the culprit's future this was (1-based; 0 for a task).
    pub(crate) poll: u64,
    /// How long the outermost poll kept the thread (for [`Who::Untracked`], how long the
    /// watchdog saw it held in one system call, from the scheduler's clock: within a few
    /// milliseconds, the poll's work before the call not included).
    pub(crate) blocked: Duration,
    /// The culprit fn's own share of it, summed over its `calls`.
    pub(crate) self_time: Duration,
    /// The threshold that was exceeded (the smallest, if several frames exceeded theirs).
    pub(crate) threshold: Duration,
    /// What the watchdog found while the poll ran, if it sampled it.
    pub(crate) kind: Kind,
    /// The watchdog already reported this poll as a stall while it ran.
    pub(crate) stalled: bool,
    /// The blocked thread, when the report is not made on it ([`Who::Untracked`]).
    pub(crate) thread: Option<String>,
    /// That thread's kernel id (0: the report is made on the blocked thread).
    pub(crate) tid: i64,
    /// When the poll ended, in nanoseconds since pollwatch's clock epoch (the report may be
    /// made later: one that waited for its stack).
    pub(crate) ended_ns: u64,
}

/// The innermost user frame of a stack, if it names one.
fn stack_culprit(stack: Option<&Arc<NativeStack>>) -> Option<&StackFrame> {
    stack?.culprit.as_ref()
}

/// The line a stack names.
fn stack_line(stack: Option<&Arc<NativeStack>>) -> Option<String> {
    stack_culprit(stack)?.location.clone()
}

/// The async chain a report shows: the instrumented fns (`main > handler`), or, for a culprit
/// no annotation names, the user's fns read from the native stack (`Handler::run > Get::apply`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum ShownChain<'a> {
    Instrumented(&'a Chain),
    Stack(&'a [String]),
    /// The instrumented fns, then the innermost async fn of the user's the stack shows below
    /// the innermost of them (a test calling a router whose handler, a closure in `app`,
    /// blocked: `hello_world > app`).
    Below(&'a Chain, &'a str),
}

impl<'a> ShownChain<'a> {
    fn pick(annotated: bool, chain: &'a Chain, stack: Option<&'a NativeStack>) -> Self {
        match stack {
            Some(b) if !annotated && !b.chain.is_empty() => ShownChain::Stack(&b.chain),
            // The innermost async fn or block of the user's the stack shows (a sync helper
            // it calls is the culprit's line, not a link of the async chain).
            Some(b) if annotated => match b.async_chain().last() {
                Some(leaf) if chain.names().last().is_some_and(|l| !same_fn(l, leaf)) => {
                    ShownChain::Below(chain, leaf)
                }
                _ => ShownChain::Instrumented(chain),
            },
            _ => ShownChain::Instrumented(chain),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            ShownChain::Instrumented(c) => c.is_empty(),
            ShownChain::Stack(names) => names.is_empty(),
            ShownChain::Below(..) => false,
        }
    }

    /// The links' names, outermost first, for reports.
    pub(crate) fn names(&self) -> Vec<String> {
        match self {
            ShownChain::Instrumented(c) => c.names(),
            ShownChain::Stack(names) => names.to_vec(),
            ShownChain::Below(c, leaf) => {
                let mut names = c.names();
                names.push((*leaf).to_owned());
                names
            }
        }
    }
}

/// Two names of one fn: equal, or one the other with its type (`refresh`, `Cache::refresh`).
fn same_fn(a: &str, b: &str) -> bool {
    a == b || a.ends_with(&format!("::{b}")) || b.ends_with(&format!("::{a}"))
}

impl fmt::Display for ShownChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShownChain::Instrumented(c) => c.fmt(f),
            ShownChain::Stack(names) => f.write_str(&names.join(" > ")),
            ShownChain::Below(c, leaf) => write!(f, "{c} > {leaf}"),
        }
    }
}

/// A poll the watchdog found still blocking its thread.
#[derive(Clone, Debug)]
pub(crate) struct Stall {
    /// Who is blamed (the innermost instrumented fn on the blocked thread's stack, else the
    /// task) and where; its stack is read for the first report only.
    pub(crate) blame: Blame,
    pub(crate) thread: String,
    /// The blocked thread's kernel id (0 if unknown).
    pub(crate) tid: i64,
    pub(crate) blocked: Duration,
    pub(crate) threshold: Duration,
    pub(crate) kind: Kind,
    /// 1 for the first report of this stall, 2+ for escalations.
    pub(crate) nth: u32,
}

/// What a blocked thread is doing, read from its native stack.
#[derive(Debug)]
pub(crate) struct NativeStack {
    /// The system call, e.g. `futex` (a lock or condvar wait), `clock_nanosleep`, `read`;
    /// `None` for a thread running on a CPU (its stack was sampled).
    pub(crate) syscall: Option<String>,
    /// Innermost first: `function (file:line)`.
    pub(crate) frames: Vec<String>,
    /// The innermost frame of the user's own code (not std, not a dependency): the line that
    /// blocks.
    pub(crate) culprit: Option<StackFrame>,
    /// The user's fns on the stack, outermost first: `Handler::run`, `Get::apply` (the async
    /// fns and blocks, then the culprit's fn whether async or not).
    pub(crate) chain: Vec<String>,
    /// The culprit's frame is an async fn's body or an async block (not a sync helper).
    pub(crate) culprit_is_async: bool,
    /// How the frames were found.
    pub(crate) method: StackMethod,
    /// Tokio's `block_in_place` is on the stack: blocking is what it is for.
    pub(crate) in_block_in_place: bool,
    /// A Tokio worker is polling a task here, and the task's code (not the runtime's own
    /// waiting, not a `spawn_blocking` job) is what blocks.
    pub(crate) in_task_poll: bool,
    /// No frame of the user's is on the stack, and the innermost inside the poll is a
    /// framework's generic impl the user's code was inlined into (a release build without
    /// debug information): `axum's Handler::call`.
    pub(crate) inlined_into: Option<String>,
}

/// A frame of the user's code, as read from a native stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StackFrame {
    /// `Get::apply`: the fn, with its type for a method.
    pub(crate) name: String,
    /// `src/cmd/get.rs:66`, when the binary has line information.
    pub(crate) location: Option<String>,
}

/// How a stack's frames were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    not(all(feature = "stacks", target_os = "linux")),
    allow(dead_code, reason = "only native stacks are read this way")
)]
pub(crate) enum StackMethod {
    /// Unwound from the thread's registers with the modules' call-frame information: exact.
    Unwound,
    /// Scanned for words that look like return addresses: approximate (a stale one can add a
    /// frame). Used where unwinding failed.
    Scanned,
}

impl StackMethod {
    /// `unwound`, `scanned`: the report's name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StackMethod::Unwound => "unwound",
            StackMethod::Scanned => "scanned",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            StackMethod::Unwound => "unwound",
            StackMethod::Scanned => "scanned for return addresses, approximate",
        }
    }
}

impl NativeStack {
    /// The async fns and blocks of the user's on the stack, outermost first.
    pub(crate) fn async_chain(&self) -> &[String] {
        match self.chain.split_last() {
            Some((_, outer)) if !self.culprit_is_async => outer,
            _ => &self.chain,
        }
    }

    /// Whether this stack shows a task holding its worker: what stable Tokio's worker watch
    /// reports.
    pub(crate) fn blocks_a_worker(&self) -> bool {
        self.in_task_poll && !self.in_block_in_place
    }

    /// The stack block of a report: `native stack (unwound, innermost first):` and a frame a
    /// line.
    pub(crate) fn text(&self) -> String {
        let mut text = format!(
            "native stack ({}, innermost first):",
            self.method.describe()
        );
        for frame in &self.frames {
            text.push_str("\n    ");
            text.push_str(frame);
        }
        text
    }

    /// What the syscall usually means for an async program (`running` for a thread on a CPU).
    pub(crate) fn hint(&self) -> &'static str {
        match self.syscall.as_deref() {
            None => "running",
            Some("futex") => "a lock or condition wait",
            Some("nanosleep" | "clock_nanosleep") => "a sleep",
            Some(
                "read" | "pread64" | "recvfrom" | "recvmsg" | "write" | "pwrite64" | "fsync"
                | "openat",
            ) => "synchronous I/O",
            Some("connect" | "accept" | "accept4") => "synchronous networking",
            Some("poll" | "ppoll" | "select" | "pselect6" | "epoll_wait" | "epoll_pwait") => {
                "waiting on file descriptors"
            }
            Some("wait4") => "waiting for a child process",
            Some(_) => "a blocking system call",
        }
    }
}

/// What a culprit did since its last line, in one line: the digest of a chronic blocker.
#[derive(Clone, Debug)]
pub(crate) struct Digest {
    pub(crate) fn_name: Option<String>,
    /// The fn's `file:line`.
    pub(crate) location: Option<String>,
    /// Where the un-annotated task was spawned.
    pub(crate) spawned_at: Option<String>,
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
        self.slow.blame.culprit.fn_site().map(CallSite::name)
    }

    /// Who is blamed: the fn (annotated, or named from the blocked thread's native stack), or
    /// `task <id>` / `a task` when neither names one.
    pub fn name(&self) -> String {
        self.slow.blame.name()
    }

    /// The Tokio task the poll belonged to, when the runtime's poll hooks saw it
    /// (`--cfg tokio_unstable` and a runtime from [`Builder`](crate::Builder)).
    pub fn task_id(&self) -> Option<u64> {
        self.slow.blame.task.map(|t| t.id)
    }

    /// Where that task was spawned.
    pub fn spawned_at(&self) -> Option<&'static Location<'static>> {
        self.slow.blame.task.map(|t| t.spawned_at)
    }

    /// `file:line` of the culprit: the line the native stack shows blocking, else the fn's
    /// definition, else the task's spawn location (`unknown` when none is known).
    pub fn location(&self) -> String {
        self.slow
            .blame
            .location()
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Where the culprit's future was created (`None` for a task no poll hook timed).
    pub fn created_at(&self) -> Option<&'static Location<'static>> {
        self.slow.blame.created_at
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

    /// What the thread was doing: [`Kind::CpuBound`], [`Kind::Blocking`], [`Kind::Mixed`], or
    /// [`Kind::Unknown`] when no watchdog sampled the poll.
    pub fn kind(&self) -> Kind {
        self.slow.kind
    }

    /// The async call chain, outermost first: `main > handler > cpu_bound_task`.
    pub fn chain(&self) -> String {
        self.slow.blame.shown_chain().to_string()
    }

    /// The system call the blocked thread was in when the watchdog read its stack
    /// (`clock_nanosleep`, `futex`, `read`, …), if it did.
    pub fn syscall(&self) -> Option<&str> {
        self.slow.blame.stack.as_ref()?.syscall.as_deref()
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
            self.name(),
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
    fn the_chain_goes_on_to_the_fn_the_stack_names_below_the_annotated_one() {
        static TEST: CallSite = CallSite::new(
            "hello_world",
            "m",
            "src/main.rs",
            70,
            0,
            crate::site::no_events,
        );
        let chain = Chain::new(vec![ChainLink::Frame(Who::Fn(&TEST))]);
        let stack = |leaf: &str| NativeStack {
            syscall: Some("clock_nanosleep".into()),
            frames: Vec::new(),
            culprit: Some(StackFrame {
                name: leaf.into(),
                location: Some("src/main.rs:42".into()),
            }),
            chain: vec!["hello_world".into(), leaf.into()],
            method: StackMethod::Unwound,
            in_block_in_place: false,
            in_task_poll: false,
            inlined_into: None,
            culprit_is_async: true,
        };
        // A sync helper the async fn calls is the line, not a link of the async chain.
        let helper = NativeStack {
            culprit: Some(StackFrame {
                name: "block_thread".into(),
                location: Some("src/main.rs:9".into()),
            }),
            chain: vec!["hello_world".into(), "block_thread".into()],
            culprit_is_async: false,
            ..stack("x")
        };
        let in_app = stack("app");
        let shown = ShownChain::pick(true, &chain, Some(&in_app));
        assert_eq!(shown.to_string(), "hello_world > app");
        assert_eq!(shown.names(), ["hello_world", "app"]);
        // The annotated fn itself, by either of its names: nothing to add.
        for same in ["hello_world", "tests::hello_world"] {
            let own = stack(same);
            assert_eq!(
                ShownChain::pick(true, &chain, Some(&own)).to_string(),
                "hello_world"
            );
        }
        assert_eq!(
            ShownChain::pick(true, &chain, Some(&helper)).to_string(),
            "hello_world"
        );
        assert_eq!(
            ShownChain::pick(true, &chain, None).to_string(),
            "hello_world"
        );
    }

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
