//! tokio-console: console-subscriber's layer, served on a thread of its own, configured from the
//! `TOKIO_CONSOLE_*` variables without panicking on bad values.
//!
//! console-subscriber's own `Builder::with_default_env` and `spawn` panic on a malformed variable,
//! a path that cannot be created or a port already in use (the last one on a background thread,
//! leaving a program that looks served and is not). pollwatch reads the same variables itself,
//! rejects values that would make console-subscriber panic later (a zero publish interval, a
//! buffer larger than Tokio's channels allow), binds the listener before returning, and reports
//! every problem in one line on stderr, then runs without the console.
//!
//! One server per process, living as long as its layer: when the layer is dropped (its
//! subscriber failed to install, or a scoped subscriber ended), the aggregator sees its channel
//! close, the server stops and the port is released.

use std::net::TcpListener;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::time::Duration;

use super::addr::{DEFAULT_CONSOLE_BIND, serving};

/// The most events `TOKIO_CONSOLE_BUFFER_CAPACITY` may ask for (Tokio's channels panic past
/// `usize::MAX >> 3`; a billion events is already gigabytes).
const MAX_BUFFER_CAPACITY: usize = 1 << 30;

fn say(line: std::fmt::Arguments<'_>) {
    crate::util::say(format_args!("pollwatch: {line}"));
}

/// The console settings from the environment; a bad value is reported and its default kept.
#[derive(Debug)]
struct Settings {
    bind: SocketAddr,
    retention: Option<Duration>,
    publish_interval: Option<Duration>,
    record_path: Option<PathBuf>,
    buffer_capacity: Option<usize>,
}

impl Settings {
    /// Reads the `TOKIO_CONSOLE_*` variables through `var` (`Err`: set, but not UTF-8); each bad
    /// value is one message in the second half, and leaves its default.
    fn from_lookup(
        var: impl Fn(&str) -> Option<Result<String, std::ffi::OsString>>,
    ) -> (Settings, Vec<String>) {
        let mut errors = Vec::new();
        let mut text = |name: &str| match var(name)? {
            Ok(v) if v.trim().is_empty() => None,
            Ok(v) => Some(v),
            Err(raw) => {
                errors.push(format!("ignoring {name}={raw:?}: not valid UTF-8"));
                None
            }
        };
        let bind = text("TOKIO_CONSOLE_BIND");
        let retention = text("TOKIO_CONSOLE_RETENTION");
        let publish_interval = text("TOKIO_CONSOLE_PUBLISH_INTERVAL");
        let buffer_capacity = text("TOKIO_CONSOLE_BUFFER_CAPACITY");
        let record_path = match var("TOKIO_CONSOLE_RECORD_PATH") {
            Some(Ok(v)) if v.trim().is_empty() => None,
            Some(Ok(v)) => Some(PathBuf::from(v)),
            // Any bytes make a path on Unix.
            #[cfg(unix)]
            Some(Err(raw)) => Some(PathBuf::from(raw)),
            #[cfg(not(unix))]
            Some(Err(raw)) => {
                errors.push(format!(
                    "ignoring TOKIO_CONSOLE_RECORD_PATH={raw:?}: not valid Unicode"
                ));
                None
            }
            None => None,
        };

        let default_bind = || {
            DEFAULT_CONSOLE_BIND
                .parse()
                .expect("a valid socket address")
        };
        let bind = match bind {
            None => default_bind(),
            Some(value) => parse_bind(&value).unwrap_or_else(|e| {
                errors.push(format!(
                    "ignoring TOKIO_CONSOLE_BIND={value:?}: {e}; expected HOST:PORT such as \
                     `127.0.0.1:6669`; using {DEFAULT_CONSOLE_BIND}"
                ));
                default_bind()
            }),
        };
        let mut duration = |name: &str, value: Option<String>, zero_ok: bool| {
            let value = value?;
            let expected = "expected a positive duration such as `500ms` or `1h`";
            match value.trim().parse::<humantime::Duration>() {
                Ok(d) if zero_ok || !d.is_zero() => Some(d.into()),
                Ok(_) => {
                    errors.push(format!("ignoring {name}={value:?}: {expected}"));
                    None
                }
                Err(e) => {
                    errors.push(format!("ignoring {name}={value:?}: {e}; {expected}"));
                    None
                }
            }
        };
        let retention = duration("TOKIO_CONSOLE_RETENTION", retention, true);
        // A zero interval would panic in the aggregator's `tokio::time::interval`.
        let publish_interval = duration("TOKIO_CONSOLE_PUBLISH_INTERVAL", publish_interval, false);
        let buffer_capacity =
            buffer_capacity.and_then(|value| match value.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_BUFFER_CAPACITY).contains(&n) => Some(n),
                _ => {
                    errors.push(format!(
                        "ignoring TOKIO_CONSOLE_BUFFER_CAPACITY={value:?}: expected a number of \
                     events from 1 to {MAX_BUFFER_CAPACITY}, such as `102400`"
                    ));
                    None
                }
            });
        let settings = Settings {
            bind,
            retention,
            publish_interval,
            record_path,
            buffer_capacity,
        };
        (settings, errors)
    }

    fn from_env() -> Settings {
        let (settings, errors) =
            Settings::from_lookup(|name| std::env::var_os(name).map(|v| v.into_string()));
        for e in errors {
            say(format_args!("{e}"));
        }
        settings
    }
}

fn parse_bind(value: &str) -> Result<SocketAddr, String> {
    let mut addrs = value.trim().to_socket_addrs().map_err(|e| e.to_string())?;
    addrs
        .next()
        .ok_or_else(|| "the host resolves to no address".to_owned())
}

