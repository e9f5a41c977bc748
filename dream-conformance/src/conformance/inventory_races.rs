//! Inventory under concurrency: exactly as many reservations as units, one winner
//! per last unit, one settlement per reservation.

use std::sync::Arc;

use dream_core::{ports::Stores, ReservationId, ReserveOutcome};

use super::{
    fixtures::{at, new_tenants},
    inventory::{counted, counts, get, line, moved, request, reserve_new, sold_out},
};

use dream_core::ReservationState::{Active, Committed};

/// `tasks` concurrent tasks (`tokio::spawn`, so run this on a multi-thread
/// runtime) each reserve 1 unit of ONE product with stock `stock`: exactly
/// `min(tasks, stock)` are `Reserved`, the rest `SoldOut` with 0 available, and
/// the counts agree; committing the winners concurrently sells exactly that many.
pub async fn inventory_reserve_is_exact_under_concurrency(store: Stores, tasks: usize, stock: u64) {
    let (test, _) = new_tenants(&store).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks.max(1)));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let id = ReservationId::generate();
            let req = request(
                &test,
                &id,
                vec![line("drop", 1, Some(stock))],
                at(0),
                at(1800),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                (id, store.inventory.reserve_inventory(&req).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut refused = 0u64;
    for handle in handles {
        let (id, outcome) = handle.await.expect("a reserving task panicked");
        match outcome.expect("reserve_inventory must not fail under concurrency") {
            ReserveOutcome::Reserved => winners.push(id),
            ReserveOutcome::SoldOut { product, available } => {
                assert_eq!(
                    (product.as_str(), available),
                    ("drop", 0),
                    "a concurrent reserve of 1 may only be refused once nothing is left"
                );
                refused += 1;
            }
        }
    }
    let expected = (tasks as u64).min(stock);
    assert_eq!(
        winners.len() as u64,
        expected,
        "{tasks} concurrent reserves of 1 against a stock of {stock}: exactly {expected} \
         must be Reserved"
    );
    assert_eq!(refused, tasks as u64 - expected, "every other one SoldOut");
    assert_eq!(
        counts(&store, &test, "drop", at(1)).await,
        counted(0, expected),
        "reserved must equal the number of Reserved answers"
    );
    let commits: Vec<_> = winners
        .into_iter()
        .map(|id| {
            let store = store.clone();
            let test = test.clone();
            tokio::spawn(async move { store.inventory.commit_reservation(&test, &id, at(2)).await })
        })
        .collect();
    for handle in commits {
        let commit = handle
            .await
            .expect("a committing task panicked")
            .expect("commit_reservation must not fail under concurrency");
        assert_eq!(commit.transition, moved(Active, Committed));
    }
    assert_eq!(
        counts(&store, &test, "drop", at(3)).await,
        counted(expected, 0),
        "concurrent commits must sell every reserved unit exactly once"
    );
}

/// Two carts race for the last unit, in several rounds: exactly one gets it.
/// Also two carts that each need the last unit of the same two products, listed
/// in opposite orders (a backend locking in cart order would deadlock here).
pub async fn inventory_last_unit_concurrent_carts(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    for round in 0..8 {
        let last = format!("last-{round}");
        let (p, q) = (format!("p-{round}"), format!("q-{round}"));
        let carts = [
            vec![line(&last, 1, Some(1)), line("sticker", 1, None)],
            vec![line(&last, 1, Some(1))],
            vec![line(&p, 1, Some(1)), line(&q, 1, Some(1))],
            vec![line(&q, 1, Some(1)), line(&p, 1, Some(1))],
        ];
        let barrier = Arc::new(tokio::sync::Barrier::new(carts.len()));
        let handles: Vec<_> = carts
            .iter()
            .map(|lines| {
                let store = store.clone();
                let barrier = barrier.clone();
                let req = request(
                    &test,
                    &ReservationId::generate(),
                    lines.clone(),
                    at(0),
                    at(1800),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.inventory.reserve_inventory(&req).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for handle in handles {
            outcomes.push(
                handle
                    .await
                    .expect("a reserving task panicked")
                    .expect("reserve_inventory must not fail (or deadlock) under concurrency"),
            );
        }
        for (pair, product) in [(0, last.as_str()), (2, p.as_str())] {
            let won: Vec<bool> = outcomes[pair..pair + 2]
                .iter()
                .map(|o| *o == ReserveOutcome::Reserved)
                .collect();
            assert_eq!(
                won.iter().filter(|w| **w).count(),
                1,
                "round {round}: exactly one of two concurrent carts must get the last unit \
                 of {product}; got {:?}",
                &outcomes[pair..pair + 2]
            );
            let loser = pair + usize::from(won[0]);
            let first = carts[loser][0].product.clone();
            assert_eq!(
                outcomes[loser],
                sold_out(&first, 0),
                "round {round}: the losing cart is refused for its first line"
            );
        }
        for product in [&last, &p, &q] {
            assert_eq!(
                counts(&store, &test, product, at(1)).await,
                counted(0, 1),
                "round {round}: exactly one unit of {product} reserved"
            );
        }
    }
}

/// Concurrent commits and releases of one reservation: exactly one commit
/// settles it (a release may have released it just before; a commit wins in the
/// end, since a paid cart is never lost), every commit reports `Committed`, and
/// the units are sold once.
pub async fn inventory_settle_under_concurrency(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    for round in 0..4 {
        let (id, outcome) = reserve_new(&store, &test, vec![line("seat", 2, Some(100))]).await;
        assert_eq!(outcome, ReserveOutcome::Reserved);
        let tasks = 12;
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                let store = store.clone();
                let barrier = barrier.clone();
                let (test, id) = (test.clone(), id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    if i % 2 == 0 {
                        let commit = store.inventory.commit_reservation(&test, &id, at(10)).await;
                        (true, commit.map(|c| (c.transition, c.sold.len())))
                    } else {
                        let release = store
                            .inventory
                            .release_reservation(&test, &id, at(10))
                            .await;
                        (false, release.map(|t| (t, 0)))
                    }
                })
            })
            .collect();
        let mut commits = Vec::new();
        let mut releases = Vec::new();
        for handle in handles {
            let (is_commit, result) = handle.await.expect("a settling task panicked");
            let settled = result.expect("settling must not fail under concurrency");
            if is_commit {
                commits.push(settled);
            } else {
                releases.push(settled.0);
            }
        }
        let selling: Vec<_> = commits.iter().filter(|(t, _)| t.changed()).collect();
        assert_eq!(
            selling.len(),
            1,
            "round {round}: exactly one concurrent commit may sell a reservation; got {commits:?}"
        );
        assert_eq!(
            selling[0].1, 1,
            "round {round}: the selling commit reports its one product"
        );
        assert!(
            commits.iter().all(|(t, _)| t.after == Committed),
            "round {round}: every commit must end committed; got {commits:?}"
        );
        assert!(
            releases.iter().filter(|t| t.changed()).count() <= 1,
            "round {round}: at most one release may release it; got {releases:?}"
        );
        assert_eq!(
            get(&store, &test, &id).await.map(|r| r.state),
            Some(Committed)
        );
    }
    assert_eq!(
        counts(&store, &test, "seat", at(11)).await,
        counted(8, 0),
        "sold counts each reservation once, nothing stays reserved"
    );
}
