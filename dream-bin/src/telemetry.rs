//! Logs and traces: the `tracing` subscriber (pretty or JSON lines, filtered by
//! `RUST_LOG`), and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OpenTelemetry export
//! of the same spans over OTLP/HTTP (protobuf). Off by default.
//!
//! Log lines are written to stdout by a background thread: a request only queues
//! its access-log line, instead of waiting for a locked, unbuffered write to the
//! pipe (a third of a bare `/health`'s cost). The queue blocks rather than drops
//! when full, and [`Telemetry::shutdown`] drains it.

use std::{io::IsTerminal, time::Duration};

use dream_bin::{Config, LogFormat};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::{trace::SdkTracerProvider, Resource};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{
    filter::{filter_fn, FilterExt},
    layer::SubscriberExt,
    util::SubscriberInitExt,
    EnvFilter, Layer,
};

/// How long one export may take; also bounds the flush at shutdown.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built (its endpoint is not a URI).
    #[error("OTEL_EXPORTER_OTLP_ENDPOINT: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A subscriber was installed already.
    #[error("cannot install the log subscriber: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// The installed telemetry; [`Telemetry::shutdown`] flushes spans not yet exported
/// and log lines not yet written.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    log_writer: WorkerGuard,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter. Blocks (up to the
    /// export timeout): call it off the async runtime's worker threads.
    pub fn shutdown(self) {
        if let Some(traces) = self.traces {
            if let Err(err) = traces.shutdown_with_timeout(EXPORT_TIMEOUT) {
                tracing::warn!(error = %err, "traces not flushed at shutdown");
            }
        }
        // Last: the warning above is a log line too.
        drop(self.log_writer);
    }
}

/// Installs the subscriber for `config`: logs always, OTLP traces when configured.
pub fn init(config: &Config) -> Result<Telemetry, TelemetryError> {
    let traces = config
        .otel_exporter_otlp_endpoint
        .as_deref()
        .map(|endpoint| tracer_provider(endpoint, &config.otel_service_name))
        .transpose()?;
    // Traces also get the `store` spans (debug level, one per store call): they
    // show where a request spent its time, but the log layer would format them
    // on every request for lines that never print them.
    let otel = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("dream"))
            .with_filter(log_filter().or(filter_fn(|meta| {
                meta.is_span() && meta.target() == "dream_store::observed"
            })))
    });
    // The writer thread writes the lines queued since its last pass in one
    // system call (it flushes whenever the queue is empty), not one per line.
    let (writer, log_writer) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("dream-log-writer")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    // Colours only for a terminal: in a file or a pipe the escape codes are noise
    // (and styling every field was a tenth of a logged request's cost).
    let ansi = std::io::stdout().is_terminal();
    let logs = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(otel)
        .with(logs.with_filter(log_filter()))
        .try_init()?;
    // Not the endpoint itself: a URL may carry credentials.
    if traces.is_some() {
        tracing::info!(service = %config.otel_service_name, "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry { traces, log_writer })
}

/// `RUST_LOG`, `info` by default.
fn log_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

fn tracer_provider(endpoint: &str, service: &str) -> Result<SdkTracerProvider, TelemetryError> {
    // The variable names the collector's base URL (as the OpenTelemetry spec
    // defines it); an endpoint given to the builder is used as is.
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build())
}
