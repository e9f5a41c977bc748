//! Billing wiring: the Stripe adapter and the master key from configuration.

use dream_core::{Dream, MasterKey};
use dream_stripe::{StripeBilling, StripeConfig};

use crate::{AppError, Config};

/// Adds the Stripe adapter (always: direct mode needs no platform key) and the
/// master key, when configured, to `dream`.
pub fn with_billing(dream: Dream, config: &Config) -> Result<Dream, AppError> {
    let mut stripe = StripeConfig::from_keys(
        config
            .stripe_secret_key
            .as_ref()
            .map(|s| s.expose().to_owned()),
        config
            .stripe_test_secret_key
            .as_ref()
            .map(|s| s.expose().to_owned()),
    )
    .and_then(|c| {
        c.with_webhook_secrets(
            config
                .stripe_webhook_secret
                .as_ref()
                .map(|s| s.expose().to_owned()),
        )
    })
    .map_err(|e| AppError::Config(e.to_string()))?;
    stripe.webhook_tolerance = std::time::Duration::from_secs(config.stripe_webhook_tolerance_secs);
    stripe.client_id = config.stripe_client_id.clone();
    stripe.test_client_id = config.stripe_test_client_id.clone();
    stripe.api_base = config.stripe_api_base.clone();
    stripe.connect_base = config.stripe_connect_base.clone();
    stripe.redirect_uri = config
        .public_url
        .as_ref()
        .map(|url| format!("{}/callback", url.trim_end_matches('/')));
    let billing = StripeBilling::new(stripe).map_err(|e| AppError::Config(e.to_string()))?;
    let mut dream = dream.with_billing(std::sync::Arc::new(billing));
    if let Some(key) = &config.master_key {
        let key = MasterKey::from_hex(key.expose()).map_err(|_| {
            AppError::Config(
                "DREAM_MASTER_KEY must be 64 hex characters (`openssl rand -hex 32`)".into(),
            )
        })?;
        dream = dream.with_master_key(key);
    }
    Ok(dream)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dream_stripe::StripeConfig;

    use crate::Config;

    /// Defect 4 (issue 14): a 30 s lock let a retry take over a request still
    /// waiting on Stripe, and both ran. The default lock must outlive the longest
    /// Stripe call with all its retries, with a margin for the rest of the handler.
    #[test]
    fn default_idempotency_lock_outlives_a_stripe_call_with_retries() {
        let stripe = StripeConfig::default().worst_case_call_duration();
        assert_eq!(stripe, Duration::from_millis(243_500));
        let lock = Duration::from_secs(Config::default().idempotency_lock_secs);
        assert!(
            lock >= stripe + Duration::from_secs(30),
            "lock {lock:?} vs. a Stripe call with retries {stripe:?}"
        );
    }
}
