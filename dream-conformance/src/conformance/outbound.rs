//! Developer webhooks: endpoints, the fan-out of appended events into deliveries,
//! claiming due deliveries under a lease, recording attempts (and disabling
//! endpoints that keep failing), manual retries, and claims and records racing.
//!
//! `claim_due_deliveries` works across tenants, so these behaviours rely on the
//! suite's fresh store per behaviour: no other behaviour's deliveries are due.

use std::{
    collections::{BTreeSet, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use dream_core::{
    ports::Stores, AttemptRecorded, CustomerId, Delivery, DeliveryAttempt, DeliveryId, DeliveryJob,
    DeliveryNext, DeliveryState, DisabledReason, Event, EventFilter, EventKind, LeaseToken,
    MasterKey, PageRequest, RevealedSecret, SigningSecret, StoreError, StoredSigningSecret, Tenant,
    WebhookEndpoint, WebhookEndpointId,
};

use super::fixtures::{at, at_ms, new_tenants};

/// An endpoint with every field set, enabled.
pub(super) fn endpoint(
    tenant: &Tenant,
    filter: EventFilter,
    created_at: DateTime<Utc>,
) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        tenant: tenant.clone(),
        url: "https://hooks.example.com/dream?source=conformance".into(),
        description: Some("orders service".into()),
        filter,
        secret: StoredSigningSecret::Plain(SigningSecret::generate()),
        disabled: None,
        failing_since: None,
        created_at,
        updated_at: created_at,
    }
}

fn only(kinds: &[EventKind]) -> EventFilter {
    EventFilter::Only(kinds.iter().copied().collect())
}

/// The failure run long enough to disable an endpoint, where a behaviour does not
/// care about disabling.
fn days() -> Duration {
    Duration::days(5)
}

pub(super) async fn create(store: &Stores, endpoint: &WebhookEndpoint) {
    store
        .outbound
        .create_webhook_endpoint(endpoint)
        .await
        .unwrap_or_else(|e| panic!("create_webhook_endpoint of a fresh endpoint: {e:?}"));
}

async fn get_endpoint(store: &Stores, endpoint: &WebhookEndpoint) -> Option<WebhookEndpoint> {
    store
        .outbound
        .get_webhook_endpoint(&endpoint.tenant, &endpoint.id)
        .await
        .unwrap_or_else(|e| panic!("get_webhook_endpoint: {e:?}"))
}

async fn stored_endpoint(store: &Stores, endpoint: &WebhookEndpoint) -> WebhookEndpoint {
    get_endpoint(store, endpoint)
        .await
        .unwrap_or_else(|| panic!("endpoint {} must exist", endpoint.id))
}

async fn update(store: &Stores, endpoint: &WebhookEndpoint) {
    store
        .outbound
        .update_webhook_endpoint(endpoint)
        .await
        .unwrap_or_else(|e| panic!("update_webhook_endpoint of an existing endpoint: {e:?}"));
}

async fn list_endpoints(store: &Stores, tenant: &Tenant) -> Vec<WebhookEndpoint> {
    store
        .outbound
        .list_webhook_endpoints(tenant)
        .await
        .unwrap_or_else(|e| panic!("list_webhook_endpoints: {e:?}"))
}

/// Appends an event with a customer and nested data, so its round trip through a
/// claimed job is checked in full.
pub(super) async fn append(
    store: &Stores,
    tenant: &Tenant,
    kind: EventKind,
    at: DateTime<Utc>,
) -> Event {
    let event = Event::new(
        tenant.clone(),
        kind,
        Some(CustomerId::generate()),
        json!({ "plan": "pro", "nested": { "list": [1, null, "two"] } }),
        at,
    );
    store
        .events
        .append_event(&event)
        .await
        .unwrap_or_else(|e| panic!("append_event of a fresh event: {e:?}"));
    event
}

/// Every delivery of `endpoint`, newest first, walking pages of 100.
pub(super) async fn deliveries(
    store: &Stores,
    tenant: &Tenant,
    endpoint: &WebhookEndpointId,
) -> Vec<Delivery> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .outbound
            .list_deliveries(
                tenant,
                endpoint,
                &PageRequest {
                    limit: 100,
                    starting_after: cursor,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("list_deliveries: {e:?}"));
        all.extend(page.data);
        if !page.has_more {
            return all;
        }
        cursor = all.last().map(|d| d.id.clone());
    }
}

async fn delivery(store: &Stores, tenant: &Tenant, id: &DeliveryId) -> Option<Delivery> {
    store
        .outbound
        .get_delivery(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("get_delivery: {e:?}"))
}

async fn attempts(store: &Stores, tenant: &Tenant, id: &DeliveryId) -> Vec<DeliveryAttempt> {
    store
        .outbound
        .list_delivery_attempts(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("list_delivery_attempts: {e:?}"))
}

async fn claim(
    store: &Stores,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
) -> Vec<DeliveryJob> {
    store
        .outbound
        .claim_due_deliveries(now, lease_until, limit)
        .await
        .unwrap_or_else(|e| panic!("claim_due_deliveries: {e:?}"))
}

fn claimed_ids(jobs: &[DeliveryJob]) -> Vec<DeliveryId> {
    jobs.iter().map(|j| j.delivery.id.clone()).collect()
}

fn ids(deliveries: &[Delivery]) -> Vec<DeliveryId> {
    deliveries.iter().map(|d| d.id.clone()).collect()
}

fn attempt(
    delivery: &DeliveryId,
    number: u32,
    at: DateTime<Utc>,
    status: Option<u16>,
    error: Option<&str>,
) -> DeliveryAttempt {
    DeliveryAttempt {
        delivery: delivery.clone(),
        number,
        at,
        status,
        latency_ms: 100 + number * 7,
        error: error.map(str::to_owned),
    }
}

async fn record(
    store: &Stores,
    tenant: &Tenant,
    lease: &LeaseToken,
    attempt: &DeliveryAttempt,
    next: DeliveryNext,
    disable_after: Duration,
) -> AttemptRecorded {
    store
        .outbound
        .record_delivery_attempt(tenant, lease, attempt, next, disable_after)
        .await
        .unwrap_or_else(|e| panic!("record_delivery_attempt: {e:?}"))
}

const RECORDED: AttemptRecorded = AttemptRecorded {
    recorded: true,
    endpoint_disabled: false,
};
const REFUSED: AttemptRecorded = AttemptRecorded {
    recorded: false,
    endpoint_disabled: false,
};

