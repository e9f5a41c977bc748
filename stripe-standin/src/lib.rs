//! A local Stripe stand-in for tests.
//!
//! [`StandIn::start`] runs a small HTTP server on `127.0.0.1` that answers the Stripe endpoints
//! dream calls (products, prices, customers, Checkout and billing-portal sessions, Connect
//! OAuth), checks requests the way Stripe does (API keys, `Stripe-Account`, idempotency keys,
//! unknown / missing / mistyped parameters) and answers with objects shaped for API version
//! `2026-09-30.endive`, so async-stripe's own types deserialize them.
//!
//! Point a client at [`StandIn::base_url`] (API under `/v1/…`) and
//! [`StandIn::connect_base_url`] (OAuth under `/oauth/…`); inspect what happened with
//! [`StandIn::objects`] and [`StandIn::requests`]; inject failures with [`StandIn::fail_next`].

// The Checkout Session template is one large `json!` literal.
#![recursion_limit = "256"]

mod api;
mod checkout;
mod customers;
mod error;
mod form;
mod ids;
mod oauth;
mod params;
mod portal;
mod prices;
mod products;
mod server;
mod state;
mod templates;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use state::State;

/// Test-mode platform key of [`StandInConfig::test_default`].
pub const TEST_PLATFORM_KEY: &str = "sk_test_platform_standin_000000000000000000000000";
/// Live-mode platform key of [`StandInConfig::test_default`].
pub const LIVE_PLATFORM_KEY: &str = "sk_live_platform_standin_000000000000000000000000";
/// Test-mode "direct mode" key of [`StandInConfig::test_default`]; acts on [`DIRECT_ACCOUNT`].
pub const TEST_DIRECT_KEY: &str = "rk_test_direct_standin_00000000000000000000000000";
/// The account [`TEST_DIRECT_KEY`] belongs to.
pub const DIRECT_ACCOUNT: &str = "acct_direct1";
/// The connected account of [`StandInConfig::test_default`].
pub const CONNECTED_ACCOUNT: &str = "acct_standin1";
/// The Connect client id of [`StandInConfig::test_default`].
pub const CLIENT_ID: &str = "ca_standin";
/// The account a browser "logs into" at `/oauth/authorize` in [`StandInConfig::test_default`].
pub const AUTHORIZE_ACCOUNT: &str = "acct_oauth1";
/// The account id under which a platform key's own objects are stored (requests with a
/// platform key and no `Stripe-Account` header).
pub const PLATFORM_ACCOUNT: &str = "acct_platform";

/// What the stand-in accepts: keys, accounts and the Connect application.
#[derive(Clone, Debug)]
pub struct StandInConfig {
    /// Platform secret keys accepted as `Authorization: Bearer …`; mode by prefix
    /// (`sk_test_`/`rk_test_` → test objects, `livemode=false`; `sk_live_`/`rk_live_` → live).
    pub platform_keys: Vec<String>,
    /// Keys of "direct mode" accounts: (secret key, account id). A request with such a key acts
    /// on that account without `Stripe-Account`.
    pub direct_keys: Vec<(String, String)>,
    /// Connected accounts (`acct_…`) that exist and accept `Stripe-Account` from platform keys.
    pub connected_accounts: Vec<String>,
    /// Connect client id (`ca_…`) accepted by `/oauth/authorize`.
    pub client_id: String,
    /// The account a browser "logs into" at `/oauth/authorize` (gets the code).
    pub authorize_account: String,
}

impl StandInConfig {
    /// The configuration most tests want: platform keys [`TEST_PLATFORM_KEY`] and
    /// [`LIVE_PLATFORM_KEY`], connected account [`CONNECTED_ACCOUNT`], client id [`CLIENT_ID`],
    /// direct key [`TEST_DIRECT_KEY`] → [`DIRECT_ACCOUNT`], OAuth login as [`AUTHORIZE_ACCOUNT`].
    pub fn test_default() -> Self {
        Self {
            platform_keys: vec![TEST_PLATFORM_KEY.to_owned(), LIVE_PLATFORM_KEY.to_owned()],
            direct_keys: vec![(TEST_DIRECT_KEY.to_owned(), DIRECT_ACCOUNT.to_owned())],
            connected_accounts: vec![CONNECTED_ACCOUNT.to_owned()],
            client_id: CLIENT_ID.to_owned(),
            authorize_account: AUTHORIZE_ACCOUNT.to_owned(),
        }
    }
}

/// The kinds of objects the stand-in stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `prod_…`
    Product,
    /// `price_…`
    Price,
    /// `cus_…`
    Customer,
    /// `cs_test_…` / `cs_live_…`
    CheckoutSession,
    /// `bps_…`
    PortalSession,
}

