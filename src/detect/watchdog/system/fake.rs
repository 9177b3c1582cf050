//! A system the tests script: threads' CPU and scheduler state, what reading their stacks
//! gives, and every report made.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Now, Report, System};
use crate::clock::Instant;
use crate::detect::pending::Pending;
use crate::detect::slot::Slot;
use crate::detect::stacks::Read;
use crate::dispatch::Route;
use crate::record::{Kind, NativeStack, SlowPoll, StackMethod, Stall};

/// A thread as the fake system shows it.
#[derive(Default)]
pub(crate) struct Thread {
    /// Its active time so far (on a CPU or waiting for one); `None`: unreadable.
    pub(crate) active: Option<Duration>,
    /// It runs all the time: a pause adds to its active time.
    pub(crate) spinning: bool,
    pub(crate) runnable: Option<bool>,
    /// Its run-queue wait so far, as the scheduler accounts it (a wait going on is not in it:
    /// that thread is `runnable` and `off_cpu`).
    pub(crate) waited: Option<Duration>,
    /// Asleep, switched onto a CPU this many times so far (`None`: not asleep).
    pub(crate) asleep: Option<u64>,
    pub(crate) off_cpu: Option<Duration>,
    /// What reading its stack gives.
    pub(crate) stack: StackRead,
    /// Its outermost poll ends while its stack is read (the slot goes idle).
    pub(crate) ends_on_read: Option<&'static Slot>,
}

/// What reading a thread's stack gives.
#[derive(Default)]
pub(crate) enum StackRead {
    /// Nothing to read.
    #[default]
    Nothing,
    /// This stack, named before the next look.
    Named(Arc<NativeStack>),
    /// Sent to the symbolizer: the test delivers it ([`Fake::deliver`]).
    Later,
    /// Running, and no sample came this time.
    Missed,
}

/// A report the watchdog made.
#[derive(Debug)]
pub(crate) enum Reported {
    Stall(Stall),
    StallStack(Stall, Arc<NativeStack>),
    SlowPoll(SlowPoll),
}

#[derive(Default)]
pub(crate) struct Recorder(Mutex<Vec<Reported>>);

impl Report for Recorder {
    fn stall(&self, _route: Option<&Route>, stall: Stall) {
        self.0.lock().unwrap().push(Reported::Stall(stall));
    }

    fn stall_stack(&self, _route: Option<&Route>, stall: Stall, stack: Arc<NativeStack>) {
        self.0
            .lock()
            .unwrap()
            .push(Reported::StallStack(stall, stack));
    }

    fn slow_poll(&self, _route: Option<&Route>, slow: SlowPoll) {
        self.0.lock().unwrap().push(Reported::SlowPoll(slow));
    }
}

pub(crate) struct Fake {
    pub(crate) threads: HashMap<i64, Thread>,
    pub(crate) warm: bool,
    pub(crate) warm_ups: Cell<u32>,
    pub(crate) pauses: u32,
    /// Stacks read, by thread.
    pub(crate) reads: Vec<i64>,
    /// Reads sent to the symbolizer, not delivered yet.
    pub(crate) sent: Vec<(i64, Arc<Pending>)>,
    recorder: Arc<Recorder>,
    report: Arc<dyn Report>,
}

impl Fake {
    pub(crate) fn new() -> Self {
        let recorder = Arc::new(Recorder::default());
        Fake {
            threads: HashMap::new(),
            warm: true,
            warm_ups: Cell::new(0),
            pauses: 0,
            reads: Vec::new(),
            sent: Vec::new(),
            report: recorder.clone(),
            recorder,
        }
    }

    /// The thread `tid` (a default one, the first time).
    pub(crate) fn thread(&mut self, tid: i64) -> &mut Thread {
        self.threads.entry(tid).or_default()
    }

