//! Connecting a developer's Stripe account: Connect onboarding (OAuth with a
//! single-use state) and direct mode (the developer's own sealed key).

use serde_json::json;

use crate::services::Dream;
use crate::{
    AuditAction, BillingConnection, BillingError, CoreError, EventKind, Mode, OAuthState,
    RevealedSecret, StripeLink, Tenant,
};

impl Dream {
    /// Starts Connect onboarding for `tenant`: returns the Stripe URL to send the
    /// developer to. The URL carries a single-use `state` that expires after
    /// [`OAuthState::LIFETIME_MINUTES`] and names this tenant.
    pub async fn begin_stripe_connect(&self, tenant: &Tenant) -> Result<String, CoreError> {
        let provider = self.provider()?;
        provider
            .check_configured(tenant.mode)
            .map_err(CoreError::Billing)?;
        self.platform(&tenant.platform).await?;
        let (token, state) = OAuthState::issue(tenant.clone(), self.now());
        let url = provider
            .connect_authorize_url(tenant.mode, &token)
            .map_err(CoreError::Billing)?;
        self.stores.billing.insert_oauth_state(&state).await?;
        Ok(url)
    }

    /// Completes Connect onboarding: consumes the `state` (once), exchanges `code`
    /// and records the connected account for the state's tenant. Only the account
    /// id is kept; Stripe's tokens are dropped.
    pub async fn complete_stripe_connect(
        &self,
        state_token: &str,
        code: &str,
    ) -> Result<BillingConnection, CoreError> {
        let provider = self.provider()?;
        let state = self
            .stores
            .billing
            .take_oauth_state(&OAuthState::digest_of(state_token), self.now())
            .await?
            .ok_or(CoreError::InvalidOAuthState)?;
        let tenant = state.tenant;
        let account = provider
            .exchange_connect_code(tenant.mode, code)
            .await
            .map_err(CoreError::Billing)?;
        if account.livemode != (tenant.mode == Mode::Live) {
            return Err(CoreError::Billing(BillingError::new(
                crate::BillingErrorKind::InvalidGrant,
                format!(
                    "Stripe granted {} access but the platform asked for {} mode",
                    if account.livemode { "live" } else { "test" },
                    tenant.mode
                ),
            )));
        }
        let connection = BillingConnection {
            tenant: tenant.clone(),
            link: StripeLink::Connect {
                account_id: account.account_id.clone(),
            },
            connected_at: self.now(),
        };
        self.stores
            .billing
            .put_billing_connection(&connection)
            .await?;
        self.emit(
            &tenant,
            EventKind::BillingConnected,
            None,
            json!({ "type": "connect", "accountId": account.account_id }),
        )
        .await;
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::StripeConnected,
            Some(account.account_id.clone()),
            json!({ "type": "connect" }),
        )
        .await;
        Ok(connection)
    }

    /// Spends an onboarding `state` the developer did not complete (declined on
    /// Stripe), so the link cannot be used again. Unknown states are ignored.
    pub async fn abandon_stripe_connect(&self, state_token: &str) -> Result<(), CoreError> {
        self.stores
            .billing
            .take_oauth_state(&OAuthState::digest_of(state_token), self.now())
            .await?;
        Ok(())
    }

    /// Direct mode: bills with the developer's own Stripe key (a restricted `rk_…`
    /// key is recommended), stored encrypted with the master key. The key must be of
    /// the tenant's mode. `webhook_secret` is the `whsec_…` of the endpoint the
    /// developer registered on their account (`/webhook/stripe/{platform}`), sealed
    /// the same way; without it the tenant's events are not accepted. The whole link
    /// is replaced: a call without `webhook_secret` removes a stored one.
    pub async fn connect_stripe_direct(
        &self,
        tenant: &Tenant,
        secret_key: &str,
        webhook_secret: Option<&str>,
    ) -> Result<BillingConnection, CoreError> {
        validate_direct_key(secret_key, tenant.mode)?;
        if let Some(secret) = webhook_secret {
            validate_webhook_secret(secret)?;
        }
        self.provider()?;
        let master_key = self.master_key()?;
        self.platform(&tenant.platform).await?;
        let seal = |secret: &str| master_key.seal(tenant, &RevealedSecret::new(secret.to_owned()));
        let connection = BillingConnection {
            tenant: tenant.clone(),
            link: StripeLink::Direct {
                sealed_key: seal(secret_key),
                sealed_webhook_secret: webhook_secret.map(seal),
            },
            connected_at: self.now(),
        };
        self.stores
            .billing
            .put_billing_connection(&connection)
            .await?;
        self.emit(
            tenant,
            EventKind::BillingConnected,
            None,
            json!({ "type": "direct" }),
        )
        .await;
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::StripeConnected,
            None,
            json!({ "type": "direct", "verifiesWebhooks": webhook_secret.is_some() }),
        )
        .await;
        Ok(connection)
    }

    /// The tenant's Stripe connection, if any.
    pub async fn billing_connection(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<BillingConnection>, CoreError> {
        Ok(self.stores.billing.get_billing_connection(tenant).await?)
    }

    /// Forgets the tenant's Stripe connection (objects on Stripe are left alone).
    pub async fn disconnect_stripe(&self, tenant: &Tenant) -> Result<bool, CoreError> {
        let removed = self
            .stores
            .billing
            .delete_billing_connection(tenant)
            .await?;
        if removed {
            self.emit(tenant, EventKind::BillingDisconnected, None, json!({}))
                .await;
            self.record(
                &tenant.platform,
                Some(tenant.mode),
                AuditAction::StripeDisconnected,
                None,
                json!({}),
            )
            .await;
        }
        Ok(removed)
    }
}

