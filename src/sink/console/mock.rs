//! Stand-in for `serve.rs` in builds without `--cfg tokio_unstable`: Tokio records no task spans
//! there, so there is nothing to serve. Says so once, and everything else works.

/// A layer that does nothing, after one line on stderr saying why.
pub(crate) fn layer<S>() -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;

    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        crate::util::say(format_args!(
            "pollwatch: tokio-console unavailable: this build lacks `--cfg tokio_unstable`, so \
             Tokio records no tasks; build with RUSTFLAGS=\"--cfg tokio_unstable\" to serve it"
        ));
    });
    tracing_subscriber::layer::Identity::new().boxed()
}
