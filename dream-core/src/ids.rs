//! Prefixed, random, URL-safe identifiers (`plt_…`, `usr_…`, `key_…`, `evt_…`).

use std::fmt;

use serde::{Deserialize, Serialize};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// When the OS has no usable randomness source. Issuing keys or ids from a weaker
/// source would be worse than stopping, which is also what `rand` does.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system random number generator failed");
    buf
}

/// Encodes 16 random bytes as exactly 22 base62 characters (128 bits of entropy).
pub(crate) fn random_base62_128() -> String {
    let mut n = u128::from_le_bytes(random_bytes::<16>());
    let mut out = [b'0'; 22];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

pub(crate) fn is_base62(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with, including the underscore.
            pub const PREFIX: &'static str = concat!($prefix, "_");

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", Self::PREFIX, random_base62_128()))
            }

            /// Accepts a string that has this id's shape (prefix plus base62 body).
            pub fn parse(s: &str) -> Option<Self> {
                let body = s.strip_prefix(Self::PREFIX)?;
                (is_base62(body) && body.len() <= 64).then(|| Self(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// A developer's app: stable, internal, survives every key rotation.
    ///
    /// ```
    /// use dream_core::PlatformId;
    /// let id = PlatformId::generate();
    /// assert!(id.as_str().starts_with("plt_"));
    /// assert_eq!(PlatformId::parse(id.as_str()), Some(id));
    /// ```
    PlatformId,
    "plt"
);
prefixed_id!(
    /// A developer account: a person who signs in and owns platforms.
    ///
    /// ```
    /// use dream_core::AccountId;
    /// let id = AccountId::generate();
    /// assert!(id.as_str().starts_with("acc_"));
    /// ```
    AccountId,
    "acc"
);
prefixed_id!(
    /// An end customer of a developer's app (ours; Stripe's are `cus_`).
    CustomerId,
    "usr"
);
prefixed_id!(
    /// A key pair record (never the key itself).
    KeyId,
    "key"
);
prefixed_id!(
    /// An entry of the event log.
    EventId,
    "evt"
);

prefixed_id!(
    /// An entry of a platform's audit log.
    AuditId,
    "aud"
);
impl EventId {
    /// An id derived from `key` (SHA-256, 128 bits as hex): events that must be
    /// recorded at most once get one id per occurrence, and the event log's
    /// unique id refuses the second append, across processes.
    ///
    /// ```
    /// use dream_core::EventId;
    /// assert_eq!(EventId::derived("a"), EventId::derived("a"));
    /// assert_ne!(EventId::derived("a"), EventId::derived("b"));
    /// assert_eq!(EventId::parse(EventId::derived("a").as_str()), Some(EventId::derived("a")));
    /// ```
    pub fn derived(key: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.as_bytes());
        Self(format!("{}{}", Self::PREFIX, hex(&digest[..16])))
    }
}

prefixed_id!(
    /// A developer's webhook endpoint.
    WebhookEndpointId,
    "we"
);
prefixed_id!(
    /// One event on its way to one endpoint (all its attempts).
    DeliveryId,
    "dlv"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = CustomerId::generate();
        let b = CustomerId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 4 + 22);
        assert!(CustomerId::parse("usr_").is_none());
        assert!(CustomerId::parse("usr_a-b").is_none());
        assert!(CustomerId::parse("plt_abc").is_none());
    }

    #[test]
    fn hex_encodes() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
