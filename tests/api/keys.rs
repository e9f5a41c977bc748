//! Key issuing, listing, rotation and revocation through the admin API.

use reqwest::Method;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn rotate_and_revoke_keys_without_moving_data() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let first = server.tenant("test", 5).await;
    let id = server
        .customer(&first.secret_key, json!({"externalId": "u1"}))
        .await;
    server.track(&first.secret_key, &id).await;

    // A second pair for the same tenant sees the same data.
    let issued = server
        .post(
            &format!("/admin/platforms/{}/keys", first.platform_id),
            &admin,
            json!({"mode": "test", "label": "staging"}),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let second = issued.json["secretKey"].as_str().unwrap().to_owned();
    let second_pk = issued.json["key"]["publishableKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(second.starts_with("sk_test_"));
    assert_eq!(server.usage(&second, "u1").await.json["usageCount"], 1);

    // Listing masks secrets.
    let list = server
        .get(
            &format!("/admin/platforms/{}/keys?mode=test", first.platform_id),
            &admin,
        )
        .await;
    assert_eq!(list.json["data"].as_array().unwrap().len(), 2);
    assert!(!list.text.contains(&second));
    assert!(!list.text.contains(&first.secret_key));
    assert!(list.json["data"][1]["secretKeyHint"]
        .as_str()
        .unwrap()
        .starts_with("sk_test_…"));

    // Revoke the first: refused at once with the same body as a made-up key.
    let revoked = server
        .send(
            Method::DELETE,
            &format!(
                "/admin/keys/{}",
                list.json["data"][0]["id"].as_str().unwrap()
            ),
            Some(&admin),
            &[],
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let revoked_at = revoked.json["revokedAt"].clone();
    assert!(revoked_at.is_string());
    let after = server.track(&first.secret_key, "u1").await;
    after.assert_error(401, "invalid_api_key");
    let bogus = server.track("sk_test_bogus", "u1").await;
    assert_eq!(after.json["message"], bogus.json["message"]);
    assert_eq!(server.usage(&second, "u1").await.json["usageCount"], 1);

    // Revoking again keeps the first time.
    let again = server
        .send(
            Method::DELETE,
            &format!(
                "/admin/keys/{}",
                list.json["data"][0]["id"].as_str().unwrap()
            ),
            Some(&admin),
            &[],
            None,
        )
        .await;
    assert_eq!(again.json["revokedAt"], revoked_at);

    // create-products on a tenant with an active key issues no new secret.
    let again = server
        .create_products(json!({"mode": "test", "platformId": first.platform_id,
                                "tiers": [{"name": "free", "price": 0, "limit": 9}]}))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(again.json.get("secretKey").is_none());
    // The removed tiers are archived, not deleted.
    let tiers = again.json["tiers"].as_array().unwrap();
    assert!(tiers
        .iter()
        .any(|t| t["name"] == "pro" && t["archived"] == true));
    // Revoking a pair kills its publishable half too; the live pair's works.
    server
        .get("/api/tiers", &first.publishable_key)
        .await
        .assert_error(401, "invalid_api_key");
    let public = server.get("/api/tiers", &second_pk).await;
    assert_eq!(public.status, 200, "{}", public.text);
    assert_eq!(public.json["tiers"].as_array().unwrap().len(), 1);

    // Expired keys fail like any other.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let expiring = server
        .post(
            &format!("/admin/platforms/{}/keys", first.platform_id),
            &admin,
            json!({"mode": "test", "expiresAt": soon}),
        )
        .await;
    let expiring_key = expiring.json["secretKey"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    server
        .track(&expiring_key, "u1")
        .await
        .assert_error(401, "invalid_api_key");
}

#[tokio::test]
async fn admin_api_requires_the_admin_token() {
    let server = TestServer::start().await;
    let creds = server.tenant("test", 5).await;
    for key in ["wrong", creds.secret_key.as_str()] {
        server
            .post(
                "/create-products",
                key,
                json!({"mode": "test", "tiers": []}),
            )
            .await
            .assert_error(401, "invalid_api_key");
        server
            .get(&format!("/admin/platforms/{}/keys", creds.platform_id), key)
            .await
            .assert_error(401, "invalid_api_key");
    }
    let unknown = server
        .get(
            "/admin/platforms/plt_0000000000000000000000/keys",
            &server.admin_token,
        )
        .await;
    unknown.assert_error(404, "not_found");

    let disabled = TestServer::start_with(|c| c.admin_token = None).await;
    let reply = disabled
        .post(
            "/create-products",
            "anything",
            json!({"mode": "test", "tiers": []}),
        )
        .await;
    reply.assert_error(401, "invalid_api_key");
    assert!(reply.json["message"]
        .as_str()
        .unwrap()
        .contains("DREAM_ADMIN_TOKEN"));
}