/// console-subscriber's filter: Tokio's task, resource and waker spans and events, nothing else
/// (the fmt layer has its own filter).
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
pub(crate) fn layer<S>() -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::FilterFn;

    let mut serving = serving();
    if let Some(addr) = *serving {
        say(format_args!(
            "tokio-console already served on {addr} by an earlier `init`/`layer`; this layer adds \
             no second server"
        ));
        return tracing_subscriber::layer::Identity::new().boxed();
    }
    match start(Settings::from_env()) {
        Ok((layer, addr)) => {
            *serving = Some(addr);
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

/// Runs the console's aggregator and gRPC server until the layer is dropped (the aggregator's
/// channel closes) or either fails; then releases the port.
fn serve(server: console_subscriber::Server, listener: TcpListener, addr: SocketAddr) {
    use std::task::Poll;

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
            stopped(addr);
            return;
        }
    };
    let stop = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let parts = server.into_parts();
        let mut aggregator = tokio::spawn(parts.aggregator.run());
        let mut served = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(parts.instrument_server)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        // Whichever ends first ends both.
        let ended = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = std::pin::Pin::new(&mut aggregator).poll(cx) {
                return Poll::Ready(match r {
                    Ok(()) => None, // its layer was dropped: nothing left to serve
                    Err(e) => Some(format!("its aggregator failed: {e}")),
                });
            }
            std::pin::Pin::new(&mut served).poll(cx).map(|r| match r {
                Ok(Ok(())) => Some("the server ended".to_owned()),
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            })
        })
        .await;
        aggregator.abort();
        served.abort();
        Ok::<_, std::io::Error>(ended)
    });
    stopped(addr);
    match stop {
        Ok(None) => {}
        Ok(Some(why)) => say(format_args!("tokio-console on {addr} stopped: {why}")),
        Err(e) => say(format_args!("tokio-console on {addr} stopped: {e}")),
    }
}

/// Forgets the server on `addr`, so that a later `init` / `layer` may start another.
fn stopped(addr: SocketAddr) {
    let mut serving = serving();
    if *serving == Some(addr) {
        *serving = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<V: ToString>(
        vars: &[(&str, V)],
    ) -> impl Fn(&str) -> Option<Result<String, std::ffi::OsString>> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.to_string()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| Ok(v.clone()))
        }
    }

    #[test]
    fn defaults_to_loopback_on_the_console_port() {
        let (s, errors) = Settings::from_lookup(lookup::<&str>(&[]));
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

    /// Values console-subscriber would accept and then panic on, later, on its own thread.
    #[test]
    fn values_that_would_panic_in_console_subscriber_are_rejected() {
        let huge = (usize::MAX >> 2).to_string();
        let (s, errors) = Settings::from_lookup(lookup(&[
            ("TOKIO_CONSOLE_PUBLISH_INTERVAL", "0s"),
            ("TOKIO_CONSOLE_BUFFER_CAPACITY", huge.as_str()),
            ("TOKIO_CONSOLE_RETENTION", "0s"),
        ]));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0]
                .starts_with("ignoring TOKIO_CONSOLE_PUBLISH_INTERVAL=\"0s\": expected a positive")
        );
        assert!(errors[1].starts_with("ignoring TOKIO_CONSOLE_BUFFER_CAPACITY="));
        assert_eq!((s.publish_interval, s.buffer_capacity), (None, None));
        assert_eq!(
            s.retention,
            Some(Duration::ZERO),
            "keep nothing finished: allowed"
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_values_are_named_and_a_non_utf8_record_path_is_a_path() {
        use std::os::unix::ffi::OsStringExt as _;
        let raw = || std::ffi::OsString::from_vec(vec![b'r', 0xff, b'c']);
        let (s, errors) = Settings::from_lookup(|name| match name {
            "TOKIO_CONSOLE_BIND" | "TOKIO_CONSOLE_RECORD_PATH" => Some(Err(raw())),
            _ => None,
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("ignoring TOKIO_CONSOLE_BIND="),
            "{}",
            errors[0]
        );
        assert!(errors[0].ends_with("not valid UTF-8"), "{}", errors[0]);
        assert_eq!(s.bind.to_string(), DEFAULT_CONSOLE_BIND);
        assert_eq!(s.record_path, Some(PathBuf::from(raw())));
    }

    #[test]
    fn a_taken_port_is_an_error_not_a_panic() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut settings, _) = Settings::from_lookup(lookup::<&str>(&[]));
        settings.bind = taken.local_addr().unwrap();
        let Err(err) = start(settings) else {
            panic!("the port is taken")
        };
        assert!(err.starts_with("cannot listen on 127.0.0.1:"), "{err}");
        assert!(err.contains("TOKIO_CONSOLE_BIND"), "{err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const VARS: [&str; 5] = [
            "TOKIO_CONSOLE_BIND",
            "TOKIO_CONSOLE_RETENTION",
            "TOKIO_CONSOLE_PUBLISH_INTERVAL",
            "TOKIO_CONSOLE_RECORD_PATH",
            "TOKIO_CONSOLE_BUFFER_CAPACITY",
        ];

        fn values() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[0-9]{0,25}(ms|s|m|h|)",
                "(127\\.0\\.0\\.1|localhost|::1|\\[::1\\]|[a-z]{1,8}):?[0-9]{0,7}",
            ]
        }

        proptest! {
            #[test]
            fn any_value_is_used_or_named_in_one_line_never_a_panic(value in values()) {
                for var in VARS {
                    let (_, errors) = Settings::from_lookup(|name| {
                        (name == var).then(|| Ok(value.clone()))
                    });
                    for e in errors {
                        prop_assert!(e.starts_with(&format!("ignoring {var}=")), "{}", e);
                        prop_assert!(e.contains("expected"), "{}", e);
                        prop_assert!(!e.contains('\n'), "{:?}", e);
                    }
                }
            }
        }
    }
}
