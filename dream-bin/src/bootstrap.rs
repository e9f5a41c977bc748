//! `dream admin bootstrap`: creates a demo platform on a running server through its
//! admin API (so it works with any store) and prints the keys.

use serde_json::{json, Value};

/// Why bootstrapping failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
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

/// Calls `POST {base_url}/create-products` with the demo tiers and returns the body.
pub async fn bootstrap(
    base_url: &str,
    admin_token: &str,
    mode: &str,
) -> Result<Value, BootstrapError> {
    let url = format!("{}/create-products", base_url.trim_end_matches('/'));
    let unreachable = |source| BootstrapError::Unreachable {
        url: url.clone(),
        source,
    };
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(admin_token)
        .json(&json!({ "mode": mode, "tiers": demo_tiers() }))
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(unreachable)?;
    if !(200..300).contains(&status) {
        return Err(BootstrapError::Refused { status, body });
    }
    serde_json::from_str(&body).map_err(|_| BootstrapError::Refused { status, body })
}
