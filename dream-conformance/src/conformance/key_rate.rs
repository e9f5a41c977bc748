//! Customer keys' own rate windows: decided with the customer's limit and rate
//! window in one consume, written only when every check admits the call.

use std::sync::Arc;

use chrono::Duration;

use dream_core::{
    ports::Stores, ConsumeOutcome, ConsumeRequest, CustomerKeyId, KeyRate, Period, UsageLimit,
};

use super::{
    fixtures::{at, customer, insert_customer, new_tenants, t0},
    usage::{consume, request, usage},
};

/// `request` made with a key whose window admits `per_minute` calls a minute,
/// this call costing `cost`.
fn keyed(mut request: ConsumeRequest, window: &str, per_minute: u32, cost: u64) -> ConsumeRequest {
    request.key_rate = Some(KeyRate {
        window: window.to_owned(),
        per_minute,
        cost,
    });
    request
}

fn assert_rate_limited(outcome: ConsumeOutcome, expected_ms: u64, what: &str) {
    match outcome {
        ConsumeOutcome::RateLimited { retry_after_ms }
            if retry_after_ms.abs_diff(expected_ms) <= 100 => {}
        other => panic!(
            "{what}: expected RateLimited with retry_after_ms ≈ {expected_ms}, got {other:?}"
        ),
    }
}

/// A key window admits its rate and refuses the next call (which counts nothing
/// and leaves the customer's own window untouched); a refusal by the limit or by
/// the customer's window leaves the key's window untouched; a call's cost spends
/// as many calls; two keys of one customer and the same window id in another
/// tenant are separate windows.
pub async fn key_rate_windows(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let now = at(60);
    let period = Period::calendar_month(now);
    let limit = UsageLimit::Limited(100);
    let key_a = CustomerKeyId::generate().to_string();
    let key_b = CustomerKeyId::generate().to_string();

    // The key refuses its third call at 2/min; the customer's window (3/min) is
    // not spent by that refusal: its third call, without the key, still fits.
    let c = customer(&test, None, t0());
    insert_customer(store, &c, "key-limited").await;
    let plain = request(&test, &c.id, 1, limit, Some(3), now);
    let with_a = keyed(plain.clone(), &key_a, 2, 1);
    assert_eq!(
        consume(store, &with_a).await,
        ConsumeOutcome::accepted(1),
        "first call"
    );
    assert_eq!(
        consume(store, &with_a).await,
        ConsumeOutcome::accepted(2),
        "second call"
    );
    assert_rate_limited(
        consume(store, &with_a).await,
        30_000,
        "the third call at a key's 2/min",
    );
    assert_eq!(
        usage(store, &test, &c.id, &period).await,
        2,
        "a call the key's window refused must not be counted"
    );
    assert_eq!(
        consume(store, &plain).await,
        ConsumeOutcome::accepted(3),
        "a key's refusal must not spend the customer's window"
    );
    assert_rate_limited(
        consume(store, &plain).await,
        20_000,
        "the customer's window (3/min) is now full",
    );
    // Another key of the same customer has its own window, but the customer's
    // (full) window still applies to it.
    assert_rate_limited(
        consume(store, &keyed(plain.clone(), &key_b, 2, 1)).await,
        20_000,
        "a fresh key cannot pass the customer's full window",
    );
    let no_customer_rate = request(&test, &c.id, 1, limit, None, now);
    assert_eq!(
        consume(store, &keyed(no_customer_rate.clone(), &key_b, 2, 1)).await,
        ConsumeOutcome::accepted(4),
        "another key of the customer must have its own window"
    );
    // The same window id in another tenant is another window.
    let elsewhere = request(&live, &c.id, 1, limit, None, now);
    assert_eq!(
        consume(store, &keyed(elsewhere, &key_a, 2, 1)).await,
        ConsumeOutcome::accepted(1),
        "the same key window id in another tenant must be separate"
    );

    // A refusal by the limit does not spend the key's window.
    let d = customer(&test, None, t0());
    insert_customer(store, &d, "limit first").await;
    let key_d = CustomerKeyId::generate().to_string();
    let tight = keyed(
        request(&test, &d.id, 1, UsageLimit::Limited(1), None, now),
        &key_d,
        2,
        1,
    );
    assert_eq!(
        consume(store, &tight).await,
        ConsumeOutcome::accepted(1),
        "within the limit"
    );
    assert_eq!(
        consume(store, &tight).await,
        ConsumeOutcome::LimitReached { used: 1 },
        "over the limit"
    );
    let roomy = keyed(request(&test, &d.id, 1, limit, None, now), &key_d, 2, 1);
    assert_eq!(
        consume(store, &roomy).await,
        ConsumeOutcome::accepted(2),
        "a LimitReached call must not spend the key's window"
    );
    assert_rate_limited(
        consume(store, &roomy).await,
        30_000,
        "the key's window is now full",
    );

    // A refusal by the customer's window does not spend the key's window.
    let e = customer(&test, None, t0());
    insert_customer(store, &e, "customer window first").await;
    let key_e = CustomerKeyId::generate().to_string();
    let strict = keyed(request(&test, &e.id, 1, limit, Some(1), now), &key_e, 2, 1);
    assert_eq!(
        consume(store, &strict).await,
        ConsumeOutcome::accepted(1),
        "first call"
    );
    assert_rate_limited(
        consume(store, &strict).await,
        60_000,
        "the customer's 1/min window refuses the second call",
    );
    let key_only = keyed(request(&test, &e.id, 1, limit, None, now), &key_e, 2, 1);
    assert_eq!(
        consume(store, &key_only).await,
        ConsumeOutcome::accepted(2),
        "a call the customer's window refused must not spend the key's window"
    );

    // Cost: 5 at 5/min is one full burst; the window refills over time.
    let f = customer(&test, None, t0());
    insert_customer(store, &f, "cost").await;
    let key_f = CustomerKeyId::generate().to_string();
    let bulk = request(&test, &f.id, 5, limit, None, now);
    assert_eq!(
        consume(store, &keyed(bulk, &key_f, 5, 5)).await,
        ConsumeOutcome::accepted(5),
        "a cost of 5 at 5/min must fit the burst"
    );
    let single = request(&test, &f.id, 1, limit, None, now);
    assert_rate_limited(
        consume(store, &keyed(single, &key_f, 5, 1)).await,
        12_000,
        "a call right after a full-burst cost",
    );
    let later = request(&test, &f.id, 1, limit, None, now + Duration::seconds(12));
    assert_eq!(
        consume(store, &keyed(later, &key_f, 5, 1)).await,
        ConsumeOutcome::accepted(6),
        "one emission interval later the key admits one more call"
    );
}

