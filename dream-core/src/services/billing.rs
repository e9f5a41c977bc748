//! Billing on the developer's own Stripe account: connecting it, syncing tiers to
//! products and prices, subscription checkout, the billing portal, and one-off carts
//! with inventory held while the buyer pays.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Dream;
use crate::{
    ids::{hex, random_base62_128},
    metadata_keys as meta, next_sync_step,
    ports::BillingProvider,
    AccountAccess, BillingAccount, BillingConnection, BillingError, CheckoutKind, CheckoutLine,
    CheckoutSession, CheckoutSpec, CoreError, Customer, CustomerSpec, EventKind, MasterKey,
    Metadata, Mode, OAuthState, PlatformId, PortalSession, PortalSpec, PriceSpec, ProductSpec,
    ProductUpdate, ReservationId, ReservationLine, ReserveOutcome, ReserveRequest, RevealedSecret,
    StripeCustomerLink, StripeLink, StripeTierRefs, SyncStep, Tenant, Tier, TierConfig, TierKind,
};

/// Most lines a cart may have (Stripe Checkout takes up to 100 line items).
pub const MAX_CART_LINES: usize = 50;
/// Most units of one line.
pub const MAX_CART_QUANTITY: u64 = 10_000;
/// How long a cart's checkout session accepts payment. Stripe's minimum is 30 minutes;
/// one more absorbs clock skew between us and Stripe.
pub const CART_SESSION_MINUTES: i64 = 31;
/// How long inventory stays held after the session expires, so a payment Stripe
/// accepts at the last second still finds its units held.
pub const RESERVATION_MARGIN_MINUTES: i64 = 10;

/// Provider calls one tier's sync may make before it is treated as a bug.
const MAX_SYNC_STEPS_PER_TIER: usize = 8;

/// Where hosted checkout sends the buyer back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutUrls {
    /// After paying.
    pub success_url: String,
    /// After giving up.
    pub cancel_url: String,
}

/// A tier's Stripe ids, as `/create-products` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierPriceIds {
    /// The tier.
    pub tier: String,
    /// `price_…`, or `None` for free tiers and before Stripe is connected.
    pub price_id: Option<String>,
    /// `prod_…`, or `None` likewise.
    pub product_id: Option<String>,
}

/// A one-off product on offer, with its stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductListing {
    /// The tier that defines it.
    pub tier: Tier,
    /// Its current Stripe price, when synced.
    pub price_id: Option<String>,
    /// Its Stripe product, when synced.
    pub product_id: Option<String>,
    /// Total stock, `None` for unlimited.
    pub inventory: Option<u64>,
    /// Units sold.
    pub sold: u64,
    /// Units held by open checkouts.
    pub reserved: u64,
    /// Units left to sell, `None` for unlimited.
    pub available: Option<u64>,
}

impl ProductListing {
    /// Whether nothing is left to sell.
    pub fn sold_out(&self) -> bool {
        self.available == Some(0)
    }
}

/// One line of a cart as the buyer sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartItem {
    /// The product's Stripe price (`price_…`), as `/api/products` lists it.
    pub price_id: String,
    /// Units.
    pub quantity: u64,
}

/// A cart to check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    /// What is bought.
    pub items: Vec<CartItem>,
    /// The buyer's email, prefilled on the checkout page.
    pub email: Option<String>,
    /// Our customer (id or external id), when the buyer is one.
    pub customer: Option<String>,
    /// Where the buyer returns to.
    pub urls: CheckoutUrls,
}

