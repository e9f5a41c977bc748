//! The event log: append, newest-first listing, cursors, isolation.

use serde_json::json;

use dream_core::{
    ports::Stores, CustomerId, Event, EventId, EventKind, PageRequest, StoreError, Tenant,
};

use super::fixtures::{at, new_tenants};

/// Appends `n` events of `tenant`, one second apart, and returns them in append
/// (= creation) order.
async fn append_events(store: &Stores, tenant: &Tenant, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        let kind = EventKind::ALL[i % EventKind::ALL.len()];
        let customer = (i % 2 == 0).then(CustomerId::generate);
        let data = json!({ "i": i, "nested": { "list": [1, "two", null] }, "ok": true });
        let event = Event::new(tenant.clone(), kind, customer, data, at(i as i64));
        store
            .events
            .append_event(&event)
            .await
            .unwrap_or_else(|e| panic!("append_event #{i} must succeed, got {e:?}"));
        events.push(event);
    }
    events
}

fn ids(events: &[Event]) -> Vec<EventId> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// Appended events round-trip unchanged and are listed newest first, with
/// `limit` and `has_more` honoured; an empty log lists nothing.
pub async fn events_append_and_list(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let empty = store
        .events
        .list_events(&test, &PageRequest::first(10))
        .await
        .expect("list_events (empty)");
    assert!(
        empty.data.is_empty() && !empty.has_more,
        "an empty log must list nothing, got {empty:?}"
    );
    let events = append_events(&store, &test, 7).await;
    let mut newest_first = events.clone();
    newest_first.reverse();

    let all = store
        .events
        .list_events(&test, &PageRequest::first(100))
        .await
        .expect("list_events");
    assert_eq!(
        all.data, newest_first,
        "list_events must return every event unchanged, newest first"
    );
    assert!(!all.has_more, "a page holding every event has no more");
    let exact = store
        .events
        .list_events(&test, &PageRequest::first(7))
        .await
        .expect("list_events (limit = total)");
    assert!(
        exact.data.len() == 7 && !exact.has_more,
        "a page holding exactly the remaining events must have has_more = false"
    );
    let head = store
        .events
        .list_events(&test, &PageRequest::first(3))
        .await
        .expect("list_events (limit 3)");
    assert_eq!(
        head.data,
        newest_first[..3].to_vec(),
        "a short page must hold the newest events"
    );
    assert!(head.has_more, "a short page must report has_more");
}

/// Walking the log with `starting_after` visits every event exactly once, newest
/// first, for several page sizes.
pub async fn events_pagination(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let events = append_events(&store, &test, 11).await;
    append_events(&store, &live, 4).await;
    let mut expected = ids(&events);
    expected.reverse();
    for limit in [1, 2, 3, 5, 10, 11, 12] {
        let mut seen = Vec::new();
        let mut cursor: Option<EventId> = None;
        loop {
            let page = store
                .events
                .list_events(
                    &test,
                    &PageRequest {
                        limit,
                        starting_after: cursor.clone(),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("list_events(limit {limit}, after {cursor:?}): {e:?}"));
            assert!(page.data.len() <= limit, "a page exceeded limit {limit}");
            if page.has_more {
                assert_eq!(page.data.len(), limit, "a page with has_more must be full");
            }
            seen.extend(ids(&page.data));
            assert!(
                seen.len() <= expected.len(),
                "walking pages of {limit} listed more events than exist"
            );
            if !page.has_more {
                break;
            }
            cursor = page.data.last().map(|e| e.id.clone());
        }
        assert_eq!(
            seen, expected,
            "walking pages of {limit} must list every event once, newest first"
        );
    }
}

/// A duplicate event id is `Conflict`, in the same tenant or another (ids are
/// global), and stores nothing; an unknown cursor is `NotFound`.
pub async fn events_conflicts_and_cursors(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let events = append_events(&store, &test, 3).await;
    let dup = Event {
        kind: EventKind::KeyRevoked,
        created_at: at(100),
        ..events[1].clone()
    };
    let res = store.events.append_event(&dup).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "appending an existing event id must be Conflict, got {res:?}"
    );
    let elsewhere = Event {
        tenant: live.clone(),
        ..events[0].clone()
    };
    let res = store.events.append_event(&elsewhere).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "appending an existing event id under another tenant must be Conflict (event ids \
         are global), got {res:?}"
    );
    let live_page = store
        .events
        .list_events(&live, &PageRequest::first(100))
        .await
        .expect("list_events (live)");
    assert!(
        live_page.data.is_empty(),
        "a refused duplicate must not be stored under the other tenant"
    );
    let all = store
        .events
        .list_events(&test, &PageRequest::first(100))
        .await
        .expect("list_events");
    let mut expected = events.clone();
    expected.reverse();
    assert_eq!(
        all.data, expected,
        "a refused duplicate must not be stored or replace the original"
    );
    let unknown = store
        .events
        .list_events(
            &test,
            &PageRequest {
                limit: 10,
                starting_after: Some(EventId::generate()),
            },
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound)),
        "an unknown event cursor must be NotFound, got {unknown:?}"
    );
}

