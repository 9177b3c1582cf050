//! [`Timed`]: the one future `#[async_timed]` wraps every call in.
//!
//! Per poll, with debug mode off and the finish event disabled, it adds a relaxed load, a branch
//! and a counter. With the finish event enabled it also reads the clock twice (busy time). With
//! debug mode on it pushes a frame on the thread's stack and checks the poll against the
//! threshold; only a slow poll allocates (its report) and logs.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::clock::Ticks;
use crate::config::{self, DebugMode};
use crate::detect::frames;
use crate::dispatch;
use crate::record::Who;
use crate::site::{CallSite, Emit, Finished, Outcome, Values};

#[cfg_attr(
    not(all(tokio_unstable, feature = "console")),
    path = "timed/naming_mock.rs"
)]
pub(crate) mod naming;

/// Formats the output for the finish event (`ret` / `err`); written by the macro.
pub(crate) type RecordFn<O> = fn(&O) -> Outcome;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Pending,
    Done,
    Panicked,
}

struct State<O> {
    cs: &'static CallSite,
    created_at: &'static Location<'static>,
    values: Option<Values>,
    record: Option<RecordFn<O>>,
    /// Start/finish events enabled for this call: read the clock even with debug mode off.
    logged: bool,
    first_poll: Option<Ticks>,
    last_poll_end: Option<Ticks>,
    busy: Duration,
    /// The longest poll (debug mode), added to the call site's statistics once per call.
    max_poll: Duration,
    polls: u64,
    phase: Phase,
}

#[cfg(feature = "scheduling-delay")]
pin_project! {
    /// The wrapped future, or (when scheduling delay is measured) tokio-metrics' instrumented
    /// façade around it, which wraps the waker to time wake-to-poll.
    #[project = InnerProj]
    enum Inner<F> {
        Plain { #[pin] fut: F },
        Monitored { #[pin] fut: tokio_metrics::Instrumented<F, &'static tokio_metrics::TaskMonitorCore> },
    }
}

#[cfg(not(feature = "scheduling-delay"))]
pin_project! {
    #[project = InnerProj]
    enum Inner<F> {
        Plain { #[pin] fut: F },
    }
}

impl<F: Future> Inner<F> {
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            InnerProj::Plain { fut } => fut.poll(cx),
            #[cfg(feature = "scheduling-delay")]
            InnerProj::Monitored { fut } => fut.poll(cx),
        }
    }
}

pin_project! {
    /// A future instrumented by `#[async_timed]`. Behaves exactly like the future it wraps.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timed<F>
    where
        F: Future,
    {
        #[pin]
        inner: Inner<F>,
        state: State<F::Output>,
    }

    impl<F> PinnedDrop for Timed<F>
    where
        F: Future,
    {
        fn drop(this: Pin<&mut Self>) {
            this.project().state.on_drop();
        }
    }
}

impl<F: Future> std::fmt::Debug for Timed<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timed")
            .field("fn", &self.state.cs.name())
            .field("polls", &self.state.polls)
            .field("phase", &self.state.phase)
            .finish_non_exhaustive()
    }
}

/// Wraps `fut`; `values` are the captured arguments (`None` when the start event is disabled).
#[track_caller]
#[inline]
pub fn timed<F: Future>(cs: &'static CallSite, values: Option<Values>, fut: F) -> Timed<F> {
    new(cs, values, None, fut)
}

/// [`timed`] with a recorder of the output for `ret` / `err`.
#[track_caller]
#[inline]
pub fn timed_with<F: Future>(
    cs: &'static CallSite,
    values: Option<Values>,
    fut: F,
    record: RecordFn<F::Output>,
) -> Timed<F> {
    new(cs, values, Some(record), fut)
}

/// Tells `pollwatch::spawn` that the `Timed` just created cannot name its task: called by the
/// code `#[async_timed]` generates for fns returning `impl Future`, whose wrapped type is the
/// body's own (two fns may both return `Sleep`) and so does not identify the fn.
#[inline]
pub fn not_nameable() {
    naming::forget();
}

/// Whether the start/finish events of `cs` are enabled: the macro captures arguments only then.
#[inline]
pub fn enabled(cs: &'static CallSite) -> bool {
    cs.emit(Emit::Enabled)
}

