//! The Standard Webhooks signature scheme (Svix's): how Clerk signs the events it
//! sends us and how we sign the events we send to developers, so both sides can
//! use the existing libraries (`svix`, `standardwebhooks`) instead of ours.
//!
//! Signed content is `"{id}.{timestamp}.{body}"`; the key is the base64 after
//! `whsec_`; the header holds space-separated `v1,<base64 HMAC-SHA256>` entries.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{ids::random_bytes, CoreError, WebhookError};

/// How far a signed timestamp may be from now, either way, by default.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

const SECRET_PREFIX: &str = "whsec_";

/// A Standard Webhooks signing secret (`whsec_<base64>`). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    text: String,
    key: Vec<u8>,
}

impl SigningSecret {
    /// A fresh secret of 24 random bytes, as Svix issues them.
    ///
    /// ```
    /// use dream_core::SigningSecret;
    /// let secret = SigningSecret::generate();
    /// assert!(secret.expose().starts_with("whsec_"));
    /// assert_eq!(SigningSecret::parse(secret.expose()).unwrap(), secret);
    /// assert!(!format!("{secret:?}").contains(&secret.expose()[6..]));
    /// ```
    pub fn generate() -> Self {
        let key = random_bytes::<24>().to_vec();
        Self {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(&key)),
            key,
        }
    }

    /// Parses `whsec_<base64>` (the prefix is optional, as in the official libraries).
    ///
    /// ```
    /// use dream_core::SigningSecret;
    /// assert!(SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_ok());
    /// assert!(SigningSecret::parse("whsec_not base64!").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let key = STANDARD
            .decode(encoded)
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                CoreError::invalid("secret", "must be `whsec_` followed by base64 bytes")
            })?;
        Ok(Self {
            text: format!("{SECRET_PREFIX}{encoded}"),
            key,
        })
    }

    /// The secret as text, to show its owner once or hand to a verifier.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The `v1,<base64>` signature of one message.
    ///
    /// ```
    /// use dream_core::SigningSecret;
    /// // The golden vector of the Standard Webhooks specification.
    /// let secret = SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
    /// let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    /// assert_eq!(
    ///     secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
    ///     "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    /// );
    /// ```
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(whsec_…)")
    }
}

/// An endpoint's signing secret as a store keeps it: sealed with the master key
/// (AES-256-GCM, bound to the tenant) when the server has one, else plaintext.
/// Services open it with [`Dream::reveal_endpoint_secret`](crate::Dream::reveal_endpoint_secret).
#[derive(Clone, PartialEq, Eq)]
pub enum StoredSigningSecret {
    /// No master key was configured when it was issued.
    Plain(SigningSecret),
    /// Sealed for the endpoint's tenant.
    Sealed(crate::SealedSecret),
}

impl StoredSigningSecret {
    /// The column form: `whsec_…` or the sealed `v1:…`.
    pub fn to_stored(&self) -> String {
        match self {
            Self::Plain(secret) => secret.expose().to_owned(),
            Self::Sealed(sealed) => sealed.to_stored(),
        }
    }

    /// Reads [`StoredSigningSecret::to_stored`]'s form back.
    ///
    /// ```
    /// use dream_core::{SigningSecret, StoredSigningSecret};
    /// let plain = StoredSigningSecret::Plain(SigningSecret::generate());
    /// assert_eq!(StoredSigningSecret::from_stored(&plain.to_stored()).unwrap(), plain);
    /// assert!(StoredSigningSecret::from_stored("v1:zz").is_err());
    /// ```
    pub fn from_stored(text: &str) -> Result<Self, CoreError> {
        if text.starts_with("v1:") {
            crate::SealedSecret::from_stored(text)
                .map(Self::Sealed)
                .ok_or_else(|| CoreError::invalid("secret", "malformed sealed secret"))
        } else {
            SigningSecret::parse(text).map(Self::Plain)
        }
    }
}

impl fmt::Debug for StoredSigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(_) => f.write_str("StoredSigningSecret::Plain(whsec_…)"),
            Self::Sealed(_) => f.write_str("StoredSigningSecret::Sealed(…)"),
        }
    }
}

/// The three headers of a signed delivery (`svix-*` or `webhook-*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    /// `svix-id` / `webhook-id`: the message id, the same on every retry.
    pub id: Option<&'a str>,
    /// `svix-timestamp` / `webhook-timestamp`: unix seconds.
    pub timestamp: Option<&'a str>,
    /// `svix-signature` / `webhook-signature`: `v1,<base64>` entries.
    pub signature: Option<&'a str>,
}

