//! Process metrics on `prometheus-client`, served in the OpenMetrics text format at
//! `GET /admin/metrics`: HTTP requests by operation, store calls, and webhooks in
//! and out. Values are per process (as with any Prometheus client): scrape every
//! process and sum.

use std::sync::LazyLock;

use dream_core::DeliveryPass;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Latency buckets in seconds, 0.5 ms to 10 s: store calls sit at the low end,
/// Stripe calls and large exports at the high end.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

/// `operation` is the OpenAPI operation id, or the route template for routes
/// outside the spec: never the raw path, whose ids would make a series per object.
/// Both are a bounded set of static names, so a label costs no allocation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    operation: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedLabels {
    store: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreCallLabels {
    port: &'static str,
    method: &'static str,
}

/// One webhook source's deliveries to us.
#[derive(Clone)]
pub(crate) struct Inbound {
    pub(crate) received: Counter,
    pub(crate) applied: Counter,
    pub(crate) duplicates: Counter,
    pub(crate) ignored: Counter,
    /// Refused (bad signature, unreadable body) or failed (store, in flight).
    pub(crate) failures: Counter,
}

/// Our deliveries to developers' endpoints.
struct Outbound {
    attempts: Counter,
    succeeded: Counter,
    failed: Counter,
    exhausted: Counter,
    endpoints_disabled: Counter,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Latencies<LatencyLabels>,
    store_call_seconds: Latencies<StoreCallLabels>,
    customer_feed_live: Family<FeedLabels, Gauge>,
    stripe: Inbound,
    clerk: Inbound,
    outbound: Outbound,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "dream_http_requests",
            "HTTP requests answered, by operation and status",
            requests.clone(),
        );
        let request_seconds = Latencies::new_with_constructor(latency_histogram);
        registry.register(
            "dream_http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head), by operation and status class",
            request_seconds.clone(),
        );
        let store_call_seconds = Latencies::new_with_constructor(latency_histogram);
        registry.register(
            "dream_store_call_duration_seconds",
            "Duration of store calls, by port (store trait) and method",
            store_call_seconds.clone(),
        );

        let customer_feed_live = Family::<FeedLabels, Gauge>::default();
        registry.register(
            "dream_customer_feed_live",
            "1 while the store's change feed keeps cached customers current past the cache bound, 0 while they expire after it (only with PostgreSQL)",
            customer_feed_live.clone(),
        );

        let mut by_source = |name: &str, help: &str| {
            let family = Family::<SourceLabels, Counter>::default();
            registry.register(name, help, family.clone());
            // Both sources appear from the first scrape on, at 0.
            let [stripe, clerk] = ["stripe", "clerk"]
                .map(|source| family.get_or_create(&SourceLabels { source }).clone());
            (stripe, clerk)
        };
        let received = by_source(
            "dream_webhooks_received",
            "Webhook deliveries received, by source",
        );
        let applied = by_source(
            "dream_webhooks_applied",
            "Webhook events applied, by source",
        );
        let duplicates = by_source(
            "dream_webhooks_duplicates",
            "Webhook events already processed (acknowledged, nothing changed), by source",
        );
        let ignored = by_source(
            "dream_webhooks_ignored",
            "Webhook events acknowledged without effect (unknown tenant, unhandled type), by source",
        );
        let failures = by_source(
            "dream_webhooks_failures",
            "Webhook deliveries refused (signature, body) or failed (store), by source",
        );
        let stripe = Inbound {
            received: received.0,
            applied: applied.0,
            duplicates: duplicates.0,
            ignored: ignored.0,
            failures: failures.0,
        };
        let clerk = Inbound {
            received: received.1,
            applied: applied.1,
            duplicates: duplicates.1,
            ignored: ignored.1,
            failures: failures.1,
        };

        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let outbound = Outbound {
            attempts: counter(
                "dream_webhook_delivery_attempts",
                "Attempts to deliver events to developers' endpoints",
            ),
            succeeded: counter(
                "dream_webhook_delivery_succeeded",
                "Delivery attempts acknowledged with a 2xx",
            ),
            failed: counter(
                "dream_webhook_delivery_failed",
                "Delivery attempts that failed (a retry may follow)",
            ),
            exhausted: counter(
                "dream_webhook_delivery_exhausted",
                "Deliveries that ran out of attempts",
            ),
            endpoints_disabled: counter(
                "dream_webhook_endpoints_disabled",
                "Endpoints disabled for failing too long",
            ),
        };
        Self {
            registry,
            requests,
            request_seconds,
            store_call_seconds,
            customer_feed_live,
            stripe,
            clerk,
            outbound,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Stripe's deliveries to `/webhook/stripe` (and the direct-mode endpoints).
pub(crate) static STRIPE: LazyLock<Inbound> = LazyLock::new(|| METRICS.stripe.clone());
/// Clerk's deliveries to `/webhook/clerk`.
pub(crate) static CLERK: LazyLock<Inbound> = LazyLock::new(|| METRICS.clerk.clone());

/// Counts what a delivery pass did (the server's delivery loop calls this).
pub fn record_delivery_pass(pass: &DeliveryPass) {
    let out = &METRICS.outbound;
    let add = |c: &Counter, n: usize| {
        c.inc_by(n as u64);
    };
    add(&out.attempts, pass.attempted);
    add(&out.succeeded, pass.succeeded);
    add(&out.failed, pass.failed);
    add(&out.exhausted, pass.exhausted);
    add(&out.endpoints_disabled, pass.endpoints_disabled);
}

/// Records one store call in `dream_store_call_duration_seconds{port,method}`:
/// `port` names the store trait (`keys`, `usage`, …), `method` its method. Meant
/// for a timing decorator around the store; both are static names, so the number
/// of series stays bounded.
pub fn observe_store_call(port: &'static str, method: &'static str, seconds: f64) {
    METRICS
        .store_call_seconds
        .get_or_create(&StoreCallLabels { port, method })
        .observe(seconds);
}

/// Sets `dream_customer_feed_live{store}`: whether `store`'s customer change
/// feed is live (the server samples it every second).
pub fn set_customer_feed_live(store: &'static str, live: bool) {
    METRICS
        .customer_feed_live
        .get_or_create(&FeedLabels { store })
        .set(i64::from(live));
}

/// Records one answered HTTP request (the request middleware calls this).
pub(crate) fn observe_request(operation: &'static str, status: u16, seconds: f64) {
    let status_class = match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    METRICS
        .requests
        .get_or_create(&RequestLabels { operation, status })
        .inc();
    METRICS
        .request_seconds
        .get_or_create(&LatencyLabels {
            operation,
            status_class,
        })
        .observe(seconds);
}

/// Every metric in the OpenMetrics text format
/// (`application/openmetrics-text; version=1.0.0`).
pub(crate) fn render() -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; an encoder error would be a library bug,
    // and a partial page is still better than none for a scrape.
    if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry) {
        tracing::error!(error = %err, "cannot encode metrics");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, line_start: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no sample {line_start} in\n{text}"))
    }

    #[test]
    fn renders_counters_and_histograms_in_openmetrics_text() {
        let before = render();
        let attempts = sample(&before, "dream_webhook_delivery_attempts_total ");
        let clerk = sample(&before, "dream_webhooks_received_total{source=\"clerk\"} ");
        record_delivery_pass(&DeliveryPass {
            attempted: 3,
            succeeded: 2,
            failed: 1,
            exhausted: 0,
            endpoints_disabled: 0,
        });
        CLERK.received.inc();
        observe_store_call("usage", "consume", 0.003);
        observe_request("unitTestOperation", 201, 0.02);
        let after = render();
        assert_eq!(
            sample(&after, "dream_webhook_delivery_attempts_total "),
            attempts + 3.0
        );
        assert_eq!(
            sample(&after, "dream_webhooks_received_total{source=\"clerk\"} "),
            clerk + 1.0
        );
        assert!(after.contains("# TYPE dream_webhooks_failures counter"));
        assert_eq!(
            sample(
                &after,
                "dream_store_call_duration_seconds_bucket{le=\"0.005\",port=\"usage\",method=\"consume\"} "
            ),
            1.0
        );
        assert_eq!(
            sample(
                &after,
                "dream_store_call_duration_seconds_bucket{le=\"0.0025\",port=\"usage\",method=\"consume\"} "
            ),
            0.0
        );
        assert_eq!(
            sample(
                &after,
                "dream_http_requests_total{operation=\"unitTestOperation\",status=\"201\"} "
            ),
            1.0
        );
        assert_eq!(
            sample(
                &after,
                "dream_http_request_duration_seconds_count{operation=\"unitTestOperation\",status_class=\"2xx\"} "
            ),
            1.0
        );
        assert!(after.ends_with("# EOF\n"), "{after}");
        for line in after.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap_or_default();
            assert!(name.starts_with("dream_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