/// The buffer for the `n` values of one call of `cs` (arguments first, then `fields`), with the
/// fn's or the process's value length, and arguments left out if `POLLWATCH_ARGS=0`.
pub fn values_for(cs: &'static CallSite, n: usize) -> Values {
    Values::new(n, value_len(cs), config::capture_args())
}

/// The buffer for the return value or error of a call of `cs` (`ret` / `err`).
pub fn output_values(cs: &'static CallSite) -> Values {
    Values::new(1, value_len(cs), true)
}

fn value_len(cs: &'static CallSite) -> usize {
    cs.own_max_value_len().unwrap_or_else(config::max_value_len)
}

#[track_caller]
fn new<F: Future>(
    cs: &'static CallSite,
    values: Option<Values>,
    record: Option<RecordFn<F::Output>>,
    inner: F,
) -> Timed<F> {
    let debug = config::debug_mode().is_on();
    if debug {
        cs.register();
        cs.stats().on_call();
    }
    #[cfg(feature = "scheduling-delay")]
    let inner = if debug && config::measure_scheduling() {
        Inner::Monitored {
            fut: cs.monitor().instrument(inner),
        }
    } else {
        Inner::Plain { fut: inner }
    };
    #[cfg(not(feature = "scheduling-delay"))]
    let inner = Inner::Plain { fut: inner };
    naming::created::<Timed<F>>(cs);
    Timed {
        inner,
        state: State {
            cs,
            created_at: Location::caller(),
            logged: values.is_some(),
            values,
            record,
            first_poll: None,
            last_poll_end: None,
            busy: Duration::ZERO,
            max_poll: Duration::ZERO,
            polls: 0,
            phase: Phase::Pending,
        },
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let state = this.state;
        if state.phase != Phase::Pending {
            // Polled after completion: whatever the inner future does then is its business.
            return this.inner.poll(cx);
        }
        let mode = config::debug_mode();
        if state.polls == 0 {
            state.on_first_poll();
        }
        state.polls = state.polls.saturating_add(1);
        let res = if mode.is_exact() || state.logged {
            let guard = PollGuard::enter(&mut *state, mode);
            let res = this.inner.poll(cx);
            guard.exit();
            res
        } else if mode.is_watch() {
            // Production profile: the frame is published for the watchdog; no clock.
            frames::enter_watch(Who::Fn(state.cs));
            let guard = WatchGuard(&mut *state);
            let res = this.inner.poll(cx);
            std::mem::forget(guard);
            if let Some(slow) = frames::exit_watch(false) {
                dispatch::slow_poll(&slow, false);
            }
            res
        } else {
            // Fast path: nothing to time, only a panic to notice.
            let guard = PanicGuard(&mut *state);
            let res = this.inner.poll(cx);
            std::mem::forget(guard);
            res
        };
        if let Poll::Ready(out) = &res {
            state.on_ready(out);
        }
        res
    }
}

/// The production profile's unwind guard: if the inner poll unwinds, pops its frame and
/// reports the panic, which then continues unchanged.
struct WatchGuard<'a, O>(&'a mut State<O>);

impl<O> Drop for WatchGuard<'_, O> {
    #[cold]
    fn drop(&mut self) {
        let _ = frames::exit_watch(true);
        self.0.phase = Phase::Panicked;
        dispatch::panicked(self.0.cs, None, self.0.polls, None);
    }
}

/// Marks the call as panicked if the inner poll unwinds (fast path: no timing, no frame).
struct PanicGuard<'a, O>(&'a mut State<O>);

impl<O> Drop for PanicGuard<'_, O> {
    #[cold]
    fn drop(&mut self) {
        self.0.phase = Phase::Panicked;
        dispatch::panicked(self.0.cs, self.0.elapsed(), self.0.polls, None);
    }
}

/// Brackets one poll: pushes/pops the frame and times it; if the poll unwinds, its `Drop` still
/// pops the frame and reports the panic, which then continues unchanged.
struct PollGuard<'a, O> {
    state: &'a mut State<O>,
    mode: DebugMode,
    start: Option<Ticks>,
    frame: Option<frames::Token>,
    /// The production profile's frame is pushed, when the events are on (they need the poll
    /// timed).
    watch: bool,
    armed: bool,
}

