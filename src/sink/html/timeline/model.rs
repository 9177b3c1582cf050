//! The timeline's model: [`Timeline::of`] lays a report out as plain data in the SVG's
//! coordinates (rows, a time scale, ticks, bars, markers), which the tests check.

use super::super::text::{CHAR_W, clip, culprit, dur};
use crate::sink::schema::{Report, SlowPollRecord};

/// Where the time axis begins: left of it, the rows' thread names.
const LEFT: f64 = 230.0;
/// The time axis' length.
const AXIS: f64 = 1100.0;
/// Room right of the axis, so the last tick's label is not cut.
const RIGHT: f64 = 20.0;
/// The first row's top: above it, the ticks' labels.
const TOP: f64 = 24.0;
pub(super) const ROW_H: f64 = 30.0;
/// A bar's inset from its row's top and bottom edges.
pub(super) const BAR_INSET: f64 = 4.0;
/// A lag's inset: thinner than a bar, since lags overlap each other and are not the culprit.
pub(super) const LAG_INSET: f64 = 8.0;
/// A stall marker's tip hangs this far below its row's top edge.
const STALL_INSET: f64 = 1.0;
/// Room under the last row: the tick lines run 8 px past it.
const BOTTOM: f64 = 16.0;
/// The narrowest bar drawn: a 1 ms poll in a minute-long run still shows.
const MIN_BAR: f64 = 2.0;
/// A thread name's room left of the axis, in characters.
const ROW_LABEL_CHARS: usize = 34;
/// A bar's label is drawn only with room for this many characters; fewer say nothing.
const MIN_LABEL_CHARS: usize = 4;
/// A bar's label's distance from the bar's left edge (and room kept at its right).
pub(super) const LABEL_PAD: f64 = 3.0;

/// The timeline of a report, in the SVG's coordinates.
#[derive(Debug)]
pub(super) struct Timeline {
    /// The blocked threads, top to bottom.
    pub(super) rows: Vec<Row>,
    pub(super) ticks: Vec<Tick>,
    /// Slow polls, earliest first.
    pub(super) bars: Vec<Bar>,
    pub(super) stalls: Vec<Marker>,
    /// Below the threads' rows, when the report has lags.
    pub(super) lag: Option<LagRow>,
    /// The whole picture's size.
    pub(super) width: f64,
    pub(super) height: f64,
}

/// Nanoseconds (since pollwatch started) to x: `[t0, t1]` onto the axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Scale {
    pub(super) t0: u64,
    pub(super) t1: u64,
}

/// One thread: its kernel id (0 where unknown) and name tell same-named workers apart.
#[derive(Debug, PartialEq)]
pub(super) struct Row {
    pub(super) thread_id: u64,
    pub(super) thread: String,
    /// What the row says: the name and id, clipped to the room left of the axis.
    pub(super) label: String,
    pub(super) y: f64,
}

/// A line across the rows at a round time.
#[derive(Debug, PartialEq)]
pub(super) struct Tick {
    pub(super) at_ns: u64,
    pub(super) x: f64,
}

/// One slow poll, on its thread's row.
#[derive(Debug)]
pub(super) struct Bar {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) width: f64,
    pub(super) kind: String,
    /// The culprit, clipped to the bar; `None` where the bar is too narrow for it.
    pub(super) label: Option<String>,
    pub(super) tip: String,
}

/// One stall report, on its thread's row: a marker pointing at when it was made.
#[derive(Debug)]
pub(super) struct Marker {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) tip: String,
}

/// The waits for a worker, on one row: they overlap (one blocking poll holds up many tasks).
#[derive(Debug)]
pub(super) struct LagRow {
    pub(super) y: f64,
    pub(super) waits: Vec<Wait>,
}

/// One wait for a worker.
#[derive(Debug)]
pub(super) struct Wait {
    pub(super) x: f64,
    pub(super) width: f64,
    pub(super) tip: String,
}

impl Scale {
    /// From just before `first` to just after `last`: a twentieth of the span (at least 1 ms,
    /// so one instant or one short poll still gets a readable axis) on each side.
    pub(super) fn around(first: u64, last: u64) -> Scale {
        let span = last.saturating_sub(first).max(1_000_000);
        Scale {
            t0: first.saturating_sub(span / 20),
            t1: last.saturating_add(span / 20),
        }
    }

