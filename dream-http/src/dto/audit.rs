//! Audit log entries and a platform's allowed origins.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dream_core::AuditEntry;
use poem_openapi::Object;
use serde::Deserialize;

use super::Nullable;

/// One management action in a platform's audit log. Never holds a secret.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct AuditEntryDto {
    /// `aud_…`.
    pub id: String,
    /// Who: `operator` (admin token), `acc_…` (a developer account), `key_…` (the
    /// id of the secret key used, never the key), or `system`.
    pub actor: String,
    /// What: `key.created`, `key.revoked`, `key.rolled`, `tiers.replaced`,
    /// `stripe.connected`, `webhook_endpoint.secret_revealed`, `customer.deleted`, …
    pub action: String,
    /// The object acted on (`key_…`, `usr_…`, `we_…`, `plt_…`, `acct_…`).
    pub object_id: Nullable<String>,
    /// The mode of the data acted on (`test` or `live`); null for the platform itself.
    pub mode: Nullable<String>,
    /// The request it was done in (`X-Request-Id`).
    pub request_id: Nullable<String>,
    /// A few details (ids, names, counts).
    pub detail: BTreeMap<String, serde_json::Value>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            actor: e.actor.to_string(),
            action: e.action.as_str().to_owned(),
            object_id: e.object_id.into(),
            mode: e.mode.map(|m| m.as_str().to_owned()).into(),
            request_id: e.request_id.into(),
            detail: match e.detail {
                serde_json::Value::Object(map) => map.into_iter().collect(),
                serde_json::Value::Null => BTreeMap::new(),
                other => BTreeMap::from([("value".to_owned(), other)]),
            },
            created_at: e.created_at,
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct AuditList {
    /// Entries, newest first.
    pub data: Vec<AuditEntryDto>,
    /// Whether older entries follow (pass the last id as `startingAfter`).
    pub has_more: bool,
}

/// Change a platform's settings.
#[derive(Object, Deserialize, Debug, Clone, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePlatformRequest {
    /// Browser origins allowed to call `GET /api/tiers` and `GET /api/products`
    /// with a publishable key (CORS), each exactly `https://host[:port]` (or
    /// `http://localhost[:port]`); at most 20; replaces the list. `[]` allows none.
    #[oai(validator(max_items = 20))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub allowed_origins: Option<Vec<String>>,
}

/// A platform's settings.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct PlatformSettingsDto {
    /// `plt_…`.
    pub id: String,
    /// Browser origins allowed to read the publishable-key endpoints.
    pub allowed_origins: Vec<String>,
}