/// Endpoints round-trip unchanged, list oldest first, take every setting on
/// update (but keep their creation time) and disappear on delete.
pub async fn outbound_endpoints_round_trip(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    assert!(
        list_endpoints(&store, &test).await.is_empty(),
        "a fresh tenant has no webhook endpoints"
    );
    let first = endpoint(&test, EventFilter::All, at(0));
    let second = WebhookEndpoint {
        description: None,
        ..endpoint(
            &test,
            only(&[EventKind::PlanChanged, EventKind::CustomerCreated]),
            at_ms(1_250),
        )
    };
    let third = WebhookEndpoint {
        disabled: Some(DisabledReason::Manual),
        failing_since: Some(at_ms(500)),
        ..endpoint(&test, only(&[EventKind::InventorySoldOut]), at(2))
    };
    for e in [&first, &second, &third] {
        create(&store, e).await;
    }
    for e in [&first, &second, &third] {
        assert_eq!(
            get_endpoint(&store, e).await.as_ref(),
            Some(e),
            "get_webhook_endpoint must return the endpoint as created (secret, filter, \
             disabled, failing_since and times included)"
        );
    }
    assert_eq!(
        list_endpoints(&store, &test).await,
        vec![first.clone(), second.clone(), third.clone()],
        "list_webhook_endpoints must return the tenant's endpoints oldest first"
    );

    let updated = WebhookEndpoint {
        url: "https://other.example.com/hook".into(),
        description: None,
        filter: only(&[EventKind::KeyCreated, EventKind::KeyRevoked]),
        // The sealed form (a master key is configured) round-trips as well.
        secret: StoredSigningSecret::Sealed(MasterKey::generate().seal(
            &test,
            &RevealedSecret::new(SigningSecret::generate().expose().to_owned()),
        )),
        disabled: Some(DisabledReason::Failing),
        failing_since: Some(at_ms(3_500)),
        updated_at: at(10),
        ..first.clone()
    };
    update(&store, &updated).await;
    assert_eq!(
        get_endpoint(&store, &first).await,
        Some(updated.clone()),
        "update_webhook_endpoint must replace url, description, filter, secret, disabled, \
         failing_since and updated_at"
    );
    let restored = WebhookEndpoint {
        description: Some("back again".into()),
        filter: EventFilter::All,
        disabled: None,
        failing_since: None,
        updated_at: at(11),
        ..updated.clone()
    };
    update(&store, &restored).await;
    assert_eq!(
        get_endpoint(&store, &first).await,
        Some(restored.clone()),
        "update_webhook_endpoint must clear description, disabled and failing_since"
    );
    let moved = WebhookEndpoint {
        created_at: at(99),
        updated_at: at(12),
        ..restored.clone()
    };
    update(&store, &moved).await;
    let kept = WebhookEndpoint {
        updated_at: at(12),
        ..restored.clone()
    };
    assert_eq!(
        get_endpoint(&store, &first).await,
        Some(kept.clone()),
        "created_at is not a setting: update_webhook_endpoint must keep the stored one"
    );
    assert_eq!(
        list_endpoints(&store, &test).await,
        vec![kept.clone(), second.clone(), third.clone()],
        "updates must not change the listing order"
    );

    assert!(
        store
            .outbound
            .delete_webhook_endpoint(&test, &second.id)
            .await
            .expect("delete_webhook_endpoint"),
        "deleting an existing endpoint must return true"
    );
    assert_eq!(
        get_endpoint(&store, &second).await,
        None,
        "a deleted endpoint must not be found"
    );
    assert_eq!(
        list_endpoints(&store, &test).await,
        vec![kept, third],
        "a deleted endpoint must not be listed"
    );
    assert!(
        !store
            .outbound
            .delete_webhook_endpoint(&test, &second.id)
            .await
            .expect("delete_webhook_endpoint (again)"),
        "deleting a deleted endpoint must return false"
    );
    let res = store.outbound.update_webhook_endpoint(&second).await;
    assert!(
        matches!(res, Err(StoreError::NotFound)),
        "updating a deleted endpoint must be NotFound, got {res:?}"
    );
}

/// Another mode or platform sees none of a tenant's endpoints and can neither
/// update nor delete them; endpoint ids are unique across tenants.
pub async fn outbound_endpoints_isolation(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let mine = endpoint(&test, EventFilter::All, at(0));
    create(&store, &mine).await;
    for (what, tenant) in [("the other mode", &live), ("another platform", &other)] {
        let seen = store
            .outbound
            .get_webhook_endpoint(tenant, &mine.id)
            .await
            .expect("get_webhook_endpoint");
        assert_eq!(seen, None, "{what} must not get the tenant's endpoint");
        assert!(
            list_endpoints(&store, tenant).await.is_empty(),
            "{what} must list none of the tenant's endpoints"
        );
        let hijack = WebhookEndpoint {
            tenant: tenant.clone(),
            url: "https://evil.example.com/".into(),
            disabled: Some(DisabledReason::Manual),
            ..mine.clone()
        };
        let res = store.outbound.update_webhook_endpoint(&hijack).await;
        assert!(
            matches!(res, Err(StoreError::NotFound)),
            "updating another tenant's endpoint from {what} must be NotFound, got {res:?}"
        );
        assert!(
            !store
                .outbound
                .delete_webhook_endpoint(tenant, &mine.id)
                .await
                .expect("delete_webhook_endpoint"),
            "deleting another tenant's endpoint from {what} must return false"
        );
    }
    assert_eq!(
        get_endpoint(&store, &mine).await,
        Some(mine.clone()),
        "foreign updates and deletes must leave the endpoint unchanged"
    );

    let again = WebhookEndpoint {
        url: "https://second.example.com/".into(),
        ..mine.clone()
    };
    let res = store.outbound.create_webhook_endpoint(&again).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "creating an existing endpoint id must be Conflict, got {res:?}"
    );
    let elsewhere = WebhookEndpoint {
        tenant: live.clone(),
        ..mine.clone()
    };
    let res = store.outbound.create_webhook_endpoint(&elsewhere).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "creating an existing endpoint id under another tenant must be Conflict (ids are \
         global), got {res:?}"
    );
    assert_eq!(
        get_endpoint(&store, &mine).await,
        Some(mine.clone()),
        "a refused duplicate must not change the stored endpoint"
    );
    assert!(
        list_endpoints(&store, &live).await.is_empty(),
        "a refused duplicate must store nothing"
    );
    let unknown = endpoint(&test, EventFilter::All, at(5));
    let res = store.outbound.update_webhook_endpoint(&unknown).await;
    assert!(
        matches!(res, Err(StoreError::NotFound)),
        "updating an unknown endpoint must be NotFound, got {res:?}"
    );
}

/// The delivery `append_event` must have queued for `event` to `endpoint`: pending,
/// due at the event's time, never attempted.
fn queued(delivery: &Delivery, endpoint: &WebhookEndpoint, event: &Event) -> Delivery {
    Delivery {
        id: delivery.id.clone(),
        ..Delivery::new(endpoint, event)
    }
}

