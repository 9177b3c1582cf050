//! tokio-console: console-subscriber's layer, served on a thread of its own, configured from the
//! `TOKIO_CONSOLE_*` variables without panicking on bad values.
//!
//! console-subscriber's own `Builder::with_default_env` and `spawn` panic on a malformed variable,
//! a path that cannot be created or a port already in use (the last one on a background thread,
//! leaving a program that looks served and is not). pollwatch reads the same variables itself,
//! binds the listener before returning, and reports every problem in one line on stderr, then
//! runs without the console.

use std::io::Write as _;
#[cfg(tokio_unstable)]
use std::net::TcpListener;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Where the console listens when `TOKIO_CONSOLE_BIND` is unset: loopback only, console's port.
pub const DEFAULT_CONSOLE_BIND: &str = "127.0.0.1:6669";

/// The address of the first console server started by this process.
static ADDR: OnceLock<SocketAddr> = OnceLock::new();

/// The address the tokio-console server listens on, once [`init`](crate::init) or
/// [`layer`](crate::layer) started it; `None` if it was not started (built without
/// `--cfg tokio_unstable`, or the address could not be bound).
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
    ADDR.get().copied()
}

fn say(line: std::fmt::Arguments<'_>) {
    // Not eprintln!: it panics when stderr is closed.
    let _ = writeln!(std::io::stderr(), "pollwatch: {line}");
}

/// The console settings from the environment; a bad value is reported and its default kept.
#[derive(Debug)]
#[cfg_attr(not(tokio_unstable), allow(dead_code))]
struct Settings {
    bind: SocketAddr,
    retention: Option<Duration>,
    publish_interval: Option<Duration>,
    record_path: Option<PathBuf>,
    buffer_capacity: Option<usize>,
}

#[cfg_attr(not(tokio_unstable), allow(dead_code))]
impl Settings {
    /// Reads the `TOKIO_CONSOLE_*` variables through `var`; each bad value is one message in
    /// the second half, and leaves its default.
    fn from_lookup(var: impl Fn(&str) -> Option<String>) -> (Settings, Vec<String>) {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut errors = Vec::new();
        let default_bind = || {
            DEFAULT_CONSOLE_BIND
                .parse()
                .expect("a valid socket address")
        };
        let bind = match var("TOKIO_CONSOLE_BIND") {
            None => default_bind(),
            Some(value) => parse_bind(&value).unwrap_or_else(|e| {
                errors.push(format!(
                    "ignoring TOKIO_CONSOLE_BIND={value:?}: {e}; expected HOST:PORT such as \
                     `127.0.0.1:6669`; using {DEFAULT_CONSOLE_BIND}"
                ));
                default_bind()
            }),
        };
        let mut duration = |name: &str| {
            let value = var(name)?;
            match value.trim().parse::<humantime::Duration>() {
                Ok(d) => Some(d.into()),
                Err(e) => {
                    errors.push(format!(
                        "ignoring {name}={value:?}: {e}; expected a duration such as `500ms` or \
                         `1h`"
                    ));
                    None
                }
            }
        };
        let retention = duration("TOKIO_CONSOLE_RETENTION");
        let publish_interval = duration("TOKIO_CONSOLE_PUBLISH_INTERVAL");
        let buffer_capacity = var("TOKIO_CONSOLE_BUFFER_CAPACITY").and_then(|value| {
            match value.trim().parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    errors.push(format!(
                        "ignoring TOKIO_CONSOLE_BUFFER_CAPACITY={value:?}: expected a positive \
                         number of events such as `102400`"
                    ));
                    None
                }
            }
        });
        let settings = Settings {
            bind,
            retention,
            publish_interval,
            record_path: var("TOKIO_CONSOLE_RECORD_PATH").map(PathBuf::from),
            buffer_capacity,
        };
        (settings, errors)
    }

    fn from_env() -> Settings {
        let (settings, errors) = Settings::from_lookup(|name| std::env::var(name).ok());
        for e in errors {
            say(format_args!("{e}"));
        }
        settings
    }
}

