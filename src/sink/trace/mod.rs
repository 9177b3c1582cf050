//! The poll trace (`POLLWATCH_TRACE`): every timed poll, per thread, in a bounded ring, written
//! as Chrome trace-event JSON (what ui.perfetto.dev and `chrome://tracing` open), with the
//! report's slow polls, stalls and lags marked on the same time line: a timed poll that lasted
//! its threshold is a slice in category `slow_poll`, coloured; each slow poll, stall and lag
//! of the report an instant event with what the log said.
//!
//! Memory is capped: each thread keeps its last [`PER_THREAD`] polls (a ring that grows to that
//! and then overwrites its oldest), and at most [`THREADS`] threads are kept (a thread that ends
//! keeps its ring until a newer thread needs the room). An event is 48 bytes (1.5 MB a full
//! ring): at most ~100 MB when every ring is full, nothing when no trace is asked for.
//!
//! | file | holds |
//! |---|---|
//! | `ring.rs` | the recorder, on every timed poll's path: this thread's ring, the registry of rings |
//! | `chrome.rs` | the writer, at the end of a run: the rings and the report as trace-event JSON |
//!
//! [`PER_THREAD`]: ring::PER_THREAD
//! [`THREADS`]: ring::THREADS

mod chrome;
mod ring;

pub(crate) use chrome::to_chrome_json;
pub(crate) use ring::record;