    /// The symbolizer delivers `tid`'s stacks read so far.
    pub(crate) fn deliver(&mut self, tid: i64, stack: Option<Arc<NativeStack>>) {
        let (to, left) = self.sent.drain(..).partition(|(t, _)| *t == tid);
        self.sent = left;
        for (_, pending) in to {
            pending.deliver(stack.clone());
        }
    }

    /// The reports made since the last call.
    pub(crate) fn reports(&self) -> Vec<Reported> {
        std::mem::take(&mut *self.recorder.0.lock().unwrap())
    }

    /// The stalls reported since the last call, as (thread, nth); any other report fails.
    pub(crate) fn stalls(&self) -> Vec<(i64, u32)> {
        self.reports()
            .into_iter()
            .map(|r| match r {
                Reported::Stall(s) => (s.tid, s.nth),
                other => panic!("not a stall: {other:?}"),
            })
            .collect()
    }
}

impl System for Fake {
    fn active_time(&self, tid: i64, _cpu_clock: i64) -> Option<Duration> {
        self.threads.get(&tid)?.active
    }

    fn run_queue_wait(&self, tid: i64) -> Option<Duration> {
        self.threads.get(&tid)?.waited
    }

    fn is_runnable(&self, tid: i64) -> Option<bool> {
        self.threads.get(&tid)?.runnable
    }

    fn asleep_since_switch(&self, tid: i64) -> Option<u64> {
        self.threads.get(&tid)?.asleep
    }

    fn off_cpu_for(&self, tid: i64) -> Option<Duration> {
        self.threads.get(&tid)?.off_cpu
    }

    fn pause(&mut self, d: Duration, now: Instant) -> Instant {
        self.pauses += 1;
        for t in self.threads.values_mut().filter(|t| t.spinning) {
            t.active = t.active.map(|a| a + d);
        }
        now + d
    }

    fn rendezvous(&self) -> Arc<Pending> {
        Pending::new(|| {})
    }

    fn read_stack(&mut self, tid: i64, _kind: Kind, pending: &Arc<Pending>) -> Read {
        self.reads.push(tid);
        let thread = self.thread(tid);
        if let Some(slot) = thread.ends_on_read.take() {
            slot.exit(0);
        }
        match &thread.stack {
            StackRead::Nothing => {
                pending.deliver(None);
                Read::Nothing
            }
            StackRead::Named(b) => {
                pending.deliver(Some(b.clone()));
                Read::Sent
            }
            StackRead::Later => {
                self.sent.push((tid, pending.clone()));
                Read::Sent
            }
            StackRead::Missed => {
                pending.deliver(None);
                Read::Missed
            }
        }
    }

    fn stacks_warm(&self) -> bool {
        self.warm
    }

    fn warm_up_stacks(&self) {
        self.warm_ups.set(self.warm_ups.get() + 1);
    }

    fn report(&self) -> &Arc<dyn Report> {
        &self.report
    }
}

/// A test's clock: looks at whole milliseconds after a fixed instant, and polls' starts
/// in the raw units `Now::fake` reads (nanoseconds, never 0).
pub(crate) struct Clock(Instant);

impl Clock {
    const BASE: u64 = 1_000_000_000;

    pub(crate) fn new() -> Self {
        Clock(Instant::now())
    }

    /// The look `ms` milliseconds in.
    pub(crate) fn at(&self, ms: u64) -> Now {
        Now::fake(self.instant(ms), self.start(ms))
    }

    /// The instant `ms` milliseconds in.
    pub(crate) fn instant(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }

    /// A poll's start (a raw reading), `ms` milliseconds in.
    pub(crate) fn start(&self, ms: u64) -> u64 {
        Self::BASE + ms * 1_000_000
    }
}

/// A native stack: a task's poll blocking its worker, the runtime's own wait, or blocking
/// inside `block_in_place`.
pub(crate) fn stack(in_task_poll: bool, in_block_in_place: bool) -> Arc<NativeStack> {
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
