//! `/v1/billing_portal/sessions`.

use serde_json::{json, Value};

use crate::api::Ctx;
use crate::error::ApiError;
use crate::params::{url_param, Params};
use crate::{templates, ObjectKind};

const CREATE: &[&str] = &[
    "configuration",
    "customer",
    "customer_account",
    "expand",
    "flow_data",
    "locale",
    "on_behalf_of",
    "return_url",
];

/// Known to Stripe, not modelled here.
const UNSUPPORTED: &[&str] = &["customer_account", "flow_data", "on_behalf_of"];

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    p.only(CREATE)?;
    if let Some(param) = UNSUPPORTED.iter().find(|k| p.has(k)) {
        return Err(ApiError::unsupported(param));
    }
    p.string_list("expand")?;
    let customer = p.required_string("customer")?;
    if ctx.find(ObjectKind::Customer, &customer).is_none() {
        return Err(ApiError::no_such_param("customer", "customer", &customer));
    }
    let return_url = url_param(p, "return_url")?;
    let locale = p.text("locale", 10)?.flatten();
    let default_configuration = default_configuration(ctx);
    let configuration = match p.string("configuration")? {
        Some(c) if !c.is_empty() && c != default_configuration => {
            return Err(ApiError::no_such_param(
                "configuration",
                "configuration",
                &c,
            ));
        }
        _ => default_configuration,
    };

    let id = ctx.id("bps_", 24);
    let mut session =
        templates::portal_session(&id, ctx.livemode, ctx.now, &configuration, &customer);
    let token = ctx.id("", 32);
    let mode = if ctx.livemode { "" } else { "test_" };
    session["url"] = json!(format!(
        "https://billing.stripe.com/p/session/{mode}{token}"
    ));
    session["return_url"] = json!(return_url);
    session["locale"] = json!(locale);
    ctx.insert(ObjectKind::PortalSession, session.clone());
    Ok(session)
}

/// The account's default portal configuration (`bpc_…`), created on first use.
fn default_configuration(ctx: &mut Ctx<'_>) -> String {
    let slot = (ctx.account.clone(), ctx.livemode);
    if let Some(id) = ctx.state.portal_configurations.get(&slot) {
        return id.clone();
    }
    let id = ctx.id("bpc_", 24);
    ctx.state.portal_configurations.insert(slot, id.clone());
    id
}
