//! Where this process serves the console, if it does: set and cleared by `serve.rs`, read by
//! [`console_addr`].

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use crate::util::lock;

/// Where the console listens when `TOKIO_CONSOLE_BIND` is unset: loopback only, console's port.
pub const DEFAULT_CONSOLE_BIND: &str = "127.0.0.1:6669";

/// The address of the console server running in this process, if any.
static SERVING: Mutex<Option<SocketAddr>> = Mutex::new(None);

/// The lock on [`SERVING`].
pub(super) fn serving() -> MutexGuard<'static, Option<SocketAddr>> {
    lock(&SERVING)
}

/// The address the tokio-console server listens on, while the layer that [`init`](crate::init)
/// or [`layer`](crate::layer) started serves; `None` if none does (built without
/// `--cfg tokio_unstable`, the address could not be bound, or the layer was dropped).
///
/// With `TOKIO_CONSOLE_BIND=127.0.0.1:0` the system picks a free port; this returns it.
///
/// # Examples
///
/// ```no_run
/// pollwatch::init();
/// if let Some(addr) = pollwatch::console_addr() {
///     println!("run: tokio-console http://{addr}");
/// }
/// ```
pub fn console_addr() -> Option<SocketAddr> {
    *serving()
}
