//! Customer listing (newest first, cursor pagination) and plan counts.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use dream_core::{ports::Stores, Customer, CustomerId, PageRequest, StoreError, Tenant};

use super::fixtures::{at, at_ms, customer, insert_customer, new_tenants};

/// Walks every page of `limit` from the start and returns the ids in order,
/// checking each page's shape on the way.
async fn walk(store: &Stores, tenant: &Tenant, limit: usize) -> Vec<CustomerId> {
    let mut seen = Vec::new();
    let mut cursor: Option<CustomerId> = None;
    for _ in 0..10_000 {
        let page = store
            .customers
            .list_customers(
                tenant,
                &dream_core::CustomerQuery::default(),
                &PageRequest {
                    limit,
                    starting_after: cursor.clone(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("list_customers(limit {limit}, after {cursor:?}): {e:?}"));
        assert!(
            page.data.len() <= limit,
            "a page of limit {limit} returned {} customers",
            page.data.len()
        );
        assert!(
            page.data.iter().all(|c| &c.tenant == tenant),
            "list_customers returned another tenant's customer"
        );
        if page.has_more {
            assert_eq!(
                page.data.len(),
                limit,
                "a page with has_more must be full (limit {limit})"
            );
        }
        seen.extend(page.data.iter().map(|c| c.id.clone()));
        if !page.has_more {
            return seen;
        }
        cursor = Some(
            page.data
                .last()
                .expect("has_more on an empty page")
                .id
                .clone(),
        );
    }
    panic!("list_customers never reported has_more = false (limit {limit})");
}

/// Newest first by creation time, ties broken by id, also descending.
fn newest_first(customers: &[Customer]) -> Vec<CustomerId> {
    let mut order: Vec<(DateTime<Utc>, CustomerId)> = customers
        .iter()
        .map(|c| (c.created_at, c.id.clone()))
        .collect();
    order.sort();
    order.reverse();
    order.into_iter().map(|(_, id)| id).collect()
}

/// `list_customers` is newest first (creation time, then id, both descending),
/// honours `limit` and `has_more`, and walking with `starting_after` visits every
/// customer exactly once, for distinct and for equal creation times, even when a
/// customer is added mid-walk; an unknown cursor is `NotFound`.
pub async fn customers_list_pagination(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let empty = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest::first(10),
        )
        .await
        .expect("list_customers (empty tenant)");
    assert!(
        empty.data.is_empty() && !empty.has_more,
        "an empty tenant must list nothing, got {empty:?}"
    );

    let mut customers = Vec::new();
    for i in 0..23i64 {
        let created_at = if i < 12 {
            // Four groups of three customers created in the same instant.
            at(i / 3)
        } else {
            // Distinct, sub-second apart.
            at_ms(10_000 + i * 250)
        };
        let ext = format!("list-{i}");
        customers.push(customer(&test, Some(&ext), created_at));
    }
    // Insert in a scrambled order, with another tenant's customers in between.
    for step in 0..23usize {
        let c = &customers[(step * 7) % 23];
        insert_customer(&store, c, "listing fixture").await;
        if step % 5 == 0 {
            let noise = customer(&live, None, at(step as i64));
            insert_customer(&store, &noise, "other tenant's listing noise").await;
        }
    }
    let expected = newest_first(&customers);

    let first = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest::first(3),
        )
        .await
        .expect("list_customers");
    assert_eq!(
        first.data.first(),
        customers.iter().find(|c| c.id == expected[0]),
        "the first customer listed must be the newest, unchanged"
    );
    for limit in [1, 2, 3, 4, 5, 7, 11, 22, 23, 24, 100] {
        let walked = walk(&store, &test, limit).await;
        let unique: HashSet<&CustomerId> = walked.iter().collect();
        assert_eq!(
            unique.len(),
            walked.len(),
            "walking pages of {limit} listed a customer twice"
        );
        assert_eq!(
            walked, expected,
            "walking pages of {limit} must list every customer once, newest first \
             (creation time, then id, descending)"
        );
    }
    let exact = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest::first(23),
        )
        .await
        .expect("list_customers (limit = total)");
    assert!(
        exact.data.len() == 23 && !exact.has_more,
        "a page holding exactly the remaining customers must have has_more = false"
    );
    let short = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest::first(22),
        )
        .await
        .expect("list_customers (limit = total - 1)");
    assert!(
        short.data.len() == 22 && short.has_more,
        "a page holding all but one customer must have has_more = true"
    );

    // Cursors are stable: a customer created mid-walk does not shift later pages.
    let page1 = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest::first(5),
        )
        .await
        .expect("list_customers (page 1)");
    let newest = customer(&test, Some("list-newest"), at(100_000));
    insert_customer(&store, &newest, "created mid-walk").await;
    let page2 = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest {
                limit: 5,
                starting_after: page1.data.last().map(|c| c.id.clone()),
            },
        )
        .await
        .expect("list_customers (page 2)");
    let page2_ids: Vec<CustomerId> = page2.data.iter().map(|c| c.id.clone()).collect();
    assert_eq!(
        page2_ids,
        expected[5..10].to_vec(),
        "a customer created mid-walk must not shift the pages after the cursor"
    );

    let unknown = store
        .customers
        .list_customers(
            &test,
            &dream_core::CustomerQuery::default(),
            &PageRequest {
                limit: 5,
                starting_after: Some(CustomerId::generate()),
            },
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound)),
        "an unknown cursor must be NotFound, got {unknown:?}"
    );
}

