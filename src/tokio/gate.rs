//! The gate: what fails a `#[pollwatch::test]` or a strict run. A test's [`Collector`] gets the
//! slow polls of the threads the test runs on (and those threads apply its budget); the
//! [`Verdict`] groups the offenders, and its `Display` is the failure message.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::detect::frames;
use crate::dispatch::thread_test::ThreadTest;
use crate::dispatch::{Job, Route};
use crate::sink::collector::Collector;
use crate::sink::{SlowPollRecord, github, store};
use crate::util::Dur;

/// Makes a runtime worker run for the test, for the rest of the thread's life: its slow polls
/// go to the test's collector, its polls are checked against the test's budget, and the
/// watchdog's reports about it go to the test's output.
pub(crate) fn install(test: ThreadTest) {
    frames::set_thread_test(Some(test));
}

/// Makes this thread run for the test until dropped.
pub(crate) fn enter(test: ThreadTest) -> impl Drop {
    struct Restore(Option<ThreadTest>);
    impl Drop for Restore {
        fn drop(&mut self) {
            frames::set_thread_test(self.0.take());
        }
    }
    Restore(frames::set_thread_test(Some(test)))
}

/// The thread that makes the watchdog's reports about a test's threads. The watchdog is one
/// thread for the whole process, started by whichever test came first, so its own output would
/// be captured with that test's; this thread is started from the test it serves, and the test
/// harness captures its output with that test's.
pub(crate) struct Printer {
    tx: Sender<Option<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl Printer {
    /// Starts the printer of `test` (which has no route yet: the route is to this printer).
    pub(crate) fn start(test: ThreadTest) -> Printer {
        let (tx, rx) = mpsc::channel::<Option<Job>>();
        let handle = std::thread::Builder::new()
            .name("pollwatch-test".into())
            .spawn(move || {
                frames::set_thread_test(Some(test));
                while let Ok(Some(job)) = rx.recv() {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .ok();
        Printer { tx, handle }
    }

    /// The route to this printer, if its thread runs.
    pub(crate) fn route(&self) -> Option<Route> {
        self.handle.as_ref().map(|_| Route::new(self.tx.clone()))
    }
}

impl Drop for Printer {
    /// Makes the reports already sent, then stops; later reports are made where they arise.
    fn drop(&mut self) {
        let _ = self.tx.send(None);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The offenders of `collector`'s test.
pub(crate) fn test_verdict(collector: &Collector) -> Verdict {
    Verdict::of(&collector.offenders(), collector.budget())
}

/// The polls that blocked longer than a budget, grouped by culprit: what fails a
/// `#[pollwatch::test]` or a strict run. Its `Display` is the failure message.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    budget: Duration,
    groups: Vec<Offender>,
}

#[derive(Debug, Clone)]
struct Offender {
    /// `read_big_file`, or `a task` for an un-annotated one.
    who: String,
    /// Where it blocked (the stack's line or the fn's), or, `who` being a task, where it was
    /// spawned.
    location: Option<String>,
    chain: String,
    /// Where the task whose poll it was had been spawned, when `who` is a fn.
    spawned_at: Option<String>,
    /// The longest poll's kind and system call.
    kind: String,
    syscall: Option<String>,
    count: usize,
    longest: Duration,
}

impl Verdict {
    fn of(records: &[SlowPollRecord], budget: Duration) -> Verdict {
        let mut groups: BTreeMap<(String, Option<String>, String), Offender> = BTreeMap::new();
        for r in records
            .iter()
            .filter(|r| Duration::from_nanos(r.duration_ns) >= budget)
        {
            let who = r.fn_name.clone().unwrap_or_else(|| "a task".to_owned());
            // An un-annotated task's chain is the task itself: the spawn line says it all, and
            // tasks spawned from one line are one offender.
            let only_task = r.fn_name.is_none() && r.chain.iter().all(|c| c.starts_with("task "));
            let chain = if only_task {
                String::new()
            } else {
                r.chain.join(" > ")
            };
            let duration = Duration::from_nanos(r.duration_ns);
            let g = groups
                .entry((who.clone(), r.location.clone(), chain.clone()))
                .or_insert_with(|| Offender {
                    who,
                    location: r.location.clone(),
                    chain,
                    spawned_at: r.fn_name.as_ref().and(r.spawned_at.clone()),
                    kind: r.kind.clone(),
                    syscall: r.syscall.clone(),
                    count: 0,
                    longest: Duration::ZERO,
                });
            g.count += 1;
            if duration > g.longest {
                g.longest = duration;
                g.kind.clone_from(&r.kind);
                g.syscall.clone_from(&r.syscall);
            }
        }
        let mut groups: Vec<Offender> = groups.into_values().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.longest));
        Verdict { budget, groups }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// On GitHub Actions, the failure of `what` (a test, a program) also as annotations on
    /// the culprits' lines and a step-summary table (`sink::github`).
    pub(crate) fn to_github(&self, what: &str) {
        if !github::enabled() {
            return;
        }
        let headline = self.to_string();
        let headline = headline.lines().next().unwrap_or_default();
        let rows: Vec<github::Row> = self
            .groups
            .iter()
            .map(|g| github::Row {
                who: g.who.clone(),
                location: g.location.clone(),
                chain: g.chain.clone(),
                count: g.count,
                longest: Dur(g.longest).to_string(),
                kind: g.kind_text().unwrap_or_else(|| "unknown".to_owned()),
                line: g.to_string(),
            })
            .collect();
        github::report_failure(what, headline, &rows);
    }
}

impl Offender {
    /// `blocking: clock_nanosleep`, `cpu-bound`, `in futex`; `None` when nothing is known.
    fn kind_text(&self) -> Option<String> {
        match (self.kind.as_str(), &self.syscall) {
            ("unknown", None) => None,
            ("unknown", Some(call)) => Some(format!("in {call}")),
            (kind, Some(call)) => Some(format!("{kind}: {call}")),
            (kind, None) => Some(kind.to_owned()),
        }
    }
}

/// `read_big_file at src/io.rs:29 [handler > read_big_file]: 2 times, longest 81.2ms (blocking)`,
/// `Get::apply at src/cmd/get.rs:66 [Handler::run > Get::apply] in a task spawned at
/// src/server.rs:259: 1 time, longest 154.0ms (blocking: clock_nanosleep)`, `a task spawned at
/// src/server.rs:259: 1 time, longest 154.0ms (blocking)`.
impl fmt::Display for Offender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.who)?;
        if let Some(location) = &self.location {
            let at = if self.who == "a task" {
                "spawned at"
            } else {
                "at"
            };
            write!(f, " {at} {location}")?;
        }
        if !self.chain.is_empty() {
            write!(f, " [{}]", self.chain)?;
        }
        if let Some(spawned_at) = &self.spawned_at {
            write!(f, " in a task spawned at {spawned_at}")?;
        }
        write!(
            f,
            ": {} time{}, longest {}",
            self.count,
            if self.count == 1 { "" } else { "s" },
            Dur(self.longest),
        )?;
        if let Some(kind) = self.kind_text() {
            write!(f, " ({kind})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n: usize = self.groups.iter().map(|g| g.count).sum();
        write!(
            f,
            "pollwatch: {n} poll{} blocked the executor for {} or more:",
            if n == 1 { "" } else { "s" },
            Dur(self.budget)
        )?;
        for g in &self.groups {
            write!(f, "\n  - {g}")?;
        }
        Ok(())
    }
}

/// Every slow poll so far, as a verdict against `budget` (strict runs).
pub(crate) fn process_verdict(budget: Duration) -> Verdict {
    Verdict::of(&store::snapshot().slow_polls, budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, ms: u64) -> SlowPollRecord {
        SlowPollRecord {
            fn_name: Some(name.to_owned()),
            task: None,
            spawned_at: None,
            location: Some("src/a.rs:1".to_owned()),
            created_at: Some("src/a.rs:9".to_owned()),
            chain: vec!["main".to_owned(), name.to_owned()],
            duration_ns: ms * 1_000_000,
            self_time_ns: ms * 1_000_000,
            threshold_ns: 10_000_000,
            kind: "cpu-bound".to_owned(),
            calls: 1,
            thread: "t".to_owned(),
            thread_id: 1,
            at_ns: 0,
            syscall: None,
            stack: None,
            stack_method: None,
        }
    }

    #[test]
    fn verdict_groups_offenders_and_ignores_polls_under_budget() {
        let v = Verdict::of(
            &[rec("a", 30), rec("a", 50), rec("b", 20), rec("c", 5)],
            Duration::from_millis(10),
        );
        assert_eq!(
            v.to_string(),
            "pollwatch: 3 polls blocked the executor for 10.0ms or more:\n  \
             - a at src/a.rs:1 [main > a]: 2 times, longest 50.0ms (cpu-bound)\n  \
             - b at src/a.rs:1 [main > b]: 1 time, longest 20.0ms (cpu-bound)"
        );
        assert!(Verdict::of(&[rec("c", 5)], Duration::from_millis(10)).is_empty());
    }

    #[test]
    fn tasks_read_as_sentences_and_the_kind_is_the_longest_polls() {
        let task = |id: u64, ms: u64, kind: &str| SlowPollRecord {
            fn_name: None,
            task: Some(id),
            spawned_at: Some("src/server.rs:259".to_owned()),
            location: Some("src/server.rs:259".to_owned()),
            chain: vec![format!("task {id}")],
            kind: kind.to_owned(),
            ..rec("unused", ms)
        };
        let v = Verdict::of(
            &[
                task(5, 150, "blocking"),
                task(6, 300, "cpu-bound"),
                task(7, 120, "unknown"),
            ],
            Duration::from_millis(100),
        );
        assert_eq!(
            v.to_string(),
            "pollwatch: 3 polls blocked the executor for 100.0ms or more:\n  \
             - a task spawned at src/server.rs:259: 3 times, longest 300.0ms (cpu-bound)"
        );
    }

    #[test]
    fn a_task_named_from_its_stack_reads_as_its_fn() {
        let named = SlowPollRecord {
            fn_name: Some("Get::apply".to_owned()),
            task: Some(5),
            spawned_at: Some("src/server.rs:259".to_owned()),
            location: Some("src/cmd/get.rs:66".to_owned()),
            chain: vec!["Handler::run".to_owned(), "Get::apply".to_owned()],
            kind: "blocking".to_owned(),
            syscall: Some("clock_nanosleep".to_owned()),
            ..rec("unused", 154)
        };
        let untracked = SlowPollRecord {
            fn_name: None,
            task: None,
            spawned_at: None,
            location: None,
            chain: Vec::new(),
            kind: "blocking".to_owned(),
            syscall: Some("futex".to_owned()),
            ..rec("unused", 120)
        };
        let v = Verdict::of(&[named, untracked], Duration::from_millis(100));
        assert_eq!(
            v.to_string(),
            "pollwatch: 2 polls blocked the executor for 100.0ms or more:\n  \
             - Get::apply at src/cmd/get.rs:66 [Handler::run > Get::apply] in a task spawned at \
             src/server.rs:259: 1 time, longest 154.0ms (blocking: clock_nanosleep)\n  \
             - a task: 1 time, longest 120.0ms (blocking: futex)"
        );
    }
}
