//! The report as one self-contained HTML page ([`Report::to_html`]): a timeline per thread of
//! slow polls, stalls and lag, a flame graph of blocked time by async chain (both inline SVG
//! drawn here), the per-fn table, and every stall with its stack. Inline CSS, no script, no
//! network: it reads the same with JavaScript off, offline, attached to a CI run.
//!
//! | file | holds |
//! |---|---|
//! | `page.rs` | [`Report::to_html`]: the page, section by section; the header and the tables |
//! | `timeline/` | the timeline section: its model (rows, scale, ticks, bars, markers) and its SVG |
//! | `flame.rs` | the section of blocked time by async chain: the flame graph and its table |
//! | `text.rs` | what the sections share: escaping, durations, clipping, colours, culprits |
//!
//! [`Report::to_html`]: crate::Report::to_html

mod flame;
mod page;
mod text;
mod timeline;
