//! How a tenant is linked to its Stripe account, and the one-time `state` of Connect
//! onboarding.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SealedSecret;
use crate::{ids::random_bytes, CustomerId, Tenant};

/// How billing calls reach a tenant's Stripe account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StripeLink {
    /// Stripe Connect: we keep only the account id and call with the operator's key.
    Connect {
        /// `acct_…`.
        account_id: String,
    },
    /// Direct mode: the developer's own key, sealed with the master key.
    Direct {
        /// AES-256-GCM ciphertext bound to the tenant.
        sealed_key: SealedSecret,
        /// The signing secret (`whsec_…`) of the webhook endpoint the developer
        /// registered on their own account for this tenant, sealed like the key.
        /// Without it the tenant's events cannot be verified, so none are applied.
        // `default`: links serialized before the field existed read back as `None`.
        #[serde(default)]
        sealed_webhook_secret: Option<SealedSecret>,
    },
}

/// A tenant's billing connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingConnection {
    /// Whose.
    pub tenant: Tenant,
    /// How.
    pub link: StripeLink,
    /// Since when.
    pub connected_at: DateTime<Utc>,
}

impl BillingConnection {
    /// Names the Stripe account the tenant's Stripe objects live on: the `acct_…` id,
    /// or `direct` for direct mode. Stored object ids are only trusted while this
    /// stays the same.
    ///
    /// ```
    /// # use chrono::Utc;
    /// # use dream_core::{BillingConnection, Mode, PlatformId, StripeLink, Tenant};
    /// let c = BillingConnection {
    ///     tenant: Tenant::new(PlatformId::generate(), Mode::Test),
    ///     link: StripeLink::Connect { account_id: "acct_1".into() },
    ///     connected_at: Utc::now(),
    /// };
    /// assert_eq!(c.account_key(), "acct_1");
    /// ```
    pub fn account_key(&self) -> &str {
        match &self.link {
            StripeLink::Connect { account_id } => account_id,
            StripeLink::Direct { .. } => "direct",
        }
    }
}

/// The stored half of a Connect onboarding `state`: only its SHA-256 digest, so a
/// copy of the store cannot complete anyone's onboarding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// SHA-256 of the state token sent to Stripe.
    pub digest: [u8; 32],
    /// The tenant the grant will be recorded for.
    pub tenant: Tenant,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// After this the state is refused.
    pub expires_at: DateTime<Utc>,
}

impl OAuthState {
    /// How long a developer has to finish onboarding on Stripe.
    pub const LIFETIME_MINUTES: i64 = 15;

    /// A fresh state for `tenant`: the token to send (256 random bits, URL-safe) and
    /// the record to store.
    ///
    /// ```
    /// # use chrono::Utc;
    /// # use dream_core::{Mode, OAuthState, PlatformId, Tenant};
    /// let (token, state) = OAuthState::issue(Tenant::new(PlatformId::generate(), Mode::Live), Utc::now());
    /// assert_eq!(OAuthState::digest_of(&token), state.digest);
    /// assert!(token.len() >= 43);
    /// ```
    pub fn issue(tenant: Tenant, now: DateTime<Utc>) -> (String, OAuthState) {
        let token = crate::ids::hex(&random_bytes::<32>());
        let state = OAuthState {
            digest: Self::digest_of(&token),
            tenant,
            created_at: now,
            expires_at: now + Duration::minutes(Self::LIFETIME_MINUTES),
        };
        (token, state)
    }

    /// The digest a presented token is looked up by.
    pub fn digest_of(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }
}

/// Our customer's counterpart on the developer's Stripe account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeCustomerLink {
    /// Tenant.
    pub tenant: Tenant,
    /// Our customer (`usr_…`).
    pub customer: CustomerId,
    /// [`BillingConnection::account_key`] of the account the Stripe customer lives on.
    pub account: String,
    /// Stripe's customer (`cus_…`).
    pub stripe_customer_id: String,
}
