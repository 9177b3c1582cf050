//! The report as one self-contained HTML page ([`Report::to_html`]): a timeline per thread of
//! slow polls, stalls and lag (inline SVG), a flame graph of blocked time by async chain
//! (inferno, feature `flamegraph`), the per-fn table, and every stall with its stack. Inline CSS,
//! no script, no network: it reads the same with JavaScript off, offline, attached to a CI run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::schema::{Report, SlowPollRecord};
use crate::util::Dur;

/// Slow polls listed one by one (the most recent; the timeline and flame graph show them all).
const LISTED: usize = 300;

/// `s` with `&`, `<`, `>`, `"` and `'` escaped: safe as HTML text and in attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn dur(ns: u64) -> String {
    Dur(Duration::from_nanos(ns)).to_string()
}

fn opt_dur(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".to_owned(), dur)
}

/// The colour of a kind (the timeline's and the legend's).
fn kind_colour(kind: &str) -> &'static str {
    match kind {
        "cpu-bound" => "#d62728",
        "blocking" => "#ff7f0e",
        "mixed" => "#9467bd",
        _ => "#7f7f7f",
    }
}

const STALL_COLOUR: &str = "#7a0000";
const LAG_COLOUR: &str = "#1f77b4";

/// Who a slow poll blames, as its lines say it.
fn culprit(p: &SlowPollRecord) -> String {
    p.fn_name.clone().unwrap_or_else(|| match p.task {
        Some(id) => format!("task {id}"),
        None => "a task".to_owned(),
    })
}