#[cfg_attr(not(tokio_unstable), allow(dead_code))]
fn parse_bind(value: &str) -> Result<SocketAddr, String> {
    let mut addrs = value.trim().to_socket_addrs().map_err(|e| e.to_string())?;
    addrs
        .next()
        .ok_or_else(|| "the host resolves to no address".to_owned())
}

/// console-subscriber's filter: Tokio's task, resource and waker spans and events, nothing else
/// (the fmt layer has its own filter).
#[cfg_attr(not(tokio_unstable), allow(dead_code))]
fn console_filter(meta: &tracing::Metadata<'_>) -> bool {
    if meta.is_event() {
        return meta.target().starts_with("runtime") || meta.target().starts_with("tokio");
    }
    meta.name().starts_with("runtime.") || meta.target().starts_with("tokio")
}

/// The console layer with its server running, or, when it cannot be (reported on stderr), a
/// layer that does nothing.
///
/// Not `Option<Layer>`: tracing-subscriber 0.3.23 computes a `None` layer's level hint as `OFF`
/// next to a per-layer-filtered `fmt` layer, and the `fmt` output goes silent (found by the
/// console test: a taken port muted pollwatch's warnings).
#[cfg(tokio_unstable)]
pub(crate) fn layer<S>() -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::FilterFn;

    match start(Settings::from_env()) {
        Ok((layer, addr)) => {
            let _ = ADDR.set(addr);
            layer
                .with_filter(FilterFn::new(
                    console_filter as for<'r, 's> fn(&'r tracing::Metadata<'s>) -> bool,
                ))
                .boxed()
        }
        Err(e) => {
            say(format_args!("tokio-console not served: {e}"));
            tracing_subscriber::layer::Identity::new().boxed()
        }
    }
}

/// Binds the listener (so a taken port is an error here, not a panic on a background thread),
/// builds the layer and starts the server's thread.
#[cfg(tokio_unstable)]
fn start(settings: Settings) -> Result<(console_subscriber::ConsoleLayer, SocketAddr), String> {
    let listener = TcpListener::bind(settings.bind)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e}; set TOKIO_CONSOLE_BIND to a free HOST:PORT \
                 (`127.0.0.1:0` picks one)",
                settings.bind
            )
        })?;
    let addr = listener.local_addr().unwrap_or(settings.bind);

    let mut builder = console_subscriber::ConsoleLayer::builder().server_addr(addr);
    if let Some(d) = settings.retention {
        builder = builder.retention(d);
    }
    if let Some(d) = settings.publish_interval {
        builder = builder.publish_interval(d);
    }
    if let Some(n) = settings.buffer_capacity {
        builder = builder.event_buffer_capacity(n);
    }
    if let Some(path) = settings.record_path {
        // console-subscriber panics if it cannot create the file: try first.
        match std::fs::File::create(&path) {
            Ok(_) => builder = builder.recording_path(path),
            Err(e) => say(format_args!(
                "not recording: TOKIO_CONSOLE_RECORD_PATH={}: {e}",
                path.display()
            )),
        }
    }
    let (layer, server) = builder.build();
    std::thread::Builder::new()
        // Linux keeps 15 bytes of a thread name.
        .name("pollwatch-cnsl".into())
        .spawn(move || serve(server, listener, addr))
        .map_err(|e| format!("cannot start its thread: {e}"))?;
    Ok((layer, addr))
}

/// Runs the console's aggregator and gRPC server until the process ends.
#[cfg(tokio_unstable)]
fn serve(server: console_subscriber::Server, listener: TcpListener, addr: SocketAddr) {
    // The console's own tasks are not the user's: keep them out of every subscriber.
    let _no_trace = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(format_args!(
                "tokio-console not served: cannot start its runtime: {e}"
            ));
            return;
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let parts = server.into_parts();
        let aggregator = tokio::spawn(parts.aggregator.run());
        let served = tonic::transport::Server::builder()
            .add_service(parts.instrument_server)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await;
        aggregator.abort();
        served.map_err(std::io::Error::other)
    });
    if let Err(e) = result {
        say(format_args!("tokio-console server on {addr} stopped: {e}"));
    }
}

