//! Identity links: round trip, moving forward by `source_at` only, never moving
//! between tenants, outliving their customer, and concurrent advances.

use std::sync::Arc;

use std::{collections::hash_map::RandomState, hash::BuildHasher};

use chrono::{DateTime, Duration, Utc};

use dream_core::{
    ports::{IdentityLink, Stores},
    CustomerId, Tenant,
};

use super::fixtures::{at, customer, insert_customer, new_tenants, t0};

fn link(
    subject: &str,
    tenant: &Tenant,
    customer: Option<&CustomerId>,
    source_at: DateTime<Utc>,
) -> IdentityLink {
    IdentityLink {
        provider: "clerk".into(),
        subject: subject.to_owned(),
        tenant: Some(tenant.clone()),
        customer: customer.cloned(),
        source_at,
    }
}

/// A subject no other test (or earlier run on a shared database) uses.
fn fresh_subject(what: &str) -> String {
    format!("user_{what}_{}", CustomerId::generate().as_str())
}

async fn advance(store: &Stores, link: &IdentityLink) -> bool {
    store
        .identity
        .advance_identity_link(link)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "advance_identity_link({}, {:?}, {:?}, {}) failed: {e:?}",
                link.subject, link.tenant, link.customer, link.source_at
            )
        })
}

async fn get(store: &Stores, provider: &str, subject: &str) -> Option<IdentityLink> {
    store
        .identity
        .get_identity_link(provider, subject)
        .await
        .unwrap_or_else(|e| panic!("get_identity_link({provider}, {subject}) failed: {e:?}"))
}

/// An unknown subject has no link; an advance inserts one that reads back
/// exactly (microsecond `source_at`, a customer or a tombstone); providers are
/// separate namespaces.
pub async fn identity_links_round_trip(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let subject = fresh_subject("round✓");
    assert_eq!(
        get(store, "clerk", &subject).await,
        None,
        "an unknown subject must have no link"
    );
    let ada = CustomerId::generate();
    // Microseconds: a backend that keeps milliseconds or seconds fails.
    let first = link(
        &subject,
        &test,
        Some(&ada),
        at(10) + Duration::microseconds(123_457),
    );
    assert!(
        advance(store, &first).await,
        "the first advance of a subject must insert its link"
    );
    assert_eq!(
        get(store, "clerk", &subject).await,
        Some(first.clone()),
        "a stored link must read back exactly (tenant, customer, source_at to the microsecond)"
    );
    assert_eq!(
        get(store, "auth0", &subject).await,
        None,
        "a link of one provider must not answer for another provider"
    );
    let other_provider = IdentityLink {
        provider: "auth0".into(),
        ..link(&subject, &live, None, at(1))
    };
    assert!(
        advance(store, &other_provider).await,
        "the same subject at another provider is another link"
    );
    assert_eq!(
        get(store, "auth0", &subject).await,
        Some(other_provider),
        "a tombstone (no customer) must read back as one"
    );
    assert_eq!(
        get(store, "clerk", &subject).await,
        Some(first),
        "another provider's link must not change this one"
    );
}

/// Links only move forward: a newer or equal `source_at` replaces the customer
/// and time, an older one is refused and changes nothing, also after a tombstone.
pub async fn identity_links_move_forward_only(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let subject = fresh_subject("order");
    let ada = CustomerId::generate();
    let bob = CustomerId::generate();
    assert!(advance(store, &link(&subject, &test, Some(&ada), at(10))).await);

    let newer = link(&subject, &test, Some(&bob), at(20));
    assert!(
        advance(store, &newer).await,
        "a newer source_at must replace the link"
    );
    assert_eq!(get(store, "clerk", &subject).await, Some(newer.clone()));

    let older = link(&subject, &test, Some(&ada), at(15));
    assert!(
        !advance(store, &older).await,
        "an older source_at must be refused (false)"
    );
    assert_eq!(
        get(store, "clerk", &subject).await,
        Some(newer),
        "a refused advance must change nothing"
    );

    let same_time = link(&subject, &test, Some(&ada), at(20));
    assert!(
        advance(store, &same_time).await,
        "an equal source_at must apply (a redelivered event is harmless)"
    );
    assert_eq!(get(store, "clerk", &subject).await, Some(same_time));

    let tombstone = link(&subject, &test, None, at(30));
    assert!(
        advance(store, &tombstone).await,
        "a newer tombstone must apply"
    );
    assert!(
        !advance(store, &link(&subject, &test, Some(&bob), at(25))).await,
        "an update older than the tombstone must be refused"
    );
    assert_eq!(
        get(store, "clerk", &subject).await,
        Some(tombstone),
        "the tombstone must survive an older update"
    );
    let one_micro_older = link(
        &subject,
        &test,
        Some(&bob),
        at(30) - Duration::microseconds(1),
    );
    assert!(
        !advance(store, &one_micro_older).await,
        "one microsecond older is older: times must be compared at full precision"
    );
}

