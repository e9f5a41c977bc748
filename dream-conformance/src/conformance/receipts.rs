//! Consume receipts: a retried consume is answered, not counted again.

use dream_core::{ports::Stores, ConsumeOutcome, Period, UsageLimit, RECEIPT_RETENTION_HOURS};

use super::{
    fixtures::{at, customer, insert_customer, new_tenants, t0},
    usage::{consume, request, usage},
};

/// Accepted consumes with a receipt replay their outcome; refusals leave no
/// receipt; receipts are per tenant, survive concurrency, and expire.
pub async fn consume_receipts_replay(store: Stores) {
    let store = &store;
    let (tenant, other) = new_tenants(store).await;
    let c = customer(&tenant, None, t0());
    insert_customer(store, &c, "receipt customer").await;
    let with = |receipt: &str, amount: u64, limit: UsageLimit, secs: i64| {
        let mut r = request(&tenant, &c.id, amount, limit, None, at(secs));
        r.receipt = Some(receipt.to_owned());
        r
    };
    let limit = UsageLimit::Limited(5);
    assert_eq!(
        consume(store, &with("r1", 2, limit, 0)).await,
        ConsumeOutcome::Accepted {
            used: 2,
            credits_spent: 0
        }
    );
    assert_eq!(
        consume(store, &with("r1", 2, limit, 1)).await,
        ConsumeOutcome::Accepted {
            used: 2,
            credits_spent: 0
        },
        "a replayed receipt answers the original usage"
    );
    assert_eq!(
        usage(store, &tenant, &c.id, &Period::calendar_month(at(1))).await,
        2,
        "a replay counts nothing"
    );
    assert_eq!(
        consume(store, &with("r2", 1, limit, 2)).await,
        ConsumeOutcome::Accepted {
            used: 3,
            credits_spent: 0
        }
    );
    // A refusal leaves no receipt: once it fits, the same receipt is counted.
    assert_eq!(
        consume(store, &with("r3", 3, limit, 3)).await,
        ConsumeOutcome::LimitReached { used: 3 }
    );
    assert_eq!(
        consume(store, &with("r3", 3, UsageLimit::Limited(10), 4)).await,
        ConsumeOutcome::Accepted {
            used: 6,
            credits_spent: 0
        }
    );
    // Another tenant's identical receipt is another receipt.
    let oc = customer(&other, None, t0());
    insert_customer(store, &oc, "other tenant's customer").await;
    let mut foreign = request(&other, &oc.id, 1, limit, None, at(5));
    foreign.receipt = Some("r1".into());
    assert_eq!(
        consume(store, &foreign).await,
        ConsumeOutcome::Accepted {
            used: 1,
            credits_spent: 0
        }
    );
    // After the retention, a receipt no longer replays.
    let later = RECEIPT_RETENTION_HOURS * 3600 + 60;
    assert_eq!(
        consume(store, &with("r1", 1, UsageLimit::Limited(10), later)).await,
        ConsumeOutcome::Accepted {
            used: 7,
            credits_spent: 0
        },
        "an expired receipt is a new consume"
    );
}

/// Many concurrent retries of one receipt count it once.
pub async fn consume_receipts_under_concurrency(store: Stores) {
    let (tenant, _) = new_tenants(&store).await;
    let c = customer(&tenant, None, t0());
    insert_customer(&store, &c, "receipt customer").await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = store.clone();
        let mut r = request(&tenant, &c.id, 1, UsageLimit::Limited(100), None, at(0));
        r.receipt = Some("same".into());
        tasks.push(tokio::spawn(async move { consume(&store, &r).await }));
    }
    for task in tasks {
        assert_eq!(
            task.await.expect("task"),
            ConsumeOutcome::Accepted {
                used: 1,
                credits_spent: 0
            },
            "every retry of one receipt sees the one count"
        );
    }
    assert_eq!(
        usage(&store, &tenant, &c.id, &Period::calendar_month(at(0))).await,
        1
    );
}
