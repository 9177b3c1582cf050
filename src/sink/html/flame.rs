//! The section of blocked time by async chain: a flame graph of the slow polls' chains
//! (inferno, feature `flamegraph`), and the same numbers as a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::text::{chain_of, dur, esc};
use crate::sink::schema::Report;

/// Blocked time by async chain: inferno's flame graph, and the same numbers as a table.
pub(super) fn section(h: &mut String, report: &Report) {
    h.push_str("<section><h2>Blocked time by async chain</h2>\n");
    if report.slow_polls.is_empty() {
        h.push_str(
            "<p class=\"none\" id=\"pw-flamegraph\">No slow polls: nothing to draw.</p>\
             </section>\n",
        );
        return;
    }
    let mut by_chain: BTreeMap<Vec<String>, (u64, u64, u64)> = BTreeMap::new();
    for p in &report.slow_polls {
        let e = by_chain.entry(chain_of(p)).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(p.duration_ns);
        e.2 = e.2.max(p.duration_ns);
    }
    match flame_svg(&by_chain) {
        Ok(svg) => {
            h.push_str("<div class=\"flame\" id=\"pw-flamegraph\">");
            h.push_str(&svg);
            h.push_str(
                "</div>\n<p class=\"meta\">Width: time slow polls blocked their thread \
                 in that chain (outermost at the bottom); hover for the time.</p>\n",
            );
        }
        Err(why) => {
            let _ = writeln!(
                h,
                "<p class=\"none\" id=\"pw-flamegraph\">No flame graph: {}.</p>",
                esc(&why)
            );
        }
    }
    h.push_str(
        "<table id=\"pw-chains\"><thead><tr><th class=\"l\">chain</th><th>slow polls</th>\
         <th>blocked</th><th>longest</th></tr></thead><tbody>\n",
    );
    let mut rows: Vec<_> = by_chain.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.1));
    for (chain, (n, total, max)) in rows {
        let _ = writeln!(
            h,
            "<tr><td class=\"w\">{}</td><td>{n}</td><td>{}</td><td>{}</td></tr>",
            esc(&chain.join(" > ")),
            dur(total),
            dur(max)
        );
    }
    h.push_str("</tbody></table></section>\n");
}

/// The flame graph of blocked time by chain, as an inline `<svg>` (inferno, no script).
#[cfg(feature = "flamegraph")]
fn flame_svg(by_chain: &BTreeMap<Vec<String>, (u64, u64, u64)>) -> Result<String, String> {
    // inferno reads "frame;frame;frame count": a `;` in a name would split it.
    let lines: Vec<String> = by_chain
        .iter()
        .map(|(chain, (_, total, _))| {
            let frames: Vec<String> = chain.iter().map(|f| f.replace(';', ",")).collect();
            format!("{} {}", frames.join(";"), (total / 1_000).max(1))
        })
        .collect();
    let mut options = inferno::flamegraph::Options::default();
    options.title = "Blocked time by async chain".to_owned();
    options.count_name = "µs blocked".to_owned();
    options.name_type = "Chain:".to_owned();
    options.no_javascript = true;
    options.deterministic = true;
    options.hash = true;
    options.image_width = Some(1200);
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
        .map_err(|e| e.to_string())?;
    let svg = String::from_utf8(svg).map_err(|e| e.to_string())?;
    // Inline in HTML: the `<svg>` element without the XML prolog and doctype before it, and
    // without the settings script inferno writes even with `no_javascript` (variables only).
    let start = svg.find("<svg").ok_or("inferno wrote no <svg>")?;
    let mut svg = svg[start..].to_owned();
    while let Some(i) = svg.find("<script") {
        let Some(len) = svg[i..].find("</script>") else {
            break;
        };
        svg.replace_range(i..i + len + "</script>".len(), "");
    }
    Ok(svg)
}

#[cfg(not(feature = "flamegraph"))]
fn flame_svg(_: &BTreeMap<Vec<String>, (u64, u64, u64)>) -> Result<String, String> {
    Err(
        "pollwatch was built without its `flamegraph` feature (the table below has the same \
         numbers)"
            .to_owned(),
    )
}
