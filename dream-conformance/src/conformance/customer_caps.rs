//! Per-tenant customer caps: the count and the insert are one decision, so
//! concurrent creations racing for the last slot admit exactly one.

use std::sync::Arc;

use dream_core::{ports::Stores, StoreError};

use super::fixtures::{at, customer, new_tenants};

/// Runs of the race; each must admit exactly one.
const RACES: usize = 100;
/// Concurrent creations per race.
const RACERS: usize = 30;

/// Sequentially: inserts succeed up to the cap, then report "full" and store
/// nothing; the cap is per tenant; uniqueness still wins over the cap.
pub async fn customers_cap_sequential(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    for i in 0..3 {
        let c = customer(&test, Some(&format!("cap-{i}")), at(i));
        assert!(
            store
                .customers
                .insert_customer_capped(&c, 3)
                .await
                .expect("insert"),
            "insert {i} of 3 must fit the cap"
        );
    }
    let over = customer(&test, Some("cap-over"), at(10));
    assert!(
        !store
            .customers
            .insert_customer_capped(&over, 3)
            .await
            .expect("insert"),
        "the 4th insert must report the cap"
    );
    assert_eq!(
        store
            .customers
            .find_customer_by_external_id(&test, "cap-over")
            .await
            .expect("find"),
        None,
        "a refused insert stores nothing"
    );
    let dup = customer(&test, Some("cap-0"), at(11));
    assert!(
        matches!(
            store.customers.insert_customer_capped(&dup, 10).await,
            Err(StoreError::Conflict(_))
        ),
        "a duplicate external id is a Conflict under a cap too"
    );
    let other = customer(&live, Some("cap-0"), at(12));
    assert!(
        store
            .customers
            .insert_customer_capped(&other, 3)
            .await
            .expect("insert"),
        "the cap counts one tenant only"
    );
}

/// 30 concurrent capped inserts for the last slot: exactly one wins, in each of
/// 100 races.
pub async fn customers_cap_last_slot_concurrent(store: Stores) {
    let store = Arc::new(store);
    for race in 0..RACES {
        let (test, _) = new_tenants(&store).await;
        const CAP: u64 = 5;
        for i in 0..CAP - 1 {
            let c = customer(&test, None, at(i as i64));
            assert!(store
                .customers
                .insert_customer_capped(&c, CAP)
                .await
                .expect("fill"));
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let (store, barrier) = (store.clone(), barrier.clone());
                let c = customer(&test, None, at(100 + i as i64));
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .customers
                        .insert_customer_capped(&c, CAP)
                        .await
                        .expect("capped insert")
                })
            })
            .collect();
        let mut winners = 0;
        for handle in handles {
            winners += usize::from(handle.await.expect("racer"));
        }
        assert_eq!(
            winners, 1,
            "race {race}: {winners} inserts took the last slot"
        );
        let counts = store.customers.plan_counts(&test).await.expect("counts");
        assert_eq!(
            counts.values().sum::<u64>(),
            CAP,
            "race {race}: the tenant must hold exactly the cap"
        );
    }
}
