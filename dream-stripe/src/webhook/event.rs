//! A verified Stripe event, read into dream's [`ProviderEvent`].
//!
//! Read tolerantly from JSON, not through async-stripe's generated webhook types: those
//! are strict about one API version, and an event from an endpoint pinned to a newer
//! version must still be understood. Unknown fields are ignored; only the fields dream
//! acts on are required.

use chrono::{DateTime, Utc};
use dream_core::{
    metadata_keys, monthly_minor, BillingChange, CheckoutKind, Interval, Metadata, ProviderEvent,
    SubscriptionState, SubscriptionStatus, WebhookError,
};
use serde_json::{Map, Value};

type Object = Map<String, Value>;

/// Parses an event's raw JSON. Event types dream does not act on parse with
/// `change: None`.
///
/// # Errors
/// `InvalidPayload` when the payload is not a JSON object, lacks `id`, `type`, `created`
/// or `data.object`, or an event type dream acts on lacks a field it needs.
pub(crate) fn parse(payload: &[u8]) -> Result<ProviderEvent, WebhookError> {
    let event: Value = serde_json::from_slice(payload)
        .map_err(|e| invalid(format!("the payload is not JSON: {e}")))?;
    let event = event
        .as_object()
        .ok_or_else(|| invalid("the payload is not a JSON object"))?;
    let id = required_str(event, "id", "event")?.to_owned();
    let kind = required_str(event, "type", "event")?.to_owned();
    let created = timestamp(event, "created")?.ok_or_else(|| invalid("event without created"))?;
    let object = event
        .get("data")
        .and_then(|data| data.get("object"))
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("event without data.object"))?;
    let change = match kind.as_str() {
        "checkout.session.completed" => checkout_completed(object)?,
        "checkout.session.async_payment_succeeded" => checkout_async_payment(object, true)?,
        "checkout.session.async_payment_failed" => checkout_async_payment(object, false)?,
        "checkout.session.expired" => Some(BillingChange::CheckoutExpired {
            session_id: required_str(object, "id", "checkout session")?.to_owned(),
            metadata: metadata(object),
        }),
        "customer.subscription.created" | "customer.subscription.updated" => {
            Some(subscription(object, created, false)?)
        }
        "customer.subscription.deleted" => Some(subscription(object, created, true)?),
        "invoice.paid" => Some(invoice(object, true)?),
        "invoice.payment_failed" => Some(invoice(object, false)?),
        _ => None,
    };
    Ok(ProviderEvent {
        id,
        kind,
        account: optional_str(event, "account"),
        livemode: event
            .get("livemode")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        created,
        change,
    })
}

fn checkout_completed(session: &Object) -> Result<Option<BillingChange>, WebhookError> {
    let session_id = required_str(session, "id", "checkout session")?.to_owned();
    let kind = match required_str(session, "mode", "checkout session")? {
        "subscription" => CheckoutKind::Subscription,
        "payment" => CheckoutKind::Payment,
        // `setup` sessions collect a payment method and sell nothing.
        _ => return Ok(None),
    };
    Ok(Some(BillingChange::CheckoutCompleted {
        session_id,
        kind,
        metadata: metadata(session),
        provider_customer_id: id_of(session, "customer"),
        subscription_id: id_of(session, "subscription"),
        payment_status: required_str(session, "payment_status", "checkout session")?.to_owned(),
    }))
}

/// A delayed payment settled: the session's kind decides what it settles (setup
/// sessions sell nothing).
fn checkout_async_payment(
    session: &Object,
    succeeded: bool,
) -> Result<Option<BillingChange>, WebhookError> {
    let session_id = required_str(session, "id", "checkout session")?.to_owned();
    let kind = match required_str(session, "mode", "checkout session")? {
        "subscription" => CheckoutKind::Subscription,
        "payment" => CheckoutKind::Payment,
        _ => return Ok(None),
    };
    Ok(Some(BillingChange::CheckoutAsyncPayment {
        session_id,
        kind,
        metadata: metadata(session),
        succeeded,
    }))
}

