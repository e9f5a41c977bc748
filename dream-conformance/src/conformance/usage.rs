//! Exact usage counting: sequential and under concurrency.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use dream_core::{
    ports::Stores, ConsumeOutcome, ConsumeRequest, CustomerId, Period, Tenant, UsageLimit,
};

use super::fixtures::{at, customer, insert_customer, new_tenants, t0};

/// A consume request for `customer` in the calendar month of `now`.
pub(super) fn request(
    tenant: &Tenant,
    customer: &CustomerId,
    amount: u64,
    limit: UsageLimit,
    rate_limit_per_minute: Option<u32>,
    now: DateTime<Utc>,
) -> ConsumeRequest {
    ConsumeRequest {
        tenant: tenant.clone(),
        customer: customer.clone(),
        meter: std::borrow::Cow::Borrowed(dream_core::REQUESTS_METER),
        period: Period::calendar_month(now),
        amount,
        limit,
        rate_limit_per_minute,
        key_rate: None,
        now,
        receipt: None,
    }
}

/// Runs `consume_usage`, panicking on a store error.
pub(super) async fn consume(store: &Stores, request: &ConsumeRequest) -> ConsumeOutcome {
    store
        .usage
        .consume_usage(request)
        .await
        .unwrap_or_else(|e| panic!("consume_usage({request:?}) failed: {e:?}"))
}

/// Runs `get_usage`, panicking on a store error.
pub(super) async fn usage(
    store: &Stores,
    tenant: &Tenant,
    customer: &CustomerId,
    period: &Period,
) -> u64 {
    store
        .usage
        .get_usage(tenant, customer, period)
        .await
        .expect("get_usage must succeed")
}

/// A fresh customer of `tenant`, inserted, for usage tests.
async fn new_customer(store: &Stores, tenant: &Tenant) -> CustomerId {
    let c = customer(tenant, None, t0());
    insert_customer(store, &c, "usage fixture").await;
    c.id
}

/// Sequential consumption is exact: a limit of 3 accepts used 1, 2, 3 and then
/// refuses with `LimitReached { used: 3 }`; an amount is all or nothing;
/// `Unlimited` never refuses; a new period starts at 0; other customers and
/// tenants are untouched; `last_consumed_at`, `active_customers` and
/// `total_usage` follow accepted calls only.
pub async fn consume_exact_sequential(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let [alice, bob, carol, dave] = [
        new_customer(store, &test).await,
        new_customer(store, &test).await,
        new_customer(store, &test).await,
        new_customer(store, &test).await,
    ];
    let limit3 = UsageLimit::Limited(3);
    let now = at(60);
    let period = Period::calendar_month(now);

    assert_eq!(
        usage(store, &test, &alice, &period).await,
        0,
        "no usage yet"
    );
    assert_eq!(
        store
            .usage
            .last_consumed_at(&test, &alice)
            .await
            .expect("last_consumed_at"),
        None,
        "last_consumed_at before any usage must be None"
    );
    for expected in 1..=3 {
        let outcome = consume(store, &request(&test, &alice, 1, limit3, None, now)).await;
        assert_eq!(
            outcome,
            ConsumeOutcome::Accepted {
                used: expected,
                credits_spent: 0
            },
            "call {expected} of 3 must be accepted with used = {expected}"
        );
    }
    for _ in 0..2 {
        let outcome = consume(store, &request(&test, &alice, 1, limit3, None, at(61))).await;
        assert_eq!(
            outcome,
            ConsumeOutcome::LimitReached { used: 3 },
            "a call past the limit must be LimitReached with used = 3"
        );
    }
    assert_eq!(
        usage(store, &test, &alice, &period).await,
        3,
        "refused calls must not be counted"
    );
    assert_eq!(
        store
            .usage
            .last_consumed_at(&test, &alice)
            .await
            .expect("last_consumed_at"),
        Some(now),
        "last_consumed_at must be the last ACCEPTED call, not a refused one"
    );

    // All or nothing.
    let outcome = consume(store, &request(&test, &bob, 2, limit3, None, now)).await;
    assert_eq!(
        outcome,
        ConsumeOutcome::Accepted {
            used: 2,
            credits_spent: 0
        },
        "amount 2 of 3"
    );
    let outcome = consume(store, &request(&test, &bob, 2, limit3, None, now)).await;
    assert_eq!(
        outcome,
        ConsumeOutcome::LimitReached { used: 2 },
        "amount 2 with 1 left must be refused whole"
    );
    assert_eq!(
        usage(store, &test, &bob, &period).await,
        2,
        "a refused amount must not be counted in part"
    );
    let outcome = consume(store, &request(&test, &bob, 1, limit3, None, now)).await;
    assert_eq!(
        outcome,
        ConsumeOutcome::Accepted {
            used: 3,
            credits_spent: 0
        },
        "amount 1 with 1 left must be accepted"
    );

    // A first call that does not fit: nothing counted, customer not active.
    let outcome = consume(store, &request(&test, &dave, 4, limit3, None, now)).await;
    assert_eq!(
        outcome,
        ConsumeOutcome::LimitReached { used: 0 },
        "amount 4 against a limit of 3 must be refused"
    );
    let outcome = consume(
        store,
        &request(&test, &dave, 1, UsageLimit::Limited(0), None, now),
    )
    .await;
    assert_eq!(
        outcome,
        ConsumeOutcome::LimitReached { used: 0 },
        "a limit of 0 must refuse everything"
    );

    // Unlimited.
    let mut total = 0;
    for amount in [1, 1_000, 1_000_000, 7] {
        total += amount;
        let outcome = consume(
            store,
            &request(&test, &carol, amount, UsageLimit::Unlimited, None, now),
        )
        .await;
        assert_eq!(
            outcome,
            ConsumeOutcome::Accepted {
                used: total,
                credits_spent: 0
            },
            "Unlimited must accept amount {amount}"
        );
    }

    assert_eq!(
        store
            .usage
            .active_customers(&test, &period)
            .await
            .expect("active_customers"),
        3,
        "active_customers must count customers with accepted usage only"
    );
    assert_eq!(
        store
            .usage
            .total_usage(&test, &period)
            .await
            .expect("total_usage"),
        3 + 3 + total,
        "total_usage must sum accepted usage"
    );

    // Another tenant, even with the same customer id, is untouched and separate.
    assert_eq!(
        usage(store, &live, &alice, &period).await,
        0,
        "another tenant must not see this tenant's counter"
    );
    assert_eq!(
        store
            .usage
            .last_consumed_at(&live, &alice)
            .await
            .expect("last_consumed_at"),
        None,
        "another tenant must not see this tenant's last_consumed_at"
    );
    assert_eq!(
        consume(store, &request(&live, &alice, 1, limit3, None, now)).await,
        ConsumeOutcome::Accepted {
            used: 1,
            credits_spent: 0
        },
        "the same customer id in another tenant has its own counter"
    );
    assert_eq!(
        store
            .usage
            .active_customers(&live, &period)
            .await
            .expect("active_customers"),
        1,
        "active_customers is per tenant"
    );
    assert_eq!(
        store
            .usage
            .total_usage(&live, &period)
            .await
            .expect("total_usage"),
        1,
        "total_usage is per tenant"
    );
    assert_eq!(
        usage(store, &test, &alice, &period).await,
        3,
        "another tenant's usage must not change this one"
    );

    // The next period starts at 0 and leaves the previous one alone.
    let next_now = period.end + chrono::Duration::hours(1);
    let next = Period::calendar_month(next_now);
    assert_eq!(
        usage(store, &test, &alice, &next).await,
        0,
        "a new period starts at 0"
    );
    assert_eq!(
        store
            .usage
            .active_customers(&test, &next)
            .await
            .expect("active_customers"),
        0,
        "nobody is active in a new period"
    );
    assert_eq!(
        consume(store, &request(&test, &alice, 1, limit3, None, next_now)).await,
        ConsumeOutcome::Accepted {
            used: 1,
            credits_spent: 0
        },
        "the first call of a new period is used = 1"
    );
    assert_eq!(
        usage(store, &test, &alice, &period).await,
        3,
        "usage in a new period must not change the old one"
    );
    assert_eq!(
        store
            .usage
            .last_consumed_at(&test, &alice)
            .await
            .expect("last_consumed_at"),
        Some(next_now),
        "last_consumed_at covers every period"
    );
    assert_eq!(
        store
            .usage
            .total_usage(&test, &next)
            .await
            .expect("total_usage"),
        1,
        "total_usage is per period"
    );
}

