//! Secrets at rest: AES-256-GCM under the operator's master key (`DREAM_MASTER_KEY`).

use std::fmt;

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Key, Nonce,
};
use serde::{Deserialize, Serialize};

use super::RevealedSecret;
use crate::{ids::random_bytes, CoreError, Tenant};

/// The 256-bit key that seals direct-mode Stripe keys. `Debug` hides it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Parses 64 hex characters (`openssl rand -hex 32`).
    ///
    /// ```
    /// use dream_core::MasterKey;
    /// assert!(MasterKey::from_hex(&"ab".repeat(32)).is_ok());
    /// assert!(MasterKey::from_hex("too short").is_err());
    /// ```
    pub fn from_hex(text: &str) -> Result<Self, CoreError> {
        let text = text.trim();
        let invalid = || {
            CoreError::invalid(
                "DREAM_MASTER_KEY",
                "must be 64 hex characters (32 random bytes, e.g. `openssl rand -hex 32`)",
            )
        };
        if text.len() != 64 {
            return Err(invalid());
        }
        let mut key = [0u8; 32];
        for (i, slot) in key.iter_mut().enumerate() {
            *slot = u8::from_str_radix(text.get(2 * i..2 * i + 2).ok_or_else(invalid)?, 16)
                .map_err(|_| invalid())?;
        }
        Ok(Self(key))
    }

    /// A random key (tests, first-run tooling).
    pub fn generate() -> Self {
        Self(random_bytes::<32>())
    }

    /// Encrypts `secret` for `tenant`. The tenant is authenticated data, so a sealed
    /// key copied to another tenant's row does not open.
    ///
    /// ```
    /// use dream_core::{MasterKey, Mode, PlatformId, RevealedSecret, Tenant};
    /// let key = MasterKey::generate();
    /// let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
    /// let sealed = key.seal(&tenant, &RevealedSecret::new("rk_test_123".into()));
    /// assert_eq!(key.open(&tenant, &sealed).unwrap().expose(), "rk_test_123");
    /// let other = Tenant::new(PlatformId::generate(), Mode::Test);
    /// assert!(key.open(&other, &sealed).is_err());
    /// ```
    pub fn seal(&self, tenant: &Tenant, secret: &RevealedSecret) -> SealedSecret {
        self.seal_in(&tenant.to_string(), secret)
    }

    /// Encrypts `secret` bound to `context` (authenticated data): it opens only
    /// with [`open_in`](Self::open_in) and the same context. Tenants' secrets use
    /// the tenant as context; server-wide ones (signing keys) name themselves.
    pub fn seal_in(&self, context: &str, secret: &RevealedSecret) -> SealedSecret {
        let nonce = random_bytes::<12>();
        let aad = context;
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0));
        // Encryption with a 32-byte key and a 12-byte nonce has no failure case for
        // inputs this small; an empty ciphertext would simply fail to open.
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        SealedSecret(bytes)
    }

    /// Decrypts a sealed secret of `tenant`.
    pub fn open(
        &self,
        tenant: &Tenant,
        sealed: &SealedSecret,
    ) -> Result<RevealedSecret, SealError> {
        self.open_in(&tenant.to_string(), sealed)
    }

    /// Decrypts a secret sealed with [`seal_in`](Self::seal_in) and `context`.
    pub fn open_in(
        &self,
        context: &str,
        sealed: &SealedSecret,
    ) -> Result<RevealedSecret, SealError> {
        if sealed.0.len() < 12 + 16 {
            return Err(SealError);
        }
        let (nonce, ciphertext) = sealed.0.split_at(12);
        let aad = context;
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0));
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError)?;
        String::from_utf8(plain)
            .map(RevealedSecret::new)
            .map_err(|_| SealError)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

/// A sealed secret failed to open: wrong master key, another tenant's ciphertext, or
/// tampering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed secret does not open with this master key for this tenant")]
pub struct SealError;

/// Nonce (12 bytes) followed by AES-256-GCM ciphertext and tag.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// The form backends store: `v1:` and lower-case hex.
    pub fn to_stored(&self) -> String {
        format!("v1:{}", crate::ids::hex(&self.0))
    }

    /// Reads [`SealedSecret::to_stored`]'s form back.
    ///
    /// ```
    /// use dream_core::{MasterKey, Mode, PlatformId, RevealedSecret, SealedSecret, Tenant};
    /// let tenant = Tenant::new(PlatformId::generate(), Mode::Live);
    /// let sealed = MasterKey::generate().seal(&tenant, &RevealedSecret::new("rk_live_x".into()));
    /// assert_eq!(SealedSecret::from_stored(&sealed.to_stored()), Some(sealed));
    /// assert_eq!(SealedSecret::from_stored("plain"), None);
    /// ```
    pub fn from_stored(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("v1:")?;
        if hex.len() % 2 != 0 {
            return None;
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .map(Self)
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}
