//! The customer outbox: a customer and its `customer.created` event are stored
//! in one atomic write, so a failed event write never leaves the customer
//! without its event (nor an event without its customer).

use serde_json::json;

use dream_core::{
    ports::Stores, Customer, Event, EventFilter, EventKind, PageRequest, SigningSecret, StoreError,
    StoredSigningSecret, Tenant, WebhookEndpoint, WebhookEndpointId,
};

use super::fixtures::{at, customer, new_tenants};

fn created(c: &Customer) -> Event {
    Event::new(
        c.tenant.clone(),
        EventKind::CustomerCreated,
        Some(c.id.clone()),
        json!({ "plan": c.plan }),
        c.created_at,
    )
}

async fn insert(
    store: &Stores,
    c: &Customer,
    max: Option<u64>,
    event: &Event,
) -> Result<bool, StoreError> {
    store
        .customers
        .insert_customer_with_event(c, max, event)
        .await
}

async fn stored(store: &Stores, c: &Customer) -> bool {
    store
        .customers
        .get_customer(&c.tenant, &c.id)
        .await
        .unwrap_or_else(|e| panic!("get_customer failed: {e:?}"))
        .is_some()
}

async fn event_ids(store: &Stores, tenant: &Tenant) -> Vec<String> {
    store
        .events
        .list_events(tenant, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("list_events failed: {e:?}"))
        .data
        .into_iter()
        .map(|e| e.id.to_string())
        .collect()
}

/// Both or neither: a stored customer has its event (and the event its webhook
/// delivery); when the event write fails (its id exists: an injected append
/// failure) the customer is not stored either; a full cap stores neither; a
/// duplicate external id stores neither.
pub async fn customers_insert_with_event_is_all_or_nothing(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        tenant: test.clone(),
        url: "https://hooks.example.com/outbox".into(),
        description: None,
        filter: EventFilter::All,
        secret: StoredSigningSecret::Plain(SigningSecret::generate()),
        disabled: None,
        failing_since: None,
        created_at: at(0),
        updated_at: at(0),
    };
    store
        .outbound
        .create_webhook_endpoint(&endpoint)
        .await
        .unwrap_or_else(|e| panic!("create_webhook_endpoint failed: {e:?}"));

    let ada = customer(&test, Some("ada"), at(1));
    let ada_created = created(&ada);
    assert_eq!(
        insert(store, &ada, None, &ada_created).await.ok(),
        Some(true)
    );
    assert!(stored(store, &ada).await, "the customer must be stored");
    assert_eq!(
        event_ids(store, &test).await,
        vec![ada_created.id.to_string()],
        "its event must be stored with it"
    );
    let deliveries = store
        .outbound
        .list_deliveries(&test, &endpoint.id, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("list_deliveries failed: {e:?}"));
    assert_eq!(
        deliveries.data.iter().map(|d| &d.event).collect::<Vec<_>>(),
        vec![&ada_created.id],
        "the event must be fanned out to the tenant's endpoint in the same write"
    );

    // The event write fails: its id is taken already.
    let bob = customer(&test, Some("bob"), at(2));
    let failing = Event {
        id: ada_created.id.clone(),
        ..created(&bob)
    };
    let refused = insert(store, &bob, None, &failing).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "a failed event write must fail the whole call, got {refused:?}"
    );
    assert!(
        !stored(store, &bob).await,
        "the customer must not be stored when its event could not be"
    );

    // A full cap stores neither.
    let carol = customer(&test, Some("carol"), at(3));
    let carol_created = created(&carol);
    assert_eq!(
        insert(store, &carol, Some(1), &carol_created).await.ok(),
        Some(false)
    );
    assert!(!stored(store, &carol).await);

    // A duplicate external id stores neither.
    let ada_again = customer(&test, Some("ada"), at(4));
    let again_created = created(&ada_again);
    assert!(matches!(
        insert(store, &ada_again, Some(10), &again_created).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        event_ids(store, &test).await,
        vec![ada_created.id.to_string()],
        "refused inserts must store no event"
    );

    // The retry of the failed one, with a fresh event, stores both.
    let bob_created = created(&bob);
    assert_eq!(
        insert(store, &bob, Some(10), &bob_created).await.ok(),
        Some(true)
    );
    assert!(stored(store, &bob).await);
    assert_eq!(
        event_ids(store, &test).await,
        vec![bob_created.id.to_string(), ada_created.id.to_string()]
    );
}

/// A plan change writes the events built from the replaced plan in the same
/// atomic step: they are in the log when it applies; when writing them fails
/// (an event id that exists: an injected append failure) the plan does not
/// change; an unknown customer is `NotFound` and writes nothing.
pub async fn customers_plan_change_writes_its_events(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let ada = customer(&test, Some("ada"), at(1));
    assert_eq!(
        insert(store, &ada, None, &created(&ada)).await.ok(),
        Some(true)
    );
    let changed = |reuse: Option<&Event>| {
        let (tenant, id) = (test.clone(), ada.id.clone());
        let reuse = reuse.map(|e| e.id.clone());
        move |previous: &str| {
            let event = Event::new(
                tenant.clone(),
                EventKind::PlanChanged,
                Some(id.clone()),
                json!({ "from": previous }),
                at(2),
            );
            vec![match &reuse {
                Some(taken) => Event {
                    id: taken.clone(),
                    ..event
                },
                None => event,
            }]
        }
    };
    let plan_of = |c: &Customer| {
        let (tenant, id) = (c.tenant.clone(), c.id.clone());
        async move {
            store
                .customers
                .get_customer(&tenant, &id)
                .await
                .unwrap_or_else(|e| panic!("get_customer failed: {e:?}"))
                .map(|c| c.plan)
        }
    };

    let previous = store
        .customers
        .change_customer_plan(&test, &ada.id, "pro", at(2), &changed(None))
        .await
        .unwrap_or_else(|e| panic!("change_customer_plan failed: {e:?}"));
    assert_eq!(previous, "free");
    let log = store
        .events
        .list_events(&test, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("list_events failed: {e:?}"))
        .data;
    assert_eq!(log.len(), 2, "customer.created and plan.changed: {log:?}");
    assert_eq!(
        log[0].data,
        json!({ "from": "free" }),
        "the event built from the replaced plan must be stored with the change"
    );

    let failing = store
        .customers
        .change_customer_plan(&test, &ada.id, "team", at(3), &changed(log.first()))
        .await;
    assert!(
        matches!(failing, Err(StoreError::Conflict(_))),
        "a plan change whose event cannot be written must fail, got {failing:?}"
    );
    assert_eq!(
        plan_of(&ada).await.as_deref(),
        Some("pro"),
        "the plan must not change without its event"
    );

    let ghost = customer(&test, Some("ghost"), at(4));
    assert!(matches!(
        store
            .customers
            .change_customer_plan(&test, &ghost.id, "pro", at(4), &changed(None))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        event_ids(store, &test).await.len(),
        2,
        "refused plan changes must write no event"
    );
}
