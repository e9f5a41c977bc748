//! `/v1/checkout/sessions`.

use serde_json::{json, Value};

use crate::api::{self, Ctx};
use crate::customers::check_email;
use crate::error::ApiError;
use crate::params::{new_metadata, url_param, Params};
use crate::state::State;
use crate::{templates, ObjectKind};

/// Every parameter Stripe knows for session creation.
const KNOWN: &[&str] = &[
    "adaptive_pricing",
    "after_expiration",
    "allow_promotion_codes",
    "allowed_payment_method_types",
    "automatic_tax",
    "billing_address_collection",
    "branding_settings",
    "cancel_url",
    "client_reference_id",
    "consent_collection",
    "currency",
    "custom_fields",
    "custom_text",
    "customer",
    "customer_account",
    "customer_creation",
    "customer_email",
    "customer_update",
    "discounts",
    "excluded_payment_method_types",
    "expand",
    "expires_at",
    "integration_identifier",
    "invoice_creation",
    "line_items",
    "locale",
    "managed_payments",
    "metadata",
    "mode",
    "name_collection",
    "optional_items",
    "origin_context",
    "payment_intent_data",
    "payment_method_collection",
    "payment_method_configuration",
    "payment_method_data",
    "payment_method_options",
    "permissions",
    "phone_number_collection",
    "redirect_on_completion",
    "return_url",
    "saved_payment_method_options",
    "setup_intent_data",
    "shipping_address_collection",
    "shipping_options",
    "submit_type",
    "subscription_data",
    "success_url",
    "tax_id_collection",
    "ui_mode",
    "wallet_options",
];

/// The parameters the stand-in models; the rest of [`KNOWN`] is answered with a clear 400.
const MODELLED: &[&str] = &[
    "allow_promotion_codes",
    "allowed_payment_method_types",
    "automatic_tax",
    "billing_address_collection",
    "cancel_url",
    "client_reference_id",
    "customer",
    "customer_creation",
    "customer_email",
    "expand",
    "expires_at",
    "line_items",
    "locale",
    "metadata",
    "mode",
    "payment_intent_data",
    "payment_method_collection",
    "phone_number_collection",
    "redirect_on_completion",
    "return_url",
    "submit_type",
    "subscription_data",
    "success_url",
    "ui_mode",
];

const SUBSCRIPTION_DATA: &[&str] = &[
    "application_fee_percent",
    "billing_cycle_anchor",
    "billing_cycle_anchor_config",
    "billing_mode",
    "default_tax_rates",
    "description",
    "invoice_settings",
    "metadata",
    "on_behalf_of",
    "pending_invoice_item_interval",
    "proration_behavior",
    "transfer_data",
    "trial_end",
    "trial_period_days",
    "trial_settings",
];

const PAYMENT_INTENT_DATA: &[&str] = &[
    "application_fee_amount",
    "capture_method",
    "description",
    "metadata",
    "on_behalf_of",
    "receipt_email",
    "setup_future_usage",
    "shipping",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "transfer_data",
    "transfer_group",
];

/// Slack on the `expires_at` window, for clocks a second apart.
const EXPIRY_SLACK: i64 = 10;

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    p.only(KNOWN)?;
    if let Some(param) = KNOWN.iter().find(|k| p.has(k) && !MODELLED.contains(k)) {
        return Err(ApiError::unsupported(param));
    }
    p.string_list("expand")?;
    let mode = p
        .enumeration("mode", &["payment", "setup", "subscription"])?
        .ok_or_else(|| ApiError::missing_param("mode"))?;
    if mode == "setup" {
        return Err(ApiError::invalid_param(
            "mode",
            "The Stripe stand-in does not support mode=setup.",
        ));
    }
    let subscription = mode == "subscription";
    let ui_mode = p
        .enumeration(
            "ui_mode",
            &["elements", "embedded_page", "form", "hosted_page"],
        )?
        .unwrap_or_else(|| "hosted_page".to_owned());

    let id = ctx.id(
        if ctx.livemode {
            "cs_live_a1"
        } else {
            "cs_test_a1"
        },
        58,
    );
    let mut session = templates::checkout_session(&id, ctx.livemode, ctx.now);
    session["mode"] = json!(mode);
    session["ui_mode"] = json!(ui_mode);

    redirects(ctx, p, &mut session, &ui_mode, &id)?;
    customer(ctx, p, &mut session, subscription)?;
    let (amount, currency) = line_items(ctx, p, subscription)?;
    session["amount_subtotal"] = json!(amount);
    session["amount_total"] = json!(amount);
    session["currency"] = json!(currency);
    session["expires_at"] = json!(expires_at(ctx, p)?);
    session["metadata"] = new_metadata(p.metadata("metadata")?, "metadata")?;
    if let Some(reference) = p.text("client_reference_id", 200)? {
        session["client_reference_id"] = json!(reference);
    }
    mode_data(p, subscription)?;
    options(p, &mut session, subscription)?;

    ctx.insert(ObjectKind::CheckoutSession, session.clone());
    Ok(session)
}

