//! Inventory reservations: reserve, commit, release, counts, expiry, isolation.
//! The races are in `inventory_races`.

use chrono::{DateTime, Utc};

use dream_core::{
    ports::Stores, InventoryCounts, ProductSold, Reservation, ReservationCommit, ReservationId,
    ReservationLine, ReservationState, ReservationTransition, ReserveOutcome, ReserveRequest,
    StoreError, Tenant,
};

use super::fixtures::{at, new_tenants};

use ReservationState::{Active, Committed, Released};

pub(super) fn line(product: &str, quantity: u64, stock: Option<u64>) -> ReservationLine {
    ReservationLine {
        product: product.into(),
        quantity,
        stock,
    }
}

pub(super) fn request(
    tenant: &Tenant,
    id: &ReservationId,
    lines: Vec<ReservationLine>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> ReserveRequest {
    ReserveRequest {
        tenant: tenant.clone(),
        reservation: id.clone(),
        lines,
        expires_at,
        now,
    }
}

/// Reserves a cart under a fresh id at `at(0)`, expiring at `at(1800)`.
pub(super) async fn reserve_new(
    store: &Stores,
    tenant: &Tenant,
    lines: Vec<ReservationLine>,
) -> (ReservationId, ReserveOutcome) {
    let id = ReservationId::generate();
    let outcome = reserve(store, &request(tenant, &id, lines, at(0), at(1800))).await;
    (id, outcome)
}

async fn reserve(store: &Stores, req: &ReserveRequest) -> ReserveOutcome {
    store
        .inventory
        .reserve_inventory(req)
        .await
        .unwrap_or_else(|e| panic!("reserve_inventory({req:?}) failed: {e:?}"))
}

pub(super) async fn counts(
    store: &Stores,
    tenant: &Tenant,
    product: &str,
    now: DateTime<Utc>,
) -> InventoryCounts {
    store
        .inventory
        .inventory_counts(tenant, product, now)
        .await
        .unwrap_or_else(|e| panic!("inventory_counts({product}) failed: {e:?}"))
}

async fn commit(
    store: &Stores,
    tenant: &Tenant,
    id: &ReservationId,
    now: DateTime<Utc>,
) -> ReservationTransition {
    commit_reporting(store, tenant, id, now).await.transition
}

pub(super) async fn commit_reporting(
    store: &Stores,
    tenant: &Tenant,
    id: &ReservationId,
    now: DateTime<Utc>,
) -> ReservationCommit {
    store
        .inventory
        .commit_reservation(tenant, id, now)
        .await
        .unwrap_or_else(|e| panic!("commit_reservation({id}) failed: {e:?}"))
}

async fn release(
    store: &Stores,
    tenant: &Tenant,
    id: &ReservationId,
    now: DateTime<Utc>,
) -> ReservationTransition {
    store
        .inventory
        .release_reservation(tenant, id, now)
        .await
        .unwrap_or_else(|e| panic!("release_reservation({id}) failed: {e:?}"))
}

pub(super) async fn get(
    store: &Stores,
    tenant: &Tenant,
    id: &ReservationId,
) -> Option<Reservation> {
    store
        .inventory
        .get_reservation(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("get_reservation({id}) failed: {e:?}"))
}

pub(super) fn counted(sold: u64, reserved: u64) -> InventoryCounts {
    InventoryCounts { sold, reserved }
}

pub(super) fn sold_out(product: &str, available: u64) -> ReserveOutcome {
    ReserveOutcome::SoldOut {
        product: product.into(),
        available,
    }
}

pub(super) fn moved(before: ReservationState, after: ReservationState) -> ReservationTransition {
    ReservationTransition { before, after }
}

/// Reserve → counts → commit → counts; the stored record round-trips (lines,
/// state, created, expiry, settled time); a product never reserved counts zero;
/// sold units never expire.
pub async fn inventory_reserve_commit_counts(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    assert_eq!(
        counts(store, &test, "poster", at(0)).await,
        counted(0, 0),
        "a product never reserved has nothing sold or reserved"
    );
    let id = ReservationId::generate();
    let lines = vec![line("poster", 2, Some(5))];
    assert_eq!(
        reserve(store, &request(&test, &id, lines.clone(), at(0), at(1800))).await,
        ReserveOutcome::Reserved,
        "2 of 5 must be reserved"
    );
    assert_eq!(
        counts(store, &test, "poster", at(1)).await,
        counted(0, 2),
        "an active reservation counts as reserved"
    );
    let expected = Reservation {
        id: id.clone(),
        tenant: test.clone(),
        lines,
        state: Active,
        created_at: at(0),
        expires_at: at(1800),
        settled_at: None,
    };
    assert_eq!(
        get(store, &test, &id).await,
        Some(expected.clone()),
        "get_reservation must return the reservation as recorded"
    );
    assert_eq!(
        commit(store, &test, &id, at(10)).await,
        moved(Active, Committed),
        "committing an active reservation"
    );
    assert_eq!(
        counts(store, &test, "poster", at(11)).await,
        counted(2, 0),
        "a commit moves the units from reserved to sold"
    );
    assert_eq!(
        get(store, &test, &id).await,
        Some(Reservation {
            state: Committed,
            settled_at: Some(at(10)),
            ..expected
        }),
        "a committed reservation keeps its lines and records when it was settled"
    );
    assert_eq!(
        counts(store, &test, "poster", at(100_000)).await,
        counted(2, 0),
        "sold units never expire"
    );
}

/// A cart that does not fit answers `SoldOut` with the units still available and
/// records nothing (its id stays free); sold and reserved units both count
/// against the stock; a stock lowered below what is sold leaves 0 available.
pub async fn inventory_sold_out_reports_available(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let (r1, outcome) = reserve_new(store, &test, vec![line("poster", 3, Some(5))]).await;
    assert_eq!(outcome, ReserveOutcome::Reserved, "3 of 5");

    let r2 = ReservationId::generate();
    assert_eq!(
        reserve(
            store,
            &request(
                &test,
                &r2,
                vec![line("poster", 3, Some(5))],
                at(1),
                at(1800)
            )
        )
        .await,
        sold_out("poster", 2),
        "3 more with 2 left must be SoldOut with available = 2"
    );
    assert_eq!(
        get(store, &test, &r2).await,
        None,
        "a refused reservation must not be recorded"
    );
    assert_eq!(
        counts(store, &test, "poster", at(1)).await,
        counted(0, 3),
        "a refusal must not change the counts"
    );
    assert_eq!(
        reserve(
            store,
            &request(
                &test,
                &r2,
                vec![line("poster", 2, Some(5))],
                at(2),
                at(1800)
            )
        )
        .await,
        ReserveOutcome::Reserved,
        "the id of a refused reservation is still free, and 2 of 2 left fit"
    );
    let (_, outcome) = reserve_new(store, &test, vec![line("poster", 1, Some(5))]).await;
    assert_eq!(outcome, sold_out("poster", 0), "nothing left");

    assert_eq!(
        commit(store, &test, &r1, at(3)).await,
        moved(Active, Committed)
    );
    let (_, outcome) = reserve_new(store, &test, vec![line("poster", 1, Some(5))]).await;
    assert_eq!(
        outcome,
        sold_out("poster", 0),
        "sold units count against the stock like reserved ones"
    );
    assert_eq!(
        release(store, &test, &r2, at(4)).await,
        moved(Active, Released)
    );
    assert_eq!(
        counts(store, &test, "poster", at(4)).await,
        counted(3, 0),
        "a release frees its units at once"
    );
    let (_, outcome) = reserve_new(store, &test, vec![line("poster", 3, Some(5))]).await;
    assert_eq!(outcome, sold_out("poster", 2), "5 − 3 sold = 2 available");
    let (_, outcome) = reserve_new(store, &test, vec![line("poster", 1, Some(2))]).await;
    assert_eq!(
        outcome,
        sold_out("poster", 0),
        "a stock lowered below what is sold leaves 0 available, never an underflow"
    );
    let (_, outcome) = reserve_new(store, &test, vec![line("poster", 2, Some(5))]).await;
    assert_eq!(outcome, ReserveOutcome::Reserved, "the last 2 of 5");
    assert_eq!(counts(store, &test, "poster", at(5)).await, counted(3, 2));
}

/// A multi-line cart is all or nothing, and a refusal names the first product in
/// cart order that does not fit.
pub async fn inventory_carts_all_or_nothing(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let (a, b, c) = (Some(2), Some(1), None);
    let (r, outcome) = reserve_new(
        store,
        &test,
        vec![line("a", 1, a), line("b", 2, b), line("c", 1, c)],
    )
    .await;
    assert_eq!(outcome, sold_out("b", 1), "b has 1 of the 2 wanted");
    assert_eq!(get(store, &test, &r).await, None, "nothing recorded");
    for product in ["a", "b", "c"] {
        assert_eq!(
            counts(store, &test, product, at(1)).await,
            counted(0, 0),
            "a refused cart must reserve none of its lines ({product})"
        );
    }
    let (_, outcome) = reserve_new(store, &test, vec![line("a", 3, a), line("b", 2, b)]).await;
    assert_eq!(
        outcome,
        sold_out("a", 2),
        "both lines are short: the first in cart order is reported"
    );
    let (_, outcome) = reserve_new(store, &test, vec![line("b", 2, b), line("a", 3, a)]).await;
    assert_eq!(
        outcome,
        sold_out("b", 1),
        "both lines are short: the first in cart order is reported"
    );
    let (r, outcome) = reserve_new(
        store,
        &test,
        vec![line("a", 2, a), line("b", 1, b), line("c", 5, c)],
    )
    .await;
    assert_eq!(outcome, ReserveOutcome::Reserved, "every line fits exactly");
    assert_eq!(counts(store, &test, "a", at(1)).await, counted(0, 2));
    assert_eq!(counts(store, &test, "b", at(1)).await, counted(0, 1));
    assert_eq!(
        counts(store, &test, "c", at(1)).await,
        counted(0, 5),
        "units of unlimited products are counted too"
    );
    let (_, outcome) = reserve_new(store, &test, vec![line("c", 1, c), line("a", 1, a)]).await;
    assert_eq!(outcome, sold_out("a", 0));
    assert_eq!(
        counts(store, &test, "c", at(1)).await,
        counted(0, 5),
        "the unlimited line of a refused cart must not be reserved"
    );
    assert_eq!(
        commit(store, &test, &r, at(2)).await,
        moved(Active, Committed)
    );
    for (product, sold) in [("a", 2), ("b", 1), ("c", 5)] {
        assert_eq!(
            counts(store, &test, product, at(3)).await,
            counted(sold, 0),
            "a commit sells every line of the cart ({product})"
        );
    }
}

/// Lines naming the same product count together; the record keeps the lines as
/// given.
pub async fn inventory_duplicate_lines_count_together(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let (_, outcome) = reserve_new(
        store,
        &test,
        vec![line("x", 2, Some(3)), line("x", 2, Some(3))],
    )
    .await;
    assert_eq!(
        outcome,
        sold_out("x", 3),
        "2 + 2 of the same product against a stock of 3 must be refused"
    );
    let lines = vec![
        line("x", 2, Some(3)),
        line("y", 1, None),
        line("x", 1, Some(3)),
    ];
    let (r, outcome) = reserve_new(store, &test, lines.clone()).await;
    assert_eq!(outcome, ReserveOutcome::Reserved, "2 + 1 of 3 fit");
    assert_eq!(counts(store, &test, "x", at(1)).await, counted(0, 3));
    assert_eq!(
        get(store, &test, &r).await.map(|r| r.lines),
        Some(lines),
        "the record keeps the lines as given, in order"
    );
    let (_, outcome) = reserve_new(store, &test, vec![line("x", 1, Some(3))]).await;
    assert_eq!(outcome, sold_out("x", 0));
    assert_eq!(
        commit(store, &test, &r, at(2)).await,
        moved(Active, Committed)
    );
    assert_eq!(
        counts(store, &test, "x", at(3)).await,
        counted(3, 0),
        "both lines are sold"
    );
}

/// A product without a stock never sells out, whatever the quantities; a stock of
/// 0 refuses everything.
pub async fn inventory_unlimited_never_sells_out(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let mut ids = Vec::new();
    let mut total = 0;
    for quantity in [1, 1_000, 1_000_000, 7, 1] {
        let (id, outcome) = reserve_new(store, &test, vec![line("ebook", quantity, None)]).await;
        assert_eq!(
            outcome,
            ReserveOutcome::Reserved,
            "unlimited stock must accept {quantity}"
        );
        total += quantity;
        ids.push(id);
    }
    assert_eq!(
        counts(store, &test, "ebook", at(1)).await,
        counted(0, total)
    );
    assert_eq!(
        commit(store, &test, &ids[2], at(2)).await,
        moved(Active, Committed)
    );
    assert_eq!(
        counts(store, &test, "ebook", at(3)).await,
        counted(1_000_000, total - 1_000_000)
    );
    let (_, outcome) = reserve_new(store, &test, vec![line("ebook", 5, None)]).await;
    assert_eq!(outcome, ReserveOutcome::Reserved, "still unlimited");
    let (_, outcome) = reserve_new(store, &test, vec![line("nothing", 1, Some(0))]).await;
    assert_eq!(
        outcome,
        sold_out("nothing", 0),
        "a stock of 0 sells nothing"
    );
}

/// A reservation holds its units while `now < expires_at` and not from
/// `expires_at` on, without anything running; it stays `Active`, and a late
/// commit still sells it; releasing an expired reservation releases it.
pub async fn inventory_expiry_frees_stock(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let item = |n| vec![line("item", n, Some(1))];
    let r1 = ReservationId::generate();
    assert_eq!(
        reserve(store, &request(&test, &r1, item(1), at(0), at(60))).await,
        ReserveOutcome::Reserved
    );
    let r2 = ReservationId::generate();
    assert_eq!(
        reserve(store, &request(&test, &r2, item(1), at(30), at(120))).await,
        sold_out("item", 0),
        "the only unit is held until the reservation expires"
    );
    assert_eq!(
        counts(store, &test, "item", at(59)).await,
        counted(0, 1),
        "held one second before expiry"
    );
    assert_eq!(
        counts(store, &test, "item", at(60)).await,
        counted(0, 0),
        "no longer held at expires_at"
    );
    assert_eq!(
        reserve(store, &request(&test, &r2, item(1), at(60), at(120))).await,
        ReserveOutcome::Reserved,
        "an expired reservation frees its units for the next buyer"
    );
    assert_eq!(counts(store, &test, "item", at(60)).await, counted(0, 1));
    assert_eq!(
        get(store, &test, &r1).await.map(|r| r.state),
        Some(Active),
        "expiry is lazy: the reservation stays active until settled"
    );
    assert_eq!(
        reserve(
            store,
            &request(&test, &ReservationId::generate(), item(1), at(90), at(150))
        )
        .await,
        sold_out("item", 0)
    );
    assert_eq!(
        commit(store, &test, &r1, at(100)).await,
        moved(Active, Committed),
        "a late commit of an expired reservation still sells it (the buyer paid)"
    );
    assert_eq!(
        counts(store, &test, "item", at(100)).await,
        counted(1, 1),
        "the late commit is sold, the next buyer's reservation still held"
    );
    assert_eq!(
        reserve(
            store,
            &request(&test, &ReservationId::generate(), item(1), at(130), at(200))
        )
        .await,
        sold_out("item", 0),
        "oversold stock leaves 0 available"
    );
    assert_eq!(
        release(store, &test, &r2, at(130)).await,
        moved(Active, Released),
        "releasing an expired reservation"
    );
    assert_eq!(counts(store, &test, "item", at(130)).await, counted(1, 0));
}

/// Commit and release move an active reservation once; repeats and a release of
/// a committed reservation change nothing and say so; a commit of a released
/// reservation sells it (a payment is never lost); unknown ids are `NotFound`.
pub async fn inventory_commit_release_state_machine(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let kit = |n| vec![line("kit", n, Some(10))];
    let (ra, _) = reserve_new(store, &test, kit(2)).await;
    let (rb, _) = reserve_new(store, &test, kit(3)).await;
    let [rc, rd] = [ReservationId::generate(), ReservationId::generate()];
    for id in [&rc, &rd] {
        assert_eq!(
            reserve(store, &request(&test, id, kit(1), at(0), at(60))).await,
            ReserveOutcome::Reserved
        );
    }
    assert_eq!(counts(store, &test, "kit", at(1)).await, counted(0, 7));

    assert_eq!(
        commit(store, &test, &ra, at(10)).await,
        moved(Active, Committed)
    );
    assert_eq!(
        commit(store, &test, &ra, at(20)).await,
        moved(Committed, Committed),
        "a repeated commit is a no-op reported as already committed"
    );
    assert_eq!(
        release(store, &test, &ra, at(30)).await,
        moved(Committed, Committed),
        "releasing a committed reservation changes nothing"
    );
    let a = get(store, &test, &ra).await.expect("ra exists");
    assert_eq!(
        (a.state, a.settled_at),
        (Committed, Some(at(10))),
        "no-op repeats must not move settled_at"
    );
    assert_eq!(
        counts(store, &test, "kit", at(30)).await,
        counted(2, 5),
        "a commit sells once however often it is repeated"
    );

    assert_eq!(
        release(store, &test, &rb, at(40)).await,
        moved(Active, Released)
    );
    assert_eq!(
        release(store, &test, &rb, at(41)).await,
        moved(Released, Released),
        "a repeated release is a no-op"
    );
    assert_eq!(
        counts(store, &test, "kit", at(41)).await,
        counted(2, 2),
        "a released reservation is neither sold nor reserved"
    );
    assert_eq!(
        commit(store, &test, &rb, at(42)).await,
        moved(Released, Committed),
        "committing a released reservation sells it after all (the buyer paid)"
    );
    assert_eq!(
        release(store, &test, &rb, at(43)).await,
        moved(Committed, Committed),
        "a release after the late commit changes nothing"
    );
    let b = get(store, &test, &rb).await.expect("rb exists");
    assert_eq!((b.state, b.settled_at), (Committed, Some(at(42))));
    assert_eq!(
        counts(store, &test, "kit", at(43)).await,
        counted(5, 2),
        "the late commit of a released reservation counts as sold, once"
    );

    assert_eq!(
        commit(store, &test, &rc, at(100)).await,
        moved(Active, Committed),
        "an expired but unreleased reservation can still be committed"
    );
    assert_eq!(
        release(store, &test, &rd, at(100)).await,
        moved(Active, Released)
    );
    assert_eq!(counts(store, &test, "kit", at(100)).await, counted(6, 0));

    let unknown = ReservationId::generate();
    assert!(
        matches!(
            store
                .inventory
                .commit_reservation(&test, &unknown, at(100))
                .await,
            Err(StoreError::NotFound)
        ),
        "committing an unknown reservation must be NotFound"
    );
    assert!(
        matches!(
            store
                .inventory
                .release_reservation(&test, &unknown, at(100))
                .await,
            Err(StoreError::NotFound)
        ),
        "releasing an unknown reservation must be NotFound"
    );
    assert_eq!(get(store, &test, &unknown).await, None);
}

/// Reusing a reservation id of the tenant is `Conflict`, in any state and even
/// when the cart would not fit; the original reservation is untouched.
pub async fn inventory_duplicate_id_conflicts(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let ticket = |n| vec![line("ticket", n, Some(2))];
    let (r, outcome) = reserve_new(store, &test, ticket(1)).await;
    assert_eq!(outcome, ReserveOutcome::Reserved);
    let conflict = |req: ReserveRequest, what: &'static str| async move {
        let result = store.inventory.reserve_inventory(&req).await;
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "{what}: must be Conflict, got {result:?}"
        );
    };
    conflict(
        request(&test, &r, ticket(1), at(1), at(1800)),
        "the same id again",
    )
    .await;
    conflict(
        request(&test, &r, ticket(5), at(1), at(1800)),
        "the same id with a cart that does not fit",
    )
    .await;
    assert_eq!(
        counts(store, &test, "ticket", at(1)).await,
        counted(0, 1),
        "a conflicting reserve must not change the counts"
    );
    assert_eq!(
        commit(store, &test, &r, at(2)).await,
        moved(Active, Committed)
    );
    conflict(
        request(&test, &r, ticket(1), at(3), at(1800)),
        "the id of a committed reservation",
    )
    .await;
    let stored = get(store, &test, &r).await.expect("the reservation exists");
    assert_eq!(
        (stored.lines, stored.state, stored.created_at),
        (ticket(1), Committed, at(0)),
        "a conflicting reserve must leave the original reservation as it was"
    );
    assert_eq!(counts(store, &test, "ticket", at(3)).await, counted(1, 0));
}

