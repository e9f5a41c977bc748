//! [`StripeBilling`]: dream's billing port on Stripe.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::BillingProvider, BillingAccount, BillingError, CheckoutSession, CheckoutSpec,
    ConnectedAccount, CustomerSpec, Mode, PortalSession, PortalSpec, PriceSpec, ProductSpec,
    ProductUpdate, ProviderEvent, RevealedSecret, WebhookError,
};

use crate::{
    clients::Clients,
    config::{settings, ConfigError, StripeConfig},
    customers, oauth, products, sessions, webhook,
};

/// The Stripe adapter of [`BillingProvider`]. Cheap to clone: clones share the connection
/// pool and the cache of direct-mode clients.
///
/// Connect calls use the platform key of the account's mode plus `Stripe-Account`; direct
/// calls use the developer's own key. Every mutating call sends the spec's idempotency key,
/// and transient failures (429, 5xx, network, `Stripe-Should-Retry: true`) are retried with
/// that same key, up to [`StripeConfig::max_retries`] times with exponential backoff.
///
/// ```
/// use dream_core::{ports::BillingProvider, BillingErrorKind, Mode};
/// use dream_stripe::{StripeBilling, StripeConfig};
///
/// let mut config = StripeConfig::from_keys(Some("sk_test_123".into()), None)?;
/// config.client_id = Some("ca_123".into());
/// let billing = StripeBilling::new(config)?;
/// assert!(billing.check_configured(Mode::Test).is_ok());
/// let live = billing.check_configured(Mode::Live).unwrap_err();
/// assert_eq!(live.kind, BillingErrorKind::NotConfigured);
/// assert!(billing.connect_authorize_url(Mode::Test, "st_1")?.contains("client_id=ca_123"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct StripeBilling {
    inner: Arc<Inner>,
}

struct Inner {
    clients: Clients,
    client_id: Option<String>,
    test_client_id: Option<String>,
    api_base: String,
    connect_base: String,
    redirect_uri: Option<String>,
    webhook_secrets: Vec<RevealedSecret>,
    webhook_tolerance: Duration,
}

impl StripeBilling {
    /// An adapter for `config`, after [`StripeConfig::validate`].
    ///
    /// # Errors
    /// A setting that is wrong, or an HTTP client that cannot be set up.
    pub fn new(config: StripeConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let clients = Clients::new(&config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                clients,
                client_id: config.client_id,
                test_client_id: config.test_client_id,
                api_base: config.api_base,
                connect_base: config.connect_base,
                redirect_uri: config.redirect_uri,
                webhook_secrets: config.webhook_secrets,
                webhook_tolerance: config.webhook_tolerance,
            }),
        })
    }
}