/// A cart checkout: the session and the inventory held for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartCheckout {
    /// The hosted checkout session.
    pub session: CheckoutSession,
    /// The reservation the payment webhook commits or releases.
    pub reservation: ReservationId,
    /// When the held units go back on sale if nothing settles the reservation.
    pub reserved_until: DateTime<Utc>,
}

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

    // ----- connecting a Stripe account -------------------------------------------------

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
        }
        Ok(removed)
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

    // ----- tier sync ---------------------------------------------------------------------

    /// Brings the tenant's Stripe products and prices in line with its tiers, when a
    /// Stripe account is connected; otherwise returns the configuration unchanged.
    pub async fn sync_tiers_if_connected(&self, tenant: &Tenant) -> Result<TierConfig, CoreError> {
        if self
            .stores
            .billing
            .get_billing_connection(tenant)
            .await?
            .is_none()
        {
            return self.tier_config(tenant).await;
        }
        self.sync_tiers(tenant).await
    }

    /// Brings the tenant's Stripe products and prices in line with its tiers: a
    /// product per paid tier (limits in metadata), a price per amount (a change makes
    /// a new price and deactivates the old one), archived tiers archived on Stripe,
    /// free tiers nothing. Running it again creates nothing.
    pub async fn sync_tiers(&self, tenant: &Tenant) -> Result<TierConfig, CoreError> {
        let (connection, account, provider) = self.stripe_account(tenant).await?;
        let account_key = connection.account_key().to_owned();
        let mut config = self.tier_config(tenant).await?;
        let tiers = config.tiers.clone();
        for tier in &tiers {
            let mut refs = config
                .stripe_refs(&tier.name, &account_key)
                .cloned()
                .unwrap_or_else(|| StripeTierRefs {
                    account: account_key.clone(),
                    ..StripeTierRefs::default()
                });
            let mut steps = 0;
            while let Some(step) = next_sync_step(tier, &refs) {
                // A tier converges in at most four calls (the property test of
                // `next_sync_step` checks it); a bug here must not loop on Stripe.
                steps += 1;
                if steps > MAX_SYNC_STEPS_PER_TIER {
                    tracing::error!(tier = %tier.name, ?step, "tier sync does not converge");
                    return Err(CoreError::Billing(BillingError::new(
                        crate::BillingErrorKind::InvalidRequest,
                        format!("syncing tier \"{}\" to Stripe does not converge", tier.name),
                    )));
                }
                let keys = SyncKeys::new(tenant, &account_key, tier);
                apply_sync_step(
                    provider.as_ref(),
                    &account,
                    tenant,
                    tier,
                    &keys,
                    &step,
                    &mut refs,
                )
                .await
                .map_err(CoreError::Billing)?;
                // Record every step at once: a later failure resumes from here.
                config.stripe.insert(tier.name.clone(), refs.clone());
                self.stores
                    .platforms
                    .put_tier_config(tenant, &config)
                    .await?;
            }
        }
        Ok(config)
    }

    /// Copies the test mode's offered tiers to live mode and syncs them to the live
    /// Stripe account when one is connected. Stripe ids are per mode, so none are
    /// copied.
    pub async fn promote_to_live(&self, platform: &PlatformId) -> Result<TierConfig, CoreError> {
        let test = Tenant::new(platform.clone(), Mode::Test);
        let live = Tenant::new(platform.clone(), Mode::Live);
        self.platform(platform).await?;
        let tiers: Vec<Tier> = self.tier_config(&test).await?.active().cloned().collect();
        if tiers.is_empty() {
            return Err(CoreError::Conflict(
                "test mode has no tiers to promote: configure them with /create-products first"
                    .into(),
            ));
        }
        self.configure_tiers(&live, tiers).await?;
        self.sync_tiers_if_connected(&live).await
    }

    /// Each offered tier's Stripe ids on the tenant's current account.
    pub async fn price_ids(
        &self,
        tenant: &Tenant,
        config: &TierConfig,
    ) -> Result<Vec<TierPriceIds>, CoreError> {
        let connection = self.stores.billing.get_billing_connection(tenant).await?;
        let account = connection.as_ref().map(BillingConnection::account_key);
        Ok(config
            .active()
            .map(|tier| {
                let refs = account.and_then(|a| config.stripe_refs(&tier.name, a));
                TierPriceIds {
                    tier: tier.name.clone(),
                    price_id: refs.and_then(|r| r.price_id.clone()),
                    product_id: refs.and_then(|r| r.product_id.clone()),
                }
            })
            .collect())
    }

    // ----- subscriptions ---------------------------------------------------------------

    /// A hosted checkout for `customer` to subscribe to `tier`, on the developer's
    /// Stripe account. The Stripe customer is created once and reused; our customer
    /// and tenant ids ride in the session's and subscription's metadata so the
    /// webhook can route them back.
    pub async fn subscription_checkout(
        &self,
        tenant: &Tenant,
        customer_ref: &str,
        tier_name: &str,
        urls: &CheckoutUrls,
    ) -> Result<CheckoutSession, CoreError> {
        validate_redirect_url("/successUrl", &urls.success_url)?;
        validate_redirect_url("/cancelUrl", &urls.cancel_url)?;
        let customer = self.customer(tenant, customer_ref).await?;
        let config = self.tier_config(tenant).await?;
        let tier = config.offered_plan(tier_name).ok_or_else(|| {
            CoreError::invalid(
                "/tier",
                format!("no recurring tier named \"{tier_name}\" is on offer"),
            )
        })?;
        if customer.plan == tier.name {
            return Err(CoreError::Conflict(format!(
                "the customer is already on \"{}\"",
                tier.name
            )));
        }
        if tier.price.is_free() {
            return Err(CoreError::NotPurchasable {
                tier: tier.name.clone(),
                reason: format!(
                    "\"{}\" is free: change the customer's plan with PATCH /api/customers/{{id}} instead",
                    tier.name
                ),
            });
        }
        let (connection, account, provider) = self.stripe_account(tenant).await?;
        let price_id = current_price(&config, tier, connection.account_key())?;
        let stripe_customer = self
            .ensure_stripe_customer(tenant, &customer, &connection, &account, provider.as_ref())
            .await?;
        let mut metadata = tenant_metadata(tenant);
        metadata.insert(meta::CUSTOMER.into(), customer.id.to_string());
        metadata.insert(meta::TIER.into(), tier.name.clone());
        let session = provider
            .create_checkout_session(
                &account,
                &CheckoutSpec {
                    kind: CheckoutKind::Subscription,
                    customer: Some(stripe_customer),
                    customer_email: None,
                    lines: vec![CheckoutLine {
                        price_id,
                        quantity: 1,
                    }],
                    success_url: urls.success_url.clone(),
                    cancel_url: urls.cancel_url.clone(),
                    client_reference_id: Some(customer.id.to_string()),
                    metadata,
                    expires_at: None,
                    idempotency_key: format!("dream-checkout-{}", random_base62_128()),
                },
            )
            .await
            .map_err(CoreError::Billing)?;
        self.emit(
            tenant,
            EventKind::CheckoutCreated,
            Some(&customer.id),
            json!({ "mode": "subscription", "sessionId": session.id, "tier": tier.name }),
        )
        .await;
        Ok(session)
    }

    /// A billing portal session where `customer` manages their subscription.
    pub async fn portal_session(
        &self,
        tenant: &Tenant,
        customer_ref: &str,
        return_url: Option<&str>,
    ) -> Result<PortalSession, CoreError> {
        if let Some(url) = return_url {
            validate_redirect_url("/returnUrl", url)?;
        }
        let customer = self.customer(tenant, customer_ref).await?;
        let (connection, account, provider) = self.stripe_account(tenant).await?;
        let stripe_customer = self
            .ensure_stripe_customer(tenant, &customer, &connection, &account, provider.as_ref())
            .await?;
        provider
            .create_portal_session(
                &account,
                &PortalSpec {
                    customer: stripe_customer,
                    return_url: return_url.map(str::to_owned),
                    idempotency_key: format!("dream-portal-{}", random_base62_128()),
                },
            )
            .await
            .map_err(CoreError::Billing)
    }

    /// The customer's Stripe customer on the connected account, created on first
    /// need. Concurrent first needs converge on one: the creation's idempotency key
    /// is our customer id, and the store keeps the first link.
    async fn ensure_stripe_customer(
        &self,
        tenant: &Tenant,
        customer: &Customer,
        connection: &BillingConnection,
        account: &BillingAccount,
        provider: &dyn BillingProvider,
    ) -> Result<String, CoreError> {
        let account_key = connection.account_key();
        if let Some(id) = self
            .stores
            .billing
            .get_stripe_customer(tenant, &customer.id, account_key)
            .await?
        {
            return Ok(id);
        }
        let mut metadata = tenant_metadata(tenant);
        metadata.insert(meta::CUSTOMER.into(), customer.id.to_string());
        let name = [
            customer.first_name.as_deref(),
            customer.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let created = provider
            .create_customer(
                account,
                &CustomerSpec {
                    email: customer.email.clone(),
                    name: (!name.is_empty()).then_some(name),
                    metadata,
                    idempotency_key: format!(
                        "dream-{}-{}-customer-{}",
                        tenant_key(tenant),
                        short_hash(account_key),
                        customer.id
                    ),
                },
            )
            .await
            .map_err(CoreError::Billing)?;
        Ok(self
            .stores
            .billing
            .link_stripe_customer(&StripeCustomerLink {
                tenant: tenant.clone(),
                customer: customer.id.clone(),
                account: account_key.to_owned(),
                stripe_customer_id: created,
            })
            .await?)
    }

    // ----- one-off products and carts ----------------------------------------------------

    /// The one-off products on offer, with stock left (`available`) counting units
    /// held by open checkouts.
    pub async fn products(&self, tenant: &Tenant) -> Result<Vec<ProductListing>, CoreError> {
        let config = self.tier_config(tenant).await?;
        let connection = self.stores.billing.get_billing_connection(tenant).await?;
        let account = connection.as_ref().map(BillingConnection::account_key);
        let now = self.now();
        let mut listings = vec![];
        for tier in config.active() {
            let TierKind::OneTime { inventory } = tier.kind else {
                continue;
            };
            let counts = self
                .stores
                .inventory
                .inventory_counts(tenant, &tier.name, now)
                .await?;
            let refs = account.and_then(|a| config.stripe_refs(&tier.name, a));
            listings.push(ProductListing {
                tier: tier.clone(),
                price_id: refs.and_then(|r| r.price_id.clone()),
                product_id: refs.and_then(|r| r.product_id.clone()),
                inventory,
                sold: counts.sold,
                reserved: counts.reserved,
                available: counts.available(inventory),
            });
        }
        Ok(listings)
    }

    /// A hosted checkout for a cart of one-off products. The cart's units are
    /// reserved atomically first (so two buyers can never both get the last unit)
    /// until the session expires plus a margin; the payment webhook commits or
    /// releases the reservation. If Stripe refuses the session, the units are
    /// released at once.
    pub async fn cart_checkout(
        &self,
        tenant: &Tenant,
        cart: &Cart,
    ) -> Result<CartCheckout, CoreError> {
        validate_cart(cart)?;
        let config = self.tier_config(tenant).await?;
        let customer = match &cart.customer {
            Some(reference) => Some(self.customer(tenant, reference).await?),
            None => None,
        };
        let (connection, account, provider) = self.stripe_account(tenant).await?;
        let products = resolve_cart(&config, connection.account_key(), cart)?;
        let stripe_customer = match &customer {
            Some(c) => Some(
                self.ensure_stripe_customer(tenant, c, &connection, &account, provider.as_ref())
                    .await?,
            ),
            None => None,
        };

        let now = self.now();
        let session_expires = now + Duration::minutes(CART_SESSION_MINUTES);
        let reserved_until = session_expires + Duration::minutes(RESERVATION_MARGIN_MINUTES);
        let reservation = ReservationId::generate();
        let outcome = self
            .stores
            .inventory
            .reserve_inventory(&ReserveRequest {
                tenant: tenant.clone(),
                reservation: reservation.clone(),
                lines: products
                    .iter()
                    .map(|(tier, quantity, _)| ReservationLine {
                        product: tier.name.clone(),
                        quantity: *quantity,
                        stock: match tier.kind {
                            TierKind::OneTime { inventory } => inventory,
                            TierKind::Recurring { .. } => None,
                        },
                    })
                    .collect(),
                expires_at: reserved_until,
                now,
            })
            .await?;
        if let ReserveOutcome::SoldOut { product, available } = outcome {
            return Err(CoreError::SoldOut { product, available });
        }

        let mut metadata = tenant_metadata(tenant);
        metadata.insert(meta::RESERVATION.into(), reservation.to_string());
        if let Some(c) = &customer {
            metadata.insert(meta::CUSTOMER.into(), c.id.to_string());
        }
        let spec = CheckoutSpec {
            kind: CheckoutKind::Payment,
            customer_email: if stripe_customer.is_none() {
                cart.email.clone()
            } else {
                None
            },
            customer: stripe_customer,
            lines: products
                .iter()
                .map(|(_, quantity, price_id)| CheckoutLine {
                    price_id: price_id.clone(),
                    quantity: *quantity,
                })
                .collect(),
            success_url: cart.urls.success_url.clone(),
            cancel_url: cart.urls.cancel_url.clone(),
            client_reference_id: customer.as_ref().map(|c| c.id.to_string()),
            metadata,
            expires_at: Some(session_expires),
            idempotency_key: format!("dream-cart-{reservation}"),
        };
        let session = match provider.create_checkout_session(&account, &spec).await {
            Ok(session) => session,
            Err(err) => {
                // The buyer got no session, so nothing should stay held for them.
                if let Err(release) = self
                    .stores
                    .inventory
                    .release_reservation(tenant, &reservation, self.now())
                    .await
                {
                    tracing::warn!(error = %release, %reservation, "could not release the reservation of a failed checkout; it lapses at its expiry");
                }
                return Err(CoreError::Billing(err));
            }
        };
        let items: Vec<_> = products
            .iter()
            .map(|(tier, quantity, _)| json!({ "product": tier.name, "quantity": quantity }))
            .collect();
        self.emit(
            tenant,
            EventKind::CheckoutCreated,
            customer.as_ref().map(|c| &c.id),
            json!({
                "mode": "payment",
                "sessionId": session.id,
                "reservationId": reservation.to_string(),
                "items": items,
            }),
        )
        .await;
        Ok(CartCheckout {
            session,
            reservation,
            reserved_until,
        })
    }
}

