//! Nothing here: the tests are the point (`tests/min_tokio.rs`).
