//! Operator settings: the platform key of each mode, the Connect client id, endpoints,
//! retry tuning and the webhook signing secrets. Keys are sorted into modes by their
//! prefix, and `Debug` never prints a key or a secret.

use std::{fmt, time::Duration};

use dream_core::{Mode, RevealedSecret};

/// Names of the operator's settings, as the error messages spell them.
pub(crate) mod settings {
    /// The platform secret key (test or live, by prefix).
    pub const SECRET_KEY: &str = "STRIPE_SECRET_KEY";
    /// A test-mode platform secret key, next to a live `STRIPE_SECRET_KEY`.
    pub const TEST_SECRET_KEY: &str = "STRIPE_TEST_SECRET_KEY";
    /// The Connect client id.
    pub const CLIENT_ID: &str = "STRIPE_CLIENT_ID";
    /// The test-mode Connect client id, when it differs from the live one.
    pub const TEST_CLIENT_ID: &str = "STRIPE_TEST_CLIENT_ID";
    /// The webhook endpoint's signing secrets (`whsec_…`, comma-separated).
    pub const WEBHOOK_SECRET: &str = "STRIPE_WEBHOOK_SECRET";
}

/// Stripe's API endpoint.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// Stripe's Connect OAuth endpoint.
pub const DEFAULT_CONNECT_BASE: &str = "https://connect.stripe.com";
/// Extra attempts after a transient failure, by default.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The first backoff delay, by default; it doubles on each retry (with jitter).
pub const DEFAULT_RETRY_BASE_DELAY: Duration = Duration::from_millis(500);
/// The time one HTTP attempt may take, by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How far a webhook's signed timestamp may be from now, by default (Stripe's own
/// libraries use the same five minutes).
pub const DEFAULT_WEBHOOK_TOLERANCE: Duration = Duration::from_secs(300);

/// How dream reaches Stripe: the operator's platform keys, Connect settings and retry tuning.
///
/// Build it with [`StripeConfig::from_keys`] from the operator's settings, then adjust the
/// public fields (a test points `api_base` and `connect_base` at a local stand-in).
///
/// ```
/// use dream_stripe::StripeConfig;
///
/// let mut config = StripeConfig::from_keys(Some("sk_live_abc".into()), Some("sk_test_xyz".into()))?;
/// config.client_id = Some("ca_123".into());
/// assert!(config.live_secret_key.is_some() && config.test_secret_key.is_some());
/// // `Debug` says whether a key is set, never what it is.
/// let shown = format!("{config:?}");
/// assert!(!shown.contains("abc") && !shown.contains("xyz"));
/// # Ok::<(), dream_stripe::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct StripeConfig {
    /// The platform key for test mode (`sk_test_…` or `rk_test_…`).
    pub test_secret_key: Option<RevealedSecret>,
    /// The platform key for live mode (`sk_live_…` or `rk_live_…`).
    pub live_secret_key: Option<RevealedSecret>,
    /// The Connect client id (`ca_…`) used in the onboarding link.
    pub client_id: Option<String>,
    /// The test-mode client id, when Stripe's Connect settings give a separate one
    /// for test mode; test-mode onboarding uses it, falling back to `client_id`.
    pub test_client_id: Option<String>,
    /// Stripe's API base URL; [`DEFAULT_API_BASE`] unless testing.
    pub api_base: String,
    /// Stripe's Connect OAuth base URL; [`DEFAULT_CONNECT_BASE`] unless testing.
    pub connect_base: String,
    /// Our OAuth callback URL, sent as `redirect_uri` in the onboarding link when set
    /// (otherwise Stripe uses the one registered in the Connect settings).
    pub redirect_uri: Option<String>,
    /// Extra attempts after a transient failure (429, 5xx, network), reusing the
    /// idempotency key.
    pub max_retries: u32,
    /// The first backoff delay; each retry doubles it, with jitter.
    pub retry_base_delay: Duration,
    /// The time one HTTP attempt may take.
    pub request_timeout: Duration,
    /// The webhook endpoint's signing secrets (`whsec_…`). A webhook is accepted when it
    /// is signed with any of them: during a secret roll Stripe signs with the old and the
    /// new secret, so both are listed until the old one expires. Set them with
    /// [`with_webhook_secrets`](Self::with_webhook_secrets).
    pub webhook_secrets: Vec<RevealedSecret>,
    /// How far a webhook's signed timestamp may be from now, either way;
    /// [`DEFAULT_WEBHOOK_TOLERANCE`] by default.
    pub webhook_tolerance: Duration,
}

