//! Billing on the developer's own Stripe account: connecting it, syncing tiers to
//! products and prices, subscription checkout, the billing portal, and one-off carts
//! with inventory held while the buyer pays.
//!
//! One file per concern: [`connect`] (onboarding and direct keys), [`tier_sync`],
//! [`checkout`] (subscriptions and the portal) and [`carts`] (one-off products).

mod carts;
mod checkout;
mod connect;
mod tier_sync;

pub use carts::{
    Cart, CartCheckout, CartItem, ProductListing, CART_SESSION_MINUTES, MAX_CART_LINES,
    MAX_CART_QUANTITY, RESERVATION_MARGIN_MINUTES,
};
pub use checkout::{validate_redirect_url, CheckoutUrls};
pub use tier_sync::TierPriceIds;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::Dream;
use crate::{
    ids::hex, metadata_keys as meta, ports::BillingProvider, AccountAccess, BillingAccount,
    BillingConnection, BillingError, CoreError, MasterKey, Metadata, StripeLink, Tenant,
};

impl Dream {
    /// Bills through `provider` (for example `dream_stripe::StripeBilling`).
    pub fn with_billing(mut self, provider: Arc<dyn BillingProvider>) -> Self {
        self.billing = Some(provider);
        self
    }

    /// Seals direct-mode Stripe keys with `key`.
    pub fn with_master_key(mut self, key: MasterKey) -> Self {
        self.master_key = Some(Arc::new(key));
        self
    }

    pub(super) fn provider(&self) -> Result<&Arc<dyn BillingProvider>, CoreError> {
        self.billing.as_ref().ok_or_else(|| {
            CoreError::Billing(BillingError::not_configured(
                "Billing is not configured on this server: set STRIPE_SECRET_KEY.",
            ))
        })
    }

    fn master_key(&self) -> Result<&MasterKey, CoreError> {
        self.master_key.as_deref().ok_or_else(|| {
            CoreError::Billing(BillingError::not_configured(
                "Direct mode stores Stripe keys encrypted: set DREAM_MASTER_KEY to 64 hex \
                 characters (`openssl rand -hex 32`).",
            ))
        })
    }

    /// The connection, the account to call and the provider, or why billing cannot
    /// work for this tenant right now.
    async fn stripe_account(
        &self,
        tenant: &Tenant,
    ) -> Result<(BillingConnection, BillingAccount, &Arc<dyn BillingProvider>), CoreError> {
        let provider = self.provider()?;
        let Some(connection) = self.stores.billing.get_billing_connection(tenant).await? else {
            // Without a platform key nobody can connect: say that first.
            provider
                .check_configured(tenant.mode)
                .map_err(CoreError::Billing)?;
            return Err(CoreError::StripeNotConnected);
        };
        let access = match &connection.link {
            StripeLink::Connect { account_id } => {
                provider
                    .check_configured(tenant.mode)
                    .map_err(CoreError::Billing)?;
                AccountAccess::Connected {
                    account_id: account_id.clone(),
                }
            }
            StripeLink::Direct { sealed_key, .. } => AccountAccess::Direct {
                secret: self.master_key()?.open(tenant, sealed_key).map_err(|_| {
                    CoreError::Billing(BillingError::not_configured(
                        "The stored Stripe key does not open with DREAM_MASTER_KEY (was the \
                         master key changed?): connect the key again.",
                    ))
                })?,
            },
        };
        let account = BillingAccount {
            mode: tenant.mode,
            access,
        };
        Ok((connection, account, provider))
    }
}

fn tenant_metadata(tenant: &Tenant) -> Metadata {
    Metadata::from([
        (meta::PLATFORM.to_owned(), tenant.platform.to_string()),
        (meta::MODE.to_owned(), tenant.mode.to_string()),
    ])
}

fn tenant_key(tenant: &Tenant) -> String {
    format!("{}-{}", tenant.platform, tenant.mode)
}

/// 16 hex characters of SHA-256: enough to tell values apart inside a key.
fn short_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes())[..8])
}
