//! Idempotency keys: claim, complete, replay, release, expiry, scoping.

use chrono::{DateTime, Duration, Utc};

use dream_core::{
    ports::Stores, ClaimToken, IdempotencyClaim, IdempotencyScope, IdempotencyTimes, StoreError,
    StoredResponse, Tenant,
};

use super::fixtures::{new_tenants, t0};

const FP_A: [u8; 32] = [0xaa; 32];
const FP_B: [u8; 32] = [0xbb; 32];

fn scope(tenant: &Tenant, endpoint: &str, key: &str) -> IdempotencyScope {
    IdempotencyScope {
        tenant: tenant.clone(),
        endpoint: endpoint.into(),
        key: key.into(),
    }
}

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ratelimit-remaining".into(), "41".into()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

async fn claim(
    store: &Stores,
    scope: &IdempotencyScope,
    fingerprint: &[u8; 32],
    now: DateTime<Utc>,
) -> IdempotencyClaim {
    store
        .idempotency
        .claim_idempotency_key(scope, fingerprint, &IdempotencyTimes::standard(now))
        .await
        .unwrap_or_else(|e| panic!("claim_idempotency_key({scope:?}) failed: {e:?}"))
}

/// Claims and expects `Claimed`; returns the claim's token.
async fn claimed(
    store: &Stores,
    scope: &IdempotencyScope,
    fingerprint: &[u8; 32],
    now: DateTime<Utc>,
    what: &str,
) -> ClaimToken {
    match claim(store, scope, fingerprint, now).await {
        IdempotencyClaim::Claimed(token) => token,
        other => panic!("{what}: expected Claimed, got {other:?}"),
    }
}

async fn complete(
    store: &Stores,
    scope: &IdempotencyScope,
    token: &ClaimToken,
    response: &StoredResponse,
) {
    store
        .idempotency
        .complete_idempotency_key(scope, token, response)
        .await
        .unwrap_or_else(|e| panic!("complete_idempotency_key({scope:?}) failed: {e:?}"));
}

async fn release(store: &Stores, scope: &IdempotencyScope, token: &ClaimToken) {
    store
        .idempotency
        .release_idempotency_key(scope, token)
        .await
        .unwrap_or_else(|e| panic!("release_idempotency_key({scope:?}) failed: {e:?}"));
}

