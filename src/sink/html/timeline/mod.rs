//! The timeline section: one row per blocked thread, slow polls as bars coloured by kind,
//! stall reports as markers, and the waits for a worker (lag) on a row of their own.
//!
//! `model.rs` lays the report out ([`Timeline::of`]); [`render`] here writes that model as SVG
//! and decides nothing.

mod model;

use std::fmt::Write as _;

use super::text::{LAG_COLOUR, STALL_COLOUR, dur, esc, kind_colour};
use crate::sink::schema::Report;
use model::{BAR_INSET, LABEL_PAD, LAG_INSET, ROW_H, Timeline};

/// The timeline section: the picture, or a line saying nothing blocked; then its legend.
pub(super) fn section(h: &mut String, report: &Report) {
    h.push_str("<section><h2>Timeline: what blocked which thread, when</h2>\n");
    let Some(timeline) = Timeline::of(report) else {
        h.push_str(
            "<p class=\"none\" id=\"pw-timeline\">Nothing blocked a thread past its \
             threshold.</p></section>\n",
        );
        return;
    };
    render(h, &timeline);
    h.push_str("<p class=\"meta\">");
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

/// The timeline as an inline `<svg>`.
fn render(h: &mut String, t: &Timeline) {
    let (w, height) = (t.width, t.height);
    let _ = writeln!(
        h,
        "<svg id=\"pw-timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
         height=\"{height}\" viewBox=\"0 0 {w} {height}\" role=\"img\" \
         aria-label=\"timeline of slow polls per thread\">",
    );
    for tick in &t.ticks {
        let _ = writeln!(
            h,
            "<line x1=\"{tx:.1}\" y1=\"18\" x2=\"{tx:.1}\" y2=\"{y2}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{tx:.1}\" y=\"13\" text-anchor=\"middle\" fill=\"#555\">{lbl}</text>",
            tx = tick.x,
            y2 = height - 8.0,
            lbl = dur(tick.at_ns)
        );
    }
    for (i, row) in t.rows.iter().enumerate() {
        let _ = writeln!(
            h,
            "<g class=\"pw-thread\"><rect x=\"0\" y=\"{y}\" width=\"{w}\" height=\"{ROW_H}\" \
             fill=\"{bg}\"/><text x=\"6\" y=\"{ty}\">{}</text></g>",
            esc(&row.label),
            y = row.y,
            bg = if i % 2 == 0 { "#fafafa" } else { "#fff" },
            ty = row.y + 19.0,
        );
    }
    for bar in &t.bars {
        let _ = write!(
            h,
            "<g class=\"pw-slow-poll\" data-kind=\"{kind}\"><title>{tip}</title>\
             <rect x=\"{x:.1}\" y=\"{y}\" width=\"{bw:.1}\" height=\"{bh}\" rx=\"2\" \
             fill=\"{fill}\"/>",
            kind = esc(&bar.kind),
            tip = esc(&bar.tip),
            x = bar.x,
            y = bar.y,
            bw = bar.width,
            bh = ROW_H - 2.0 * BAR_INSET,
            fill = kind_colour(&bar.kind),
        );
        if let Some(label) = &bar.label {
            let _ = write!(
                h,
                "<text x=\"{tx:.1}\" y=\"{ty}\" fill=\"#fff\">{}</text>",
                esc(label),
                tx = bar.x + LABEL_PAD,
                ty = bar.y + 15.0,
            );
        }
        h.push_str("</g>\n");
    }
    for stall in &t.stalls {
        let _ = writeln!(
            h,
            "<g class=\"pw-stall\"><title>{}</title><path d=\"M{a:.1} {y} L{b:.1} {y} \
             L{sx:.1} {y2} Z\" fill=\"{STALL_COLOUR}\"/></g>",
            esc(&stall.tip),
            a = stall.x - 5.0,
            b = stall.x + 5.0,
            sx = stall.x,
            y = stall.y,
            y2 = stall.y + 8.0,
        );
    }
    if let Some(lag) = &t.lag {
        let _ = writeln!(
            h,
            "<text x=\"6\" y=\"{ty}\">waits for a worker (lag)</text>",
            ty = lag.y + 19.0
        );
        for wait in &lag.waits {
            let _ = writeln!(
                h,
                "<g class=\"pw-lag\"><title>{}</title><rect x=\"{x:.1}\" y=\"{ry}\" \
                 width=\"{w:.1}\" height=\"{bh}\" fill=\"{LAG_COLOUR}\" \
                 fill-opacity=\"0.35\" stroke=\"{LAG_COLOUR}\"/></g>",
                esc(&wait.tip),
                x = wait.x,
                ry = lag.y + LAG_INSET,
                w = wait.width,
                bh = ROW_H - 2.0 * LAG_INSET,
            );
        }
    }
    h.push_str("</svg>\n");
}
