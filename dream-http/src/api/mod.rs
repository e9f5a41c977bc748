//! One `#[OpenApi]` struct per tag; handlers extract, call a core service, map.

mod accounts;
mod admin;
mod apps;
mod billing;
mod connect;
mod credits;
mod customer_keys;
mod customers;
mod dashboard;
mod health;
mod platforms;
mod sign_in;
mod tiers;
mod usage;
mod webhook_endpoints;

pub use accounts::AccountsApi;
pub use admin::AdminApi;
pub use apps::AppsApi;
pub use billing::BillingApi;
pub use connect::ConnectApi;
pub use credits::CreditsApi;
pub use customer_keys::CustomerKeysApi;
pub use customers::CustomersApi;
pub use dashboard::DashboardApi;
pub use health::HealthApi;
pub use platforms::PlatformsApi;
pub use sign_in::SignInApi;
pub use tiers::TiersApi;
pub use usage::UsageApi;
pub use webhook_endpoints::WebhookEndpointsApi;

use dream_core::{AuditId, CustomerId, EventId, PageRequest};
use poem_openapi::Tags;

use crate::error::ApiError;

/// Tags of the spec.
#[derive(Tags)]
pub enum ApiTags {
    /// End customers of your app.
    Customers,
    /// Tracking and reading usage against tier limits.
    Usage,
    /// API keys you issue to your customers (`ck_…`), verified and counted
    /// against their plan in one call.
    CustomerKeys,
    /// Signing your end customers in: access tokens (JWT) and refresh tokens,
    /// and the public keys that verify them.
    SignIn,
    /// Pricing tiers.
    Tiers,
    /// Stripe billing on your own account: checkout, portal, products, carts, Connect onboarding.
    Billing,
    /// Dashboard, events and exports.
    Dashboard,
    /// Your webhook endpoints: signed events out, retried, logged, replayable.
    Webhooks,
    /// Developer accounts: sign-up, sessions, apps, and each app through the
    /// session cookie (`/account/apps/{platformId}/…`, `?mode=test|live`).
    Accounts,
    /// Operator endpoints: products, platforms and keys (admin token).
    Admin,
    /// Liveness.
    Health,
}

/// Every `#[OpenApi]` struct, in spec order.
pub type AllApis = (
    CustomersApi,
    UsageApi,
    CreditsApi,
    CustomerKeysApi,
    SignInApi,
    TiersApi,
    BillingApi,
    ConnectApi,
    DashboardApi,
    WebhookEndpointsApi,
    AccountsApi,
    AppsApi,
    AdminApi,
    PlatformsApi,
    HealthApi,
);

/// All operations, for `OpenApiService::new`.
pub fn all() -> AllApis {
    (
        CustomersApi,
        UsageApi,
        CreditsApi,
        CustomerKeysApi,
        SignInApi,
        TiersApi,
        BillingApi,
        ConnectApi,
        DashboardApi,
        WebhookEndpointsApi,
        AccountsApi,
        AppsApi,
        AdminApi,
        PlatformsApi,
        HealthApi,
    )
}

fn page_limit(limit: Option<u32>) -> usize {
    limit.map_or(20, |l| l as usize)
}

/// A page request from query parameters; `parse` checks the cursor's id shape.
fn page<C>(
    limit: Option<u32>,
    starting_after: Option<String>,
    parse: fn(&str) -> Option<C>,
    shape: &str,
) -> Result<PageRequest<C>, ApiError> {
    let starting_after = starting_after
        .map(|s| {
            parse(&s).ok_or_else(|| {
                ApiError::invalid(
                    "startingAfter",
                    format!("must be an id of the form {shape}"),
                )
            })
        })
        .transpose()?;
    Ok(PageRequest {
        limit: page_limit(limit),
        starting_after,
    })
}

fn customer_page(
    limit: Option<u32>,
    starting_after: Option<String>,
) -> Result<PageRequest<CustomerId>, ApiError> {
    page(limit, starting_after, CustomerId::parse, "usr_…")
}

fn event_page(
    limit: Option<u32>,
    starting_after: Option<String>,
) -> Result<PageRequest<EventId>, ApiError> {
    page(limit, starting_after, EventId::parse, "evt_…")
}

fn audit_page(
    limit: Option<u32>,
    starting_after: Option<String>,
) -> Result<PageRequest<AuditId>, ApiError> {
    page(limit, starting_after, AuditId::parse, "aud_…")
}

/// A cursor that names nothing in this tenant is a caller error, not a 404 of the list.
fn unknown_cursor(err: dream_core::CoreError) -> ApiError {
    match err {
        dream_core::CoreError::NotFound(_) => {
            ApiError::invalid("startingAfter", "no such object in this list")
        }
        other => other.into(),
    }
}