/// `success_url`/`cancel_url` for hosted pages, `return_url` otherwise; sets `url` or
/// `client_secret`.
fn redirects(
    ctx: &mut Ctx<'_>,
    p: &Params,
    session: &mut Value,
    ui_mode: &str,
    id: &str,
) -> Result<(), ApiError> {
    let success_url = url_param(p, "success_url")?;
    let cancel_url = url_param(p, "cancel_url")?;
    let return_url = url_param(p, "return_url")?;
    let redirect = p.enumeration(
        "redirect_on_completion",
        &["always", "if_required", "never"],
    )?;
    if ui_mode == "hosted_page" {
        for (param, given) in [
            ("return_url", return_url.is_some()),
            ("redirect_on_completion", redirect.is_some()),
        ] {
            if given {
                return Err(ApiError::invalid_param(
                    param,
                    format!("`{param}` cannot be used when `ui_mode` is `hosted_page`."),
                ));
            }
        }
        let success_url = success_url.ok_or_else(|| ApiError::missing_param("success_url"))?;
        session["success_url"] = json!(success_url);
        session["cancel_url"] = json!(cancel_url);
        let fragment = ctx.id("", 40);
        session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}#{fragment}"));
    } else {
        for (param, given) in [
            ("success_url", success_url.is_some()),
            ("cancel_url", cancel_url.is_some()),
        ] {
            if given {
                return Err(ApiError::invalid_param(
                    param,
                    format!("`{param}` cannot be used when `ui_mode` is `{ui_mode}`."),
                ));
            }
        }
        let redirect = redirect.unwrap_or_else(|| "always".to_owned());
        if redirect != "never" && return_url.is_none() {
            return Err(ApiError::missing_param("return_url"));
        }
        session["return_url"] = json!(return_url);
        session["redirect_on_completion"] = json!(redirect);
        let secret = ctx.id("_secret_", 24);
        session["client_secret"] = json!(format!("{id}{secret}"));
    }
    Ok(())
}

/// `customer` (must exist) or `customer_email`, not both; `customer_creation`.
fn customer(
    ctx: &Ctx<'_>,
    p: &Params,
    session: &mut Value,
    subscription: bool,
) -> Result<(), ApiError> {
    let customer = p.string("customer")?.filter(|c| !c.is_empty());
    let email = p.text("customer_email", 512)?.flatten();
    if customer.is_some() && email.is_some() {
        return Err(ApiError::invalid_param(
            "customer_email",
            "You may only specify one of these parameters: customer, customer_email.",
        ));
    }
    if let Some(id) = &customer {
        if ctx.find(ObjectKind::Customer, id).is_none() {
            return Err(ApiError::no_such_param("customer", "customer", id));
        }
    }
    if let Some(email) = &email {
        check_email(email, "customer_email")?;
    }
    let creation = p.enumeration("customer_creation", &["always", "if_required"])?;
    if creation.is_some() && subscription {
        return Err(ApiError::invalid_param(
            "customer_creation",
            "`customer_creation` can only be used in `payment` mode.",
        ));
    }
    if creation.is_some() && customer.is_some() {
        return Err(ApiError::invalid_param(
            "customer_creation",
            "You may only specify one of these parameters: customer, customer_creation.",
        ));
    }
    session["customer_creation"] = match (&customer, creation, subscription) {
        (Some(_), _, _) => Value::Null,
        (None, Some(creation), _) => json!(creation),
        (None, None, true) => json!("always"),
        (None, None, false) => json!("if_required"),
    };
    session["customer"] = json!(customer);
    session["customer_email"] = json!(email);
    Ok(())
}