/// Appending an event queues one pending delivery, due at the event's time, for
/// each enabled endpoint of the event's tenant whose filter matches — none for
/// disabled, non-matching or other tenants' endpoints, none for past events, and
/// none when the append itself is refused.
pub async fn outbound_fan_out(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let all = endpoint(&test, EventFilter::All, at(0));
    let plans = endpoint(
        &test,
        only(&[EventKind::PlanChanged, EventKind::KeyCreated]),
        at(1),
    );
    let off = WebhookEndpoint {
        disabled: Some(DisabledReason::Manual),
        ..endpoint(&test, EventFilter::All, at(2))
    };
    let failing = WebhookEndpoint {
        disabled: Some(DisabledReason::Failing),
        failing_since: Some(at(1)),
        ..endpoint(&test, EventFilter::All, at(3))
    };
    let live_all = endpoint(&live, EventFilter::All, at(4));
    let foreign = endpoint(&other, EventFilter::All, at(5));
    for e in [&all, &plans, &off, &failing, &live_all, &foreign] {
        create(&store, e).await;
    }
    let plan = append(&store, &test, EventKind::PlanChanged, at_ms(10_500)).await;
    let created = append(&store, &test, EventKind::CustomerCreated, at(11)).await;
    let live_event = append(&store, &live, EventKind::KeyRevoked, at(12)).await;

    let to_all = deliveries(&store, &test, &all.id).await;
    assert_eq!(
        to_all.len(),
        2,
        "an All endpoint must get one delivery per event of its tenant, got {to_all:?}"
    );
    assert_eq!(
        to_all,
        vec![
            queued(&to_all[0], &all, &created),
            queued(&to_all[1], &all, &plan)
        ],
        "deliveries must be pending, unattempted, due at the event's time, and listed \
         newest first"
    );
    let to_plans = deliveries(&store, &test, &plans.id).await;
    assert_eq!(
        to_plans.len(),
        1,
        "an Only filter must get exactly the matching events, got {to_plans:?}"
    );
    assert_eq!(to_plans[0], queued(&to_plans[0], &plans, &plan));
    for (what, e) in [
        ("manually disabled", &off),
        ("disabled for failing", &failing),
    ] {
        assert!(
            deliveries(&store, &test, &e.id).await.is_empty(),
            "a {what} endpoint must get no deliveries"
        );
    }
    let to_live = deliveries(&store, &live, &live_all.id).await;
    assert_eq!(
        to_live.len(),
        1,
        "an endpoint in the other mode must get only its own mode's events, got {to_live:?}"
    );
    assert_eq!(to_live[0], queued(&to_live[0], &live_all, &live_event));
    assert!(
        deliveries(&store, &other, &foreign.id).await.is_empty(),
        "another platform's endpoint must get none of the tenant's events"
    );

    for d in &to_all {
        assert_eq!(
            delivery(&store, &test, &d.id).await.as_ref(),
            Some(d),
            "get_delivery must return the listed delivery"
        );
        for (what, tenant) in [("the other mode", &live), ("another platform", &other)] {
            assert_eq!(
                delivery(&store, tenant, &d.id).await,
                None,
                "{what} must not get the tenant's delivery"
            );
        }
    }
    assert!(
        deliveries(&store, &live, &all.id).await.is_empty(),
        "listing another tenant's endpoint's deliveries must list nothing"
    );

    // Later endpoints and re-enabled ones get later events only.
    let late = endpoint(&test, EventFilter::All, at(20));
    create(&store, &late).await;
    update(
        &store,
        &WebhookEndpoint {
            disabled: None,
            updated_at: at(21),
            ..off.clone()
        },
    )
    .await;
    let later = append(&store, &test, EventKind::KeyCreated, at(30)).await;
    for (what, e, expected) in [
        ("the All endpoint", &all, 3),
        ("the Only endpoint", &plans, 2),
        ("a re-enabled endpoint", &off, 1),
        ("an endpoint created after earlier events", &late, 1),
    ] {
        let got = deliveries(&store, &test, &e.id).await;
        assert_eq!(
            got.len(),
            expected,
            "{what} must have {expected} deliveries, got {got:?}"
        );
        assert_eq!(
            got[0],
            queued(&got[0], e, &later),
            "{what}: the newest delivery is the latest event's"
        );
    }

    let dup = Event {
        kind: EventKind::PlanChanged,
        created_at: at(40),
        ..plan.clone()
    };
    let res = store.events.append_event(&dup).await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "appending an existing event id must be Conflict, got {res:?}"
    );
    assert_eq!(
        deliveries(&store, &test, &all.id).await.len(),
        3,
        "a refused append must queue no delivery (event and deliveries are one write)"
    );
}

