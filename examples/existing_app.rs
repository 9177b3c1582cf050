//! An application that already has its own `tracing` setup, adopting pollwatch the way a real
//! server would: `#[tokio::main]` becomes `#[pollwatch::main]`, and two handlers that already
//! carry `#[instrument(skip(db))]` get `#[pollwatch::async_timed]`, one above it and one below.
//!
//! - The application's own `tracing_subscriber::fmt().try_init()?` still succeeds: pollwatch
//!   sets no global subscriber.
//! - Its filter (`RUST_LOG`, by default `existing_app=info`) leaves pollwatch out, and its logs
//!   go to stdout as configured; pollwatch's warning about the blocking handler still reaches a
//!   person: nothing records it, so pollwatch prints it to stderr (Python logging's *last
//!   resort*). With `RUST_LOG=info`, pollwatch's lines go through the application's subscriber.
//! - `skip(db)` is honoured in either order: the database handle, whose `Debug` prints every
//!   stored entry, never reaches a log line.
//!
//! ```sh
//! cargo run --example existing_app
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{info, instrument};
use tracing_subscriber::EnvFilter;

/// A database handle whose `Debug` dumps everything it holds, as real handles often do.
#[derive(Debug, Clone, Default)]
struct Db {
    entries: Arc<Mutex<HashMap<String, String>>>,
}

#[pollwatch::async_timed]
#[instrument(skip(db))]
async fn get(db: &Db, key: &str) -> Option<String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    db.entries.lock().unwrap().get(key).cloned()
}

#[instrument(skip(db, value))]
#[pollwatch::async_timed]
async fn set(db: &Db, key: String, value: String) {
    db.entries.lock().unwrap().insert(key, value);
    // A synchronous fsync of the append-only file, inside the handler: it blocks the worker.
    std::thread::sleep(Duration::from_millis(150));
}

#[pollwatch::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The application's own setup, unchanged: it fails if a global subscriber already exists.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("existing_app=info")),
        )
        .try_init()?;
    info!("existing_app: serving (its own log line, to stdout as configured)");

    let db = Db::default();
    for i in 0..20 {
        let secret = format!("session-token-{i:04}");
        db.entries
            .lock()
            .unwrap()
            .insert(format!("user:{i}"), secret);
    }
    let value = get(&db, "user:7").await;
    info!(found = value.is_some(), "existing_app: GET user:7");
    set(&db, "user:21".into(), "session-token-0021".into()).await;
    info!("existing_app: SET user:21 done");
    Ok(())
}
