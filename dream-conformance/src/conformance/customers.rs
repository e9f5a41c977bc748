//! Customers: round-trip, per-tenant external-id uniqueness, update, delete,
//! tenant isolation.

use dream_core::{ports::Stores, Customer, CustomerId, PageRequest, StoreError, Tenant};

use super::fixtures::{at, customer, insert_customer, new_tenants, t0};

/// `get_customer`'s answer, checked against `get_shared_customer`'s.
async fn get(store: &Stores, tenant: &Tenant, id: &CustomerId) -> Option<Customer> {
    let found = store
        .customers
        .get_customer(tenant, id)
        .await
        .expect("get_customer must succeed");
    let shared = store
        .customers
        .get_shared_customer(tenant, id)
        .await
        .expect("get_shared_customer must succeed");
    assert_eq!(
        shared.as_deref(),
        found.as_ref(),
        "get_shared_customer must answer what get_customer answers"
    );
    found
}

/// `find_customer_by_external_id`'s answer, checked against
/// `find_shared_customer_by_external_id`'s.
async fn find(store: &Stores, tenant: &Tenant, external_id: &str) -> Option<Customer> {
    let found = store
        .customers
        .find_customer_by_external_id(tenant, external_id)
        .await
        .expect("find_customer_by_external_id must succeed");
    let shared = store
        .customers
        .find_shared_customer_by_external_id(tenant, external_id)
        .await
        .expect("find_shared_customer_by_external_id must succeed");
    assert_eq!(
        shared.as_deref(),
        found.as_ref(),
        "find_shared_customer_by_external_id must answer what find_customer_by_external_id answers"
    );
    found
}

/// A customer round-trips unchanged through `get_customer` and
/// `find_customer_by_external_id`; customers without an external id do not clash;
/// unknown ids give `None`.
pub async fn customers_insert_get_find(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let full = customer(&test, Some("ext-1"), t0());
    let mut bare = customer(&test, None, at(1));
    bare.email = None;
    bare.first_name = None;
    bare.last_name = None;
    bare.password_hash = None;
    bare.metadata.clear();
    bare.plan = "pro".into();
    let bare_too = customer(&test, None, at(2));
    insert_customer(&store, &full, "all fields").await;
    insert_customer(&store, &bare, "no optional fields").await;
    insert_customer(&store, &bare_too, "second without external id").await;

    assert_eq!(
        get(&store, &test, &full.id).await,
        Some(full.clone()),
        "get_customer must return the inserted customer unchanged"
    );
    assert_eq!(
        get(&store, &test, &bare.id).await,
        Some(bare.clone()),
        "get_customer must return a customer without optional fields unchanged"
    );
    assert_eq!(
        get(&store, &test, &bare_too.id).await,
        Some(bare_too),
        "two customers without an external id must both be stored"
    );
    assert_eq!(
        find(&store, &test, "ext-1").await,
        Some(full),
        "find_customer_by_external_id must return the customer unchanged"
    );
    assert_eq!(
        find(&store, &test, "ext-2").await,
        None,
        "an unknown external id must give None"
    );
    assert_eq!(
        get(&store, &test, &CustomerId::generate()).await,
        None,
        "an unknown customer id must give None"
    );
}

/// The external id is unique per tenant: a duplicate in the same tenant is
/// `Conflict` (and stores nothing), the same external id in another tenant (other
/// mode or other platform) is fine; a duplicate customer id is `Conflict`.
pub async fn customers_external_id_unique_per_tenant(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let first = customer(&test, Some("user-42"), t0());
    insert_customer(&store, &first, "first").await;

    let dup = customer(&test, Some("user-42"), at(1));
    let res = store.customers.insert_customer(&dup).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "a duplicate external id in the same tenant must be Conflict, got {res:?}"
    );
    assert_eq!(
        get(&store, &test, &dup.id).await,
        None,
        "a refused customer must not be stored"
    );
    assert_eq!(
        find(&store, &test, "user-42").await,
        Some(first.clone()),
        "a refused duplicate must not replace the original"
    );

    let same_id = Customer {
        external_id: Some("user-43".into()),
        ..customer(&test, None, at(2))
    };
    let same_id = Customer {
        id: first.id.clone(),
        ..same_id
    };
    let res = store.customers.insert_customer(&same_id).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "a duplicate customer id in the same tenant must be Conflict, got {res:?}"
    );
    assert_eq!(
        find(&store, &test, "user-43").await,
        None,
        "a customer refused for its id must not be findable by its external id"
    );

    for (tenant, what) in [(&live, "other mode"), (&other, "other platform")] {
        let twin = customer(tenant, Some("user-42"), at(3));
        insert_customer(&store, &twin, what).await;
        assert_eq!(
            find(&store, tenant, "user-42").await,
            Some(twin),
            "the same external id in another tenant ({what}) is a different customer"
        );
    }
    assert_eq!(
        find(&store, &test, "user-42").await,
        Some(first),
        "other tenants' customers with the same external id must not replace this one"
    );
}

