//! The timeline section: one row per blocked thread, slow polls as bars coloured by kind,
//! stall reports as markers, and the waits for a worker (lag) on a row of their own.

use std::fmt::Write as _;

use super::text::{LAG_COLOUR, STALL_COLOUR, clip, culprit, dur, esc, kind_colour};
use crate::sink::schema::{Report, SlowPollRecord};

/// One row per blocked thread: slow polls as bars (x: when, width: how long), stall reports
/// as markers, and a last row for the waits for a worker (lag).
pub(super) fn section(h: &mut String, report: &Report) {
    h.push_str("<section><h2>Timeline: what blocked which thread, when</h2>\n");
    // Rows: one per thread (kernel id and name), in order of first appearance.
    let mut rows: Vec<(u64, String)> = Vec::new();
    let mut row_of = |id: u64, name: &str| -> usize {
        rows.iter()
            .position(|(i, n)| *i == id && n == name)
            .unwrap_or_else(|| {
                rows.push((id, name.to_owned()));
                rows.len() - 1
            })
    };
    let mut spans: Vec<(u64, u64)> = Vec::new();
    let mut polls = Vec::new();
    let mut sorted: Vec<&SlowPollRecord> = report.slow_polls.iter().collect();
    sorted.sort_by_key(|p| p.at_ns);
    for p in sorted {
        let row = row_of(p.thread_id, &p.thread);
        spans.push((p.at_ns, p.at_ns.saturating_add(p.duration_ns)));
        polls.push((row, p));
    }
    let mut stalls = Vec::new();
    for s in &report.stalls {
        let row = row_of(s.thread_id, &s.thread);
        spans.push((s.at_ns.saturating_sub(s.blocked_for_ns), s.at_ns));
        stalls.push((row, s));
    }
    for l in &report.lags {
        spans.push((l.at_ns.saturating_sub(l.delay_ns), l.at_ns));
    }
    if spans.is_empty() {
        h.push_str(
            "<p class=\"none\" id=\"pw-timeline\">Nothing blocked a thread past its \
             threshold.</p></section>\n",
        );
        return;
    }
    let first = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let last = spans.iter().map(|s| s.1).max().unwrap_or(first);
    let span = last.saturating_sub(first).max(1_000_000);
    let (t0, t1) = (
        first.saturating_sub(span / 20),
        last.saturating_add(span / 20),
    );
    let (left, width, row_h) = (230.0_f64, 1100.0_f64, 30.0_f64);
    let x = |ns: u64| left + (ns.saturating_sub(t0)) as f64 / (t1 - t0) as f64 * width;
    let lag_row = rows.len();
    let n_rows = rows.len() + usize::from(!report.lags.is_empty());
    let height = 30.0 + n_rows as f64 * row_h + 10.0;
    let _ = writeln!(
        h,
        "<svg id=\"pw-timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
         height=\"{height}\" viewBox=\"0 0 {w} {height}\" role=\"img\" \
         aria-label=\"timeline of slow polls per thread\">",
        w = left + width + 20.0
    );
    // Time axis: 1, 2 or 5 × 10^k, about eight ticks.
    let step = nice_step((t1 - t0) / 8);
    let mut t = t0.div_ceil(step) * step;
    while t <= t1 {
        let tx = x(t);
        let _ = writeln!(
            h,
            "<line x1=\"{tx:.1}\" y1=\"18\" x2=\"{tx:.1}\" y2=\"{y2}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{tx:.1}\" y=\"13\" text-anchor=\"middle\" fill=\"#555\">{lbl}</text>",
            y2 = height - 8.0,
            lbl = dur(t)
        );
        t += step;
    }
    for (i, (id, name)) in rows.iter().enumerate() {
        let y = 24.0 + i as f64 * row_h;
        let label = if *id == 0 {
            name.clone()
        } else {
            format!("{name} ({id})")
        };
        let _ = writeln!(
            h,
            "<g class=\"pw-thread\"><rect x=\"0\" y=\"{y}\" width=\"{w}\" height=\"{row_h}\" \
             fill=\"{bg}\"/><text x=\"6\" y=\"{ty}\">{}</text></g>",
            esc(&clip(&label, 34)),
            w = left + width + 20.0,
            bg = if i % 2 == 0 { "#fafafa" } else { "#fff" },
            ty = y + 19.0,
        );
    }
    for (row, p) in &polls {
        let y = 24.0 + *row as f64 * row_h + 4.0;
        let (x0, x1) = (x(p.at_ns), x(p.at_ns.saturating_add(p.duration_ns)));
        let w = (x1 - x0).max(2.0);
        let who = culprit(p);
        let tip = format!(
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
        );
        let _ = write!(
            h,
            "<g class=\"pw-slow-poll\" data-kind=\"{kind}\"><title>{tip}</title>\
             <rect x=\"{x0:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bh}\" rx=\"2\" \
             fill=\"{fill}\"/>",
            kind = esc(&p.kind),
            tip = esc(&tip),
            bh = row_h - 8.0,
            fill = kind_colour(&p.kind),
        );
        // A label where it fits (about 6.5 px a character).
        let fits = ((w - 6.0) / 6.5) as usize;
        if fits >= 4 {
            let _ = write!(
                h,
                "<text x=\"{tx:.1}\" y=\"{ty}\" fill=\"#fff\">{}</text>",
                esc(&clip(&who, fits)),
                tx = x0 + 3.0,
                ty = y + 15.0,
            );
        }
        h.push_str("</g>\n");
    }
    for (row, s) in &stalls {
        let y = 24.0 + *row as f64 * row_h + 1.0;
        let sx = x(s.at_ns);
        let tip = format!(
            "stall report {}: {} still blocking {} after {} ({}){}",
            s.report,
            s.fn_name.as_deref().unwrap_or("a task"),
            s.thread,
            dur(s.blocked_for_ns),
            s.kind,
            s.syscall
                .as_deref()
                .map_or_else(String::new, |c| format!(" in {c}")),
        );
        let _ = writeln!(
            h,
            "<g class=\"pw-stall\"><title>{}</title><path d=\"M{a:.1} {y} L{b:.1} {y} \
             L{sx:.1} {y2} Z\" fill=\"{STALL_COLOUR}\"/></g>",
            esc(&tip),
            a = sx - 5.0,
            b = sx + 5.0,
            y2 = y + 8.0,
        );
    }
    if !report.lags.is_empty() {
        let y = 24.0 + lag_row as f64 * row_h;
        let _ = writeln!(
            h,
            "<text x=\"6\" y=\"{ty}\">waits for a worker (lag)</text>",
            ty = y + 19.0
        );
        for l in &report.lags {
            let (x0, x1) = (x(l.at_ns.saturating_sub(l.delay_ns)), x(l.at_ns));
            let who = l
                .task
                .map_or_else(|| "the heartbeat".to_owned(), |t| format!("task {t}"));
            let _ = writeln!(
                h,
                "<g class=\"pw-lag\"><title>{}</title><rect x=\"{x0:.1}\" y=\"{ry}\" \
                 width=\"{w:.1}\" height=\"{bh}\" fill=\"{LAG_COLOUR}\" \
                 fill-opacity=\"0.35\" stroke=\"{LAG_COLOUR}\"/></g>",
                esc(&format!("{who} waited {} for a worker", dur(l.delay_ns))),
                ry = y + 8.0,
                w = (x1 - x0).max(2.0),
                bh = row_h - 16.0,
            );
        }
    }
    h.push_str("</svg>\n<p class=\"meta\">");
    for (name, colour) in [
        ("cpu-bound", kind_colour("cpu-bound")),
        ("blocking", kind_colour("blocking")),
        ("mixed", kind_colour("mixed")),
        ("unknown", kind_colour("unknown")),
        ("stall report (▼)", STALL_COLOUR),
        ("lag", LAG_COLOUR),
    ] {
        let _ = write!(
            h,
            "<span class=\"k\" style=\"background:{colour}\"></span>{name}"
        );
    }
    h.push_str(
        " · time since pollwatch started; hover a bar for the culprit, chain and \
         location</p></section>\n",
    );
}

/// 1, 2 or 5 × 10^k nanoseconds, at least `rough`.
fn nice_step(rough: u64) -> u64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= rough.max(1) {
                return step * m;
            }
        }
        step *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(3), 5);
        assert_eq!(nice_step(130_000_000), 200_000_000);
        assert_eq!(nice_step(1_000_000_000), 1_000_000_000);
    }
}
