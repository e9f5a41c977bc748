//! Key pair and `/create-products` bodies; secret keys never appear in `Debug`.

use chrono::{DateTime, Utc};
use dream_core::KeyRecord;
use poem_openapi::Object;
use serde::Deserialize;

use super::{ModeDto, Nullable, TierDto, TierInput};

/// The seeds' `/create-products` body.
#[derive(Object, Deserialize, Debug)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProductsRequest {
    // Which mode's tiers to configure.
    pub mode: ModeDto,
    /// An existing platform (`plt_…`); absent creates a new one.
    #[oai(validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub platform_id: Option<String>,
    /// The tiers on offer (1–100, unique names, at least one recurring); tiers no
    /// longer listed are archived.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub tiers: Vec<TierInput>,
}

/// A Stripe price per tier (filled in once billing is connected).
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct PriceIdDto {
    /// Tier name.
    pub tier: String,
    /// Stripe price id; null for free tiers and until Stripe is connected.
    pub price_id: Nullable<String>,
    /// Stripe product id; null likewise.
    pub product_id: Nullable<String>,
}

/// The credentials response of `/create-products`.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct CreateProductsResponse {
    /// The platform (stable, internal).
    pub platform_id: String,
    // The mode configured.
    pub mode: ModeDto,
    /// A publishable key of the tenant.
    pub publishable_key: String,
    /// The secret key, present only when this call issued the tenant's first pair.
    /// Shown once: store it now.
    #[oai(skip_serializing_if_is_none)]
    pub secret_key: Option<String>,
    /// The tiers now configured (archived ones included).
    pub tiers: Vec<TierDto>,
    /// Stripe ids per offered tier (null until Stripe is connected; always null for
    /// free tiers, which need no Stripe price).
    pub price_ids: Vec<PriceIdDto>,
}

impl From<dream_core::ProductsCreated> for CreateProductsResponse {
    fn from(created: dream_core::ProductsCreated) -> Self {
        Self {
            platform_id: created.platform.id.to_string(),
            mode: created.tenant.mode.into(),
            publishable_key: created.publishable_key,
            secret_key: created.secret_key.map(|s| s.expose_secret().to_owned()),
            tiers: created.config.tiers.iter().map(TierDto::from).collect(),
            price_ids: created.price_ids.into_iter().map(Into::into).collect(),
        }
    }
}

/// Never prints the secret key.
impl std::fmt::Debug for CreateProductsResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateProductsResponse")
            .field("platform_id", &self.platform_id)
            .field("mode", &self.mode)
            .field("publishable_key", &self.publishable_key)
            .field("secret_key", &super::redact::redacted(&self.secret_key))
            .finish_non_exhaustive()
    }
}

/// Issue a key pair.
#[derive(Object, Deserialize, Debug)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyRequest {
    // The mode of the pair.
    pub mode: ModeDto,
    /// Your name for it ("production"), at most 100 characters, no control characters.
    #[oai(validator(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub label: Option<String>,
    /// When it stops working (in the future).
    #[serde(default, deserialize_with = "super::non_null")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key pair record; the secret is never shown again.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct KeyDto {
    /// `key_…`, used to revoke.
    pub id: String,
    // Mode.
    pub mode: ModeDto,
    /// Label.
    #[oai(skip_serializing_if_is_none)]
    pub label: Option<String>,
    /// The publishable half.
    pub publishable_key: String,
    /// `sk_test_…a1b2`.
    pub secret_key_hint: String,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time.
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyRecord> for KeyDto {
    fn from(k: KeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            mode: k.tenant.mode.into(),
            label: k.label,
            publishable_key: k.publishable_key,
            secret_key_hint: k.secret_hint,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A newly issued pair, with its secret shown this once.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct IssuedKeyDto {
    // The record.
    pub key: KeyDto,
    /// The secret key. Shown once: store it now.
    pub secret_key: String,
}

/// Never prints the secret key.
impl std::fmt::Debug for IssuedKeyDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKeyDto")
            .field("key", &self.key)
            .field("secret_key", &super::redact::REDACTED)
            .finish()
    }
}

/// Roll a key pair.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollKeyRequest {
    /// How long the old pair keeps working, in seconds: 0 (the default: it stops
    /// at once) to 2592000 (30 days).
    #[oai(validator(minimum(value = "0"), maximum(value = "2592000")))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub overlap_seconds: Option<i64>,
}

/// A rolled pair: the new pair with its secret shown this once, and the old pair
/// with its new expiry.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RolledKeyDto {
    /// The new pair.
    pub key: KeyDto,
    /// The new secret key. Shown once: store it now.
    pub secret_key: String,
    /// The old pair, now expiring at `expiresAt`.
    pub rolled: KeyDto,
}

/// Never prints the secret key.
impl std::fmt::Debug for RolledKeyDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolledKeyDto")
            .field("key", &self.key)
            .field("secret_key", &super::redact::REDACTED)
            .field("rolled", &self.rolled)
            .finish()
    }
}

/// A platform's key pairs.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct KeyList {
    /// Pairs, oldest first.
    pub data: Vec<KeyDto>,
    /// Always false: a platform's pairs fit one page.
    pub has_more: bool,
}

impl From<dream_core::TierPriceIds> for PriceIdDto {
    fn from(ids: dream_core::TierPriceIds) -> Self {
        Self {
            tier: ids.tier,
            price_id: ids.price_id.into(),
            product_id: ids.product_id.into(),
        }
    }
}
