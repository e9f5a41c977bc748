//! Key pairs: `pk_{mode}_…` (publishable, browser-safe) and `sk_{mode}_…` (secret,
//! shown once, stored only as its SHA-256 digest).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    ids::{hex, is_base62, random_base62_128},
    KeyId, Mode, Tenant,
};

/// Longest token we bother hashing; anything longer cannot be one of ours.
const MAX_TOKEN_LEN: usize = 128;

/// A secret key in plain text. Exists only between issuing and showing it once, or
/// between receiving it and hashing it. Its `Debug` and `Display` never show it.
///
/// ```
/// use dream_core::{Mode, SecretKey};
/// let key = SecretKey::generate(Mode::Live);
/// assert!(key.expose_secret().starts_with("sk_live_"));
/// assert!(!format!("{key:?}").contains(&key.expose_secret()[10..]));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// A new secret key with 256 bits of CSPRNG entropy.
    pub fn generate(mode: Mode) -> Self {
        Self(format!(
            "sk_{}_{}{}",
            mode,
            random_base62_128(),
            random_base62_128()
        ))
    }

    /// The full secret. Call only to show it once or to hash it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Its SHA-256 digest, the only form we store.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.0)
    }

    /// `sk_test_…a1b2`: enough to recognise a key in a list, useless to an attacker.
    pub fn hint(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let prefix = self.0.get(..8).unwrap_or("sk_");
        format!("{prefix}…{tail}")
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.hint())
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hint())
    }
}

/// A new publishable key (`pk_{mode}_…`, 128 bits of entropy).
pub fn generate_publishable_key(mode: Mode) -> String {
    format!("pk_{}_{}", mode, random_base62_128())
}

/// SHA-256 of a secret key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    /// The digest of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({}…)", &self.to_hex()[..12])
    }
}

/// Which kind of key a presented token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `pk_…`
    Publishable,
    /// `sk_…`
    Secret,
}

/// The shape of a presented token, checked before any store lookup so garbage costs
/// nothing but a string scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenShape {
    /// Publishable or secret.
    pub kind: KeyKind,
    /// The mode the prefix names.
    pub mode: Mode,
}

impl TokenShape {
    /// Recognises `pk_test_…`, `pk_live_…`, `sk_test_…`, `sk_live_…` with a base62 body.
    ///
    /// ```
    /// use dream_core::{KeyKind, Mode, TokenShape};
    /// let shape = TokenShape::of("pk_live_abc123").unwrap();
    /// assert_eq!((shape.kind, shape.mode), (KeyKind::Publishable, Mode::Live));
    /// assert!(TokenShape::of("sk_prod_abc").is_none());
    /// ```
    pub fn of(token: &str) -> Option<Self> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (kind, rest) = if let Some(rest) = token.strip_prefix("sk_") {
            (KeyKind::Secret, rest)
        } else if let Some(rest) = token.strip_prefix("pk_") {
            (KeyKind::Publishable, rest)
        } else {
            return None;
        };
        let (mode, body) = if let Some(body) = rest.strip_prefix("test_") {
            (Mode::Test, body)
        } else if let Some(body) = rest.strip_prefix("live_") {
            (Mode::Live, body)
        } else {
            return None;
        };
        is_base62(body).then_some(Self { kind, mode })
    }
}

/// A stored key pair: everything about a key except the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Our id for the pair (`key_…`), used to list and revoke it.
    pub id: KeyId,
    /// The tenant the pair belongs to.
    pub tenant: Tenant,
    /// The publishable half, safe to show.
    pub publishable_key: String,
    /// SHA-256 of the secret half.
    pub secret_digest: KeyDigest,
    /// `sk_test_…a1b2`.
    pub secret_hint: String,
    /// The developer's name for the pair ("production", "staging").
    pub label: Option<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyRecord {
    /// Whether the pair authenticates at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// A freshly issued pair: the record to store and the secret to show exactly once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// What is stored.
    pub record: KeyRecord,
    /// The secret, for the caller to show once.
    pub secret: SecretKey,
}

impl IssuedKey {
    /// Generates a pair for `tenant`.
    pub fn generate(
        tenant: Tenant,
        label: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let secret = SecretKey::generate(tenant.mode);
        let record = KeyRecord {
            id: KeyId::generate(),
            publishable_key: generate_publishable_key(tenant.mode),
            secret_digest: secret.digest(),
            secret_hint: secret.hint(),
            tenant,
            label,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        Self { record, secret }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlatformId;

    #[test]
    fn secret_has_256_bits_and_matching_digest() {
        let key = SecretKey::generate(Mode::Test);
        let body = key.expose_secret().strip_prefix("sk_test_").unwrap();
        assert_eq!(body.len(), 44);
        assert_eq!(key.digest(), KeyDigest::of(key.expose_secret()));
        assert_ne!(key, SecretKey::generate(Mode::Test));
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let issued = IssuedKey::generate(
            Tenant::new(PlatformId::generate(), Mode::Live),
            None,
            None,
            Utc::now(),
        );
        let secret = issued.secret.expose_secret().to_owned();
        let body = &secret[8..secret.len() - 4];
        for shown in [
            format!("{:?}", issued),
            format!("{}", issued.secret),
            format!("{:?}", issued.record),
        ] {
            assert!(!shown.contains(body), "secret leaked in {shown}");
        }
        assert!(issued.record.secret_hint.starts_with("sk_live_…"));
    }

    #[test]
    fn token_shapes() {
        let key = SecretKey::generate(Mode::Live);
        assert_eq!(
            TokenShape::of(key.expose_secret()),
            Some(TokenShape {
                kind: KeyKind::Secret,
                mode: Mode::Live
            })
        );
        for bad in [
            "",
            "sk_",
            "sk_test_",
            "sk_test_a b",
            "xk_test_abc",
            "sk_test_ä",
        ] {
            assert_eq!(TokenShape::of(bad), None, "{bad}");
        }
        assert_eq!(
            TokenShape::of(&format!("sk_test_{}", "a".repeat(200))),
            None
        );
    }

    #[test]
    fn expiry_and_revocation() {
        let now = Utc::now();
        let mut rec = IssuedKey::generate(
            Tenant::new(PlatformId::generate(), Mode::Test),
            None,
            Some(now + chrono::Duration::seconds(1)),
            now,
        )
        .record;
        assert!(rec.is_active(now));
        assert!(!rec.is_active(now + chrono::Duration::seconds(1)));
        rec.expires_at = None;
        rec.revoked_at = Some(now);
        assert!(!rec.is_active(now));
    }
}