/// First claim is `Claimed`; the same fingerprint while running is `InFlight`, a
/// different one `Mismatch`; once completed, the same fingerprint gets
/// `Completed` with the identical response (a different one still `Mismatch`).
pub async fn idempotency_claim_and_replay(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let s = scope(&test, "POST /api/data", "retry-1");
    let now = t0();
    let token = claimed(store, &s, &FP_A, now, "first claim").await;
    assert_eq!(
        claim(store, &s, &FP_A, now).await,
        IdempotencyClaim::InFlight,
        "the same request while the first runs must be InFlight"
    );
    assert_eq!(
        claim(store, &s, &FP_B, now).await,
        IdempotencyClaim::Mismatch,
        "a different request with the same key must be Mismatch"
    );
    let resp = response(r#"{"used":1,"secret":"sk_test_…"}"#);
    complete(store, &s, &token, &resp).await;
    assert_eq!(
        claim(store, &s, &FP_A, now + Duration::seconds(1)).await,
        IdempotencyClaim::Completed(resp.clone()),
        "a completed key must replay the identical response"
    );
    assert_eq!(
        claim(store, &s, &FP_A, now + Duration::hours(23)).await,
        IdempotencyClaim::Completed(resp.clone()),
        "a completed response is kept within retention"
    );
    assert_eq!(
        claim(store, &s, &FP_B, now + Duration::seconds(2)).await,
        IdempotencyClaim::Mismatch,
        "a different request against a completed key must be Mismatch"
    );
    let binary = StoredResponse {
        status: 200,
        headers: vec![],
        body: vec![0, 159, 146, 150, 255],
    };
    let s2 = scope(&test, "POST /api/data", "retry-2");
    let token = claimed(store, &s2, &FP_A, now, "claim").await;
    complete(store, &s2, &token, &binary).await;
    assert_eq!(
        claim(store, &s2, &FP_A, now).await,
        IdempotencyClaim::Completed(binary),
        "a response with a non-UTF-8 body and no headers must replay byte for byte"
    );
}

/// Releasing an in-flight claim makes the key claimable again (by any request);
/// releasing never deletes a completed entry; releasing an unknown key is fine.
pub async fn idempotency_release(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let s = scope(&test, "POST /api/data", "release-me");
    let now = t0();
    let token = claimed(store, &s, &FP_A, now, "claim").await;
    release(store, &s, &token).await;
    let token = claimed(
        store,
        &s,
        &FP_B,
        now,
        "a released key must be claimable again, even by another request",
    )
    .await;
    let resp = response(r#"{"ok":true}"#);
    complete(store, &s, &token, &resp).await;
    release(store, &s, &token).await;
    assert_eq!(
        claim(store, &s, &FP_B, now).await,
        IdempotencyClaim::Completed(resp),
        "release must never delete a completed entry"
    );
    release(
        store,
        &scope(&test, "POST /api/data", "never-claimed"),
        &token,
    )
    .await;
}

/// A claim neither completed nor released within the lock timeout may be claimed
/// again; a completed entry older than the retention may be claimed again.
pub async fn idempotency_expiry(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let times = IdempotencyTimes::standard(t0());
    let stale = scope(&test, "POST /api/data", "crashed");
    let _crashed = claimed(store, &stale, &FP_A, t0(), "claim").await;
    assert_eq!(
        claim(
            store,
            &stale,
            &FP_A,
            t0() + times.lock_timeout - Duration::seconds(1)
        )
        .await,
        IdempotencyClaim::InFlight,
        "a claim younger than the lock timeout is still in flight"
    );
    let retry_at = t0() + times.lock_timeout + Duration::seconds(1);
    let token = claimed(
        store,
        &stale,
        &FP_B,
        retry_at,
        "a claim older than the lock timeout must be claimable again",
    )
    .await;
    assert_eq!(
        claim(store, &stale, &FP_B, retry_at).await,
        IdempotencyClaim::InFlight,
        "the new claim is in flight"
    );
    let resp = response("stale-then-done");
    complete(store, &stale, &token, &resp).await;
    assert_eq!(
        claim(store, &stale, &FP_B, retry_at + Duration::seconds(1)).await,
        IdempotencyClaim::Completed(resp),
        "the re-claimed key completes normally"
    );

    let done = scope(&test, "POST /api/data", "done");
    let token = claimed(store, &done, &FP_A, t0(), "claim").await;
    complete(store, &done, &token, &response("done")).await;
    assert_eq!(
        claim(
            store,
            &done,
            &FP_A,
            t0() + times.lock_timeout + Duration::minutes(1)
        )
        .await,
        IdempotencyClaim::Completed(response("done")),
        "a completed entry does not expire with the lock timeout"
    );
    let expired_at = t0() + times.retention + Duration::minutes(1);
    let _retaken = claimed(
        store,
        &done,
        &FP_B,
        expired_at,
        "a completed entry older than the retention must be claimable again",
    )
    .await;
    assert_eq!(
        claim(store, &done, &FP_A, expired_at).await,
        IdempotencyClaim::Mismatch,
        "the new claim replaces the expired entry, fingerprint included"
    );
}

/// The same key under another tenant (other mode or platform) or another endpoint
/// is independent: claiming or completing one never affects the other.
pub async fn idempotency_scopes_independent(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (other, _) = new_tenants(store).await;
    let now = t0();
    let base = scope(&test, "POST /api/data", "shared-key");
    let scopes = [
        (scope(&live, "POST /api/data", "shared-key"), "other mode"),
        (
            scope(&other, "POST /api/data", "shared-key"),
            "other platform",
        ),
        (
            scope(&test, "POST /customers", "shared-key"),
            "other endpoint",
        ),
    ];
    let token = claimed(store, &base, &FP_A, now, "claim").await;
    let resp = response("tenant A's response, possibly with a shown-once secret");
    complete(store, &base, &token, &resp).await;
    let mut tokens = Vec::new();
    for (s, what) in &scopes {
        let claimed = claim(store, s, &FP_A, now).await;
        let IdempotencyClaim::Claimed(token) = claimed else {
            panic!("the same key in another scope ({what}) must be independent: {claimed:?}");
        };
        tokens.push(token);
    }
    for (s, what) in &scopes {
        assert_eq!(
            claim(store, s, &FP_A, now).await,
            IdempotencyClaim::InFlight,
            "another scope ({what}) must never be served a completed response of a \
             different scope"
        );
    }
    release(store, &scopes[0].0, &tokens[0]).await;
    assert_eq!(
        claim(store, &base, &FP_A, now).await,
        IdempotencyClaim::Completed(resp),
        "releasing the key in another scope must leave this one alone"
    );
    assert_eq!(
        claim(store, &scopes[1].0, &FP_A, now).await,
        IdempotencyClaim::InFlight,
        "releasing one scope must leave the others in flight"
    );
}

/// A claimant whose lock expired and whose key was taken over cannot complete or
/// release the new claimant's claim: both are conditional on the claim token, and
/// a stale complete reports `NotFound`.
pub async fn idempotency_stale_claimant_changes_nothing(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let times = IdempotencyTimes::standard(t0());
    let s = scope(&test, "POST /admin/platforms/keys", "slow");
    let stale = claimed(store, &s, &FP_A, t0(), "first claim").await;
    let takeover = t0() + times.lock_timeout + Duration::seconds(1);
    let current = claimed(store, &s, &FP_A, takeover, "takeover after the lock").await;
    assert_ne!(stale, current, "each claim has its own token");

    // The first (stale) claimant finishes late: neither outcome touches the new claim.
    let late = store
        .idempotency
        .complete_idempotency_key(&s, &stale, &response("stale"))
        .await;
    assert!(
        matches!(late, Err(StoreError::NotFound)),
        "a stale complete must report NotFound: {late:?}"
    );
    release(store, &s, &stale).await;
    assert_eq!(
        claim(store, &s, &FP_A, takeover).await,
        IdempotencyClaim::InFlight,
        "a stale claimant's complete or release must leave the new claim in flight"
    );

    // The current claimant completes; a stale release afterwards changes nothing either.
    complete(store, &s, &current, &response("current")).await;
    release(store, &s, &stale).await;
    release(store, &s, &current).await;
    assert_eq!(
        claim(store, &s, &FP_A, takeover).await,
        IdempotencyClaim::Completed(response("current")),
        "the current claimant's response is the one kept"
    );
    let again = store
        .idempotency
        .complete_idempotency_key(&s, &current, &response("twice"))
        .await;
    assert!(
        matches!(again, Err(StoreError::NotFound)),
        "a completed claim cannot be completed again: {again:?}"
    );
}

/// Purging deletes exactly the entries past their own retention (24 h for API
/// requests, longer for webhook event ids), completed or still claimed, and
/// leaves the rest answering as before.
pub async fn idempotency_purge_after_retention(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let day = IdempotencyTimes::standard(t0());
    let month = IdempotencyTimes {
        retention: Duration::days(30),
        ..day
    };
    let request = scope(&test, "POST /api/data", "purge-done");
    let crashed = scope(&test, "POST /api/data", "purge-crashed");
    let event = scope(&test, "webhook stripe", "evt_purge");
    let token = claimed(store, &request, &FP_A, t0(), "request").await;
    complete(store, &request, &token, &response("request")).await;
    let _crashed = claimed(store, &crashed, &FP_A, t0(), "crashed request").await;
    let claim_event = store
        .idempotency
        .claim_idempotency_key(&event, &FP_A, &month)
        .await
        .expect("claim event");
    let IdempotencyClaim::Claimed(event_token) = claim_event else {
        panic!("event claim: {claim_event:?}");
    };
    complete(store, &event, &event_token, &response("event")).await;

    let purge = |now| async move {
        store
            .idempotency
            .purge_idempotency_keys(now)
            .await
            .expect("purge")
    };
    assert_eq!(
        purge(t0() + day.retention - Duration::seconds(1)).await,
        0,
        "nothing is purged within its retention"
    );
    // Looking back from within the retention shows what is still stored.
    let soon = t0() + Duration::seconds(1);
    assert_eq!(
        claim(store, &request, &FP_A, soon).await,
        IdempotencyClaim::Completed(response("request")),
        "an entry within its retention survives a purge"
    );

    assert_eq!(
        purge(t0() + day.retention + Duration::seconds(1)).await,
        2,
        "the completed and the crashed request are purged after 24 h"
    );
    let _ = claimed(store, &request, &FP_B, soon, "a purged entry is gone").await;
    let _ = claimed(store, &crashed, &FP_B, soon, "a purged claim is gone").await;
    assert_eq!(
        store
            .idempotency
            .claim_idempotency_key(&event, &FP_A, &IdempotencyTimes { now: soon, ..month })
            .await
            .expect("claim event again"),
        IdempotencyClaim::Completed(response("event")),
        "an entry with a longer retention is kept past 24 h"
    );
    assert!(
        purge(t0() + month.retention + Duration::seconds(1)).await >= 1,
        "the event id is purged after its own retention"
    );
    let again = store
        .idempotency
        .claim_idempotency_key(&event, &FP_B, &IdempotencyTimes { now: soon, ..month })
        .await
        .expect("claim event after purge");
    assert!(
        matches!(again, IdempotencyClaim::Claimed(_)),
        "the purged event id is gone: {again:?}"
    );
}
