//! Subscription states: round trip, staleness by `as_of`, the plan change that
//! goes with an apply, tenant isolation, deleted customers, and concurrent applies.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};

use dream_core::{
    ports::Stores, Customer, CustomerId, Event, EventKind, PageRequest, StoreError,
    SubscriptionApply, SubscriptionState, SubscriptionStatus, Tenant,
};

use super::fixtures::{at, customer, insert_customer, new_tenants, t0};

/// A state with every optional field set, as of `at(as_of_secs)`. The period
/// times carry microseconds, so a backend that stores whole seconds fails.
pub(super) fn full_state(as_of_secs: i64) -> SubscriptionState {
    SubscriptionState {
        subscription_id: format!("sub_full{as_of_secs}"),
        provider_customer_id: Some("cus_Ada✓".into()),
        status: SubscriptionStatus::PastDue,
        tier: Some("pro".into()),
        current_period_start: Some(t0() - Duration::days(3) + Duration::microseconds(1)),
        current_period_end: Some(t0() + Duration::days(27) + Duration::microseconds(999_999)),
        cancel_at_period_end: true,
        // Beyond 32 bits: a backend that stores an INTEGER of 4 bytes fails.
        mrr_minor: 12_345_678_901,
        currency: Some("eur".into()),
        as_of: at(as_of_secs),
    }
}

/// A state with every optional field `None`, as of `at(as_of_secs)`.
fn bare_state(as_of_secs: i64) -> SubscriptionState {
    SubscriptionState {
        subscription_id: format!("sub_bare{as_of_secs}"),
        provider_customer_id: None,
        status: SubscriptionStatus::Incomplete,
        tier: None,
        current_period_start: None,
        current_period_end: None,
        cancel_at_period_end: false,
        mrr_minor: 0,
        currency: None,
        as_of: at(as_of_secs),
    }
}

async fn apply(
    store: &Stores,
    tenant: &Tenant,
    customer: &CustomerId,
    state: &SubscriptionState,
    plan: Option<&str>,
    now: DateTime<Utc>,
) -> SubscriptionApply {
    store
        .subscriptions
        .apply_subscription_state(tenant, customer, state, plan, now, &no_events)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "apply_subscription_state({tenant}, {customer}, as_of {}, plan {plan:?}) \
                 failed: {e:?}",
                state.as_of
            )
        })
}

/// For applies whose events a behaviour does not look at.
pub(super) fn no_events(_previous_plan: &str) -> Vec<Event> {
    vec![]
}

async fn get(store: &Stores, tenant: &Tenant, customer: &CustomerId) -> Option<SubscriptionState> {
    store
        .subscriptions
        .get_subscription_state(tenant, customer)
        .await
        .unwrap_or_else(|e| panic!("get_subscription_state({tenant}, {customer}) failed: {e:?}"))
}

async fn stored_customer(store: &Stores, tenant: &Tenant, id: &CustomerId) -> Customer {
    store
        .customers
        .get_customer(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("get_customer({tenant}, {id}) failed: {e:?}"))
        .unwrap_or_else(|| panic!("customer {id} of {tenant} must still exist"))
}

/// A stored customer of `tenant` on plan `free`, created at `t0`.
async fn new_customer(store: &Stores, tenant: &Tenant) -> Customer {
    let c = customer(tenant, None, t0());
    insert_customer(store, &c, "subscription fixture").await;
    c
}

fn applied(previous_plan: &str) -> SubscriptionApply {
    SubscriptionApply::Applied {
        previous_plan: previous_plan.into(),
    }
}

