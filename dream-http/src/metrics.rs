//! Process-wide counters for webhooks in and out, rendered in the Prometheus
//! text format at `GET /admin/metrics`. Counters are per process (as with any
//! Prometheus client): scrape every process and sum.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
};

use dream_core::DeliveryPass;

/// One webhook source's deliveries to us.
pub(crate) struct Inbound {
    pub(crate) received: AtomicU64,
    pub(crate) applied: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) ignored: AtomicU64,
    /// Refused (bad signature, unreadable body) or failed (store, in flight).
    pub(crate) failures: AtomicU64,
}

impl Inbound {
    const fn new() -> Self {
        Self {
            received: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }
}

/// Stripe's deliveries to `/webhook/stripe`.
pub(crate) static STRIPE: Inbound = Inbound::new();
/// Clerk's deliveries to `/webhook/clerk`.
pub(crate) static CLERK: Inbound = Inbound::new();

/// Our deliveries to developers' endpoints.
struct Outbound {
    attempts: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    exhausted: AtomicU64,
    endpoints_disabled: AtomicU64,
}

static OUTBOUND: Outbound = Outbound {
    attempts: AtomicU64::new(0),
    succeeded: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    exhausted: AtomicU64::new(0),
    endpoints_disabled: AtomicU64::new(0),
};

/// Counts what a delivery pass did (the server's delivery loop calls this).
pub fn record_delivery_pass(pass: &DeliveryPass) {
    let add = |c: &AtomicU64, n: usize| {
        c.fetch_add(n as u64, Ordering::Relaxed);
    };
    add(&OUTBOUND.attempts, pass.attempted);
    add(&OUTBOUND.succeeded, pass.succeeded);
    add(&OUTBOUND.failed, pass.failed);
    add(&OUTBOUND.exhausted, pass.exhausted);
    add(&OUTBOUND.endpoints_disabled, pass.endpoints_disabled);
}

/// Every counter in the Prometheus text exposition format (version 0.0.4).
pub(crate) fn render() -> String {
    // Relaxed: independent counters, each monotonic; a scrape needs no snapshot.
    let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let inbound = [("stripe", &STRIPE), ("clerk", &CLERK)];
    for (name, help, pick) in [
        (
            "dream_webhooks_received_total",
            "Webhook deliveries received, by source.",
            (|c: &Inbound| &c.received) as fn(&Inbound) -> &AtomicU64,
        ),
        (
            "dream_webhooks_applied_total",
            "Webhook events applied, by source.",
            |c| &c.applied,
        ),
        (
            "dream_webhooks_duplicates_total",
            "Webhook events already processed (acknowledged, nothing changed), by source.",
            |c| &c.duplicates,
        ),
        (
            "dream_webhooks_ignored_total",
            "Webhook events acknowledged without effect (unknown tenant, unhandled type), by source.",
            |c| &c.ignored,
        ),
        (
            "dream_webhooks_failures_total",
            "Webhook deliveries refused (signature, body) or failed (store), by source.",
            |c| &c.failures,
        ),
    ] {
        let samples: Vec<(String, u64)> = inbound
            .iter()
            .map(|(source, c)| (format!("{{source=\"{source}\"}}"), read(pick(c))))
            .collect();
        let samples: Vec<(&str, u64)> = samples.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        family(name, help, &samples);
    }
    family(
        "dream_webhook_delivery_attempts_total",
        "Attempts to deliver events to developers' endpoints.",
        &[("", read(&OUTBOUND.attempts))],
    );
    family(
        "dream_webhook_delivery_succeeded_total",
        "Delivery attempts acknowledged with a 2xx.",
        &[("", read(&OUTBOUND.succeeded))],
    );
    family(
        "dream_webhook_delivery_failed_total",
        "Delivery attempts that failed (a retry may follow).",
        &[("", read(&OUTBOUND.failed))],
    );
    family(
        "dream_webhook_delivery_exhausted_total",
        "Deliveries that ran out of attempts.",
        &[("", read(&OUTBOUND.exhausted))],
    );
    family(
        "dream_webhook_endpoints_disabled_total",
        "Endpoints disabled for failing too long.",
        &[("", read(&OUTBOUND.endpoints_disabled))],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, line_start: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no sample {line_start} in\n{text}"))
    }

    #[test]
    fn renders_counters_in_prometheus_text_format() {
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
        CLERK.received.fetch_add(1, Ordering::Relaxed);
        let after = render();
        assert_eq!(
            sample(&after, "dream_webhook_delivery_attempts_total "),
            attempts + 3
        );
        assert_eq!(
            sample(&after, "dream_webhooks_received_total{source=\"clerk\"} "),
            clerk + 1
        );
        assert!(after.contains("# TYPE dream_webhooks_failures_total counter"));
        for line in after.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap_or_default();
            assert!(name.starts_with("dream_"), "{line}");
            assert!(value.parse::<u64>().is_ok(), "{line}");
        }
    }
}
