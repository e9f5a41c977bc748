//! Billing bodies: checkout, portal, products, carts, Stripe connections.

use chrono::{DateTime, Utc};
use dream_core::{BillingConnection, ProductListing, StripeLink};
use poem_openapi::{Enum, Object};
use serde::Deserialize;

use super::{ModeDto, Nullable, PriceIdDto, TierDto};

/// Start a subscription checkout for the customer named by `X-User-Id`.
#[derive(Object, Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCheckoutRequest {
    /// The recurring tier to subscribe to.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$"))]
    pub tier: String,
    /// Where Stripe sends the customer after paying; defaults to the server's
    /// `DREAM_CHECKOUT_SUCCESS_URL`. `{CHECKOUT_SESSION_ID}` is filled in by Stripe.
    #[oai(validator(max_length = 2048))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub success_url: Option<String>,
    /// Where Stripe sends the customer after giving up; defaults to the server's
    /// `DREAM_CHECKOUT_CANCEL_URL`.
    #[oai(validator(max_length = 2048))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub cancel_url: Option<String>,
}

/// A hosted Stripe Checkout session.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct CheckoutResponse {
    /// Send the buyer here.
    pub url: String,
    /// Stripe's session id (`cs_…`).
    pub session_id: String,
    /// When the session stops accepting payment.
    pub expires_at: DateTime<Utc>,
}

/// Open the billing portal for the customer named by `X-User-Id`. The body is optional.
#[derive(Object, Deserialize, Debug, Clone, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortalRequest {
    /// Where the portal's "return" link goes; defaults to the portal configuration's.
    #[oai(validator(max_length = 2048))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub return_url: Option<String>,
}

/// A Stripe billing portal session.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct PortalResponse {
    /// Send the customer here.
    pub url: String,
}

/// A one-off product on offer.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct ProductDto {
    /// The product's tier name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Unit price in major units.
    pub price: f64,
    /// Unit price in minor units.
    pub unit_amount: i64,
    /// Lower-case ISO 4217.
    pub currency: String,
    /// The Stripe price to put in a cart; null until Stripe is connected and synced.
    pub price_id: Nullable<String>,
    /// The Stripe product; null likewise.
    pub product_id: Nullable<String>,
    /// Total stock; null for unlimited.
    pub inventory: Nullable<u64>,
    /// Units sold.
    pub sold: u64,
    /// Units held by open checkouts.
    pub reserved: u64,
    /// Units left; null for unlimited.
    pub available: Nullable<u64>,
    /// Whether nothing is left.
    pub sold_out: bool,
    /// Marketing features.
    pub features: Vec<String>,
}

impl From<ProductListing> for ProductDto {
    fn from(p: ProductListing) -> Self {
        let sold_out = p.sold_out();
        Self {
            name: p.tier.name.clone(),
            display_name: p.tier.display_name.clone(),
            price: p.tier.price.major(),
            unit_amount: p.tier.price.amount_minor,
            currency: p.tier.price.currency.clone(),
            price_id: p.price_id.into(),
            product_id: p.product_id.into(),
            inventory: p.inventory.into(),
            sold: p.sold,
            reserved: p.reserved,
            available: p.available.into(),
            sold_out,
            features: p.tier.features,
        }
    }
}

/// One-off products on offer.
#[derive(Object, Debug)]
pub struct ProductList {
    /// In configuration order.
    pub products: Vec<ProductDto>,
}

/// One cart line.
#[derive(Object, Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CartItemInput {
    /// A product's `priceId` from `/api/products`.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub price_id: String,
    /// Units (1–10000).
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub quantity: u64,
}

/// Check out a cart of one-off products.
#[derive(Object, Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CartCheckoutRequest {
    /// The buyer's email, prefilled on the checkout page.
    #[oai(validator(max_length = 254))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub email: Option<String>,
    /// 1–50 lines; lines with the same price are added up.
    #[oai(validator(min_items = 1, max_items = 50))]
    pub items: Vec<CartItemInput>,
    /// After paying; defaults to `DREAM_CHECKOUT_SUCCESS_URL`.
    #[oai(validator(max_length = 2048))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub success_url: Option<String>,
    /// After giving up; defaults to `DREAM_CHECKOUT_CANCEL_URL`.
    #[oai(validator(max_length = 2048))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub cancel_url: Option<String>,
}

/// A cart checkout: the session, and the units held until it settles.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct CartCheckoutResponse {
    /// Send the buyer here.
    pub url: String,
    /// Stripe's session id (`cs_…`).
    pub session_id: String,
    /// The inventory reservation (`res_…`) the payment settles.
    pub reservation_id: String,
    /// When the session stops accepting payment.
    pub expires_at: DateTime<Utc>,
    /// When held units go back on sale if the session neither pays nor expires first.
    pub reserved_until: DateTime<Utc>,
}