impl Default for StripeConfig {
    /// No keys, no webhook secrets, Stripe's real endpoints, default retries and
    /// tolerance.
    fn default() -> Self {
        Self {
            test_secret_key: None,
            live_secret_key: None,
            client_id: None,
            test_client_id: None,
            api_base: DEFAULT_API_BASE.to_owned(),
            connect_base: DEFAULT_CONNECT_BASE.to_owned(),
            redirect_uri: None,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_base_delay: DEFAULT_RETRY_BASE_DELAY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            webhook_secrets: Vec::new(),
            webhook_tolerance: DEFAULT_WEBHOOK_TOLERANCE,
        }
    }
}

impl StripeConfig {
    /// The longest one Stripe call can take with its retries: every attempt running
    /// to `request_timeout`, plus the longest backoff before each retry (defaults:
    /// 4 × 60 s + 0.5 + 1 + 2 s = 243.5 s). A lock held across a Stripe call, such
    /// as an `Idempotency-Key` claim, must outlive this.
    pub fn worst_case_call_duration(&self) -> Duration {
        let policy = crate::retry::RetryPolicy {
            max_retries: self.max_retries,
            base_delay: self.retry_base_delay,
        };
        let backoff: Duration = (0..self.max_retries).map(|r| policy.max_delay(r)).sum();
        self.request_timeout
            .saturating_mul(self.max_retries.saturating_add(1))
            .saturating_add(backoff)
    }

    /// A configuration from the operator's two key settings: `secret_key`
    /// (`STRIPE_SECRET_KEY`, test or live, sorted by its prefix) and `test_secret_key`
    /// (`STRIPE_TEST_SECRET_KEY`, which must be a test key). Empty values count as unset;
    /// surrounding whitespace is ignored. Everything else takes its default.
    ///
    /// # Errors
    /// A value that is not a Stripe secret key (a publishable `pk_…` key included), a live
    /// key in `test_secret_key`, or two different test keys.
    pub fn from_keys(
        secret_key: Option<String>,
        test_secret_key: Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(key) = normalized(secret_key) {
            match classify(&key, settings::SECRET_KEY)? {
                Mode::Test => config.test_secret_key = Some(RevealedSecret::new(key)),
                Mode::Live => config.live_secret_key = Some(RevealedSecret::new(key)),
            }
        }
        if let Some(key) = normalized(test_secret_key) {
            match classify(&key, settings::TEST_SECRET_KEY)? {
                Mode::Live => {
                    return Err(ConfigError::WrongMode {
                        setting: settings::TEST_SECRET_KEY,
                        expected: Mode::Test,
                    })
                }
                Mode::Test => match &config.test_secret_key {
                    Some(existing) if existing.expose() != key => {
                        return Err(ConfigError::TwoTestKeys)
                    }
                    _ => config.test_secret_key = Some(RevealedSecret::new(key)),
                },
            }
        }
        Ok(config)
    }

    /// Sets the webhook signing secrets from the operator's `STRIPE_WEBHOOK_SECRET`
    /// setting: one `whsec_…` secret, or several separated by commas while a secret is
    /// rolled. Surrounding whitespace and empty entries are ignored, so an unset or empty
    /// setting leaves no secrets (and webhooks are refused as not configured).
    ///
    /// ```
    /// use dream_stripe::StripeConfig;
    ///
    /// let config = StripeConfig::default()
    ///     .with_webhook_secrets(Some(" whsec_new , whsec_old,".into()))?;
    /// assert_eq!(config.webhook_secrets.len(), 2);
    /// assert!(!format!("{config:?}").contains("whsec_new"));
    /// assert!(StripeConfig::default()
    ///     .with_webhook_secrets(Some("sk_test_oops".into()))
    ///     .is_err());
    /// # Ok::<(), dream_stripe::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::InvalidWebhookSecret`] for an entry that is not a `whsec_…` secret
    /// (the message gives its position, never its value).
    pub fn with_webhook_secrets(mut self, raw: Option<String>) -> Result<Self, ConfigError> {
        let mut secrets = Vec::new();
        for (index, entry) in raw
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
        {
            if !is_webhook_secret(entry) {
                return Err(ConfigError::InvalidWebhookSecret { entry: index + 1 });
            }
            secrets.push(RevealedSecret::new(entry.to_owned()));
        }
        self.webhook_secrets = secrets;
        Ok(self)
    }

    /// The platform key of `mode`, if configured.
    pub fn secret_key(&self, mode: Mode) -> Option<&RevealedSecret> {
        match mode {
            Mode::Test => self.test_secret_key.as_ref(),
            Mode::Live => self.live_secret_key.as_ref(),
        }
    }

