//! One delivery pass at a time, on a manual clock: what `Dream::deliver_due_webhooks`
//! signs and sends, when it retries, when it gives up, replay and retention.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use dream_core::{
    ports::{EventStore, OutboundRequest, OutboundSender, SendResult},
    verify_signed, Clock, DeliveryPolicy, DeliveryState, Dream, EndpointPolicy, Event, EventKind,
    ManualClock, MasterKey, Mode, NewEndpoint, PageRequest, PlatformId, SignedHeaders, Tenant,
};

/// Answers with the scripted statuses (then 200) and keeps every request.
#[derive(Default)]
struct Scripted {
    statuses: Mutex<Vec<u16>>,
    sent: Mutex<Vec<OutboundRequest>>,
}

#[async_trait]
impl OutboundSender for Scripted {
    async fn send(&self, request: OutboundRequest) -> SendResult {
        self.sent.lock().expect("sent").push(request);
        let mut statuses = self.statuses.lock().expect("statuses");
        let status = if statuses.is_empty() {
            200
        } else {
            statuses.remove(0)
        };
        SendResult {
            status: Some(status),
            error: None,
            latency: std::time::Duration::from_millis(3),
        }
    }
}

fn header<'a>(request: &'a OutboundRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_pass_signs_sends_retries_on_schedule_and_the_log_is_purged() {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .expect("time");
    let clock = Arc::new(ManualClock::new(start));
    let store = Arc::new(dream_store::MemoryStore::new());
    // With a master key: the secret is sealed at rest and opened to sign.
    let dream = Dream::with_clock(store.clone(), clock.clone())
        .with_endpoint_policy(EndpointPolicy {
            allow_private: true,
        })
        .with_master_key(MasterKey::generate());
    let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
    let endpoint = dream
        .create_webhook_endpoint(
            &tenant,
            NewEndpoint {
                url: "http://127.0.0.1:9/hook".into(),
                ..NewEndpoint::default()
            },
        )
        .await
        .expect("endpoint");
    let event = Event::new(
        tenant.clone(),
        EventKind::PlanChanged,
        None,
        serde_json::json!({"from": "free", "to": "pro"}),
        start,
    );
    store.append_event(&event).await.expect("append");
    let policy = DeliveryPolicy {
        retry_delays: vec![Duration::seconds(5), Duration::seconds(60)],
        jitter_percent: 0,
        ..DeliveryPolicy::default()
    };
    let sender = Scripted {
        statuses: Mutex::new(vec![500, 503, 502]),
        ..Scripted::default()
    };
    let pass = || dream.deliver_due_webhooks(&sender, &policy);

    let p = pass().await.expect("pass");
    assert_eq!((p.attempted, p.failed), (1, 1));
    // Not due again before its retry time.
    clock.advance(Duration::seconds(4));
    assert_eq!(pass().await.expect("pass").attempted, 0);
    clock.advance(Duration::seconds(1));
    assert_eq!(pass().await.expect("pass").attempted, 1);
    clock.advance(Duration::seconds(60));
    let p = pass().await.expect("pass");
    assert_eq!(
        (p.attempted, p.exhausted),
        (1, 1),
        "3 attempts, then failed"
    );
    clock.advance(Duration::days(2));
    assert_eq!(
        pass().await.expect("pass").attempted,
        0,
        "failed stays failed"
    );

    let sent = sender.sent.lock().expect("sent").clone();
    assert_eq!(sent.len(), 3);
    for request in &sent {
        let headers = SignedHeaders {
            id: header(request, "webhook-id"),
            timestamp: header(request, "webhook-timestamp"),
            signature: header(request, "webhook-signature"),
        };
        assert_eq!(headers.id, Some(event.id.as_str()), "one message id");
        verify_signed(
            std::slice::from_ref(&dream.reveal_endpoint_secret(&endpoint).expect("opens")),
            headers,
            &request.body,
            clock.now(),
            Duration::days(3),
        )
        .expect("signed with the endpoint's secret");
    }
    let page = dream
        .webhook_deliveries(&tenant, endpoint.id.as_str(), &PageRequest::first(10))
        .await
        .expect("deliveries");
    let delivery = &page.data[0];
    assert_eq!(delivery.state, DeliveryState::Failed);
    let (_, attempts) = dream
        .webhook_delivery(&tenant, delivery.id.as_str())
        .await
        .expect("delivery");
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(503), Some(502)]);

    // Replay: the next pass sends it again, and succeeds.
    dream
        .retry_webhook_delivery(&tenant, delivery.id.as_str())
        .await
        .expect("retry");
    let p = pass().await.expect("pass");
    assert_eq!((p.attempted, p.succeeded), (1, 1));

    // Retention: kept 30 days after it finished, then purged.
    clock.advance(Duration::days(30) - Duration::seconds(1));
    assert_eq!(dream.purge_webhook_log(&policy).await.expect("purge"), 0);
    clock.advance(Duration::seconds(2));
    assert_eq!(dream.purge_webhook_log(&policy).await.expect("purge"), 1);
}
