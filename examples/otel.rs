//! Slow polls and stalls to OpenTelemetry: the service's meter and logger providers (here with
//! the SDK's stdout exporters; in a service, OTLP to its collector), one `install` line, and a
//! handler that blocks its worker for 250 ms.
//!
//! ```text
//! cargo run --example otel --features otel
//! ```
//!
//! Prints the log records (a `pollwatch.stall` while the handler blocks, a `pollwatch.slow_poll`
//! when it returns) and then the metrics: `pollwatch.slow_polls`, `pollwatch.stalls` and the
//! `pollwatch.blocked.duration` histogram, each with `code.function.name`, `code.file.path`,
//! `code.line.number`, `pollwatch.kind` and `pollwatch.chain`.

use std::time::Duration;

use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};

#[pollwatch::async_timed]
async fn load_profile(user: u64) -> String {
    // A synchronous call in async code: the worker can run nothing else meanwhile.
    std::thread::sleep(Duration::from_millis(250));
    format!("profile of {user}")
}

#[pollwatch::async_timed]
async fn handler(user: u64) -> String {
    load_profile(user).await
}

#[pollwatch::main]
async fn main() {
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default()).build(),
        )
        .build();
    let logger_provider = SdkLoggerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::LogExporter::default())
        .build();

    pollwatch::otel::install(&meter_provider, &logger_provider);

    let profile = tokio::spawn(handler(42)).await.unwrap();
    println!("handler returned {profile:?}");

    // Export what was recorded before exiting.
    pollwatch::otel::uninstall();
    meter_provider.shutdown().expect("metrics exported");
    logger_provider.shutdown().expect("logs exported");
}
