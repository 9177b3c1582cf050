//! The page: [`Report::to_html`] writes its sections in order; the header, the per-fn table and
//! the lists of slow polls and stalls are written here, the pictures by their own modules.

use std::fmt::Write as _;

use super::text::{culprit, dur, esc, kind_colour, opt_dur};
use super::{flame, timeline};
use crate::sink::schema::Report;

/// Slow polls listed one by one (the most recent; the timeline and flame graph show them all).
const LISTED: usize = 300;

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
    /// (the outermost fn at the bottom, each frame as wide as the time its slow polls blocked;
    /// hover for the time and share) and the same numbers as a table; the per-fn summary; each
    /// slow poll and each stall with its native stack. Inline CSS and SVG, no script and no
    /// network access: it reads the same offline and with JavaScript off. No feature is needed
    /// for any of it.
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
        timeline::section(&mut h, self);
        flame::section(&mut h, self);
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
