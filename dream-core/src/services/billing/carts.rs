//! One-off products and carts: stock reserved atomically before the checkout
//! session exists, held while the buyer pays, released at once if Stripe refuses.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::checkout::{
    checkout_idempotency_key, current_price, validate_redirect_url, CheckoutUrls,
};
use super::tenant_metadata;
use crate::services::Dream;
use crate::{
    metadata_keys as meta, BillingConnection, CheckoutKind, CheckoutLine, CheckoutSession,
    CheckoutSpec, CoreError, EventKind, ReservationId, ReservationLine, ReserveOutcome,
    ReserveRequest, Tenant, Tier, TierConfig, TierKind,
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
            idempotency_key: String::new(),
        };
        // The reservation is fresh for every cart, so each cart is its own session;
        // the content hash guards the key against ever meaning another request.
        let spec = CheckoutSpec {
            idempotency_key: checkout_idempotency_key(
                &format!("cart-{reservation}"),
                &spec,
                connection.account_key(),
            ),
            ..spec
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

/// Each cart line's product, quantity and price, lines for the same product
/// merged. The quantity cap applies to the merged line (else `[10000, 10000]`
/// would buy 20,000 units of one product past a cap of 10,000), and a line's price
/// must be the product's current one: a price left behind by a failed sync charges
/// an amount the tier no longer asks, so it is refused exactly as subscriptions
/// refuse it ([`current_price`]).
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
        // The stored price matches the tier's amount and currency, or the tier is
        // not purchasable until a sync succeeds.
        let price_id = current_price(config, tier, account)?;
        match lines.iter_mut().find(|(t, _, _)| t.name == tier.name) {
            Some(line) => line.1 = line.1.saturating_add(item.quantity),
            None => lines.push((tier, item.quantity, price_id)),
        }
        let merged = lines
            .iter()
            .find(|(t, _, _)| t.name == tier.name)
            .map_or(0, |line| line.1);
        if merged > MAX_CART_QUANTITY {
            return Err(CoreError::invalid(
                format!("/items/{i}/quantity"),
                format!(
                    "the lines for this price add up to {merged} units; at most {MAX_CART_QUANTITY} per product"
                ),
            ));
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