/// Deliveries list newest first through `starting_after` pages; unknown cursors
/// are `NotFound`; deleting an endpoint deletes its deliveries and their attempts
/// and nothing of another endpoint.
pub async fn outbound_deliveries_pagination(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let hook = endpoint(&test, EventFilter::All, at(0));
    let other = endpoint(&test, EventFilter::All, at(1));
    create(&store, &hook).await;
    create(&store, &other).await;
    let mut events = Vec::new();
    for i in 0..7 {
        let kind = EventKind::ALL[i % EventKind::ALL.len()];
        events.push(append(&store, &test, kind, at(10 + i as i64)).await);
    }
    let listed = deliveries(&store, &test, &hook.id).await;
    let newest_first: Vec<_> = events.iter().rev().map(|e| e.id.clone()).collect();
    assert_eq!(
        listed.iter().map(|d| d.event.clone()).collect::<Vec<_>>(),
        newest_first,
        "list_deliveries must list one delivery per event, newest first"
    );
    let expected = ids(&listed);
    for limit in [1, 2, 3, 6, 7, 8] {
        let mut seen = Vec::new();
        let mut cursor: Option<DeliveryId> = None;
        loop {
            let page = store
                .outbound
                .list_deliveries(
                    &test,
                    &hook.id,
                    &PageRequest {
                        limit,
                        starting_after: cursor.clone(),
                    },
                )
                .await
                .unwrap_or_else(|e| {
                    panic!("list_deliveries(limit {limit}, after {cursor:?}): {e:?}")
                });
            assert!(page.data.len() <= limit, "a page exceeded limit {limit}");
            if page.has_more {
                assert_eq!(page.data.len(), limit, "a page with has_more must be full");
            }
            seen.extend(ids(&page.data));
            assert!(
                seen.len() <= expected.len(),
                "walking pages of {limit} listed more deliveries than exist"
            );
            if !page.has_more {
                break;
            }
            cursor = page.data.last().map(|d| d.id.clone());
        }
        assert_eq!(
            seen, expected,
            "walking pages of {limit} must list every delivery once, newest first"
        );
    }
    let foreign_cursor = deliveries(&store, &test, &other.id).await[0].id.clone();
    for (what, tenant, cursor) in [
        ("an unknown cursor", &test, DeliveryId::generate()),
        (
            "another endpoint's delivery as cursor",
            &test,
            foreign_cursor,
        ),
        ("a cursor from another tenant", &live, expected[2].clone()),
    ] {
        let res = store
            .outbound
            .list_deliveries(
                tenant,
                &hook.id,
                &PageRequest {
                    limit: 10,
                    starting_after: Some(cursor),
                },
            )
            .await;
        assert!(
            matches!(res, Err(StoreError::NotFound)),
            "{what} must be NotFound, got {res:?}"
        );
    }

    // Attempts on both endpoints, then delete one.
    let jobs = claim(&store, at(100), at(160), 100).await;
    assert_eq!(jobs.len(), 14, "every delivery of both endpoints is due");
    let recorded: Vec<&DeliveryJob> = [&hook.id, &other.id]
        .into_iter()
        .filter_map(|e| jobs.iter().find(|j| j.endpoint.id == *e))
        .collect();
    for job in &recorded {
        let a = attempt(&job.delivery.id, 1, at(101), Some(500), None);
        let outcome = record(
            &store,
            &test,
            &job.lease,
            &a,
            DeliveryNext::RetryAt(at(500)),
            days(),
        )
        .await;
        assert_eq!(
            outcome, RECORDED,
            "recording under a fresh lease must record"
        );
    }
    assert!(
        store
            .outbound
            .delete_webhook_endpoint(&test, &hook.id)
            .await
            .expect("delete_webhook_endpoint"),
        "deleting an existing endpoint must return true"
    );
    for id in &expected {
        assert_eq!(
            delivery(&store, &test, id).await,
            None,
            "deleting an endpoint must delete its deliveries"
        );
        assert!(
            attempts(&store, &test, id).await.is_empty(),
            "deleting an endpoint must delete its deliveries' attempts"
        );
    }
    assert!(
        deliveries(&store, &test, &hook.id).await.is_empty(),
        "a deleted endpoint lists no deliveries"
    );
    assert_eq!(
        deliveries(&store, &test, &other.id).await.len(),
        7,
        "deleting an endpoint must keep another endpoint's deliveries"
    );
    assert_eq!(
        attempts(&store, &test, &recorded[1].delivery.id)
            .await
            .len(),
        1,
        "deleting an endpoint must keep another endpoint's attempts"
    );
    let left = claim(&store, at(1_000), at(1_060), 100).await;
    assert!(
        left.len() == 7 && left.iter().all(|j| j.endpoint.id == other.id),
        "after the delete only the other endpoint's deliveries may be claimed, got {:?}",
        claimed_ids(&left)
    );
}

/// Only pending, due, unleased deliveries of enabled endpoints are claimed,
/// oldest due first, at most `limit`, across tenants; each job carries the
/// delivery, the endpoint with its secret, the whole event and its own lease; a
/// claimed delivery is claimed again only after its lease ends.
pub async fn outbound_claim_due(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let on = endpoint(&test, EventFilter::All, at(0));
    let off = endpoint(&test, EventFilter::All, at(1));
    let remote = endpoint(&live, EventFilter::All, at(2));
    for e in [&on, &off, &remote] {
        create(&store, e).await;
    }
    let e0 = append(&store, &test, EventKind::PlanChanged, at(0)).await;
    let e5 = append(&store, &live, EventKind::CustomerCreated, at(5)).await;
    let e10 = append(&store, &test, EventKind::KeyCreated, at(10)).await;
    let e20 = append(&store, &test, EventKind::KeyRevoked, at(20)).await;
    let off_disabled = WebhookEndpoint {
        disabled: Some(DisabledReason::Manual),
        updated_at: at(3),
        ..off.clone()
    };
    update(&store, &off_disabled).await;
    let lease_end = at(1_000);
    let mut leases = Vec::new();

    assert!(
        claim(&store, at(-1), lease_end, 10).await.is_empty(),
        "nothing is due before the first event's time"
    );
    let first = claim(&store, at(0), lease_end, 10).await;
    assert_eq!(
        first.len(),
        1,
        "at t0 only the enabled endpoint's delivery of the t0 event is due (due at exactly \
         now counts; disabled endpoints' deliveries are never claimed), got {:?}",
        claimed_ids(&first)
    );
    let job = &first[0];
    assert_eq!(
        delivery(&store, &test, &job.delivery.id).await.as_ref(),
        Some(&job.delivery),
        "the job must carry the delivery as stored"
    );
    assert_eq!(
        (job.delivery.endpoint.clone(), job.delivery.attempts),
        (on.id.clone(), 0),
        "the t0 delivery is the enabled endpoint's, not yet attempted"
    );
    assert_eq!(
        job.endpoint, on,
        "the job must carry the whole endpoint, secret included"
    );
    assert_eq!(job.event, e0, "the job must carry the whole event");
    assert!(!job.lease.0.is_empty(), "a lease token must not be empty");
    leases.push(job.lease.clone());

    let two = claim(&store, at(100), lease_end, 2).await;
    assert_eq!(
        two.iter().map(|j| j.event.id.clone()).collect::<Vec<_>>(),
        vec![e5.id.clone(), e10.id.clone()],
        "claim must respect limit, take the oldest due first, and work across tenants"
    );
    assert_eq!(
        two[0].endpoint, remote,
        "the live delivery goes to the live endpoint"
    );
    assert_eq!(
        two[0].delivery.tenant, live,
        "the job carries its delivery's tenant"
    );
    let rest = claim(&store, at(100), lease_end, 10).await;
    assert_eq!(
        rest.iter().map(|j| j.event.id.clone()).collect::<Vec<_>>(),
        vec![e20.id.clone()],
        "deliveries under a lease must not be claimed again"
    );
    leases.extend(two.iter().chain(&rest).map(|j| j.lease.clone()));
    assert!(
        claim(&store, at(200), lease_end, 10).await.is_empty(),
        "nothing is claimable while every lease holds"
    );

    let again = claim(&store, at(1_001), at(2_000), 10).await;
    assert_eq!(
        again.iter().map(|j| j.event.id.clone()).collect::<Vec<_>>(),
        vec![e0.id.clone(), e5.id.clone(), e10.id.clone(), e20.id.clone()],
        "once their leases end, deliveries are claimable again, oldest due first"
    );
    leases.extend(again.iter().map(|j| j.lease.clone()));
    let distinct: HashSet<&str> = leases.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(
        distinct.len(),
        leases.len(),
        "every claim of every delivery must get its own lease token"
    );

    update(
        &store,
        &WebhookEndpoint {
            disabled: None,
            updated_at: at(1_001),
            ..off_disabled
        },
    )
    .await;
    let resumed = claim(&store, at(1_002), at(2_000), 10).await;
    assert!(
        resumed.len() == 3 && resumed.iter().all(|j| j.endpoint.id == off.id),
        "re-enabling an endpoint makes its pending deliveries claimable, got {:?}",
        claimed_ids(&resumed)
    );
    assert!(
        claim(&store, at(1_003), at(2_000), 10).await.is_empty(),
        "everything due is leased"
    );
}

