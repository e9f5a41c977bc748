//! Response objects for API version `2026-09-30.endive`, with Stripe's defaults.
//!
//! Each function returns a complete object (every field the generated async-stripe type needs,
//! optional ones as `null`); the resource handlers then fill in what the request set.

use serde_json::{json, Value};

pub(crate) fn product(id: &str, livemode: bool, created: i64) -> Value {
    json!({
        "id": id,
        "object": "product",
        "active": true,
        "created": created,
        "default_price": null,
        "description": null,
        "images": [],
        "livemode": livemode,
        "marketing_features": [],
        "metadata": {},
        "name": "",
        "package_dimensions": null,
        "shippable": null,
        "statement_descriptor": null,
        "tax_code": null,
        "type": "service",
        "unit_label": null,
        "updated": created,
        "url": null,
    })
}

pub(crate) fn price(id: &str, livemode: bool, created: i64) -> Value {
    json!({
        "id": id,
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": "usd",
        "custom_unit_amount": null,
        "livemode": livemode,
        "lookup_key": null,
        "metadata": {},
        "nickname": null,
        "product": "",
        "recurring": null,
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "one_time",
        "unit_amount": null,
        "unit_amount_decimal": null,
    })
}

/// A price's `recurring` hash.
pub(crate) fn recurring(
    interval: &str,
    interval_count: i64,
    usage_type: &str,
    meter: Option<String>,
) -> Value {
    json!({
        "interval": interval,
        "interval_count": interval_count,
        "meter": meter,
        "trial_period_days": null,
        "usage_type": usage_type,
    })
}

pub(crate) fn customer(id: &str, livemode: bool, created: i64, invoice_prefix: &str) -> Value {
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "business_name": null,
        "created": created,
        "currency": null,
        "customer_account": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "discount": null,
        "email": null,
        "individual_name": null,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null,
        },
        "livemode": livemode,
        "metadata": {},
        "name": null,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null,
    })
}

pub(crate) fn checkout_session(id: &str, livemode: bool, created: i64) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": null,
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": 0,
        "amount_total": 0,
        "automatic_tax": {
            "enabled": false,
            "liability": null,
            "provider": null,
            "status": null,
        },
        "billing_address_collection": null,
        "cancel_url": null,
        "client_reference_id": null,
        "client_secret": null,
        "collected_information": null,
        "consent": null,
        "consent_collection": null,
        "created": created,
        "currency": null,
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": {
            "after_submit": null,
            "shipping_address": null,
            "submit": null,
            "terms_of_service_acceptance": null,
        },
        "customer": null,
        "customer_account": null,
        "customer_creation": null,
        "customer_details": null,
        "customer_email": null,
        "discounts": [],
        "expires_at": created + 24 * 3600,
        "invoice": null,
        "invoice_creation": null,
        "livemode": livemode,
        "locale": null,
        "metadata": {},
        "mode": "payment",
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "always",
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": { "enabled": false },
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": null,
        "total_details": {
            "amount_discount": 0,
            "amount_shipping": 0,
            "amount_tax": 0,
        },
        "ui_mode": "hosted_page",
        "url": null,
        "wallet_options": null,
    })
}

pub(crate) fn portal_session(
    id: &str,
    livemode: bool,
    created: i64,
    configuration: &str,
    customer: &str,
) -> Value {
    json!({
        "id": id,
        "object": "billing_portal.session",
        "configuration": configuration,
        "created": created,
        "customer": customer,
        "customer_account": null,
        "flow": null,
        "livemode": livemode,
        "locale": null,
        "on_behalf_of": null,
        "return_url": null,
        "url": "",
    })
}

/// A list page: `{"object":"list","data":[…],"has_more":…,"url":…}`.
pub(crate) fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({
        "object": "list",
        "data": data,
        "has_more": has_more,
        "url": url,
    })
}
