//! Configuration: defaults, then `dream.toml` (or `DREAM_CONFIG`), then `DREAM_*`
//! environment variables. One typed, validated value.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use dream_core::SigningSecret;
use serde::Deserialize;

/// Which store keeps the data (usage counters may go to Redis instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In process memory; data is lost when the process stops.
    Memory,
    /// One SQLite file under `data_dir`: the zero-configuration default.
    Sqlite,
    /// PostgreSQL at `database_url`, shared by any number of server processes.
    Postgres,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

/// Server configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listen address (`DREAM_ADDR`, default `127.0.0.1:8787`).
    pub addr: SocketAddr,
    /// Operator token for `/create-products` and `/admin/*` (`DREAM_ADMIN_TOKEN`);
    /// unset disables the admin API.
    pub admin_token: Option<Secret>,
    /// Store backend (`DREAM_STORE`): `postgres` when `database_url` is set, else
    /// `sqlite`; `memory` on request.
    pub store: Option<StoreKind>,
    /// Where the SQLite store keeps its file (`DREAM_DATA_DIR`, default `./dream-data`).
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`DATABASE_URL` or `DREAM_DATABASE_URL`).
    pub database_url: Option<Secret>,
    /// Pool size per process for PostgreSQL (`DREAM_DATABASE_MAX_CONNECTIONS`, default 16).
    pub database_max_connections: u32,
    /// Apply pending migrations at start-up (`DREAM_AUTO_MIGRATE`, default true). With
    /// false, a server whose database is behind refuses to start: run `dream migrate`.
    pub auto_migrate: bool,
    /// Redis URL for usage counters and rate windows (`REDIS_URL` or `DREAM_REDIS_URL`);
    /// everything else stays in the main store.
    pub redis_url: Option<Secret>,
    /// How long a process may keep a key record or tier configuration cached
    /// (`DREAM_CACHE_TTL_MS`, default 1000): the bound on how long another process
    /// still accepts a key revoked elsewhere.
    pub cache_ttl_ms: u64,
    /// Largest request body in bytes (`DREAM_MAX_BODY_BYTES`, default 1 MiB).
    pub max_body_bytes: usize,
    /// Log format (`DREAM_LOG_FORMAT`: `pretty` or `json`); filter with `RUST_LOG`.
    pub log_format: LogFormat,
    /// Seconds to let in-flight requests finish on SIGTERM (`DREAM_SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace_secs: u64,
    /// Seconds an unfinished request holds its `Idempotency-Key` before a retry may
    /// run it again (`DREAM_IDEMPOTENCY_LOCK_SECS`, default 300: longer than a
    /// Stripe call with all its retries, 243.5 s).
    pub idempotency_lock_secs: u64,
    /// Password hashes (Argon2id, 19 MiB each) computed at once
    /// (`DREAM_HASH_CONCURRENCY`, default: the number of CPUs).
    pub hash_concurrency: usize,
    /// Milliseconds a request waits for a hashing slot before 503 `busy`
    /// (`DREAM_HASH_QUEUE_MS`, default 2000).
    pub hash_queue_ms: u64,
    /// Deliver developer webhooks from this process (`DREAM_WEBHOOK_WORKER`, default
    /// true). Any number of processes may deliver: claims are leased in the store.
    pub webhook_worker: bool,
    /// Allow endpoints on loopback/private/link-local addresses
    /// (`DREAM_WEBHOOK_ALLOW_PRIVATE`, default false: refusing them stops tenants
    /// from making the server call its own network).
    pub webhook_allow_private: bool,
    /// Seconds to wait before each retry (`DREAM_WEBHOOK_RETRY_SCHEDULE`,
    /// comma-separated; default `5,300,1800,7200,18000,36000,36000`: 8 attempts
    /// over about 27.5 hours). Each wait varies by ±10 %.
    pub webhook_retry_schedule: Vec<u64>,
    /// An endpoint failing without a success for this long is disabled
    /// (`DREAM_WEBHOOK_DISABLE_AFTER_SECS`, default 5 days).
    pub webhook_disable_after_secs: u64,
    /// Seconds to wait for an endpoint's response (`DREAM_WEBHOOK_TIMEOUT_SECS`, default 15).
    pub webhook_timeout_secs: u64,
    /// How often an idle worker looks for due deliveries (`DREAM_WEBHOOK_POLL_MS`, default 1000).
    pub webhook_poll_ms: u64,
    /// Days finished deliveries stay in the delivery log
    /// (`DREAM_WEBHOOK_LOG_RETENTION_DAYS`, default 30).
    pub webhook_log_retention_days: u64,
    /// The operator's Stripe platform key (`STRIPE_SECRET_KEY`): `sk_live_…` bills
    /// live tenants, `sk_test_…` test tenants. Unset: billing answers 503
    /// `billing_not_configured` (direct mode still works with a master key).
    pub stripe_secret_key: Option<Secret>,
    /// A second platform key for test mode (`STRIPE_TEST_SECRET_KEY`), so one server
    /// bills both modes.
    pub stripe_test_secret_key: Option<Secret>,
    /// The Connect client id, `ca_…` (`STRIPE_CLIENT_ID`), for `/authorize`.
    pub stripe_client_id: Option<String>,
    /// The test-mode Connect client id (`STRIPE_TEST_CLIENT_ID`), when Stripe gives a
    /// separate one; test-mode onboarding falls back to `stripe_client_id`.
    pub stripe_test_client_id: Option<String>,
    /// Stripe's API base (`STRIPE_API_BASE`, default `https://api.stripe.com`).
    pub stripe_api_base: String,
    /// Stripe Connect's OAuth base (`STRIPE_CONNECT_BASE`, default `https://connect.stripe.com`).
    pub stripe_connect_base: String,
    /// 64 hex characters sealing direct-mode Stripe keys (`DREAM_MASTER_KEY`).
    pub master_key: Option<Secret>,
    /// This server's public base URL (`DREAM_PUBLIC_URL`), used to tell Stripe where
    /// `/callback` is; unset uses the redirect URI set in the Connect settings.
    pub public_url: Option<String>,
    /// Where `/callback` sends the developer afterwards (`DREAM_DASHBOARD_URL`).
    pub dashboard_url: Option<String>,
    /// Default checkout `successUrl` (`DREAM_CHECKOUT_SUCCESS_URL`).
    pub checkout_success_url: Option<String>,
    /// Default checkout `cancelUrl` (`DREAM_CHECKOUT_CANCEL_URL`).
    pub checkout_cancel_url: Option<String>,
    /// The Connect webhook endpoint's signing secret(s), `whsec_…`, comma-separated
    /// during rotation (`STRIPE_WEBHOOK_SECRET`).
    pub stripe_webhook_secret: Option<Secret>,
    /// Seconds a webhook signature stays valid (`STRIPE_WEBHOOK_TOLERANCE_SECS`, default 300).
    pub stripe_webhook_tolerance_secs: u64,
    /// The Clerk webhook endpoint's signing secret(s), `whsec_…`, comma-separated
    /// during rotation (`CLERK_WEBHOOK_SECRET`). Unset: `/webhook/clerk` answers 503.
    pub clerk_webhook_secret: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            admin_token: None,
            store: None,
            data_dir: PathBuf::from("dream-data"),
            database_url: None,
            database_max_connections: 16,
            auto_migrate: true,
            redis_url: None,
            cache_ttl_ms: 1000,
            max_body_bytes: 1024 * 1024,
            log_format: LogFormat::Pretty,
            shutdown_grace_secs: 10,
            idempotency_lock_secs: 300,
            hash_concurrency: std::thread::available_parallelism().map_or(1, usize::from),
            hash_queue_ms: 2000,
            webhook_worker: true,
            webhook_allow_private: false,
            webhook_retry_schedule: vec![5, 300, 1_800, 7_200, 18_000, 36_000, 36_000],
            webhook_disable_after_secs: 5 * 24 * 3600,
            webhook_timeout_secs: 15,
            webhook_poll_ms: 1000,
            webhook_log_retention_days: 30,
            stripe_secret_key: None,
            stripe_test_secret_key: None,
            stripe_client_id: None,
            stripe_test_client_id: None,
            stripe_api_base: "https://api.stripe.com".into(),
            stripe_connect_base: "https://connect.stripe.com".into(),
            master_key: None,
            public_url: None,
            dashboard_url: None,
            checkout_success_url: None,
            checkout_cancel_url: None,
            stripe_webhook_secret: None,
            stripe_webhook_tolerance_secs: 300,
            clerk_webhook_secret: None,
        }
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid {path}: {source}")]
    File {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: toml::de::Error,
    },
    /// An environment variable is not valid.
    #[error("invalid {name}: {reason}")]
    Env {
        /// Variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// Parses one environment value, naming the variable when it does not parse.
fn parse<T: std::str::FromStr>(name: &'static str, v: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    v.trim().parse().map_err(|e: T::Err| ConfigError::Env {
        name,
        reason: e.to_string(),
    })
}

