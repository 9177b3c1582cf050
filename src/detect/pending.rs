//! The rendezvous of one stack read. Three threads meet here: the watchdog, which waits briefly
//! for the stack of the stall it reports; the symbolizer, which delivers it (sometimes after
//! the watchdog stopped waiting: a cold compilation unit takes tens of milliseconds); and the
//! polled thread, whose poll may end first.
//!
//! Once the stack is known *and* the watchdog has decided whether it reported the stall (it
//! does not when the poll ended while it read the stack: the slow-poll report then speaks),
//! the rendezvous is *released*: the watchdog's follow-up runs, and a slow-poll report left
//! here is made. An un-annotated task's slow-poll report is left here (off the user's thread)
//! so that it, the test's verdict and the JSON report name the culprit from the stack and come
//! after the stall report they refer to; an annotated fn's is made at once, in the caller's
//! spans, and says whether the stall was reported by then.

use std::sync::{Arc, Condvar, Mutex};

use crate::dispatch::Route;
use crate::record::{NativeStack, SlowPoll};
use crate::util::lock;

/// What runs at the release: with the stack, and whether the stall was reported.
pub(crate) type After = Box<dyn FnOnce(Option<Arc<NativeStack>>, bool) + Send>;

/// One stack read's rendezvous.
pub(crate) struct Pending {
    state: Mutex<State>,
    delivered: Condvar,
    /// Called when the stack is delivered (the watchdog's wake-up: a report waits for it).
    wake: fn(),
}

#[derive(Default)]
struct State {
    /// `Some` once the symbolizer is done (`Some(None)`: it could not name anything).
    stack: Option<Option<Arc<NativeStack>>>,
    /// The watchdog's decision: the stall was reported (`true`) or not.
    reported: Option<bool>,
    after: Option<After>,
    released: bool,
    /// A slow-poll report waiting for the release, with where to make it.
    parked: Option<Parked>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

/// A slow-poll report waiting for the release: where to make it, and whether the stack must
/// show a task holding its worker for it to be made (stable Tokio's worker watch: a sleep that
/// is the runtime's own wait is no slow poll).
struct Parked {
    slow: Box<SlowPoll>,
    route: Option<Route>,
    needs_task: bool,
    /// Where the poll ran, in `tracing`'s terms: the report is made in it, as if on that thread.
    context: Option<Context>,
}

/// The polled thread's `tracing` context when its report was parked: its dispatcher (a scoped
/// subscriber, a test's) and its current span (a request's), so a report made later, on another
/// thread, goes where it would have gone and sits in the same span.
struct Context {
    dispatch: tracing::Dispatch,
    span: tracing::Span,
}

impl Context {
    fn current() -> Self {
        Context {
            dispatch: tracing::dispatcher::get_default(Clone::clone),
            span: tracing::Span::current(),
        }
    }

    /// Runs `f` in this context.
    fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, || self.span.in_scope(f))
    }
}

/// Slow-poll reports parked now, in the whole process, for [`settle`].
static PARKED: Mutex<usize> = Mutex::new(0);
static UNPARKED: Condvar = Condvar::new();

/// What the release makes: the follow-up, then the parked report.
type Released = (Option<After>, Option<Parked>, Release);

#[derive(Clone)]
struct Release {
    stack: Option<Arc<NativeStack>>,
    reported: bool,
}

impl Pending {
    /// A rendezvous whose delivery calls `wake`.
    pub(crate) fn new(wake: fn()) -> Arc<Self> {
        Arc::new(Pending {
            state: Mutex::new(State::default()),
            delivered: Condvar::new(),
            wake,
        })
    }

    /// The symbolizer's result (`None`: nothing could be named).
    pub(crate) fn deliver(&self, stack: Option<Arc<NativeStack>>) {
        let released = {
            let mut s = lock(&self.state);
            if s.stack.is_some() {
                return;
            }
            s.stack = Some(stack);
            self.delivered.notify_all();
            Self::take_release(&mut s)
        };
        Self::run(released);
        // A first report may be waiting for this stack: it is made now.
        (self.wake)();
    }

    #[cfg(all(test, feature = "stacks", target_os = "linux"))]
    /// Waits up to `timeout` for the stack: `Some` if it came (`Some(None)`: it
    /// names nothing).
    pub(crate) fn wait(&self, timeout: std::time::Duration) -> Option<Option<Arc<NativeStack>>> {
        let s = lock(&self.state);
        let (s, _) = self
            .delivered
            .wait_timeout_while(s, timeout, |s| s.stack.is_none())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.stack.clone()
    }

    /// The stack, if delivered (without waiting).
    pub(crate) fn try_stack(&self) -> Option<Option<Arc<NativeStack>>> {
        lock(&self.state).stack.clone()
    }

