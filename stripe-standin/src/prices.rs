//! `/v1/prices`, with Stripe's lookup-key rules.

use serde_json::{json, Value};

use crate::api::{self, Ctx};
use crate::error::ApiError;
use crate::params::{apply_metadata, new_metadata, Params};
use crate::{templates, ObjectKind};

const CREATE: &[&str] = &[
    "active",
    "billing_scheme",
    "currency",
    "currency_options",
    "custom_unit_amount",
    "expand",
    "lookup_key",
    "metadata",
    "nickname",
    "product",
    "product_data",
    "recurring",
    "tax_behavior",
    "tiers",
    "tiers_mode",
    "transfer_lookup_key",
    "transform_quantity",
    "unit_amount",
    "unit_amount_decimal",
];

const UPDATE: &[&str] = &[
    "active",
    "currency_options",
    "expand",
    "lookup_key",
    "metadata",
    "nickname",
    "tax_behavior",
    "transfer_lookup_key",
];

/// Known to Stripe, not modelled here.
const UNSUPPORTED: &[&str] = &[
    "currency_options",
    "custom_unit_amount",
    "tiers",
    "tiers_mode",
    "transform_quantity",
];

/// Currencies the stand-in accepts (a subset of Stripe's).
const CURRENCIES: &[&str] = &[
    "aud", "brl", "cad", "chf", "czk", "dkk", "eur", "gbp", "hkd", "inr", "jpy", "mxn", "nok",
    "nzd", "pln", "sek", "sgd", "usd",
];

const TAX_BEHAVIORS: &[&str] = &["exclusive", "inclusive", "unspecified"];

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    p.only(CREATE)?;
    reject_unsupported(p)?;
    p.string_list("expand")?;
    if p.enumeration("billing_scheme", &["per_unit", "tiered"])?
        .as_deref()
        == Some("tiered")
    {
        return Err(ApiError::unsupported("billing_scheme"));
    }
    let currency = p.required_string("currency")?.to_ascii_lowercase();
    if !CURRENCIES.contains(&currency.as_str()) {
        return Err(ApiError::invalid_param(
            "currency",
            format!(
                "Invalid currency: {currency}. Stripe currently supports these currencies: {}",
                CURRENCIES.join(", ")
            ),
        ));
    }
    let (unit_amount, unit_amount_decimal) = amounts(p)?;
    let recurring = recurring(p)?;
    let lookup_key = p.text("lookup_key", 200)?.flatten();
    let transfer = p.bool("transfer_lookup_key")?.unwrap_or(false);
    let product_id = match (p.string("product")?, p.object("product_data")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_param(
                "product_data",
                "You may only specify one of these parameters: product, product_data.",
            ))
        }
        (None, None) => return Err(ApiError::missing_param("product")),
        (Some(id), None) => {
            if ctx.find(ObjectKind::Product, &id).is_none() {
                return Err(ApiError::no_such_param("product", "product", &id));
            }
            ProductRef::Existing(id)
        }
        (None, Some(data)) => ProductRef::New(product_from_data(ctx, &data)?),
    };
    if let Some(key) = &lookup_key {
        check_lookup_key(ctx, key, transfer, None)?;
    }
    let metadata = new_metadata(p.metadata("metadata")?, "metadata")?;
    let active = p.bool("active")?.unwrap_or(true);
    let nickname = p.text("nickname", 5_000)?.flatten();
    let tax_behavior = p
        .enumeration("tax_behavior", TAX_BEHAVIORS)?
        .unwrap_or_else(|| "unspecified".to_owned());

    // Everything is checked: from here on nothing fails.
    let product_id = match product_id {
        ProductRef::Existing(id) => id,
        ProductRef::New(product) => {
            let id = product["id"].as_str().unwrap_or_default().to_owned();
            ctx.insert(ObjectKind::Product, product);
            id
        }
    };
    if let Some(key) = &lookup_key {
        release_lookup_key(ctx, key);
    }
    let id = ctx.id("price_", 24);
    let mut price = templates::price(&id, ctx.livemode, ctx.now);
    price["active"] = json!(active);
    price["currency"] = json!(currency);
    price["lookup_key"] = json!(lookup_key);
    price["metadata"] = metadata;
    price["nickname"] = json!(nickname);
    price["product"] = json!(product_id);
    price["tax_behavior"] = json!(tax_behavior);
    price["type"] = json!(if recurring.is_some() {
        "recurring"
    } else {
        "one_time"
    });
    price["recurring"] = recurring.unwrap_or(Value::Null);
    price["unit_amount"] = json!(unit_amount);
    price["unit_amount_decimal"] = json!(unit_amount_decimal);
    ctx.insert(ObjectKind::Price, price.clone());
    Ok(price)
}

