//! What the page's sections share: escaping, durations, clipping, the colours of kinds, and
//! the words for who a slow poll blames.

use std::time::Duration;

use crate::sink::schema::SlowPollRecord;
use crate::util::Dur;

/// `s` with `&`, `<`, `>`, `"` and `'` escaped: safe as HTML text and in attribute values.
pub(super) fn esc(s: &str) -> String {
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

pub(super) fn dur(ns: u64) -> String {
    Dur(Duration::from_nanos(ns)).to_string()
}

pub(super) fn opt_dur(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".to_owned(), dur)
}

/// About the width of a character of the page's 11 px SVG font: what a label's room holds.
pub(super) const CHAR_W: f64 = 6.5;

/// `s`, cut to `max` characters with `…`.
pub(super) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(max.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

/// The colour of a kind (the timeline's and the legend's).
pub(super) fn kind_colour(kind: &str) -> &'static str {
    match kind {
        "cpu-bound" => "#d62728",
        "blocking" => "#ff7f0e",
        "mixed" => "#9467bd",
        _ => "#7f7f7f",
    }
}

pub(super) const STALL_COLOUR: &str = "#7a0000";
pub(super) const LAG_COLOUR: &str = "#1f77b4";

/// Who a slow poll blames, as its lines say it.
pub(super) fn culprit(p: &SlowPollRecord) -> String {
    p.fn_name.clone().unwrap_or_else(|| match p.task {
        Some(id) => format!("task {id}"),
        None => "a task".to_owned(),
    })
}

/// The chain a slow poll blocked in, outermost first: the async chain, else the culprit alone.
pub(super) fn chain_of(p: &SlowPollRecord) -> Vec<String> {
    if p.chain.is_empty() {
        vec![culprit(p)]
    } else {
        p.chain.clone()
    }
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
    fn labels_are_clipped() {
        assert_eq!(clip("handler", 10), "handler");
        assert_eq!(clip("load_profile", 5), "load…");
    }
}
