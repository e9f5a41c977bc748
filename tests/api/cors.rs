//! CORS: the publishable-key endpoints answer browsers on the platform's allowed
//! origins, and no secret-key or admin route ever lets a browser in.

use reqwest::Method;
use serde_json::json;

use crate::support::{Creds, Reply, TestServer};

const SHOP: &str = "https://shop.example.com";
const EVIL: &str = "https://evil.example.net";

async fn set_origins(server: &TestServer, platform: &str, origins: serde_json::Value) -> Reply {
    server
        .send(
            Method::PATCH,
            &format!("/admin/platforms/{platform}"),
            Some(&server.admin_token),
            &[],
            Some(json!({ "allowedOrigins": origins })),
        )
        .await
}

async fn get_from(server: &TestServer, path: &str, key: &str, origin: &str) -> Reply {
    server
        .send(Method::GET, path, Some(key), &[("Origin", origin)], None)
        .await
}

async fn preflight(server: &TestServer, path: &str, origin: &str, method: &str) -> Reply {
    server
        .send(
            Method::OPTIONS,
            path,
            None,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", method),
                ("Access-Control-Request-Headers", "authorization"),
            ],
            None,
        )
        .await
}

fn assert_no_cors(reply: &Reply, what: &str) {
    for (name, _) in reply.headers.iter() {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "{what}: CORS header {name} sent"
        );
    }
}

