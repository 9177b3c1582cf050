//! The guide: what pollwatch does and how to use it, one chapter a page. The crate's front page
//! (README.md) is the one-screen start; everything else is here, with its examples as doctests.
//!
//! 1. [Quick start](quick_start): the demo, a first annotated fn, your own subscriber, secrets.
//! 2. [Debug mode](debug_mode): when it is on, the environment variables, `Config`, the cost.
//! 3. [Every task](every_task): `#[pollwatch::main]`, `run`, `Builder`; what stable Tokio sees.
//! 4. [Stalls](stalls): a poll reported while it still blocks; the culprit's native stack.
//! 5. [CI](ci): `#[pollwatch::test]`, strict mode, the JSON report, annotations on the diff.
//! 6. [See it](see_it): the HTML report and the Perfetto trace.
//! 7. [Production](production): the `watch` profile; names and lines in a release build.
//! 8. [Attach](attach): `pollwatch dump` and `pollwatch watch` on a running process.
//! 9. [Console](console): tokio-console with tasks named after your fns.
//! 10. [Export](export): OpenTelemetry metrics and log records.
//! 11. [Options](options): `#[async_timed]`'s options, the events, log volume, features, Tokio
//!     versions.
//! 12. [Comparisons](comparisons): asyncio's debug mode, tokio-console, tokio-metrics, dial9.
//! 13. [How it works](how_it_works): the layers, one poll in debug mode, working on pollwatch.
//!
//! Each chapter is a markdown file beside this one (`src/guide/*.md`), readable on GitHub too;
//! its modules hold no items.

// One module per chapter, its text the file's: rustdoc renders it on docs.rs and `cargo test
// --doc` runs its examples. Like clap's `_tutorial`, but always built (the examples are tested by
// every `cargo test`) and without the underscore: the guide is meant to be found.

pub mod quick_start {
    #![doc = include_str!("quick_start.md")]
}
pub mod debug_mode {
    #![doc = include_str!("debug_mode.md")]
}
pub mod every_task {
    #![doc = include_str!("every_task.md")]
}
pub mod stalls {
    #![doc = include_str!("stalls.md")]
}
pub mod ci {
    #![doc = include_str!("ci.md")]
}
pub mod see_it {
    #![doc = include_str!("see_it.md")]
}
pub mod production {
    #![doc = include_str!("production.md")]
}
pub mod attach {
    #![doc = include_str!("attach.md")]
}
pub mod console {
    #![doc = include_str!("console.md")]
}
pub mod export {
    #![doc = include_str!("export.md")]
}
pub mod options {
    #![doc = include_str!("options.md")]
}
pub mod comparisons {
    #![doc = include_str!("comparisons.md")]
}
pub mod how_it_works {
    #![doc = include_str!("how_it_works.md")]
}