    /// Checks what [`from_keys`](Self::from_keys) and
    /// [`with_webhook_secrets`](Self::with_webhook_secrets) check, for a configuration
    /// whose fields were set directly, plus the client id and URLs.
    ///
    /// # Errors
    /// The first setting that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (mode, key, setting) in [
            (Mode::Test, &self.test_secret_key, "test_secret_key"),
            (Mode::Live, &self.live_secret_key, "live_secret_key"),
        ] {
            if let Some(key) = key {
                if classify(key.expose(), setting)? != mode {
                    return Err(ConfigError::WrongMode {
                        setting,
                        expected: mode,
                    });
                }
            }
        }
        for id in self.client_id.iter().chain(&self.test_client_id) {
            if !id.starts_with("ca_") || id.len() <= 3 || !is_token(id) {
                return Err(ConfigError::InvalidClientId);
            }
        }
        check_url("api_base", &self.api_base)?;
        check_url("connect_base", &self.connect_base)?;
        if let Some(uri) = &self.redirect_uri {
            check_url("redirect_uri", uri)?;
        }
        if let Some(index) = self
            .webhook_secrets
            .iter()
            .position(|secret| !is_webhook_secret(secret.expose()))
        {
            return Err(ConfigError::InvalidWebhookSecret { entry: index + 1 });
        }
        Ok(())
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("test_secret_key", &shown(&self.test_secret_key))
            .field("live_secret_key", &shown(&self.live_secret_key))
            .field("client_id", &self.client_id)
            .field("test_client_id", &self.test_client_id)
            .field("api_base", &self.api_base)
            .field("connect_base", &self.connect_base)
            .field("redirect_uri", &self.redirect_uri)
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("request_timeout", &self.request_timeout)
            .field("webhook_secrets", &self.webhook_secrets.len())
            .field("webhook_tolerance", &self.webhook_tolerance)
            .finish()
    }
}

/// The mode of a Stripe secret or restricted key (`sk_test_…`, `rk_live_…`, …), or `None`
/// for anything else (publishable keys included).
///
/// ```
/// use dream_core::Mode;
/// use dream_stripe::secret_key_mode;
/// assert_eq!(secret_key_mode("rk_test_123"), Some(Mode::Test));
/// assert_eq!(secret_key_mode("sk_live_123"), Some(Mode::Live));
/// assert_eq!(secret_key_mode("pk_test_123"), None);
/// ```
pub fn secret_key_mode(key: &str) -> Option<Mode> {
    let rest = key
        .strip_prefix("sk_")
        .or_else(|| key.strip_prefix("rk_"))?;
    let (mode, tail) = if let Some(tail) = rest.strip_prefix("test_") {
        (Mode::Test, tail)
    } else {
        (Mode::Live, rest.strip_prefix("live_")?)
    };
    (!tail.is_empty() && is_token(tail)).then_some(mode)
}

/// A setting the operator got wrong. Messages name the setting, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A publishable key where a secret key belongs.
    #[error("{setting} is a publishable key (pk_…); set the secret key (sk_… or rk_…) instead")]
    PublishableKey {
        /// The setting.
        setting: &'static str,
    },
    /// Not a Stripe secret key at all.
    #[error("{setting} is not a Stripe secret key: expected sk_test_…, rk_test_…, sk_live_… or rk_live_…")]
    NotASecretKey {
        /// The setting.
        setting: &'static str,
    },
    /// A key of the other mode.
    #[error("{setting} must hold a {expected}-mode key ({expected} keys start with sk_{expected}_ or rk_{expected}_)")]
    WrongMode {
        /// The setting.
        setting: &'static str,
        /// The mode it must be.
        expected: Mode,
    },
    /// `STRIPE_SECRET_KEY` and `STRIPE_TEST_SECRET_KEY` are both test keys, and differ.
    #[error("STRIPE_SECRET_KEY and STRIPE_TEST_SECRET_KEY hold two different test-mode keys; set only one, or put the live key in STRIPE_SECRET_KEY")]
    TwoTestKeys,
    /// The Connect client id does not look like `ca_…`.
    #[error("STRIPE_CLIENT_ID and STRIPE_TEST_CLIENT_ID must be Connect client ids (ca_…)")]
    InvalidClientId,
    /// A URL setting is not an absolute http(s) URL.
    #[error("{setting} must be an absolute http(s) URL: {reason}")]
    InvalidUrl {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry of `STRIPE_WEBHOOK_SECRET` is not a webhook signing secret.
    #[error("entry {entry} of STRIPE_WEBHOOK_SECRET is not a webhook signing secret: expected whsec_… (several are separated by commas)")]
    InvalidWebhookSecret {
        /// Its position, from 1.
        entry: usize,
    },
    /// The HTTP client could not be set up (TLS roots, …).
    #[error("could not set up the HTTP client for Stripe: {0}")]
    Http(String),
}

fn normalized(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `whsec_` and a tail without whitespace, commas or control characters.
fn is_webhook_secret(secret: &str) -> bool {
    secret.strip_prefix("whsec_").is_some_and(|tail| {
        !tail.is_empty()
            && tail
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != ',')
    })
}