/// Checks a delivery against every secret in `secrets` (several during rotation):
/// the timestamp must be within `tolerance` of `now` either way, and any `v1`
/// entry must match, compared in constant time.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use dream_core::{verify_signed, SignedHeaders, SigningSecret, WebhookError};
/// let secret = SigningSecret::generate();
/// let body = br#"{"type":"user.created"}"#;
/// let signature = secret.sign("msg_1", 1_700_000_000, body);
/// let headers = SignedHeaders { id: Some("msg_1"), timestamp: Some("1700000000"), signature: Some(&signature) };
/// let now = Utc.timestamp_opt(1_700_000_010, 0).unwrap();
/// let window = Duration::seconds(300);
/// assert!(verify_signed(&[secret.clone()], headers, body, now, window).is_ok());
/// assert_eq!(
///     verify_signed(&[secret], headers, b"{}", now, window),
///     Err(WebhookError::SignatureMismatch),
/// );
/// ```
pub fn verify_signed(
    secrets: &[SigningSecret],
    headers: SignedHeaders<'_>,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    verify_signed_by(secrets, headers, body, now, tolerance).map(|_| ())
}

/// [`verify_signed`], answering which of `secrets` (its index) signed the
/// delivery, for callers that bind each secret to what it may change (anything
/// that holds a secret, such as a `ClerkEndpoint`, can be passed as it is).
pub fn verify_signed_by<S: AsRef<SigningSecret>>(
    secrets: &[S],
    headers: SignedHeaders<'_>,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<usize, WebhookError> {
    let (Some(id), Some(timestamp), Some(signature)) =
        (headers.id, headers.timestamp, headers.signature)
    else {
        return Err(WebhookError::MissingSignature);
    };
    let signed_at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::MalformedSignature)?;
    if id.is_empty() {
        return Err(WebhookError::MalformedSignature);
    }
    if (now.timestamp() - signed_at).abs() > tolerance.num_seconds() {
        return Err(WebhookError::TimestampOutsideTolerance);
    }
    let candidates: Vec<Vec<u8>> = signature
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();
    if candidates.is_empty() {
        return Err(WebhookError::MalformedSignature);
    }
    secrets
        .iter()
        .position(|secret| {
            let expected = secret.as_ref().mac(id, signed_at, body);
            candidates
                .iter()
                .any(|candidate| bool::from(candidate.as_slice().ct_eq(&expected)))
        })
        .ok_or(WebhookError::SignatureMismatch)
}

impl AsRef<SigningSecret> for SigningSecret {
    fn as_ref(&self) -> &SigningSecret {
        self
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const GOLDEN_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const GOLDEN_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const GOLDEN_TS: i64 = 1649367553;
    const GOLDEN_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const GOLDEN_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
    }

    fn headers<'a>(ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(GOLDEN_ID),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    fn golden() -> SigningSecret {
        SigningSecret::parse(GOLDEN_SECRET).unwrap()
    }

    #[test]
    fn verifies_the_golden_vector_and_rotation() {
        let ts = GOLDEN_TS.to_string();
        let window = Duration::seconds(SIGNATURE_TOLERANCE_SECS);
        let now = at(GOLDEN_TS + 10);
        let old = SigningSecret::generate();
        verify_signed(
            &[golden()],
            headers(&ts, GOLDEN_SIG),
            GOLDEN_BODY,
            now,
            window,
        )
        .unwrap();
        // Rotation: the matching secret is second, the matching entry is second.
        let two = format!("v1,AAAA {GOLDEN_SIG}");
        verify_signed(
            &[old, golden()],
            headers(&ts, &two),
            GOLDEN_BODY,
            now,
            window,
        )
        .unwrap();
    }

    #[test]
    fn refuses_each_failure_with_its_reason() {
        let ts = GOLDEN_TS.to_string();
        let w = Duration::seconds(SIGNATURE_TOLERANCE_SECS);
        let now = at(GOLDEN_TS);
        let s = [golden()];
        let check = |h, body: &[u8], now| verify_signed(&s, h, body, now, w);
        assert_eq!(
            check(headers(&ts, GOLDEN_SIG), b"{}", now),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(
            verify_signed(
                &[SigningSecret::generate()],
                headers(&ts, GOLDEN_SIG),
                GOLDEN_BODY,
                now,
                w
            ),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(
            check(headers(&ts, GOLDEN_SIG), GOLDEN_BODY, at(GOLDEN_TS + 301)),
            Err(WebhookError::TimestampOutsideTolerance)
        );
        assert_eq!(
            check(headers(&ts, GOLDEN_SIG), GOLDEN_BODY, at(GOLDEN_TS - 301)),
            Err(WebhookError::TimestampOutsideTolerance)
        );
        assert_eq!(
            check(SignedHeaders::default(), GOLDEN_BODY, now),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            check(headers("yesterday", GOLDEN_SIG), GOLDEN_BODY, now),
            Err(WebhookError::MalformedSignature)
        );
        assert_eq!(
            check(headers(&ts, "v2,abc"), GOLDEN_BODY, now),
            Err(WebhookError::MalformedSignature)
        );
    }

    #[test]
    fn secrets_round_trip_and_reject_garbage() {
        let s = SigningSecret::generate();
        assert_eq!(SigningSecret::parse(s.expose()).unwrap(), s);
        let bare = s.expose().trim_start_matches("whsec_").to_owned();
        assert_eq!(SigningSecret::parse(&bare).unwrap(), s);
        assert!(SigningSecret::parse("whsec_").is_err());
        assert!(SigningSecret::parse("whsec_***").is_err());
    }
}
