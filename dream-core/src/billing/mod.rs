//! Billing: the provider port's vocabulary, tenant connections, sealed secrets and
//! the tier-sync rules. The service methods are on [`Dream`](crate::Dream).

mod connection;
mod provider;
mod sealed;
mod subscription;
mod tier_sync;

pub use connection::{BillingConnection, OAuthState, StripeCustomerLink, StripeLink};
pub use provider::{
    AccountAccess, BillingAccount, BillingError, BillingErrorKind, CheckoutKind, CheckoutLine,
    CheckoutSession, CheckoutSpec, ConnectedAccount, CustomerSpec, PortalSession, PortalSpec,
    PriceSpec, ProductSpec, ProductUpdate, RevealedSecret,
};
pub use sealed::{MasterKey, SealError, SealedSecret};
pub use subscription::{
    monthly_minor, BillingChange, ProviderEvent, SubscriptionApply, SubscriptionState,
    SubscriptionStatus, WebhookError,
};
pub use tier_sync::{
    limit_text, needs_stripe_price, next_sync_step, price_fingerprint, product_fingerprint,
    StripeTierRefs, SyncStep,
};

/// Metadata keys dream writes on Stripe objects, so webhooks can route them back.
pub mod metadata_keys {
    /// Our platform id (`plt_…`).
    pub const PLATFORM: &str = "dream_platform_id";
    /// `test` or `live`.
    pub const MODE: &str = "dream_mode";
    /// The tier's name.
    pub const TIER: &str = "dream_tier";
    /// The tier's usage limit (`unlimited` or a number).
    pub const LIMIT: &str = "dream_limit";
    /// Our customer id (`usr_…`).
    pub const CUSTOMER: &str = "dream_customer_id";
    /// The inventory reservation of a cart checkout (`res_…`).
    pub const RESERVATION: &str = "dream_reservation_id";
}
