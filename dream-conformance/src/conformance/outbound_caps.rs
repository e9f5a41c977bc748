//! Webhook endpoint races: the per-tenant cap is counted and inserted in one
//! decision, and an update writes only over the state it read.

use std::sync::Arc;

use dream_core::{
    ports::Stores, EventFilter, SigningSecret, StoredSigningSecret, Tenant, WebhookEndpoint,
    WebhookEndpointId,
};

use super::fixtures::{at, new_tenants};

fn endpoint(tenant: &Tenant, secs: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        tenant: tenant.clone(),
        url: format!("https://hooks.example.com/{secs}"),
        description: None,
        filter: EventFilter::All,
        secret: StoredSigningSecret::Plain(SigningSecret::generate()),
        disabled: None,
        failing_since: None,
        created_at: at(secs),
        updated_at: at(secs),
    }
}

/// Creates fit up to the cap, then report "full" and store nothing; the cap counts
/// one tenant; 30 concurrent creates for the last slot admit exactly one, in each
/// of 20 races.
pub async fn outbound_endpoint_cap_is_atomic(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    const CAP: usize = 3;
    for i in 0..CAP {
        assert!(store
            .outbound
            .create_webhook_endpoint_capped(&endpoint(&test, i as i64), CAP)
            .await
            .expect("create"));
    }
    assert!(
        !store
            .outbound
            .create_webhook_endpoint_capped(&endpoint(&test, 10), CAP)
            .await
            .expect("create"),
        "a create past the cap reports it"
    );
    assert_eq!(
        store
            .outbound
            .list_webhook_endpoints(&test)
            .await
            .expect("list")
            .len(),
        CAP,
        "a refused create stores nothing"
    );
    assert!(
        store
            .outbound
            .create_webhook_endpoint_capped(&endpoint(&live, 11), CAP)
            .await
            .expect("create"),
        "the cap counts one tenant only"
    );

    let store = Arc::new(store);
    for race in 0..20 {
        let (tenant, _) = new_tenants(&store).await;
        for i in 0..CAP - 1 {
            assert!(store
                .outbound
                .create_webhook_endpoint_capped(&endpoint(&tenant, i as i64), CAP)
                .await
                .expect("fill"));
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(30));
        let racers: Vec<_> = (0..30)
            .map(|i| {
                let (store, barrier) = (store.clone(), barrier.clone());
                let candidate = endpoint(&tenant, 100 + i);
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .outbound
                        .create_webhook_endpoint_capped(&candidate, CAP)
                        .await
                        .expect("capped create")
                })
            })
            .collect();
        let mut winners = 0;
        for racer in racers {
            winners += usize::from(racer.await.expect("racer"));
        }
        assert_eq!(
            winners, 1,
            "race {race}: {winners} creates took the last slot"
        );
    }
}

/// `update_webhook_endpoint_if` writes only over the state it was given: a stale
/// update (after an automatic disable, or another update) changes nothing.
pub async fn outbound_update_if_unchanged(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let created = endpoint(&test, 0);
    store
        .outbound
        .create_webhook_endpoint(&created)
        .await
        .expect("create");
    let read = |store: Stores| {
        let (tenant, id) = (test.clone(), created.id.clone());
        async move {
            store
                .outbound
                .get_webhook_endpoint(&tenant, &id)
                .await
                .expect("get")
                .expect("the endpoint exists")
        }
    };
    let seen = read(store.clone()).await;

    // Meanwhile the delivery side disables it for failing.
    let mut disabled = seen.clone();
    disabled.disabled = Some(dream_core::DisabledReason::Failing);
    disabled.failing_since = Some(at(5));
    store
        .outbound
        .update_webhook_endpoint(&disabled)
        .await
        .expect("disable");

    let mut stale = seen.clone();
    stale.description = Some("renamed".into());
    stale.updated_at = at(20);
    assert!(
        !store
            .outbound
            .update_webhook_endpoint_if(&stale, &seen)
            .await
            .expect("update_if"),
        "an update over a state that changed since must be refused"
    );
    let now = read(store.clone()).await;
    assert_eq!(
        now.disabled,
        Some(dream_core::DisabledReason::Failing),
        "the refused update must not undo the disable"
    );
    assert_eq!(now.description, None);

    let mut fresh = now.clone();
    fresh.description = Some("renamed".into());
    fresh.updated_at = at(30);
    assert!(store
        .outbound
        .update_webhook_endpoint_if(&fresh, &now)
        .await
        .expect("update_if"));
    assert_eq!(
        read(store.clone()).await.description.as_deref(),
        Some("renamed")
    );

    let mut unknown = fresh.clone();
    unknown.id = WebhookEndpointId::generate();
    assert!(matches!(
        store
            .outbound
            .update_webhook_endpoint_if(&unknown, &fresh)
            .await,
        Err(dream_core::StoreError::NotFound)
    ));
}
