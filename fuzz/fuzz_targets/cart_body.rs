//! The `POST /api/cart/checkout` body, parsed as the handler parses it (serde with
//! exact field errors, objects only, unknown fields refused). Property: no panic;
//! a cart that parses has the lines the body listed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cart) = dream_http::fuzzing::parse_cart_body(data) {
        let text = String::from_utf8_lossy(data);
        assert!(cart.items.is_empty() || text.contains("items") || text.contains("\\u"));
    }
});
