//! Several meters per customer, each with its own period, lifetime meters given
//! back, and prepaid credits spent after the allowance: all in the one atomic
//! consume.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use dream_core::{
    ports::Stores, ConsumeOutcome, ConsumeRequest, CreditGrant, CreditGrantOutcome, CustomerId,
    MeterPeriod, MeterReset, Period, StoreError, Tenant, UsageLimit, CREDIT_BALANCE_FULL,
    MAX_CREDIT_BALANCE, REQUESTS_METER,
};

use super::{
    fixtures::{at, customer, insert_customer, new_tenants, t0},
    group_commit::all_at_once,
    usage::{consume, usage},
};

/// A consume of `amount` on `meter`, in the meter's period (by `reset`) of `now`.
fn metered(
    tenant: &Tenant,
    customer: &CustomerId,
    meter: &str,
    reset: MeterReset,
    amount: u64,
    limit: UsageLimit,
    now: DateTime<Utc>,
) -> ConsumeRequest {
    ConsumeRequest {
        tenant: tenant.clone(),
        customer: customer.clone(),
        meter: Cow::Owned(meter.to_owned()),
        period: reset.period(now),
        amount,
        limit,
        rate_limit_per_minute: None,
        key_rate: None,
        now,
        receipt: None,
    }
}

fn accepted(used: u64, credits_spent: u64) -> ConsumeOutcome {
    ConsumeOutcome::Accepted {
        used,
        credits_spent,
    }
}

async fn new_customer(store: &Stores, tenant: &Tenant) -> CustomerId {
    let c = customer(tenant, None, t0());
    insert_customer(store, &c, "meter fixture").await;
    c.id
}

async fn read(
    store: &Stores,
    tenant: &Tenant,
    customer: &CustomerId,
    meters: &[(&str, Period)],
) -> dream_core::MetersReading {
    let meters: Vec<MeterPeriod> = meters
        .iter()
        .map(|(meter, period)| MeterPeriod {
            meter: (*meter).to_owned(),
            period: *period,
        })
        .collect();
    store
        .usage
        .read_meters(tenant, customer, &meters)
        .await
        .expect("read_meters")
}

fn grant(
    tenant: &Tenant,
    customer: &CustomerId,
    meter: &str,
    amount: u64,
    grant_id: &str,
) -> CreditGrant {
    CreditGrant {
        tenant: tenant.clone(),
        customer: customer.clone(),
        meter: meter.to_owned(),
        amount,
        grant_id: grant_id.to_owned(),
        reason: "conformance".to_owned(),
        now: at(30),
    }
}

async fn give(store: &Stores, g: &CreditGrant) -> CreditGrantOutcome {
    store
        .usage
        .grant_credits(g)
        .await
        .unwrap_or_else(|e| panic!("grant_credits({g:?}) failed: {e:?}"))
}

/// Each (customer, meter, period) is its own counter: a daily meter starts again
/// at 00:00 UTC while the monthly `requests` keeps counting; the `requests`
/// reads (`get_usage`, `active_customers`, `total_usage`) never include other
/// meters; `read_meters` answers each meter asked, in order, 0 for none.
pub async fn meters_are_separate_counters(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let alice = new_customer(store, &test).await;
    let day1 = at(3600);
    let day2 = day1 + Duration::days(1);
    let two = UsageLimit::Limited(2);
    let exports =
        |amount, now| metered(&test, &alice, "exports", MeterReset::Day, amount, two, now);
    assert_eq!(consume(store, &exports(1, day1)).await, accepted(1, 0));
    assert_eq!(consume(store, &exports(1, day1)).await, accepted(2, 0));
    assert_eq!(
        consume(store, &exports(1, day1)).await,
        ConsumeOutcome::LimitReached { used: 2 },
        "the daily meter refuses at its own limit"
    );
    let requests = metered(
        &test,
        &alice,
        REQUESTS_METER,
        MeterReset::Month,
        5,
        two,
        day1,
    );
    assert_eq!(
        consume(store, &requests).await,
        ConsumeOutcome::LimitReached { used: 0 },
        "requests is its own counter"
    );
    let requests = metered(
        &test,
        &alice,
        REQUESTS_METER,
        MeterReset::Month,
        2,
        UsageLimit::Limited(10),
        day1,
    );
    assert_eq!(consume(store, &requests).await, accepted(2, 0));
    assert_eq!(
        consume(store, &exports(2, day2)).await,
        accepted(2, 0),
        "a new day starts the daily meter at 0"
    );
    let month = Period::calendar_month(day1);
    assert_eq!(usage(store, &test, &alice, &month).await, 2);
    assert_eq!(
        store.usage.total_usage(&test, &month).await.expect("total"),
        2,
        "total_usage sums requests only"
    );
    let reading = read(
        store,
        &test,
        &alice,
        &[
            ("exports", MeterReset::Day.period(day1)),
            (REQUESTS_METER, month),
            ("exports", MeterReset::Day.period(day2)),
            ("seats", Period::lifetime()),
        ],
    )
    .await;
    assert_eq!(reading.used, vec![2, 2, 2, 0]);
    assert!(reading.credits.is_empty(), "no credits were granted");
    let other_tenant = read(
        store,
        &live,
        &alice,
        &[("exports", MeterReset::Day.period(day1))],
    )
    .await;
    assert_eq!(other_tenant.used, vec![0], "meters are per tenant");
}