/// Every field round-trips exactly, `None`s included (a later state with `None`s
/// replaces one with values rather than keeping them), and so does every status.
/// A customer without a state, and an unknown customer, have `None`. An apply
/// without a plan reports the current plan and leaves the customer untouched.
pub async fn subscriptions_round_trip(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let ada = new_customer(store, &test).await;
    let bob = new_customer(store, &test).await;
    assert_eq!(
        get(store, &test, &ada.id).await,
        None,
        "a customer without a subscription state must give None"
    );
    assert_eq!(
        get(store, &test, &CustomerId::generate()).await,
        None,
        "get_subscription_state of an unknown customer must give None"
    );

    let full = full_state(10);
    assert_eq!(
        apply(store, &test, &ada.id, &full, None, at(11)).await,
        applied("free"),
        "the first apply must be Applied with the customer's plan"
    );
    assert_eq!(
        get(store, &test, &ada.id).await,
        Some(full),
        "a state with every field set must round-trip exactly"
    );
    assert_eq!(
        stored_customer(store, &test, &ada.id).await,
        ada,
        "an apply without a plan must leave the customer (plan, updated_at, every field) \
         as it was"
    );
    assert_eq!(
        get(store, &test, &bob.id).await,
        None,
        "a state is stored for its customer only"
    );

    let bare = bare_state(20);
    assert_eq!(
        apply(store, &test, &ada.id, &bare, None, at(21)).await,
        applied("free")
    );
    assert_eq!(
        get(store, &test, &ada.id).await,
        Some(bare),
        "a newer state with None fields must replace every field of the older one, \
         not keep the older values"
    );

    for (i, status) in (30..).zip(SubscriptionStatus::ALL) {
        let state = SubscriptionState {
            status,
            ..full_state(i)
        };
        apply(store, &test, &ada.id, &state, None, at(i)).await;
        assert_eq!(
            get(store, &test, &ada.id).await,
            Some(state),
            "status {} must round-trip",
            status.as_str()
        );
    }
}

/// Applying to a customer that does not exist in the tenant is `NotFound` and
/// stores nothing — also when the id exists in the other mode or on another
/// platform.
pub async fn subscriptions_unknown_customer(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (other, _) = new_tenants(store).await;
    let ada = new_customer(store, &test).await;
    let state = full_state(10);
    let stranger = CustomerId::generate();
    for (tenant, id, what) in [
        (&test, &stranger, "an unknown customer"),
        (
            &live,
            &ada.id,
            "a customer of the test mode, in the live mode",
        ),
        (&other, &ada.id, "a customer of another platform"),
    ] {
        let got = store
            .subscriptions
            .apply_subscription_state(tenant, id, &state, Some("pro"), at(11), &no_events)
            .await;
        assert!(
            matches!(got, Err(StoreError::NotFound)),
            "apply_subscription_state for {what} must be NotFound, got {got:?}"
        );
        assert_eq!(
            get(store, tenant, id).await,
            None,
            "a refused apply for {what} must store no state"
        );
    }
    assert_eq!(
        get(store, &test, &ada.id).await,
        None,
        "applies refused in other tenants must not reach the customer's own tenant"
    );
    assert_eq!(
        stored_customer(store, &test, &ada.id).await,
        ada,
        "applies refused in other tenants must not change the customer's plan"
    );
}

/// States and plans are kept per tenant: the same customer id in the test mode,
/// the live mode and on another platform has its own state, its own plan and its
/// own staleness.
pub async fn subscriptions_tenant_isolation(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (other, _) = new_tenants(store).await;
    let ada = new_customer(store, &test).await;
    let ada_live = Customer {
        tenant: live.clone(),
        ..ada.clone()
    };
    let ada_other = Customer {
        tenant: other.clone(),
        ..ada.clone()
    };
    insert_customer(store, &ada_live, "same id, live mode").await;
    insert_customer(store, &ada_other, "same id, another platform").await;

    let newest = full_state(300);
    apply(store, &test, &ada.id, &newest, Some("team"), at(301)).await;
    assert_eq!(
        get(store, &live, &ada.id).await,
        None,
        "a state of the test mode must not appear in the live mode"
    );
    assert_eq!(
        get(store, &other, &ada.id).await,
        None,
        "a state of one platform must not appear on another"
    );
    // Older than the test mode's state: only stale if staleness leaks across tenants.
    let older = bare_state(100);
    assert_eq!(
        apply(store, &live, &ada.id, &older, Some("pro"), at(302)).await,
        applied("free"),
        "the live mode's apply must be Applied with its own customer's plan: another \
         tenant's newer state must not make it stale, nor another tenant's plan reach it"
    );
    let oldest = SubscriptionState {
        subscription_id: "sub_other".into(),
        ..bare_state(50)
    };
    assert_eq!(
        apply(store, &other, &ada.id, &oldest, None, at(303)).await,
        applied("free"),
        "another platform's apply must see its own customer's plan"
    );

    assert_eq!(get(store, &test, &ada.id).await, Some(newest));
    assert_eq!(get(store, &live, &ada.id).await, Some(older));
    assert_eq!(get(store, &other, &ada.id).await, Some(oldest));
    for (tenant, plan, updated_at) in [
        (&test, "team", at(301)),
        (&live, "pro", at(302)),
        (&other, "free", t0()),
    ] {
        let got = stored_customer(store, tenant, &ada.id).await;
        assert_eq!(
            (got.plan.as_str(), got.updated_at),
            (plan, updated_at),
            "an apply must change the plan of its own tenant's customer only ({tenant})"
        );
    }
}