impl fmt::Debug for StripeBilling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("StripeBilling")
            .field("test", &inner.clients.has_platform(Mode::Test))
            .field("live", &inner.clients.has_platform(Mode::Live))
            .field("client_id", &inner.client_id)
            .field("api_base", &inner.api_base)
            .field("connect_base", &inner.connect_base)
            .field("redirect_uri", &inner.redirect_uri)
            .field("webhook_secrets", &inner.webhook_secrets.len())
            .field("webhook_tolerance", &inner.webhook_tolerance)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BillingProvider for StripeBilling {
    fn check_configured(&self, mode: Mode) -> Result<(), BillingError> {
        self.inner.clients.platform(mode).map(|_| ())
    }

    fn connect_authorize_url(&self, mode: Mode, state: &str) -> Result<String, BillingError> {
        self.check_configured(mode)?;
        let client_id = match mode {
            Mode::Test => self
                .inner
                .test_client_id
                .as_deref()
                .or(self.inner.client_id.as_deref()),
            Mode::Live => self.inner.client_id.as_deref(),
        }
        .ok_or_else(|| {
            let setting = match mode {
                Mode::Test => format!("{} (or {})", settings::CLIENT_ID, settings::TEST_CLIENT_ID),
                Mode::Live => settings::CLIENT_ID.to_owned(),
            };
            BillingError::not_configured(format!(
                "Set {setting} (ca_…, from Stripe's Connect settings) to connect Stripe accounts"
            ))
        })?;
        oauth::authorize_url(
            &self.inner.connect_base,
            client_id,
            state,
            self.inner.redirect_uri.as_deref(),
        )
    }

    async fn exchange_connect_code(
        &self,
        mode: Mode,
        code: &str,
    ) -> Result<ConnectedAccount, BillingError> {
        let platform = self.inner.clients.platform(mode)?;
        oauth::exchange_code(platform, &self.inner.connect_base, code).await
    }

    async fn create_product(
        &self,
        account: &BillingAccount,
        product: &ProductSpec,
    ) -> Result<String, BillingError> {
        let target = self.inner.clients.target(account)?;
        products::create_product(&target, product).await
    }

    async fn update_product(
        &self,
        account: &BillingAccount,
        product_id: &str,
        update: &ProductUpdate,
    ) -> Result<(), BillingError> {
        let target = self.inner.clients.target(account)?;
        products::update_product(&target, product_id, update).await
    }

    async fn create_price(
        &self,
        account: &BillingAccount,
        price: &PriceSpec,
    ) -> Result<String, BillingError> {
        let target = self.inner.clients.target(account)?;
        products::create_price(&target, price).await
    }

    async fn deactivate_price(
        &self,
        account: &BillingAccount,
        price_id: &str,
        idempotency_key: &str,
    ) -> Result<(), BillingError> {
        let target = self.inner.clients.target(account)?;
        products::deactivate_price(&target, price_id, idempotency_key).await
    }

    async fn create_customer(
        &self,
        account: &BillingAccount,
        customer: &CustomerSpec,
    ) -> Result<String, BillingError> {
        let target = self.inner.clients.target(account)?;
        customers::create_customer(&target, customer).await
    }

    async fn create_checkout_session(
        &self,
        account: &BillingAccount,
        session: &CheckoutSpec,
    ) -> Result<CheckoutSession, BillingError> {
        let target = self.inner.clients.target(account)?;
        sessions::create_checkout_session(&target, session).await
    }

    async fn create_portal_session(
        &self,
        account: &BillingAccount,
        portal: &PortalSpec,
    ) -> Result<PortalSession, BillingError> {
        let target = self.inner.clients.target(account)?;
        sessions::create_portal_session(&target, portal).await
    }

    /// Checks `Stripe-Signature` over the raw `payload` with every configured
    /// [`webhook secret`](StripeConfig::webhook_secrets) (any may match), the signed
    /// timestamp within [`webhook_tolerance`](StripeConfig::webhook_tolerance) of `now`,
    /// then reads the event tolerantly (unknown fields and event types are fine).
    fn verify_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ProviderEvent, WebhookError> {
        webhook::verify(
            &self.inner.webhook_secrets,
            self.inner.webhook_tolerance,
            payload,
            signature,
            now,
        )
    }

    fn verify_webhook_with(
        &self,
        secrets: &[RevealedSecret],
        payload: &[u8],
        signature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ProviderEvent, WebhookError> {
        webhook::verify_with(
            secrets,
            self.inner.webhook_tolerance,
            payload,
            signature,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_onboards_with_its_own_client_id() {
        let mut config =
            StripeConfig::from_keys(Some("sk_live_abc".into()), Some("sk_test_xyz".into()))
                .unwrap();
        config.client_id = Some("ca_live1".into());
        let shared = StripeBilling::new(config.clone()).unwrap();
        assert!(shared
            .connect_authorize_url(Mode::Test, "s")
            .unwrap()
            .contains("client_id=ca_live1"));
        config.test_client_id = Some("ca_test1".into());
        let split = StripeBilling::new(config.clone()).unwrap();
        assert!(split
            .connect_authorize_url(Mode::Test, "s")
            .unwrap()
            .contains("client_id=ca_test1"));
        assert!(split
            .connect_authorize_url(Mode::Live, "s")
            .unwrap()
            .contains("client_id=ca_live1"));
        config.test_client_id = Some("acct_nope".into());
        assert!(StripeBilling::new(config).is_err());
    }
}