/// A lifetime meter (`reset: never`) counts in [`Period::lifetime`] and is given
/// back by `release_usage`, never below zero; a released unit can be used again.
pub async fn meters_release_never_below_zero(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let alice = new_customer(store, &test).await;
    let bob = new_customer(store, &test).await;
    let three = UsageLimit::Limited(3);
    let seat = |who: &CustomerId, amount| {
        metered(
            &test,
            who,
            "seats",
            MeterReset::Never,
            amount,
            three,
            at(60),
        )
    };
    assert_eq!(consume(store, &seat(&alice, 3)).await, accepted(3, 0));
    assert_eq!(
        consume(store, &seat(&alice, 1)).await,
        ConsumeOutcome::LimitReached { used: 3 }
    );
    let lifetime = Period::lifetime();
    let released = store
        .usage
        .release_usage(&test, &alice, "seats", &lifetime, 1)
        .await
        .expect("release");
    assert_eq!(released, 2, "a release answers the count after it");
    assert_eq!(consume(store, &seat(&alice, 1)).await, accepted(3, 0));
    let released = store
        .usage
        .release_usage(&test, &alice, "seats", &lifetime, 10)
        .await
        .expect("release");
    assert_eq!(released, 0, "never below zero");
    let nothing = store
        .usage
        .release_usage(&test, &bob, "seats", &lifetime, 1)
        .await
        .expect("release of a meter never counted");
    assert_eq!(nothing, 0);
    let reading = read(store, &test, &alice, &[("seats", lifetime)]).await;
    assert_eq!(reading.used, vec![0]);
    assert_eq!(
        consume(store, &seat(&bob, 2)).await,
        accepted(2, 0),
        "bob is untouched"
    );
}