/// A newer state applies and sets the plan (and `updated_at` to `now`); an older
/// one is `Stale` and changes neither state nor plan; an equal `as_of` applies
/// (a redelivered event is harmless); `plan: None` leaves plan and `updated_at`
/// alone. Other customers are never touched.
pub async fn subscriptions_stale_and_plans(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let ada = new_customer(store, &test).await;
    let bob = new_customer(store, &test).await;

    let first = full_state(100);
    assert_eq!(
        apply(store, &test, &ada.id, &first, Some("pro"), at(101)).await,
        applied("free"),
        "the first apply must report the plan before it"
    );
    let expected = Customer {
        plan: "pro".into(),
        updated_at: at(101),
        ..ada.clone()
    };
    assert_eq!(
        stored_customer(store, &test, &ada.id).await,
        expected,
        "an apply with a plan must set the plan and updated_at (= now), and nothing else"
    );

    let second = bare_state(200);
    assert_eq!(
        apply(store, &test, &ada.id, &second, Some("team"), at(102)).await,
        applied("pro"),
        "a newer state must apply and report the plan the previous apply set"
    );
    assert_eq!(get(store, &test, &ada.id).await, Some(second.clone()));
    assert_eq!(stored_customer(store, &test, &ada.id).await.plan, "team");

    // One microsecond older: a backend comparing whole seconds applies it.
    let older = SubscriptionState {
        as_of: at(200) - Duration::microseconds(1),
        ..full_state(150)
    };
    assert_eq!(
        apply(store, &test, &ada.id, &older, Some("pro"), at(103)).await,
        SubscriptionApply::Stale,
        "a state older than the stored one (by a microsecond) must be Stale"
    );
    assert_eq!(
        apply(store, &test, &ada.id, &full_state(150), None, at(104)).await,
        SubscriptionApply::Stale,
        "an older state without a plan must be Stale too"
    );
    assert_eq!(
        get(store, &test, &ada.id).await,
        Some(second),
        "a stale apply must not change the stored state"
    );
    let after_stale = stored_customer(store, &test, &ada.id).await;
    assert_eq!(
        (after_stale.plan.as_str(), after_stale.updated_at),
        ("team", at(102)),
        "a stale apply must change neither the plan nor updated_at"
    );

    let redelivered = SubscriptionState {
        status: SubscriptionStatus::Canceled,
        ..full_state(200)
    };
    assert_eq!(
        apply(store, &test, &ada.id, &redelivered, Some("free"), at(105)).await,
        applied("team"),
        "a state with the same as_of as the stored one must apply"
    );
    assert_eq!(
        get(store, &test, &ada.id).await,
        Some(redelivered),
        "an equal-time apply must replace the stored state"
    );

    let no_plan = full_state(300);
    assert_eq!(
        apply(store, &test, &ada.id, &no_plan, None, at(106)).await,
        applied("free"),
        "an apply without a plan still reports the current plan"
    );
    assert_eq!(get(store, &test, &ada.id).await, Some(no_plan));
    let untouched = stored_customer(store, &test, &ada.id).await;
    assert_eq!(
        (untouched.plan.as_str(), untouched.updated_at),
        ("free", at(105)),
        "an apply without a plan must leave the plan and updated_at alone"
    );

    assert_eq!(
        stored_customer(store, &test, &bob.id).await,
        bob,
        "applies to one customer must not change another's plan"
    );
    assert_eq!(
        get(store, &test, &bob.id).await,
        None,
        "applies to one customer must not give another a state"
    );
}