fn subscription(
    sub: &Object,
    as_of: DateTime<Utc>,
    deleted: bool,
) -> Result<BillingChange, WebhookError> {
    let subscription_id = required_str(sub, "id", "subscription")?.to_owned();
    let status_text = required_str(sub, "status", "subscription")?;
    let status = SubscriptionStatus::parse(status_text)
        .ok_or_else(|| invalid(format!("unknown subscription status {status_text:?}")))?;
    let items: &[Value] = sub
        .get("items")
        .and_then(|items| items.get("data"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let first_item = items.first().and_then(Value::as_object);
    let first_price = first_item
        .and_then(|item| item.get("price"))
        .and_then(Value::as_object);
    let sub_metadata = metadata(sub);
    let tier = first_price
        .and_then(|price| metadata(price).remove(metadata_keys::TIER))
        .or_else(|| sub_metadata.get(metadata_keys::TIER).cloned());
    // API versions from 2025-03-31 carry the period on each item; older ones on the
    // subscription.
    let period = |field: &str| -> Result<Option<DateTime<Utc>>, WebhookError> {
        match first_item
            .map(|item| timestamp(item, field))
            .transpose()?
            .flatten()
        {
            Some(at) => Ok(Some(at)),
            None => timestamp(sub, field),
        }
    };
    let paying = !deleted
        && !matches!(
            status,
            SubscriptionStatus::Canceled
                | SubscriptionStatus::IncompleteExpired
                | SubscriptionStatus::Unpaid
        );
    let mrr_minor = if paying {
        items
            .iter()
            .filter_map(Value::as_object)
            .map(item_monthly_minor)
            .fold(0_i64, i64::saturating_add)
    } else {
        0
    };
    let state = SubscriptionState {
        subscription_id,
        provider_customer_id: id_of(sub, "customer"),
        status,
        tier,
        current_period_start: period("current_period_start")?,
        current_period_end: period("current_period_end")?,
        cancel_at_period_end: sub
            .get("cancel_at_period_end")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        mrr_minor,
        currency: optional_str(sub, "currency")
            .or_else(|| first_price.and_then(|price| optional_str(price, "currency"))),
        as_of,
    };
    Ok(BillingChange::Subscription {
        state,
        metadata: sub_metadata,
        price_id: first_price.and_then(|price| optional_str(price, "id")),
        deleted,
    })
}

/// A subscription item's `unit_amount × quantity`, normalised to a month and rounded
/// down. Items without a unit amount (tiered or metered prices) or a recurring interval
/// count as 0.
fn item_monthly_minor(item: &Object) -> i64 {
    let Some(price) = item.get("price").and_then(Value::as_object) else {
        return 0;
    };
    let Some(unit_amount) = price.get("unit_amount").and_then(Value::as_i64) else {
        return 0;
    };
    let quantity = item.get("quantity").and_then(Value::as_u64).unwrap_or(1);
    let Some(recurring) = price.get("recurring").and_then(Value::as_object) else {
        return 0;
    };
    let count = recurring
        .get("interval_count")
        .and_then(Value::as_u64)
        .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX))
        .max(1);
    match recurring.get("interval").and_then(Value::as_str) {
        Some("month") => monthly_minor(unit_amount, quantity, Interval::Month, count),
        Some("year") => monthly_minor(unit_amount, quantity, Interval::Year, count),
        // A month is 52/12 weeks or 365/12 days.
        Some("week") => per_month(unit_amount, quantity, 52, count),
        Some("day") => per_month(unit_amount, quantity, 365, count),
        _ => 0,
    }
}

/// `unit_amount × quantity` billed `per_year` times a year every `count` periods, per
/// month, rounded down.
fn per_month(unit_amount: i64, quantity: u64, per_year: i128, count: u32) -> i64 {
    let total = i128::from(unit_amount) * i128::from(quantity);
    let monthly = total.saturating_mul(per_year) / (12 * i128::from(count));
    i64::try_from(monthly).unwrap_or(if monthly < 0 { i64::MIN } else { i64::MAX })
}

fn invoice(invoice: &Object, paid: bool) -> Result<BillingChange, WebhookError> {
    let amount_field = if paid { "amount_paid" } else { "amount_due" };
    let amount_minor = invoice
        .get(amount_field)
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid(format!("invoice without {amount_field}")))?;
    // API versions from 2025-03-31 moved the subscription under `parent`.
    let subscription_id = id_of(invoice, "subscription").or_else(|| {
        invoice
            .get("parent")
            .and_then(|parent| parent.get("subscription_details"))
            .and_then(Value::as_object)
            .and_then(|details| id_of(details, "subscription"))
    });
    Ok(BillingChange::Invoice {
        paid,
        subscription_id,
        provider_customer_id: id_of(invoice, "customer"),
        amount_minor,
        currency: optional_str(invoice, "currency"),
    })
}

/// The object's `metadata`, string values only.
fn metadata(object: &Object) -> Metadata {
    object
        .get("metadata")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A reference to another object: its id, or the `id` of the object when expanded.
fn id_of(object: &Object, field: &str) -> Option<String> {
    match object.get(field)? {
        Value::String(id) => Some(id.clone()),
        Value::Object(expanded) => optional_str(expanded, "id"),
        _ => None,
    }
}

fn optional_str(object: &Object, field: &str) -> Option<String> {
    object.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn required_str<'a>(object: &'a Object, field: &str, what: &str) -> Result<&'a str, WebhookError> {
    object
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{what} without {field}")))
}