impl<'a, O> PollGuard<'a, O> {
    #[inline]
    fn enter(state: &'a mut State<O>, mode: DebugMode) -> Self {
        let timing = mode.is_on() || state.logged;
        let start = timing.then(Ticks::now);
        if state.first_poll.is_none() {
            state.first_poll = start;
        }
        let frame = match (mode.is_exact(), start) {
            (true, Some(start)) => frames::enter(
                Who::Fn(state.cs),
                state.created_at,
                state.polls,
                config::slow_poll_nanos(),
                start,
            ),
            _ => None,
        };
        let watch = mode.is_watch();
        if watch {
            frames::enter_watch(Who::Fn(state.cs));
        }
        PollGuard {
            state,
            mode,
            start,
            frame,
            watch,
            armed: true,
        }
    }

    #[inline]
    fn exit(mut self) {
        self.armed = false;
        self.finish_poll(false);
    }

    /// Times the poll and pops the frame; reports a slow poll if this frame was the outermost
    /// (and the poll did not end by `unwinding`: a panic is reported as one, not as blocking).
    fn finish_poll(&mut self, unwinding: bool) {
        if std::mem::take(&mut self.watch)
            && let Some(slow) = frames::exit_watch(unwinding)
        {
            dispatch::slow_poll(&slow, false);
        }
        let Some(start) = self.start else { return };
        let end = Ticks::now();
        let duration = end.duration_since(start);
        self.state.busy = self.state.busy.saturating_add(duration);
        self.state.last_poll_end = Some(end);
        if let Some(token) = self.frame.take() {
            self.state.cs.stats().on_poll(duration);
            self.state.max_poll = self.state.max_poll.max(duration);
            if let Some(slow) = frames::exit(token, duration, unwinding) {
                dispatch::slow_poll(&slow, self.mode.is_strict());
            }
        }
    }
}

impl<O> Drop for PollGuard<'_, O> {
    fn drop(&mut self) {
        if self.armed {
            // Unwinding out of the inner poll.
            self.finish_poll(true);
            self.state.phase = Phase::Panicked;
            let counted = self
                .mode
                .is_exact()
                .then_some((self.state.busy, self.state.max_poll));
            dispatch::panicked(
                self.state.cs,
                self.state.elapsed(),
                self.state.polls,
                counted,
            );
        }
    }
}

impl<O> State<O> {
    #[cold]
    #[inline(never)]
    fn on_first_poll(&mut self) {
        // The arguments are logged once, at the start; the buffer is not kept for the finish.
        if let (true, Some(values)) = (self.logged, self.values.take()) {
            self.cs.emit(Emit::Start(&values));
        }
    }

    fn elapsed(&self) -> Option<Duration> {
        Some(self.last_poll_end?.duration_since(self.first_poll?))
    }

    #[cold]
    #[inline(never)]
    fn on_ready(&mut self, out: &O) {
        self.phase = Phase::Done;
        let elapsed = self.elapsed().unwrap_or(self.busy);
        let mode = config::debug_mode();
        if mode.is_exact() {
            dispatch::completed(self.cs, elapsed, self.polls, self.busy, self.max_poll);
        } else if mode.is_watch() {
            // Production profile: counted, not timed.
            dispatch::completed_untimed(self.cs, self.polls);
        }
        if !self.logged {
            return;
        }
        let outcome = self.record.map(|record| record(out));
        self.cs.emit(Emit::Finish(&Finished {
            elapsed,
            busy: self.busy,
            idle: elapsed.saturating_sub(self.busy),
            polls: self.polls,
            outcome: outcome.as_ref(),
        }));
    }

    fn on_drop(&mut self) {
        if self.phase != Phase::Pending {
            return;
        }
        let debug = config::debug_mode().is_on();
        if self.polls == 0 {
            dispatch::never_polled(self.cs, self.created_at, debug);
        } else {
            // Until now, the moment of cancellation, not the end of the last poll.
            let elapsed = self.first_poll.map(Ticks::elapsed);
            dispatch::cancelled(
                self.cs,
                self.created_at,
                elapsed,
                (self.polls, self.busy, self.max_poll),
                debug,
            );
        }
    }
}