/// A tombstone without a tenant (a delete before any event naming the user's
/// tenant) reads back without one; an older link naming a tenant is refused by
/// it; a newer or equal one claims it, tenant included, and is then bound to that
/// tenant. A tenant-less tombstone never replaces a link that has a tenant.
pub async fn identity_links_tombstone_without_tenant(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let subject = fresh_subject("early_delete");
    let tombstone = IdentityLink {
        tenant: None,
        ..link(&subject, &test, None, at(20))
    };
    assert!(
        advance(store, &tombstone).await,
        "a tenant-less tombstone of an unknown subject must be stored"
    );
    assert_eq!(
        get(store, "clerk", &subject).await,
        Some(tombstone.clone()),
        "a tenant-less tombstone must read back without a tenant"
    );
    let ada = CustomerId::generate();
    assert!(
        !advance(store, &link(&subject, &test, Some(&ada), at(10))).await,
        "an older create naming a tenant must be refused by the tombstone"
    );
    assert_eq!(
        get(store, "clerk", &subject).await,
        Some(tombstone.clone()),
        "the refused create must leave the tombstone as it was"
    );
    let newer_tombstone = IdentityLink {
        source_at: at(25),
        ..tombstone.clone()
    };
    assert!(
        advance(store, &newer_tombstone).await,
        "a newer tenant-less tombstone must replace an older one"
    );
    let claim = link(&subject, &live, Some(&ada), at(25));
    assert!(
        advance(store, &claim).await,
        "an equal-time link naming a tenant must claim a tenant-less tombstone"
    );
    assert_eq!(get(store, "clerk", &subject).await, Some(claim.clone()));
    assert!(
        !advance(store, &link(&subject, &test, None, at(90))).await,
        "once claimed, the link must stay in the claiming tenant"
    );
    assert!(
        !advance(
            store,
            &IdentityLink {
                source_at: at(100),
                ..tombstone
            }
        )
        .await,
        "a tenant-less tombstone must never replace a link with a tenant"
    );
    assert_eq!(get(store, "clerk", &subject).await, Some(claim));
}

/// A link never moves to another tenant, whatever its time; and it outlives the
/// customer it names.
pub async fn identity_links_stay_in_their_tenant(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (elsewhere, _) = new_tenants(store).await;
    let subject = fresh_subject("tenant");
    let ada = customer(&test, Some(&subject), t0());
    insert_customer(store, &ada, "ada").await;
    let original = link(&subject, &test, Some(&ada.id), at(10));
    assert!(advance(store, &original).await);
    for (other, what) in [
        (&live, "the same platform's other mode"),
        (&elsewhere, "another platform"),
    ] {
        assert!(
            !advance(store, &link(&subject, other, None, at(1_000))).await,
            "a newer advance naming {what} must be refused"
        );
        assert_eq!(
            get(store, "clerk", &subject).await,
            Some(original.clone()),
            "a link must never move to {what}"
        );
    }
    assert!(
        store
            .customers
            .delete_customer(&test, &ada.id)
            .await
            .unwrap_or_else(|e| panic!("delete_customer failed: {e:?}")),
        "delete_customer of an existing customer must say true"
    );
    assert_eq!(
        get(store, "clerk", &subject).await,
        Some(original),
        "deleting the customer must not delete or change its link (no cascade)"
    );
}

/// 4 rounds of 16 tasks (`tokio::spawn`) advance one subject at once, each with
/// a random `source_at` (microsecond resolution) and its own customer. Afterwards
/// the stored link is one with the newest time, and every task holding that time
/// was told `true`: a backend that reads, decides and writes in separate steps
/// lets an older advance land last.
pub async fn identity_links_concurrent_advances(store: Stores) {
    const TASKS: usize = 16;
    let (test, _) = new_tenants(&store).await;
    for round in 0..4 {
        let subject = fresh_subject(&format!("race{round}"));
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                // A random instant per task: std's hasher seeds are random per instance.
                let random = RandomState::new().hash_one(0u8);
                let offset = (random % 1_000_000_000) as i64;
                let link = link(
                    &subject,
                    &test,
                    Some(&CustomerId::generate()),
                    t0() + Duration::microseconds(offset),
                );
                let store = store.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let got = store.identity.advance_identity_link(&link).await;
                    (link, got)
                })
            })
            .collect();
        let mut results = Vec::new();
        for handle in handles {
            let (link, got) = handle.await.expect("an advancing task panicked");
            let applied = got.unwrap_or_else(|e| {
                panic!(
                    "round {round}: advance_identity_link must not fail under concurrency: {e:?}"
                )
            });
            results.push((link, applied));
        }
        let newest = results
            .iter()
            .map(|(l, _)| l.source_at)
            .max()
            .expect("at least one task");
        let stored = get(&store, "clerk", &subject)
            .await
            .unwrap_or_else(|| panic!("round {round}: the link must exist after the advances"));
        assert_eq!(
            stored.source_at, newest,
            "round {round}: after concurrent advances the stored link must be the newest"
        );
        assert!(
            results
                .iter()
                .any(|(l, _)| l.source_at == newest && l.customer == stored.customer),
            "round {round}: the stored customer must be that of a newest advance"
        );
        for (l, applied) in &results {
            if l.source_at == newest {
                assert!(
                    applied,
                    "round {round}: an advance with the newest time can never be refused"
                );
            }
        }
    }
}