/// Idempotency keys of one tier's sync calls. Each includes a hash of what the call
/// sets, so a retry after a crash reuses the object Stripe made, while a retry after
/// the developer changed the tier makes a new one instead of failing Stripe's
/// "same key, different parameters" check.
struct SyncKeys {
    base: String,
}

impl SyncKeys {
    fn new(tenant: &Tenant, account_key: &str, tier: &Tier) -> Self {
        Self {
            base: format!(
                "dream-{}-{}-{}",
                tenant_key(tenant),
                short_hash(account_key),
                tier.name
            ),
        }
    }

    fn create_product(&self, tier: &Tier) -> String {
        format!(
            "{}-product-{}",
            self.base,
            short_hash(&crate::product_fingerprint(tier))
        )
    }

    fn update_product(&self, refs: &StripeTierRefs, tier: &Tier, active: bool) -> String {
        format!(
            "{}-product-update-{}-{}-{active}",
            self.base,
            refs.product_updates,
            short_hash(&crate::product_fingerprint(tier))
        )
    }

    fn create_price(&self, refs: &StripeTierRefs, tier: &Tier) -> String {
        format!(
            "{}-price-{}-{}",
            self.base,
            refs.prices_created,
            short_hash(&crate::price_fingerprint(tier))
        )
    }