/// Credits pay for what the allowance cannot hold, all or nothing, in the same
/// decision: a grant adds to the meter's balance once per grant id; a consume
/// takes the allowance first, then credits; too few credits refuse the whole
/// amount and spend nothing; a replayed receipt answers the credits its first
/// call spent and spends none; balances are per customer, meter and tenant, and
/// never pass [`MAX_CREDIT_BALANCE`].
pub async fn credits_after_allowance_all_or_nothing(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let alice = new_customer(store, &test).await;
    let bob = new_customer(store, &test).await;
    let five = UsageLimit::Limited(5);
    let calls = |amount| {
        metered(
            &test,
            &alice,
            "calls",
            MeterReset::Month,
            amount,
            five,
            at(60),
        )
    };
    let first = give(store, &grant(&test, &alice, "calls", 3, "g1")).await;
    assert_eq!(
        first,
        CreditGrantOutcome {
            balance: 3,
            replayed: false
        }
    );
    let again = give(store, &grant(&test, &alice, "calls", 3, "g1")).await;
    assert_eq!(
        again,
        CreditGrantOutcome {
            balance: 3,
            replayed: true
        },
        "a repeated grant id adds nothing"
    );
    give(store, &grant(&live, &alice, "calls", 100, "g1")).await;
    give(store, &grant(&test, &bob, "calls", 100, "g2")).await;
    give(store, &grant(&test, &alice, "exports", 100, "g3")).await;

    assert_eq!(
        consume(store, &calls(4)).await,
        accepted(4, 0),
        "allowance first"
    );
    let mut with_receipt = calls(3);
    with_receipt.receipt = Some("r-credit".to_owned());
    assert_eq!(
        consume(store, &with_receipt).await,
        accepted(7, 2),
        "1 from the allowance, 2 from credits"
    );
    assert_eq!(
        consume(store, &with_receipt).await,
        accepted(7, 2),
        "a replay answers what the first call spent"
    );
    assert_eq!(
        consume(store, &calls(2)).await,
        ConsumeOutcome::LimitReached { used: 7 },
        "1 credit left cannot pay for 2: nothing is spent"
    );
    let month = Period::calendar_month(at(60));
    let reading = read(store, &test, &alice, &[("calls", month)]).await;
    assert_eq!(reading.used, vec![7]);
    assert_eq!(reading.credits.get("calls"), Some(&1));
    assert_eq!(
        reading.credits.get("exports"),
        Some(&100),
        "other meters keep theirs"
    );
    assert_eq!(consume(store, &calls(1)).await, accepted(8, 1));
    let reading = read(store, &test, &alice, &[("calls", month)]).await;
    assert_eq!(
        reading.credits.get("calls").copied().unwrap_or(0),
        0,
        "the balance is spent, never below zero"
    );
    let bob_reading = read(store, &test, &bob, &[]).await;
    assert_eq!(bob_reading.credits.get("calls"), Some(&100), "per customer");
    let unlimited = metered(
        &test,
        &bob,
        "calls",
        MeterReset::Month,
        50,
        UsageLimit::Unlimited,
        at(60),
    );
    assert_eq!(
        consume(store, &unlimited).await,
        accepted(50, 0),
        "an unlimited meter never spends credits"
    );
    let near_full = give(
        store,
        &grant(&test, &bob, "big", MAX_CREDIT_BALANCE, "g-max"),
    )
    .await;
    assert_eq!(near_full.balance, MAX_CREDIT_BALANCE);
    let over = store
        .usage
        .grant_credits(&grant(&test, &bob, "big", 1, "g-over"))
        .await;
    assert!(
        matches!(over, Err(StoreError::Conflict(what)) if what == CREDIT_BALANCE_FULL),
        "a grant past the maximum is refused: {over:?}"
    );
    let reading = read(store, &test, &bob, &[]).await;
    assert_eq!(reading.credits.get("big"), Some(&MAX_CREDIT_BALANCE));
}

/// 100 concurrent tracks against a daily limit of 10 accept exactly 10, counted
/// 1 to 10 once each.
pub async fn meters_daily_limit_exact_under_concurrency(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let alice = new_customer(&store, &test).await;
    let req = metered(
        &test,
        &alice,
        "exports",
        MeterReset::Day,
        1,
        UsageLimit::Limited(10),
        at(60),
    );
    let outcomes = all_at_once(std::slice::from_ref(&store), vec![req; 100]).await;
    let mut counted: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| match o {
            ConsumeOutcome::Accepted { used, .. } => Some(*used),
            _ => None,
        })
        .collect();
    counted.sort_unstable();
    assert_eq!(counted, (1..=10).collect::<Vec<_>>());
    let reading = read(
        &store,
        &test,
        &alice,
        &[("exports", MeterReset::Day.period(at(60)))],
    )
    .await;
    assert_eq!(reading.used, vec![10]);
}

/// 50 concurrent uses of 1 against an allowance of 0 and a balance of 20 accept
/// exactly 20, each spending 1 credit; the balance ends at 0.
pub async fn credits_exact_under_concurrency(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let alice = new_customer(&store, &test).await;
    give(&store, &grant(&test, &alice, "calls", 20, "g-20")).await;
    let req = metered(
        &test,
        &alice,
        "calls",
        MeterReset::Month,
        1,
        UsageLimit::Limited(0),
        at(60),
    );
    let outcomes = all_at_once(std::slice::from_ref(&store), vec![req; 50]).await;
    let spent: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| match o {
            ConsumeOutcome::Accepted { credits_spent, .. } => Some(*credits_spent),
            _ => None,
        })
        .collect();
    assert_eq!(
        spent,
        vec![1; 20],
        "exactly 20 accepted, each paid by 1 credit"
    );
    let reading = read(
        &store,
        &test,
        &alice,
        &[("calls", MeterReset::Month.period(at(60)))],
    )
    .await;
    assert_eq!(reading.used, vec![20]);
    assert_eq!(reading.credits.get("calls").copied().unwrap_or(0), 0);
}

