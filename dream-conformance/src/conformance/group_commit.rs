//! Concurrent consumes that a store may decide together (group commit): exact in
//! arrival order, with limits, rate windows and receipts as for single calls.

use std::{collections::HashMap, sync::Arc};

use dream_core::{ports::Stores, ConsumeOutcome, ConsumeRequest, Period, UsageLimit};

use super::{
    fixtures::{at, customer, insert_customer, new_tenants, t0},
    usage::{consume, request, usage},
};

/// Runs every request at once (released together by a barrier), each on its
/// own task, and returns the outcomes in the order of `requests`.
pub(super) async fn all_at_once(
    stores: &[Stores],
    requests: Vec<ConsumeRequest>,
) -> Vec<ConsumeOutcome> {
    let barrier = Arc::new(tokio::sync::Barrier::new(requests.len().max(1)));
    let handles: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(i, req)| {
            let store = stores[i % stores.len()].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.usage.consume_usage(&req).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(
            handle
                .await
                .expect("a consuming task panicked")
                .expect("consume_usage must not fail under concurrency"),
        );
    }
    outcomes
}

fn accepted_used(outcomes: &[ConsumeOutcome]) -> Vec<u64> {
    let mut used: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| match o {
            ConsumeOutcome::Accepted { used, .. } => Some(*used),
            _ => None,
        })
        .collect();
    used.sort_unstable();
    used
}

/// 64 consumes of one customer against a limit of 50, all released at once (one
/// batch window): exactly 50 are accepted, each with its own count 1..=50, and
/// the 14 others are refused at 50.
pub async fn consume_batch_window_hot_customer(store: Stores) {
    let (tenant, _) = new_tenants(&store).await;
    let c = customer(&tenant, None, t0());
    insert_customer(&store, &c, "hot customer").await;
    let now = at(60);
    let req = request(&tenant, &c.id, 1, UsageLimit::Limited(50), None, now);
    let outcomes = all_at_once(std::slice::from_ref(&store), vec![req; 64]).await;
    assert_eq!(
        accepted_used(&outcomes),
        (1..=50).collect::<Vec<u64>>(),
        "exactly 50 of 64 accepted, each with its own count"
    );
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome,
                ConsumeOutcome::Accepted { .. } | ConsumeOutcome::LimitReached { used: 50 }
            ),
            "a refusal must report the full limit, got {outcome:?}"
        );
    }
    assert_eq!(
        usage(&store, &tenant, &c.id, &Period::calendar_month(now)).await,
        50
    );
    assert_eq!(
        store
            .usage
            .last_consumed_at(&tenant, &c.id)
            .await
            .expect("last_consumed_at"),
        Some(now)
    );
}