    fn deactivate_price(&self, price_id: &str) -> String {
        format!("{}-deactivate-{price_id}", self.base)
    }
}

async fn apply_sync_step(
    provider: &dyn BillingProvider,
    account: &BillingAccount,
    tenant: &Tenant,
    tier: &Tier,
    keys: &SyncKeys,
    step: &SyncStep,
    refs: &mut StripeTierRefs,
) -> Result<(), BillingError> {
    match step {
        SyncStep::CreateProduct => {
            let id = provider
                .create_product(
                    account,
                    &ProductSpec {
                        name: product_name(tier),
                        metadata: product_metadata(tenant, tier),
                        idempotency_key: keys.create_product(tier),
                    },
                )
                .await?;
            refs.product_created(id, tier);
        }
        SyncStep::UpdateProduct { active } => {
            let product_id = refs.product_id.clone().unwrap_or_default();
            provider
                .update_product(
                    account,
                    &product_id,
                    &ProductUpdate {
                        name: product_name(tier),
                        metadata: product_metadata(tenant, tier),
                        active: *active,
                        idempotency_key: keys.update_product(refs, tier, *active),
                    },
                )
                .await?;
            refs.product_updated(*active, tier);
        }
        SyncStep::CreatePrice => {
            let mut metadata = tenant_metadata(tenant);
            metadata.insert(meta::TIER.into(), tier.name.clone());
            let id = provider
                .create_price(
                    account,
                    &PriceSpec {
                        product_id: refs.product_id.clone().unwrap_or_default(),
                        unit_amount: tier.price.amount_minor,
                        currency: tier.price.currency.clone(),
                        recurring: match tier.kind {
                            TierKind::Recurring { interval } => Some(interval),
                            TierKind::OneTime { .. } => None,
                        },
                        lookup_key: Some(format!("dream_{}_{}", tenant.platform, tier.name)),
                        metadata,
                        idempotency_key: keys.create_price(refs, tier),
                    },
                )
                .await?;
            refs.price_created(id, tier);
        }
        SyncStep::DeactivatePrice { price_id } => {
            provider
                .deactivate_price(account, price_id, &keys.deactivate_price(price_id))
                .await?;
            refs.price_deactivated(price_id);
        }
    }
    Ok(())
}