    /// Around everything `report` draws: slow polls, stalls and lags from start to end; `None`
    /// when it has none of them.
    pub(super) fn of(report: &Report) -> Option<Scale> {
        let polls = report
            .slow_polls
            .iter()
            .map(|p| (p.at_ns, end(p.at_ns, p.duration_ns)));
        let stalls = report
            .stalls
            .iter()
            .map(|s| (start(s.at_ns, s.blocked_for_ns), s.at_ns));
        let lags = report
            .lags
            .iter()
            .map(|l| (start(l.at_ns, l.delay_ns), l.at_ns));
        let (first, last) = polls
            .chain(stalls)
            .chain(lags)
            .reduce(|(first, last), (a, b)| (first.min(a), last.max(b)))?;
        Some(Scale::around(first, last))
    }

    pub(super) fn x(&self, ns: u64) -> f64 {
        LEFT + (ns.saturating_sub(self.t0)) as f64 / (self.t1 - self.t0) as f64 * AXIS
    }

    /// About eight ticks at round times (1, 2 or 5 × 10^k ns) inside the scale.
    fn ticks(&self) -> Vec<Tick> {
        let step = nice_step((self.t1 - self.t0) / 8);
        let mut ticks = Vec::new();
        let mut t = self.t0.div_ceil(step).saturating_mul(step);
        while t <= self.t1 {
            ticks.push(Tick {
                at_ns: t,
                x: self.x(t),
            });
            match t.checked_add(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        ticks
    }
}

impl Timeline {
    /// The report's timeline; `None` when nothing blocked a thread.
    pub(super) fn of(report: &Report) -> Option<Timeline> {
        let scale = Scale::of(report)?;
        let mut rows: Vec<Row> = Vec::new();
        let mut row_of = |thread_id: u64, thread: &str| -> usize {
            rows.iter()
                .position(|r| r.thread_id == thread_id && r.thread == thread)
                .unwrap_or_else(|| {
                    let label = if thread_id == 0 {
                        thread.to_owned()
                    } else {
                        format!("{thread} ({thread_id})")
                    };
                    rows.push(Row {
                        thread_id,
                        thread: thread.to_owned(),
                        label: clip(&label, ROW_LABEL_CHARS),
                        y: row_top(rows.len()),
                    });
                    rows.len() - 1
                })
        };
        let mut polls: Vec<&SlowPollRecord> = report.slow_polls.iter().collect();
        polls.sort_by_key(|p| p.at_ns);
        let polls: Vec<(usize, &SlowPollRecord)> = polls
            .into_iter()
            .map(|p| (row_of(p.thread_id, &p.thread), p))
            .collect();
        let stall_rows: Vec<usize> = report
            .stalls
            .iter()
            .map(|s| row_of(s.thread_id, &s.thread))
            .collect();

        let bars = polls
            .into_iter()
            .map(|(row, p)| {
                let x = scale.x(p.at_ns);
                let width = (scale.x(end(p.at_ns, p.duration_ns)) - x).max(MIN_BAR);
                let who = culprit(p);
                let fits = ((width - 2.0 * LABEL_PAD) / CHAR_W) as usize;
                Bar {
                    x,
                    y: row_top(row) + BAR_INSET,
                    width,
                    kind: p.kind.clone(),
                    label: (fits >= MIN_LABEL_CHARS).then(|| clip(&who, fits)),
                    tip: poll_tip(&who, p),
                }
            })
            .collect();
        let stalls = report
            .stalls
            .iter()
            .zip(stall_rows)
            .map(|(s, row)| Marker {
                x: scale.x(s.at_ns),
                y: row_top(row) + STALL_INSET,
                tip: format!(
                    "stall report {}: {} still blocking {} after {} ({}){}",
                    s.report,
                    s.fn_name.as_deref().unwrap_or("a task"),
                    s.thread,
                    dur(s.blocked_for_ns),
                    s.kind,
                    s.syscall
                        .as_deref()
                        .map_or_else(String::new, |c| format!(" in {c}")),
                ),
            })
            .collect();
        let lag = (!report.lags.is_empty()).then(|| LagRow {
            y: row_top(rows.len()),
            waits: report
                .lags
                .iter()
                .map(|l| {
                    let x = scale.x(start(l.at_ns, l.delay_ns));
                    let who = l
                        .task
                        .map_or_else(|| "the heartbeat".to_owned(), |t| format!("task {t}"));
                    Wait {
                        x,
                        width: (scale.x(l.at_ns) - x).max(MIN_BAR),
                        tip: format!("{who} waited {} for a worker", dur(l.delay_ns)),
                    }
                })
                .collect(),
        });
        let n_rows = rows.len() + usize::from(lag.is_some());
        Some(Timeline {
            ticks: scale.ticks(),
            width: LEFT + AXIS + RIGHT,
            height: row_top(n_rows) + BOTTOM,
            rows,
            bars,
            stalls,
            lag,
        })
    }
}

fn row_top(row: usize) -> f64 {
    TOP + row as f64 * ROW_H
}

fn end(at_ns: u64, dur_ns: u64) -> u64 {
    at_ns.saturating_add(dur_ns)
}

fn start(at_ns: u64, dur_ns: u64) -> u64 {
    at_ns.saturating_sub(dur_ns)
}

/// What hovering a slow poll's bar says: the line the log wrote, and when.
fn poll_tip(who: &str, p: &SlowPollRecord) -> String {
    format!(
        "{who} blocked {} for {} ({}){}{} at {}",
        p.thread,
        dur(p.duration_ns),
        p.kind,
        p.location
            .as_deref()
            .map_or_else(String::new, |l| format!(" at {l}")),
        if p.chain.is_empty() {
            String::new()
        } else {
            format!(" [{}]", p.chain.join(" > "))
        },
        dur(p.at_ns),
    )
}

/// 1, 2 or 5 × 10^k nanoseconds, at least `rough`.
fn nice_step(rough: u64) -> u64 {
    let mut step: u64 = 1;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= rough.max(1) {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::schema::{LagRecord, ProcessInfo, StallRecord};

    fn poll(thread: &str, thread_id: u64, at_ns: u64, duration_ns: u64) -> SlowPollRecord {
        SlowPollRecord {
            fn_name: Some(format!("f{at_ns}")),
            task: None,
            spawned_at: None,
            location: None,
            created_at: None,
            chain: Vec::new(),
            duration_ns,
            self_time_ns: duration_ns,
            threshold_ns: 1,
            kind: "blocking".to_owned(),
            calls: 1,
            thread: thread.to_owned(),
            thread_id,
            at_ns,
            syscall: None,
            stack: None,
            stack_method: None,
        }
    }

    fn stall(thread: &str, thread_id: u64, at_ns: u64, blocked_for_ns: u64) -> StallRecord {
        StallRecord {
            fn_name: None,
            task: None,
            location: None,
            chain: Vec::new(),
            thread: thread.to_owned(),
            thread_id,
            at_ns,
            blocked_for_ns,
            kind: "cpu-bound".to_owned(),
            report: 1,
            syscall: None,
            stack: None,
            stack_method: None,
        }
    }

    fn lag(at_ns: u64, delay_ns: u64) -> LagRecord {
        LagRecord {
            at_ns,
            delay_ns,
            task: None,
            spawned_at: None,
        }
    }

    fn report(
        slow_polls: Vec<SlowPollRecord>,
        stalls: Vec<StallRecord>,
        lags: Vec<LagRecord>,
    ) -> Report {
        Report {
            schema: crate::sink::schema::REPORT_SCHEMA,
            pollwatch_version: "0",
            process: ProcessInfo {
                pid: 1,
                executable: "t".to_owned(),
                debug_mode: "on".to_owned(),
                threshold_ns: 1,
                uptime_ns: 0,
            },
            call_sites: Vec::new(),
            slow_polls,
            stalls,
            lags,
            records_dropped: 0,
        }
    }

    const MS: u64 = 1_000_000;

    /// The row whose band holds `y`.
    fn row_at(t: &Timeline, y: f64) -> usize {
        let row = t.rows.iter().rposition(|r| r.y < y).unwrap();
        assert!(
            y + BAR_INSET <= t.rows[row].y + ROW_H,
            "{y} inside row {row}"
        );
        row
    }

    #[test]
    fn nothing_blocked_is_no_timeline() {
        let r = report(vec![], vec![], vec![]);
        assert!(Scale::of(&r).is_none());
        assert!(Timeline::of(&r).is_none());
    }

    #[test]
    fn a_row_per_thread_by_id_and_name_in_order_of_first_appearance() {
        let t = Timeline::of(&report(
            // Listed out of time order: rows follow time, not the list.
            vec![
                poll("worker", 12, 300 * MS, 60 * MS),
                poll("worker", 11, 100 * MS, 60 * MS),
                poll("worker", 11, 500 * MS, 60 * MS),
                poll("main", 0, 200 * MS, 60 * MS),
                // The same id under another name is another thread (the id was reused).
                poll("other", 12, 400 * MS, 60 * MS),
            ],
            vec![
                stall("worker", 11, 550 * MS, 50 * MS),
                stall("watched", 13, 600 * MS, 50 * MS),
            ],
            vec![],
        ))
        .unwrap();
        let rows: Vec<(&str, u64, &str)> = t
            .rows
            .iter()
            .map(|r| (r.thread.as_str(), r.thread_id, r.label.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("worker", 11, "worker (11)"),
                ("main", 0, "main"),
                ("worker", 12, "worker (12)"),
                ("other", 12, "other (12)"),
                ("watched", 13, "watched (13)"),
            ]
        );
        assert!(t.rows.windows(2).all(|w| w[1].y - w[0].y == ROW_H));
        let bar_rows: Vec<usize> = t.bars.iter().map(|b| row_at(&t, b.y)).collect();
        assert_eq!(
            bar_rows,
            [0, 1, 2, 3, 0],
            "bars earliest first, on their row"
        );
        let stall_rows: Vec<usize> = t.stalls.iter().map(|s| row_at(&t, s.y)).collect();
        assert_eq!(stall_rows, [0, 4]);
        assert!(t.lag.is_none());
        assert_eq!(t.height, TOP + 6.0 + 5.0 * ROW_H + 10.0);
    }

    #[test]
    fn the_scale_maps_the_span_onto_the_axis_with_a_margin() {
        let r = report(
            vec![poll("w", 1, 1_000 * MS, 100 * MS)],
            vec![stall("w", 1, 1_900 * MS, 400 * MS)],
            vec![lag(2_000 * MS, 200 * MS)],
        );
        // From the poll's start to the lag's end: 1 s, and 50 ms on each side.
        let scale = Scale::of(&r).unwrap();
        assert_eq!(
            scale,
            Scale {
                t0: 950 * MS,
                t1: 2_050 * MS
            }
        );
        assert_eq!(scale.x(950 * MS), LEFT);
        assert_eq!(scale.x(2_050 * MS), LEFT + AXIS);
        assert_eq!(scale.x(1_500 * MS), LEFT + AXIS / 2.0);
        assert_eq!(scale.x(0), LEFT, "before the scale: its left edge");
        let t = Timeline::of(&r).unwrap();
        let bar = &t.bars[0];
        assert!((bar.x - scale.x(1_000 * MS)).abs() < 1e-9);
        assert!((bar.width - AXIS * 100.0 / 1_100.0).abs() < 1e-9);
        let lag = t.lag.as_ref().unwrap();
        assert_eq!(lag.y, row_top(1), "the lag row under the one thread");
        assert!((lag.waits[0].width - AXIS * 200.0 / 1_100.0).abs() < 1e-9);
        assert!((t.stalls[0].x - scale.x(1_900 * MS)).abs() < 1e-9);
    }

    #[test]
    fn a_zero_length_span_still_has_an_axis_and_a_visible_bar() {
        let r = report(vec![poll("w", 1, 0, 0)], vec![], vec![]);
        // A 1 ms span at least; nothing before time zero.
        assert_eq!(Scale::of(&r), Some(Scale { t0: 0, t1: 50_000 }));
        let t = Timeline::of(&r).unwrap();
        let bar = &t.bars[0];
        assert_eq!(bar.x, LEFT);
        assert_eq!(bar.width, MIN_BAR);
        assert!(bar.label.is_none(), "no room for a label");
        assert!(!t.ticks.is_empty());
        assert!(t.ticks.iter().all(|k| k.x.is_finite()));
    }

    #[test]
    fn ticks_are_round_and_inside_the_axis() {
        let t = Timeline::of(&report(
            vec![poll("w", 1, 1_234 * MS, 5_000 * MS)],
            vec![],
            vec![],
        ))
        .unwrap();
        // A 5.5 s scale: ticks every 1 s (5.5 s / 8 rounds up to 1 s).
        let at: Vec<u64> = t.ticks.iter().map(|k| k.at_ns).collect();
        assert_eq!(
            at,
            [1_000, 2_000, 3_000, 4_000, 5_000, 6_000].map(|s| s * MS)
        );
        assert!(t.ticks.iter().all(|k| (LEFT..=LEFT + AXIS).contains(&k.x)));
        assert!(t.ticks.windows(2).all(|w| w[0].x < w[1].x));
    }

    #[test]
    fn a_bar_is_labelled_only_where_the_label_fits() {
        let t = Timeline::of(&report(
            vec![poll("w", 1, 0, 1_000 * MS), poll("w", 1, 1_000 * MS, MS)],
            vec![],
            vec![],
        ))
        .unwrap();
        assert_eq!(t.bars[0].label.as_deref(), Some("f0"));
        assert_eq!(t.bars[1].label, None);
        assert!(t.bars[1].tip.starts_with("f1000000000 blocked w for "));
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(3), 5);
        assert_eq!(nice_step(130_000_000), 200_000_000);
        assert_eq!(nice_step(1_000_000_000), 1_000_000_000);
        assert_eq!(nice_step(u64::MAX), u64::MAX, "no overflow");
    }
}
