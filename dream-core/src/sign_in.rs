//! End-user sign-in: refresh tokens (opaque, stored only as digests, rotated in
//! chains called families) and the Ed25519 keys that sign access tokens (JWT,
//! `alg: EdDSA`), published as a JWK set.
//!
//! Access tokens are stateless: nothing is stored for them and they simply
//! expire. Refresh tokens are the revocable part.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    ids::{hex, is_base62, random_base62_128, random_bytes},
    CustomerId, MasterKey, RevealedSecret, SealedSecret, Tenant,
};

prefixed_id!(
    /// One sign-in of a customer: the chain of refresh tokens that rotation
    /// produces from its first login. Revoking it ends the sign-in.
    ///
    /// ```
    /// use dream_core::RefreshFamilyId;
    /// assert!(RefreshFamilyId::generate().as_str().starts_with("rtf_"));
    /// ```
    RefreshFamilyId,
    "rtf"
);

/// The secret a client keeps to get new access tokens. Never logged: `Debug`
/// shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A fresh token: `rt_` and 256 random bits.
    ///
    /// ```
    /// use dream_core::RefreshToken;
    /// let token = RefreshToken::generate();
    /// assert!(token.expose_secret().starts_with("rt_"));
    /// assert_eq!(format!("{token:?}"), "RefreshToken(…)");
    /// assert_ne!(token.digest(), RefreshToken::generate().digest());
    /// ```
    pub fn generate() -> Self {
        Self(format!("rt_{}{}", random_base62_128(), random_base62_128()))
    }

    /// A token presented by a client, unchecked: an unknown token simply matches
    /// no family.
    pub fn presented(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// Whether the text has the shape of a token this server issues (so a
    /// malformed one is refused without a store read).
    pub fn is_well_formed(value: &str) -> bool {
        value
            .strip_prefix("rt_")
            .is_some_and(|body| body.len() == 44 && is_base62(body))
    }

    /// What the store keeps.
    pub fn digest(&self) -> RefreshDigest {
        RefreshDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The token, to hand to the client once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(…)")
    }
}

/// SHA-256 of a [`RefreshToken`]: how the store names it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshDigest(pub [u8; 32]);

impl RefreshDigest {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for RefreshDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshDigest({}…)", &self.to_hex()[..8])
    }
}

/// One sign-in: whose it is, when it ends at the latest, and whether it was
/// revoked. Its current refresh token is kept by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    /// The family's id.
    pub id: RefreshFamilyId,
    /// The tenant of the customer.
    pub tenant: Tenant,
    /// The customer who signed in.
    pub customer: CustomerId,
    /// When the customer logged in.
    pub created_at: DateTime<Utc>,
    /// The absolute end: no refresh succeeds at or after it, however often the
    /// token was rotated.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked (logout, revoke-all, reuse detected), if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What presenting a refresh token for rotation did, decided atomically by the
/// store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was the family's current one: the next token replaces it.
    Rotated(RefreshFamily),
    /// No family of this tenant ever issued the token.
    Unknown,
    /// The token was already rotated away: the whole family is revoked now (a
    /// stolen token is being replayed, or by the thief's victim).
    Reused,
    /// The family was revoked or reached its absolute end before.
    Ended,
}

/// The only signature algorithm of access tokens.
pub const SIGNING_ALG: &str = "EdDSA";

/// How a signing key's private half is kept at rest: sealed with the master key
/// (`v1:…`), or plain (`plain:…`) when the server has none. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPrivateKey(String);

impl StoredPrivateKey {
    /// Reads the stored form back (no check: [`SigningKey::open`] decides).
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The form backends store.
    pub fn as_stored(&self) -> &str {
        &self.0
    }

    /// Whether it is sealed with a master key.
    pub fn is_sealed(&self) -> bool {
        self.0.starts_with("v1:")
    }
}

impl fmt::Debug for StoredPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_sealed() {
            "StoredPrivateKey(sealed)"
        } else {
            "StoredPrivateKey(plain, …)"
        })
    }
}

/// A signing key as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key id (`kid` of tokens and JWKS).
    pub kid: String,
    /// Always [`SIGNING_ALG`] today; stored so another algorithm can follow.
    pub alg: String,
    /// The 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// The private half at rest.
    pub private_key: StoredPrivateKey,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When another key replaced it as the current one; `None` while current.
    pub retired_at: Option<DateTime<Utc>>,
}

/// The context sealed keys are bound to, so a sealed key cannot be moved to
/// another `kid` (or mistaken for a tenant's sealed Stripe key).
fn seal_context(kid: &str) -> String {
    format!("signing-key/{kid}")
}

/// An Ed25519 key that signs access tokens. `Debug` shows the `kid` only.
pub struct SigningKey {
    kid: String,
    pair: Ed25519KeyPair,
}

/// A signing key that does not open: wrong or missing master key, or damage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing key {kid} does not open ({why})")]
pub struct SigningKeyError {
    /// The key's id.
    pub kid: String,
    /// Why, without any key material.
    pub why: &'static str,
}

