//! Bad input gets our JSON error naming the field; nothing panics or answers 500.

use reqwest::Method;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn malformed_input_names_the_field() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 5).await.secret_key;
    let cases = [
        (json!({"email": 5}), "/email"),
        (json!({"plan2": "x"}), "/plan2"),
        (json!({"id": "usr_x"}), "/id"),
        (json!({"plan": "gold"}), "/plan"),
        (json!({"email": "not-an-email"}), "/email"),
        (json!({"password": "short"}), "/password"),
        (json!({"metadata": {"k": 1}}), "/metadata/k"),
        (json!({"externalId": "usr_abc"}), "/externalId"),
    ];
    for (body, field) in cases {
        let reply = server.post("/api/customers", &sk, body.clone()).await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(reply.json["field"], field, "{body} → {}", reply.text);
    }
    let tiers = server
        .create_products(json!({"mode": "test", "tiers": [
            {"name": "ok", "price": 1},
            {"name": "Bad Name", "price": 1}
        ]}))
        .await;
    tiers.assert_error(400, "invalid_request");
    assert_eq!(tiers.json["field"], "/tiers/1/name");
    let price = server
        .create_products(json!({"mode": "test", "tiers": [{"name": "x", "price": 1.001}]}))
        .await;
    assert_eq!(price.json["field"], "/tiers/0/price", "{}", price.text);
    let mode = server
        .create_products(json!({"mode": "prod", "tiers": []}))
        .await;
    assert_eq!(mode.json["field"], "/mode", "{}", mode.text);
}

#[tokio::test]
async fn transport_level_errors_have_our_shape() {
    let server = TestServer::start().await;
    let creds = server.tenant("test", 5).await;
    let sk = creds.secret_key.as_str();
    let url = format!("{}/api/customers", server.base);

    let malformed = TestServer::reply(
        server
            .http
            .post(&url)
            .bearer_auth(sk)
            .header("content-type", "application/json")
            .body("{bad")
            .send()
            .await
            .unwrap(),
    )
    .await;
    malformed.assert_error(400, "invalid_request");
    assert_eq!(malformed.json["field"], "body");

    let form = TestServer::reply(
        server
            .http
            .post(&url)
            .bearer_auth(sk)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("email=a")
            .send()
            .await
            .unwrap(),
    )
    .await;
    form.assert_error(415, "unsupported_media_type");

    let huge = format!("{{\"email\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let too_big = TestServer::reply(
        server
            .http
            .post(&url)
            .bearer_auth(sk)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    too_big.assert_error(413, "payload_too_large");

    server
        .send(Method::GET, "/api/usage", None, &[("X-User-Id", "u")], None)
        .await
        .assert_error(401, "invalid_api_key");
    let pk = server.get("/api/customers", &creds.publishable_key).await;
    pk.assert_error(401, "secret_key_required");
    let no_user = server.get("/api/usage", sk).await;
    no_user.assert_error(400, "invalid_request");
    assert_eq!(no_user.json["field"], "X-User-Id");
    server.get("/nope", sk).await.assert_error(404, "not_found");
    server
        .send(Method::PUT, "/api/usage", Some(sk), &[], None)
        .await
        .assert_error(405, "method_not_allowed");
    let limit = server.get("/api/customers?limit=500", sk).await;
    limit.assert_error(400, "invalid_request");
    assert_eq!(limit.json["field"], "limit");
    let cursor = server.get("/api/customers?startingAfter=abc", sk).await;
    assert_eq!(cursor.json["field"], "startingAfter");
}

/// Junk of every kind at every operation: never a 5xx, always JSON.
#[tokio::test]
async fn junk_never_causes_a_server_error() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 5).await.secret_key;
    let junk_bodies = [
        "",
        "null",
        "[]",
        "{}",
        "\"s\"",
        "1e999",
        "{\"amount\": -1}",
        "{\"amount\": 1.5}",
        "{\"amount\": 18446744073709551616}",
        "{\"email\": null}",
        "{\"metadata\": []}",
        "{\"tiers\": {}}",
        "\u{0}",
        "{\"a\":1}{\"b\":2}",
        "{\"email\": \"\u{1F600}@x.io\"}",
    ];
    let routes = [
        (Method::POST, "/api/customers"),
        (Method::POST, "/api/data"),
        (Method::PATCH, "/api/customers/x"),
        (Method::POST, "/create-products"),
        (Method::POST, "/admin/platforms/plt_x/keys"),
    ];
    let weird_users = ["", " ", "usr_", "usr_\u{7f}", &"x".repeat(300), "ü/../%00"];
    for (method, path) in routes {
        for body in junk_bodies {
            for key in [sk.as_str(), server.admin_token.as_str()] {
                let resp = server
                    .http
                    .request(method.clone(), format!("{}{}", server.base, path))
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .header("X-User-Id", "junk-user")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let reply = TestServer::reply(resp).await;
                assert!(
                    reply.status.as_u16() < 500,
                    "{method} {path} {body:?} → {} {}",
                    reply.status,
                    reply.text
                );
                assert!(
                    reply.json.is_object(),
                    "{method} {path} {body:?} → {}",
                    reply.text
                );
            }
        }
    }
    for user in weird_users {
        let resp = server
            .http
            .post(format!("{}/api/data", server.base))
            .bearer_auth(&sk)
            .header("X-User-Id", user)
            .send()
            .await;
        if let Ok(resp) = resp {
            let reply = TestServer::reply(resp).await;
            assert!(reply.status.as_u16() < 500, "{user:?} → {}", reply.text);
        }
    }
}
