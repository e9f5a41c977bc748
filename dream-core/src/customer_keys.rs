//! API keys a developer issues to their own customers: `ck_{mode}_…`, shown once,
//! stored only as a SHA-256 digest, verified (and optionally counted against the
//! customer's plan) with [`Dream::verify_customer_key`](crate::Dream::verify_customer_key).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ids::{is_base62, random_base62_128},
    CustomerId, KeyDigest, Mode, Tenant,
};

prefixed_id!(
    /// A customer key record (never the key itself).
    ///
    /// ```
    /// use dream_core::CustomerKeyId;
    /// assert!(CustomerKeyId::generate().as_str().starts_with("ckey_"));
    /// ```
    CustomerKeyId,
    "ckey"
);

/// Longest token we bother hashing; anything longer cannot be one of ours.
const MAX_TOKEN_LEN: usize = 128;

/// A customer key in plain text (`ck_test_…`, `ck_live_…`). Exists only between
/// issuing and showing it once; `Debug` and `Display` show only its hint.
///
/// ```
/// use dream_core::{CustomerKeySecret, Mode};
/// let key = CustomerKeySecret::generate(Mode::Test);
/// assert!(key.expose_secret().starts_with("ck_test_"));
/// assert!(!format!("{key:?}").contains(&key.expose_secret()[10..]));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerKeySecret(String);

impl CustomerKeySecret {
    /// A new key with 256 bits of CSPRNG entropy, like a secret key.
    pub fn generate(mode: Mode) -> Self {
        Self(format!(
            "ck_{}_{}{}",
            mode,
            random_base62_128(),
            random_base62_128()
        ))
    }

    /// The full key. Call only to show it once or to hash it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Its SHA-256 digest, the only form we store.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.0)
    }

    /// `ck_test_…a1b2`: enough to recognise a key in a list, useless to an attacker.
    pub fn hint(&self) -> String {
        let tail = self.0.get(self.0.len().saturating_sub(4)..).unwrap_or("");
        let prefix = self.0.get(..8).unwrap_or("ck_");
        format!("{prefix}…{tail}")
    }

    /// The mode a presented token names, if it has the shape of a customer key
    /// (`ck_test_` or `ck_live_` and a base62 body). Checked before any lookup so
    /// garbage costs nothing but a string scan.
    ///
    /// ```
    /// use dream_core::{CustomerKeySecret, Mode};
    /// assert_eq!(CustomerKeySecret::mode_of("ck_live_abc"), Some(Mode::Live));
    /// assert_eq!(CustomerKeySecret::mode_of("sk_live_abc"), None);
    /// assert_eq!(CustomerKeySecret::mode_of("ck_live_a-c"), None);
    /// ```
    pub fn mode_of(token: &str) -> Option<Mode> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let rest = token.strip_prefix("ck_")?;
        let (mode, body) = if let Some(body) = rest.strip_prefix("test_") {
            (Mode::Test, body)
        } else if let Some(body) = rest.strip_prefix("live_") {
            (Mode::Live, body)
        } else {
            return None;
        };
        is_base62(body).then_some(mode)
    }
}

impl fmt::Debug for CustomerKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomerKeySecret({})", self.hint())
    }
}

impl fmt::Display for CustomerKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hint())
    }
}

/// A stored customer key: everything about it except the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerKeyRecord {
    /// `ckey_…`, used to list, revoke and roll it.
    pub id: CustomerKeyId,
    /// The tenant (platform and mode) the key belongs to.
    pub tenant: Tenant,
    /// The customer it identifies.
    pub customer: CustomerId,
    /// The developer's name for it.
    pub name: Option<String>,
    /// SHA-256 of the key.
    pub digest: KeyDigest,
    /// `ck_test_…a1b2`.
    pub hint: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The meter a verification with an amount counts when it names none
    /// (`None`: `requests`).
    pub meter: Option<String>,
    /// The key's own rate limit: requests per minute over all of its counted
    /// verifications (`None`: only the plan's rate limit applies).
    #[serde(default)]
    pub rate_per_minute: Option<u32>,
}

/// What a new customer key carries besides its customer (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCustomerKey {
    /// The developer's name for it (at most 100 characters).
    pub name: Option<String>,
    /// When it stops working (in the future), if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// The meter its verifications count when they name none: `requests` or a
    /// meter one of the tenant's tiers defines.
    pub meter: Option<String>,
    /// Its own rate limit, 1 to [`crate::MAX_RATE_PER_MINUTE`] requests per minute.
    pub rate_per_minute: Option<u32>,
}