/// A direct-mode key must be a Stripe secret or restricted key of the tenant's mode.
fn validate_direct_key(key: &str, mode: Mode) -> Result<(), CoreError> {
    let rest = key
        .strip_prefix(&format!("rk_{mode}_"))
        .or_else(|| key.strip_prefix(&format!("sk_{mode}_")));
    match rest {
        Some(rest)
            if (16..=250).contains(&rest.len())
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            Ok(())
        }
        _ => Err(CoreError::invalid(
            "/secretKey",
            format!("must be a Stripe restricted key (rk_{mode}_…) or secret key (sk_{mode}_…) of {mode} mode"),
        )),
    }
}

/// A Stripe webhook endpoint secret: `whsec_` and 16 to 250 letters, digits or `_`
/// (the dashboard's are 32 base62 characters, the CLI's 64 hex ones; the range and
/// the `_` leave room as the direct key's check does, and keep typos such as a pasted
/// `sk_…` key or a truncated secret out).
fn validate_webhook_secret(secret: &str) -> Result<(), CoreError> {
    match secret.strip_prefix("whsec_") {
        Some(rest)
            if (16..=250).contains(&rest.len())
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            Ok(())
        }
        _ => Err(CoreError::invalid(
            "/webhookSecret",
            "must be the signing secret (whsec_…) of the webhook endpoint on your Stripe account",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secrets_must_look_like_stripes() {
        assert!(validate_webhook_secret(&format!("whsec_{}", "a1B2".repeat(8))).is_ok());
        assert!(validate_webhook_secret("whsec_dream_test_endpoint_secret").is_ok());
        assert!(validate_webhook_secret("whsec_short").is_err());
        assert!(validate_webhook_secret(&format!("rk_test_{}", "a".repeat(32))).is_err());
        assert!(validate_webhook_secret(&format!("whsec_{}-", "a".repeat(32))).is_err());
    }

    #[test]
    fn direct_keys_must_match_the_mode() {
        let key = format!("rk_test_{}", "a".repeat(24));
        assert!(validate_direct_key(&key, Mode::Test).is_ok());
        assert!(validate_direct_key(&key, Mode::Live).is_err());
        assert!(validate_direct_key("pk_test_aaaaaaaaaaaaaaaaaaaaaa", Mode::Test).is_err());
        assert!(validate_direct_key("rk_test_short", Mode::Test).is_err());
    }
}
