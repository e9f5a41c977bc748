//! `dream admin …`: operator commands that call a running server's admin API (so
//! they work with any store): `bootstrap` creates a demo platform and prints its
//! keys, `create-account` gives someone a developer account.

use serde_json::{json, Value};

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminCallError {
    /// The server could not be reached.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// URL.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused.
    #[error("the server answered {status}: {body}")]
    Refused {
        /// Status.
        status: u16,
        /// Body.
        body: String,
    },
}

/// The demo tiers: free (100 calls/month), pro ($29, 10,000), enterprise ($99, unlimited).
pub fn demo_tiers() -> Value {
    json!([
        { "name": "free", "displayName": "Free", "price": 0, "limit": 100,
          "features": ["100 API calls per month"] },
        { "name": "pro", "displayName": "Pro", "price": 29, "limit": 10000,
          "features": ["10,000 API calls per month"] },
        { "name": "enterprise", "displayName": "Enterprise", "price": 99,
          "features": ["Unlimited API calls"] }
    ])
}

/// `POST {base_url}{path}` with the admin token and a JSON body; the answer's
/// JSON body when it is a success.
async fn post(
    base_url: &str,
    path: &str,
    admin_token: &str,
    body: &Value,
) -> Result<Value, AdminCallError> {
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let unreachable = |source| AdminCallError::Unreachable {
        url: url.clone(),
        source,
    };
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(admin_token)
        .json(body)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(unreachable)?;
    if !(200..300).contains(&status) {
        return Err(AdminCallError::Refused { status, body });
    }
    serde_json::from_str(&body).map_err(|_| AdminCallError::Refused { status, body })
}

/// Calls `POST {base_url}/create-products` with the demo tiers and returns the body.
pub async fn bootstrap(
    base_url: &str,
    admin_token: &str,
    mode: &str,
) -> Result<Value, AdminCallError> {
    let body = json!({ "mode": mode, "tiers": demo_tiers() });
    post(base_url, "/create-products", admin_token, &body).await
}

/// Calls `POST {base_url}/admin/accounts` and returns the new account.
pub async fn create_account(
    base_url: &str,
    admin_token: &str,
    email: &str,
    password: &str,
) -> Result<Value, AdminCallError> {
    let body = json!({ "email": email, "password": password });
    post(base_url, "/admin/accounts", admin_token, &body).await
}