fn product_name(tier: &Tier) -> String {
    if tier.display_name.trim().is_empty() {
        tier.name.clone()
    } else {
        tier.display_name.clone()
    }
}

fn tenant_metadata(tenant: &Tenant) -> Metadata {
    Metadata::from([
        (meta::PLATFORM.to_owned(), tenant.platform.to_string()),
        (meta::MODE.to_owned(), tenant.mode.to_string()),
    ])
}

fn product_metadata(tenant: &Tenant, tier: &Tier) -> Metadata {
    let mut metadata = tenant_metadata(tenant);
    metadata.insert(meta::TIER.into(), tier.name.clone());
    metadata.insert(meta::LIMIT.into(), crate::limit_text(tier.limit));
    metadata
}

fn tenant_key(tenant: &Tenant) -> String {
    format!("{}-{}", tenant.platform, tenant.mode)
}

/// 16 hex characters of SHA-256: enough to tell values apart inside a key.
fn short_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes())[..8])
}

/// The tier's price on `account`, or why it cannot be bought yet.
fn current_price(config: &TierConfig, tier: &Tier, account: &str) -> Result<String, CoreError> {
    config
        .stripe_refs(&tier.name, account)
        .filter(|r| r.price_fingerprint.as_deref() == Some(crate::price_fingerprint(tier).as_str()))
        .and_then(|r| r.price_id.clone())
        .ok_or_else(|| CoreError::NotPurchasable {
            tier: tier.name.clone(),
            reason: format!(
                "\"{}\" has no Stripe price yet: run /create-products again now that Stripe is connected",
                tier.name
            ),
        })
}