/// Test and live of one platform, and another platform, have separate stock,
/// reservations and counts; a foreign reservation id is as if missing.
pub async fn inventory_tenant_isolation(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (other, _) = new_tenants(store).await;
    let item = || vec![line("item", 1, Some(1))];
    let (id, outcome) = reserve_new(store, &test, item()).await;
    assert_eq!(outcome, ReserveOutcome::Reserved);
    let (_, outcome) = reserve_new(store, &live, item()).await;
    assert_eq!(
        outcome,
        ReserveOutcome::Reserved,
        "live has its own stock of the same product name"
    );
    assert_eq!(
        reserve(store, &request(&other, &id, item(), at(0), at(1800))).await,
        ReserveOutcome::Reserved,
        "another platform's reservation id is as if missing (not a Conflict)"
    );
    for tenant in [&test, &live, &other] {
        assert_eq!(
            counts(store, tenant, "item", at(1)).await,
            counted(0, 1),
            "counts are per tenant"
        );
    }
    assert_eq!(
        get(store, &live, &id).await,
        None,
        "another mode must not see the reservation"
    );
    assert!(
        matches!(
            store.inventory.commit_reservation(&live, &id, at(2)).await,
            Err(StoreError::NotFound)
        ),
        "committing another mode's reservation must be NotFound"
    );
    assert!(
        matches!(
            store.inventory.release_reservation(&live, &id, at(2)).await,
            Err(StoreError::NotFound)
        ),
        "releasing another mode's reservation must be NotFound"
    );
    assert_eq!(
        commit(store, &other, &id, at(3)).await,
        moved(Active, Committed),
        "the other platform's reservation with the same id is its own"
    );
    assert_eq!(
        get(store, &test, &id).await.map(|r| r.state),
        Some(Active),
        "settling another tenant's reservation must not touch this one"
    );
    assert_eq!(counts(store, &test, "item", at(3)).await, counted(0, 1));
    assert_eq!(counts(store, &other, "item", at(3)).await, counted(1, 0));
    assert_eq!(
        release(store, &test, &id, at(4)).await,
        moved(Active, Released)
    );
    assert_eq!(
        get(store, &other, &id).await.map(|r| r.state),
        Some(Committed)
    );
}

