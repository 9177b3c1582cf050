//! How much pollwatch writes. A chronic blocker must not flood the log: a real server whose
//! handler slept 150 ms printed 1,286 lines in 6.5 s for 80 blocking requests (a stall, its
//! stack and a slow poll each, plus lag). An on-call person needs the first occurrence in full,
//! then, per culprit, one digest line per interval:
//!
//! ```text
//! Get::apply (src/cmd/get.rs:66) blocked the executor 37 more times in the last 10.0s, p50 150.1ms, max 152.0ms; workers lagged up to 594.0ms
//! ```
//!
//! under a global cap of lines per second. Only what is *printed* is limited: the counters, the
//! stored records (JSON report, test verdicts) and the `on_slow_poll` callback see every
//! occurrence. Each `#[pollwatch::test]` has culprits of its own, so every failing test shows
//! its first occurrence in full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::rate_limit::{Admit, RateLimit};
use crate::clock::{Instant, now_ms};
use crate::config;
use std::hash::{Hash as _, Hasher as _};

use crate::record::{Blame, Digest, SlowPoll, StackFrame, Stall};
use crate::util::lock;

/// Whom a line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Culprit {
    /// An `#[async_timed]` fn (its call site's address) where no stack named the line.
    Fn(usize),
    /// An `#[async_timed]` fn at the line its native stack names (the call site's address and
    /// a hash of the line): two blocking sites in one fn are two culprits.
    FnAt(usize, u64),
    /// Un-annotated tasks spawned at one line.
    Spawned(&'static str, u32),
    /// A fn named from native stacks (a hash of its name and line).
    Stack(u64),
    /// A poll with neither (a stall outside any task or fn).
    Unknown,
    /// Lag that no recent culprit explains.
    Lag,
}

/// A culprit, per test: `(test, culprit)`; the test is 0 outside `#[pollwatch::test]`.
type Key = (u64, Culprit);

/// How many slow-poll durations a digest keeps per interval for its median (later ones still
/// count and still raise the maximum).
const MAX_SAMPLES: usize = 1024;

/// Lag right after a culprit's blocking poll is that culprit's doing.
#[cfg(feature = "tokio")]
const LAG_BLAME_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Entry {
    /// The first occurrence is still being reported in full (its stall, stack, slow poll).
    first_open: bool,
    first_seen: Instant,
    /// The last report about it: a report of its fn that no stack places belongs to the
    /// fn's place seen last.
    last_seen: Instant,
    stack_shown: bool,
    /// What the digest summarizes, since `since`.
    since: Instant,
    slow_polls: u64,
    /// Stall reports held back whose poll has not (yet) ended as a slow poll.
    stalls: u64,
    last_stall: Option<Instant>,
    durations_ns: Vec<u64>,
    max_ns: u64,
    lag_max: Option<Duration>,
    label: Label,
}

#[derive(Clone, Debug)]
struct Label {
    fn_name: Option<String>,
    location: Option<String>,
    spawned_at: Option<String>,
}

impl Label {
    fn none() -> Self {
        Label {
            fn_name: None,
            location: None,
            spawned_at: None,
        }
    }
}

impl Entry {
    fn new(now: Instant, label: Label) -> Self {
        Entry {
            first_open: true,
            first_seen: now,
            last_seen: now,
            stack_shown: false,
            since: now,
            slow_polls: 0,
            stalls: 0,
            last_stall: None,
            durations_ns: Vec::new(),
            max_ns: 0,
            lag_max: None,
            label,
        }
    }

    /// Something to summarize: slow polls or lag; or stalls that no slow poll followed within
    /// an interval (their poll is still running, or nothing times it: un-annotated tasks
    /// without task hooks).
    fn pending(&self, now: Instant, interval: Duration) -> bool {
        self.slow_polls > 0
            || self.lag_max.is_some()
            || self.stalls > 0
                && self
                    .last_stall
                    .is_some_and(|at| now.saturating_duration_since(at) >= interval)
    }
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// The culprit that blocked last, and when: lag right after it is attributed to it.
    last_blocker: Option<(Key, Instant)>,
}

