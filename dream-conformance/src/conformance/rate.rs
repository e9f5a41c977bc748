//! Per-minute rate limits (GCRA) and the rule that refusals spend nothing.

use chrono::Duration;

use dream_core::{ports::Stores, ConsumeOutcome, Period, UsageLimit};

use super::{
    fixtures::{at, customer, insert_customer, new_tenants, t0},
    usage::{consume, request, usage},
};

fn assert_retry_about(outcome: ConsumeOutcome, expected_ms: u64, what: &str) -> u64 {
    match outcome {
        ConsumeOutcome::RateLimited { retry_after_ms }
            if retry_after_ms.abs_diff(expected_ms) <= 100 =>
        {
            retry_after_ms
        }
        other => panic!(
            "{what}: expected RateLimited with retry_after_ms ≈ {expected_ms}, got {other:?}"
        ),
    }
}

/// A rate of 3/min admits 3 calls in one instant; the 4th is `RateLimited` with
/// `retry_after_ms` ≈ 20 000 and counts nothing; 20 s later one more is admitted.
/// Rate windows are per customer and per tenant; an amount spends as many calls.
pub async fn rate_limit_gcra(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let c = customer(&test, None, t0());
    let other = customer(&test, None, t0());
    insert_customer(store, &c, "rate-limited").await;
    insert_customer(store, &other, "other customer").await;
    let limit = UsageLimit::Limited(100);
    let now = at(60);
    let period = Period::calendar_month(now);
    let rate = Some(3);

    for used in 1..=3 {
        assert_eq!(
            consume(store, &request(&test, &c.id, 1, limit, rate, now)).await,
            ConsumeOutcome::Accepted {
                used,
                credits_spent: 0
            },
            "call {used} of a 3/min burst must be accepted"
        );
    }
    let fourth = consume(store, &request(&test, &c.id, 1, limit, rate, now)).await;
    assert_retry_about(fourth, 20_000, "the 4th call in the same instant at 3/min");
    assert_eq!(
        usage(store, &test, &c.id, &period).await,
        3,
        "a RateLimited call must not be counted"
    );
    let later = consume(
        store,
        &request(&test, &c.id, 1, limit, rate, now + Duration::seconds(10)),
    )
    .await;
    assert_retry_about(
        later,
        10_000,
        "10 s later, one emission interval is half refilled",
    );

    // Other customers and tenants have their own windows.
    assert_eq!(
        consume(store, &request(&test, &other.id, 1, limit, rate, now)).await,
        ConsumeOutcome::Accepted {
            used: 1,
            credits_spent: 0
        },
        "another customer's rate window must be separate"
    );
    assert_eq!(
        consume(store, &request(&live, &c.id, 1, limit, rate, now)).await,
        ConsumeOutcome::Accepted {
            used: 1,
            credits_spent: 0
        },
        "the same customer id in another tenant must have its own rate window"
    );

    let refilled = now + Duration::seconds(20);
    assert_eq!(
        consume(store, &request(&test, &c.id, 1, limit, rate, refilled)).await,
        ConsumeOutcome::Accepted {
            used: 4,
            credits_spent: 0
        },
        "20 s after the burst one more call must be admitted"
    );
    let again = consume(store, &request(&test, &c.id, 1, limit, rate, refilled)).await;
    assert_retry_about(again, 20_000, "a second call at the refill instant");

    // An amount spends as many calls: 5 at 5/min is one full burst.
    let bulk = customer(&test, None, t0());
    insert_customer(store, &bulk, "bulk").await;
    assert_eq!(
        consume(store, &request(&test, &bulk.id, 5, limit, Some(5), now)).await,
        ConsumeOutcome::Accepted {
            used: 5,
            credits_spent: 0
        },
        "amount 5 at 5/min must fit the burst"
    );
    let after_bulk = consume(store, &request(&test, &bulk.id, 1, limit, Some(5), now)).await;
    assert_retry_about(after_bulk, 12_000, "a call right after a full-burst amount");
    assert_eq!(
        store
            .usage
            .last_consumed_at(&test, &bulk.id)
            .await
            .expect("last_consumed_at"),
        Some(now),
        "a RateLimited call must not move last_consumed_at"
    );
}

/// Refusals consume nothing: a call refused for usage does not spend rate
/// allowance, and a call refused for rate neither counts usage nor spends rate
/// allowance (retrying exactly `retry_after_ms` later succeeds).
pub async fn refused_requests_consume_nothing(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let c = customer(&test, None, t0());
    insert_customer(store, &c, "refusals").await;
    let now = at(60);
    let period = Period::calendar_month(now);
    let rate = Some(2);

    assert_eq!(
        consume(
            store,
            &request(&test, &c.id, 1, UsageLimit::Limited(1), rate, now)
        )
        .await,
        ConsumeOutcome::Accepted {
            used: 1,
            credits_spent: 0
        },
        "first call (limit 1, 2/min) must be accepted"
    );
    assert_eq!(
        consume(
            store,
            &request(&test, &c.id, 1, UsageLimit::Limited(1), rate, now)
        )
        .await,
        ConsumeOutcome::LimitReached { used: 1 },
        "second call (limit 1) must be LimitReached"
    );
    assert_eq!(
        consume(
            store,
            &request(&test, &c.id, 1, UsageLimit::Limited(10), rate, now)
        )
        .await,
        ConsumeOutcome::Accepted {
            used: 2,
            credits_spent: 0
        },
        "with the limit raised to 10, a call in the same instant must be accepted: \
         the LimitReached call must not have spent rate allowance"
    );
    let limited = consume(
        store,
        &request(&test, &c.id, 1, UsageLimit::Limited(10), rate, now),
    )
    .await;
    let retry = assert_retry_about(limited, 30_000, "the 3rd call in one instant at 2/min");
    for _ in 0..3 {
        let outcome = consume(
            store,
            &request(&test, &c.id, 1, UsageLimit::Limited(10), rate, now),
        )
        .await;
        assert!(
            matches!(outcome, ConsumeOutcome::RateLimited { .. }),
            "repeated calls in the same instant must stay RateLimited, got {outcome:?}"
        );
    }
    assert_eq!(
        usage(store, &test, &c.id, &period).await,
        2,
        "RateLimited calls must not be counted"
    );
    let retry_at = now + Duration::milliseconds(i64::try_from(retry).expect("small retry"));
    assert_eq!(
        consume(
            store,
            &request(&test, &c.id, 1, UsageLimit::Limited(10), rate, retry_at)
        )
        .await,
        ConsumeOutcome::Accepted {
            used: 3,
            credits_spent: 0
        },
        "retrying after retry_after_ms must be accepted: RateLimited calls must not \
         have spent rate allowance"
    );
    assert_eq!(
        usage(store, &test, &c.id, &period).await,
        3,
        "only accepted calls are counted"
    );
}