impl Config {
    /// The store in effect: the configured one, else PostgreSQL when a database URL
    /// is set, else SQLite.
    pub fn store_kind(&self) -> StoreKind {
        self.store.unwrap_or(if self.database_url.is_some() {
            StoreKind::Postgres
        } else {
            StoreKind::Sqlite
        })
    }

    /// Loads defaults → file → environment. The file is `DREAM_CONFIG` if set (it
    /// must exist then), else `./dream.toml` if present.
    pub fn load() -> Result<Self, ConfigError> {
        let explicit = std::env::var("DREAM_CONFIG").ok();
        let path = explicit.clone().unwrap_or_else(|| "dream.toml".to_owned());
        let mut config = if explicit.is_some() || Path::new(&path).exists() {
            Self::from_file(&path)?
        } else {
            Self::default()
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Parses a TOML file.
    pub fn from_file(path: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::File {
            path: path.to_owned(),
            source,
        })
    }

    /// Overrides fields from `DREAM_*` variables read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("DREAM_ADDR") {
            self.addr = parse("DREAM_ADDR", &v)?;
        }
        if let Some(v) = var("DREAM_ADMIN_TOKEN") {
            self.admin_token = (!v.is_empty()).then_some(Secret(v));
        }
        if let Some(v) = var("DREAM_STORE") {
            self.store = Some(match v.trim() {
                "memory" => StoreKind::Memory,
                "sqlite" => StoreKind::Sqlite,
                "postgres" => StoreKind::Postgres,
                other => {
                    return Err(ConfigError::Env {
                        name: "DREAM_STORE",
                        reason: format!("unknown store {other:?}; use sqlite, postgres or memory"),
                    })
                }
            });
        }
        if let Some(v) = var("DREAM_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("DREAM_DATABASE_URL").or_else(|| var("DATABASE_URL")) {
            self.database_url = (!v.is_empty()).then_some(Secret(v));
        }
        if let Some(v) = var("DREAM_DATABASE_MAX_CONNECTIONS") {
            self.database_max_connections = parse("DREAM_DATABASE_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = var("DREAM_AUTO_MIGRATE") {
            self.auto_migrate = parse("DREAM_AUTO_MIGRATE", &v)?;
        }
        if let Some(v) = var("DREAM_REDIS_URL").or_else(|| var("REDIS_URL")) {
            self.redis_url = (!v.is_empty()).then_some(Secret(v));
        }
        if let Some(v) = var("DREAM_CACHE_TTL_MS") {
            self.cache_ttl_ms = parse("DREAM_CACHE_TTL_MS", &v)?;
        }
        if let Some(v) = var("DREAM_MAX_BODY_BYTES") {
            self.max_body_bytes = parse("DREAM_MAX_BODY_BYTES", &v)?;
        }
        if let Some(v) = var("DREAM_LOG_FORMAT") {
            self.log_format = match v.trim() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Env {
                        name: "DREAM_LOG_FORMAT",
                        reason: format!("unknown format {other:?}; use pretty or json"),
                    })
                }
            };
        }
        if let Some(v) = var("DREAM_IDEMPOTENCY_LOCK_SECS") {
            self.idempotency_lock_secs = parse("DREAM_IDEMPOTENCY_LOCK_SECS", &v)?;
        }
        if let Some(v) = var("DREAM_HASH_CONCURRENCY") {
            self.hash_concurrency = parse("DREAM_HASH_CONCURRENCY", &v)?;
        }
        if let Some(v) = var("DREAM_HASH_QUEUE_MS") {
            self.hash_queue_ms = parse("DREAM_HASH_QUEUE_MS", &v)?;
        }
        if let Some(v) = var("DREAM_SHUTDOWN_GRACE_SECS") {
            self.shutdown_grace_secs = parse("DREAM_SHUTDOWN_GRACE_SECS", &v)?;
        }
        self.apply_webhook_env(&var)?;
        let secret = |v: String| (!v.trim().is_empty()).then(|| Secret(v.trim().to_owned()));
        let text = |v: String| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        if let Some(v) = var("STRIPE_SECRET_KEY") {
            self.stripe_secret_key = secret(v);
        }
        if let Some(v) = var("STRIPE_TEST_SECRET_KEY") {
            self.stripe_test_secret_key = secret(v);
        }
        if let Some(v) = var("STRIPE_CLIENT_ID") {
            self.stripe_client_id = text(v);
        }
        if let Some(v) = var("STRIPE_TEST_CLIENT_ID") {
            self.stripe_test_client_id = text(v);
        }
        if let Some(v) = var("STRIPE_API_BASE").and_then(text) {
            self.stripe_api_base = v;
        }
        if let Some(v) = var("STRIPE_CONNECT_BASE").and_then(text) {
            self.stripe_connect_base = v;
        }
        if let Some(v) = var("STRIPE_WEBHOOK_SECRET") {
            self.stripe_webhook_secret = secret(v);
        }
        if let Some(v) = var("STRIPE_WEBHOOK_TOLERANCE_SECS") {
            self.stripe_webhook_tolerance_secs = parse("STRIPE_WEBHOOK_TOLERANCE_SECS", &v)?;
        }
        if let Some(v) = var("DREAM_MASTER_KEY") {
            self.master_key = secret(v);
        }
        if let Some(v) = var("CLERK_WEBHOOK_SECRET") {
            self.clerk_webhook_secret = secret(v);
        }
        for (name, slot) in [
            ("DREAM_PUBLIC_URL", &mut self.public_url),
            ("DREAM_DASHBOARD_URL", &mut self.dashboard_url),
            ("DREAM_CHECKOUT_SUCCESS_URL", &mut self.checkout_success_url),
            ("DREAM_CHECKOUT_CANCEL_URL", &mut self.checkout_cancel_url),
        ] {
            if let Some(v) = var(name) {
                *slot = text(v);
            }
        }
        self.validate_urls()?;
        // At load time, so a bad secret (from the file or the environment) stops
        // the server at start-up instead of failing every delivery.
        self.clerk_webhook_secrets().map(|_| ())
    }

    /// The parsed `CLERK_WEBHOOK_SECRET` entries (empty when unset). An entry that
    /// is not a `whsec_…` secret is an error naming the variable and the entry's
    /// position, never its value.
    pub fn clerk_webhook_secrets(&self) -> Result<Vec<SigningSecret>, ConfigError> {
        let Some(raw) = &self.clerk_webhook_secret else {
            return Ok(Vec::new());
        };
        raw.expose()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(i, entry)| {
                SigningSecret::parse(entry).map_err(|_| ConfigError::Env {
                    name: "CLERK_WEBHOOK_SECRET",
                    reason: format!(
                        "entry {} is not a signing secret: expected `whsec_` followed by base64 \
                         (copy it from the Clerk dashboard's webhook endpoint)",
                        i + 1
                    ),
                })
            })
            .collect()
    }

    fn apply_webhook_env(
        &mut self,
        var: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(v) = var("DREAM_WEBHOOK_WORKER") {
            self.webhook_worker = parse("DREAM_WEBHOOK_WORKER", &v)?;
        }
        if let Some(v) = var("DREAM_WEBHOOK_ALLOW_PRIVATE") {
            self.webhook_allow_private = parse("DREAM_WEBHOOK_ALLOW_PRIVATE", &v)?;
        }
        if let Some(v) = var("DREAM_WEBHOOK_RETRY_SCHEDULE") {
            self.webhook_retry_schedule = v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse::<u64>("DREAM_WEBHOOK_RETRY_SCHEDULE", s))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = var("DREAM_WEBHOOK_DISABLE_AFTER_SECS") {
            self.webhook_disable_after_secs = parse::<u64>("DREAM_WEBHOOK_DISABLE_AFTER_SECS", &v)?;
        }
        if let Some(v) = var("DREAM_WEBHOOK_TIMEOUT_SECS") {
            self.webhook_timeout_secs = parse::<u64>("DREAM_WEBHOOK_TIMEOUT_SECS", &v)?;
            if !(1..=60).contains(&self.webhook_timeout_secs) {
                return Err(ConfigError::Env {
                    name: "DREAM_WEBHOOK_TIMEOUT_SECS",
                    reason: "must be between 1 and 60".into(),
                });
            }
        }
        if let Some(v) = var("DREAM_WEBHOOK_LOG_RETENTION_DAYS") {
            self.webhook_log_retention_days =
                parse::<u64>("DREAM_WEBHOOK_LOG_RETENTION_DAYS", &v)?.max(1);
        }
        if let Some(v) = var("DREAM_WEBHOOK_POLL_MS") {
            self.webhook_poll_ms = parse::<u64>("DREAM_WEBHOOK_POLL_MS", &v)?.max(10);
        }
        Ok(())
    }

    /// URLs must be absolute http(s): a typo here would otherwise surface as a
    /// confusing Stripe error on the first checkout.
    fn validate_urls(&self) -> Result<(), ConfigError> {
        let urls = [
            ("STRIPE_API_BASE", Some(&self.stripe_api_base)),
            ("STRIPE_CONNECT_BASE", Some(&self.stripe_connect_base)),
            ("DREAM_PUBLIC_URL", self.public_url.as_ref()),
            ("DREAM_DASHBOARD_URL", self.dashboard_url.as_ref()),
            (
                "DREAM_CHECKOUT_SUCCESS_URL",
                self.checkout_success_url.as_ref(),
            ),
            (
                "DREAM_CHECKOUT_CANCEL_URL",
                self.checkout_cancel_url.as_ref(),
            ),
        ];
        for (name, url) in urls {
            if let Some(url) = url {
                dream_core::validate_redirect_url(name, url).map_err(|_| ConfigError::Env {
                    name,
                    reason: "must be an absolute http(s) URL".into(),
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_settings_from_env() {
        let mut c = Config::default();
        assert_eq!(c.webhook_retry_schedule.iter().sum::<u64>(), 99_305);
        c.apply_env(|n| match n {
            "DREAM_WEBHOOK_RETRY_SCHEDULE" => Some(" 1, 2 ,3".into()),
            "DREAM_WEBHOOK_ALLOW_PRIVATE" => Some("true".into()),
            "DREAM_WEBHOOK_WORKER" => Some("false".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.webhook_retry_schedule, vec![1, 2, 3]);
        assert!(c.webhook_allow_private && !c.webhook_worker);
        for (name, value) in [
            ("DREAM_WEBHOOK_RETRY_SCHEDULE", "5,soon"),
            ("DREAM_WEBHOOK_ALLOW_PRIVATE", "maybe"),
            ("DREAM_WEBHOOK_TIMEOUT_SECS", "600"),
        ] {
            let err = Config::default()
                .apply_env(|n| (n == name).then(|| value.into()))
                .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn env_overrides_and_errors() {
        let mut c = Config::default();
        c.apply_env(|n| match n {
            "DREAM_ADDR" => Some("0.0.0.0:9000".into()),
            "DREAM_ADMIN_TOKEN" => Some("s3cr3t-admin".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.admin_token.as_ref().unwrap().expose(), "s3cr3t-admin");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let err = c
            .apply_env(|n| (n == "DREAM_ADDR").then(|| "nope".into()))
            .unwrap_err();
        assert!(err.to_string().contains("DREAM_ADDR"));
    }

    #[test]
    fn file_rejects_unknown_keys() {
        assert!(toml::from_str::<Config>("adr = \"x\"").is_err());
        let c: Config = toml::from_str("addr = \"127.0.0.1:1\"\nstore = \"memory\"").unwrap();
        assert_eq!(c.addr.port(), 1);
        assert_eq!(c.store_kind(), StoreKind::Memory);
    }

    #[test]
    fn store_selection() {
        let mut c = Config::default();
        assert_eq!(c.store_kind(), StoreKind::Sqlite);
        c.apply_env(|n| (n == "DATABASE_URL").then(|| "postgres://secret@db/x".into()))
            .unwrap();
        assert_eq!(c.store_kind(), StoreKind::Postgres);
        assert!(!format!("{c:?}").contains("secret@db"));
        assert!(c
            .apply_env(|n| (n == "DREAM_STORE").then(|| "mysql".into()))
            .is_err());
    }

    #[test]
    fn clerk_webhook_secrets_by_conventional_name() {
        let mut c = Config::default();
        assert!(c.clerk_webhook_secrets().unwrap().is_empty());
        let (one, two) = (SigningSecret::generate(), SigningSecret::generate());
        let both = format!(" {} ,{},", one.expose(), two.expose());
        c.apply_env(|n| (n == "CLERK_WEBHOOK_SECRET").then(|| both.clone()))
            .unwrap();
        assert_eq!(c.clerk_webhook_secrets().unwrap(), vec![one.clone(), two]);
        assert!(!format!("{c:?}").contains(&one.expose()[6..]));

        let bad = format!("{},whsec_n0t*base64", one.expose());
        let err = Config::default()
            .apply_env(|n| (n == "CLERK_WEBHOOK_SECRET").then(|| bad.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CLERK_WEBHOOK_SECRET") && err.contains("entry 2"),
            "{err}"
        );
        assert!(
            !err.contains("n0t") && !err.contains(&one.expose()[6..]),
            "{err}"
        );
    }

    #[test]
    fn stripe_settings_by_conventional_names() {
        let mut c = Config::default();
        assert_eq!(c.stripe_api_base, "https://api.stripe.com");
        c.apply_env(|n| match n {
            "STRIPE_SECRET_KEY" => Some("sk_test_platformsecret".into()),
            "STRIPE_CLIENT_ID" => Some("ca_123".into()),
            "STRIPE_API_BASE" => Some("http://127.0.0.1:12111".into()),
            "DREAM_MASTER_KEY" => Some("ab".repeat(32)),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.stripe_client_id.as_deref(), Some("ca_123"));
        assert_eq!(c.stripe_api_base, "http://127.0.0.1:12111");
        let debug = format!("{c:?}");
        assert!(!debug.contains("platformsecret") && !debug.contains(&"ab".repeat(32)));
        let err = c
            .apply_env(|n| (n == "DREAM_CHECKOUT_SUCCESS_URL").then(|| "not a url".into()))
            .unwrap_err();
        assert!(err.to_string().contains("DREAM_CHECKOUT_SUCCESS_URL"));
        let from_file: Config =
            toml::from_str("stripe_client_id = \"ca_file\"\nstripe_secret_key = \"sk_live_x\"")
                .unwrap();
        assert_eq!(from_file.stripe_client_id.as_deref(), Some("ca_file"));
    }
}