impl CustomerKeyRecord {
    /// Whether the key verifies at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// A freshly issued customer key: the record to store and the key to show once.
#[derive(Debug, Clone)]
pub struct IssuedCustomerKey {
    /// What is stored.
    pub record: CustomerKeyRecord,
    /// The key, for the caller to show once.
    pub secret: CustomerKeySecret,
}

impl IssuedCustomerKey {
    /// Generates a key for `customer` of `tenant`.
    pub fn generate(
        tenant: Tenant,
        customer: CustomerId,
        name: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let secret = CustomerKeySecret::generate(tenant.mode);
        let record = CustomerKeyRecord {
            id: CustomerKeyId::generate(),
            digest: secret.digest(),
            hint: secret.hint(),
            tenant,
            customer,
            name,
            created_at: now,
            expires_at,
            revoked_at: None,
            meter: None,
            rate_per_minute: None,
        };
        Self { record, secret }
    }
}

/// The answer of a verification, as `code` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifyCode {
    /// The key is active (and the amount, if any, was counted).
    Valid,
    /// No such key in this tenant: unknown, malformed, another tenant's or the
    /// other mode's, or its customer was deleted.
    NotFound,
    /// The key was revoked.
    Revoked,
    /// The key expired (or was rolled and its overlap ended).
    Expired,
    /// The customer's plan limit for the period leaves no room for the amount.
    UsageExceeded,
    /// The plan's per-minute rate limit refused the amount.
    RateLimited,
}

impl VerifyCode {
    /// `VALID`, `NOT_FOUND`, … as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyCode::Valid => "VALID",
            VerifyCode::NotFound => "NOT_FOUND",
            VerifyCode::Revoked => "REVOKED",
            VerifyCode::Expired => "EXPIRED",
            VerifyCode::UsageExceeded => "USAGE_EXCEEDED",
            VerifyCode::RateLimited => "RATE_LIMITED",
        }
    }
}

/// Usage figures of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyUsage {
    /// Units counted in the period (including this call when it was counted).
    pub used: u64,
    /// The plan's limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// Units left, `None` when unlimited.
    pub remaining: Option<u64>,
    /// When the period ends.
    pub period_end: DateTime<Utc>,
}

/// What [`Dream::verify_customer_key`](crate::Dream::verify_customer_key) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The verdict.
    pub code: VerifyCode,
    /// The key's id, unless `NotFound`.
    pub key_id: Option<CustomerKeyId>,
    /// The key's customer, unless `NotFound`.
    pub customer: Option<CustomerId>,
    /// The customer's plan, when the customer was looked up (`Valid`,
    /// `UsageExceeded`, `RateLimited`).
    pub plan: Option<String>,
    /// Usage figures, likewise.
    pub usage: Option<VerifyUsage>,
    /// For `RateLimited`: milliseconds until the amount could be admitted.
    pub retry_after_ms: Option<u64>,
}

impl Verification {
    /// Whether the key may be used (`code` is `Valid`).
    pub fn valid(&self) -> bool {
        self.code == VerifyCode::Valid
    }

    pub(crate) fn not_found() -> Self {
        Self::of_key(VerifyCode::NotFound, None)
    }

    pub(crate) fn of_key(code: VerifyCode, key: Option<&CustomerKeyRecord>) -> Self {
        Self {
            code,
            key_id: key.map(|k| k.id.clone()),
            customer: key.map(|k| k.customer.clone()),
            plan: None,
            usage: None,
            retry_after_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlatformId;

    #[test]
    fn key_has_256_bits_and_never_shows_in_debug() {
        let issued = IssuedCustomerKey::generate(
            Tenant::new(PlatformId::generate(), Mode::Live),
            CustomerId::generate(),
            Some("ci".into()),
            None,
            Utc::now(),
        );
        let key = issued.secret.expose_secret().to_owned();
        let body = key.strip_prefix("ck_live_").unwrap();
        assert_eq!(body.len(), 44);
        assert_eq!(issued.record.digest, KeyDigest::of(&key));
        assert_eq!(CustomerKeySecret::mode_of(&key), Some(Mode::Live));
        let middle = &key[8..key.len() - 4];
        for shown in [
            format!("{issued:?}"),
            format!("{}", issued.secret),
            format!("{:?}", issued.record),
        ] {
            assert!(!shown.contains(middle), "key leaked in {shown}");
        }
        assert!(issued.record.hint.starts_with("ck_live_…"));
        assert!(issued.record.hint.ends_with(&key[key.len() - 4..]));
    }

    #[test]
    fn shapes() {
        for bad in [
            "",
            "ck_",
            "ck_test_",
            "ck_prod_abc",
            "sk_test_abc",
            "ck_test_ä",
            "ck_test_a b",
        ] {
            assert_eq!(CustomerKeySecret::mode_of(bad), None, "{bad}");
        }
        assert_eq!(
            CustomerKeySecret::mode_of(&format!("ck_test_{}", "a".repeat(200))),
            None
        );
    }
}