/// 64 concurrent consumes of one customer through two keys (10/min each, 32
/// calls each) against a limit of 15: exactly 15 are accepted, neither key more
/// than 10, and the counter is 15. With group commit these calls share batches
/// that must close at the second key.
pub async fn key_rate_exact_under_concurrency(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let c = customer(&test, None, t0());
    insert_customer(&store, &c, "two keys").await;
    let now = at(60);
    let base = request(&test, &c.id, 1, UsageLimit::Limited(15), None, now);
    let keys = [
        CustomerKeyId::generate().to_string(),
        CustomerKeyId::generate().to_string(),
    ];
    let tasks = 64;
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let req = keyed(base.clone(), &keys[i % 2], 10, 1);
            tokio::spawn(async move {
                barrier.wait().await;
                (i % 2, store.usage.consume_usage(&req).await)
            })
        })
        .collect();
    let mut per_key = [0u64; 2];
    let mut used_values = Vec::new();
    for handle in handles {
        let (key, outcome) = handle.await.expect("a consuming task panicked");
        match outcome.expect("consume_usage must not fail under concurrency") {
            ConsumeOutcome::Accepted { used, .. } => {
                per_key[key] += 1;
                used_values.push(used);
            }
            ConsumeOutcome::LimitReached { used } => {
                assert_eq!(used, 15, "LimitReached only once the limit is used up")
            }
            ConsumeOutcome::RateLimited { .. } => {}
        }
    }
    used_values.sort_unstable();
    assert_eq!(
        used_values,
        (1..=15).collect::<Vec<u64>>(),
        "exactly 15 calls must be accepted, each `used` once (per key: {per_key:?})"
    );
    assert!(
        per_key.iter().all(|n| *n <= 10),
        "no key may pass its 10/min window: {per_key:?}"
    );
    assert_eq!(
        usage(&store, &test, &c.id, &base.period).await,
        15,
        "the counter must equal the accepted calls"
    );
    // Both windows are what the accepted calls spent: a key that took n calls
    // admits exactly 10 - n more in the same instant.
    for (key, taken) in keys.iter().zip(per_key) {
        let roomy = request(&test, &c.id, 1, UsageLimit::Limited(1_000), None, now);
        let mut admitted = 0;
        while let ConsumeOutcome::Accepted { .. } =
            consume(&store, &keyed(roomy.clone(), key, 10, 1)).await
        {
            admitted += 1;
            assert!(admitted <= 10, "a 10/min key admitted more than 10 calls");
        }
        assert_eq!(
            admitted + taken,
            10,
            "a key's window must hold exactly the calls it admitted ({taken} under concurrency)"
        );
    }
}
