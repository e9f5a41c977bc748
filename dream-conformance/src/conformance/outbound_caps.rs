//! The per-tenant cap on webhook endpoints: counted and inserted in one decision,
//! so concurrent creates racing for the last slot admit exactly one.

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
