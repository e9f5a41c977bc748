//! `Stripe-Signature`: the header parser and the whole inbound check on arbitrary
//! header and payload bytes. Properties: no panic; whatever parses came from the
//! header; a header dream signs itself verifies for exactly its payload.
#![no_main]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use dream_core::{RevealedSecret, WebhookError};
use dream_stripe::fuzzing::{parse_signature_header, verify};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_fuzz_0123456789abcdef";
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    // The first line is the header, the rest the payload.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, payload) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    if let Ok((timestamp, v1)) = parse_signature_header(header) {
        assert!(!v1.is_empty());
        // The timestamp is the value of a `t` item (not merely text like it).
        assert!(header.split(',').any(|item| item
            .trim()
            .split_once('=')
            .is_some_and(|(key, value)| key == "t" && value.parse::<i64>() == Ok(timestamp))));
        for signature in v1 {
            assert!(header.contains(signature));
        }
    }
    let secrets = [RevealedSecret::new(SECRET.to_owned())];
    let now = Utc.timestamp_opt(NOW, 0).single().expect("fixed time");
    let tolerance = Duration::from_secs(300);
    // Arbitrary input: any answer but a panic, and a pass only when the header
    // carries the real HMAC (which a fuzzer cannot guess).
    if verify(&secrets, tolerance, payload, Some(header), now).is_ok() {
        let (timestamp, _) = parse_signature_header(header).expect("a verified header parses");
        let real = dream_stripe::webhook_signature_header(payload, SECRET, timestamp);
        let hex = real.rsplit("v1=").next().unwrap_or_default();
        assert!(header.contains(hex), "a forged header verified");
    }
    // A real signature verifies (the event may still be refused as unparseable).
    let signed = dream_stripe::webhook_signature_header(payload, SECRET, NOW);
    match verify(&secrets, tolerance, payload, Some(&signed), now) {
        Ok(_) | Err(WebhookError::InvalidPayload(_)) => {}
        Err(other) => panic!("a good signature was refused: {other:?}"),
    }
});
