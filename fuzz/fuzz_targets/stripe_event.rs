//! The Stripe event parser on arbitrary bytes (after a good signature, this is
//! what untrusted-but-signed JSON reaches). Property: no panic, and an event that
//! parses keeps the id and type of the JSON it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = dream_stripe::fuzzing::parse_event(data) {
        let text = String::from_utf8_lossy(data);
        assert!(!event.kind.is_empty() || text.contains("\"type\""));
        assert!(!event.id.is_empty() || text.contains("\"id\""));
    }
});
