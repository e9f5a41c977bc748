//! Rolling a key pair with an overlap: a new pair at once, the old one working
//! until its new expiry and refused after it (PostgreSQL, cache in front).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Creds, TestServer};

async fn key_ids(server: &TestServer, tenant: &Creds) -> Vec<Value> {
    let list = server
        .get(
            &format!("/admin/platforms/{}/keys?mode=test", tenant.platform_id),
            &server.admin_token,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.json["data"].as_array().expect("key list").clone()
}

async fn roll(server: &TestServer, key_id: &str, body: Value) -> crate::support::Reply {
    server
        .post(
            &format!("/admin/keys/{key_id}/roll"),
            &server.admin_token,
            body,
        )
        .await
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_key_works_until_its_overlap_ends_and_the_new_one_at_once() {
    let server = TestServer::start_postgres().await;
    let tenant = server.tenant("test", 100).await;
    let customer = server
        .customer(&tenant.secret_key, json!({ "externalId": "u1" }))
        .await;
    assert_eq!(
        server.track(&tenant.secret_key, &customer).await.status,
        200
    );
    let old_id = key_ids(&server, &tenant).await[0]["id"]
        .as_str()
        .expect("key id")
        .to_owned();

    let rolled = roll(&server, &old_id, json!({ "overlapSeconds": 2 })).await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    let new_secret = rolled.json["secretKey"]
        .as_str()
        .expect("secretKey")
        .to_owned();
    let new_id = rolled.json["key"]["id"]
        .as_str()
        .expect("new id")
        .to_owned();
    assert!(new_secret.starts_with("sk_test_"));
    assert_ne!(new_secret, tenant.secret_key);
    assert_eq!(rolled.json["rolled"]["id"], old_id.as_str());
    assert_eq!(
        rolled.json["key"]["label"], "default",
        "same label as the old pair"
    );
    assert!(
        rolled.json["key"].get("expiresAt").is_none(),
        "{}",
        rolled.text
    );
    let old_expiry = time(&rolled.json["rolled"]["expiresAt"]);

    // The new key works at once, on the same data.
    let usage = server.usage(&new_secret, "u1").await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    assert_eq!(usage.json["usageCount"], 1);
    // The old one still works while its expiry is ahead (checked only with a
    // margin, so a slow machine cannot make this flaky).
    if Utc::now() + chrono::Duration::milliseconds(500) < old_expiry {
        let still = server.usage(&tenant.secret_key, "u1").await;
        assert_eq!(
            still.status, 200,
            "old key before its expiry: {}",
            still.text
        );
    }

    // Both pairs are listed, with the old one's new expiry.
    let keys = key_ids(&server, &tenant).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let old = keys
        .iter()
        .find(|k| k["id"] == old_id.as_str())
        .expect("old listed");
    let new = keys
        .iter()
        .find(|k| k["id"] == new_id.as_str())
        .expect("new listed");
    assert_eq!(time(&old["expiresAt"]), old_expiry);
    assert!(new.get("expiresAt").is_none(), "{new}");

    // Then the old key is refused (within the overlap plus the cache bound).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = server.usage(&tenant.secret_key, "u1").await;
        if reply.status == 401 {
            reply.assert_error(401, "invalid_api_key");
            assert!(
                Utc::now() >= old_expiry,
                "refused before its expiry ({old_expiry})"
            );
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(
            Instant::now() < deadline,
            "the old key still works long after its expiry"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The new key keeps working.
    assert_eq!(server.usage(&new_secret, "u1").await.status, 200);
}

#[tokio::test]
async fn roll_refusals_and_a_roll_never_extends_a_key() {
    let server = TestServer::start().await;
    let tenant = server.tenant("test", 100).await;
    let old_id = key_ids(&server, &tenant).await[0]["id"]
        .as_str()
        .expect("key id")
        .to_owned();

    // Without the admin token, or with a secret key: refused.
    let anonymous = server
        .send(
            Method::POST,
            &format!("/admin/keys/{old_id}/roll"),
            Some(&tenant.secret_key),
            &[],
            Some(json!({})),
        )
        .await;
    anonymous.assert_error(401, "invalid_api_key");

    for (overlap, why) in [
        (json!(-1), "negative"),
        (json!(2_592_001), "over 30 days"),
        (json!(9_000_000_000_000_000_000i64), "out of range"),
        (json!("60"), "not a number"),
    ] {
        let reply = roll(&server, &old_id, json!({ "overlapSeconds": overlap })).await;
        reply.assert_error(400, "invalid_request");
        assert_eq!(
            reply.json["field"], "/overlapSeconds",
            "{why}: {}",
            reply.text
        );
    }
    roll(&server, "key_doesnotexist", json!({}))
        .await
        .assert_error(404, "not_found");
    roll(&server, "nonsense", json!({}))
        .await
        .assert_error(404, "not_found");

    // A key expiring in an hour, rolled with a 30-day overlap, still expires in an
    // hour; so does its successor.
    let expires_at = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let issued = server
        .post(
            &format!("/admin/platforms/{}/keys", tenant.platform_id),
            &server.admin_token,
            json!({ "mode": "test", "label": "temporary", "expiresAt": expires_at }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let temporary = issued.json["key"]["id"].as_str().expect("id").to_owned();
    let rolled = roll(&server, &temporary, json!({ "overlapSeconds": 2_592_000 })).await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    assert_eq!(
        time(&rolled.json["rolled"]["expiresAt"]),
        time(&issued.json["key"]["expiresAt"]),
        "a roll must keep an earlier expiry"
    );
    assert_eq!(
        time(&rolled.json["key"]["expiresAt"]),
        time(&issued.json["key"]["expiresAt"]),
        "the successor keeps the pair's expiry"
    );
    assert_eq!(rolled.json["key"]["label"], "temporary");

    // Overlap 0 (the default) ends the old key at once; it cannot be rolled again.
    let rolled = roll(&server, &old_id, json!({})).await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    server
        .usage(&tenant.secret_key, "u1")
        .await
        .assert_error(401, "invalid_api_key");
    roll(&server, &old_id, json!({ "overlapSeconds": 60 }))
        .await
        .assert_error(409, "conflict");

    // A revoked key cannot be rolled either.
    let revoked = server
        .send(
            Method::DELETE,
            &format!("/admin/keys/{temporary}"),
            Some(&server.admin_token),
            &[],
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    roll(&server, &temporary, json!({}))
        .await
        .assert_error(409, "conflict");
}