/// Recording an attempt moves the delivery on (succeeded, pending at the given
/// time, or failed), counts it, keeps its status, releases the lease, keeps the
/// endpoint's failure run, and appends to the attempt log in order.
pub async fn outbound_record_outcomes(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let hook = endpoint(&test, EventFilter::All, at(0));
    create(&store, &hook).await;
    for i in 0..3 {
        append(&store, &test, EventKind::PlanChanged, at(i)).await;
    }
    let jobs = claim(&store, at(10), at(70), 10).await;
    assert_eq!(jobs.len(), 3, "three deliveries are due");
    let (retried, failed, succeeded) = (&jobs[0], &jobs[1], &jobs[2]);

    let first = attempt(&retried.delivery.id, 1, at_ms(11_250), Some(500), None);
    assert_eq!(
        record(
            &store,
            &test,
            &retried.lease,
            &first,
            DeliveryNext::RetryAt(at(20)),
            days()
        )
        .await,
        RECORDED,
        "an attempt under the delivery's lease must be recorded"
    );
    assert_eq!(
        delivery(&store, &test, &retried.delivery.id).await,
        Some(Delivery {
            state: DeliveryState::Pending,
            attempts: 1,
            next_attempt_at: Some(at(20)),
            last_status: Some(500),
            updated_at: first.at,
            ..retried.delivery.clone()
        }),
        "a retry leaves the delivery pending, due at the given time, with the attempt \
         counted, its status kept and updated_at at the attempt"
    );
    let after = stored_endpoint(&store, &hook).await;
    assert_eq!(
        (after.failing_since, after.disabled),
        (Some(first.at), None),
        "a failure starts the endpoint's failure run at the attempt's time"
    );

    let refused = attempt(
        &failed.delivery.id,
        1,
        at(12),
        None,
        Some("connection refused"),
    );
    assert_eq!(
        record(
            &store,
            &test,
            &failed.lease,
            &refused,
            DeliveryNext::Failed,
            days()
        )
        .await,
        RECORDED
    );
    assert_eq!(
        delivery(&store, &test, &failed.delivery.id).await,
        Some(Delivery {
            state: DeliveryState::Failed,
            attempts: 1,
            next_attempt_at: None,
            last_status: None,
            updated_at: refused.at,
            ..failed.delivery.clone()
        }),
        "a delivery out of attempts is failed, with no next attempt and no status"
    );
    assert_eq!(
        stored_endpoint(&store, &hook).await.failing_since,
        Some(first.at),
        "failing_since is the first failure's time of the run"
    );

    let ok = attempt(&succeeded.delivery.id, 1, at(13), Some(204), None);
    assert_eq!(
        record(
            &store,
            &test,
            &succeeded.lease,
            &ok,
            DeliveryNext::Succeeded,
            days()
        )
        .await,
        RECORDED
    );
    assert_eq!(
        delivery(&store, &test, &succeeded.delivery.id).await,
        Some(Delivery {
            state: DeliveryState::Succeeded,
            attempts: 1,
            next_attempt_at: None,
            last_status: Some(204),
            updated_at: ok.at,
            ..succeeded.delivery.clone()
        }),
        "a success is succeeded, with no next attempt and the status kept"
    );
    assert_eq!(
        stored_endpoint(&store, &hook).await.failing_since,
        None,
        "a success clears the endpoint's failure run"
    );
    assert_eq!(
        record(
            &store,
            &test,
            &succeeded.lease,
            &attempt(&succeeded.delivery.id, 2, at(14), Some(200), None),
            DeliveryNext::Succeeded,
            days()
        )
        .await,
        REFUSED,
        "recording releases the lease: the same lease must not record twice"
    );

    assert!(
        claim(&store, at(19), at(79), 10).await.is_empty(),
        "a retried delivery is not due before its time; failed and succeeded ones never are"
    );
    let second_round = claim(&store, at(20), at(80), 10).await;
    assert_eq!(
        claimed_ids(&second_round),
        vec![retried.delivery.id.clone()],
        "a retry is claimable at its time even though the old lease would still hold: \
         recording released it"
    );
    assert_eq!(
        second_round[0].delivery.attempts, 1,
        "the job counts the attempts made before it"
    );
    let second = DeliveryAttempt {
        latency_ms: 4_321,
        ..attempt(&retried.delivery.id, 2, at_ms(21_001), Some(200), None)
    };
    assert_eq!(
        record(
            &store,
            &test,
            &second_round[0].lease,
            &second,
            DeliveryNext::Succeeded,
            days()
        )
        .await,
        RECORDED
    );
    let d = delivery(&store, &test, &retried.delivery.id)
        .await
        .expect("the delivery exists");
    assert_eq!(
        (d.state, d.attempts, d.last_status),
        (DeliveryState::Succeeded, 2, Some(200)),
        "the second attempt's success is recorded"
    );
    assert_eq!(
        attempts(&store, &test, &retried.delivery.id).await,
        vec![first, second],
        "list_delivery_attempts must return every attempt unchanged, first first"
    );
    assert_eq!(
        attempts(&store, &test, &failed.delivery.id).await,
        vec![refused],
        "an attempt without a response keeps its error text"
    );
    assert!(
        attempts(&store, &live, &failed.delivery.id)
            .await
            .is_empty(),
        "another tenant must see none of the attempts"
    );
    assert!(
        attempts(&store, &test, &DeliveryId::generate())
            .await
            .is_empty(),
        "an unknown delivery has no attempts"
    );
    assert!(
        claim(&store, at(100_000), at(100_060), 10).await.is_empty(),
        "no delivery is pending any more"
    );
}

