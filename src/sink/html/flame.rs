//! The section of blocked time by async chain: a flame graph of the slow polls' chains, and the
//! same numbers as a table.
//!
//! The flame graph is ours, not inferno's: inferno is licensed CDDL-1.0, which the MIT/Apache/BSD
//! allow-lists of `cargo deny check licenses` reject, and what it adds (zoom, search) is script,
//! which this page has none of. [`Flame::of`] lays the chains out as frames (a tree merged by
//! prefix, widths in blocked nanoseconds), which the tests check; [`render`] writes them as SVG.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::text::{CHAR_W, chain_of, clip, dur, esc};
use crate::sink::schema::Report;

/// Blocked time by chain (outermost first): slow polls, their total and the longest, in ns.
type ByChain = BTreeMap<Vec<String>, (u64, u64, u64)>;

/// The picture's width: the timeline's above it (230 + 1100 + 20), so the two line up; the
/// page's style scales it down on a narrower screen.
const WIDTH: f64 = 1350.0;
/// Margin around the frames.
const PAD: f64 = 10.0;
const FRAME_H: f64 = 16.0;
/// Room between a frame and its parent, so neighbours read as separate boxes.
const GAP: f64 = 1.0;
/// A frame narrower than this (in px) can be neither seen nor hovered: it is left out.
const MIN_FRAME: f64 = 0.1;
/// A frame's label's distance from its left edge (and room kept at its right).
const LABEL_PAD: f64 = 3.0;
/// A frame is labelled only with room for this many characters.
const MIN_LABEL_CHARS: usize = 3;
/// The bottom frame, for the time of every slow poll together.
const ROOT: &str = "all slow polls";

/// The flame graph: one frame per chain prefix, the root (every slow poll) at the bottom.
#[derive(Debug)]
pub(super) struct Flame {
    /// Parents before their children; siblings in name order (as the chains sort).
    pub(super) frames: Vec<Frame>,
    pub(super) width: f64,
    pub(super) height: f64,
}

/// One chain prefix, in the SVG's coordinates.
#[derive(Debug)]
pub(super) struct Frame {
    /// The prefix's last fn.
    pub(super) name: String,
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) width: f64,
    /// The name, clipped to the frame; `None` where it is too narrow for it.
    pub(super) label: Option<String>,
    /// Name, time, share of all blocked time, and slow polls: what hovering says.
    pub(super) tip: String,
}

/// One chain prefix laid out along an axis of blocked nanoseconds.
#[derive(Debug, PartialEq)]
struct Span {
    name: String,
    /// 0 for the root, 1 for the outermost fns, …
    depth: usize,
    /// Where it begins: the time of the spans left of it, in ns.
    start_ns: u64,
    /// The time its slow polls blocked their threads: its width, in ns.
    blocked_ns: u64,
    slow_polls: u64,
}

/// A chain prefix while the tree is built: its time and polls, its children by name.
#[derive(Default)]
struct Node {
    blocked_ns: u64,
    slow_polls: u64,
    children: BTreeMap<String, Node>,
}

/// The chains of `by_chain` merged by common prefix into spans, the root (every chain) first,
/// each parent before its children, siblings in name order from their parent's left edge. A
/// chain that ends at a prefix others go deeper from (a poll blamed on `handler` itself)
/// is the room its children leave at their parent's right.
fn spans(by_chain: &ByChain) -> Vec<Span> {
    let mut root = Node::default();
    for (chain, (polls, blocked_ns, _)) in by_chain {
        let mut node = &mut root;
        node.blocked_ns = node.blocked_ns.saturating_add(*blocked_ns);
        node.slow_polls = node.slow_polls.saturating_add(*polls);
        for name in chain {
            node = node.children.entry(name.clone()).or_default();
            node.blocked_ns = node.blocked_ns.saturating_add(*blocked_ns);
            node.slow_polls = node.slow_polls.saturating_add(*polls);
        }
    }
    let mut spans = Vec::new();
    let mut todo = vec![(ROOT.to_owned(), &root, 0, 0_u64)];
    while let Some((name, node, depth, start_ns)) = todo.pop() {
        spans.push(Span {
            name,
            depth,
            start_ns,
            blocked_ns: node.blocked_ns,
            slow_polls: node.slow_polls,
        });
        let mut child_start = start_ns;
        let mut children = Vec::new();
        for (child_name, child) in &node.children {
            children.push((child_name.clone(), child, depth + 1, child_start));
            child_start = child_start.saturating_add(child.blocked_ns);
        }
        // Reversed onto the stack, so they come off in name order.
        todo.extend(children.into_iter().rev());
    }
    spans
}

