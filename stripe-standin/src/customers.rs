//! `/v1/customers`.

use serde_json::{json, Value};

use crate::api::{self, Ctx};
use crate::error::ApiError;
use crate::params::{apply_metadata, new_metadata, Params};
use crate::{templates, ObjectKind};

const CREATE: &[&str] = &[
    "address",
    "balance",
    "business_name",
    "cash_balance",
    "description",
    "email",
    "expand",
    "individual_name",
    "invoice_prefix",
    "invoice_settings",
    "metadata",
    "name",
    "next_invoice_sequence",
    "payment_method",
    "phone",
    "preferred_locales",
    "shipping",
    "source",
    "tax",
    "tax_exempt",
    "tax_id_data",
    "test_clock",
    "validate",
];

const UPDATE: &[&str] = &[
    "address",
    "balance",
    "business_name",
    "cash_balance",
    "default_source",
    "description",
    "email",
    "expand",
    "individual_name",
    "invoice_prefix",
    "invoice_settings",
    "metadata",
    "name",
    "next_invoice_sequence",
    "phone",
    "preferred_locales",
    "shipping",
    "source",
    "tax",
    "tax_exempt",
    "validate",
];

/// Known to Stripe, not modelled here.
const UNSUPPORTED: &[&str] = &[
    "address",
    "cash_balance",
    "default_source",
    "invoice_settings",
    "payment_method",
    "shipping",
    "source",
    "tax",
    "tax_id_data",
    "test_clock",
];

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    p.only(CREATE)?;
    let id = ctx.id("cus_", 14);
    let prefix = ctx.id("", 8).to_ascii_uppercase();
    let mut customer = templates::customer(&id, ctx.livemode, ctx.now, &prefix);
    customer["metadata"] = new_metadata(p.metadata("metadata")?, "metadata")?;
    apply(&mut customer, p)?;
    ctx.insert(ObjectKind::Customer, customer.clone());
    Ok(customer)
}

pub(crate) fn update(ctx: &mut Ctx<'_>, p: &Params, id: &str) -> Result<Value, ApiError> {
    p.only(UPDATE)?;
    let mut customer = ctx
        .find(ObjectKind::Customer, id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("customer", id))?;
    if let Some(update) = p.metadata("metadata")? {
        apply_metadata(&mut customer["metadata"], update, "metadata")?;
    }
    apply(&mut customer, p)?;
    ctx.replace(ObjectKind::Customer, customer.clone());
    Ok(customer)
}

pub(crate) fn retrieve(ctx: &mut Ctx<'_>, p: &Params, id: &str) -> Result<Value, ApiError> {
    api::retrieve(ctx, p, ObjectKind::Customer, "customer", id)
}

/// Fields that create and update treat alike.
fn apply(customer: &mut Value, p: &Params) -> Result<(), ApiError> {
    if let Some(param) = UNSUPPORTED.iter().find(|k| p.has(k)) {
        return Err(ApiError::unsupported(param));
    }
    p.string_list("expand")?;
    p.bool("validate")?;
    if let Some(email) = p.text("email", 512)? {
        if let Some(email) = &email {
            check_email(email, "email")?;
        }
        customer["email"] = json!(email);
    }
    for (key, max) in [
        ("business_name", 150),
        ("description", 350),
        ("individual_name", 150),
        ("name", 256),
        ("phone", 20),
    ] {
        if let Some(value) = p.text(key, max)? {
            customer[key] = json!(value);
        }
    }
    if let Some(prefix) = p.text("invoice_prefix", 12)? {
        customer["invoice_prefix"] = json!(prefix);
    }
    if let Some(balance) = p.int("balance")? {
        customer["balance"] = json!(balance);
    }
    if let Some(sequence) = p.int_in("next_invoice_sequence", 1, 1_000_000_000)? {
        customer["next_invoice_sequence"] = json!(sequence);
    }
    if let Some(locales) = p.string_list("preferred_locales")? {
        customer["preferred_locales"] = json!(locales);
    }
    if let Some(tax_exempt) = p.enumeration("tax_exempt", &["exempt", "none", "reverse"])? {
        customer["tax_exempt"] = json!(tax_exempt);
    }
    Ok(())
}

/// Stripe rejects malformed email addresses.
pub(crate) fn check_email(email: &str, param: &str) -> Result<(), ApiError> {
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(
            ApiError::invalid_param(param, format!("Invalid email address: {email}"))
                .code("email_invalid"),
        )
    }
}