/// A deleted customer's state goes with it: `get` gives `None` and a later apply
/// is `NotFound`.
pub async fn subscriptions_deleted_customer(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let ada = new_customer(store, &test).await;
    let bob = new_customer(store, &test).await;
    apply(store, &test, &ada.id, &full_state(10), Some("pro"), at(11)).await;
    apply(store, &test, &bob.id, &full_state(10), None, at(11)).await;
    assert!(
        store
            .customers
            .delete_customer(&test, &ada.id)
            .await
            .unwrap_or_else(|e| panic!("delete_customer failed: {e:?}")),
        "delete_customer of an existing customer must say true"
    );
    assert_eq!(
        get(store, &test, &ada.id).await,
        None,
        "a deleted customer must have no subscription state"
    );
    let got = store
        .subscriptions
        .apply_subscription_state(
            &test,
            &ada.id,
            &full_state(20),
            Some("team"),
            at(21),
            &no_events,
        )
        .await;
    assert!(
        matches!(got, Err(StoreError::NotFound)),
        "applying to a deleted customer must be NotFound, got {got:?}"
    );
    assert_eq!(
        get(store, &test, &bob.id).await,
        Some(full_state(10)),
        "deleting one customer must leave another's state"
    );
}

/// 4 rounds of 24 tasks (`tokio::spawn`) apply states with distinct, shuffled
/// `as_of` to one customer at once, each with plan `p<as_of seconds>`. Afterwards
/// the stored state is the newest one and the customer's plan is exactly that
/// state's plan: a backend that writes the plan outside the state's atomic step
/// lets an older plan land last. The applies must also read as one serial order:
/// each `Applied` reports the plan of the apply before it, so every previous plan
/// is `free` or another applied task's, each at most once, and never the newest.
pub async fn subscriptions_concurrent_applies(store: Stores) {
    const TASKS: i64 = 24;
    let (test, _) = new_tenants(&store).await;
    // Multipliers coprime with 24: each round visits the times in another order.
    for (round, stride) in [5i64, 7, 11, 13].into_iter().enumerate() {
        let c = new_customer(&store, &test).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS as usize));
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let secs = 1 + (i * stride) % TASKS;
                let store = store.clone();
                let barrier = barrier.clone();
                let tenant = test.clone();
                let id = c.id.clone();
                tokio::spawn(async move {
                    let state = full_state(secs);
                    let plan = format!("p{secs}");
                    barrier.wait().await;
                    let got = store
                        .subscriptions
                        .apply_subscription_state(
                            &tenant,
                            &id,
                            &state,
                            Some(&plan),
                            at(1000 + secs),
                            &no_events,
                        )
                        .await;
                    (secs, got)
                })
            })
            .collect();
        let mut previous: BTreeMap<String, i64> = BTreeMap::new();
        let mut applied_plans = Vec::new();
        for handle in handles {
            let (secs, got) = handle.await.expect("an applying task panicked");
            match got {
                Ok(SubscriptionApply::Applied { previous_plan }) => {
                    applied_plans.push(format!("p{secs}"));
                    *previous.entry(previous_plan).or_default() += 1;
                }
                Ok(SubscriptionApply::Stale) => {}
                Err(e) => panic!(
                    "round {round}: apply_subscription_state must not fail under \
                     concurrency: {e:?}"
                ),
            }
        }
        let newest = full_state(TASKS);
        assert_eq!(
            get(&store, &test, &c.id).await,
            Some(newest),
            "round {round}: after concurrent applies the stored state must be the newest"
        );
        let stored = stored_customer(&store, &test, &c.id).await;
        assert_eq!(
            (stored.plan.as_str(), stored.updated_at),
            (format!("p{TASKS}").as_str(), at(1000 + TASKS)),
            "round {round}: the customer's plan (and updated_at) must be those of the newest \
             state's apply, not of an older one that landed later"
        );
        assert!(
            applied_plans.contains(&format!("p{TASKS}")),
            "round {round}: the newest state's apply can never be stale"
        );
        // Serial order: the previous plans are "free" and every applied plan but
        // the newest, each exactly once.
        let mut expected: BTreeMap<String, i64> = applied_plans
            .iter()
            .filter(|p| **p != format!("p{TASKS}"))
            .map(|p| (p.clone(), 1))
            .collect();
        expected.insert("free".into(), 1);
        assert_eq!(
            previous, expected,
            "round {round}: each Applied must report the plan of the apply before it \
             (two applies reporting the same previous plan did not serialize)"
        );
    }
}