pub(crate) fn update(ctx: &mut Ctx<'_>, p: &Params, id: &str) -> Result<Value, ApiError> {
    p.only(UPDATE)?;
    reject_unsupported(p)?;
    p.string_list("expand")?;
    let mut price = ctx
        .find(ObjectKind::Price, id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("price", id))?;
    if let Some(active) = p.bool("active")? {
        price["active"] = json!(active);
    }
    if let Some(update) = p.metadata("metadata")? {
        apply_metadata(&mut price["metadata"], update, "metadata")?;
    }
    if let Some(nickname) = p.text("nickname", 5_000)? {
        price["nickname"] = json!(nickname);
    }
    if let Some(tax_behavior) = p.enumeration("tax_behavior", TAX_BEHAVIORS)? {
        price["tax_behavior"] = json!(tax_behavior);
    }
    let transfer = p.bool("transfer_lookup_key")?.unwrap_or(false);
    let lookup_key = p.text("lookup_key", 200)?;
    if let Some(Some(key)) = &lookup_key {
        check_lookup_key(ctx, key, transfer, Some(id))?;
        release_lookup_key(ctx, key);
    }
    if let Some(key) = lookup_key {
        price["lookup_key"] = json!(key);
    }
    ctx.replace(ObjectKind::Price, price.clone());
    Ok(price)
}

pub(crate) fn retrieve(ctx: &mut Ctx<'_>, p: &Params, id: &str) -> Result<Value, ApiError> {
    api::retrieve(ctx, p, ObjectKind::Price, "price", id)
}

pub(crate) fn list(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    p.only(&[
        "active",
        "created",
        "currency",
        "ending_before",
        "expand",
        "limit",
        "lookup_keys",
        "product",
        "recurring",
        "starting_after",
        "type",
    ])?;
    if p.has("recurring") {
        return Err(ApiError::unsupported("recurring"));
    }
    let active = p.bool("active")?;
    let currency = p.string("currency")?.map(|c| c.to_ascii_lowercase());
    let product = p.string("product")?;
    let price_type = p.enumeration("type", &["one_time", "recurring"])?;
    let lookup_keys = p.string_list("lookup_keys")?;
    if lookup_keys.as_ref().is_some_and(|keys| keys.len() > 10) {
        return Err(ApiError::invalid_param(
            "lookup_keys",
            "Invalid array: lookup_keys can have at most 10 entries.",
        ));
    }
    api::list(ctx, p, ObjectKind::Price, "price", "/v1/prices", |o| {
        active.is_none_or(|a| o["active"] == a)
            && currency
                .as_ref()
                .is_none_or(|c| o["currency"] == c.as_str())
            && product
                .as_ref()
                .is_none_or(|id| o["product"] == id.as_str())
            && price_type.as_ref().is_none_or(|t| o["type"] == t.as_str())
            && lookup_keys
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| o["lookup_key"] == k.as_str()))
    })
}

enum ProductRef {
    Existing(String),
    New(Value),
}

fn reject_unsupported(p: &Params) -> Result<(), ApiError> {
    match UNSUPPORTED.iter().find(|k| p.has(k)) {
        Some(param) => Err(ApiError::unsupported(param)),
        None => Ok(()),
    }
}