impl Flame {
    /// The flame graph of `by_chain`: each prefix as wide as the time its slow polls blocked,
    /// stacked on its parent.
    pub(super) fn of(by_chain: &ByChain) -> Flame {
        let spans = spans(by_chain);
        let depth = spans.iter().map(|s| s.depth).max().unwrap_or(0);
        let height = 2.0 * PAD + (depth + 1) as f64 * FRAME_H;
        // Zero only when every poll took 0 ns: then every frame is empty, not NaN wide.
        let all_ns = spans.first().map_or(0, |root| root.blocked_ns).max(1);
        let plot = WIDTH - 2.0 * PAD;
        let frames = spans
            .into_iter()
            .filter_map(|s| {
                let width = s.blocked_ns as f64 / all_ns as f64 * plot;
                if width < MIN_FRAME {
                    return None;
                }
                let fits = ((width - 2.0 * LABEL_PAD) / CHAR_W) as usize;
                let share = s.blocked_ns as f64 / all_ns as f64 * 100.0;
                Some(Frame {
                    tip: format!(
                        "{} ({} blocked, {share:.1}%, {} slow poll{})",
                        s.name,
                        dur(s.blocked_ns),
                        s.slow_polls,
                        if s.slow_polls == 1 { "" } else { "s" },
                    ),
                    label: (fits >= MIN_LABEL_CHARS).then(|| clip(&s.name, fits)),
                    x: PAD + s.start_ns as f64 / all_ns as f64 * plot,
                    // The root at the bottom: outer fns carry the inner ones, as in a classic
                    // flame graph.
                    y: height - PAD - (s.depth + 1) as f64 * FRAME_H,
                    width,
                    name: s.name,
                })
            })
            .collect();
        Flame {
            frames,
            width: WIDTH,
            height,
        }
    }
}

/// A warm colour of its own for each name, the same in every report (FNV-1a, not `std`'s
/// hasher, whose output may change between Rust versions), so one fn looks the same across
/// runs and pages.
fn colour(name: &str) -> (u8, u8, u8) {
    let mut hash: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let [a, b, c, _] = hash.to_le_bytes();
    // Reds, oranges and yellows: the palette flame graphs of CPU time are read in.
    let scale = |v: u8, lo: u16, span: u16| (lo + u16::from(v) * span / 255) as u8;
    (scale(a, 205, 50), scale(b, 80, 150), scale(c, 0, 55))
}

/// The flame graph as an inline `<svg>`.
fn render(h: &mut String, flame: &Flame) {
    let (w, height) = (flame.width, flame.height);
    let _ = writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" \
         viewBox=\"0 0 {w} {height}\" role=\"img\" \
         aria-label=\"flame graph of blocked time by async chain\">",
    );
    for f in &flame.frames {
        let (r, g, b) = colour(&f.name);
        let _ = write!(
            h,
            "<g><title>{tip}</title><rect x=\"{x:.1}\" y=\"{y}\" width=\"{fw:.1}\" \
             height=\"{fh}\" rx=\"2\" fill=\"rgb({r},{g},{b})\"/>",
            tip = esc(&f.tip),
            x = f.x,
            y = f.y,
            fw = f.width,
            fh = FRAME_H - GAP,
        );
        if let Some(label) = &f.label {
            let _ = write!(
                h,
                "<text x=\"{tx:.1}\" y=\"{ty}\">{}</text>",
                esc(label),
                tx = f.x + LABEL_PAD,
                ty = f.y + 11.5,
            );
        }
        h.push_str("</g>\n");
    }
    h.push_str("</svg>");
}

