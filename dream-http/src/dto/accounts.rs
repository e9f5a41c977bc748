//! Account and app bodies. Passwords never appear in `Debug`.

use chrono::{DateTime, Utc};
use dream_core::{Account, AccountPlan, Platform};
use poem_openapi::Object;
use serde::Deserialize;

use super::{KeyDto, Nullable};

/// Sign up or log in.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialsRequest {
    /// Your email (unique, compared case-insensitively).
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// At least 10 characters (sign-up), at most 256.
    #[oai(validator(max_length = 256))]
    pub password: String,
}

impl std::fmt::Debug for CredentialsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsRequest").finish_non_exhaustive()
    }
}

/// Change the password; every other session of the account ends.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password now.
    #[oai(validator(max_length = 256))]
    pub current_password: String,
    /// The new one, 10 to 256 characters.
    #[oai(validator(min_length = 10, max_length = 256))]
    pub new_password: String,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .finish_non_exhaustive()
    }
}

/// Where Stripe sends the developer after the upgrade checkout. The body is optional.
#[derive(Object, Deserialize, Debug, Clone, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeRequest {
    /// After paying; defaults to `DREAM_CHECKOUT_SUCCESS_URL`.
    #[oai(validator(max_length = 2048))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub success_url: Option<String>,
    /// After giving up; defaults to `DREAM_CHECKOUT_CANCEL_URL`.
    #[oai(validator(max_length = 2048))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub cancel_url: Option<String>,
}

/// Create or rename an app.
#[derive(Object, Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppRequest {
    /// Its display name, 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
}

/// Change an app: its name, and the browser origins allowed to read its
/// publishable-key endpoints (as `PATCH /admin/platforms/{platform_id}`).
#[derive(Object, Deserialize, Debug, Clone, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAppRequest {
    /// A new display name, 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub name: Option<String>,
    /// Browser origins allowed to call `GET /api/tiers` and `GET /api/products`
    /// with a publishable key, each exactly `https://host[:port]` (or
    /// `http://localhost[:port]`); at most 20; replaces the list.
    #[oai(validator(max_items = 20))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub allowed_origins: Option<Vec<String>>,
}

/// Replace an app's tiers in the mode of `?mode=` (the `/create-products` rules).
#[derive(Object, Deserialize, Debug)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplaceTiersRequest {
    /// The tiers on offer (1–100, unique names, at least one recurring); tiers no
    /// longer listed are archived.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub tiers: Vec<super::TierInput>,
}

/// Issue a key pair in the mode of `?mode=`.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppKeyRequest {
    /// Your name for it ("production"), at most 100 characters, no control characters.
    #[oai(validator(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub label: Option<String>,
    /// When it stops working (in the future).
    #[serde(default, deserialize_with = "super::non_null")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An app (a platform owned by your account).
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct AppDto {
    /// `plt_…`: the `platformId` of every other API.
    pub id: String,
    /// Its name.
    pub name: Nullable<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When it was deleted (only in the answer to `DELETE`).
    #[oai(skip_serializing_if_is_none)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Browser origins allowed to read its publishable-key endpoints (CORS); in
    /// the answers to `GET` and `PATCH` of one app.
    #[oai(skip_serializing_if_is_none)]
    pub allowed_origins: Option<Vec<String>>,
}

impl From<Platform> for AppDto {
    fn from(p: Platform) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.into(),
            created_at: p.created_at,
            deleted_at: p.deleted_at,
            allowed_origins: None,
        }
    }
}

/// Your apps.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct AppList {
    /// Apps, oldest first.
    pub data: Vec<AppDto>,
    /// Always false: an account's apps fit one page.
    pub has_more: bool,
}

/// A new app with its first (test-mode) key pair.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct AppCreated {
    // The app.
    pub app: AppDto,
    // The key pair.
    pub key: KeyDto,
    /// The test secret key. Shown once: store it now.
    pub secret_key: String,
}

impl std::fmt::Debug for AppCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCreated")
            .field("app", &self.app)
            .field("key", &self.key)
            .field("secret_key", &super::redact::REDACTED)
            .finish()
    }
}

/// A developer account.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct AccountDto {
    /// `acc_…`.
    pub id: String,
    /// Email.
    pub email: String,
    /// Signed up.
    pub created_at: DateTime<Utc>,
    /// The plan (a tier of the server's house platform); null when the server has
    /// no plans (no `DREAM_HOUSE_PLATFORM`).
    pub plan: Nullable<String>,
    /// Whether live mode (live keys, live Stripe) is open to this account.
    pub live_mode_allowed: bool,
    /// The account's apps, oldest first.
    pub apps: Vec<AppDto>,
}

impl AccountDto {
    /// The account, its plan and its apps.
    pub fn new(account: &Account, plan: AccountPlan, apps: Vec<Platform>) -> Self {
        Self {
            id: account.id.to_string(),
            email: account.email.clone(),
            created_at: account.created_at,
            plan: plan.plan.into(),
            live_mode_allowed: plan.live_allowed,
            apps: apps.into_iter().map(AppDto::from).collect(),
        }
    }
}