/// `unit_amount` (integer ≥ 0) or `unit_amount_decimal`; exactly one.
fn amounts(p: &Params) -> Result<(Option<i64>, Option<String>), ApiError> {
    let unit_amount = p.int_in("unit_amount", 0, 99_999_999)?;
    let decimal = p.string("unit_amount_decimal")?;
    match (unit_amount, decimal) {
        (Some(_), Some(_)) => Err(ApiError::invalid_param(
            "unit_amount_decimal",
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
        )),
        (None, None) => Err(ApiError::missing_param("unit_amount")),
        (Some(amount), None) => Ok((Some(amount), Some(amount.to_string()))),
        (None, Some(decimal)) => {
            let valid = decimal.split_once('.').map_or_else(
                || is_digits(&decimal),
                |(int, frac)| is_digits(int) && is_digits(frac) && frac.len() <= 12,
            );
            if !valid {
                return Err(ApiError::invalid_param(
                    "unit_amount_decimal",
                    format!("Invalid decimal: {decimal}"),
                ));
            }
            let whole = decimal.trim_end_matches('0').trim_end_matches('.');
            let amount = if whole.contains('.') {
                None
            } else {
                whole.parse::<i64>().ok()
            };
            Ok((amount, Some(decimal)))
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The `recurring` hash, checked: interval required, at most one year between charges.
fn recurring(p: &Params) -> Result<Option<Value>, ApiError> {
    let Some(r) = p.object("recurring")? else {
        return Ok(None);
    };
    r.only(&[
        "interval",
        "interval_count",
        "meter",
        "trial_period_days",
        "usage_type",
    ])?;
    let interval = r
        .enumeration("interval", &["day", "month", "week", "year"])?
        .ok_or_else(|| ApiError::missing_param(&r.name("interval")))?;
    let count = r.int_in("interval_count", 1, 365)?.unwrap_or(1);
    let max = match interval.as_str() {
        "day" => 365,
        "week" => 52,
        "month" => 12,
        _ => 1,
    };
    if count > max {
        return Err(ApiError::invalid_param(
            &r.name("interval_count"),
            "Invalid recurring interval: the maximum interval is one year (1 year, 12 months, \
             52 weeks, or 365 days).",
        ));
    }
    let usage_type = r
        .enumeration("usage_type", &["licensed", "metered"])?
        .unwrap_or_else(|| "licensed".to_owned());
    let meter = r.text("meter", 5_000)?.flatten();
    if usage_type == "metered" && meter.is_none() {
        return Err(ApiError::missing_param(&r.name("meter")));
    }
    let mut value = templates::recurring(&interval, count, &usage_type, meter);
    if let Some(days) = r.int_in("trial_period_days", 1, 730)? {
        value["trial_period_days"] = json!(days);
    }
    Ok(Some(value))
}

/// A new product from `product_data` (not stored yet).
fn product_from_data(ctx: &mut Ctx<'_>, data: &Params) -> Result<Value, ApiError> {
    data.only(&[
        "active",
        "id",
        "metadata",
        "name",
        "statement_descriptor",
        "tax_code",
        "tax_details",
        "unit_label",
    ])?;
    if data.has("tax_details") {
        return Err(ApiError::unsupported(&data.name("tax_details")));
    }
    let name = data.required_string("name")?;
    let id = match data.string("id")? {
        Some(id) if !id.is_empty() => {
            if ctx.find(ObjectKind::Product, &id).is_some() {
                return Err(
                    ApiError::invalid_param(&data.name("id"), "Product already exists.")
                        .code("resource_already_exists"),
                );
            }
            id
        }
        _ => ctx.id("prod_", 14),
    };
    let mut product = templates::product(&id, ctx.livemode, ctx.now);
    product["name"] = json!(name);
    product["active"] = json!(data.bool("active")?.unwrap_or(true));
    product["metadata"] = new_metadata(data.metadata("metadata")?, &data.name("metadata"))?;
    for (key, max) in [
        ("statement_descriptor", 22),
        ("tax_code", 5_000),
        ("unit_label", 12),
    ] {
        if let Some(value) = data.text(key, max)? {
            product[key] = json!(value);
        }
    }
    Ok(product)
}

/// A lookup key is unique per account and mode; reusing one needs `transfer_lookup_key=true`.
fn check_lookup_key(
    ctx: &Ctx<'_>,
    key: &str,
    transfer: bool,
    this_price: Option<&str>,
) -> Result<(), ApiError> {
    let holder = ctx
        .all(ObjectKind::Price)
        .find(|o| o["lookup_key"] == key && this_price.is_none_or(|id| o["id"] != id));
    match holder {
        Some(holder) if !transfer => Err(ApiError::invalid_param(
            "lookup_key",
            format!(
                "A price (`{}`) already uses that lookup key.",
                holder["id"].as_str().unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

/// Takes a lookup key off whichever price holds it (before giving it to another).
fn release_lookup_key(ctx: &mut Ctx<'_>, key: &str) {
    let holders: Vec<Value> = ctx
        .all(ObjectKind::Price)
        .filter(|o| o["lookup_key"] == key)
        .cloned()
        .collect();
    for mut holder in holders {
        holder["lookup_key"] = Value::Null;
        ctx.replace(ObjectKind::Price, holder);
    }
}
