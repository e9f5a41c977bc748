//! The audit log: who changed what in a platform, when, and in which request.
//!
//! Entries are written by the management services themselves (not by a front
//! door), so every door (admin token, secret key, developer account) records the
//! same actions the same way; a door only says who is acting ([`AuditContext`]).

use std::fmt;

use chrono::{DateTime, Utc};

use crate::{AuditId, KeyId, Mode, PlatformId};

/// Who performed a management action.
///
/// ```
/// use dream_core::{Actor, KeyId};
/// let key = KeyId::generate();
/// assert_eq!(Actor::SecretKey(key.clone()).to_string(), key.as_str());
/// assert_eq!(Actor::parse("operator"), Some(Actor::Operator));
/// assert_eq!(Actor::parse(key.as_str()), Some(Actor::SecretKey(key)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The server's operator, holding `DREAM_ADMIN_TOKEN`.
    Operator,
    /// A developer account (`acc_…`), through the account API.
    Account(String),
    /// A secret key (`key_…`, the pair's id, never the key), through the `sk_` API.
    SecretKey(KeyId),
    /// dream itself, or a library caller that named nobody (see
    /// [`Dream::acting_as`](crate::Dream::acting_as)).
    System,
}

impl Actor {
    /// The account prefix, including the underscore.
    pub const ACCOUNT_PREFIX: &'static str = "acc_";

    /// Reads the stored form back (`operator`, `system`, `acc_…`, `key_…`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(Actor::Operator),
            "system" => Some(Actor::System),
            _ if s.starts_with(Self::ACCOUNT_PREFIX) && s.len() <= 100 => {
                Some(Actor::Account(s.to_owned()))
            }
            _ => KeyId::parse(s).map(Actor::SecretKey),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Operator => f.write_str("operator"),
            Actor::System => f.write_str("system"),
            Actor::Account(id) => f.write_str(id),
            Actor::SecretKey(id) => f.write_str(id.as_str()),
        }
    }
}

/// Who is acting and in which request: what a front door hands the services.
///
/// ```
/// use dream_core::{Actor, AuditContext};
/// let ctx = AuditContext::new(Actor::Operator, Some("req_1".into()));
/// assert_eq!(ctx.actor, Actor::Operator);
/// assert_eq!(AuditContext::system().actor, Actor::System);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// Who.
    pub actor: Actor,
    /// The request being served (`X-Request-Id`), if any.
    pub request_id: Option<String>,
}

impl AuditContext {
    /// `actor` acting in `request_id`.
    pub fn new(actor: Actor, request_id: Option<String>) -> Self {
        Self { actor, request_id }
    }

    /// dream itself, outside any request.
    pub fn system() -> Self {
        Self::new(Actor::System, None)
    }
}

/// Defines [`AuditAction`] with its wire names in one list.
macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// What was done.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)*
        }

        impl AuditAction {
            /// Every action.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The dotted name used on the wire and in the store (`key.rolled`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }
        }
    };
}

audit_actions! {
    /// A platform was created.
    PlatformCreated => "platform.created",
    /// A platform's allowed browser origins (CORS) were replaced.
    AllowedOriginsReplaced => "platform.allowed_origins_replaced",
    /// A key pair was issued.
    KeyCreated => "key.created",
    /// A key pair was revoked.
    KeyRevoked => "key.revoked",
    /// A key pair was rolled: a new pair issued, the old one expiring.
    KeyRolled => "key.rolled",
    /// A mode's tiers were replaced.
    TiersReplaced => "tiers.replaced",
    /// A mode's tiers were synced to Stripe.
    TiersSynced => "tiers.synced",
    /// The test tiers were copied to live mode.
    TiersPromoted => "tiers.promoted",
    /// A Stripe account was connected (Connect or direct).
    StripeConnected => "stripe.connected",
    /// A Stripe account was disconnected.
    StripeDisconnected => "stripe.disconnected",
    /// A webhook endpoint was registered.
    WebhookEndpointCreated => "webhook_endpoint.created",
    /// A webhook endpoint was changed (or its secret rotated).
    WebhookEndpointUpdated => "webhook_endpoint.updated",
    /// A webhook endpoint was deleted.
    WebhookEndpointDeleted => "webhook_endpoint.deleted",
    /// A webhook endpoint's signing secret was shown.
    WebhookEndpointSecretRevealed => "webhook_endpoint.secret_revealed",
    /// A customer was created through the API.
    CustomerCreated => "customer.created",
    /// A customer was changed through the API.
    CustomerUpdated => "customer.updated",
    /// A customer was deleted through the API.
    CustomerDeleted => "customer.deleted",
    /// An API key was issued to a customer.
    CustomerKeyCreated => "customer_key.created",
    /// A customer's API key was revoked.
    CustomerKeyRevoked => "customer_key.revoked",
    /// A customer's API key was rolled: a new key issued, the old one expiring.
    CustomerKeyRolled => "customer_key.rolled",
    /// Credits were granted to a customer through the API.
    CreditsGranted => "credits.granted",
}

