//! Stripe's webhook signature scheme: the `Stripe-Signature` header is
//! `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each `v1` the lower-case hex of
//! HMAC-SHA256, keyed with the endpoint's whole `whsec_…` secret (its bytes, not
//! decoded), over `"{t}."` followed by the raw payload bytes. Other schemes (`v0`) and
//! unknown keys are ignored.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dream_core::{RevealedSecret, WebhookError};
use hmac::{digest::Key, Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::config::settings;

type HmacSha256 = Hmac<Sha256>;

/// The parts of a `Stripe-Signature` header dream uses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SignatureHeader<'a> {
    /// The signed timestamp (`t`), unix seconds.
    pub timestamp: i64,
    /// The `v1` signatures, in header order.
    pub v1: Vec<&'a str>,
}

/// Parses a `Stripe-Signature` header. The first `t` counts; every `v1` is a candidate;
/// other keys, and items without `=`, are ignored.
///
/// # Errors
/// `MalformedSignature` without a numeric `t` or without any `v1`.
pub(crate) fn parse_header(header: &str) -> Result<SignatureHeader<'_>, WebhookError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_none() => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| WebhookError::MalformedSignature)?;
                timestamp = Some(t);
            }
            "v1" => v1.push(value),
            _ => {}
        }
    }
    match timestamp {
        Some(timestamp) if !v1.is_empty() => Ok(SignatureHeader { timestamp, v1 }),
        _ => Err(WebhookError::MalformedSignature),
    }
}

/// The lower-case hex `v1` signature of `payload` signed at `timestamp` with `secret`.
pub(crate) fn compute_signature(secret: &[u8], timestamp: i64, payload: &[u8]) -> String {
    let mut mac = keyed(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    lower_hex(&mac.finalize().into_bytes())
}

/// A `Stripe-Signature` header value for `payload`, signed with `secret` (the whole
/// `whsec_…` string) at `timestamp` (unix seconds), exactly as Stripe sends it:
/// `t=<timestamp>,v1=<hex>`. For tests and local tools that post webhooks to dream.
///
/// ```
/// use dream_stripe::webhook_signature_header;
///
/// let header = webhook_signature_header(br#"{"id":"evt_test"}"#, "whsec_test_secret", 1492774577);
/// assert_eq!(
///     header,
///     "t=1492774577,v1=22f7d74836ddad3284a2b80853dd2fe731655c1bfddcff3c3666a500cf3abd80"
/// );
/// ```
pub fn webhook_signature_header(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let v1 = compute_signature(secret.as_bytes(), timestamp, payload);
    format!("t={timestamp},v1={v1}")
}

/// Checks the `Stripe-Signature` header `signature` over the raw `payload`: some `v1`
/// must match under some secret of `secrets` (compared in constant time), and the signed
/// timestamp must be within `tolerance` of `now`, either way.
///
/// # Errors
/// `NotConfigured` without secrets, `MissingSignature` without a header,
/// `MalformedSignature`, `SignatureMismatch`, `TimestampOutsideTolerance`.
pub(crate) fn verify(
    secrets: &[RevealedSecret],
    tolerance: Duration,
    payload: &[u8],
    signature: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NotConfigured(format!(
            "Set {} to the Connect endpoint's whsec_… secret",
            settings::WEBHOOK_SECRET
        )));
    }
    verify_with(secrets, tolerance, payload, signature, now)
}

/// [`verify`] with secrets the caller found (a direct-mode tenant's endpoint secret),
/// not the operator's setting: no secrets is not a configuration error here but fails
/// as a wrong secret does, after the same header checks, so a caller can answer
/// "no such endpoint" exactly like "bad signature".
///
/// # Errors
/// `MissingSignature` without a header, `MalformedSignature`, `SignatureMismatch`
/// (also without secrets), `TimestampOutsideTolerance`.
pub(crate) fn verify_with(
    secrets: &[RevealedSecret],
    tolerance: Duration,
    payload: &[u8],
    signature: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    let header = parse_header(signature.ok_or(WebhookError::MissingSignature)?)?;
    // Every secret against every candidate, without stopping at the first match.
    let mut matched = Choice::from(0);
    for secret in secrets {
        let expected = compute_signature(secret.expose().as_bytes(), header.timestamp, payload);
        for candidate in &header.v1 {
            matched |= expected.as_bytes().ct_eq(candidate.as_bytes());
        }
    }
    if !bool::from(matched) {
        return Err(WebhookError::SignatureMismatch);
    }
    let age = i128::from(now.timestamp()) - i128::from(header.timestamp);
    if age.unsigned_abs() > u128::from(tolerance.as_secs()) {
        return Err(WebhookError::TimestampOutsideTolerance);
    }
    Ok(())
}

