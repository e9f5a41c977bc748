//! End-user sign-in (`/api/auth/*`, `/.well-known/jwks.json`): access tokens
//! verified by PyJWT (a JWT library nobody here wrote) against the JWKS it
//! fetches from the server itself, refresh rotation and reuse detection,
//! logout, revoke-all, throttling, signing key rotation.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Creds, Reply, TestServer};

const ISSUER: &str = "https://auth.example.test";
const PASSWORD: &str = "correct horse battery";

/// PyJWT: `PyJWKClient` fetches the server's JWKS, picks the key named by the
/// token's `kid`, and `jwt.decode` checks signature, `exp`, `iat`, `aud` and
/// `iss`. Answers the verified claims, or the library's error.
async fn pyjwt_verify(base: &str, token: &str, audience: &str) -> Result<Value, String> {
    // Off the runtime's threads: the server under test answers PyJWT's JWKS
    // fetch on them.
    let (base, token, audience) = (base.to_owned(), token.to_owned(), audience.to_owned());
    tokio::task::spawn_blocking(move || pyjwt_verify_blocking(&base, &token, &audience))
        .await
        .expect("verifier task")
}

fn pyjwt_verify_blocking(base: &str, token: &str, audience: &str) -> Result<Value, String> {
    let python = std::env::var("DREAM_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("DREAM_TEST_PYTHON is not set: source scripts/lib/signers.sh and run ensure_signers (it installs PyJWT)")
    });
    let script = "import json, sys, jwt\n\
                  args = json.load(sys.stdin)\n\
                  client = jwt.PyJWKClient(args['jwks'])\n\
                  try:\n    \
                  key = client.get_signing_key_from_jwt(args['token'])\n    \
                  claims = jwt.decode(args['token'], key.key, algorithms=['EdDSA'], audience=args['aud'], issuer=args['iss'], options={'require': ['exp', 'iat', 'sub', 'aud', 'iss', 'jti']})\n    \
                  print(json.dumps({'ok': claims}))\n\
                  except Exception as e:\n    \
                  print(json.dumps({'error': type(e).__name__ + ': ' + str(e)}))";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let input = json!({
        "jwks": format!("{base}/.well-known/jwks.json"),
        "token": token,
        "aud": audience,
        "iss": ISSUER,
    });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("verifier input");
    let out = child.wait_with_output().expect("verifier");
    assert!(out.status.success(), "the PyJWT verifier crashed");
    let answer: Value = serde_json::from_slice(&out.stdout).expect("verifier answers JSON");
    match answer.get("ok") {
        Some(claims) => Ok(claims.clone()),
        None => Err(answer["error"].to_string()),
    }
}

