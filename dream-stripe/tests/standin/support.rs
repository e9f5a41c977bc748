//! Shared set-up: a stand-in, an adapter pointed at it, accounts and specs.

use std::time::Duration;

use dream_core::{AccountAccess, BillingAccount, Metadata, Mode, RevealedSecret};
use dream_stripe::{StripeBilling, StripeConfig};
use dream_stripe_standin::{
    RecordedRequest, StandIn, StandInConfig, CLIENT_ID, CONNECTED_ACCOUNT, LIVE_PLATFORM_KEY,
    TEST_DIRECT_KEY, TEST_PLATFORM_KEY,
};

/// Our OAuth callback, as the adapter sends it.
pub const CALLBACK: &str = "https://dream.example/stripe/callback";

/// A stand-in with the default accounts, and an adapter with both platform keys.
pub async fn setup() -> (StandIn, StripeBilling) {
    let standin = StandIn::start(StandInConfig::test_default())
        .await
        .expect("start the stand-in");
    let billing = StripeBilling::new(config(&standin)).expect("a valid configuration");
    (standin, billing)
}

/// The adapter's configuration for `standin`: both keys, client id, callback, fast retries.
pub fn config(standin: &StandIn) -> StripeConfig {
    let mut config = StripeConfig::from_keys(
        Some(LIVE_PLATFORM_KEY.to_owned()),
        Some(TEST_PLATFORM_KEY.to_owned()),
    )
    .expect("the stand-in's keys are valid");
    config.api_base = standin.base_url();
    config.connect_base = standin.connect_base_url();
    config.client_id = Some(CLIENT_ID.to_owned());
    config.redirect_uri = Some(CALLBACK.to_owned());
    config.retry_base_delay = Duration::from_millis(5);
    config
}

/// The default connected account, in `mode`.
pub fn connected(mode: Mode) -> BillingAccount {
    connected_to(mode, CONNECTED_ACCOUNT)
}

/// A connected account by id.
pub fn connected_to(mode: Mode, account_id: &str) -> BillingAccount {
    BillingAccount {
        mode,
        access: AccountAccess::Connected {
            account_id: account_id.to_owned(),
        },
    }
}

/// The stand-in's direct-mode (restricted key) account, in test mode.
pub fn direct() -> BillingAccount {
    BillingAccount {
        mode: Mode::Test,
        access: AccountAccess::Direct {
            secret: RevealedSecret::new(TEST_DIRECT_KEY.to_owned()),
        },
    }
}

/// Metadata from pairs.
pub fn metadata(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The recorded requests to paths starting with `prefix`.
pub fn requests_to(standin: &StandIn, prefix: &str) -> Vec<RecordedRequest> {
    standin
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .collect()
}

/// The one recorded request to `prefix`.
pub fn only_request(standin: &StandIn, prefix: &str) -> RecordedRequest {
    let mut requests = requests_to(standin, prefix);
    assert_eq!(requests.len(), 1, "{requests:#?}");
    requests.remove(0)
}