/// Checks the line items against the mode; returns the total and the currency.
fn line_items(ctx: &Ctx<'_>, p: &Params, subscription: bool) -> Result<(i64, String), ApiError> {
    let items = p.list("line_items")?.unwrap_or_default();
    if items.is_empty() {
        return Err(ApiError::missing_param("line_items"));
    }
    if items.len() > 100 {
        return Err(ApiError::invalid_param(
            "line_items",
            "You may only specify up to 100 line items.",
        ));
    }
    let mut total = 0i64;
    let mut currency: Option<String> = None;
    let mut interval: Option<(Value, Value)> = None;
    let mut any_recurring = false;
    for item in &items {
        item.only(&[
            "adjustable_quantity",
            "metadata",
            "price",
            "price_data",
            "quantity",
            "tax_rates",
        ])?;
        for unsupported in ["adjustable_quantity", "price_data", "tax_rates"] {
            if item.has(unsupported) {
                return Err(ApiError::unsupported(&item.name(unsupported)));
            }
        }
        new_metadata(item.metadata("metadata")?, &item.name("metadata"))?;
        let param = item.name("price");
        let price_id = item.required_string("price")?;
        let price = ctx
            .find(ObjectKind::Price, &price_id)
            .ok_or_else(|| ApiError::no_such_param(&param, "price", &price_id))?;
        if price["active"] != true {
            return Err(ApiError::invalid_param(
                &param,
                "The price specified is inactive. This field only accepts active prices.",
            ));
        }
        let recurring = price["type"] == "recurring";
        if recurring && !subscription {
            return Err(ApiError::invalid_param(
                &param,
                "You specified `payment` mode but passed a recurring price. Either switch to \
                 `subscription` mode or use only one-time prices.",
            ));
        }
        let metered = price["recurring"]["usage_type"] == "metered";
        let quantity = item.int_in("quantity", 1, 999_999)?;
        let quantity = match (metered, quantity) {
            (true, Some(_)) => {
                return Err(ApiError::invalid_param(
                    &item.name("quantity"),
                    "Quantity should not be defined when `recurring.usage_type=metered`.",
                ))
            }
            (true, None) => 0,
            (false, Some(quantity)) => quantity,
            (false, None) => return Err(ApiError::missing_param(&item.name("quantity"))),
        };
        let price_currency = price["currency"].as_str().unwrap_or_default().to_owned();
        match &currency {
            Some(c) if *c != price_currency => {
                return Err(ApiError::invalid_param(
                    "line_items",
                    "The currency of all line items must be the same.",
                ))
            }
            _ => currency = Some(price_currency),
        }
        if recurring {
            any_recurring = true;
            let this = (
                price["recurring"]["interval"].clone(),
                price["recurring"]["interval_count"].clone(),
            );
            match &interval {
                Some(first) if *first != this => {
                    return Err(ApiError::invalid_param(
                        "line_items",
                        "Checkout does not support multiple prices with different billing \
                         intervals.",
                    ))
                }
                _ => interval = Some(this),
            }
        }
        total += price["unit_amount"].as_i64().unwrap_or(0) * quantity;
    }
    if subscription && !any_recurring {
        return Err(ApiError::invalid_param(
            "line_items",
            "You must provide at least one recurring price in `subscription` mode when using \
             prices.",
        ));
    }
    Ok((total, currency.unwrap_or_default()))
}

/// `expires_at`: 30 minutes to 24 hours from now; default 24 hours.
fn expires_at(ctx: &Ctx<'_>, p: &Params) -> Result<i64, ApiError> {
    let Some(at) = p.int("expires_at")? else {
        return Ok(ctx.now + 24 * 3600);
    };
    if at < ctx.now + 30 * 60 - EXPIRY_SLACK {
        return Err(ApiError::invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session \
             creation.",
        ));
    }
    if at > ctx.now + 24 * 3600 + EXPIRY_SLACK {
        return Err(ApiError::invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session \
             creation.",
        ));
    }
    Ok(at)
}

/// `subscription_data` only in subscription mode, `payment_intent_data` only in payment mode.
fn mode_data(p: &Params, subscription: bool) -> Result<(), ApiError> {
    if let Some(data) = p.object("subscription_data")? {
        if !subscription {
            return Err(ApiError::invalid_param(
                "subscription_data",
                "You can not pass `subscription_data` in `payment` mode.",
            ));
        }
        data.only(SUBSCRIPTION_DATA)?;
        new_metadata(data.metadata("metadata")?, &data.name("metadata"))?;
        data.text("description", 500)?;
        data.int_in("trial_period_days", 1, 730)?;
        data.int("trial_end")?;
        data.enumeration("proration_behavior", &["create_prorations", "none"])?;
    }
    if let Some(data) = p.object("payment_intent_data")? {
        if subscription {
            return Err(ApiError::invalid_param(
                "payment_intent_data",
                "You can not pass `payment_intent_data` in `subscription` mode.",
            ));
        }
        data.only(PAYMENT_INTENT_DATA)?;
        new_metadata(data.metadata("metadata")?, &data.name("metadata"))?;
        data.text("description", 1_000)?;
        data.enumeration(
            "capture_method",
            &["automatic", "automatic_async", "manual"],
        )?;
        data.enumeration("setup_future_usage", &["off_session", "on_session"])?;
        data.int_in("application_fee_amount", 0, 99_999_999)?;
    }
    Ok(())
}