/// Only the delivery's current lease records: a made-up token, another tenant,
/// another delivery's lease, or a lease that expired and was taken over by a new
/// claim record nothing and change nothing. A lease that expired without being
/// taken over is still the delivery's.
pub async fn outbound_record_lease_checks(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let hook = endpoint(&test, EventFilter::All, at(0));
    create(&store, &hook).await;
    append(&store, &test, EventKind::PlanChanged, at(0)).await;
    append(&store, &test, EventKind::PlanChanged, at(1)).await;
    let jobs = claim(&store, at(2), at(62), 10).await;
    assert_eq!(jobs.len(), 2, "both deliveries are due");
    let (job, neighbour) = (&jobs[0], &jobs[1]);
    let id = &job.delivery.id;
    let unchanged = |what: String| {
        let store = store.clone();
        let test = test.clone();
        let id = id.clone();
        let hook = hook.clone();
        async move {
            let d = delivery(&store, &test, &id)
                .await
                .expect("the delivery exists");
            assert_eq!(
                (d.state, d.attempts, d.last_status, d.next_attempt_at),
                (DeliveryState::Pending, 0, None, Some(at(0))),
                "{what} must not change the delivery"
            );
            assert!(
                attempts(&store, &test, &id).await.is_empty(),
                "{what} must not log an attempt"
            );
            assert_eq!(
                stored_endpoint(&store, &hook).await,
                hook,
                "{what} must not touch the endpoint's failure run"
            );
        }
    };

    let failure = attempt(id, 1, at(3), Some(500), None);
    for (what, tenant, lease) in [
        ("a made-up lease", &test, LeaseToken::generate()),
        (
            "the right lease from another tenant",
            &live,
            job.lease.clone(),
        ),
        ("another delivery's lease", &test, neighbour.lease.clone()),
    ] {
        assert_eq!(
            record(
                &store,
                tenant,
                &lease,
                &failure,
                DeliveryNext::RetryAt(at(30)),
                Duration::zero()
            )
            .await,
            REFUSED,
            "{what} must record nothing"
        );
        unchanged(what.to_owned()).await;
    }

    let taken_over = claim(&store, at(63), at(123), 1).await;
    assert_eq!(
        claimed_ids(&taken_over),
        vec![id.clone()],
        "after its lease ends the delivery is claimable again"
    );
    assert_ne!(
        taken_over[0].lease, job.lease,
        "a new claim gets a new lease"
    );
    assert_eq!(
        record(
            &store,
            &test,
            &job.lease,
            &attempt(id, 1, at(64), Some(500), None),
            DeliveryNext::RetryAt(at(30)),
            Duration::zero()
        )
        .await,
        REFUSED,
        "a lease that expired and was taken over by a new claim must record nothing"
    );
    unchanged("an expired, taken-over lease".to_owned()).await;
    let current = attempt(id, 1, at(65), Some(503), None);
    assert_eq!(
        record(
            &store,
            &test,
            &taken_over[0].lease,
            &current,
            DeliveryNext::RetryAt(at(200)),
            days()
        )
        .await,
        RECORDED,
        "the current lease records"
    );
    assert_eq!(
        attempts(&store, &test, id).await,
        vec![current],
        "exactly the current lease's attempt is logged"
    );

    // The neighbour's lease ended at t62 and nobody claimed it since: still its own.
    let late = attempt(&neighbour.delivery.id, 1, at(90), Some(200), None);
    assert_eq!(
        record(
            &store,
            &test,
            &neighbour.lease,
            &late,
            DeliveryNext::Succeeded,
            days()
        )
        .await,
        RECORDED,
        "a lease that expired but was not taken over is still the delivery's and records"
    );
    assert_eq!(
        delivery(&store, &test, &neighbour.delivery.id)
            .await
            .map(|d| d.state),
        Some(DeliveryState::Succeeded)
    );
}

/// Claims one due delivery at `now` and records a failed attempt for it.
async fn fail_next(
    store: &Stores,
    tenant: &Tenant,
    now: DateTime<Utc>,
    next: DeliveryNext,
    disable_after: Duration,
) -> AttemptRecorded {
    let jobs = claim(store, now, now + Duration::seconds(60), 1).await;
    let job = jobs
        .first()
        .unwrap_or_else(|| panic!("a delivery must be due at {now}"));
    let a = attempt(
        &job.delivery.id,
        job.delivery.attempts + 1,
        now,
        Some(500),
        None,
    );
    record(store, tenant, &job.lease, &a, next, disable_after).await
}

/// An endpoint failing without a success for `disable_after` is disabled for
/// failing — reported once — and its deliveries are no longer claimed; a success
/// in between starts the run over.
pub async fn outbound_auto_disable(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let hour = Duration::hours(1);
    let later = DeliveryNext::RetryAt(at(1_000_000));
    let hook = endpoint(&test, EventFilter::All, at(0));
    create(&store, &hook).await;
    for _ in 0..8 {
        append(&store, &test, EventKind::UsageLimitReached, at(0)).await;
    }
    let run = |what: &'static str| {
        let store = store.clone();
        let hook = hook.clone();
        async move {
            let e = stored_endpoint(&store, &hook).await;
            (e.failing_since, e.disabled, what)
        }
    };

    assert_eq!(fail_next(&store, &test, at(0), later, hour).await, RECORDED);
    assert_eq!(
        run("first failure").await,
        (Some(at(0)), None, "first failure"),
        "a first failure starts the run without disabling"
    );
    assert_eq!(
        fail_next(&store, &test, at(1_800), DeliveryNext::Failed, hour).await,
        RECORDED
    );
    assert_eq!(
        run("second failure").await,
        (Some(at(0)), None, "second failure"),
        "a failure half-way through the run keeps its start and does not disable"
    );

    let jobs = claim(&store, at(2_000), at(2_060), 1).await;
    let job = jobs.first().expect("a delivery is due");
    let ok = attempt(&job.delivery.id, 1, at(2_000), Some(200), None);
    assert_eq!(
        record(
            &store,
            &test,
            &job.lease,
            &ok,
            DeliveryNext::Succeeded,
            hour
        )
        .await,
        RECORDED
    );
    assert_eq!(
        run("success").await,
        (None, None, "success"),
        "a success ends the failure run"
    );

    assert_eq!(
        fail_next(&store, &test, at(3_000), later, hour).await,
        RECORDED
    );
    assert_eq!(
        run("failure after a success").await,
        (Some(at(3_000)), None, "failure after a success"),
        "after a success the run starts over at the next failure"
    );
    assert_eq!(
        fail_next(&store, &test, at(3_000 + 3_599), later, hour).await,
        RECORDED,
        "a run one second short of disable_after must not disable"
    );

    let now = at(3_000 + 3_600);
    let pair = claim(&store, now, now + Duration::seconds(60), 2).await;
    assert_eq!(pair.len(), 2, "two deliveries are still due");
    let disabling = attempt(&pair[0].delivery.id, 1, now, None, Some("timeout"));
    assert_eq!(
        record(&store, &test, &pair[0].lease, &disabling, later, hour).await,
        AttemptRecorded {
            recorded: true,
            endpoint_disabled: true
        },
        "a failure disable_after into the run must disable the endpoint and say so"
    );
    let disabled = stored_endpoint(&store, &hook).await;
    assert_eq!(
        (disabled.disabled, disabled.failing_since),
        (Some(DisabledReason::Failing), Some(at(3_000))),
        "the endpoint is disabled for failing, its run still starting at the first failure"
    );
    let next_in_flight = attempt(
        &pair[1].delivery.id,
        1,
        now + Duration::seconds(1),
        Some(502),
        None,
    );
    assert_eq!(
        record(&store, &test, &pair[1].lease, &next_in_flight, later, hour).await,
        RECORDED,
        "an attempt already in flight still records, and the endpoint is disabled only once"
    );
    assert_eq!(
        stored_endpoint(&store, &hook).await.disabled,
        Some(DisabledReason::Failing)
    );
    assert!(
        claim(&store, at(2_000_000), at(2_000_060), 10)
            .await
            .is_empty(),
        "a disabled endpoint's pending deliveries must not be claimed"
    );

    update(
        &store,
        &WebhookEndpoint {
            disabled: None,
            failing_since: None,
            updated_at: at(2_000_000),
            ..disabled
        },
    )
    .await;
    let resumed = claim(&store, at(2_000_000), at(2_000_060), 10).await;
    assert_eq!(
        resumed.len(),
        6,
        "re-enabling makes the pending deliveries claimable again (one untried, five retries)"
    );
}