/// An apply writes the events built from the previous plan in the same atomic
/// step (an outbox): they are in the log (with their data) when it applies,
/// absent when it is stale, and when writing them fails (an event id that
/// exists: an injected append failure) neither the state nor the plan changes.
pub async fn subscriptions_apply_writes_its_events(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let ada = new_customer(store, &test).await;
    let plan_changed = |id: Option<&Event>| {
        let (tenant, customer) = (test.clone(), ada.id.clone());
        let fixed = id.map(|e| e.id.clone());
        move |previous: &str| {
            let event = Event::new(
                tenant.clone(),
                EventKind::PlanChanged,
                Some(customer.clone()),
                serde_json::json!({ "from": previous }),
                at(1),
            );
            vec![match &fixed {
                Some(id) => Event {
                    id: id.clone(),
                    ..event
                },
                None => event,
            }]
        }
    };
    let logged = || async {
        store
            .events
            .list_events(&test, &PageRequest::first(100))
            .await
            .unwrap_or_else(|e| panic!("list_events failed: {e:?}"))
            .data
    };

    let first = store
        .subscriptions
        .apply_subscription_state(
            &test,
            &ada.id,
            &full_state(10),
            Some("pro"),
            at(11),
            &plan_changed(None),
        )
        .await
        .unwrap_or_else(|e| panic!("apply_subscription_state failed: {e:?}"));
    assert_eq!(first, applied("free"));
    let events = logged().await;
    assert_eq!(
        events.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        vec![serde_json::json!({ "from": "free" })],
        "the event built from the previous plan must be stored with the apply"
    );

    let stale = store
        .subscriptions
        .apply_subscription_state(
            &test,
            &ada.id,
            &full_state(5),
            Some("team"),
            at(12),
            &plan_changed(None),
        )
        .await
        .unwrap_or_else(|e| panic!("apply_subscription_state failed: {e:?}"));
    assert_eq!(stale, SubscriptionApply::Stale);
    assert_eq!(logged().await.len(), 1, "a stale apply must write no event");

    let failing = store
        .subscriptions
        .apply_subscription_state(
            &test,
            &ada.id,
            &full_state(20),
            Some("team"),
            at(21),
            &plan_changed(events.first()),
        )
        .await;
    assert!(
        matches!(failing, Err(StoreError::Conflict(_))),
        "an apply whose event cannot be written must fail, got {failing:?}"
    );
    assert_eq!(
        stored_customer(store, &test, &ada.id).await.plan,
        "pro",
        "the plan must not change without its event"
    );
    assert_eq!(
        get(store, &test, &ada.id).await.map(|s| s.as_of),
        Some(at(10)),
        "the state must not change without its event"
    );

    let retried = store
        .subscriptions
        .apply_subscription_state(
            &test,
            &ada.id,
            &full_state(20),
            Some("team"),
            at(22),
            &plan_changed(None),
        )
        .await
        .unwrap_or_else(|e| panic!("apply_subscription_state failed: {e:?}"));
    assert_eq!(retried, applied("pro"), "the retry applies, with its event");
    assert_eq!(logged().await.len(), 2);
}