    /// The watchdog's decision: it reported the stall or not; `after` runs at the release.
    pub(crate) fn decide(&self, reported: bool, after: After) {
        let released = {
            let mut s = lock(&self.state);
            if s.reported.is_some() {
                return;
            }
            s.reported = Some(reported);
            s.after = Some(after);
            Self::take_release(&mut s)
        };
        Self::run(released);
    }

    /// Whether the stall was reported, once the watchdog has decided.
    pub(crate) fn reported(&self) -> Option<bool> {
        lock(&self.state).reported
    }

    /// The polled thread leaves its slow-poll report until the release; it is handed back,
    /// completed, if that already happened (then make it here). `None` also when it is no
    /// report at all (the stack shows `block_in_place`).
    /// The report is made in the caller's `tracing` context (dispatcher and span).
    pub(crate) fn park(&self, slow: Box<SlowPoll>, route: Option<Route>) -> Option<Box<SlowPoll>> {
        self.park_with(Parked {
            slow,
            route,
            needs_task: false,
            context: Some(Context::current()),
        })
    }

    /// Parks the slow poll of a worker found asleep whose sleep ended before its stack was
    /// read: made at the release only if the stack shows a task holding the worker.
    pub(crate) fn park_sleeper(&self, slow: Box<SlowPoll>, route: Option<Route>) {
        if let Some(slow) = self.park_with(Parked {
            slow,
            route: route.clone(),
            needs_task: true,
            context: None,
        }) {
            Route::run_or_here(route.as_ref(), move || {
                crate::dispatch::slow_poll(&slow, crate::config::debug_mode().is_strict());
            });
        }
    }

    fn park_with(&self, parked: Parked) -> Option<Box<SlowPoll>> {
        let mut s = lock(&self.state);
        if s.released {
            let release = Release {
                stack: s.stack.clone().flatten(),
                reported: s.reported.unwrap_or(false),
            };
            drop(s);
            return complete(parked, &release);
        }
        s.parked = Some(parked);
        drop(s);
        *lock(&PARKED) += 1;
        None
    }

    /// The release, if both the stack and the decision are in (the lock is held).
    fn take_release(s: &mut State) -> Option<Released> {
        if s.released {
            return None;
        }
        let (Some(stack), Some(reported)) = (s.stack.clone(), s.reported) else {
            return None;
        };
        s.released = true;
        Some((s.after.take(), s.parked.take(), Release { stack, reported }))
    }

    /// Makes what the release makes (the lock is not held: layers and callbacks run here).
    fn run(released: Option<Released>) {
        let Some((after, parked, release)) = released else {
            return;
        };
        if let Some(after) = after {
            after(release.stack.clone(), release.reported);
        }
        if let Some(mut parked) = parked {
            let route = parked.route.clone();
            let context = parked.context.take();
            if let Some(slow) = complete(parked, &release) {
                Route::run_or_here(route.as_ref(), move || {
                    let report = || {
                        crate::dispatch::slow_poll(&slow, crate::config::debug_mode().is_strict());
                    };
                    match context {
                        Some(context) => context.enter(report),
                        None => report(),
                    }
                });
            }
            let mut parked = lock(&PARKED);
            *parked = parked.saturating_sub(1);
            UNPARKED.notify_all();
        }
    }
}

impl Drop for Pending {
    /// Never loses a parked report (a watchdog stopped before deciding, a symbolizer gone).
    fn drop(&mut self) {
        let s = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.stack.is_none() {
            s.stack = Some(None);
        }
        if s.reported.is_none() {
            s.reported = Some(false);
        }
        let released = Self::take_release(s);
        Self::run(released);
    }
}

/// A parked report completed at the release: its stack, and whether the stall it refers to
/// was reported; `None` if it is no report (blocking inside `block_in_place`, or a sleeping
/// worker's stack that shows no task holding it).
fn complete(parked: Parked, release: &Release) -> Option<Box<SlowPoll>> {
    let Parked {
        mut slow,
        needs_task,
        ..
    } = parked;
    if release.stack.as_ref().is_some_and(|b| b.in_block_in_place) {
        return None;
    }
    if needs_task && !release.stack.as_ref().is_some_and(|b| b.blocks_a_worker()) {
        return None;
    }
    if slow.blame.stack.is_none() {
        slow.blame.stack.clone_from(&release.stack);
    }
    slow.stalled = release.reported;
    Some(slow)
}

