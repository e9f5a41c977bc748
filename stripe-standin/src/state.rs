//! Everything the stand-in remembers, behind one mutex.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde_json::Value;

use crate::ids::IdGen;
use crate::{Failure, ObjectKind, RecordedRequest, StandInConfig};

/// What an API key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyOwner {
    /// A platform: its own objects, or a connected account's via `Stripe-Account`.
    Platform,
    /// A standalone account (or an OAuth access token): only that account.
    Account(String),
}

#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub owner: KeyOwner,
    pub livemode: bool,
}

/// A stored idempotent result.
#[derive(Debug, Clone)]
pub(crate) struct StoredResponse {
    pub method: String,
    pub path: String,
    pub params: Value,
    pub status: u16,
    pub body: Value,
    pub request_id: String,
}

/// An issued Connect OAuth authorization code.
#[derive(Debug, Clone)]
pub(crate) struct OAuthCode {
    pub account: String,
    pub livemode: bool,
    pub scope: String,
    pub used: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub keys: HashMap<String, KeyInfo>,
    pub connected: BTreeSet<String>,
    pub client_id: String,
    pub authorize_account: String,
    pub deny_next_authorize: bool,
    /// Objects per account and kind, in creation order; each carries its own `livemode`.
    objects: HashMap<(String, ObjectKind), Vec<Value>>,
    /// Keyed by (API key, account, Idempotency-Key).
    pub idempotency: HashMap<(String, String, String), StoredResponse>,
    pub failures: VecDeque<(String, Failure)>,
    pub requests: Vec<RecordedRequest>,
    pub oauth_codes: HashMap<String, OAuthCode>,
    /// Access and refresh tokens `/oauth/token` handed out, for leak checks.
    pub issued_tokens: Vec<String>,
    /// The default billing-portal configuration per (account, livemode).
    pub portal_configurations: HashMap<(String, bool), String>,
    pub ids: IdGen,
}

/// The mode of a key from its prefix.
pub(crate) fn key_livemode(key: &str) -> Option<bool> {
    if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
        Some(false)
    } else if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        Some(true)
    } else {
        None
    }
}

impl State {
    pub fn new(config: &StandInConfig) -> std::io::Result<Self> {
        let mode = |key: &str| {
            key_livemode(key).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "stand-in keys must start with sk_test_, rk_test_, sk_live_ or rk_live_",
                )
            })
        };
        let mut keys = HashMap::new();
        for key in &config.platform_keys {
            let info = KeyInfo {
                owner: KeyOwner::Platform,
                livemode: mode(key)?,
            };
            keys.insert(key.clone(), info);
        }
        for (key, account) in &config.direct_keys {
            let info = KeyInfo {
                owner: KeyOwner::Account(account.clone()),
                livemode: mode(key)?,
            };
            keys.insert(key.clone(), info);
        }
        Ok(Self {
            keys,
            connected: config.connected_accounts.iter().cloned().collect(),
            client_id: config.client_id.clone(),
            authorize_account: config.authorize_account.clone(),
            deny_next_authorize: false,
            objects: HashMap::new(),
            idempotency: HashMap::new(),
            failures: VecDeque::new(),
            requests: Vec::new(),
            oauth_codes: HashMap::new(),
            issued_tokens: Vec::new(),
            portal_configurations: HashMap::new(),
            ids: IdGen::new(),
        })
    }

    /// All objects of a kind on an account (both modes), in creation order.
    pub fn objects(&self, account: &str, kind: ObjectKind) -> &[Value] {
        self.objects
            .get(&(account.to_owned(), kind))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The objects of a kind on an account in one mode, in creation order.
    pub fn objects_in_mode<'a>(
        &'a self,
        account: &str,
        kind: ObjectKind,
        livemode: bool,
    ) -> impl DoubleEndedIterator<Item = &'a Value> + 'a {
        self.objects(account, kind)
            .iter()
            .filter(move |o| o["livemode"].as_bool() == Some(livemode))
    }

    pub fn find(
        &self,
        account: &str,
        kind: ObjectKind,
        livemode: bool,
        id: &str,
    ) -> Option<&Value> {
        self.objects_in_mode(account, kind, livemode)
            .find(|o| o["id"].as_str() == Some(id))
    }

    pub fn find_mut(
        &mut self,
        account: &str,
        kind: ObjectKind,
        livemode: bool,
        id: &str,
    ) -> Option<&mut Value> {
        self.objects
            .get_mut(&(account.to_owned(), kind))?
            .iter_mut()
            .find(|o| o["id"].as_str() == Some(id) && o["livemode"].as_bool() == Some(livemode))
    }

    pub fn insert(&mut self, account: &str, kind: ObjectKind, object: Value) {
        self.objects
            .entry((account.to_owned(), kind))
            .or_default()
            .push(object);
    }

    pub fn issue_oauth_code(&mut self, account: &str, livemode: bool, scope: &str) -> String {
        let code = self.ids.id("ac_", 32);
        self.oauth_codes.insert(
            code.clone(),
            OAuthCode {
                account: account.to_owned(),
                livemode,
                scope: scope.to_owned(),
                used: false,
            },
        );
        code
    }
}