impl State {
    /// The entry of `culprit` in `test`, made if new. An annotated fn is keyed by the line its
    /// stack names; a report of it that no stack places (a poll the watchdog did not see, a
    /// stack not read) joins the place of that fn seen last, and the first line learned for a
    /// fn seen without one takes over its entry: one blocking site is one culprit whatever
    /// each report knew, and two sites are two.
    fn entry(&mut self, test: u64, (culprit, label): (Culprit, Label), now: Instant) -> Key {
        let key = match culprit {
            Culprit::Fn(site) => self
                .entries
                .iter()
                .filter(|((t, c), _)| *t == test && matches!(c, Culprit::FnAt(s, _) if *s == site))
                .max_by_key(|(_, e)| e.last_seen)
                .map_or((test, culprit), |(key, _)| *key),
            Culprit::FnAt(site, _) => {
                let key = (test, culprit);
                if !self.entries.contains_key(&key)
                    && let Some(mut entry) = self.entries.remove(&(test, Culprit::Fn(site)))
                {
                    entry.label = label.clone();
                    self.entries.insert(key, entry);
                }
                key
            }
            _ => (test, culprit),
        };
        self.entries
            .entry(key)
            .or_insert_with(|| Entry::new(now, label))
            .last_seen = now;
        key
    }
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
/// The cap on lines per second (`Config::warnings_per_second`): one for the process, one per
/// `#[pollwatch::test]` (each test's captured output is a log of its own).
static CAPS: Mutex<Option<HashMap<u64, &'static RateLimit>>> = Mutex::new(None);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = lock(&STATE);
    f(guard.get_or_insert_with(State::default))
}

/// The digest interval; zero turns the policy off (every occurrence in full).
fn interval() -> Duration {
    config::digest_interval()
}

/// Whom a report (a slow poll's or a stall's) is about: the annotated fn; else the fn its
/// native stack names; else the line its task was spawned at.
fn culprit_of(blame: &Blame) -> (Culprit, Label) {
    let (annotated, task) = (blame.culprit.fn_site(), blame.task);
    let place = blame.stack.as_deref().and_then(|stack| {
        let frame = stack.culprit.as_ref()?;
        Some((frame, place_hash(frame, stack.syscall.is_some())))
    });
    if let Some(cs) = annotated {
        let site = std::ptr::from_ref(cs) as usize;
        let (culprit, location) = match place {
            Some((frame, hash)) if frame.location.is_some() => {
                (Culprit::FnAt(site, hash), frame.location.clone())
            }
            _ => (Culprit::Fn(site), cs.location().map(|l| l.to_string())),
        };
        return (
            culprit,
            Label {
                fn_name: Some(cs.name().to_owned()),
                location,
                spawned_at: None,
            },
        );
    }
    if let Some((frame, hash)) = place {
        return (
            Culprit::Stack(hash),
            Label {
                fn_name: Some(frame.name.clone()),
                location: frame.location.clone(),
                spawned_at: task.map(|t| t.spawned_at().to_string()),
            },
        );
    }
    match task {
        Some(t) => (
            Culprit::Spawned(t.spawned_at.file(), t.spawned_at.line()),
            Label {
                fn_name: None,
                location: None,
                spawned_at: Some(t.spawned_at().to_string()),
            },
        ),
        None => (Culprit::Unknown, Label::none()),
    }
}

/// The place a stack blames, as a key: a thread waiting in a system call waits at one line,
/// so the fn and that line; a thread running on a CPU was sampled at whatever line of its loop
/// it was on (`for` on one look, the body on the next), so the fn alone. Two blocking calls in
/// one fn are two culprits; one busy loop is one.
fn place_hash(frame: &StackFrame, in_syscall: bool) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    frame.name.hash(&mut h);
    if in_syscall {
        frame.location.hash(&mut h);
    }
    h.finish()
}

/// Whether a slow poll is printed in full: the culprit's first occurrence is; later ones go
/// into its digest.
pub(super) fn slow_poll(test: u64, slow: &SlowPoll) -> bool {
    if interval().is_zero() {
        return true;
    }
    let culprit = culprit_of(&slow.blame);
    let now = Instant::now();
    with_state(|state| {
        let key = state.entry(test, culprit, now);
        state.last_blocker = Some((key, now));
        let Some(entry) = state.entries.get_mut(&key) else {
            return true;
        };
        if entry.first_open {
            // The slow poll ends the first occurrence; what follows is digested.
            entry.first_open = false;
            entry.since = now;
            return true;
        }
        entry.slow_polls += 1;
        // The stall reported while this poll ran was this occurrence: counted once, here.
        entry.stalls = entry.stalls.saturating_sub(1);
        let ns = crate::util::saturating_nanos(slow.blocked);
        entry.max_ns = entry.max_ns.max(ns);
        if entry.durations_ns.len() < MAX_SAMPLES {
            entry.durations_ns.push(ns);
        }
        false
    })
}