impl SigningKey {
    /// A fresh key and its record, sealed with `master` when given.
    ///
    /// ```
    /// use chrono::Utc;
    /// use dream_core::{MasterKey, SigningKey};
    /// let master = MasterKey::generate();
    /// let (key, record) = SigningKey::generate(Some(&master), Utc::now());
    /// assert!(record.private_key.is_sealed());
    /// let opened = SigningKey::open(&record, Some(&master)).unwrap();
    /// assert_eq!(opened.kid(), key.kid());
    /// assert!(SigningKey::open(&record, None).is_err());
    /// ```
    pub fn generate(master: Option<&MasterKey>, now: DateTime<Utc>) -> (Self, SigningKeyRecord) {
        let seed = random_bytes::<32>();
        let kid = format!("sk{}", random_base62_128());
        let secret = RevealedSecret::new(hex(&seed));
        let private_key = match master {
            Some(master) => {
                StoredPrivateKey(master.seal_in(&seal_context(&kid), &secret).to_stored())
            }
            None => StoredPrivateKey(format!("plain:{}", secret.expose())),
        };
        // A 32-byte seed is always a valid Ed25519 private key.
        #[allow(clippy::expect_used)]
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("32-byte seed");
        let record = SigningKeyRecord {
            kid: kid.clone(),
            alg: SIGNING_ALG.to_owned(),
            public_key: pair.public_key().as_ref().to_vec(),
            private_key,
            created_at: now,
            retired_at: None,
        };
        (Self { kid, pair }, record)
    }

    /// Opens a stored key: sealed ones need the master key they were sealed with.
    pub fn open(
        record: &SigningKeyRecord,
        master: Option<&MasterKey>,
    ) -> Result<Self, SigningKeyError> {
        let fail = |why| SigningKeyError {
            kid: record.kid.clone(),
            why,
        };
        let stored = record.private_key.as_stored();
        let seed_hex = if let Some(plain) = stored.strip_prefix("plain:") {
            RevealedSecret::new(plain.to_owned())
        } else {
            let sealed = SealedSecret::from_stored(stored).ok_or_else(|| fail("unknown form"))?;
            let master = master.ok_or_else(|| fail("sealed, and DREAM_MASTER_KEY is not set"))?;
            master
                .open_in(&seal_context(&record.kid), &sealed)
                .map_err(|_| fail("wrong DREAM_MASTER_KEY"))?
        };
        let seed = parse_hex_32(seed_hex.expose()).ok_or_else(|| fail("not 32 bytes"))?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| fail("rejected"))?;
        if pair.public_key().as_ref() != record.public_key.as_slice() {
            return Err(fail("public key does not match"));
        }
        Ok(Self {
            kid: record.kid.clone(),
            pair,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A compact JWS (`header.claims.signature`) of `claims`, with header
    /// `{"alg":"EdDSA","typ":"JWT","kid":…}`.
    pub fn sign_jwt<C: Serialize>(&self, claims: &C) -> Result<String, serde_json::Error> {
        let header = serde_json::json!({ "alg": SIGNING_ALG, "typ": "JWT", "kid": self.kid });
        let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
        let signature = self.pair.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
        Ok(token)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn parse_hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A public key as a JWK (RFC 8037: `kty: OKP`, `crv: Ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// The key id.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

impl From<&SigningKeyRecord> for Jwk {
    fn from(record: &SigningKeyRecord) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(&record.public_key),
            kid: record.kid.clone(),
            alg: record.alg.clone(),
            use_: "sig".into(),
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The customer (`usr_…`).
    pub sub: String,
    /// This server's public URL.
    pub iss: String,
    /// The publishable key the customer signed in through.
    pub aud: String,
    /// The customer's plan when the token was issued.
    pub plan: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// The developer's id of the customer, when set.
    #[serde(rename = "externalId", skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_shape() {
        let token = RefreshToken::generate();
        assert!(RefreshToken::is_well_formed(token.expose_secret()));
        assert!(!RefreshToken::is_well_formed("rt_short"));
    }

    #[test]
    fn plain_keys_open_and_sign_verifiably() {
        let (key, record) = SigningKey::generate(None, Utc::now());
        assert!(!record.private_key.is_sealed());
        assert!(!format!("{record:?}").contains(&record.private_key.as_stored()[6..]));
        let opened = SigningKey::open(&record, None).unwrap();
        let jwt = opened
            .sign_jwt(&serde_json::json!({"sub": "usr_x"}))
            .unwrap();
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            record.public_key.clone(),
        );
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(public.verify(signed.as_bytes(), &signature).is_ok());
        assert_eq!(key.kid(), opened.kid());
    }

    #[test]
    fn a_sealed_key_does_not_open_under_another_kid() {
        let master = MasterKey::generate();
        let (_, mut record) = SigningKey::generate(Some(&master), Utc::now());
        record.kid = "skother".into();
        assert!(SigningKey::open(&record, Some(&master)).is_err());
    }
}