/// Receipt replays, distinct receipts, limits and rate windows of several
/// customers, all released at once: every answer is one the single-call path
/// gives in some arrival order, and a replay afterwards answers what the first
/// attempt was answered.
pub async fn consume_batch_mixes_receipts_and_rates(store: Stores) {
    let (tenant, _) = new_tenants(&store).await;
    let receipts = customer(&tenant, None, t0());
    let rated = customer(&tenant, None, t0());
    let both = customer(&tenant, None, t0());
    for (c, what) in [(&receipts, "receipts"), (&rated, "rated"), (&both, "both")] {
        insert_customer(&store, c, what).await;
    }
    let now = at(120);
    let period = Period::calendar_month(now);
    let with_receipt = |c: &dream_core::Customer, limit: u64, rate: Option<u32>, r: String| {
        let mut req = request(&tenant, &c.id, 1, UsageLimit::Limited(limit), rate, now);
        req.receipt = Some(r);
        req
    };
    let mut requests = Vec::new();
    // `receipts`: 16 distinct receipts and 8 retries of "same", limit 10.
    for i in 0..16 {
        requests.push(with_receipt(&receipts, 10, None, format!("distinct-{i}")));
        if i % 2 == 0 {
            requests.push(with_receipt(&receipts, 10, None, "same".into()));
        }
    }
    // `rated`: 12 calls at 5 per minute, no receipt.
    for _ in 0..12 {
        requests.push(request(
            &tenant,
            &rated.id,
            1,
            UsageLimit::Limited(100),
            Some(5),
            now,
        ));
    }
    // `both`: 12 distinct receipts at 4 per minute.
    for i in 0..12 {
        requests.push(with_receipt(&both, 100, Some(4), format!("both-{i}")));
    }
    let outcomes = all_at_once(std::slice::from_ref(&store), requests.clone()).await;
    let of = |c: &dream_core::Customer| -> Vec<(ConsumeRequest, ConsumeOutcome)> {
        requests
            .iter()
            .cloned()
            .zip(outcomes.iter().copied())
            .filter(|(r, _)| r.customer == c.id)
            .collect()
    };

    // `receipts`: 10 counts; every retry of "same" answered alike.
    let answers = of(&receipts);
    let same: Vec<ConsumeOutcome> = answers
        .iter()
        .filter(|(r, _)| r.receipt.as_deref() == Some("same"))
        .map(|(_, o)| *o)
        .collect();
    assert!(
        same.iter().all(|o| *o == same[0]),
        "retries of one receipt must all get the first attempt's answer: {same:?}"
    );
    let mut counted: Vec<u64> = answers
        .iter()
        .filter(|(r, _)| r.receipt.as_deref() != Some("same"))
        .filter_map(|(_, o)| match o {
            ConsumeOutcome::Accepted { used, .. } => Some(*used),
            ConsumeOutcome::LimitReached { used } => {
                assert_eq!(*used, 10, "refused only once the limit is used up");
                None
            }
            other => panic!("no rate limit for this customer, got {other:?}"),
        })
        .collect();
    match same[0] {
        ConsumeOutcome::Accepted { used, .. } => counted.push(used),
        ConsumeOutcome::LimitReached { used } => assert_eq!(used, 10),
        other => panic!("no rate limit for this customer, got {other:?}"),
    }
    counted.sort_unstable();
    assert_eq!(
        counted,
        (1..=10).collect::<Vec<u64>>(),
        "10 distinct counts"
    );
    assert_eq!(usage(&store, &tenant, &receipts.id, &period).await, 10);

    // `rated`: a burst of 5, the rest rate-limited and not counted.
    let answers = of(&rated);
    let outs: Vec<ConsumeOutcome> = answers.iter().map(|(_, o)| *o).collect();
    assert_eq!(accepted_used(&outs), (1..=5).collect::<Vec<u64>>());
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o, ConsumeOutcome::RateLimited { retry_after_ms } if *retry_after_ms > 0))
            .count(),
        7,
        "7 of 12 over a 5/min burst are rate-limited: {outs:?}"
    );
    assert_eq!(usage(&store, &tenant, &rated.id, &period).await, 5);

    // `both`: a burst of 4; replays answer the original outcome of accepted
    // receipts (before the rate window), refused receipts are refused again.
    let answers = of(&both);
    let outs: Vec<ConsumeOutcome> = answers.iter().map(|(_, o)| *o).collect();
    assert_eq!(accepted_used(&outs), (1..=4).collect::<Vec<u64>>());
    assert_eq!(usage(&store, &tenant, &both.id, &period).await, 4);
    let first: HashMap<String, ConsumeOutcome> = answers
        .iter()
        .chain(of(&receipts).iter())
        .filter_map(|(r, o)| r.receipt.clone().map(|k| (k, *o)))
        .collect();
    for (req, _) in answers.iter().chain(of(&receipts).iter()) {
        let original = first[req.receipt.as_deref().unwrap_or_default()];
        let replay = consume(&store, req).await;
        match original {
            ConsumeOutcome::Accepted { .. } => assert_eq!(
                replay, original,
                "a replay of an accepted receipt answers its first outcome"
            ),
            _ => assert!(
                !matches!(replay, ConsumeOutcome::Accepted { .. }),
                "a receipt refused in the batch is still refused, got {replay:?}"
            ),
        }
    }
    assert_eq!(usage(&store, &tenant, &both.id, &period).await, 4);
    assert_eq!(usage(&store, &tenant, &receipts.id, &period).await, 10);
}

/// Two store instances on one database (two processes) consume for the same
/// customers at once, with limits, rate windows and receipts: no deadlock, no
/// error, and the totals are exact.
pub async fn consume_exact_across_two_stores(a: Stores, b: Stores) {
    let (tenant, _) = new_tenants(&a).await;
    let mut customers = Vec::new();
    // Five customers: request k goes to store k % 2, so one customer's calls
    // alternate between the stores round by round.
    for i in 0..5 {
        let c = customer(&tenant, None, t0());
        insert_customer(&a, &c, "shared customer").await;
        customers.push((c, 20 + 10 * i as u64));
    }
    let now = at(180);
    let period = Period::calendar_month(now);
    let mut requests = Vec::new();
    for round in 0..40 {
        for (i, (c, limit)) in customers.iter().enumerate() {
            // Customers 0 and 1 also have a rate window of 30 per minute; 2 and 3
            // send receipts, each retried once through the other store.
            let rate = (i < 2).then_some(30);
            let mut req = request(&tenant, &c.id, 1, UsageLimit::Limited(*limit), rate, now);
            if (2..4).contains(&i) {
                req.receipt = Some(format!("r-{i}-{}", round / 2));
            }
            requests.push(req);
        }
    }
    let outcomes = all_at_once(&[a.clone(), b.clone()], requests.clone()).await;
    for (i, (c, limit)) in customers.iter().enumerate() {
        let outs: Vec<ConsumeOutcome> = requests
            .iter()
            .zip(&outcomes)
            .filter(|(r, _)| r.customer == c.id)
            .map(|(_, o)| *o)
            .collect();
        let calls = if (2..4).contains(&i) { 20 } else { 40 };
        let expected = if i < 2 {
            30.min(*limit)
        } else {
            calls.min(*limit)
        };
        let mut used = accepted_used(&outs);
        if (2..4).contains(&i) {
            // Each receipt's two answers are one count, replayed.
            used.dedup();
        }
        assert_eq!(
            used,
            (1..=expected).collect::<Vec<u64>>(),
            "customer {i}: exact counts across two stores"
        );
        for store in [&a, &b] {
            assert_eq!(usage(store, &tenant, &c.id, &period).await, expected);
        }
    }
}
