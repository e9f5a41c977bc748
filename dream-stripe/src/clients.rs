//! Which transport (which key) and which `Stripe-Account` a call uses: the platform key of
//! the mode for Connect, or the developer's own key in direct mode. Direct-mode transports
//! are cached by the SHA-256 of their key, never by the key itself.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use dream_core::{
    AccountAccess, BillingAccount, BillingError, BillingErrorKind, Mode, RevealedSecret,
};
use sha2::{Digest, Sha256};
use stripe_client_core::{AccountId, CustomizableStripeRequest, IdempotencyKey, RequestStrategy};

use crate::{
    config::{secret_key_mode, settings, ConfigError, StripeConfig},
    error::to_billing,
    retry::RetryPolicy,
    transport::Transport,
};

/// At most this many direct-mode transports are kept; past it the cache starts over.
const DIRECT_CACHE_CAPACITY: usize = 256;
/// The longest wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where one call goes.
pub(crate) struct Target {
    /// The transport holding the key to use.
    pub transport: Transport,
    /// The `Stripe-Account` to send, for Connect.
    pub account: Option<AccountId>,
}

impl Target {
    /// Sends `request` with the idempotency key (reused by every retry) and, for Connect,
    /// `Stripe-Account`.
    pub async fn send<T: miniserde::Deserialize>(
        &self,
        request: CustomizableStripeRequest<T>,
        idempotency_key: &str,
    ) -> Result<T, BillingError> {
        let key = IdempotencyKey::new(idempotency_key)
            .map_err(|e| BillingError::new(BillingErrorKind::InvalidRequest, format!("{e}")))?;
        let mut request = request.request_strategy(RequestStrategy::Idempotent(key));
        if let Some(account) = &self.account {
            request = request.account_id(account.clone());
        }
        request.send(&self.transport).await.map_err(to_billing)
    }
}

/// The platform transports of each mode and the cache of direct-mode ones.
pub(crate) struct Clients {
    http: reqwest::Client,
    api_base: Arc<str>,
    retry: RetryPolicy,
    test: Option<Transport>,
    live: Option<Transport>,
    direct: Mutex<HashMap<[u8; 32], Transport>>,
}

impl Clients {
    /// Transports for the configured platform keys, sharing one connection pool.
    pub fn new(config: &StripeConfig) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "dream-stripe/",
                env!("CARGO_PKG_VERSION"),
                " (async-stripe 1.0.0-rc.10)"
            ))
            .timeout(config.request_timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(config.request_timeout))
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let api_base: Arc<str> = Arc::from(config.api_base.trim_end_matches('/'));
        let retry = RetryPolicy {
            max_retries: config.max_retries,
            base_delay: config.retry_base_delay,
        };
        let platform = |key: &Option<RevealedSecret>, setting: &'static str| {
            key.as_ref()
                .map(|key| {
                    Transport::new(http.clone(), api_base.clone(), key.expose(), retry)
                        .ok_or(ConfigError::NotASecretKey { setting })
                })
                .transpose()
        };
        Ok(Self {
            test: platform(&config.test_secret_key, "test_secret_key")?,
            live: platform(&config.live_secret_key, "live_secret_key")?,
            http,
            api_base,
            retry,
            direct: Mutex::new(HashMap::new()),
        })
    }

    /// The platform transport of `mode`, or the `NotConfigured` error saying what to set.
    pub fn platform(&self, mode: Mode) -> Result<&Transport, BillingError> {
        match mode {
            Mode::Test => self.test.as_ref(),
            Mode::Live => self.live.as_ref(),
        }
        .ok_or_else(|| missing_key(mode))
    }

    /// Whether a platform key is configured for `mode`.
    pub fn has_platform(&self, mode: Mode) -> bool {
        self.platform(mode).is_ok()
    }

    /// The transport and `Stripe-Account` for a call on `account`.
    pub fn target(&self, account: &BillingAccount) -> Result<Target, BillingError> {
        match &account.access {
            AccountAccess::Connected { account_id } => Ok(Target {
                transport: self.platform(account.mode)?.clone(),
                account: Some(AccountId::from(account_id.clone())),
            }),
            AccountAccess::Direct { secret } => Ok(Target {
                transport: self.direct(account.mode, secret)?,
                account: None,
            }),
        }
    }

    /// The number of cached direct-mode transports.
    #[cfg(test)]
    pub fn direct_cached(&self) -> usize {
        self.direct
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn direct(&self, mode: Mode, secret: &RevealedSecret) -> Result<Transport, BillingError> {
        match secret_key_mode(secret.expose()) {
            Some(key_mode) if key_mode == mode => {}
            Some(key_mode) => {
                return Err(BillingError::new(
                    BillingErrorKind::InvalidRequest,
                    format!(
                        "the developer's Stripe key is a {key_mode}-mode key; {mode} mode needs \
                         a sk_{mode}_… or rk_{mode}_… key"
                    ),
                ))
            }
            None => {
                return Err(BillingError::new(
                    BillingErrorKind::InvalidRequest,
                    "the developer's Stripe key is not a secret (sk_…) or restricted (rk_…) key",
                ))
            }
        }
        let digest: [u8; 32] = Sha256::digest(secret.expose().as_bytes()).into();
        let mut cache = self.direct.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(transport) = cache.get(&digest) {
            return Ok(transport.clone());
        }
        let transport = Transport::new(
            self.http.clone(),
            self.api_base.clone(),
            secret.expose(),
            self.retry,
        )
        .ok_or_else(|| {
            BillingError::new(
                BillingErrorKind::InvalidRequest,
                "the developer's Stripe key contains characters that cannot be sent",
            )
        })?;
        if cache.len() >= DIRECT_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(digest, transport.clone());
        Ok(transport)
    }
}