/// `plan_counts` counts the tenant's customers per plan, follows plan changes and
/// deletions, omits plans nobody is on, and never counts another tenant's.
pub async fn customers_plan_counts(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    assert!(
        store
            .customers
            .plan_counts(&test)
            .await
            .expect("plan_counts")
            .is_empty(),
        "an empty tenant has no plan counts"
    );
    let on = |plan: &str, tenant: &Tenant, secs: i64| {
        let mut c = customer(tenant, None, at(secs));
        c.plan = plan.into();
        c
    };
    let frees: Vec<Customer> = (0..3).map(|i| on("free", &test, i)).collect();
    let mut pros: Vec<Customer> = (3..5).map(|i| on("pro", &test, i)).collect();
    let elsewhere = on("max", &live, 6);
    for c in frees.iter().chain(&pros).chain([&elsewhere]) {
        insert_customer(&store, c, "plan count fixture").await;
    }
    let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    assert_eq!(
        store
            .customers
            .plan_counts(&test)
            .await
            .expect("plan_counts"),
        counts(&[("free", 3), ("pro", 2)]),
        "plan_counts must count the tenant's customers per plan"
    );
    assert_eq!(
        store
            .customers
            .plan_counts(&live)
            .await
            .expect("plan_counts"),
        counts(&[("max", 1)]),
        "plan_counts must not mix tenants"
    );

    store
        .customers
        .change_customer_plan(
            &test,
            &frees[0].id,
            "pro",
            at(100),
            &super::subscriptions::no_events,
        )
        .await
        .expect("change_customer_plan");
    assert_eq!(
        store
            .customers
            .plan_counts(&test)
            .await
            .expect("plan_counts"),
        counts(&[("free", 2), ("pro", 3)]),
        "plan_counts must follow plan changes"
    );
    pros.push(frees[0].clone());
    for c in &pros {
        assert!(
            store
                .customers
                .delete_customer(&test, &c.id)
                .await
                .expect("delete_customer"),
            "delete_customer of an existing customer"
        );
    }
    assert_eq!(
        store
            .customers
            .plan_counts(&test)
            .await
            .expect("plan_counts"),
        counts(&[("free", 2)]),
        "plan_counts must follow deletions and omit plans nobody is on"
    );
}

