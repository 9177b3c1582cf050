//! The `otel` feature, end to end with the SDK's in-memory exporters: a known run (one fn
//! sleeping 400 ms in a poll, inside a traced span) becomes one slow poll and one stall in the
//! metrics, with the semantic-convention attributes and nothing per call, and log records
//! whose body is the warning and whose trace context is the span's.
#![cfg(all(feature = "otel", feature = "tokio"))]

use std::time::Duration;

use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use pollwatch::DebugMode;
use pollwatch::otel::{self, BLOCKED_DURATION, SLOW_POLLS, STALLS, attributes};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::prelude::*;

/// The culprit: blocks its thread for 400 ms (the watchdog reports it as a stall at 100 ms).
#[pollwatch::async_timed]
async fn otel_nap(user_id: u64) -> u64 {
    tokio::task::yield_now().await;
    std::thread::sleep(Duration::from_millis(400));
    user_id
}

fn attr<'a>(attrs: impl IntoIterator<Item = &'a KeyValue>, key: &str) -> Option<Value> {
    attrs
        .into_iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn log_attr(record: &opentelemetry_sdk::logs::SdkLogRecord, key: &str) -> Option<AnyValue> {
    record
        .attributes_iter()
        .find(|(k, _)| k == &Key::from(key.to_owned()))
        .map(|(_, v)| v.clone())
}

/// Every data point of a u64 sum in the last export, with its attributes.
fn sum_points(metrics: &[ResourceMetrics], name: &str) -> Vec<(u64, Vec<KeyValue>)> {
    let mut points = Vec::new();
    if let Some(rm) = metrics.last() {
        for sm in rm.scope_metrics() {
            assert_eq!(sm.scope().name(), otel::SCOPE);
            for m in sm.metrics().filter(|m| m.name() == name) {
                let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() else {
                    panic!("{name} is a u64 sum: {:?}", m.data());
                };
                assert!(sum.is_monotonic());
                for dp in sum.data_points() {
                    points.push((dp.value(), dp.attributes().cloned().collect()));
                }
            }
        }
    }
    points
}

#[test]
fn a_known_run_becomes_metrics_and_correlated_logs() {
    pollwatch::set_debug_mode(DebugMode::On);
    let metric_exporter = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metric_exporter.clone()).build())
        .build();
    let log_exporter = InMemoryLogExporter::default();
    let logger_provider = SdkLoggerProvider::builder()
        .with_simple_exporter(log_exporter.clone())
        .build();
    otel::install(&meter_provider, &logger_provider);

    // The service's traces: a tracing span bridged to OpenTelemetry.
    let tracer = SdkTracerProvider::builder().build().tracer("service");
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    let _guard = tracing::subscriber::set_default(subscriber);
    let span = tracing::info_span!("request");
    let trace_id = span.context().span().span_context().trace_id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Two calls, so that a per-call attribute would show as two data points.
    for user in [7, 8] {
        let out = rt.block_on(otel_nap(user).instrument(span.clone()));
        assert_eq!(out, user, "instrumentation changes nothing the future does");
    }
    drop(rt);

    // Metrics: two slow polls and two stalls on one data point each (one call site).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (slow, stalls, metrics) = loop {
        meter_provider.force_flush().unwrap();
        let metrics = metric_exporter.get_finished_metrics().unwrap();
        let slow = sum_points(&metrics, SLOW_POLLS);
        let stalls = sum_points(&metrics, STALLS);
        let total = |p: &[(u64, Vec<KeyValue>)]| p.iter().map(|(v, _)| v).sum::<u64>();
        if total(&slow) >= 2 && total(&stalls) >= 2 || std::time::Instant::now() > deadline {
            break (slow, stalls, metrics);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // One fn, one series: both calls on one data point.
    assert_eq!(slow.len(), 1, "one series: {slow:?}");
    let (count, attrs) = slow[0].clone();
    assert_eq!(count, 2, "{slow:?}");
    assert_eq!(
        attr(&attrs, attributes::CODE_FUNCTION_NAME),
        Some(Value::from("otel::otel_nap"))
    );
    assert_eq!(
        attr(&attrs, attributes::CODE_FILE_PATH),
        Some(Value::from("tests/otel.rs"))
    );
    let Some(Value::I64(line)) = attr(&attrs, attributes::CODE_LINE_NUMBER) else {
        panic!("a line number: {attrs:?}");
    };
    let source: Vec<&str> = include_str!("otel.rs").lines().collect();
    let enclosing = source[..line as usize]
        .iter()
        .rev()
        .find(|l| l.contains("fn "))
        .unwrap();
    assert!(
        enclosing.contains("fn otel_nap("),
        "line {line} is otel_nap's"
    );
    assert_eq!(
        attr(&attrs, attributes::KIND),
        Some(Value::from("blocking"))
    );
    assert_eq!(
        attr(&attrs, attributes::CHAIN),
        Some(Value::from("otel_nap"))
    );
    for per_call in [
        attributes::TASK_ID,
        attributes::THREAD_NAME,
        attributes::BLOCKED_SECONDS,
    ] {
        assert_eq!(
            attr(&attrs, per_call),
            None,
            "{per_call} is not a metric attribute"
        );
    }
    assert!(
        attrs.iter().all(|kv| kv.value.as_str() != "7"),
        "no argument value: {attrs:?}"
    );
    assert_eq!(stalls.len(), 1, "one series: {stalls:?}");
    let (stall_count, stall_attrs) = stalls[0].clone();
    assert_eq!(
        stall_count, 2,
        "once per poll, not per reminder: {stalls:?}"
    );
    assert_eq!(
        attr(&stall_attrs, attributes::CODE_FUNCTION_NAME),
        Some(Value::from("otel::otel_nap"))
    );

    // The histogram: two values of at least 400 ms, in seconds.
    let histogram = metrics
        .last()
        .into_iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .filter(|m| m.name() == BLOCKED_DURATION)
        .last()
        .expect("the duration histogram");
    assert_eq!(histogram.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(h)) = histogram.data() else {
        panic!("an f64 histogram");
    };
    let dp = h.data_points().next().unwrap();
    assert_eq!(dp.count(), 2);
    assert!(
        dp.min().unwrap() >= 0.39 && dp.max().unwrap() < 5.0,
        "{:?}",
        dp.max()
    );
    assert_eq!(
        dp.bounds().collect::<Vec<_>>(),
        otel::BLOCKED_BUCKETS.to_vec()
    );

    // Logs: the first occurrence in full (the log's volume policy), the slow poll correlated to
    // the span it ran in.
    logger_provider.force_flush().unwrap();
    let logs = log_exporter.get_emitted_logs().unwrap();
    let slow_log = logs
        .iter()
        .map(|l| &l.record)
        .find(|r| r.event_name() == Some("pollwatch.slow_poll"))
        .unwrap_or_else(|| panic!("a slow-poll log record: {logs:#?}"));
    assert_eq!(slow_log.severity_number(), Some(Severity::Warn));
    assert_eq!(slow_log.severity_text(), Some("WARN"));
    let Some(AnyValue::String(body)) = slow_log.body() else {
        panic!("a body");
    };
    assert!(
        body.as_str()
            .starts_with("otel_nap blocked the executor for "),
        "{body}"
    );
    assert_eq!(
        log_attr(slow_log, attributes::CODE_FUNCTION_NAME),
        Some(AnyValue::from("otel::otel_nap".to_owned()))
    );
    let Some(AnyValue::Double(secs)) = log_attr(slow_log, attributes::BLOCKED_SECONDS) else {
        panic!("the duration");
    };
    assert!(secs >= 0.39, "{secs}");
    let context = slow_log
        .trace_context()
        .expect("correlated to the active span");
    assert_eq!(context.trace_id, trace_id);

    let stall_log = logs
        .iter()
        .map(|l| &l.record)
        .find(|r| r.event_name() == Some("pollwatch.stall"))
        .expect("a stall log record");
    let Some(AnyValue::String(body)) = stall_log.body() else {
        panic!("a body");
    };
    assert!(
        body.as_str()
            .starts_with("otel_nap has been blocking thread"),
        "{body}"
    );
    // The native stack read while it slept: on the slow poll's record (the stall's first report
    // waits only briefly for it; when it comes later it is a follow-up).
    if cfg!(all(feature = "stacks", target_os = "linux")) {
        assert_eq!(
            log_attr(slow_log, attributes::SYSCALL),
            Some(AnyValue::from("clock_nanosleep".to_owned()))
        );
        let Some(AnyValue::String(stack)) = log_attr(slow_log, attributes::CODE_STACKTRACE) else {
            panic!("the stack");
        };
        assert!(stack.as_str().contains("otel_nap"), "{stack}");
    }

    otel::uninstall();
    meter_provider.shutdown().unwrap();
    logger_provider.shutdown().unwrap();
}