fn classify(key: &str, setting: &'static str) -> Result<Mode, ConfigError> {
    if key.starts_with("pk_") {
        return Err(ConfigError::PublishableKey { setting });
    }
    secret_key_mode(key).ok_or(ConfigError::NotASecretKey { setting })
}

/// Visible ASCII without separators: what a key or id can be in a header or query.
fn is_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_url(setting: &'static str, value: &str) -> Result<(), ConfigError> {
    let url = reqwest::Url::parse(value).map_err(|e| ConfigError::InvalidUrl {
        setting,
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::InvalidUrl {
            setting,
            reason: "the scheme must be http or https, with a host".into(),
        });
    }
    Ok(())
}

fn shown(key: &Option<RevealedSecret>) -> &'static str {
    if key.is_some() {
        "set"
    } else {
        "unset"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_by_prefix() {
        let c =
            StripeConfig::from_keys(Some(" rk_live_a ".into()), Some("sk_test_b".into())).unwrap();
        assert_eq!(c.live_secret_key.unwrap().expose(), "rk_live_a");
        assert_eq!(c.test_secret_key.unwrap().expose(), "sk_test_b");
        let c = StripeConfig::from_keys(Some("sk_test_b".into()), Some(String::new())).unwrap();
        assert!(c.live_secret_key.is_none());
        assert_eq!(c.secret_key(Mode::Test).unwrap().expose(), "sk_test_b");
        let c = StripeConfig::from_keys(Some("sk_test_b".into()), Some("sk_test_b".into()));
        assert!(c.is_ok());
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let cases = [
            (Some("pk_test_secret1"), None, "publishable"),
            (Some("whsec_secret1"), None, "not a Stripe secret key"),
            (Some("sk_prod_secret1"), None, "not a Stripe secret key"),
            (None, Some("sk_live_secret1"), "test-mode"),
            (
                Some("sk_test_secret1"),
                Some("sk_test_secret2"),
                "two different",
            ),
        ];
        for (key, test_key, expected) in cases {
            let err = StripeConfig::from_keys(key.map(Into::into), test_key.map(Into::into))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
            assert!(
                !err.contains("secret1") && !err.contains("secret2"),
                "{err}"
            );
        }
    }

    #[test]
    fn validate_checks_fields_set_directly() {
        let mut c = StripeConfig {
            test_secret_key: Some(RevealedSecret::new("sk_live_x".into())),
            ..StripeConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::WrongMode { .. })));
        c.test_secret_key = None;
        c.client_id = Some("acct_1".into());
        assert_eq!(c.validate(), Err(ConfigError::InvalidClientId));
        c.client_id = Some("ca_1".into());
        c.api_base = "ftp://x".into();
        assert!(matches!(c.validate(), Err(ConfigError::InvalidUrl { .. })));
        c.api_base = DEFAULT_API_BASE.into();
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn webhook_secrets_are_split_trimmed_and_checked() {
        let c = StripeConfig::default()
            .with_webhook_secrets(Some(" whsec_one ,, whsec_two,".into()))
            .unwrap();
        let secrets: Vec<_> = c.webhook_secrets.iter().map(|s| s.expose()).collect();
        assert_eq!(secrets, ["whsec_one", "whsec_two"]);
        assert_eq!(c.webhook_tolerance, DEFAULT_WEBHOOK_TOLERANCE);
        assert_eq!(c.validate(), Ok(()));
        for raw in [None, Some(String::new()), Some(" , ".into())] {
            let c = StripeConfig::default().with_webhook_secrets(raw).unwrap();
            assert!(c.webhook_secrets.is_empty());
        }
        for (raw, entry) in [
            ("sk_test_secret1", 1),
            ("whsec_ok, whsec_", 2),
            ("whsec_ok,whsec_a b", 2),
            ("whsec_ok, WHSEC_secret1", 2),
        ] {
            let err = StripeConfig::default()
                .with_webhook_secrets(Some(raw.into()))
                .unwrap_err();
            assert_eq!(err, ConfigError::InvalidWebhookSecret { entry });
            let text = err.to_string();
            assert!(text.contains("STRIPE_WEBHOOK_SECRET"), "{text}");
            assert!(!text.contains("secret1"), "{text}");
        }
        let c = StripeConfig {
            webhook_secrets: vec![RevealedSecret::new("sk_test_x".into())],
            ..StripeConfig::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::InvalidWebhookSecret { entry: 1 })
        );
    }

    #[test]
    fn debug_hides_keys() {
        let c =
            StripeConfig::from_keys(Some("sk_live_hidden".into()), Some("rk_test_hidden".into()))
                .unwrap();
        let c = c.with_webhook_secrets(Some("whsec_hidden".into())).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hidden"), "{shown}");
        assert!(shown.contains("\"set\""));
        assert!(shown.contains("webhook_secrets: 1"), "{shown}");
    }
}