/// `update_customer` replaces every field but the plan; the external id may change (freeing
/// the old one) or be cleared, but not to another customer's (`Conflict`, nothing
/// changed); updating a missing customer is `NotFound`.
pub async fn customers_update(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let mut ada = customer(&test, Some("a"), t0());
    let bob = customer(&test, Some("bob"), at(1));
    insert_customer(&store, &ada, "ada").await;
    insert_customer(&store, &bob, "bob").await;

    ada.email = Some("countess@example.com".into());
    ada.first_name = None;
    ada.metadata.insert("vip".into(), "yes".into());
    ada.updated_at = at(10);
    store
        .customers
        .update_customer(&ada)
        .await
        .expect("update_customer");
    assert_eq!(
        get(&store, &test, &ada.id).await,
        Some(ada.clone()),
        "update_customer must store every profile field"
    );

    ada.external_id = Some("b".into());
    ada.updated_at = at(11);
    store
        .customers
        .update_customer(&ada)
        .await
        .expect("update_customer (change external id)");
    assert_eq!(
        find(&store, &test, "a").await,
        None,
        "the old external id must no longer find the customer"
    );
    assert_eq!(
        find(&store, &test, "b").await,
        Some(ada.clone()),
        "the new external id must find the customer"
    );
    let reuse = customer(&test, Some("a"), at(12));
    insert_customer(&store, &reuse, "reusing a freed external id").await;

    let mut thief = bob.clone();
    thief.external_id = Some("b".into());
    thief.email = Some("thief@example.com".into());
    let res = store.customers.update_customer(&thief).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "updating to another customer's external id must be Conflict, got {res:?}"
    );
    assert_eq!(
        get(&store, &test, &bob.id).await,
        Some(bob.clone()),
        "a refused update must change nothing"
    );
    assert_eq!(
        find(&store, &test, "bob").await,
        Some(bob.clone()),
        "a refused update must keep the old external id"
    );
    assert_eq!(
        find(&store, &test, "b").await,
        Some(ada.clone()),
        "a refused update must not take the other customer's external id"
    );

    ada.external_id = None;
    ada.updated_at = at(13);
    store
        .customers
        .update_customer(&ada)
        .await
        .expect("update_customer (clear external id)");
    assert_eq!(
        find(&store, &test, "b").await,
        None,
        "a cleared external id must no longer find the customer"
    );
    assert_eq!(
        get(&store, &test, &ada.id).await,
        Some(ada.clone()),
        "clearing the external id must be stored"
    );
    let mut bob_renamed = bob.clone();
    bob_renamed.external_id = Some("b".into());
    store
        .customers
        .update_customer(&bob_renamed)
        .await
        .expect("update_customer (take a freed external id)");
    assert_eq!(
        find(&store, &test, "b").await,
        Some(bob_renamed),
        "a cleared external id may be taken by another customer"
    );

    let missing = customer(&test, Some("ghost"), at(20));
    let res = store.customers.update_customer(&missing).await;
    assert!(
        matches!(res, Err(StoreError::NotFound)),
        "updating a missing customer must be NotFound, got {res:?}"
    );
    assert_eq!(
        find(&store, &test, "ghost").await,
        None,
        "a refused update must not insert"
    );
    let elsewhere = Customer {
        tenant: live.clone(),
        ..ada.clone()
    };
    let res = store.customers.update_customer(&elsewhere).await;
    assert!(
        matches!(res, Err(StoreError::NotFound)),
        "updating a customer through another tenant must be NotFound, got {res:?}"
    );
    assert_eq!(
        get(&store, &live, &ada.id).await,
        None,
        "a refused cross-tenant update must not insert"
    );
}