async fn tenant_with_origins(server: &TestServer) -> Creds {
    let tenant = server.tenant("test", 10).await;
    let set = set_origins(
        server,
        &tenant.platform_id,
        json!([SHOP, "http://localhost:5173"]),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(
        set.json["allowedOrigins"],
        json!([SHOP, "http://localhost:5173"])
    );
    tenant
}

#[tokio::test]
async fn public_endpoints_answer_only_the_listed_origins() {
    let server = TestServer::start().await;
    let tenant = tenant_with_origins(&server).await;
    let other = server.tenant("test", 10).await;
    for path in ["/api/tiers", "/api/products"] {
        let allowed = get_from(&server, path, &tenant.publishable_key, SHOP).await;
        assert_eq!(allowed.status, 200, "{}", allowed.text);
        assert_eq!(
            allowed.header("access-control-allow-origin"),
            Some(SHOP),
            "{path}"
        );
        assert!(
            allowed.header("vary").is_some_and(|v| v.contains("Origin")),
            "{path}"
        );
        let local = get_from(
            &server,
            path,
            &tenant.publishable_key,
            "http://localhost:5173",
        )
        .await;
        assert_eq!(
            local.header("access-control-allow-origin"),
            Some("http://localhost:5173")
        );

        let refused = get_from(&server, path, &tenant.publishable_key, EVIL).await;
        assert_eq!(
            refused.status, 200,
            "the data is public; only the browser is refused"
        );
        assert_eq!(
            refused.header("access-control-allow-origin"),
            None,
            "{path}"
        );
        assert!(refused.header("vary").is_some_and(|v| v.contains("Origin")));
        // Another platform's key does not inherit the list.
        let foreign = get_from(&server, path, &other.publishable_key, SHOP).await;
        assert_eq!(
            foreign.header("access-control-allow-origin"),
            None,
            "{path}"
        );
        // A look-alike origin is not the listed one.
        for near in [
            "https://shop.example.com.evil.net",
            "http://shop.example.com",
            "null",
        ] {
            let reply = get_from(&server, path, &tenant.publishable_key, near).await;
            assert_eq!(reply.header("access-control-allow-origin"), None, "{near}");
        }
        // The preflight carries no key: it permits a GET with Authorization, nothing more.
        let pre = preflight(&server, path, SHOP, "GET").await;
        assert_eq!(pre.status, 204, "{}", pre.text);
        assert_eq!(pre.header("access-control-allow-origin"), Some(SHOP));
        assert_eq!(pre.header("access-control-allow-methods"), Some("GET"));
        assert_eq!(
            pre.header("access-control-allow-headers"),
            Some("Authorization")
        );
        assert_eq!(pre.header("access-control-allow-credentials"), None);
    }

    // Emptying the list ends it at once.
    let cleared = set_origins(&server, &tenant.platform_id, json!([])).await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    let after = get_from(&server, "/api/tiers", &tenant.publishable_key, SHOP).await;
    assert_eq!(after.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn secret_key_and_admin_routes_never_let_a_browser_in() {
    let server = TestServer::start().await;
    let tenant = tenant_with_origins(&server).await;
    // Even the listed origin, even with a secret key on a public route's
    // neighbours: no CORS header on anything but the two public routes.
    for path in [
        "/api/customers",
        "/api/dashboard",
        "/api/events",
        "/api/audit",
        "/api/webhooks/endpoints",
    ] {
        let reply = get_from(&server, path, &tenant.secret_key, SHOP).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        assert_no_cors(&reply, path);
        let pre = preflight(&server, path, SHOP, "GET").await;
        assert!(!pre.status.is_success(), "{path}: preflight {}", pre.status);
        assert_no_cors(&pre, path);
    }
    for (path, method) in [("/api/data", "POST"), ("/api/customers", "POST")] {
        let pre = preflight(&server, path, SHOP, method).await;
        assert!(!pre.status.is_success(), "{path}: preflight {}", pre.status);
        assert_no_cors(&pre, path);
    }
    let admin = get_from(
        &server,
        &format!("/admin/platforms/{}/keys", tenant.platform_id),
        &server.admin_token,
        SHOP,
    )
    .await;
    assert_eq!(admin.status, 200, "{}", admin.text);
    assert_no_cors(&admin, "admin");
    // A secret key on a public route: the same data, and the same CORS answer as
    // a publishable key (a browser page never holds a secret key anyway).
    let tiers = get_from(&server, "/api/tiers", &tenant.secret_key, EVIL).await;
    assert_eq!(tiers.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn allowed_origins_are_exact_and_bounded() {
    let server = TestServer::start().await;
    let tenant = server.tenant("test", 10).await;
    for (origins, field) in [
        (json!([SHOP, "https://*.example.com"]), "/allowedOrigins/1"),
        (json!(["http://shop.example.com"]), "/allowedOrigins/0"),
        (
            json!([SHOP, "https://shop.example.com/path"]),
            "/allowedOrigins/1",
        ),
        (json!(["shop.example.com"]), "/allowedOrigins/0"),
        (json!([7]), "/allowedOrigins/0"),
    ] {
        let reply = set_origins(&server, &tenant.platform_id, origins.clone()).await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(reply.json["field"], field, "{origins}: {}", reply.text);
    }
    let many: Vec<String> = (0..21)
        .map(|i| format!("https://a{i}.example.com"))
        .collect();
    let reply = set_origins(&server, &tenant.platform_id, json!(many)).await;
    reply.assert_error(400, "invalid_request");
    assert_eq!(reply.json["field"], "/allowedOrigins");
    // Canonical form: lower case, default port dropped, duplicates once.
    let reply = set_origins(
        &server,
        &tenant.platform_id,
        json!([
            "HTTPS://Shop.Example.com:443",
            SHOP,
            "https://shop.example.com:8443"
        ]),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json["allowedOrigins"],
        json!([SHOP, "https://shop.example.com:8443"])
    );
    set_origins(&server, "plt_doesnotexist", json!([SHOP]))
        .await
        .assert_error(404, "not_found");
    let by_key = server
        .send(
            Method::PATCH,
            &format!("/admin/platforms/{}", tenant.platform_id),
            Some(&tenant.secret_key),
            &[],
            Some(json!({ "allowedOrigins": [SHOP] })),
        )
        .await;
    by_key.assert_error(401, "invalid_api_key");
}
