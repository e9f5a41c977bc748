//! A corrupt endpoint row must not block a tenant's event log. Needs a backend
//! hook that writes the corrupt row (SQL backends), so it is not in
//! `store_conformance_tests!`: the SQL backends' test files call it.

use std::future::Future;

use dream_core::{ports::Stores, EventFilter, EventKind, WebhookEndpointId};

use super::{
    fixtures::{at, new_tenants},
    outbound::{append, create, deliveries, endpoint},
};

/// Three endpoints of one tenant; then `corrupt(bad_filter, bad_rest)` makes the
/// first one's stored event types unparsable and the second one's URL and secret
/// unparsable, directly in the backend. Appending an event must still succeed:
/// the fan-out reads only ids and filters, so the second and third endpoints get
/// their deliveries, and only the first (whose filter cannot be read) misses it.
pub async fn outbound_fan_out_skips_corrupt_endpoints<F, Fut>(store: Stores, corrupt: F)
where
    F: FnOnce(WebhookEndpointId, WebhookEndpointId) -> Fut,
    Fut: Future<Output = ()>,
{
    let (test, _) = new_tenants(&store).await;
    let bad_filter = endpoint(&test, EventFilter::All, at(0));
    let bad_rest = endpoint(&test, EventFilter::All, at(1));
    let healthy = endpoint(&test, EventFilter::All, at(2));
    for e in [&bad_filter, &bad_rest, &healthy] {
        create(&store, e).await;
    }
    corrupt(bad_filter.id.clone(), bad_rest.id.clone()).await;

    let event = append(&store, &test, EventKind::CustomerCreated, at(10)).await;
    for (what, e) in [("a healthy", &healthy), ("a corrupt-secret", &bad_rest)] {
        let queued = deliveries(&store, &test, &e.id).await;
        assert_eq!(
            queued.iter().map(|d| &d.event).collect::<Vec<_>>(),
            vec![&event.id],
            "{what} endpoint must get its delivery although another row is corrupt"
        );
    }
    assert!(
        deliveries(&store, &test, &bad_filter.id).await.is_empty(),
        "an endpoint whose filter cannot be read gets nothing (it is logged)"
    );
    let listed = store
        .events
        .list_events(&test, &dream_core::PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("list_events: {e:?}"));
    assert_eq!(
        listed.data.iter().map(|e| &e.id).collect::<Vec<_>>(),
        vec![&event.id],
        "the event must be in the log"
    );
}