/// One request the stand-in answered, in arrival order.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path without query, e.g. `/v1/products`.
    pub path: String,
    /// The account the request acted on: the `Stripe-Account` header, a direct key's account, or
    /// [`PLATFORM_ACCOUNT`] for a platform key without the header. `None` when authentication
    /// failed (or, for OAuth, no account was involved).
    pub account: Option<String>,
    /// The `Stripe-Account` header as sent.
    pub stripe_account: Option<String>,
    /// Whether the key used was a live-mode key (`false` when authentication failed).
    pub livemode: bool,
    /// The `Idempotency-Key` header as sent.
    pub idempotency_key: Option<String>,
    /// The `Stripe-Version` header as sent.
    pub stripe_version: Option<String>,
    /// The parsed form body (POST) or query (GET): bracket keys become nested objects, indexed
    /// lists (`line_items[0][price]`) become arrays; every leaf is a string.
    pub params: serde_json::Value,
    /// The HTTP status answered.
    pub status: u16,
    /// Whether the answer was an idempotent replay of an earlier one.
    pub replayed: bool,
    /// The `Request-Id` header answered.
    pub request_id: String,
}

/// A failure to inject with [`StandIn::fail_next`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 429 with code `rate_limit` and header `Stripe-Should-Retry: true`.
    RateLimited,
    /// 500 `api_error`.
    ServerError,
    /// 402 `card_error` with code `card_declined`.
    CardDeclined,
    /// 400 `invalid_request_error` with this message.
    InvalidRequest(String),
}

/// A running stand-in. The server runs on a tokio task and stops when this is dropped.
///
/// [`StandIn::start`] serves on the caller's runtime: with `#[tokio::test]`'s single thread it
/// answers only while the test awaits. Use [`StandIn::start_detached`] when the test blocks.
pub struct StandIn {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    task: tokio::task::AbortHandle,
}

impl StandIn {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// Fails on a bind error or a configured key without a `sk_`/`rk_` `test_`/`live_` prefix.
    pub async fn start(config: StandInConfig) -> std::io::Result<StandIn> {
        let state = Arc::new(Mutex::new(State::new(&config)?));
        let (addr, task) = server::spawn(state.clone())?;
        Ok(StandIn {
            state,
            addr,
            task: task.abort_handle(),
        })
    }

    /// Like [`StandIn::start`], but on a thread and runtime of its own, so it keeps answering
    /// while the caller blocks (a sync test, or one that waits on a child process with
    /// `std::process::Command`). Stops on drop like the other.
    pub fn start_detached(config: StandInConfig) -> std::io::Result<StandIn> {
        let state = Arc::new(Mutex::new(State::new(&config)?));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (addr, task) = {
            let _entered = runtime.enter();
            server::spawn(state.clone())?
        };
        let abort = task.abort_handle();
        std::thread::Builder::new()
            .name("stripe-standin".to_owned())
            .spawn(move || {
                // Ends when the server task is aborted (the StandIn is dropped).
                let _ = runtime.block_on(task);
            })?;
        Ok(StandIn {
            state,
            addr,
            task: abort,
        })
    }

    /// `http://127.0.0.1:PORT`; the API is under `/v1/…`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The same server; Connect OAuth is under `/oauth/…`.
    pub fn connect_base_url(&self) -> String {
        self.base_url()
    }

    /// Makes `account_id` a connected account that platform keys may name in `Stripe-Account`.
    pub fn add_connected_account(&self, account_id: &str) {
        self.lock().connected.insert(account_id.to_owned());
    }

    /// Removes a connected account (as a deauthorization would).
    pub fn remove_connected_account(&self, account_id: &str) {
        self.lock().connected.remove(account_id);
    }

    /// Issues a single-use authorization code for `/oauth/token`, as if `account_id` had
    /// authorized the platform in test (`livemode == false`) or live mode.
    pub fn issue_oauth_code(&self, account_id: &str, livemode: bool) -> String {
        self.lock()
            .issue_oauth_code(account_id, livemode, "read_write")
    }

    /// Every access, refresh and publishable token `/oauth/token` handed out, so tests can
    /// check none of them is kept or logged.
    pub fn issued_oauth_tokens(&self) -> Vec<String> {
        self.lock().issued_tokens.clone()
    }

    /// Makes the next `/oauth/authorize` redirect with `error=access_denied`, as when the user
    /// declines.
    pub fn deny_next_authorize(&self) {
        self.lock().deny_next_authorize = true;
    }

    /// The objects of one kind stored for `account_id` (both modes), in creation order, in their
    /// current state.
    pub fn objects(&self, account_id: &str, kind: ObjectKind) -> Vec<serde_json::Value> {
        self.lock().objects(account_id, kind).to_vec()
    }

    /// Every request answered so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Makes the next requests whose path starts with `path_prefix` fail, one failure per
    /// request, in order. Authentication is checked first; injected failures are never stored
    /// as idempotent results, so a retry with the same `Idempotency-Key` runs for real.
    pub fn fail_next(&self, path_prefix: &str, failures: Vec<Failure>) {
        let mut state = self.lock();
        for failure in failures {
            state.failures.push_back((path_prefix.to_owned(), failure));
        }
    }

    /// Marks an open Checkout Session expired (`status: expired`, `url: null`), as Stripe does
    /// when it times out. Returns whether an open session was found.
    pub fn expire_checkout_session(&self, account_id: &str, session_id: &str) -> bool {
        checkout::expire(&mut self.lock(), account_id, session_id).is_ok()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
