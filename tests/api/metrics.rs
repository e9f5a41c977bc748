//! `GET /admin/metrics`: OpenMetrics text from prometheus-client, request counts and
//! latency histograms labelled by operation (never by raw path), admin token only.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use crate::support::TestServer;

/// One sample line: name, labels, value.
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("label pair");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("numeric value"),
            }
        })
        .collect()
}

/// The value of the series `name` whose labels include `labels` (0 when absent:
/// a series appears with its first observation).
fn value(all: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    all.iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map_or(0.0, |s| s.value)
}

async fn scrape(server: &TestServer) -> Vec<Sample> {
    let reply = server.get("/admin/metrics", &server.admin_token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(reply.text.ends_with("# EOF\n"), "{}", reply.text);
    assert!(
        !reply.text.contains("usr_") && !reply.text.contains("plt_"),
        "a raw path or id became a label:\n{}",
        reply.text
    );
    samples(&reply.text)
}

#[tokio::test]
async fn requests_are_counted_and_timed_by_operation() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 5).await.secret_key;
    // Metrics are per process and the tests of this binary run in parallel in
    // it: compare differences, with "at least".
    let before = scrape(&server).await;
    let id = server
        .customer(&sk, json!({"email": "metrics@example.com"}))
        .await;
    for _ in 0..3 {
        server.get(&format!("/api/customers/{id}"), &sk).await;
    }
    server
        .get("/api/customers/usr_doesnotexist1", &sk)
        .await
        .assert_error(404, "not_found");
    server
        .send(
            Method::POST,
            "/webhook/stripe/plt_nosuchplatform",
            None,
            &[],
            None,
        )
        .await;
    let after = scrape(&server).await;

    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let ok = [("operation", "getCustomer"), ("status_class", "2xx")];
    assert!(delta("dream_http_request_duration_seconds_count", &ok) >= 3.0);
    assert!(
        delta(
            "dream_http_requests_total",
            &[("operation", "getCustomer"), ("status", "200")]
        ) >= 3.0
    );
    assert!(
        delta(
            "dream_http_requests_total",
            &[("operation", "getCustomer"), ("status", "404")]
        ) >= 1.0
    );
    assert!(
        delta(
            "dream_http_request_duration_seconds_count",
            &[("operation", "getCustomer"), ("status_class", "4xx")]
        ) >= 1.0
    );
    // Routes outside the spec are labelled by their template.
    assert!(
        delta(
            "dream_http_request_duration_seconds_count",
            &[
                ("operation", "/webhook/stripe/:platform_id"),
                ("status_class", "4xx")
            ]
        ) >= 1.0
    );

    // A histogram: cumulative buckets up to +Inf, which equals the count.
    let buckets: Vec<&Sample> = after
        .iter()
        .filter(|s| {
            s.name == "dream_http_request_duration_seconds_bucket"
                && s.labels.get("operation").map(String::as_str) == Some("getCustomer")
                && s.labels.get("status_class").map(String::as_str) == Some("2xx")
        })
        .collect();
    assert!(buckets.len() > 5, "buckets per series");
    assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value));
    let inf = buckets
        .iter()
        .find(|s| s.labels["le"] == "+Inf")
        .expect("+Inf bucket");
    assert_eq!(
        inf.value,
        value(&after, "dream_http_request_duration_seconds_count", &ok)
    );
    assert!(value(&after, "dream_http_request_duration_seconds_sum", &ok) > 0.0);
    // The webhook counters keep their names and labels.
    for source in ["stripe", "clerk"] {
        assert!(after
            .iter()
            .any(|s| s.name == "dream_webhooks_received_total" && s.labels["source"] == source));
    }
}

#[tokio::test]
async fn store_calls_are_timed_by_port_and_method() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 5).await.secret_key;
    let before = scrape(&server).await;
    for _ in 0..2 {
        assert_eq!(server.track(&sk, "metrics-store-user").await.status, 200);
    }
    let after = scrape(&server).await;
    let delta = |port: &str, method: &str| {
        let labels = [("port", port), ("method", method)];
        value(&after, "dream_store_call_duration_seconds_count", &labels)
            - value(&before, "dream_store_call_duration_seconds_count", &labels)
    };
    // Each track is exactly one consume: the one atomic store decision.
    assert!(delta("usage", "consume_usage") >= 2.0);
    // The customer is created on first sight, then found by reference.
    assert!(delta("customers", "insert_customer_with_event") >= 1.0);
    assert!(
        value(
            &after,
            "dream_store_call_duration_seconds_sum",
            &[("port", "usage"), ("method", "consume_usage")]
        ) > 0.0
    );
}

#[tokio::test]
async fn metrics_need_the_admin_token() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 5).await.secret_key;
    server
        .get("/admin/metrics", &sk)
        .await
        .assert_error(401, "invalid_api_key");
    server
        .send(Method::GET, "/admin/metrics", None, &[], None)
        .await
        .assert_error(401, "invalid_api_key");
    server
        .get("/admin/metrics", &format!("{}x", server.admin_token))
        .await
        .assert_error(401, "invalid_api_key");
}

/// On PostgreSQL the customer cache follows the change feed, and the server
/// reports the feed live once its first heartbeat comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_server_reports_its_customer_feed_live() {
    let server = TestServer::start_postgres().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let all = scrape(&server).await;
        if value(&all, "dream_customer_feed_live", &[("store", "postgres")]) == 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the customer feed never reported itself live"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