/// The chain a slow poll blocked in, outermost first: the async chain, else the culprit alone.
fn chain_of(p: &SlowPollRecord) -> Vec<String> {
    if p.chain.is_empty() {
        vec![culprit(p)]
    } else {
        p.chain.clone()
    }
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#1b1b1b;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd}
.meta{color:#555}.meta b{color:#1b1b1b}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eee;
text-align:right;white-space:nowrap}th{background:#f6f6f6;position:sticky;top:0}
td.l,th.l{text-align:left}td.w{white-space:normal;text-align:left;max-width:40em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px;margin:.3em 0}
details{margin:.3em 0}summary{cursor:pointer}
.k{display:inline-block;width:.9em;height:.9em;vertical-align:-.1em;margin:0 .3em 0 1em}
.none{color:#555;font-style:italic}svg text{font:11px system-ui,sans-serif}
.flame svg{max-width:100%;height:auto}
";

impl Report {
    /// The report as one self-contained HTML page: what `POLLWATCH_HTML` writes (see
    /// [`write_html`](crate::write_html)).
    ///
    /// It shows a timeline per thread of slow polls (coloured by kind, labelled by culprit),
    /// stall reports and the lag they caused; a flame graph of blocked time by async chain
    /// (drawn by inferno; the `flamegraph` feature, on by default) and the same numbers as a
    /// table; the per-fn summary; each slow poll and each stall with its native stack. Inline
    /// CSS and SVG, no script and no network access: it reads the same offline and with
    /// JavaScript off.
    ///
    /// # Examples
    ///
    /// ```
    /// #[pollwatch::async_timed]
    /// async fn blocks() {
    ///     std::thread::sleep(std::time::Duration::from_millis(30));
    /// }
    ///
    /// pollwatch::Config::default()
    ///     .debug_mode(pollwatch::DebugMode::On)
    ///     .slow_poll(std::time::Duration::from_millis(10))
    ///     .apply();
    /// futures::executor::block_on(blocks());
    /// let html = pollwatch::report().to_html();
    /// assert!(html.contains("id=\"pw-timeline\""));
    /// assert!(html.contains("blocks"));
    /// ```
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(64 * 1024);
        let title = format!("pollwatch: {}", self.process.executable);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n",
            esc(&title)
        );
        self.html_header(&mut h);
        self.html_timeline(&mut h);
        self.html_flame(&mut h);
        self.html_fns(&mut h);
        self.html_slow_polls(&mut h);
        self.html_stalls(&mut h);
        h.push_str("</body></html>\n");
        h
    }

    fn html_header(&self, h: &mut String) {
        let blocked: u64 = self.slow_polls.iter().map(|p| p.duration_ns).sum();
        let _ = writeln!(
            h,
            "<header id=\"pw-summary\"><h1>pollwatch report: {exe}</h1>\
             <p class=\"meta\">pid <b>{pid}</b> · debug mode <b>{mode}</b> · threshold <b>{th}</b> \
             · <b>{np}</b> slow poll{ps} blocking <b>{bl}</b> in all · <b>{ns}</b> stall report{ss} \
             · <b>{nl}</b> lag{ls} · covers {up} since pollwatch started · pollwatch {v}{dropped}</p>\
             </header>",
            exe = esc(&self.process.executable),
            pid = self.process.pid,
            mode = esc(&self.process.debug_mode),
            th = dur(self.process.threshold_ns),
            np = self.slow_polls.len(),
            ps = if self.slow_polls.len() == 1 { "" } else { "s" },
            bl = dur(blocked),
            ns = self.stalls.len(),
            ss = if self.stalls.len() == 1 { "" } else { "s" },
            nl = self.lags.len(),
            ls = if self.lags.len() == 1 { "" } else { "s" },
            up = dur(self.process.uptime_ns),
            v = self.pollwatch_version,
            dropped = if self.records_dropped > 0 {
                format!(
                    " · <b>{}</b> records not kept (lists full)",
                    self.records_dropped
                )
            } else {
                String::new()
            },
        );
    }

    /// One row per blocked thread: slow polls as bars (x: when, width: how long), stall reports
    /// as markers, and a last row for the waits for a worker (lag).
    fn html_timeline(&self, h: &mut String) {
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
        let mut sorted: Vec<&SlowPollRecord> = self.slow_polls.iter().collect();
        sorted.sort_by_key(|p| p.at_ns);
        for p in sorted {
            let row = row_of(p.thread_id, &p.thread);
            spans.push((p.at_ns, p.at_ns.saturating_add(p.duration_ns)));
            polls.push((row, p));
        }
        let mut stalls = Vec::new();
        for s in &self.stalls {
            let row = row_of(s.thread_id, &s.thread);
            spans.push((s.at_ns.saturating_sub(s.blocked_for_ns), s.at_ns));
            stalls.push((row, s));
        }
        for l in &self.lags {
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
        let n_rows = rows.len() + usize::from(!self.lags.is_empty());
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
        if !self.lags.is_empty() {
            let y = 24.0 + lag_row as f64 * row_h;
            let _ = writeln!(
                h,
                "<text x=\"6\" y=\"{ty}\">waits for a worker (lag)</text>",
                ty = y + 19.0
            );
            for l in &self.lags {
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

    /// Blocked time by async chain: inferno's flame graph, and the same numbers as a table.
    fn html_flame(&self, h: &mut String) {
        h.push_str("<section><h2>Blocked time by async chain</h2>\n");
        if self.slow_polls.is_empty() {
            h.push_str(
                "<p class=\"none\" id=\"pw-flamegraph\">No slow polls: nothing to draw.</p>\
                 </section>\n",
            );
            return;
        }
        let mut by_chain: BTreeMap<Vec<String>, (u64, u64, u64)> = BTreeMap::new();
        for p in &self.slow_polls {
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

    fn html_fns(&self, h: &mut String) {
        h.push_str("<section><h2>Per fn</h2>\n");
        if self.call_sites.is_empty() {
            h.push_str(
                "<p class=\"none\" id=\"pw-fns\">No <code>#[async_timed]</code> fn ran in debug \
                 mode.</p></section>\n",
            );
            return;
        }
        h.push_str(
            "<table id=\"pw-fns\"><thead><tr><th class=\"l\">fn</th><th class=\"l\">defined at\
             </th><th>calls</th><th>done</th><th>cancelled</th><th>panicked</th><th>busy</th>\
             <th>mean wall</th><th>p50 poll</th><th>p99 poll</th><th>max poll</th><th>slow</th>\
             </tr></thead><tbody>\n",
        );
        for c in &self.call_sites {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td></tr>",
                esc(&c.fn_name),
                esc(c.location.as_deref().unwrap_or("-")),
                c.calls,
                c.completed,
                c.cancelled,
                c.panicked,
                dur(c.busy_ns),
                opt_dur(c.wall_ns_mean),
                opt_dur(c.p50_poll_ns),
                opt_dur(c.p99_poll_ns),
                dur(c.max_poll_ns),
                c.slow_polls,
            );
        }
        h.push_str("</tbody></table></section>\n");
    }

    fn html_slow_polls(&self, h: &mut String) {
        if self.slow_polls.is_empty() {
            return;
        }
        let shown = self.slow_polls.len().min(LISTED);
        let _ = write!(
            h,
            "<section><h2>Slow polls</h2>\n{}<table id=\"pw-slow-polls\"><thead><tr>\
             <th>at</th><th class=\"l\">thread</th><th class=\"l\">culprit</th><th>blocked</th>\
             <th class=\"l\">kind</th><th class=\"l\">location</th><th class=\"l\">chain</th>\
             </tr></thead><tbody>\n",
            if shown < self.slow_polls.len() {
                format!(
                    "<p class=\"meta\">The last {shown} of {}.</p>",
                    self.slow_polls.len()
                )
            } else {
                String::new()
            }
        );
        for p in &self.slow_polls[self.slow_polls.len() - shown..] {
            let stack = p.stack.as_ref().map_or_else(String::new, |frames| {
                format!(
                    "<details><summary>native stack{}</summary><pre>{}</pre></details>",
                    p.syscall
                        .as_deref()
                        .map_or_else(String::new, |c| format!(" (in {})", esc(c))),
                    esc(&frames.join("\n"))
                )
            });
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>\
                 <td class=\"l\"><span class=\"k\" style=\"margin-left:0;background:{}\"></span>\
                 {}</td><td class=\"l\">{}</td><td class=\"w\">{}{stack}</td></tr>",
                dur(p.at_ns),
                esc(&p.thread),
                esc(&culprit(p)),
                dur(p.duration_ns),
                kind_colour(&p.kind),
                esc(&p.kind),
                esc(p.location.as_deref().unwrap_or("-")),
                esc(&p.chain.join(" > ")),
            );
        }
        h.push_str("</tbody></table></section>\n");
    }

    fn html_stalls(&self, h: &mut String) {
        h.push_str(
            "<section id=\"pw-stalls\"><h2>Stalls: polls reported while they blocked</h2>\n",
        );
        if self.stalls.is_empty() {
            h.push_str("<p class=\"none\">No stall reports.</p></section>\n");
            return;
        }
        for s in &self.stalls {
            let what = format!(
                "{} — {} blocked {} for {} ({}){}{}",
                dur(s.at_ns),
                s.fn_name.as_deref().unwrap_or("a task"),
                s.thread,
                dur(s.blocked_for_ns),
                s.kind,
                s.location
                    .as_deref()
                    .map_or_else(String::new, |l| format!(" at {l}")),
                if s.report > 1 {
                    format!(", reminder {}", s.report)
                } else {
                    String::new()
                },
            );
            match &s.stack {
                Some(frames) => {
                    let _ = writeln!(
                        h,
                        "<details class=\"pw-stall-report\" open><summary>{}</summary>{}<pre>{}</pre>\
                         </details>",
                        esc(&what),
                        if s.chain.is_empty() {
                            String::new()
                        } else {
                            format!("<div>chain: {}</div>", esc(&s.chain.join(" > ")))
                        },
                        esc(&frames.join("\n"))
                    );
                }
                None => {
                    let _ = writeln!(h, "<p class=\"pw-stall-report\">{}</p>", esc(&what));
                }
            }
        }
        h.push_str("</section>\n");
    }
}

/// `s`, cut to `max` characters with `…`.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(max.saturating_sub(1)).collect();
        c.push('…');
        c
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(3), 5);
        assert_eq!(nice_step(130_000_000), 200_000_000);
        assert_eq!(nice_step(1_000_000_000), 1_000_000_000);
    }

    #[test]
    fn labels_are_clipped() {
        assert_eq!(clip("handler", 10), "handler");
        assert_eq!(clip("load_profile", 5), "load…");
    }
}