/// Tenants never see each other's events, nor use them as cursors.
pub async fn events_tenant_isolation(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let mine = append_events(&store, &test, 3).await;
    let theirs = append_events(&store, &other, 2).await;
    let live_page = store
        .events
        .list_events(&live, &PageRequest::first(100))
        .await
        .expect("list_events (live)");
    assert!(
        live_page.data.is_empty() && !live_page.has_more,
        "the other mode of the platform must see no events, got {live_page:?}"
    );
    let other_page = store
        .events
        .list_events(&other, &PageRequest::first(100))
        .await
        .expect("list_events (other platform)");
    let mut expected = ids(&theirs);
    expected.reverse();
    assert_eq!(
        ids(&other_page.data),
        expected,
        "another platform must see only its own events"
    );
    for tenant in [&live, &other] {
        let cursor = store
            .events
            .list_events(
                tenant,
                &PageRequest {
                    limit: 10,
                    starting_after: Some(mine[1].id.clone()),
                },
            )
            .await;
        assert!(
            matches!(cursor, Err(StoreError::NotFound)),
            "another tenant's event as cursor must be NotFound, got {cursor:?}"
        );
    }
}

/// One customer's events: only theirs, of this tenant, newest first, paged by
/// cursor; another tenant's event is not a cursor.
pub async fn events_by_customer(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let ada = CustomerId::generate();
    let bob = CustomerId::generate();
    let mut adas = Vec::new();
    for i in 0..7i64 {
        let who = if i % 3 == 0 { &bob } else { &ada };
        let event = Event::new(
            test.clone(),
            EventKind::ALL[i as usize % EventKind::ALL.len()],
            Some(who.clone()),
            json!({ "i": i }),
            at(i),
        );
        store.events.append_event(&event).await.expect("append");
        if who == &ada {
            adas.push(event);
        }
    }
    let elsewhere = Event::new(
        live.clone(),
        EventKind::ALL[0],
        Some(ada.clone()),
        json!({}),
        at(9),
    );
    store
        .events
        .append_event(&elsewhere)
        .await
        .expect("append live");
    adas.reverse();

    let all = store
        .events
        .list_customer_events(&test, &ada, &PageRequest::first(100))
        .await
        .expect("ada's events");
    assert_eq!(ids(&all.data), ids(&adas), "only ada's, newest first");
    assert!(!all.has_more);

    let first = store
        .events
        .list_customer_events(&test, &ada, &PageRequest::first(2))
        .await
        .expect("first page");
    assert_eq!(ids(&first.data), ids(&adas[..2]));
    assert!(first.has_more);
    let rest = store
        .events
        .list_customer_events(
            &test,
            &ada,
            &PageRequest {
                limit: 10,
                starting_after: first.data.last().map(|e| e.id.clone()),
            },
        )
        .await
        .expect("second page");
    assert_eq!(ids(&rest.data), ids(&adas[2..]));

    let foreign = store
        .events
        .list_customer_events(
            &test,
            &ada,
            &PageRequest {
                limit: 10,
                starting_after: Some(elsewhere.id.clone()),
            },
        )
        .await;
    assert!(
        matches!(foreign, Err(StoreError::NotFound)),
        "another tenant's event is no cursor here, got {foreign:?}"
    );
    let nobody = store
        .events
        .list_customer_events(&test, &CustomerId::generate(), &PageRequest::first(10))
        .await
        .expect("no events");
    assert!(nobody.data.is_empty());
}