/// Whether a stall report is printed: during the culprit's first occurrence, and for the
/// reminders of a poll still blocked after a second or more (a deadlock is never digested).
pub(super) fn stall(test: u64, s: &Stall) -> bool {
    if interval().is_zero() || s.nth >= 2 {
        return true;
    }
    let culprit = culprit_of(&s.blame);
    let now = Instant::now();
    with_state(|state| {
        let key = state.entry(test, culprit, now);
        state.last_blocker = Some((key, now));
        let Some(entry) = state.entries.get_mut(&key) else {
            return true;
        };
        // A first occurrence that never ended in a slow poll (the hooks did not see it) is over
        // after an interval.
        if entry.first_open && now.saturating_duration_since(entry.first_seen) >= interval() {
            entry.first_open = false;
            entry.since = now;
        }
        if entry.first_open {
            // Its stack block is shown with it: no follow-up block after.
            entry.stack_shown |= s.blame.stack.is_some();
            return true;
        }
        entry.stalls += 1;
        entry.last_stall = Some(now);
        false
    })
}

/// Whether a native stack that missed its report is printed as a follow-up: once per culprit,
/// and not after a stall report that showed one.
pub(super) fn stack(test: u64, s: &Stall) -> bool {
    if interval().is_zero() {
        return true;
    }
    let culprit = culprit_of(&s.blame);
    let now = Instant::now();
    with_state(|state| {
        let key = state.entry(test, culprit, now);
        state
            .entries
            .get_mut(&key)
            .is_none_or(|entry| !std::mem::replace(&mut entry.stack_shown, true))
    })
}

#[cfg(feature = "tokio")]
/// Whether a lag warning is printed: the first one (per test) is; later ones raise the "workers
/// lagged up to" of the culprit that just blocked, or go into a digest of lag alone.
pub(super) fn lag(test: u64, delay: Duration) -> bool {
    if interval().is_zero() {
        return true;
    }
    let now = Instant::now();
    with_state(|state| {
        let lag_key = (test, Culprit::Lag);
        let first = state
            .entries
            .entry(lag_key)
            .or_insert_with(|| Entry::new(now, Label::none()));
        if first.first_open {
            first.first_open = false;
            first.since = now;
            return true;
        }
        let blamed = state
            .last_blocker
            .filter(|(key, at)| {
                key.0 == test && now.saturating_duration_since(*at) <= LAG_BLAME_WINDOW
            })
            .map_or(lag_key, |(key, _)| key);
        if let Some(entry) = state.entries.get_mut(&blamed) {
            entry.lag_max = Some(entry.lag_max.map_or(delay, |m| m.max(delay)));
        }
        false
    })
}

/// The digests of `test` due: one per culprit with something to summarize whose interval has
/// passed (all of them, with `all`, for the end of a run or a test).
pub(super) fn due(test: u64, all: bool) -> Vec<Digest> {
    if interval().is_zero() {
        return Vec::new();
    }
    let now = Instant::now();
    let interval = interval();
    with_state(|state| {
        state
            .entries
            .iter_mut()
            .filter(|((t, _), e)| {
                *t == test
                    && (all && (e.slow_polls > 0 || e.stalls > 0 || e.lag_max.is_some())
                        || e.pending(now, interval)
                            && now.saturating_duration_since(e.since) >= interval)
            })
            .map(|((_, culprit), e)| {
                let mut durations = std::mem::take(&mut e.durations_ns);
                durations.sort_unstable();
                let digest = Digest {
                    fn_name: e.label.fn_name.clone(),
                    location: e.label.location.clone(),
                    spawned_at: e.label.spawned_at.clone(),
                    lag_only: *culprit == Culprit::Lag,
                    slow_polls: e.slow_polls,
                    stalls: e.stalls,
                    p50: durations
                        .get(durations.len() / 2)
                        .map(|ns| Duration::from_nanos(*ns)),
                    max: (e.max_ns > 0).then(|| Duration::from_nanos(e.max_ns)),
                    lag_max: e.lag_max,
                    window: now.saturating_duration_since(e.since),
                };
                e.since = now;
                e.slow_polls = 0;
                e.stalls = 0;
                e.max_ns = 0;
                e.lag_max = None;
                digest
            })
            .collect()
    })
}

