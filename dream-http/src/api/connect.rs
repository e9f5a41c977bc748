//! Stripe Connect onboarding: `/authorize` and the `/callback` Stripe redirects to.

use dream_core::{Actor, AuditContext, BillingConnection, Mode, StripeLink, Tenant};
use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, ApiResponse, Object, OpenApi};

use super::{admin::platform_id, ApiTags};
use crate::{
    auth::AdminAuth,
    dto::{ModeDto, Nullable},
    error::{ApiError, ApiResult},
    middleware::RequestId,
    state::AppState,
};

/// Stripe Connect onboarding: the seeds' `/authorize` and `/callback`.
pub struct ConnectApi;

/// Where to send the developer's browser.
#[derive(ApiResponse)]
enum Redirect {
    /// Follow `Location`.
    #[oai(status = 302)]
    Found(
        /// The next page.
        #[oai(header = "Location")]
        String,
    ),
}

/// The outcome of onboarding when no dashboard URL is configured.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
struct ConnectedDto {
    /// Always true: failures are error responses.
    connected: bool,
    /// The platform.
    platform_id: String,
    // The mode.
    mode: ModeDto,
    /// The connected account (`acct_…`).
    account_id: Nullable<String>,
}

#[derive(ApiResponse)]
enum CallbackResponse {
    /// Connected; back to the dashboard (`DREAM_DASHBOARD_URL`) with
    /// `?stripe=connected&platformId=…&mode=…`, or `?stripe=denied` when the
    /// developer declined on Stripe.
    #[oai(status = 302)]
    Found(
        /// The dashboard.
        #[oai(header = "Location")]
        String,
    ),
    /// Connected (no dashboard URL configured).
    #[oai(status = 200)]
    Connected(Json<ConnectedDto>),
}

/// `base` with query pairs appended, each value percent-encoded.
fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = base.to_owned();
    for (i, (key, value)) in pairs.iter().enumerate() {
        let sep = if i == 0 && !base.contains('?') {
            '?'
        } else {
            '&'
        };
        url.push(sep);
        url.push_str(key);
        url.push('=');
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                url.push(b as char);
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
    }
    url
}

#[OpenApi(tag = "ApiTags::Billing")]
impl ConnectApi {
    /// Start Stripe Connect onboarding for a platform and mode: answers 302 to Stripe.
    ///
    /// The redirect carries a single-use `state` that expires after 15 minutes and
    /// is bound to this platform and mode; `/callback` completes the connection.
    #[oai(path = "/authorize", method = "get", operation_id = "authorizeStripe")]
    async fn authorize(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platformId", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Query<String>,
        /// The mode to connect (default `live`).
        mode: Query<Option<ModeDto>>,
    ) -> ApiResult<Redirect> {
        let platform = platform_id(&platform_id_param.0, "platformId")?;
        let mode = mode.0.map_or(Mode::Live, Mode::from);
        let url = state
            .dream
            .begin_stripe_connect(&Tenant::new(platform, mode))
            .await?;
        Ok(Redirect::Found(url))
    }

    /// Stripe Connect redirects here: completes onboarding and records the account.
    ///
    /// Only the connected account id is kept; Stripe's tokens are discarded.
    #[oai(path = "/callback", method = "get", operation_id = "stripeCallback")]
    async fn callback(
        &self,
        state: Data<&AppState>,
        request_id: Data<&RequestId>,
        /// The authorization code from Stripe.
        code: Query<Option<String>>,
        /// The `state` issued by `/authorize`.
        #[oai(name = "state")]
        oauth_state: Query<String>,
        /// Set by Stripe when the developer declined.
        error: Query<Option<String>>,
        /// Stripe's explanation of `error`.
        error_description: Query<Option<String>>,
    ) -> ApiResult<CallbackResponse> {
        let dashboard = state.billing.dashboard_url.as_deref();
        if let Some(error) = error.0 {
            // Spend the state so the link cannot be replayed, whatever happens next.
            state.dream.abandon_stripe_connect(&oauth_state.0).await?;
            return denied(dashboard, &error, error_description.0.as_deref());
        }
        let code = code
            .0
            .ok_or_else(|| ApiError::invalid("code", "code is required"))?;
        // The browser coming back from Stripe carries no credential: the single-use
        // state names the tenant, and the audit log names dream itself as actor.
        let connection = state
            .dream
            .acting_as(AuditContext::new(
                Actor::System,
                Some(request_id.0 .0.clone()),
            ))
            .complete_stripe_connect(&oauth_state.0, &code)
            .await?;
        Ok(connected(dashboard, connection))
    }
}

/// The developer declined onboarding: back to the dashboard when there is one,
/// else a 400 that says so.
fn denied(
    dashboard: Option<&str>,
    error: &str,
    description: Option<&str>,
) -> ApiResult<CallbackResponse> {
    match dashboard {
        Some(url) => Ok(CallbackResponse::Found(with_query(
            url,
            &[("stripe", "denied"), ("error", error)],
        ))),
        None => Err(ApiError::invalid(
            "error",
            format!(
                "Stripe onboarding was not completed: {error} ({})",
                description.unwrap_or_default()
            ),
        )),
    }
}

/// Onboarding completed: back to the dashboard when there is one, else the
/// connection as JSON.
fn connected(dashboard: Option<&str>, connection: BillingConnection) -> CallbackResponse {
    let platform = connection.tenant.platform.to_string();
    let mode = connection.tenant.mode;
    match dashboard {
        Some(url) => CallbackResponse::Found(with_query(
            url,
            &[
                ("stripe", "connected"),
                ("platformId", &platform),
                ("mode", mode.as_str()),
            ],
        )),
        None => CallbackResponse::Connected(Json(ConnectedDto {
            connected: true,
            platform_id: platform,
            mode: mode.into(),
            account_id: match connection.link {
                StripeLink::Connect { account_id } => Some(account_id),
                StripeLink::Direct { .. } => None,
            }
            .into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::with_query;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            with_query("https://d.example/x", &[("a", "b c&d"), ("m", "test")]),
            "https://d.example/x?a=b%20c%26d&m=test"
        );
        assert_eq!(
            with_query("https://d.example/?p=1", &[("a", "1")]),
            "https://d.example/?p=1&a=1"
        );
    }
}