/// A commit reports each product it sold with the total sold after it: a late
/// commit of an expired reservation whose units were sold again meanwhile, and a
/// commit of a released one, push `sold` over the stock and say so; a repeat
/// reports nothing sold; an unlimited product reports no stock.
pub async fn inventory_late_commit_reports_oversold(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let lamp = |n| line("lamp", n, Some(2));
    let early = ReservationId::generate();
    assert_eq!(
        reserve(
            store,
            &request(
                &test,
                &early,
                vec![lamp(2), line("cord", 1, None)],
                at(0),
                at(60)
            )
        )
        .await,
        ReserveOutcome::Reserved
    );
    // The hold lapses; another buyer takes both units and pays in time.
    let (later, outcome) = {
        let id = ReservationId::generate();
        let outcome = reserve(store, &request(&test, &id, vec![lamp(2)], at(70), at(200))).await;
        (id, outcome)
    };
    assert_eq!(outcome, ReserveOutcome::Reserved);
    let paid_in_time = commit_reporting(store, &test, &later, at(80)).await;
    assert_eq!(paid_in_time.transition, moved(Active, Committed));
    assert_eq!(
        paid_in_time.sold,
        vec![ProductSold {
            product: "lamp".into(),
            quantity: 2,
            stock: Some(2),
            sold: 2
        }],
        "a commit reports the units it sold and the total after it"
    );
    assert_eq!(paid_in_time.sold[0].oversold_by(Some(2)), None);

    let late = commit_reporting(store, &test, &early, at(90)).await;
    assert_eq!(
        late.transition,
        moved(Active, Committed),
        "a late commit is never refused"
    );
    let lamp_sold = late
        .sold
        .iter()
        .find(|p| p.product == "lamp")
        .unwrap_or_else(|| panic!("the late commit must report the lamp: {late:?}"));
    assert_eq!(
        (lamp_sold.quantity, lamp_sold.stock, lamp_sold.sold),
        (2, Some(2), 4),
        "the late commit pushes sold to 4 of a stock of 2 and must say so"
    );
    assert_eq!(lamp_sold.oversold_by(Some(2)), Some(2));
    let cord = late
        .sold
        .iter()
        .find(|p| p.product == "cord")
        .unwrap_or_else(|| panic!("the late commit must report the cord: {late:?}"));
    assert_eq!((cord.stock, cord.sold), (None, 1));
    assert_eq!(counts(store, &test, "lamp", at(90)).await, counted(4, 0));

    let repeat = commit_reporting(store, &test, &early, at(95)).await;
    assert_eq!(repeat.transition, moved(Committed, Committed));
    assert!(repeat.sold.is_empty(), "a repeated commit sells nothing");

    let (released, _) = {
        let id = ReservationId::generate();
        let outcome = reserve(
            store,
            &request(&test, &id, vec![line("bulb", 1, Some(1))], at(0), at(500)),
        )
        .await;
        (id, outcome)
    };
    assert_eq!(
        release(store, &test, &released, at(10)).await,
        moved(Active, Released)
    );
    let (resold, _) = reserve_new(store, &test, vec![line("bulb", 1, Some(1))]).await;
    assert_eq!(
        commit(store, &test, &resold, at(20)).await,
        moved(Active, Committed)
    );
    let paid_after_release = commit_reporting(store, &test, &released, at(30)).await;
    assert_eq!(paid_after_release.transition, moved(Released, Committed));
    assert_eq!(
        paid_after_release
            .sold
            .iter()
            .map(|p| (p.product.as_str(), p.sold, p.oversold_by(p.stock)))
            .collect::<Vec<_>>(),
        vec![("bulb", 2, Some(1))],
        "a payment for a released reservation is recorded and reported as oversold"
    );
}