/// Without `--cfg tokio_unstable` Tokio records no task spans: say so once, serve nothing.
#[cfg(not(tokio_unstable))]
pub(crate) fn layer<S>() -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;

    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        say(format_args!(
            "tokio-console unavailable: this build lacks `--cfg tokio_unstable`, so Tokio records \
             no tasks; build with RUSTFLAGS=\"--cfg tokio_unstable\" to serve it"
        ));
    });
    tracing_subscriber::layer::Identity::new().boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_to_loopback_on_the_console_port() {
        let (s, errors) = Settings::from_lookup(lookup(&[]));
        assert!(errors.is_empty());
        assert_eq!(s.bind, "127.0.0.1:6669".parse().unwrap());
        assert!(s.bind.ip().is_loopback());
        assert_eq!(
            (s.retention, s.publish_interval, s.buffer_capacity),
            (None, None, None)
        );
    }

    #[test]
    fn reads_every_console_variable() {
        let (s, errors) = Settings::from_lookup(lookup(&[
            ("TOKIO_CONSOLE_BIND", "127.0.0.1:7001"),
            ("TOKIO_CONSOLE_RETENTION", "10m"),
            ("TOKIO_CONSOLE_PUBLISH_INTERVAL", "250ms"),
            ("TOKIO_CONSOLE_RECORD_PATH", "console.rec"),
            ("TOKIO_CONSOLE_BUFFER_CAPACITY", "4096"),
        ]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.bind.port(), 7001);
        assert_eq!(s.retention, Some(Duration::from_secs(600)));
        assert_eq!(s.publish_interval, Some(Duration::from_millis(250)));
        assert_eq!(s.record_path, Some(PathBuf::from("console.rec")));
        assert_eq!(s.buffer_capacity, Some(4096));
    }

    #[test]
    fn bad_values_are_one_line_each_naming_the_variable_and_keep_defaults() {
        let (s, errors) = Settings::from_lookup(lookup(&[
            ("TOKIO_CONSOLE_BIND", "localhost"),
            ("TOKIO_CONSOLE_RETENTION", "soon"),
            ("TOKIO_CONSOLE_PUBLISH_INTERVAL", "-1s"),
            ("TOKIO_CONSOLE_BUFFER_CAPACITY", "0"),
        ]));
        assert_eq!(errors.len(), 4, "{errors:?}");
        for (e, var) in errors.iter().zip([
            "TOKIO_CONSOLE_BIND=\"localhost\"",
            "TOKIO_CONSOLE_RETENTION=\"soon\"",
            "TOKIO_CONSOLE_PUBLISH_INTERVAL=\"-1s\"",
            "TOKIO_CONSOLE_BUFFER_CAPACITY=\"0\"",
        ]) {
            assert!(e.starts_with(&format!("ignoring {var}: ")), "{e}");
            assert!(e.contains("expected"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert_eq!(s.bind.to_string(), DEFAULT_CONSOLE_BIND);
        assert_eq!(
            (s.retention, s.publish_interval, s.buffer_capacity),
            (None, None, None)
        );
    }

    #[cfg(tokio_unstable)]
    #[test]
    fn a_taken_port_is_an_error_not_a_panic() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut settings, _) = Settings::from_lookup(lookup(&[]));
        settings.bind = taken.local_addr().unwrap();
        let Err(err) = start(settings) else {
            panic!("the port is taken")
        };
        assert!(err.starts_with("cannot listen on 127.0.0.1:"), "{err}");
        assert!(err.contains("TOKIO_CONSOLE_BIND"), "{err}");
    }
}
