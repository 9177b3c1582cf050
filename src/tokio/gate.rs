//! The gate: what fails a `#[pollwatch::test]` or a strict run. A test's [`Collector`] gets the
//! slow polls of the threads the test runs on (and those threads apply its budget); the
//! [`Verdict`] groups the offenders, and its `Display` is the failure message.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::detect::frames;
use crate::sink::collector::{self, Collector};
use crate::sink::{SlowPollRecord, store};
use crate::util::{Dur, saturating_nanos};

/// Routes a runtime worker's slow polls to `collector`, and applies its budget, for the rest of
/// the thread's life.
pub(crate) fn install(collector: Arc<Collector>) {
    frames::set_thread_budget(Some(saturating_nanos(collector.budget())));
    collector::replace(Some(collector));
}

/// Routes this thread's slow polls to `collector` (and applies its budget) until dropped.
pub(crate) fn enter(collector: Arc<Collector>) -> impl Drop {
    struct Restore(Option<Arc<Collector>>, Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            collector::replace(self.0.take());
            frames::set_thread_budget(self.1);
        }
    }
    let prev_budget = frames::set_thread_budget(Some(saturating_nanos(collector.budget())));
    Restore(collector::replace(Some(collector)), prev_budget)
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
    who: String,
    location: String,
    chain: String,
    kind: String,
    count: usize,
    longest: Duration,
}

impl Verdict {
    fn of(records: &[SlowPollRecord], budget: Duration) -> Verdict {
        let mut groups: BTreeMap<(String, String, String), Offender> = BTreeMap::new();
        for r in records
            .iter()
            .filter(|r| Duration::from_nanos(r.duration_ns) >= budget)
        {
            let who = r.fn_name.clone().unwrap_or_else(|| {
                format!("task spawned at {}", r.spawned_at.as_deref().unwrap_or("?"))
            });
            let chain = r.chain.join(" > ");
            let g = groups
                .entry((who.clone(), r.location.clone(), chain.clone()))
                .or_insert_with(|| Offender {
                    who,
                    location: r.location.clone(),
                    chain,
                    kind: r.kind.clone(),
                    count: 0,
                    longest: Duration::ZERO,
                });
            g.count += 1;
            g.longest = g.longest.max(Duration::from_nanos(r.duration_ns));
            if g.kind == "unknown" {
                g.kind.clone_from(&r.kind);
            }
        }
        let mut groups: Vec<Offender> = groups.into_values().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.longest));
        Verdict { budget, groups }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
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
            write!(
                f,
                "\n  - {} at {} [{}]: {} time{}, longest {}, {}",
                g.who,
                g.location,
                g.chain,
                g.count,
                if g.count == 1 { "" } else { "s" },
                Dur(g.longest),
                g.kind
            )?;
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
            location: "src/a.rs:1".to_owned(),
            created_at: "src/a.rs:9".to_owned(),
            chain: vec!["main".to_owned(), name.to_owned()],
            duration_ns: ms * 1_000_000,
            self_time_ns: ms * 1_000_000,
            threshold_ns: 10_000_000,
            kind: "cpu-bound".to_owned(),
            calls: 1,
            thread: "t".to_owned(),
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
             - a at src/a.rs:1 [main > a]: 2 times, longest 50.0ms, cpu-bound\n  \
             - b at src/a.rs:1 [main > b]: 1 time, longest 20.0ms, cpu-bound"
        );
        assert!(Verdict::of(&[rec("c", 5)], Duration::from_millis(10)).is_empty());
    }
}
