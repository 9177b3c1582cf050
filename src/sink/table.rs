//! The report as a terminal table: what `POLLWATCH_SUMMARY=1` prints.

use std::fmt;
use std::time::Duration;

use super::schema::Report;
use crate::util::Dur;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pollwatch summary: {} slow poll{}, {} stall report{}",
            self.slow_polls.len(),
            if self.slow_polls.len() == 1 { "" } else { "s" },
            self.stalls.len(),
            if self.stalls.len() == 1 { "" } else { "s" },
        )?;
        let dur = |ns: Option<u64>| {
            ns.map_or_else(
                || "-".to_owned(),
                |n| Dur(Duration::from_nanos(n)).to_string(),
            )
        };
        let header = [
            "fn",
            "calls",
            "done",
            "cancel",
            "unpolled",
            "panic",
            "mean wall",
            "sched",
            "busy",
            "p50 poll",
            "p99 poll",
            "max poll",
            "slow",
        ];
        let rows: Vec<[String; 13]> = self
            .call_sites
            .iter()
            .map(|c| {
                [
                    c.fn_name.clone(),
                    c.calls.to_string(),
                    c.completed.to_string(),
                    c.cancelled.to_string(),
                    c.never_polled.to_string(),
                    c.panicked.to_string(),
                    dur(c.wall_ns_mean),
                    dur(c.mean_scheduling_delay_ns),
                    dur(Some(c.busy_ns)),
                    dur(c.p50_poll_ns),
                    dur(c.p99_poll_ns),
                    dur(Some(c.max_poll_ns)),
                    c.slow_polls.to_string(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i == 0 {
                    write!(f, "{cell:<w$}")?;
                } else {
                    write!(f, "  {cell:>w$}")?;
                }
            }
            writeln!(f)
        };
        line(f, &header)?;
        for row in &rows {
            line(f, &row.each_ref().map(String::as_str))?;
        }
        Ok(())
    }
}
