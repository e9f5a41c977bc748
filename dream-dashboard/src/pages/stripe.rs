//! The app's Stripe connection in this mode: status, connect (OAuth), disconnect.

use askama::Template;
use dream_core::{BillingConnection, CoreError, Dream, StripeLink};

use crate::{
    access::AppAccess,
    chrome::{app_href, Chrome, Flash, Section},
    error::PageError,
    format,
};

#[derive(Template)]
#[template(path = "stripe.html")]
struct StripePage {
    chrome: Chrome,
    action: String,
    status: Option<Status>,
}

struct Status {
    how: &'static str,
    account: String,
    since: String,
}

impl From<&BillingConnection> for Status {
    fn from(connection: &BillingConnection) -> Self {
        let (how, account) = match &connection.link {
            StripeLink::Connect { account_id } => ("Stripe Connect", account_id.clone()),
            StripeLink::Direct { .. } => ("your own API key (direct mode)", String::new()),
        };
        Self {
            how,
            account,
            since: format::time(connection.connected_at),
        }
    }
}

/// `GET …/stripe`.
pub(crate) async fn render(
    dream: &Dream,
    access: &AppAccess,
    flash: Option<Flash>,
) -> Result<String, PageError> {
    let connection = dream.billing_connection(&access.tenant).await?;
    let page = StripePage {
        chrome: Chrome::for_app(
            "Stripe",
            access.account_email.clone(),
            &access.platform,
            access.tenant.mode,
            Section::Stripe,
        )
        .with_flash(flash),
        action: app_href(&access.platform, access.tenant.mode, "stripe"),
        status: connection.as_ref().map(Status::from),
    };
    Ok(page.render()?)
}

/// What a form on the Stripe page leads to.
pub(crate) enum StripeOutcome {
    /// Go to Stripe's OAuth page.
    Redirect(String),
    /// Show the page again with a message.
    Message(Flash),
}

/// `POST …/stripe` with `intent` `connect` or `disconnect`.
pub(crate) async fn act(
    dream: &Dream,
    access: &AppAccess,
    intent: &str,
) -> Result<StripeOutcome, PageError> {
    match intent {
        "connect" => {
            if let Err(err) = dream
                .require_mode_allowed(&access.account, access.tenant.mode)
                .await
            {
                return Ok(StripeOutcome::Message(super::keys::plan_required(err)?));
            }
            match dream.begin_stripe_connect(&access.tenant).await {
                Ok(url) => Ok(StripeOutcome::Redirect(url)),
                Err(CoreError::Billing(err)) => Ok(StripeOutcome::Message(Flash::error(format!(
                    "Stripe Connect is not available on this server: {err}"
                )))),
                Err(other) => Err(other.into()),
            }
        }
        "disconnect" => {
            let was = dream.disconnect_stripe(&access.tenant).await?;
            Ok(StripeOutcome::Message(Flash::ok(if was {
                "Stripe disconnected. Your Stripe objects were left as they are."
            } else {
                "No Stripe account was connected."
            })))
        }
        _ => Err(PageError::NotFound),
    }
}
