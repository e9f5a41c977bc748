//! Event log retention: old events go, oldest first and in batches; events that a
//! webhook delivery still refers to stay.

use serde_json::json;

use dream_core::{
    ports::Stores, Event, EventFilter, EventKind, PageRequest, SigningSecret, StoredSigningSecret,
    Tenant, WebhookEndpoint, WebhookEndpointId,
};

use super::fixtures::{at, new_tenants};

async fn append(store: &Stores, tenant: &Tenant, secs: i64) -> Event {
    let event = Event::new(
        tenant.clone(),
        EventKind::CustomerCreated,
        None,
        json!({ "at": secs }),
        at(secs),
    );
    store
        .events
        .append_event(&event)
        .await
        .expect("append_event");
    event
}

/// `purge_events` deletes events created before the cut-off, oldest first, at
/// most `limit` per call, never one a delivery refers to, and nothing newer.
pub async fn events_purge_old_unreferenced(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let old_a = append(&store, &test, 0).await;
    let old_b = append(&store, &live, 1).await;
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        tenant: test.clone(),
        url: "https://hooks.example.com/retention".into(),
        description: None,
        filter: EventFilter::All,
        secret: StoredSigningSecret::Plain(SigningSecret::generate()),
        disabled: None,
        failing_since: None,
        created_at: at(2),
        updated_at: at(2),
    };
    store
        .outbound
        .create_webhook_endpoint(&endpoint)
        .await
        .expect("create endpoint");
    let referenced = append(&store, &test, 3).await;
    let recent = append(&store, &test, 100_000).await;
    let cut_off = at(50_000);

    assert_eq!(
        store.events.purge_events(cut_off, 1).await.expect("purge"),
        1,
        "at most `limit` events per call"
    );
    assert_eq!(
        store
            .events
            .purge_events(cut_off, 100)
            .await
            .expect("purge"),
        1,
        "the other old event without deliveries goes next; the referenced one stays"
    );
    assert_eq!(
        store
            .events
            .purge_events(cut_off, 100)
            .await
            .expect("purge"),
        0
    );

    let left = store
        .events
        .list_events(&test, &PageRequest::first(100))
        .await
        .expect("list");
    let ids: Vec<_> = left.data.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        ids,
        vec![recent.id, referenced.id],
        "what stays, newest first"
    );
    for gone in [&old_a, &old_b] {
        for tenant in [&test, &live] {
            let page = store
                .events
                .list_events(tenant, &PageRequest::first(100))
                .await
                .expect("list");
            assert!(
                page.data.iter().all(|e| e.id != gone.id),
                "a purged event must not be listed"
            );
        }
    }
}