/// `tasks` concurrent tasks (`tokio::spawn`, so run this on a multi-thread
/// runtime) each consume 1 unit for ONE customer against a limit of `limit`:
/// exactly `min(tasks, limit)` are accepted with `used` values 1, 2, … each once,
/// the rest are `LimitReached { used: limit }`, and the counter ends at the number
/// accepted.
pub async fn consume_is_exact_under_concurrency(store: Stores, tasks: usize, limit: u64) {
    let (test, _) = new_tenants(&store).await;
    let target = new_customer(&store, &test).await;
    let now = at(60);
    let req = request(&test, &target, 1, UsageLimit::Limited(limit), None, now);
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks.max(1)));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let req = req.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.usage.consume_usage(&req).await
            })
        })
        .collect();
    let mut accepted = Vec::new();
    let mut refused = 0usize;
    for handle in handles {
        let outcome = handle
            .await
            .expect("a consuming task panicked")
            .expect("consume_usage must not fail under concurrency");
        match outcome {
            ConsumeOutcome::Accepted { used, .. } => accepted.push(used),
            ConsumeOutcome::LimitReached { used } => {
                assert_eq!(
                    used, limit,
                    "a concurrent call may only be refused once the limit is used up"
                );
                refused += 1;
            }
            other => panic!("no rate limit was set, yet a call got {other:?}"),
        }
    }
    let expected_accepted = (tasks as u64).min(limit);
    accepted.sort_unstable();
    assert_eq!(
        accepted,
        (1..=expected_accepted).collect::<Vec<u64>>(),
        "{tasks} concurrent calls against a limit of {limit}: the accepted `used` values \
         must be exactly 1..={expected_accepted}, each once"
    );
    assert_eq!(
        refused as u64,
        tasks as u64 - expected_accepted,
        "every call beyond the limit must be LimitReached"
    );
    assert_eq!(
        usage(&store, &test, &target, &req.period).await,
        expected_accepted,
        "the counter must equal the number of accepted calls"
    );
}
