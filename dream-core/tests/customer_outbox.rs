//! A customer's `customer.created` is written with the customer (an outbox), so
//! an event log that refuses appends cannot leave a customer without its event;
//! likewise a plan change and its `plan.changed`.
//!
//! The event port here refuses every append (a failing append, injected); the
//! customer port is the real memory store, whose outbox write stores the event
//! in the same log the event port reads. Before the outbox, the customer was
//! stored and the separate append failed: a customer without its event.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::{EventStore, Stores},
    CustomerPatch, Dream, Event, EventId, EventKind, Interval, Mode, Money, NewCustomer, Page,
    PageRequest, StoreError, Tenant, Tier, TierKind, UsageLimit,
};
use dream_store::MemoryStore;

/// The memory event log, except that every append fails.
struct RefusingAppends(Arc<MemoryStore>);

#[async_trait]
impl EventStore for RefusingAppends {
    async fn append_event(&self, _event: &Event) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("injected append failure".into()))
    }

    async fn list_events(
        &self,
        tenant: &Tenant,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.0.list_events(tenant, page).await
    }

    async fn list_customer_events(
        &self,
        tenant: &Tenant,
        customer: &dream_core::CustomerId,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.0.list_customer_events(tenant, customer, page).await
    }

    async fn purge_events(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        self.0.purge_events(before, limit).await
    }
}

fn plan(name: &str, price: f64) -> Tier {
    Tier {
        name: name.into(),
        display_name: name.into(),
        price: Money::from_major(price, "usd").expect("money"),
        kind: TierKind::Recurring {
            interval: Interval::Month,
        },
        limit: UsageLimit::Limited(10),
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: dream_core::DEFAULT_ALERTS.to_vec(),
        meters: Default::default(),
        grants: None,
        archived: false,
    }
}

/// A tenant with a free and a pro plan, on a memory store whose event port
/// refuses every append.
async fn refusing_appends() -> (Dream, Tenant) {
    let memory = Arc::new(MemoryStore::new());
    let mut stores = Stores::from(memory.clone());
    stores.events = Arc::new(RefusingAppends(memory));
    let dream = Dream::new(stores);
    let platform = dream.create_platform(None).await.expect("platform");
    let tenant = Tenant::new(platform.id, Mode::Test);
    dream
        .configure_tiers(&tenant, vec![plan("free", 0.0), plan("pro", 29.0)])
        .await
        .expect("tiers");
    (dream, tenant)
}

async fn logged(dream: &Dream, tenant: &Tenant, kind: EventKind) -> usize {
    dream
        .stores()
        .events
        .list_events(tenant, &PageRequest::first(100))
        .await
        .expect("events")
        .data
        .iter()
        .filter(|e| e.kind == kind)
        .count()
}

#[tokio::test]
async fn a_failing_append_cannot_lose_plan_changed() {
    let (dream, tenant) = refusing_appends().await;
    dream
        .create_customer(
            &tenant,
            NewCustomer {
                external_id: Some("bob".into()),
                ..NewCustomer::default()
            },
        )
        .await
        .expect("customer");
    let changed = dream
        .update_customer(
            &tenant,
            "bob",
            CustomerPatch {
                plan: Some("pro".into()),
                ..CustomerPatch::default()
            },
        )
        .await;
    let plan = dream.customer(&tenant, "bob").await.expect("bob").plan;
    if plan == "pro" {
        assert!(changed.is_ok(), "a changed plan was reported as failed");
        assert_eq!(
            logged(&dream, &tenant, EventKind::PlanChanged).await,
            1,
            "the plan changed without its plan.changed event"
        );
    } else {
        assert_eq!(logged(&dream, &tenant, EventKind::PlanChanged).await, 0);
    }
}

#[tokio::test]
async fn a_failing_append_cannot_lose_customer_created() {
    let (dream, tenant) = refusing_appends().await;

    let created = dream
        .create_customer(
            &tenant,
            NewCustomer {
                external_id: Some("ada".into()),
                ..NewCustomer::default()
            },
        )
        .await;
    let customer = dream.customer(&tenant, "ada").await.ok();
    let logged = logged(&dream, &tenant, EventKind::CustomerCreated).await;
    match customer {
        Some(c) => {
            assert!(created.is_ok(), "a stored customer was reported as failed");
            assert_eq!(
                logged, 1,
                "customer {} was stored without its customer.created event",
                c.id
            );
        }
        None => assert_eq!(logged, 0, "an event for a customer never stored"),
    }
}