/// A manual retry makes a failed or succeeded delivery pending and due at once,
/// keeping its attempts; a delivery in flight keeps its lease; an unknown or
/// foreign delivery is `None`.
pub async fn outbound_retry_delivery(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let hook = endpoint(&test, EventFilter::All, at(0));
    create(&store, &hook).await;
    append(&store, &test, EventKind::PaymentFailed, at(0)).await;
    append(&store, &test, EventKind::PaymentSucceeded, at(1)).await;
    let jobs = claim(&store, at(10), at(70), 10).await;
    assert_eq!(jobs.len(), 2, "both deliveries are due");
    let outcomes = [
        (DeliveryNext::Failed, Some(500), DeliveryState::Failed),
        (DeliveryNext::Succeeded, Some(200), DeliveryState::Succeeded),
    ];
    for (job, (next, status, _)) in jobs.iter().zip(outcomes) {
        let a = attempt(&job.delivery.id, 1, at(11), status, None);
        assert_eq!(
            record(&store, &test, &job.lease, &a, next, days()).await,
            RECORDED
        );
    }
    for (job, (_, status, state)) in jobs.iter().zip(outcomes) {
        let id = &job.delivery.id;
        let before = delivery(&store, &test, id)
            .await
            .expect("the delivery exists");
        assert_eq!(before.state, state);
        let foreign = store
            .outbound
            .retry_delivery(&live, id, at(100))
            .await
            .expect("retry_delivery (foreign)");
        assert_eq!(foreign, None, "another tenant must not retry the delivery");
        assert_eq!(
            delivery(&store, &test, id).await.as_ref(),
            Some(&before),
            "a foreign retry must change nothing"
        );
        let retried = store
            .outbound
            .retry_delivery(&test, id, at(100))
            .await
            .expect("retry_delivery");
        let expected = Delivery {
            state: DeliveryState::Pending,
            next_attempt_at: Some(at(100)),
            updated_at: at(100),
            attempts: 1,
            last_status: status,
            ..job.delivery.clone()
        };
        assert_eq!(
            retried.as_ref(),
            Some(&expected),
            "retrying a {} delivery makes it pending, due now, keeping its attempts",
            state.as_str()
        );
        assert_eq!(
            delivery(&store, &test, id).await,
            Some(expected),
            "retry_delivery must return the delivery as stored"
        );
    }
    let missing = store
        .outbound
        .retry_delivery(&test, &DeliveryId::generate(), at(100))
        .await
        .expect("retry_delivery (unknown)");
    assert_eq!(missing, None, "retrying an unknown delivery must be None");

    assert!(
        claim(&store, at(99), at(159), 10).await.is_empty(),
        "a retried delivery is due at the retry's time, not before"
    );
    let again = claim(&store, at(100), at(160), 10).await;
    assert_eq!(
        claimed_ids(&again).into_iter().collect::<BTreeSet<_>>(),
        claimed_ids(&jobs).into_iter().collect::<BTreeSet<_>>(),
        "retried deliveries are claimable again"
    );
    let in_flight = &again[0];
    assert!(
        store
            .outbound
            .retry_delivery(&test, &in_flight.delivery.id, at(110))
            .await
            .expect("retry_delivery (in flight)")
            .is_some(),
        "a delivery in flight can be retried"
    );
    assert!(
        claim(&store, at(120), at(180), 10)
            .await
            .iter()
            .all(|j| j.delivery.id != in_flight.delivery.id),
        "retrying a delivery in flight must not end its lease"
    );
    let a = attempt(&in_flight.delivery.id, 2, at(121), Some(200), None);
    assert_eq!(
        record(
            &store,
            &test,
            &in_flight.lease,
            &a,
            DeliveryNext::Succeeded,
            days()
        )
        .await,
        RECORDED,
        "the lease of a delivery retried in flight still records"
    );
}

/// 200 deliveries across two tenants; 8 tasks claim batches of at most 7 until
/// nothing is left: every delivery is claimed exactly once.
pub async fn outbound_concurrent_claims(store: Stores) {
    const CLAIMERS: usize = 8;
    const BATCH: usize = 7;
    const TOTAL: usize = 200;
    let (test, live) = new_tenants(&store).await;
    let hooks: Vec<WebhookEndpoint> = [&test, &test, &live, &live]
        .into_iter()
        .enumerate()
        .map(|(i, t)| endpoint(t, EventFilter::All, at(i as i64)))
        .collect();
    for e in &hooks {
        create(&store, e).await;
    }
    for i in 0..50 {
        append(&store, &test, EventKind::CustomerUpdated, at(i)).await;
        append(&store, &live, EventKind::CustomerUpdated, at(i)).await;
    }
    let mut expected = BTreeSet::new();
    for e in &hooks {
        expected.extend(ids(&deliveries(&store, &e.tenant, &e.id).await));
    }
    assert_eq!(expected.len(), TOTAL, "four endpoints times fifty events");

    let barrier = Arc::new(tokio::sync::Barrier::new(CLAIMERS));
    let tasks: Vec<_> = (0..CLAIMERS)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let mut mine = Vec::new();
                loop {
                    let batch = claim(&store, at(100), at(10_000), BATCH).await;
                    assert!(
                        batch.len() <= BATCH,
                        "a claim returned {} deliveries for limit {BATCH}",
                        batch.len()
                    );
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed_ids(&batch));
                    // Fail rather than spin when leases are not honoured.
                    assert!(
                        mine.len() <= TOTAL,
                        "one claimer alone claimed more deliveries than exist: claims \
                         under a lease must not be claimed again"
                    );
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("a claiming task panicked"));
    }
    let unique: BTreeSet<DeliveryId> = claimed.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        claimed.len(),
        "{} deliveries were claimed more than once by concurrent claimers",
        claimed.len() - unique.len()
    );
    assert_eq!(
        unique.len(),
        expected.len(),
        "concurrent claimers must claim every due delivery ({} of {})",
        unique.len(),
        expected.len()
    );
    assert_eq!(
        unique, expected,
        "the claimed deliveries are exactly the queued ones"
    );
    assert!(
        claim(&store, at(100), at(10_000), 10).await.is_empty(),
        "nothing is left to claim"
    );
}