/// Waits, at most `timeout`, until every slow-poll report that waits for its native stack has
/// been made; returns whether none is left waiting.
///
/// A poll that ends while the watchdog reads its thread's stack is reported once the stack is
/// named (a millisecond or two once the symbolizer is warm; in a process's first moments, until
/// it has warmed up), off the polled thread, in that thread's `tracing` dispatcher and span.
/// The end of [`run`](crate::run), `#[pollwatch::main]`, `#[pollwatch::test]` and of the
/// process wait for them by themselves; call this before reading what a subscriber or
/// [`report`](crate::report) holds in the middle of a program, as a test harness does.
///
/// # Examples
///
/// ```
/// #[pollwatch::async_timed]
/// async fn blocks() {
///     std::thread::sleep(std::time::Duration::from_millis(30));
/// }
///
/// pollwatch::Config::default()
///     .debug_mode(pollwatch::DebugMode::On)
///     .slow_poll(std::time::Duration::from_millis(10))
///     .apply();
/// futures::executor::block_on(blocks());
/// assert!(pollwatch::settle(std::time::Duration::from_secs(5)));
/// assert!(pollwatch::report().slow_polls.iter().any(|p| p.fn_name.as_deref() == Some("blocks")));
/// ```
pub fn settle(timeout: std::time::Duration) -> bool {
    let parked = lock(&PARKED);
    let (parked, _) = UNPARKED
        .wait_timeout_while(parked, timeout, |n| *n > 0)
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *parked == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Blame, Chain, Kind, StackMethod, Who};
    use std::time::Duration;

    fn slow() -> Box<SlowPoll> {
        Box::new(SlowPoll {
            blame: Blame {
                culprit: Who::Untracked,
                task: None,
                created_at: None,
                chain: Chain::default(),
                stack: None,
            },
            calls: 1,
            poll: 0,
            blocked: Duration::from_millis(150),
            self_time: Duration::from_millis(150),
            threshold: Duration::from_millis(100),
            kind: Kind::Blocking,
            stalled: true,
            thread: None,
            tid: 0,
            ended_ns: crate::clock::now_ns(),
        })
    }

    fn blocked(in_block_in_place: bool) -> Arc<NativeStack> {
        stack(in_block_in_place, true)
    }

    fn stack(in_block_in_place: bool, in_task_poll: bool) -> Arc<NativeStack> {
        Arc::new(NativeStack {
            syscall: Some("futex".into()),
            frames: vec![],
            culprit: None,
            chain: vec![],
            culprit_is_async: false,
            method: StackMethod::Unwound,
            in_block_in_place,
            in_task_poll,
            inlined_into: None,
        })
    }

    #[test]
    fn a_report_after_the_release_comes_back_completed() {
        let p = Pending::new(|| {});
        p.deliver(Some(blocked(false)));
        p.decide(false, Box::new(|_, _| {}));
        let back = p.park(slow(), None).expect("made by its own thread");
        assert!(back.blame.stack.is_some());
        assert!(!back.stalled, "the stall was not reported");
    }

    #[test]
    fn the_release_needs_the_stack_and_the_decision_and_runs_once() {
        let p = Pending::new(|| {});
        let (tx, rx) = std::sync::mpsc::channel();
        assert!(p.try_stack().is_none());
        p.decide(
            true,
            Box::new(move |b, reported| tx.send((b.is_some(), reported)).unwrap()),
        );
        assert!(rx.try_recv().is_err(), "no stack yet");
        p.deliver(Some(blocked(false)));
        p.deliver(None);
        assert_eq!(rx.recv().unwrap(), (true, true));
        assert!(rx.try_recv().is_err());
        assert_eq!(p.reported(), Some(true));
    }

    #[test]
    fn block_in_place_is_no_report() {
        let p = Pending::new(|| {});
        p.deliver(Some(blocked(true)));
        p.decide(false, Box::new(|_, _| {}));
        assert!(p.park(slow(), None).is_none());
    }

    #[test]
    fn a_sleeping_worker_is_a_slow_poll_only_if_its_stack_shows_a_task() {
        let release = |in_task_poll| Release {
            stack: Some(stack(false, in_task_poll)),
            reported: false,
        };
        let sleeper = || Parked {
            slow: slow(),
            route: None,
            needs_task: true,
            context: None,
        };
        let made = complete(sleeper(), &release(true)).expect("a task held its worker");
        assert!(made.blame.stack.is_some() && !made.stalled);
        assert!(
            complete(sleeper(), &release(false)).is_none(),
            "the runtime's own wait"
        );
        let unread = Release {
            stack: None,
            reported: false,
        };
        assert!(
            complete(sleeper(), &unread).is_none(),
            "nothing could be read"
        );
    }

    #[test]
    fn a_parked_sleeper_is_counted_until_its_stack_comes() {
        let p = Pending::new(|| {});
        p.park_sleeper(slow(), None);
        p.decide(false, Box::new(|_, _| {}));
        assert!(*lock(&PARKED) >= 1, "settle waits for it");
        p.deliver(Some(blocked(false)));
        assert!(lock(&p.state).parked.is_none(), "made at the release");
    }
}