/// Blocked time by async chain: the flame graph, and the same numbers as a table.
pub(super) fn section(h: &mut String, report: &Report) {
    h.push_str("<section><h2>Blocked time by async chain</h2>\n");
    if report.slow_polls.is_empty() {
        h.push_str(
            "<p class=\"none\" id=\"pw-flamegraph\">No slow polls: nothing to draw.</p>\
             </section>\n",
        );
        return;
    }
    let mut by_chain = ByChain::new();
    for p in &report.slow_polls {
        let e = by_chain.entry(chain_of(p)).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(p.duration_ns);
        e.2 = e.2.max(p.duration_ns);
    }
    h.push_str("<div class=\"flame\" id=\"pw-flamegraph\">");
    render(h, &Flame::of(&by_chain));
    h.push_str(
        "</div>\n<p class=\"meta\">Width: time slow polls blocked their thread \
         in that chain (outermost at the bottom); hover for the time.</p>\n",
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn chains(list: &[(&[&str], u64)]) -> ByChain {
        list.iter()
            .map(|(chain, ms)| {
                let chain = chain.iter().map(|s| (*s).to_owned()).collect();
                (chain, (1, ms * MS, ms * MS))
            })
            .collect()
    }

    /// Each span as `depth name start..end` in ms, in order.
    fn outline(spans: &[Span]) -> Vec<String> {
        spans
            .iter()
            .map(|s| {
                let (a, b) = (s.start_ns / MS, (s.start_ns + s.blocked_ns) / MS);
                format!("{} {} {a}..{b}", s.depth, s.name)
            })
            .collect()
    }

    #[test]
    fn common_prefixes_merge_into_one_span() {
        let spans = spans(&chains(&[
            (&["main", "handler", "load_profile"], 150),
            (&["main", "handler", "parse"], 30),
            (&["main", "crunch"], 120),
            (&["other"], 10),
        ]));
        assert_eq!(
            outline(&spans),
            [
                "0 all slow polls 0..310",
                "1 main 0..300",
                "2 crunch 0..120",
                "2 handler 120..300",
                "3 load_profile 120..270",
                "3 parse 270..300",
                "1 other 300..310",
            ]
        );
        assert_eq!(spans[3].slow_polls, 2, "handler's");
        assert_eq!(spans[0].slow_polls, 4, "the root's");
    }

    #[test]
    fn children_fill_their_parent_but_for_chains_ending_at_it() {
        let spans = spans(&chains(&[
            (&["a", "b"], 7),
            (&["a", "c", "d"], 11),
            (&["a", "c", "e"], 13),
            (&["a"], 5),
            (&["f"], 17),
        ]));
        for (i, parent) in spans.iter().enumerate() {
            // A parent's children follow it, before the next span at its depth or above.
            let children: Vec<&Span> = spans[i + 1..]
                .iter()
                .take_while(|s| s.depth > parent.depth)
                .filter(|s| s.depth == parent.depth + 1)
                .collect();
            if children.is_empty() {
                continue;
            }
            let sum: u64 = children.iter().map(|c| c.blocked_ns).sum();
            // `a` keeps 5 ms of its own (a chain ending at it): room at its right.
            let own = if parent.name == "a" { 5 * MS } else { 0 };
            assert_eq!(sum + own, parent.blocked_ns, "under {}", parent.name);
            assert_eq!(children[0].start_ns, parent.start_ns, "from its left edge");
            assert!(
                children
                    .windows(2)
                    .all(|w| w[0].start_ns + w[0].blocked_ns == w[1].start_ns),
                "side by side under {}",
                parent.name
            );
        }
    }

    #[test]
    fn frames_scale_spans_onto_the_picture_root_at_the_bottom() {
        let flame = Flame::of(&chains(&[
            (&["main", "handler", "load_profile"], 150),
            (&["main", "handler", "parse"], 30),
            (&["main", "crunch"], 120),
            (&["other"], 10),
        ]));
        let plot = WIDTH - 2.0 * PAD;
        let root = &flame.frames[0];
        assert_eq!((root.x, root.width), (PAD, plot));
        let handler = &flame.frames[3];
        assert_eq!(handler.name, "handler");
        assert!((handler.x - (PAD + plot * 120.0 / 310.0)).abs() < 1e-9);
        assert!((handler.width - plot * 180.0 / 310.0).abs() < 1e-9);
        assert_eq!(
            handler.tip,
            "handler (180.0ms blocked, 58.1%, 2 slow polls)"
        );
        // Deeper frames higher up, all inside the picture.
        let ys: Vec<f64> = flame.frames[..5].iter().map(|f| f.y).collect();
        assert!(ys[0] > ys[1] && ys[1] > ys[2] && ys[2] == ys[3] && ys[3] > ys[4]);
        assert!(
            flame
                .frames
                .iter()
                .all(|f| f.y >= PAD && f.y + FRAME_H <= flame.height - PAD + 1e-9)
        );
    }

    #[test]
    fn a_single_chain_is_a_tower_as_wide_as_the_picture() {
        let flame = Flame::of(&chains(&[(&["crunch"], 120)]));
        let names: Vec<&str> = flame.frames.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["all slow polls", "crunch"]);
        let crunch = &flame.frames[1];
        assert_eq!(crunch.width, flame.frames[0].width);
        assert_eq!(crunch.label.as_deref(), Some("crunch"));
        assert_eq!(crunch.tip, "crunch (120.0ms blocked, 100.0%, 1 slow poll)");
        assert_eq!(flame.height, 2.0 * PAD + 2.0 * FRAME_H);
    }

    #[test]
    fn no_chains_draw_nothing() {
        let spans = spans(&ByChain::new());
        assert_eq!(outline(&spans), ["0 all slow polls 0..0"]);
        let flame = Flame::of(&ByChain::new());
        assert!(
            flame.frames.is_empty(),
            "an empty root is too narrow to see"
        );
        let mut svg = String::new();
        render(&mut svg, &flame);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn narrow_frames_are_left_out_and_labels_clipped_to_fit() {
        let flame = Flame::of(&chains(&[
            (&["wide"], 100_000),
            (&["a_rather_long_fn_name"], 100),
            (&["invisible"], 0),
        ]));
        let names: Vec<&str> = flame.frames.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["all slow polls", "a_rather_long_fn_name", "wide"]);
        // 100 ms of 100.1 s: about 1.2 px, no room for a label; `wide` has all of it.
        assert_eq!(flame.frames[1].label, None);
        assert_eq!(flame.frames[2].label.as_deref(), Some("wide"));
        let short = Flame::of(&chains(&[(&["a_rather_long_fn_name"], 1), (&["b"], 9)]));
        let label = short.frames[1].label.as_deref().unwrap();
        assert!(label.ends_with('…'), "{label}");
        assert!(label.chars().count() < "a_rather_long_fn_name".len());
        assert!(label.chars().count() as f64 * CHAR_W <= short.frames[1].width);
    }

    #[test]
    fn names_are_escaped() {
        let flame = Flame::of(&chains(&[(&["<T as Tr>::f", "a&b"], 10)]));
        let mut svg = String::new();
        render(&mut svg, &flame);
        assert!(
            svg.contains("<title>&lt;T as Tr&gt;::f (10.0ms blocked"),
            "{svg}"
        );
        assert!(svg.contains(">a&amp;b</text>"), "{svg}");
        assert!(!svg.contains("<T ") && !svg.contains("a&b"), "{svg}");
    }

    #[test]
    fn colours_are_warm_and_the_same_for_the_same_name() {
        assert_eq!(colour("handler"), colour("handler"));
        assert_ne!(colour("handler"), colour("crunch"));
        for name in ["handler", "crunch", "", "task 7"] {
            let (r, g, b) = colour(name);
            assert!(r >= 205 && (80..=230).contains(&g) && b <= 55, "{name}");
        }
    }
}