/// Queries: an email prefix (ASCII case-insensitive, `%` and `_` taken
/// literally) and a plan, alone or together, newest or oldest first, with
/// cursors across filtered pages.
pub async fn customers_list_filters(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let people = [
        ("ada@example.com", "free"),
        ("Ada.Byron@example.com", "pro"),
        ("adam@example.org", "pro"),
        ("bob@example.com", "pro"),
        ("a%b_c@example.com", "free"),
        ("axbyc@example.com", "free"),
    ];
    let mut ids = BTreeMap::new();
    for (i, (email, plan)) in people.iter().enumerate() {
        let mut c = customer(&test, None, at(i as i64));
        c.email = Some((*email).to_owned());
        c.plan = (*plan).to_owned();
        insert_customer(&store, &c, "filtered customer").await;
        ids.insert(*email, c.id.clone());
    }
    let mut other = customer(&live, None, at(0));
    other.email = Some("ada@example.com".into());
    insert_customer(&store, &other, "other tenant").await;

    let list_in = |oldest_first: bool,
                   email: Option<&str>,
                   plan: Option<&str>,
                   limit: usize,
                   after: Option<CustomerId>| {
        let store = store.clone();
        let test = test.clone();
        let filter = dream_core::CustomerQuery {
            email_prefix: email.map(str::to_owned),
            plan: plan.map(str::to_owned),
            oldest_first,
        };
        async move {
            store
                .customers
                .list_customers(
                    &test,
                    &filter,
                    &PageRequest {
                        limit,
                        starting_after: after,
                    },
                )
                .await
                .expect("filtered list")
        }
    };
    let list =
        |email: Option<&str>, plan: Option<&str>, limit: usize, after: Option<CustomerId>| {
            list_in(false, email, plan, limit, after)
        };
    let emails = |page: &dream_core::Page<Customer>| -> Vec<String> {
        page.data
            .iter()
            .map(|c| c.email.clone().unwrap_or_default())
            .collect()
    };

    let ada = list(Some("ADA"), None, 10, None).await;
    assert_eq!(
        emails(&ada),
        vec![
            "adam@example.org",
            "Ada.Byron@example.com",
            "ada@example.com"
        ],
        "prefix, any case, newest first, this tenant only"
    );
    let literal = list(Some("a%b_"), None, 10, None).await;
    assert_eq!(
        emails(&literal),
        vec!["a%b_c@example.com"],
        "% and _ in the prefix are literal characters, not wildcards"
    );
    let pro = list(None, Some("pro"), 10, None).await;
    assert_eq!(
        emails(&pro),
        vec![
            "bob@example.com",
            "adam@example.org",
            "Ada.Byron@example.com"
        ]
    );
    let both = list(Some("ada"), Some("pro"), 10, None).await;
    assert_eq!(
        emails(&both),
        vec!["adam@example.org", "Ada.Byron@example.com"]
    );

    let first = list(Some("ada"), None, 2, None).await;
    assert!(first.has_more, "three match, two per page");
    let last = first.data.last().map(|c| c.id.clone());
    let second = list(Some("ada"), None, 2, last).await;
    assert_eq!(emails(&second), vec!["ada@example.com"]);
    assert!(!second.has_more);

    // A cursor that does not pass the filter still works: it is a position.
    let bob = ids.get("bob@example.com").cloned();
    let after_bob = list(Some("ada"), None, 10, bob).await;
    assert_eq!(
        emails(&after_bob),
        vec![
            "adam@example.org",
            "Ada.Byron@example.com",
            "ada@example.com"
        ]
    );
    assert!(list(Some("zed"), None, 10, None).await.data.is_empty());

    // Oldest first, with cursors in that direction.
    let oldest = list_in(true, Some("ada"), None, 2, None).await;
    assert_eq!(
        emails(&oldest),
        vec!["ada@example.com", "Ada.Byron@example.com"]
    );
    assert!(oldest.has_more);
    let newer = list_in(
        true,
        Some("ada"),
        None,
        2,
        oldest.data.last().map(|c| c.id.clone()),
    )
    .await;
    assert_eq!(emails(&newer), vec!["adam@example.org"]);
    assert!(!newer.has_more);
    let pro_oldest = list_in(true, None, Some("pro"), 10, None).await;
    assert_eq!(
        emails(&pro_oldest),
        vec![
            "Ada.Byron@example.com",
            "adam@example.org",
            "bob@example.com"
        ]
    );
}
