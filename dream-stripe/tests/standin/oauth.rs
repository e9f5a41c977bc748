//! Connect onboarding: the authorize link and the code exchange.

use dream_core::{ports::BillingProvider, BillingErrorKind, ConnectedAccount, Mode};
use dream_stripe_standin::{AUTHORIZE_ACCOUNT, CLIENT_ID, TEST_PLATFORM_KEY};

use crate::support::{setup, CALLBACK};

#[tokio::test]
async fn authorize_url_has_stripes_shape() {
    let (s, billing) = setup().await;
    let url = billing
        .connect_authorize_url(Mode::Test, "st_1 & more")
        .unwrap();
    let url = reqwest::Url::parse(&url).unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some(format!("{}/oauth/authorize", s.connect_base_url()).as_str())
    );
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let expected = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("scope", "read_write"),
        ("state", "st_1 & more"),
        ("redirect_uri", CALLBACK),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(pairs, expected);
    assert!(!url.as_str().contains(TEST_PLATFORM_KEY));
}

#[tokio::test]
async fn the_browser_flow_ends_in_a_connected_account() {
    let (_standin, billing) = setup().await;
    let url = billing.connect_authorize_url(Mode::Test, "st_42").unwrap();
    // The browser: follow the link, get redirected to our callback with a code.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let callback = reqwest::Url::parse(&location).unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    let query: std::collections::HashMap<String, String> =
        callback.query_pairs().into_owned().collect();
    assert_eq!(query.get("state").map(String::as_str), Some("st_42"));
    let code = &query["code"];

    let account = billing
        .exchange_connect_code(Mode::Test, code)
        .await
        .unwrap();
    assert_eq!(
        account,
        ConnectedAccount {
            account_id: AUTHORIZE_ACCOUNT.to_owned(),
            livemode: false,
        }
    );
}

#[tokio::test]
async fn a_code_is_exchanged_once() {
    let (s, billing) = setup().await;
    let code = s.issue_oauth_code("acct_new1", false);
    let account = billing
        .exchange_connect_code(Mode::Test, &code)
        .await
        .unwrap();
    assert_eq!(account.account_id, "acct_new1");
    assert!(!account.livemode);

    let token = s
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth/token")
        .unwrap();
    assert_eq!(token.method, "POST");
    assert_eq!(token.params["grant_type"], "authorization_code");
    assert_eq!(token.params["code"], code.as_str());
    assert_eq!(token.status, 200);

    let err = billing
        .exchange_connect_code(Mode::Test, &code)
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::InvalidGrant);
    assert_eq!(err.provider_code.as_deref(), Some("invalid_grant"));

    let err = billing
        .exchange_connect_code(Mode::Test, "ac_never_issued")
        .await
        .unwrap_err();
    assert_eq!(err.kind, BillingErrorKind::InvalidGrant);
}

#[tokio::test]
async fn live_grants_report_livemode() {
    let (s, billing) = setup().await;
    let code = s.issue_oauth_code("acct_live1", true);
    let account = billing
        .exchange_connect_code(Mode::Live, &code)
        .await
        .unwrap();
    assert_eq!(account.account_id, "acct_live1");
    assert!(account.livemode);
}
