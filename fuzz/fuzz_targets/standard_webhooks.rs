//! Standard Webhooks (Svix) verification, as `/webhook/clerk` runs it, on arbitrary
//! headers and bodies. Properties: no panic; arbitrary signatures never verify; the
//! signature dream makes verifies for its body and not for a changed one.
#![no_main]

use chrono::{Duration, TimeZone, Utc};
use dream_core::{verify_signed, SignedHeaders, SigningSecret};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    // Three header lines (id, timestamp, signature), then the body.
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let id = parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let timestamp = parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let signature = parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let body = parts.next().unwrap_or_default();
    let Ok(secret) = SigningSecret::parse(SECRET) else {
        panic!("the fixed secret parses");
    };
    let secrets = [secret.clone()];
    let now = Utc.timestamp_opt(NOW, 0).single().expect("fixed time");
    let window = Duration::seconds(300);
    let headers = SignedHeaders {
        id,
        timestamp,
        signature,
    };
    if verify_signed(&secrets, headers, body, now, window).is_ok() {
        // Only possible if the input carries the real signature of this body.
        let (Some(id), Some(ts)) = (id, timestamp) else {
            panic!("verified without headers");
        };
        let ts: i64 = ts.trim().parse().expect("verified timestamps parse");
        let real = secret.sign(id, ts, body);
        assert!(
            signature.is_some_and(|s| s.contains(&real)),
            "forged signature verified"
        );
    }
    // Round trip with a well-formed id.
    let id = "msg_fuzz";
    let real = secret.sign(id, NOW, body);
    let good = SignedHeaders {
        id: Some(id),
        timestamp: Some("1700000000"),
        signature: Some(&real),
    };
    assert!(verify_signed(&secrets, good, body, now, window).is_ok());
    let mut changed = body.to_vec();
    changed.push(b'!');
    assert!(verify_signed(&secrets, good, &changed, now, window).is_err());
});