/// Each cart line's product, quantity and price, lines for the same price merged.
fn resolve_cart<'c>(
    config: &'c TierConfig,
    account: &str,
    cart: &Cart,
) -> Result<Vec<(&'c Tier, u64, String)>, CoreError> {
    let mut lines: Vec<(&Tier, u64, String)> = vec![];
    for (i, item) in cart.items.iter().enumerate() {
        let field = format!("/items/{i}/priceId");
        let tier = config
            .active()
            .find(|t| {
                config
                    .stripe_refs(&t.name, account)
                    .and_then(|r| r.price_id.as_deref())
                    == Some(item.price_id.as_str())
            })
            .ok_or_else(|| {
                CoreError::invalid(
                    &field,
                    "no product on offer has this price (see /api/products)",
                )
            })?;
        if tier.is_plan() {
            return Err(CoreError::invalid(
                field,
                format!(
                    "is the price of the subscription tier \"{}\": use /api/create-checkout",
                    tier.name
                ),
            ));
        }
        match lines.iter_mut().find(|(_, _, p)| *p == item.price_id) {
            Some(line) => line.1 = line.1.saturating_add(item.quantity),
            None => lines.push((tier, item.quantity, item.price_id.clone())),
        }
    }
    Ok(lines)
}

fn validate_cart(cart: &Cart) -> Result<(), CoreError> {
    if cart.items.is_empty() {
        return Err(CoreError::invalid("/items", "must list at least one item"));
    }
    if cart.items.len() > MAX_CART_LINES {
        return Err(CoreError::invalid(
            "/items",
            format!("at most {MAX_CART_LINES} items"),
        ));
    }
    for (i, item) in cart.items.iter().enumerate() {
        if !(1..=MAX_CART_QUANTITY).contains(&item.quantity) {
            return Err(CoreError::invalid(
                format!("/items/{i}/quantity"),
                format!("must be between 1 and {MAX_CART_QUANTITY}"),
            ));
        }
    }
    if let Some(email) = &cart.email {
        let ok = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(CoreError::invalid("/email", "must be an email address"));
        }
    }
    validate_redirect_url("/successUrl", &cart.urls.success_url)?;
    validate_redirect_url("/cancelUrl", &cart.urls.cancel_url)
}

/// Checks a URL Stripe will redirect a buyer to: absolute `http(s)`, with a host,
/// no whitespace, at most 2,048 characters.
///
/// ```
/// use dream_core::validate_redirect_url;
/// assert!(validate_redirect_url("/successUrl", "https://shop.example/thanks?s={CHECKOUT_SESSION_ID}").is_ok());
/// assert!(validate_redirect_url("/successUrl", "javascript:alert(1)").is_err());
/// assert!(validate_redirect_url("/successUrl", "https://").is_err());
/// ```
pub fn validate_redirect_url(field: &str, url: &str) -> Result<(), CoreError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    let ok = url.len() <= 2048
        && host.is_some_and(|h| !h.is_empty() && !h.starts_with(':'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            field,
            "must be an absolute http(s) URL of at most 2048 characters",
        ))
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

    #[test]
    fn redirect_urls() {
        assert!(validate_redirect_url("/u", "http://localhost:3000/ok").is_ok());
        assert!(validate_redirect_url("/u", "ftp://x.example").is_err());
        assert!(validate_redirect_url("/u", "https://a b.example").is_err());
        assert!(validate_redirect_url("/u", "/relative").is_err());
    }
}