/// The expiry sweep releases active reservations whose `expires_at <= now`,
/// earliest first and at most `limit` per call, across tenants; it leaves
/// unexpired, committed and released ones alone and changes no count; a commit
/// arriving after the sweep still sells the reservation.
pub async fn inventory_release_expired_reservations(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    // Far in the past, so reservations of other tests on a shared database (all
    // near `at(0)`) are not among the earliest.
    let ancient = |s: i64| at(-1_000_000_000 + s);
    let mut expiring = vec![];
    for (i, tenant) in [&test, &live, &test].into_iter().enumerate() {
        let id = ReservationId::generate();
        let expires = ancient(10 * (i as i64 + 1));
        assert_eq!(
            reserve(
                store,
                &request(
                    tenant,
                    &id,
                    vec![line("pen", 1, Some(10))],
                    ancient(0),
                    expires
                )
            )
            .await,
            ReserveOutcome::Reserved
        );
        expiring.push((tenant.clone(), id));
    }
    let open = ReservationId::generate();
    assert_eq!(
        reserve(
            store,
            &request(
                &test,
                &open,
                vec![line("pen", 1, Some(10))],
                ancient(0),
                at(10_000)
            )
        )
        .await,
        ReserveOutcome::Reserved
    );
    let paid = ReservationId::generate();
    assert_eq!(
        reserve(
            store,
            &request(
                &test,
                &paid,
                vec![line("pen", 2, Some(10))],
                ancient(0),
                ancient(5)
            )
        )
        .await,
        ReserveOutcome::Reserved
    );
    assert_eq!(
        commit(store, &test, &paid, ancient(1)).await,
        moved(Active, Committed)
    );
    let before = counts(store, &test, "pen", ancient(25)).await;
    assert_eq!(
        before,
        counted(2, 2),
        "2 sold; the third reservation and the open one held"
    );

    let sweep = |limit| async move {
        store
            .inventory
            .release_expired_reservations(ancient(25), limit)
            .await
            .unwrap_or_else(|e| panic!("release_expired_reservations failed: {e:?}"))
    };
    assert_eq!(sweep(1).await, 1, "at most `limit` reservations per call");
    let state = |tenant: &Tenant, id: &ReservationId| {
        let (tenant, id) = (tenant.clone(), id.clone());
        async move {
            get(store, &tenant, &id)
                .await
                .map(|r| (r.state, r.settled_at))
        }
    };
    assert_eq!(
        state(&expiring[0].0, &expiring[0].1).await,
        Some((Released, Some(ancient(25)))),
        "the earliest expiry goes first and is released at `now`"
    );
    assert_eq!(
        state(&expiring[1].0, &expiring[1].1).await.map(|s| s.0),
        Some(Active)
    );
    assert_eq!(
        sweep(10).await,
        1,
        "only the other reservation expired by now"
    );
    assert_eq!(
        state(&expiring[1].0, &expiring[1].1).await.map(|s| s.0),
        Some(Released),
        "the sweep works across tenants"
    );
    assert_eq!(
        state(&expiring[2].0, &expiring[2].1).await.map(|s| s.0),
        Some(Active),
        "a reservation expiring after `now` is left alone"
    );
    assert_eq!(sweep(10).await, 0, "nothing more is expired");
    assert_eq!(state(&test, &open).await.map(|s| s.0), Some(Active));
    assert_eq!(state(&test, &paid).await.map(|s| s.0), Some(Committed));
    assert_eq!(
        counts(store, &test, "pen", ancient(25)).await,
        before,
        "the sweep changes no count"
    );
    assert_eq!(
        commit(store, &expiring[0].0, &expiring[0].1, ancient(30)).await,
        moved(Released, Committed),
        "a payment after the sweep still sells the reservation"
    );
    assert_eq!(
        counts(store, &test, "pen", ancient(30)).await,
        counted(3, 1)
    );
}