/// Small options that show up on the session as given.
fn options(p: &Params, session: &mut Value, subscription: bool) -> Result<(), ApiError> {
    if let Some(allow) = p.bool("allow_promotion_codes")? {
        session["allow_promotion_codes"] = json!(allow);
    }
    if let Some(types) = p.string_list("allowed_payment_method_types")? {
        if !types.is_empty() {
            session["payment_method_types"] = json!(types);
        }
    }
    if let Some(tax) = p.object("automatic_tax")? {
        tax.only(&["enabled", "liability"])?;
        if tax.has("liability") {
            return Err(ApiError::unsupported(&tax.name("liability")));
        }
        let enabled = tax
            .bool("enabled")?
            .ok_or_else(|| ApiError::missing_param(&tax.name("enabled")))?;
        session["automatic_tax"]["enabled"] = json!(enabled);
        if enabled {
            session["automatic_tax"]["status"] = json!("requires_location_inputs");
        }
    }
    if let Some(collection) = p.enumeration("billing_address_collection", &["auto", "required"])? {
        session["billing_address_collection"] = json!(collection);
    }
    if let Some(locale) = p.text("locale", 10)? {
        session["locale"] = json!(locale);
    }
    if let Some(collection) =
        p.enumeration("payment_method_collection", &["always", "if_required"])?
    {
        if !subscription && collection == "if_required" {
            return Err(ApiError::invalid_param(
                "payment_method_collection",
                "`payment_method_collection=if_required` can only be used in `subscription` \
                 mode.",
            ));
        }
        session["payment_method_collection"] = json!(collection);
    }
    if let Some(phone) = p.object("phone_number_collection")? {
        phone.only(&["enabled"])?;
        let enabled = phone
            .bool("enabled")?
            .ok_or_else(|| ApiError::missing_param(&phone.name("enabled")))?;
        session["phone_number_collection"]["enabled"] = json!(enabled);
    }
    if let Some(submit) = p.enumeration(
        "submit_type",
        &["auto", "book", "donate", "pay", "subscribe"],
    )? {
        session["submit_type"] = json!(submit);
    }
    Ok(())
}

pub(crate) fn retrieve(ctx: &mut Ctx<'_>, p: &Params, id: &str) -> Result<Value, ApiError> {
    api::retrieve(ctx, p, ObjectKind::CheckoutSession, "checkout.session", id)
}

/// `POST /v1/checkout/sessions/{id}/expire`.
pub(crate) fn expire_endpoint(ctx: &mut Ctx<'_>, p: &Params, id: &str) -> Result<Value, ApiError> {
    p.only(&["expand"])?;
    p.string_list("expand")?;
    if ctx.find(ObjectKind::CheckoutSession, id).is_none() {
        return Err(ApiError::not_found("checkout.session", id));
    }
    let (account, livemode) = (ctx.account.clone(), ctx.livemode);
    expire_in(ctx.state, &account, Some(livemode), id)
}

/// Marks an open session of `account` (either mode) expired.
pub(crate) fn expire(state: &mut State, account: &str, id: &str) -> Result<Value, ApiError> {
    expire_in(state, account, None, id)
}

fn expire_in(
    state: &mut State,
    account: &str,
    livemode: Option<bool>,
    id: &str,
) -> Result<Value, ApiError> {
    let modes = match livemode {
        Some(mode) => vec![mode],
        None => vec![false, true],
    };
    let mode = modes.into_iter().find(|&mode| {
        state
            .find(account, ObjectKind::CheckoutSession, mode, id)
            .is_some()
    });
    let session = mode
        .and_then(|mode| state.find_mut(account, ObjectKind::CheckoutSession, mode, id))
        .ok_or_else(|| ApiError::not_found("checkout.session", id))?;
    if session["status"] != "open" {
        return Err(ApiError::invalid(format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout \
             Session has a status of \"{}\".",
            session["status"].as_str().unwrap_or_default()
        )));
    }
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    Ok(session.clone())
}
