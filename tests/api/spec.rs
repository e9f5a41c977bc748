//! The committed spec is the generated one.

#[test]
fn committed_openapi_json_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .expect("openapi/openapi.json exists");
    let generated = dream_http::openapi_json();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date. Regenerate it with:\n\n    \
         cargo run -p dream-bin -- openapi > openapi/openapi.json\n"
    );
}

#[test]
fn every_operation_has_an_id_summary_and_error_responses() {
    let spec: serde_json::Value = serde_json::from_str(&dream_http::openapi_json()).unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(op["summary"].is_string(), "{id} has no summary");
            // Load balancers probe `/health` and `/ready` without credentials.
            let probe = path == "/health" || path == "/ready";
            // `/callback` is where Stripe sends the developer's browser: its
            // single-use `state` is the credential, so it has no security scheme.
            // Sign-up and login start a session: there is no credential yet.
            let session_start = path == "/account/signup" || path == "/account/login";
            // The public keys of access tokens are for anyone who verifies one.
            let public_keys = path == "/.well-known/jwks.json";
            if !probe && path != "/callback" && !session_start && !public_keys {
                assert!(op["security"].is_array(), "{id} declares no security");
            }
            if !probe {
                for status in ["400", "401", "404", "429"] {
                    assert!(op["responses"][status].is_object(), "{id} lacks {status}");
                }
            }
        }
    }
}