/// The `NotConfigured` error for a mode without a platform key.
pub(crate) fn missing_key(mode: Mode) -> BillingError {
    BillingError::not_configured(match mode {
        Mode::Test => format!(
            "Set {} (or {}) to a sk_test_… key to bill in test mode",
            settings::SECRET_KEY,
            settings::TEST_SECRET_KEY
        ),
        Mode::Live => format!(
            "Set {} to a sk_live_… key to bill in live mode",
            settings::SECRET_KEY
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(mode: Mode, key: &str) -> BillingAccount {
        BillingAccount {
            mode,
            access: AccountAccess::Direct {
                secret: RevealedSecret::new(key.into()),
            },
        }
    }

    #[test]
    fn direct_transports_are_cached_by_digest_and_mode_checked() {
        let clients = Clients::new(&StripeConfig::default()).unwrap();
        clients.target(&direct(Mode::Test, "rk_test_one")).unwrap();
        clients.target(&direct(Mode::Test, "rk_test_one")).unwrap();
        clients.target(&direct(Mode::Test, "rk_test_two")).unwrap();
        assert_eq!(clients.direct_cached(), 2);
        let err = clients
            .target(&direct(Mode::Test, "rk_live_one"))
            .err()
            .unwrap();
        assert_eq!(err.kind, BillingErrorKind::InvalidRequest);
        assert!(!err.message.contains("one"), "{}", err.message);
        let err = clients
            .target(&direct(Mode::Live, "pk_live_one"))
            .err()
            .unwrap();
        assert_eq!(err.kind, BillingErrorKind::InvalidRequest);
    }

    #[test]
    fn connected_needs_the_platform_key_of_its_mode() {
        let config = StripeConfig::from_keys(Some("sk_test_x".into()), None).unwrap();
        let clients = Clients::new(&config).unwrap();
        let connected = |mode| BillingAccount {
            mode,
            access: AccountAccess::Connected {
                account_id: "acct_1".into(),
            },
        };
        let target = clients.target(&connected(Mode::Test)).unwrap();
        assert_eq!(target.account.as_ref().map(|a| a.as_str()), Some("acct_1"));
        let err = clients.target(&connected(Mode::Live)).err().unwrap();
        assert_eq!(err.kind, BillingErrorKind::NotConfigured);
        assert!(err.message.contains("STRIPE_SECRET_KEY"), "{}", err.message);
    }
}