impl CartCheckoutRequest {
    /// The cart to check out, with the resolved redirect URLs and the buyer.
    pub fn into_cart(
        self,
        urls: dream_core::CheckoutUrls,
        customer: Option<String>,
    ) -> dream_core::Cart {
        dream_core::Cart {
            urls,
            items: self
                .items
                .into_iter()
                .map(|i| dream_core::CartItem {
                    price_id: i.price_id,
                    quantity: i.quantity,
                })
                .collect(),
            email: self.email,
            customer,
        }
    }
}

impl From<dream_core::CartCheckout> for CartCheckoutResponse {
    fn from(checkout: dream_core::CartCheckout) -> Self {
        Self {
            url: checkout.session.url,
            session_id: checkout.session.id,
            reservation_id: checkout.reservation.to_string(),
            expires_at: checkout.session.expires_at,
            reserved_until: checkout.reserved_until,
        }
    }
}

/// How a platform reaches its Stripe account.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum ConnectionType {
    /// Stripe Connect (OAuth); dream stores only the account id.
    Connect,
    /// The developer's own restricted key, encrypted at rest.
    Direct,
}

/// A platform's Stripe connection in one mode. Never contains a key.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct StripeConnectionDto {
    /// The platform.
    pub platform_id: String,
    // The mode.
    pub mode: ModeDto,
    /// Whether billing can run in this mode.
    pub connected: bool,
    // How; absent when not connected.
    #[oai(rename = "type", skip_serializing_if_is_none)]
    pub kind: Option<ConnectionType>,
    /// The connected account (`acct_…`), for Connect.
    pub account_id: Nullable<String>,
    /// Since when.
    pub connected_at: Nullable<DateTime<Utc>>,
    /// Direct mode: whether a webhook signing secret is stored, so events posted to
    /// `/webhook/stripe/{platformId}` are accepted (never the secret itself). Absent
    /// for Connect and when not connected.
    #[oai(skip_serializing_if_is_none)]
    pub webhook_secret_set: Option<bool>,
}

impl StripeConnectionDto {
    /// The DTO of `connection` (or of no connection) for a platform and mode.
    pub fn new(platform_id: String, mode: ModeDto, connection: Option<&BillingConnection>) -> Self {
        let (kind, account_id, webhook_secret_set) = match connection.map(|c| &c.link) {
            Some(StripeLink::Connect { account_id }) => (
                Some(ConnectionType::Connect),
                Some(account_id.clone()),
                None,
            ),
            Some(StripeLink::Direct {
                sealed_webhook_secret,
                ..
            }) => (
                Some(ConnectionType::Direct),
                None,
                Some(sealed_webhook_secret.is_some()),
            ),
            None => (None, None, None),
        };
        Self {
            platform_id,
            mode,
            connected: connection.is_some(),
            kind,
            account_id: account_id.into(),
            connected_at: connection.map(|c| c.connected_at).into(),
            webhook_secret_set,
        }
    }
}

/// Direct mode: bill with the developer's own Stripe key instead of Connect.
#[derive(Object, Deserialize, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectConnectRequest {
    // The mode the key belongs to.
    pub mode: ModeDto,
    /// A restricted key (`rk_test_…`/`rk_live_…`, recommended) or secret key of the
    /// mode. Stored encrypted; never returned.
    #[oai(validator(pattern = r"^(rk|sk)_(test|live)_[0-9A-Za-z_]{16,250}$"))]
    pub secret_key: String,
    /// The signing secret (`whsec_…`) of the webhook endpoint you registered on your
    /// own Stripe account for `/webhook/stripe/{platformId}`. Stored encrypted; never
    /// returned. A PUT replaces the whole connection: send it again with every PUT, or
    /// the mode's webhooks stop being accepted.
    #[oai(validator(pattern = r"^whsec_[0-9A-Za-z_]{16,250}$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub webhook_secret: Option<String>,
}

/// Never prints the key or the webhook secret.
impl std::fmt::Debug for DirectConnectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectConnectRequest")
            .field("mode", &self.mode)
            .field("secret_key", &super::redact::REDACTED)
            .field(
                "webhook_secret",
                &super::redact::redacted(&self.webhook_secret),
            )
            .finish()
    }
}

/// A platform's tiers and their Stripe ids in one mode.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct TierSyncResponse {
    /// The platform.
    pub platform_id: String,
    // The mode.
    pub mode: ModeDto,
    /// All tiers, archived ones included.
    pub tiers: Vec<TierDto>,
    /// Stripe ids per offered tier.
    pub price_ids: Vec<PriceIdDto>,
}

/// Create a platform (an app) before configuring tiers, e.g. to connect Stripe first.
#[derive(Object, Deserialize, Debug, Clone, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePlatformRequest {
    /// A display name.
    #[oai(validator(max_length = 200))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub name: Option<String>,
}

/// A platform.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct PlatformDto {
    /// `plt_…`: stable across key rotations.
    pub id: String,
    /// Display name.
    pub name: Nullable<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}