/// The token's header, decoded without verification (to read `kid`).
fn header_of(token: &str) -> Value {
    use base64::Engine as _;
    let head = token.split('.').next().expect("a JWT has a header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}

async fn jwks(server: &TestServer) -> Value {
    server
        .send(Method::GET, "/.well-known/jwks.json", None, &[], None)
        .await
        .json["keys"]
        .clone()
}

async fn server() -> TestServer {
    TestServer::start_with(|config| {
        config
            .apply_env(|name| (name == "DREAM_PUBLIC_URL").then(|| ISSUER.to_owned()))
            .expect("config");
    })
    .await
}

async fn signed_up(server: &TestServer, external_id: Option<&str>) -> (Creds, String, String) {
    let creds = server.tenant("test", 100).await;
    let email = format!("ada.{}@example.com", server.base.len() + rand_suffix());
    let mut body = json!({ "email": email, "firstName": "Ada", "lastName": "L", "password": PASSWORD, "plan": "pro" });
    if let Some(external) = external_id {
        body["externalId"] = json!(external);
    }
    let id = server.customer(&creds.secret_key, body).await;
    (creds, id, email)
}

fn rand_suffix() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn login(server: &TestServer, pk: &str, email: &str, password: &str) -> Reply {
    server
        .post(
            "/api/auth/login",
            pk,
            json!({ "email": email, "password": password }),
        )
        .await
}

async fn refresh(server: &TestServer, pk: &str, token: &str) -> Reply {
    server
        .post("/api/auth/refresh", pk, json!({ "refreshToken": token }))
        .await
}

fn tokens(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    (
        reply.json["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_owned(),
        reply.json["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_is_verified_by_pyjwt_with_exactly_the_specified_claims() {
    let server = server().await;
    let (creds, id, email) = signed_up(&server, Some("ext-ada-1")).await;
    let reply = login(
        &server,
        &creds.publishable_key,
        &email.to_uppercase(),
        PASSWORD,
    )
    .await;
    let (access, refresh_token) = tokens(&reply);
    assert!(refresh_token.starts_with("rt_"));
    assert_eq!(reply.json["tokenType"], "Bearer");
    assert_eq!(reply.json["expiresIn"], 900);
    assert_eq!(reply.json["customerId"], id.as_str());
    let claims = pyjwt_verify(&server.base, &access, &creds.publishable_key)
        .await
        .expect("PyJWT verifies the access token against the server's JWKS");
    let mut names: Vec<&str> = claims
        .as_object()
        .expect("claims object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "aud",
            "exp",
            "externalId",
            "iat",
            "iss",
            "jti",
            "plan",
            "sub"
        ]
    );
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], creds.publishable_key.as_str());
    assert_eq!(claims["plan"], "pro");
    assert_eq!(claims["externalId"], "ext-ada-1");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        900,
        "access tokens live 15 minutes by default"
    );
    let header = header_of(&access);
    assert_eq!(header["alg"], "EdDSA");
    let jwks = server
        .send(Method::GET, "/.well-known/jwks.json", None, &[], None)
        .await;
    assert_eq!(jwks.status, 200, "{}", jwks.text);
    let key = &jwks.json["keys"][0];
    assert_eq!(key["kid"], header["kid"]);
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kty"], "OKP");
    assert!(
        key.get("d").is_none(),
        "the JWKS must never hold a private key"
    );

    // Another audience is refused by the verifier: the token names its app.
    assert!(pyjwt_verify(&server.base, &access, "pk_test_other")
        .await
        .is_err());
    // A token with changed claims (a better plan) and the old signature is refused.
    let parts: Vec<&str> = access.split('.').collect();
    let mut richer = claims.clone();
    richer["plan"] = json!("enterprise");
    let forged = {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(richer.to_string());
        format!("{}.{}.{}", parts[0], body, parts[2])
    };
    assert!(pyjwt_verify(&server.base, &forged, &creds.publishable_key)
        .await
        .is_err());

    // Without an external id, the claim is absent.
    let email2 = format!("bob.{}@example.com", rand_suffix());
    server
        .customer(
            &creds.secret_key,
            json!({ "email": email2, "password": PASSWORD }),
        )
        .await;
    let (access2, _) = tokens(&login(&server, &creds.publishable_key, &email2, PASSWORD).await);
    let claims2 = pyjwt_verify(&server.base, &access2, &creds.publishable_key)
        .await
        .expect("verifies");
    assert!(claims2.get("externalId").is_none(), "{claims2}");
    assert_ne!(claims2["jti"], claims["jti"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_get_one_body_and_failures_throttle() {
    let server = server().await;
    let (creds, _, email) = signed_up(&server, None).await;
    let pk = &creds.publishable_key;
    let wrong = login(&server, pk, &email, "not the password").await;
    wrong.assert_error(401, "invalid_credentials");
    let unknown = login(&server, pk, "nobody@example.com", PASSWORD).await;
    unknown.assert_error(401, "invalid_credentials");
    let strip = |reply: &Reply| {
        let mut body = reply.json.clone();
        body.as_object_mut().expect("object").remove("requestId");
        body
    };
    assert_eq!(strip(&wrong), strip(&unknown), "one body for both");

    // The secret key is refused: sign-in is for the browser's publishable key.
    login(&server, &creds.secret_key, &email, PASSWORD)
        .await
        .assert_error(401, "invalid_api_key");

    for _ in 0..4 {
        login(&server, pk, &email, "still wrong")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let throttled = login(&server, pk, &email, PASSWORD).await;
    throttled.assert_error(429, "too_many_attempts");
    let retry: u64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");

    // Another app's customer with the same email is not throttled.
    let other = server.tenant("test", 100).await;
    server
        .customer(
            &other.secret_key,
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    tokens(&login(&server, &other.publishable_key, &email, PASSWORD).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reusing_an_old_token_revokes_the_chain() {
    let server = server().await;
    let (creds, id, email) = signed_up(&server, None).await;
    let pk = &creds.publishable_key;
    let (_, first) = tokens(&login(&server, pk, &email, PASSWORD).await);
    let rotated = refresh(&server, pk, &first).await;
    let (access, second) = tokens(&rotated);
    assert_ne!(first, second);
    assert_eq!(rotated.json["customerId"], id.as_str());
    let claims = pyjwt_verify(&server.base, &access, pk)
        .await
        .expect("refreshed token verifies");
    assert_eq!(claims["sub"], id.as_str());

    // Another app's key cannot use the token.
    let other = server.tenant("test", 100).await;
    refresh(&server, &other.publishable_key, &second)
        .await
        .assert_error(401, "invalid_refresh_token");

    // The old token again: reuse. It fails, and so does the newest one.
    refresh(&server, pk, &first)
        .await
        .assert_error(401, "invalid_refresh_token");
    refresh(&server, pk, &second)
        .await
        .assert_error(401, "invalid_refresh_token");
    refresh(&server, pk, "rt_garbage")
        .await
        .assert_error(401, "invalid_refresh_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_of_one_token_exactly_one_succeeds() {
    let server = server().await;
    let (creds, _, email) = signed_up(&server, None).await;
    let pk = creds.publishable_key.clone();
    let (_, token) = tokens(&login(&server, &pk, &email, PASSWORD).await);
    let replies = futures::future::join_all((0..8).map(|_| refresh(&server, &pk, &token))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "exactly one concurrent refresh succeeds");
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.assert_error(401, "invalid_refresh_token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_revoke_all_end_sign_ins() {
    let server = server().await;
    let (creds, id, email) = signed_up(&server, None).await;
    let pk = &creds.publishable_key;
    let (_, a) = tokens(&login(&server, pk, &email, PASSWORD).await);
    let (_, b) = tokens(&login(&server, pk, &email, PASSWORD).await);
    let (_, c) = tokens(&login(&server, pk, &email, PASSWORD).await);

    let out = server
        .post("/api/auth/logout", pk, json!({ "refreshToken": a }))
        .await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(out.json["success"], true);
    refresh(&server, pk, &a)
        .await
        .assert_error(401, "invalid_refresh_token");
    // Logging out again, or with garbage, answers the same.
    let again = server
        .post("/api/auth/logout", pk, json!({ "refreshToken": a }))
        .await;
    assert_eq!(again.status, 200);

    let (_, b2) = tokens(&refresh(&server, pk, &b).await);
    let path = format!("/api/customers/{id}/sessions/revoke");
    server
        .post(&path, pk, json!({}))
        .await
        .assert_error(401, "secret_key_required");
    let other = server.tenant("test", 100).await;
    server
        .post(&path, &other.secret_key, json!({}))
        .await
        .assert_error(404, "not_found");
    let revoked = server.post(&path, &creds.secret_key, json!({})).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.json["revoked"], 2, "the b and c chains were live");
    for token in [&b2, &c] {
        refresh(&server, pk, token)
            .await
            .assert_error(401, "invalid_refresh_token");
    }
    // Signing in again works.
    tokens(&login(&server, pk, &email, PASSWORD).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_signing_key_keeps_old_tokens_verifiable() {
    let server = server().await;
    let (creds, _, email) = signed_up(&server, None).await;
    let pk = &creds.publishable_key;
    let (old_token, _) = tokens(&login(&server, pk, &email, PASSWORD).await);
    let old_kid = header_of(&old_token)["kid"].clone();

    server
        .post("/admin/signing-keys/rotate", &creds.secret_key, json!({}))
        .await
        .assert_error(401, "invalid_api_key");
    let rotated = server
        .post(
            "/admin/signing-keys/rotate",
            &server.admin_token.clone(),
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_kid = rotated.json["kid"].clone();
    assert_ne!(new_kid, old_kid);

    let jwks = server
        .send(Method::GET, "/.well-known/jwks.json", None, &[], None)
        .await;
    let kids: Vec<&Value> = jwks.json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(
        kids,
        [&new_kid, &old_kid],
        "current first, previous still published"
    );

    pyjwt_verify(&server.base, &old_token, pk)
        .await
        .expect("a token of the previous key verifies until it expires");
    let (new_token, _) = tokens(&login(&server, pk, &email, PASSWORD).await);
    assert_eq!(header_of(&new_token)["kid"], new_kid);
    pyjwt_verify(&server.base, &new_token, pk)
        .await
        .expect("a token of the new key verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_name_the_field() {
    let server = server().await;
    let creds = server.tenant("test", 100).await;
    let reply = server
        .post(
            "/api/auth/login",
            &creds.publishable_key,
            json!({ "email": "a@example.com", "password": "x", "plan": "pro" }),
        )
        .await;
    reply.assert_error(400, "invalid_request");
    let reply = server
        .post("/api/auth/refresh", &creds.publishable_key, json!({}))
        .await;
    reply.assert_error(400, "invalid_request");
}

/// Two processes on one fresh PostgreSQL database start at once: both publish
/// the same single signing key, and a token from one verifies on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_starting_together_agree_on_one_signing_key() {
    let database = crate::support::fresh_database();
    let start = |database: String| {
        TestServer::start_with(move |config| {
            config.store = Some(dream_bin::StoreKind::Postgres);
            config
                .apply_env(|name| match name {
                    "DATABASE_URL" => Some(database.clone()),
                    "DREAM_PUBLIC_URL" => Some(ISSUER.to_owned()),
                    _ => None,
                })
                .expect("config");
        })
    };
    let (one, two) = tokio::join!(start(database.clone()), start(database));
    let (keys_one, keys_two) = (jwks(&one).await, jwks(&two).await);
    assert_eq!(keys_one.as_array().map(Vec::len), Some(1), "{keys_one}");
    assert_eq!(keys_one, keys_two, "both processes publish the same key");

    let (creds, _, email) = signed_up(&one, None).await;
    let (token, refresh_token) =
        tokens(&login(&one, &creds.publishable_key, &email, PASSWORD).await);
    pyjwt_verify(&two.base, &token, &creds.publishable_key)
        .await
        .expect("a token of one process verifies with the other's JWKS");
    tokens(&refresh(&two, &creds.publishable_key, &refresh_token).await);
    refresh(&one, &creds.publishable_key, &refresh_token)
        .await
        .assert_error(401, "invalid_refresh_token");
}

/// A page on an origin the app allows can read the sign-in answers, errors
/// included; another origin gets no CORS header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_routes_answer_browsers_of_allowed_origins() {
    const SHOP: &str = "https://shop.example.com";
    let server = server().await;
    let (creds, _, email) = signed_up(&server, None).await;
    let set = server
        .send(
            Method::PATCH,
            &format!("/admin/platforms/{}", creds.platform_id),
            Some(&server.admin_token),
            &[],
            Some(json!({ "allowedOrigins": [SHOP] })),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);

    let preflight = server
        .send(
            Method::OPTIONS,
            "/api/auth/login",
            None,
            &[
                ("Origin", SHOP),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
            None,
        )
        .await;
    assert_eq!(preflight.status, 204, "{}", preflight.text);
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("POST")
    );

    let body = json!({ "email": email, "password": "wrong password" });
    let wrong = server
        .send(
            Method::POST,
            "/api/auth/login",
            Some(&creds.publishable_key),
            &[("Origin", SHOP)],
            Some(body.clone()),
        )
        .await;
    wrong.assert_error(401, "invalid_credentials");
    assert_eq!(wrong.header("access-control-allow-origin"), Some(SHOP));
    // Without a key: our JSON error shape, as everywhere.
    server
        .send(
            Method::POST,
            "/api/auth/login",
            None,
            &[("Origin", SHOP)],
            Some(body.clone()),
        )
        .await
        .assert_error(401, "invalid_api_key");

    let elsewhere = server
        .send(
            Method::POST,
            "/api/auth/login",
            Some(&creds.publishable_key),
            &[("Origin", "https://evil.example.net")],
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
    assert_eq!(elsewhere.header("access-control-allow-origin"), None);
}