/// Whether one more line of `test` fits under the cap; `Some(held back before it)` if it does.
pub(super) fn admit_line(test: u64) -> Option<u64> {
    let cap = *lock(&CAPS)
        .get_or_insert_with(HashMap::new)
        .entry(test)
        // One per test that ever printed, never freed: a few atomics each.
        .or_insert_with(|| Box::leak(Box::new(RateLimit::new())));
    match cap.check(now_ms(), config::warnings_per_second()) {
        Admit::Suppress => None,
        Admit::Emit { suppressed_before } => Some(suppressed_before),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(location: &str) -> Label {
        Label {
            fn_name: Some("crunch".to_owned()),
            location: Some(location.to_owned()),
            spawned_at: None,
        }
    }

    const SITE: usize = 0x1000;

    #[test]
    fn one_fn_blocking_at_two_lines_is_two_culprits() {
        let mut state = State::default();
        let now = Instant::now();
        let a = state.entry(7, (Culprit::FnAt(SITE, 1), label("src/a.rs:10")), now);
        let b = state.entry(7, (Culprit::FnAt(SITE, 2), label("src/a.rs:12")), now);
        assert_ne!(a, b);
        assert_eq!(state.entries.len(), 2);
        // Another test's reports of the same place are its own.
        let other = state.entry(8, (Culprit::FnAt(SITE, 1), label("src/a.rs:10")), now);
        assert_ne!(a, other);
    }

    #[test]
    fn a_busy_loop_sampled_at_two_lines_is_one_place_and_two_waits_are_two() {
        let at = |line: u32| StackFrame {
            name: "count".to_owned(),
            location: Some(format!("examples/cpu_bound.rs:{line}")),
        };
        // Sampled on a CPU: the `for` line on one look, the body on the next.
        assert_eq!(place_hash(&at(22), false), place_hash(&at(23), false));
        // Waiting in a system call: each line is a blocking call of its own.
        assert_ne!(place_hash(&at(22), true), place_hash(&at(23), true));
        let other = StackFrame {
            name: "digest".to_owned(),
            ..at(22)
        };
        assert_ne!(place_hash(&at(22), false), place_hash(&other, false));
    }

    #[test]
    fn the_first_line_learned_takes_over_the_fns_entry() {
        let mut state = State::default();
        let now = Instant::now();
        let unplaced = state.entry(0, (Culprit::Fn(SITE), label("src/a.rs:9")), now);
        state.entries.get_mut(&unplaced).unwrap().first_open = false;
        let placed = state.entry(0, (Culprit::FnAt(SITE, 1), label("src/a.rs:10")), now);
        assert_eq!(state.entries.len(), 1, "one culprit");
        let entry = &state.entries[&placed];
        assert!(
            !entry.first_open,
            "its first occurrence was already reported"
        );
        assert_eq!(entry.label.location.as_deref(), Some("src/a.rs:10"));
    }

    #[test]
    fn a_report_no_stack_places_joins_the_fns_place_seen_last() {
        let mut state = State::default();
        let t0 = Instant::now();
        let first = state.entry(0, (Culprit::FnAt(SITE, 1), label("src/a.rs:10")), t0);
        let second = state.entry(
            0,
            (Culprit::FnAt(SITE, 2), label("src/a.rs:12")),
            t0 + Duration::from_millis(5),
        );
        let later = t0 + Duration::from_millis(10);
        assert_eq!(
            state.entry(0, (Culprit::Fn(SITE), label("src/a.rs:9")), later),
            second
        );
        assert_ne!(first, second);
        assert_eq!(state.entries.len(), 2);
        // No place seen for the fn yet: keyed by the fn.
        let other_fn = state.entry(0, (Culprit::Fn(SITE + 8), label("src/b.rs:1")), later);
        assert_eq!(other_fn, (0, Culprit::Fn(SITE + 8)));
    }
}