/// HMAC-SHA256 keyed with `secret`. HMAC (RFC 2104) hashes a key longer than the block and
/// zero-pads a shorter one to the block size; doing that here gives a block-sized key,
/// which the infallible constructor takes.
fn keyed(secret: &[u8]) -> HmacSha256 {
    let mut key = Key::<HmacSha256>::default();
    if secret.len() > key.len() {
        let digest = Sha256::digest(secret);
        key[..digest.len()].copy_from_slice(&digest);
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    <HmacSha256 as Mac>::new(&key)
}

fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const GOLDEN_PAYLOAD: &[u8] = br#"{"id":"evt_test"}"#;
    const GOLDEN_SECRET: &str = "whsec_test_secret";
    const GOLDEN_T: i64 = 1_492_774_577;
    const GOLDEN_V1: &str = "22f7d74836ddad3284a2b80853dd2fe731655c1bfddcff3c3666a500cf3abd80";
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn secrets(values: &[&str]) -> Vec<RevealedSecret> {
        values
            .iter()
            .map(|s| RevealedSecret::new((*s).to_owned()))
            .collect()
    }

    fn at(t: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(t, 0).unwrap()
    }

    fn check(
        secret_list: &[&str],
        payload: &[u8],
        header: Option<&str>,
        now: i64,
    ) -> Result<(), WebhookError> {
        verify(&secrets(secret_list), TOLERANCE, payload, header, at(now))
    }

    #[test]
    fn golden_vector_from_stripes_library() {
        assert_eq!(
            compute_signature(GOLDEN_SECRET.as_bytes(), GOLDEN_T, GOLDEN_PAYLOAD),
            GOLDEN_V1
        );
        let header = format!("t={GOLDEN_T},v1={GOLDEN_V1}");
        assert_eq!(
            webhook_signature_header(GOLDEN_PAYLOAD, GOLDEN_SECRET, GOLDEN_T),
            header
        );
        assert_eq!(
            check(&[GOLDEN_SECRET], GOLDEN_PAYLOAD, Some(&header), GOLDEN_T),
            Ok(())
        );
    }

    #[test]
    fn block_sized_key_gives_the_same_mac_as_any_key() {
        for len in [0, 1, 17, 63, 64, 65, 200] {
            let secret = vec![0x5a_u8; len];
            let mut reference = HmacSha256::new_from_slice(&secret).unwrap();
            reference.update(b"message");
            let mut ours = keyed(&secret);
            ours.update(b"message");
            assert_eq!(
                ours.finalize().into_bytes(),
                reference.finalize().into_bytes(),
                "key of {len} bytes"
            );
        }
    }

    #[test]
    fn any_v1_candidate_may_match() {
        let good = compute_signature(b"whsec_a", 1000, b"{}");
        let bad = compute_signature(b"whsec_other", 1000, b"{}");
        let header = format!("t=1000,v1={bad},v0={good},v1={good}");
        assert_eq!(check(&["whsec_a"], b"{}", Some(&header), 1000), Ok(()));
        let only_v0 = format!("t=1000,v1={bad},v0={good}");
        assert_eq!(
            check(&["whsec_a"], b"{}", Some(&only_v0), 1000),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn any_configured_secret_may_match_during_a_roll() {
        let header = webhook_signature_header(b"{}", "whsec_new", 1000);
        assert_eq!(
            check(&["whsec_old", "whsec_new"], b"{}", Some(&header), 1000),
            Ok(())
        );
        assert_eq!(
            check(&["whsec_old"], b"{}", Some(&header), 1000),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_tampered_body_or_timestamp_does_not_match() {
        let header = webhook_signature_header(br#"{"amount":100}"#, "whsec_a", 1000);
        assert_eq!(
            check(&["whsec_a"], br#"{"amount":900}"#, Some(&header), 1000),
            Err(WebhookError::SignatureMismatch)
        );
        let shifted = header.replace("t=1000", "t=1001");
        assert_eq!(
            check(&["whsec_a"], br#"{"amount":100}"#, Some(&shifted), 1001),
            Err(WebhookError::SignatureMismatch)
        );
        let upper = header
            .to_uppercase()
            .replace("T=", "t=")
            .replace("V1=", "v1=");
        assert_eq!(
            check(&["whsec_a"], br#"{"amount":100}"#, Some(&upper), 1000),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn the_timestamp_must_be_within_tolerance_either_way() {
        let header = webhook_signature_header(b"{}", "whsec_a", 1_000_000);
        for (now, ok) in [
            (1_000_000, true),
            (1_000_300, true),
            (999_700, true),
            (1_000_301, false),
            (999_699, false),
            (2_000_000, false),
        ] {
            let expected = if ok {
                Ok(())
            } else {
                Err(WebhookError::TimestampOutsideTolerance)
            };
            assert_eq!(
                check(&["whsec_a"], b"{}", Some(&header), now),
                expected,
                "now {now}"
            );
        }
        let ancient = webhook_signature_header(b"{}", "whsec_a", i64::MIN);
        assert_eq!(
            check(&["whsec_a"], b"{}", Some(&ancient), 1_000_000),
            Err(WebhookError::TimestampOutsideTolerance)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        assert_eq!(
            check(&["whsec_a"], b"{}", None, 1000),
            Err(WebhookError::MissingSignature)
        );
        let v1 = compute_signature(b"whsec_a", 1000, b"{}");
        for header in [
            String::new(),
            "garbage".into(),
            format!("v1={v1}"),
            "t=1000".into(),
            "t=1000,v0=abc".into(),
            format!("t=soon,v1={v1}"),
            format!("t=,v1={v1}"),
        ] {
            assert_eq!(
                check(&["whsec_a"], b"{}", Some(&header), 1000),
                Err(WebhookError::MalformedSignature),
                "{header:?}"
            );
        }
    }

    #[test]
    fn unknown_and_duplicate_keys_are_tolerated() {
        let v1 = compute_signature(b"whsec_a", 1000, b"{}");
        let header = format!("t=1000, foo=bar,t=2000,bare, v1={v1},v1=");
        assert_eq!(
            parse_header(&header),
            Ok(SignatureHeader {
                timestamp: 1000,
                v1: vec![v1.as_str(), ""]
            })
        );
        assert_eq!(check(&["whsec_a"], b"{}", Some(&header), 1000), Ok(()));
    }

    #[test]
    fn no_secret_means_not_configured() {
        let header = webhook_signature_header(b"{}", "whsec_a", 1000);
        let err = check(&[], b"{}", Some(&header), 1000).unwrap_err();
        assert_eq!(
            err,
            WebhookError::NotConfigured(
                "Set STRIPE_WEBHOOK_SECRET to the Connect endpoint's whsec_… secret".into()
            )
        );
        assert_eq!(check(&[], b"{}", None, 1000), Err(err));
    }

    #[test]
    fn explicit_secrets_fail_like_a_wrong_secret_when_empty() {
        let header = webhook_signature_header(b"{}", "whsec_a", 1000);
        let with = |list: &[&str], header: Option<&str>| {
            verify_with(&secrets(list), TOLERANCE, b"{}", header, at(1000))
        };
        assert_eq!(with(&["whsec_a"], Some(&header)), Ok(()));
        assert_eq!(
            with(&[], Some(&header)),
            with(&["whsec_b"], Some(&header)),
            "no secret must answer exactly what a wrong one does"
        );
        assert_eq!(
            with(&[], Some(&header)),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(with(&[], None), Err(WebhookError::MissingSignature));
        assert_eq!(
            with(&[], Some("v1=x")),
            Err(WebhookError::MalformedSignature)
        );
    }
}