/// A unix-seconds field: `None` when absent or null.
///
/// # Errors
/// `InvalidPayload` when it is not an integer in chrono's range.
fn timestamp(object: &Object, field: &str) -> Result<Option<DateTime<Utc>>, WebhookError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_i64()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .map(Some)
            .ok_or_else(|| invalid(format!("{field} is not a unix timestamp"))),
    }
}

fn invalid(reason: impl Into<String>) -> WebhookError {
    WebhookError::InvalidPayload(reason.into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(value: Value) -> Result<ProviderEvent, WebhookError> {
        parse(value.to_string().as_bytes())
    }

    fn event(kind: &str, object: Value) -> Value {
        json!({"id": "evt_1", "object": "event", "type": kind, "created": 1_700_000_000,
               "livemode": false, "data": {"object": object}})
    }

    #[test]
    fn required_event_fields() {
        let base = event("ping", json!({}));
        assert!(parsed(base.clone()).is_ok());
        for field in ["id", "type", "created", "data"] {
            let mut broken = base.clone();
            broken.as_object_mut().unwrap().remove(field);
            assert!(
                matches!(parsed(broken), Err(WebhookError::InvalidPayload(_))),
                "{field}"
            );
        }
        for payload in [&b"not json"[..], b"[]", b"{\"id\":1}"] {
            assert!(matches!(
                parse(payload),
                Err(WebhookError::InvalidPayload(_))
            ));
        }
        let mut bad_created = base;
        bad_created["created"] = json!("yesterday");
        assert!(matches!(
            parsed(bad_created),
            Err(WebhookError::InvalidPayload(_))
        ));
    }

    #[test]
    fn unknown_types_are_acknowledged_without_a_change() {
        let e = parsed(event("customer.created", json!({"id": "cus_1"}))).unwrap();
        assert_eq!(e.kind, "customer.created");
        assert_eq!(e.change, None);
        assert_eq!(e.account, None);
        assert!(!e.livemode);
    }

    #[test]
    fn delayed_payments_settle_the_session() {
        let session = json!({
            "id": "cs_1",
            "mode": "payment",
            "payment_status": "paid",
            "metadata": { "dream_reservation_id": "res_1" }
        });
        for (kind, succeeded) in [
            ("checkout.session.async_payment_succeeded", true),
            ("checkout.session.async_payment_failed", false),
        ] {
            let e = parsed(event(kind, session.clone())).unwrap();
            let Some(BillingChange::CheckoutAsyncPayment {
                session_id,
                kind: CheckoutKind::Payment,
                metadata,
                succeeded: settled,
            }) = e.change
            else {
                panic!("{kind}: {:?}", e.change);
            };
            assert_eq!(session_id, "cs_1");
            assert_eq!(settled, succeeded);
            assert_eq!(
                metadata.get("dream_reservation_id").map(String::as_str),
                Some("res_1")
            );
        }
        let setup = json!({"id": "cs_2", "mode": "setup"});
        let e = parsed(event("checkout.session.async_payment_failed", setup)).unwrap();
        assert_eq!(e.change, None);
        assert!(parsed(event(
            "checkout.session.async_payment_failed",
            json!({"id": "cs_3"})
        ))
        .is_err());
    }

    #[test]
    fn setup_checkouts_change_nothing() {
        let session =
            json!({"id": "cs_1", "mode": "setup", "payment_status": "no_payment_required"});
        let e = parsed(event("checkout.session.completed", session)).unwrap();
        assert_eq!(e.change, None);
    }

    #[test]
    fn unknown_subscription_status_is_invalid() {
        let sub = json!({"id": "sub_1", "status": "hibernating", "items": {"data": []}});
        let err = parsed(event("customer.subscription.updated", sub)).unwrap_err();
        assert!(
            matches!(err, WebhookError::InvalidPayload(ref r) if r.contains("hibernating")),
            "{err}"
        );
    }

    #[test]
    fn monthly_normalisation() {
        let item = |amount: i64, quantity: u64, interval: &str, count: u64| {
            json!({"quantity": quantity, "price": {"unit_amount": amount,
                   "recurring": {"interval": interval, "interval_count": count}}})
        };
        let cases = [
            (item(2900, 1, "month", 1), 2900),
            (item(1000, 3, "month", 3), 1000),
            (item(12000, 1, "year", 1), 1000),
            (item(24000, 2, "year", 2), 2000),
            (item(1200, 1, "week", 1), 5200),
            (item(1200, 1, "week", 2), 2600),
            (item(100, 1, "day", 1), 3041),
            (
                json!({"price": {"unit_amount": 500, "recurring": {"interval": "month"}}}),
                500,
            ),
            (
                json!({"price": {"unit_amount": null, "recurring": {"interval": "month"}}}),
                0,
            ),
            (item(100, 1, "fortnight", 1), 0),
        ];
        for (item, expected) in cases {
            assert_eq!(
                item_monthly_minor(item.as_object().unwrap()),
                expected,
                "{item}"
            );
        }
    }
}
