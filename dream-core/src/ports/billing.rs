//! Billing ports: what dream stores about Stripe ([`BillingStore`]: connections,
//! onboarding states, customer links) and what it asks of Stripe ([`BillingProvider`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    BillingAccount, BillingConnection, BillingError, CheckoutSession, CheckoutSpec,
    ConnectedAccount, CustomerId, CustomerSpec, Mode, OAuthState, PortalSession, PortalSpec,
    PriceSpec, ProductSpec, ProductUpdate, ProviderEvent, RevealedSecret, StoreError,
    StripeCustomerLink, Tenant, WebhookError,
};

/// Billing connections, Connect onboarding states and Stripe customer links.
#[async_trait]
pub trait BillingStore: Send + Sync {
    /// Creates or replaces the tenant's connection.
    async fn put_billing_connection(
        &self,
        connection: &BillingConnection,
    ) -> Result<(), StoreError>;

    /// The tenant's connection, if any.
    async fn get_billing_connection(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<BillingConnection>, StoreError>;

    /// Removes the tenant's connection; `false` if there was none.
    async fn delete_billing_connection(&self, tenant: &Tenant) -> Result<bool, StoreError>;

    /// Tenants connected to a Connect account (`acct_…`), for webhook routing; in
    /// platform-id then mode order.
    async fn tenants_for_stripe_account(&self, account_id: &str)
        -> Result<Vec<Tenant>, StoreError>;

    /// Stores an onboarding state. `Conflict` if the digest exists.
    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError>;

    /// Atomically removes the state with this digest and returns it if it had not
    /// expired at `now`. A state is usable once: of two concurrent calls, at most one
    /// gets `Some`. Expired states are removed too.
    async fn take_oauth_state(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<OAuthState>, StoreError>;

    /// Deletes up to `limit` onboarding states (across tenants) expired at `now`
    /// (`expires_at <= now`: no longer takeable) and returns how many; for a
    /// periodic sweeper. Unexpired states are never touched.
    async fn delete_expired_oauth_states(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError>;

    /// Records the Stripe customer of `link.customer` on `link.account` unless one is
    /// recorded already; returns the recorded one (the first link wins, atomically).
    async fn link_stripe_customer(&self, link: &StripeCustomerLink) -> Result<String, StoreError>;

    /// The Stripe customer of `customer` on `account`, if linked.
    async fn get_stripe_customer(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        account: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Our customer linked to a Stripe customer on `account`, for webhook routing.
    async fn find_customer_by_stripe_id(
        &self,
        tenant: &Tenant,
        account: &str,
        stripe_customer_id: &str,
    ) -> Result<Option<CustomerId>, StoreError>;
}

/// A payment provider, in dream's words. `dream-stripe` implements it on Stripe.
///
/// Every mutating call carries an idempotency key derived from dream's own ids: the
/// provider must return the same object for the same key, and implementations retry
/// transient failures with that same key.
#[async_trait]
pub trait BillingProvider: Send + Sync {
    /// `Ok` when billing in `mode` can work; otherwise a `NotConfigured` error naming
    /// the setting to add.
    fn check_configured(&self, mode: Mode) -> Result<(), BillingError>;

    /// Where to send a developer to connect their account; `state` comes back to the
    /// callback.
    fn connect_authorize_url(&self, mode: Mode, state: &str) -> Result<String, BillingError>;

    /// Exchanges the callback's authorization code for the connected account.
    async fn exchange_connect_code(
        &self,
        mode: Mode,
        code: &str,
    ) -> Result<ConnectedAccount, BillingError>;

    /// Creates a product; returns its id.
    async fn create_product(
        &self,
        account: &BillingAccount,
        product: &ProductSpec,
    ) -> Result<String, BillingError>;

    /// Updates (or archives, with `active: false`) a product.
    async fn update_product(
        &self,
        account: &BillingAccount,
        product_id: &str,
        update: &ProductUpdate,
    ) -> Result<(), BillingError>;

    /// Creates a price; returns its id.
    async fn create_price(
        &self,
        account: &BillingAccount,
        price: &PriceSpec,
    ) -> Result<String, BillingError>;

    /// Deactivates a price (prices are never deleted).
    async fn deactivate_price(
        &self,
        account: &BillingAccount,
        price_id: &str,
        idempotency_key: &str,
    ) -> Result<(), BillingError>;

    /// Creates a customer; returns its id.
    async fn create_customer(
        &self,
        account: &BillingAccount,
        customer: &CustomerSpec,
    ) -> Result<String, BillingError>;

    /// Creates a hosted checkout session.
    async fn create_checkout_session(
        &self,
        account: &BillingAccount,
        session: &CheckoutSpec,
    ) -> Result<CheckoutSession, BillingError>;

    /// Creates a billing portal session.
    async fn create_portal_session(
        &self,
        account: &BillingAccount,
        portal: &PortalSpec,
    ) -> Result<PortalSession, BillingError>;

    /// Verifies a webhook's signature over the raw `payload` (any configured signing
    /// secret; the timestamp within tolerance of `now`) and parses the event.
    /// Verification runs before any parsing.
    fn verify_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ProviderEvent, WebhookError>;

    /// [`verify_webhook`](Self::verify_webhook) with the signing `secrets` of an
    /// endpoint the caller knows (a direct-mode tenant's, registered on the
    /// developer's own account) instead of the configured ones, which need not be set.
    /// With no secrets it fails exactly as a wrong secret does (`SignatureMismatch`
    /// after the same header checks), never `NotConfigured`, so an unknown endpoint
    /// answers like a bad signature.
    fn verify_webhook_with(
        &self,
        secrets: &[RevealedSecret],
        payload: &[u8],
        signature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ProviderEvent, WebhookError>;
}