/// `delete_customer` returns true, then false; the customer is gone from every
/// read, its external id is free again and a cursor naming it is `NotFound`.
pub async fn customers_delete(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let gone = customer(&test, Some("leaving"), t0());
    let stays = customer(&test, Some("staying"), at(1));
    insert_customer(&store, &gone, "to delete").await;
    insert_customer(&store, &stays, "to keep").await;

    assert!(
        store
            .customers
            .delete_customer(&test, &gone.id)
            .await
            .expect("delete_customer"),
        "deleting an existing customer must return true"
    );
    assert!(
        !store
            .customers
            .delete_customer(&test, &gone.id)
            .await
            .expect("delete_customer (again)"),
        "deleting it again must return false"
    );
    assert!(
        !store
            .customers
            .delete_customer(&test, &CustomerId::generate())
            .await
            .expect("delete_customer (unknown)"),
        "deleting an unknown customer must return false"
    );
    assert_eq!(get(&store, &test, &gone.id).await, None, "deleted: get");
    assert_eq!(find(&store, &test, "leaving").await, None, "deleted: find");
    assert_eq!(
        get(&store, &test, &stays.id).await,
        Some(stays.clone()),
        "deleting one customer must leave the others"
    );
    let listed = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest::first(100),
        )
        .await
        .expect("list_customers");
    assert_eq!(
        listed.data,
        vec![stays],
        "a deleted customer must not be listed"
    );
    let counts = store
        .customers
        .plan_counts(&test)
        .await
        .expect("plan_counts");
    assert_eq!(
        counts.get("free"),
        Some(&1),
        "a deleted customer must not be counted"
    );
    let cursor = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest {
                limit: 10,
                starting_after: Some(gone.id.clone()),
            },
        )
        .await;
    assert!(
        matches!(cursor, Err(StoreError::NotFound)),
        "a deleted customer as cursor must be NotFound, got {cursor:?}"
    );
    let again = customer(&test, Some("leaving"), at(2));
    insert_customer(&store, &again, "reusing a deleted customer's external id").await;
}

/// Another tenant (other mode of the platform, or another platform) never sees a
/// customer: not by get, find, list, cursor, plan counts, update or delete.
pub async fn customers_tenant_isolation(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let mine = customer(&test, Some("shared-ref"), t0());
    insert_customer(&store, &mine, "tenant A").await;

    for (tenant, what) in [(&live, "other mode"), (&other, "other platform")] {
        assert_eq!(
            get(&store, tenant, &mine.id).await,
            None,
            "get_customer from another tenant ({what}) must be None"
        );
        assert_eq!(
            find(&store, tenant, "shared-ref").await,
            None,
            "find_customer_by_external_id from another tenant ({what}) must be None"
        );
        let page = store
            .customers
            .list_customers(
                tenant,
                &dream_core::CustomerQuery::default(),
                &PageRequest::first(100),
            )
            .await
            .expect("list_customers");
        assert!(
            page.data.is_empty() && !page.has_more,
            "list_customers of another tenant ({what}) must be empty, got {page:?}"
        );
        let cursor = store
            .customers
            .list_customers(
                tenant,
                &dream_core::CustomerQuery::default(),
                &PageRequest {
                    limit: 10,
                    starting_after: Some(mine.id.clone()),
                },
            )
            .await;
        assert!(
            matches!(cursor, Err(StoreError::NotFound)),
            "another tenant's customer as cursor ({what}) must be NotFound, got {cursor:?}"
        );
        assert!(
            store
                .customers
                .plan_counts(tenant)
                .await
                .expect("plan_counts")
                .is_empty(),
            "plan_counts of another tenant ({what}) must be empty"
        );
        let moved = Customer {
            tenant: tenant.clone(),
            email: Some("hijack@example.com".into()),
            ..mine.clone()
        };
        let res = store.customers.update_customer(&moved).await;
        assert!(
            matches!(res, Err(StoreError::NotFound)),
            "update_customer through another tenant ({what}) must be NotFound, got {res:?}"
        );
        assert!(
            !store
                .customers
                .delete_customer(tenant, &mine.id)
                .await
                .expect("delete_customer"),
            "delete_customer from another tenant ({what}) must return false"
        );
    }
    assert_eq!(
        get(&store, &test, &mine.id).await,
        Some(mine),
        "other tenants' attempts must leave the customer unchanged"
    );
}

/// A profile update never writes the plan: one read before a subscription change
/// (a metadata PATCH racing a cancellation) cannot restore the old plan. Plan
/// changes go only through `change_customer_plan` and `apply_subscription_state`.
pub async fn customers_profile_updates_never_write_plan(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let ada = customer(&test, Some("plan-race"), t0());
    insert_customer(&store, &ada, "ada").await;
    // Read for a profile update while the customer is on `pro`…
    let mut stale = get(&store, &test, &ada.id).await.expect("ada");
    // …meanwhile the subscription ends and the plan drops to `free`.
    let state = super::subscriptions::full_state(10);
    store
        .subscriptions
        .apply_subscription_state(
            &test,
            &ada.id,
            &state,
            Some("free"),
            at(10),
            &super::subscriptions::no_events,
        )
        .await
        .expect("apply_subscription_state");
    stale.metadata.insert("note".into(), "late".into());
    stale.plan = "pro".into();
    stale.updated_at = at(11);
    store
        .customers
        .update_customer(&stale)
        .await
        .expect("update_customer");
    let now = get(&store, &test, &ada.id).await.expect("ada");
    assert_eq!(
        now.metadata.get("note").map(String::as_str),
        Some("late"),
        "the profile is updated"
    );
    assert_eq!(
        now.plan, "free",
        "a profile update must not restore the plan it read"
    );
}
