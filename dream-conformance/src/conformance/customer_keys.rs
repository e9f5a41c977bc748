//! Customer keys (`ck_…`): lookup by digest, tenant scoping, listing, revocation,
//! expiry that never extends, uniqueness.

use dream_core::{
    ports::Stores, CustomerId, CustomerKeyId, CustomerKeyRecord, IssuedCustomerKey, KeyDigest,
    StoreError, Tenant,
};

use super::fixtures::{at, new_tenants, t0};

fn customer_key(
    tenant: &Tenant,
    customer: &CustomerId,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> CustomerKeyRecord {
    IssuedCustomerKey::generate(
        tenant.clone(),
        customer.clone(),
        Some("ci".into()),
        expires_at,
        created_at,
    )
    .record
}

async fn insert(store: &Stores, key: &CustomerKeyRecord, what: &str) {
    store
        .customer_keys
        .insert_customer_key(key)
        .await
        .unwrap_or_else(|e| panic!("insert_customer_key ({what}) must succeed, got {e:?}"));
}

async fn get(store: &Stores, tenant: &Tenant, id: &CustomerKeyId) -> Option<CustomerKeyRecord> {
    store
        .customer_keys
        .get_customer_key(tenant, id)
        .await
        .expect("get_customer_key")
}

/// A stored key (its meter and rate included) is found unchanged by digest (in any
/// tenant) and by id in its tenant; the other mode, another platform, unknown digests and ids give `None`.
pub async fn customer_keys_insert_and_find(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let customer = CustomerId::generate();
    let mut record = customer_key(&test, &customer, t0(), Some(at(86_400)));
    record.meter = Some("exports".into());
    record.rate_per_minute = Some(120);
    let mut unnamed = customer_key(&test, &customer, at(1), None);
    unnamed.name = None;
    insert(&store, &record, "named, expiring").await;
    insert(&store, &unnamed, "unnamed").await;
    for k in [&record, &unnamed] {
        assert_eq!(
            store
                .customer_keys
                .find_customer_key_by_digest(&k.digest)
                .await
                .expect("find_customer_key_by_digest"),
            Some(k.clone()),
            "find_customer_key_by_digest must return the stored record unchanged"
        );
        assert_eq!(
            get(&store, &test, &k.id).await,
            Some(k.clone()),
            "get_customer_key must return the stored record unchanged"
        );
        assert_eq!(
            get(&store, &live, &k.id).await,
            None,
            "the other mode must not see the key"
        );
        assert_eq!(
            get(&store, &other, &k.id).await,
            None,
            "another platform must not see the key"
        );
    }
    assert_eq!(
        store
            .customer_keys
            .find_customer_key_by_digest(&KeyDigest::of("ck_test_unknown"))
            .await
            .expect("find_customer_key_by_digest"),
        None,
        "an unknown digest must give None"
    );
    assert_eq!(
        get(&store, &test, &CustomerKeyId::generate()).await,
        None,
        "an unknown id must give None"
    );
}

/// A customer's keys are listed oldest first (ties by id), revoked and expired
/// ones included; other customers', the other mode's and other platforms' keys
/// never appear.
pub async fn customer_keys_list_per_customer(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let ada = CustomerId::generate();
    let bob = CustomerId::generate();
    let newest = customer_key(&test, &ada, at(20), None);
    let oldest = customer_key(&test, &ada, at(0), Some(at(5)));
    let mut tie_a = customer_key(&test, &ada, at(10), None);
    let mut tie_b = customer_key(&test, &ada, at(10), None);
    if tie_b.id < tie_a.id {
        std::mem::swap(&mut tie_a, &mut tie_b);
    }
    for (k, what) in [
        (&newest, "newest"),
        (&tie_b, "tie b"),
        (&oldest, "oldest"),
        (&tie_a, "tie a"),
    ] {
        insert(&store, k, what).await;
    }
    insert(&store, &customer_key(&test, &bob, at(1), None), "bob's").await;
    insert(&store, &customer_key(&live, &ada, at(1), None), "live").await;
    insert(&store, &customer_key(&other, &ada, at(1), None), "other").await;
    store
        .customer_keys
        .revoke_customer_key(&test, &newest.id, at(30))
        .await
        .expect("revoke_customer_key");
    let listed = store
        .customer_keys
        .list_customer_keys(&test, &ada)
        .await
        .expect("list_customer_keys");
    let ids: Vec<&CustomerKeyId> = listed.iter().map(|k| &k.id).collect();
    assert_eq!(
        ids,
        vec![&oldest.id, &tie_a.id, &tie_b.id, &newest.id],
        "list_customer_keys must list the customer's keys oldest first, ties by id"
    );
    assert_eq!(
        listed[3].revoked_at,
        Some(at(30)),
        "a revoked key must still be listed, with its revocation time"
    );
    assert!(
        store
            .customer_keys
            .list_customer_keys(&test, &CustomerId::generate())
            .await
            .expect("list_customer_keys")
            .is_empty(),
        "a customer without keys lists none"
    );
}

/// Revocation keeps the first time, is seen by the digest lookup, and is scoped
/// to the tenant: revoking through another tenant changes nothing and gives `None`.
pub async fn customer_keys_revoke_scoped_and_keeps_first_time(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let record = customer_key(&test, &CustomerId::generate(), t0(), None);
    insert(&store, &record, "to revoke").await;
    assert_eq!(
        store
            .customer_keys
            .revoke_customer_key(&live, &record.id, at(5))
            .await
            .expect("revoke_customer_key"),
        None,
        "revoking through the other mode must find nothing"
    );
    assert_eq!(
        get(&store, &test, &record.id)
            .await
            .and_then(|k| k.revoked_at),
        None,
        "revoking through another tenant must change nothing"
    );
    let first = store
        .customer_keys
        .revoke_customer_key(&test, &record.id, at(10))
        .await
        .expect("revoke_customer_key")
        .expect("an existing key must be returned");
    assert_eq!(first.revoked_at, Some(at(10)));
    let again = store
        .customer_keys
        .revoke_customer_key(&test, &record.id, at(20))
        .await
        .expect("revoke_customer_key")
        .expect("an existing key must be returned");
    assert_eq!(
        again.revoked_at,
        Some(at(10)),
        "revoking twice must keep the first time"
    );
    let found = store
        .customer_keys
        .find_customer_key_by_digest(&record.digest)
        .await
        .expect("find_customer_key_by_digest")
        .expect("a revoked key is still found by digest");
    assert_eq!(
        found.revoked_at,
        Some(at(10)),
        "the digest lookup must see the revocation"
    );
    assert_eq!(
        store
            .customer_keys
            .revoke_customer_key(&test, &CustomerKeyId::generate(), at(10))
            .await
            .expect("revoke_customer_key"),
        None,
        "revoking an unknown key gives None"
    );
}

/// Expiry only ever moves earlier (a roll never extends a key's life), is seen by
/// the digest lookup and is scoped to the tenant.
pub async fn customer_keys_expire_keeps_earlier(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let open = customer_key(&test, &CustomerId::generate(), t0(), None);
    let soon = customer_key(&test, &CustomerId::generate(), t0(), Some(at(60)));
    insert(&store, &open, "without expiry").await;
    insert(&store, &soon, "expiring soon").await;
    assert_eq!(
        store
            .customer_keys
            .expire_customer_key(&live, &open.id, at(5))
            .await
            .expect("expire_customer_key"),
        None,
        "expiring through the other mode must find nothing"
    );
    let expired = store
        .customer_keys
        .expire_customer_key(&test, &open.id, at(600))
        .await
        .expect("expire_customer_key")
        .expect("an existing key must be returned");
    assert_eq!(expired.expires_at, Some(at(600)), "no expiry → the new one");
    let kept = store
        .customer_keys
        .expire_customer_key(&test, &soon.id, at(600))
        .await
        .expect("expire_customer_key")
        .expect("an existing key must be returned");
    assert_eq!(
        kept.expires_at,
        Some(at(60)),
        "a later expiry must never extend an earlier one"
    );
    let earlier = store
        .customer_keys
        .expire_customer_key(&test, &open.id, at(30))
        .await
        .expect("expire_customer_key")
        .expect("an existing key must be returned");
    assert_eq!(earlier.expires_at, Some(at(30)), "an earlier expiry wins");
    let found = store
        .customer_keys
        .find_customer_key_by_digest(&open.digest)
        .await
        .expect("find_customer_key_by_digest")
        .expect("found");
    assert_eq!(
        found.expires_at,
        Some(at(30)),
        "the digest lookup must see the new expiry"
    );
}

/// Concurrent expiries of one key (concurrent rolls): the earliest wins.
pub async fn customer_keys_expire_concurrent_earliest_wins(store: Stores) {
    const TASKS: i64 = 16;
    let (test, _) = new_tenants(&store).await;
    let record = customer_key(&test, &CustomerId::generate(), t0(), None);
    insert(&store, &record, "to expire concurrently").await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(TASKS as usize));
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let id = record.id.clone();
            let tenant = test.clone();
            let when = at(600 + (i * 7) % TASKS * 10);
            tokio::spawn(async move {
                barrier.wait().await;
                (
                    when,
                    store
                        .customer_keys
                        .expire_customer_key(&tenant, &id, when)
                        .await,
                )
            })
        })
        .collect();
    for handle in handles {
        let (when, got) = handle.await.expect("an expiring task panicked");
        let got = got
            .unwrap_or_else(|e| panic!("expire_customer_key must not fail: {e:?}"))
            .expect("an existing key must be returned");
        assert!(
            got.expires_at.is_some_and(|e| e <= when),
            "a returned expiry must be no later than the caller's"
        );
    }
    assert_eq!(
        get(&store, &test, &record.id)
            .await
            .and_then(|k| k.expires_at),
        Some(at(600)),
        "the earliest of the concurrent expiries must win"
    );
}

/// A second key with an existing id or digest is a `Conflict` and changes nothing.
pub async fn customer_keys_duplicates_conflict(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let record = customer_key(&test, &CustomerId::generate(), t0(), None);
    insert(&store, &record, "original").await;
    let mut same_id = customer_key(&test, &CustomerId::generate(), at(1), None);
    same_id.id = record.id.clone();
    let mut same_digest = customer_key(&test, &CustomerId::generate(), at(1), None);
    same_digest.digest = record.digest;
    for (dup, what) in [(&same_id, "same id"), (&same_digest, "same digest")] {
        match store.customer_keys.insert_customer_key(dup).await {
            Err(StoreError::Conflict(_)) => {}
            other => panic!("inserting a key with the {what} must be a Conflict, got {other:?}"),
        }
    }
    assert_eq!(
        get(&store, &test, &record.id).await,
        Some(record.clone()),
        "a refused duplicate must change nothing"
    );
    assert_eq!(
        store
            .customer_keys
            .find_customer_key_by_digest(&record.digest)
            .await
            .expect("find_customer_key_by_digest"),
        Some(record),
        "the digest must still name the original"
    );
}