/// 16 concurrent records of the same attempt under the same lease, in several
/// rounds (so the later ones race on a warm connection pool): each time exactly
/// one records, and the log holds one attempt.
pub async fn outbound_concurrent_records(store: Stores) {
    const RECORDERS: u32 = 16;
    const ROUNDS: usize = 6;
    let (test, _) = new_tenants(&store).await;
    let hook = endpoint(&test, EventFilter::All, at(0));
    create(&store, &hook).await;
    for _ in 0..ROUNDS {
        append(&store, &test, EventKind::PlanChanged, at(0)).await;
    }
    let jobs = claim(&store, at(1), at(61), ROUNDS).await;
    assert_eq!(jobs.len(), ROUNDS, "every delivery is due");
    for (round, job) in jobs.into_iter().enumerate() {
        let barrier = Arc::new(tokio::sync::Barrier::new(RECORDERS as usize));
        let tasks: Vec<_> = (0..RECORDERS)
            .map(|i| {
                let store = store.clone();
                let barrier = barrier.clone();
                let test = test.clone();
                let job = job.clone();
                tokio::spawn(async move {
                    let a = DeliveryAttempt {
                        latency_ms: i,
                        ..attempt(&job.delivery.id, 1, at(2), Some(500), None)
                    };
                    barrier.wait().await;
                    let outcome = store
                        .outbound
                        .record_delivery_attempt(
                            &test,
                            &job.lease,
                            &a,
                            DeliveryNext::RetryAt(at(30)),
                            Duration::days(5),
                        )
                        .await
                        .unwrap_or_else(|e| {
                            panic!(
                                "record_delivery_attempt must not fail under concurrency \
                                 (round {round}): {e:?}"
                            )
                        });
                    (outcome, a)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (outcome, a) = task.await.expect("a recording task panicked");
            assert!(!outcome.endpoint_disabled, "one failure disables nothing");
            if outcome.recorded {
                winners.push(a);
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "{RECORDERS} concurrent records under one lease (round {round}): exactly one \
             must record"
        );
        assert_eq!(
            attempts(&store, &test, &job.delivery.id).await,
            winners,
            "the log must hold exactly the winning attempt (round {round})"
        );
        let d = delivery(&store, &test, &job.delivery.id)
            .await
            .expect("the delivery exists");
        assert_eq!(
            (d.attempts, d.next_attempt_at),
            (1, Some(at(30))),
            "the delivery counts one attempt (round {round})"
        );
    }
}

/// The delivery log's retention: finished deliveries older than the cut-off go
/// with their attempts, across tenants, at most `limit` per call; pending ones
/// stay however old.
pub async fn outbound_purge_finished(store: Stores) {
    let (test, live) = new_tenants(&store).await;
    let hook = endpoint(&test, EventFilter::All, at(0));
    let live_hook = endpoint(&live, EventFilter::All, at(0));
    create(&store, &hook).await;
    create(&store, &live_hook).await;
    for (i, kind) in [
        EventKind::PaymentSucceeded,
        EventKind::PaymentFailed,
        EventKind::PlanChanged,
        EventKind::CustomerCreated,
    ]
    .into_iter()
    .enumerate()
    {
        append(&store, &test, kind, at(i as i64)).await;
    }
    append(&store, &live, EventKind::PlanChanged, at(0)).await;
    let jobs = claim(&store, at(10), at(70), 10).await;
    assert_eq!(jobs.len(), 5, "every delivery is due");
    let job = |tenant: &Tenant, kind: EventKind| {
        jobs.iter()
            .find(|j| j.delivery.tenant == *tenant && j.event.kind == kind)
            .unwrap_or_else(|| panic!("a {kind:?} delivery was claimed"))
            .clone()
    };
    let succeeded = job(&test, EventKind::PaymentSucceeded);
    let failed = job(&test, EventKind::PaymentFailed);
    let retrying = job(&test, EventKind::PlanChanged);
    let in_flight = job(&test, EventKind::CustomerCreated);
    let live_done = job(&live, EventKind::PlanChanged);
    for (tenant, j, next, when) in [
        (&test, &succeeded, DeliveryNext::Succeeded, at(11)),
        (&test, &failed, DeliveryNext::Failed, at(12)),
        (&test, &retrying, DeliveryNext::RetryAt(at(100)), at(5)),
        (&live, &live_done, DeliveryNext::Succeeded, at(11)),
    ] {
        let a = attempt(&j.delivery.id, 1, when, Some(500), None);
        assert_eq!(
            record(&store, tenant, &j.lease, &a, next, days()).await,
            RECORDED
        );
    }

    let purge = |before, limit| {
        let store = store.clone();
        async move {
            store
                .outbound
                .purge_finished_deliveries(before, limit)
                .await
                .unwrap_or_else(|e| panic!("purge_finished_deliveries: {e:?}"))
        }
    };
    assert_eq!(
        purge(at(12), 10).await,
        2,
        "finished before the cut-off (strictly), in every tenant"
    );
    assert_eq!(delivery(&store, &test, &succeeded.delivery.id).await, None);
    assert!(
        attempts(&store, &test, &succeeded.delivery.id)
            .await
            .is_empty(),
        "a purged delivery's attempts go with it"
    );
    assert_eq!(delivery(&store, &live, &live_done.delivery.id).await, None);
    assert!(
        delivery(&store, &test, &failed.delivery.id).await.is_some(),
        "a delivery changed at the cut-off stays"
    );
    assert_eq!(purge(at(1_000), 0).await, 0, "a limit of 0 purges nothing");
    assert_eq!(purge(at(1_000), 1).await, 1, "at most `limit` per call");
    assert_eq!(delivery(&store, &test, &failed.delivery.id).await, None);
    assert_eq!(
        purge(at(1_000), 10).await,
        0,
        "pending deliveries are never purged"
    );
    for j in [&retrying, &in_flight] {
        assert!(
            delivery(&store, &test, &j.delivery.id).await.is_some(),
            "pending deliveries stay, retrying or in flight"
        );
    }
}