/// Concurrent grants: distinct ids all add up; one id sent 10 times adds once.
pub async fn credits_concurrent_grants(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let alice = new_customer(&store, &test).await;
    let mut handles = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let g = if i < 10 {
            grant(&test, &alice, "calls", 5, &format!("distinct-{i}"))
        } else {
            grant(&test, &alice, "calls", 7, "same")
        };
        handles.push(tokio::spawn(
            async move { store.usage.grant_credits(&g).await },
        ));
    }
    let mut replays = 0;
    for handle in handles {
        let outcome = handle.await.expect("task").expect("grant");
        replays += usize::from(outcome.replayed);
    }
    assert_eq!(replays, 9, "one of the ten same-id grants added");
    let reading = read(&store, &test, &alice, &[]).await;
    assert_eq!(reading.credits.get("calls"), Some(&(10 * 5 + 7)));
}

/// Four customers, each with 10 credits and an allowance of 5 on `calls`, send
/// 20 consumes of 1 on `calls` (each with its own receipt) and 10 on `requests`,
/// all at once (the store may decide them together, several counters of one
/// customer included): per customer exactly 15 `calls` are accepted, counted 1 to
/// 15, those past 5 paying 1 credit each, and all 10 `requests`. Every receipt
/// then replays its first answer and spends nothing more.
pub async fn credits_and_meters_in_concurrent_batches(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let mut customers = Vec::new();
    for i in 0..4 {
        let c = new_customer(&store, &test).await;
        give(
            &store,
            &grant(&test, &c, "calls", 10, &format!("g-batch-{i}")),
        )
        .await;
        customers.push(c);
    }
    let mut requests = Vec::new();
    for round in 0..20 {
        for (i, c) in customers.iter().enumerate() {
            let mut calls = metered(
                &test,
                c,
                "calls",
                MeterReset::Month,
                1,
                UsageLimit::Limited(5),
                at(60),
            );
            calls.receipt = Some(format!("r-batch-{i}-{round}"));
            requests.push(calls);
            if round % 2 == 0 {
                requests.push(metered(
                    &test,
                    c,
                    REQUESTS_METER,
                    MeterReset::Month,
                    1,
                    UsageLimit::Limited(100),
                    at(60),
                ));
            }
        }
    }
    let outcomes = all_at_once(std::slice::from_ref(&store), requests.clone()).await;
    for c in &customers {
        let mut calls: Vec<(u64, u64)> = Vec::new();
        let mut counted_requests = 0;
        for (req, outcome) in requests.iter().zip(&outcomes) {
            if &req.customer != c {
                continue;
            }
            match (req.meter.as_ref(), outcome) {
                (
                    "calls",
                    ConsumeOutcome::Accepted {
                        used,
                        credits_spent,
                    },
                ) => calls.push((*used, *credits_spent)),
                ("calls", ConsumeOutcome::LimitReached { used }) => {
                    assert_eq!(
                        *used, 15,
                        "refused only once allowance and credits are gone"
                    )
                }
                (_, ConsumeOutcome::Accepted { .. }) => counted_requests += 1,
                (meter, other) => panic!("unexpected {other:?} on {meter}"),
            }
        }
        calls.sort_unstable();
        let expected: Vec<(u64, u64)> = (1..=15).map(|n| (n, u64::from(n > 5))).collect();
        assert_eq!(calls, expected, "allowance first, then one credit each");
        assert_eq!(counted_requests, 10, "requests is its own counter");
        let month = Period::calendar_month(at(60));
        let reading = read(
            &store,
            &test,
            c,
            &[("calls", month), (REQUESTS_METER, month)],
        )
        .await;
        assert_eq!(reading.used, vec![15, 10]);
        assert_eq!(reading.credits.get("calls").copied().unwrap_or(0), 0);
    }
    for (req, first) in requests.iter().zip(&outcomes) {
        if req.receipt.is_some() && matches!(first, ConsumeOutcome::Accepted { .. }) {
            assert_eq!(
                &consume(&store, req).await,
                first,
                "a replay answers the first call's used and credits"
            );
        }
    }
    let month = Period::calendar_month(at(60));
    for c in &customers {
        let reading = read(&store, &test, c, &[("calls", month)]).await;
        assert_eq!(reading.used, vec![15], "replays count nothing");
    }
}
