//! When the watchdog looks and when it reports: how often it looks, the threshold a poll is
//! held to, and the growing intervals of a stall's later reports.

use std::time::Duration;

use crate::detect::slot::Slot;
use crate::site::CallSite;

/// Reports again after the poll has been blocked this long (then every 30 s).
const ESCALATIONS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

pub(super) fn next_report_after(reports: u32, threshold: Duration) -> Duration {
    match reports {
        0 => threshold,
        n => {
            let i = (n - 1) as usize;
            ESCALATIONS
                .get(i)
                .copied()
                .unwrap_or_else(|| Duration::from_secs(30) * (n - 2))
                .max(threshold)
        }
    }
}

/// How often the watchdog looks: an eighth of the threshold, within 5 ms and 250 ms, so a
/// stall is seen by 1.125 x its threshold and reported by 1.25 x with every core busy
/// (`benches/accuracy.rs`: a quarter let the slowest reports reach 1.30 x).
pub(super) fn tick_of(threshold: Duration) -> Duration {
    (threshold / 8).clamp(Duration::from_millis(5), Duration::from_millis(250))
}

/// The threshold for `culprit` on `slot`'s thread: its own, or a test's smaller budget.
pub(super) fn threshold_for(
    culprit: Option<&'static CallSite>,
    slot: &Slot,
    threshold: Duration,
) -> Duration {
    let own = culprit
        .and_then(CallSite::own_threshold_nanos)
        .map_or(threshold, Duration::from_nanos);
    match slot.budget_ns() {
        None => own,
        Some(budget) => own.min(Duration::from_nanos(budget)),
    }
}

/// Whether a poll blocked this long will likely need its stack named: at half its threshold
/// the symbolizer starts warming up (the first time only), not when the stack is read — a
/// process's first stall is then named about as soon as a later one, and a process that never
/// blocks that long never pays for the warm-up.
pub(super) fn needs_stack_soon(blocked: Duration, threshold: Duration) -> bool {
    blocked >= threshold / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_intervals_grow() {
        let t = Duration::from_millis(100);
        let at: Vec<_> = (0..5).map(|n| next_report_after(n, t)).collect();
        assert_eq!(
            at,
            [
                t,
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(60)
            ]
        );
    }
}