impl AuditAction {
    /// Parses the dotted name.
    ///
    /// ```
    /// use dream_core::AuditAction;
    /// assert_eq!(AuditAction::parse("key.rolled"), Some(AuditAction::KeyRolled));
    /// assert_eq!(AuditAction::parse("key.eaten"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a platform's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `aud_…`.
    pub id: AuditId,
    /// The platform the action concerned.
    pub platform: PlatformId,
    /// The mode, for actions on one mode's data (`None`: the platform itself).
    pub mode: Option<Mode>,
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: AuditAction,
    /// The object acted on (`key_…`, `usr_…`, `we_…`, `plt_…`), if one.
    pub object_id: Option<String>,
    /// The request it happened in.
    pub request_id: Option<String>,
    /// A few details, never a secret (see [`scrub_secrets`]).
    pub detail: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The prefixes of secrets this server handles: secret keys, customer keys,
/// webhook signing secrets, Stripe secret and restricted keys.
const SECRET_PREFIXES: [&str; 4] = ["sk_", "ck_", "whsec_", "rk_"];

/// Replaces every string in `value` that is or contains a secret-shaped token
/// with `"[redacted]"`, and drops object members named like a secret
/// (`password`, `secret…`, `token`). A last line of defence: services put only
/// ids and names in audit details in the first place.
///
/// ```
/// use dream_core::scrub_secrets;
/// use serde_json::json;
/// let clean = scrub_secrets(json!({ "label": "prod", "key": "sk_live_abc", "password": "pw" }));
/// assert_eq!(clean, json!({ "label": "prod", "key": "[redacted]" }));
/// ```
pub fn scrub_secrets(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if looks_secret(&s) => Value::String("[redacted]".into()),
        Value::Array(items) => Value::Array(items.into_iter().map(scrub_secrets).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .filter(|(name, _)| !is_secret_name(name))
                .map(|(name, v)| (name, scrub_secrets(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Whether a secret prefix starts a word of `s` (`risk_free` is not a secret).
fn looks_secret(s: &str) -> bool {
    SECRET_PREFIXES.iter().any(|prefix| {
        s.match_indices(prefix).any(|(at, _)| {
            s[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric())
        })
    })
}

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("password") || name.contains("secret") || name.contains("token")
}

impl AuditEntry {
    /// A new entry with a fresh id; `detail` goes through [`scrub_secrets`].
    pub fn new(
        context: &AuditContext,
        platform: PlatformId,
        mode: Option<Mode>,
        action: AuditAction,
        object_id: Option<String>,
        detail: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: AuditId::generate(),
            platform,
            mode,
            actor: context.actor.clone(),
            action,
            object_id,
            request_id: context.request_id.clone(),
            detail: scrub_secrets(detail),
            created_at: at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_round_trip_and_are_distinct() {
        let mut names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
    }

    #[test]
    fn actors_round_trip() {
        for actor in [
            Actor::Operator,
            Actor::System,
            Actor::Account("acc_abc123".into()),
            Actor::SecretKey(KeyId::generate()),
        ] {
            assert_eq!(Actor::parse(&actor.to_string()), Some(actor));
        }
        assert_eq!(Actor::parse("sk_test_abc"), None);
        assert_eq!(Actor::parse(""), None);
    }

    #[test]
    fn scrubbing_removes_secret_values_and_names_at_any_depth() {
        let detail = json!({
            "keyId": "key_abc",
            "nested": [{ "url": "https://x.test/?k=whsec_abc" }, "rk_live_1", 3],
            "webhookSecret": "anything",
            "Token": "x",
            "label": "production",
            "tier": "risk_free",
        });
        assert_eq!(
            scrub_secrets(detail),
            json!({
                "keyId": "key_abc",
                "nested": [{ "url": "[redacted]" }, "[redacted]", 3],
                "label": "production",
                "tier": "risk_free",
            })
        );
    }
}
