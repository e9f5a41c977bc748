//! Configuration: defaults, then `dream.toml` (or `DREAM_CONFIG`), then environment
//! variables, layered with `figment` into one typed, validated value.
//!
//! Every setting is declared once, in the [`settings!`] list below: its field, type,
//! default, environment name(s) and doc. The struct, the defaults, the environment
//! mapping and [`SETTINGS`] (which a test compares with the README's table) are all
//! generated from that list. To add a setting, add one entry and a README row.

use std::{net::SocketAddr, path::PathBuf};

use dream_core::{ClerkEndpoint, PlatformId, SignUp, SigningSecret};
use dream_http::AccessLog;
use figment::{
    providers::Serialized,
    value::{Dict, Map, Value},
    Figment, Metadata, Profile, Provider,
};
use serde::{Deserialize, Serialize};

/// Which store keeps the data (usage counters may go to Redis instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A secret string whose `Debug` never shows it.
///
/// `Serialize` does write it: configuration layers pass through serialization
/// (see [`Config::apply_env`]), never through a log.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

/// How an environment variable's text becomes a configuration value. Values from
/// the file are typed already; environment values are text, converted strictly
/// here so that the type's own deserializer has the last word (`"maybe"` stays a
/// string and is refused as a boolean; `1`, `yes` and `on` are not booleans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Taken as it is (addresses, paths, URLs, names, secrets).
    Text,
    /// An unsigned integer.
    Number,
    /// `true` or `false`.
    Flag,
    /// Comma-separated unsigned integers.
    Numbers,
}

/// The [`Kind`] of each configuration field type, and whether it is secret.
pub trait SettingType {
    /// How its environment text is read.
    const KIND: Kind;
    /// Whether errors must not quote its value.
    const SECRET: bool = false;
}

macro_rules! setting_types {
    ($kind:ident: $($ty:ty),*) => { $(impl SettingType for $ty { const KIND: Kind = Kind::$kind; })* };
}
setting_types!(Text: String, PathBuf, SocketAddr, StoreKind, LogFormat, AccessLog, SignUp);
setting_types!(Number: u64, u32, usize);
setting_types!(Flag: bool);
setting_types!(Numbers: Vec<u64>);

impl SettingType for Secret {
    const KIND: Kind = Kind::Text;
    const SECRET: bool = true;
}

impl<T: SettingType> SettingType for Option<T> {
    const KIND: Kind = T::KIND;
    const SECRET: bool = T::SECRET;
}

/// One declared setting.
#[derive(Debug)]
pub struct Setting {
    /// Its key in `dream.toml` (and the field of [`Config`]).
    pub key: &'static str,
    /// Its environment variables: the documented name first, then aliases, which
    /// win when both are set (the prefixed name is the more specific one).
    pub env: &'static [&'static str],
    /// Its default as environment text; `None`: unset, or derived from another
    /// setting (see the field's doc).
    pub default: Option<&'static str>,
    /// How its text is read.
    pub kind: Kind,
    /// Whether it is a secret: errors name it but never quote it.
    pub secret: bool,
    /// What it means.
    pub doc: &'static str,
}

impl Setting {
    /// The name an error should give for this setting: the variable actually set,
    /// else the documented one.
    fn env_name(&self, var: &dyn Fn(&str) -> Option<String>) -> &'static str {
        self.env
            .iter()
            .rev()
            .find(|name| var(name).is_some_and(|v| !v.trim().is_empty()))
            .unwrap_or(&self.env[0])
    }

    /// This setting's value from `var`, if set and not empty (an empty variable
    /// counts as unset, as container tools often pass them).
    fn read_env(&self, var: &dyn Fn(&str) -> Option<String>) -> Option<Value> {
        let raw = self.env.iter().rev().find_map(|name| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })?;
        Some(self.value(&raw))
    }

    fn value(&self, text: &str) -> Value {
        fn number(text: &str) -> Value {
            text.trim()
                .parse::<u64>()
                .map_or_else(|_| Value::from(text.trim().to_owned()), Value::from)
        }
        match self.kind {
            Kind::Text => Value::from(text.to_owned()),
            Kind::Number => number(text),
            Kind::Flag => match text {
                "true" => Value::from(true),
                "false" => Value::from(false),
                other => Value::from(other.to_owned()),
            },
            Kind::Numbers => Value::from(
                text.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(number)
                    .collect::<Vec<Value>>(),
            ),
        }
    }
}

macro_rules! settings {
    (@default) => { None };
    (@default $default:literal) => { Some($default) };
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty $(= $default:literal)?, env $env:literal $(| $alias:literal)*;
    )*) => {
        /// Server configuration: defaults → `dream.toml` → environment.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Config {
            $(
                $(#[doc = $doc])+
                #[doc = ""]
                #[doc = concat!("Environment: `", $env, "`", $(", `", $alias, "`",)* ".")]
                pub $field: $ty,
            )*
        }

        /// Every setting, as declared.
        pub static SETTINGS: &[Setting] = &[$(
            Setting {
                key: stringify!($field),
                env: &[$env $(, $alias)*],
                default: settings!(@default $($default)?),
                kind: <$ty as SettingType>::KIND,
                secret: <$ty as SettingType>::SECRET,
                doc: concat!($($doc, "\n"),+),
            },
        )*];
    };
}

settings! {
    /// Listen address.
    addr: SocketAddr = "127.0.0.1:8787", env "DREAM_ADDR";
    /// Operator token for `/create-products` and `/admin/*`; unset disables the admin API.
    admin_token: Option<Secret>, env "DREAM_ADMIN_TOKEN";
    /// Store backend: `postgres` when `database_url` is set, else `sqlite`; `memory`
    /// on request.
    store: Option<StoreKind>, env "DREAM_STORE";
    /// Where the SQLite store keeps its file.
    data_dir: PathBuf = "./dream-data", env "DREAM_DATA_DIR";
    /// PostgreSQL URL.
    database_url: Option<Secret>, env "DATABASE_URL" | "DREAM_DATABASE_URL";
    /// Pool size per process for PostgreSQL.
    database_max_connections: u32 = "16", env "DREAM_DATABASE_MAX_CONNECTIONS";
    /// Group commit of the SQL stores' consumes, in µs: how long consumes queued
    /// behind busy batches wait before they are sent anyway (PostgreSQL); 0 turns
    /// group commit off (every consume its own transaction).
    group_commit_micros: u64 = "200", env "DREAM_GROUP_COMMIT_MICROS";
    /// Apply pending migrations at start-up. With false, a server whose database is
    /// behind refuses to start: run `dream migrate`.
    auto_migrate: bool = "true", env "DREAM_AUTO_MIGRATE";
    /// Redis URL for usage counters and rate windows; everything else stays in the
    /// main store.
    redis_url: Option<Secret>, env "REDIS_URL" | "DREAM_REDIS_URL";
    /// Milliseconds to wait for Redis (each connection attempt and each reply)
    /// before a tracked call fails closed with 503.
    redis_timeout_ms: u64 = "1000", env "DREAM_REDIS_TIMEOUT_MS";
    /// How long (ms) a process may keep a key record, tier configuration or
    /// customer cached: the bound on how long another process still accepts a key
    /// revoked elsewhere or applies a plan changed elsewhere.
    cache_ttl_ms: u64 = "1000", env "DREAM_CACHE_TTL_MS";
    /// Megabytes the customer cache may hold (weighed per customer).
    customer_cache_mb: u64 = "128", env "DREAM_CUSTOMER_CACHE_MB";
    /// Seconds an unfinished request holds its `Idempotency-Key` before a retry may
    /// run it again: longer than a Stripe call with all its retries (243.5 s).
    idempotency_lock_secs: u64 = "300", env "DREAM_IDEMPOTENCY_LOCK_SECS";
    /// Password hashes (Argon2id, 19 MiB each) computed at once; unset: the number
    /// of CPUs.
    hash_concurrency: Option<usize>, env "DREAM_HASH_CONCURRENCY";
    /// Milliseconds a request waits for a hashing slot before 503 `busy`.
    hash_queue_ms: u64 = "2000", env "DREAM_HASH_QUEUE_MS";
    /// Most customers one app may have per mode; unset: no cap. Enforced atomically
    /// in the store (every process must use the same value).
    max_customers_per_tenant: Option<u64>, env "DREAM_MAX_CUSTOMERS_PER_TENANT";
    /// Largest request body in bytes.
    max_body_bytes: usize = "1048576", env "DREAM_MAX_BODY_BYTES";
    /// Log format, `pretty` or `json`; filter with `RUST_LOG`.
    log_format: LogFormat = "pretty", env "DREAM_LOG_FORMAT";
    /// Which requests get an access log line: `all`, `errors` (status 400 and
    /// above) or `off`. Other log lines are written either way.
    access_log: AccessLog = "all", env "DREAM_ACCESS_LOG";
    /// Seconds to let in-flight requests finish on SIGTERM.
    shutdown_grace_secs: u64 = "10", env "DREAM_SHUTDOWN_GRACE_SECS";
    /// OTLP/HTTP collector base URL (`/v1/traces` is appended); set, request spans
    /// are exported as OpenTelemetry traces. Unset: no export.
    otel_exporter_otlp_endpoint: Option<String>, env "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// `service.name` of exported traces.
    otel_service_name: String = "dream", env "OTEL_SERVICE_NAME";
    /// The operator's Stripe platform key: `sk_live_…` bills live tenants,
    /// `sk_test_…` test tenants. Unset: billing answers 503 `billing_not_configured`
    /// (direct mode still works with a master key).
    stripe_secret_key: Option<Secret>, env "STRIPE_SECRET_KEY";
    /// A second platform key for test mode, so one server bills both modes.
    stripe_test_secret_key: Option<Secret>, env "STRIPE_TEST_SECRET_KEY";
    /// The Connect client id, `ca_…`, for `/authorize`.
    stripe_client_id: Option<String>, env "STRIPE_CLIENT_ID";
    /// The test-mode Connect client id, when Stripe gives a separate one; test-mode
    /// onboarding falls back to `stripe_client_id`.
    stripe_test_client_id: Option<String>, env "STRIPE_TEST_CLIENT_ID";
    /// Stripe's API base.
    stripe_api_base: String = "https://api.stripe.com", env "STRIPE_API_BASE";
    /// Stripe Connect's OAuth base.
    stripe_connect_base: String = "https://connect.stripe.com", env "STRIPE_CONNECT_BASE";
    /// 64 hex characters sealing direct-mode Stripe keys.
    master_key: Option<Secret>, env "DREAM_MASTER_KEY";
    /// This server's public base URL, used to tell Stripe where `/callback` is;
    /// unset uses the redirect URI set in the Connect settings.
    public_url: Option<String>, env "DREAM_PUBLIC_URL";
    /// Where `/callback` sends the developer afterwards.
    dashboard_url: Option<String>, env "DREAM_DASHBOARD_URL";
    /// More origins (`https://dash.example.com`), comma-separated, that may make
    /// cookie-authenticated writes to `/account/…` besides this server's own.
    trusted_origins: Option<String>, env "DREAM_TRUSTED_ORIGINS";
    /// Who may create a developer account: `open` (anyone, by signing up) or
    /// `closed` (sign-up answers 403; the operator creates accounts with
    /// `POST /admin/accounts`).
    signup: SignUp = "open", env "DREAM_SIGNUP";
    /// Seconds a developer's session may stay unused before it ends.
    session_idle_secs: u64 = "86400", env "DREAM_SESSION_IDLE_SECS";
    /// Seconds after login a developer's session ends, however busy.
    session_absolute_secs: u64 = "2592000", env "DREAM_SESSION_ABSOLUTE_SECS";
    /// Seconds an end customer's access token (JWT) is valid; it cannot be
    /// revoked, so keep it short.
    access_token_ttl_secs: u64 = "900", env "DREAM_ACCESS_TOKEN_TTL_SECS";
    /// Days an end customer's sign-in lasts at most, however often its refresh
    /// token is rotated.
    refresh_token_ttl_days: u64 = "30", env "DREAM_REFRESH_TOKEN_TTL_DAYS";
    /// One of this deployment's platforms (`plt_…`) whose customers developer
    /// accounts are: the plan gate. Unset: no gate, live mode open to every account.
    house_platform: Option<String>, env "DREAM_HOUSE_PLATFORM";
    /// The house platform's tier that opens live mode; unset: its first paid tier.
    house_live_tier: Option<String>, env "DREAM_HOUSE_LIVE_TIER";
    /// Default checkout `successUrl`.
    checkout_success_url: Option<String>, env "DREAM_CHECKOUT_SUCCESS_URL";
    /// Default checkout `cancelUrl`.
    checkout_cancel_url: Option<String>, env "DREAM_CHECKOUT_CANCEL_URL";
    /// The Connect webhook endpoint's signing secret(s), `whsec_…`, comma-separated
    /// during rotation.
    stripe_webhook_secret: Option<Secret>, env "STRIPE_WEBHOOK_SECRET";
    /// Seconds a webhook signature stays valid.
    stripe_webhook_tolerance_secs: u64 = "300", env "STRIPE_WEBHOOK_TOLERANCE_SECS";
    /// The Clerk webhook endpoints' signing secrets, `whsec_…`, comma-separated
    /// (several endpoints, or one during rotation); `plt_…:whsec_…` binds a secret
    /// to the one platform its events may change. Unset: `/webhook/clerk` answers 503.
    clerk_webhook_secret: Option<Secret>, env "CLERK_WEBHOOK_SECRET";
    /// Deliver developer webhooks from this process. Any number of processes may
    /// deliver: claims are leased in the store.
    webhook_worker: bool = "true", env "DREAM_WEBHOOK_WORKER";
    /// Allow endpoints on loopback/private/link-local addresses (off: refusing them
    /// stops tenants from making the server call its own network).
    webhook_allow_private: bool = "false", env "DREAM_WEBHOOK_ALLOW_PRIVATE";
    /// Seconds to wait before each retry (8 attempts over about 27.5 hours by
    /// default). Each wait varies by ±10 %.
    webhook_retry_schedule: Vec<u64> = "5,300,1800,7200,18000,36000,36000",
        env "DREAM_WEBHOOK_RETRY_SCHEDULE";
    /// An endpoint failing without a success for this many seconds is disabled.
    webhook_disable_after_secs: u64 = "432000", env "DREAM_WEBHOOK_DISABLE_AFTER_SECS";
    /// Seconds to wait for an endpoint's response (1 to 60).
    webhook_timeout_secs: u64 = "15", env "DREAM_WEBHOOK_TIMEOUT_SECS";
    /// How often (ms, at least 10) an idle worker looks for due deliveries.
    webhook_poll_ms: u64 = "1000", env "DREAM_WEBHOOK_POLL_MS";
    /// Days (at least 1) finished deliveries stay in the delivery log.
    webhook_log_retention_days: u64 = "30", env "DREAM_WEBHOOK_LOG_RETENTION_DAYS";
    /// Days (at least 1) events stay in the event log; events a delivery still
    /// refers to stay until it is purged. Swept by the delivery worker.
    event_retention_days: u64 = "400", env "DREAM_EVENT_RETENTION_DAYS";
    /// Days (at least 1) hourly and daily usage history is kept; older buckets
    /// are deleted by the expiry sweep.
    usage_history_retention_days: u32 = "400", env "DREAM_USAGE_HISTORY_RETENTION_DAYS";
    /// Seconds (at least 1) between passes of the expiry sweep, which releases
    /// expired inventory holds, deletes expired Connect onboarding states and
    /// usage history past its retention.
    sweep_interval_secs: u64 = "300", env "DREAM_SWEEP_INTERVAL_SECS";
    /// Most rows of each kind one sweep pass removes (at least 1); a full batch
    /// is followed at once by another pass.
    sweep_batch: usize = "500", env "DREAM_SWEEP_BATCH";
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
    /// The file is not TOML.
    #[error("invalid {path}: {source}")]
    Syntax {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: toml::de::Error,
    },
    /// A value in the file is not valid.
    #[error("invalid {path}: {reason}")]
    File {
        /// Path.
        path: String,
        /// The key and why.
        reason: String,
    },
    /// An environment variable (or the setting it names) is not valid.
    #[error("invalid {name}: {reason}")]
    Env {
        /// Variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// One layer of configuration, named so that errors can say where a bad value
/// came from.
struct Layer {
    name: String,
    values: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

const DEFAULTS: &str = "defaults";
const ENVIRONMENT: &str = "environment";

impl Layer {
    fn defaults() -> Self {
        let values = SETTINGS
            .iter()
            .filter_map(|s| Some((s.key.to_owned(), s.value(s.default?))))
            .collect();
        Self {
            name: DEFAULTS.into(),
            values,
        }
    }

    fn env(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let values = SETTINGS
            .iter()
            .filter_map(|s| Some((s.key.to_owned(), s.read_env(var)?)))
            .collect();
        Self {
            name: ENVIRONMENT.into(),
            values,
        }
    }

    fn file(path: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let values = toml::from_str::<Dict>(&text).map_err(|source| ConfigError::Syntax {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            name: path.to_owned(),
            values,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        // The declared defaults are constants; `defaults_are_valid` proves they parse.
        Figment::from(Layer::defaults())
            .extract()
            .expect("the declared defaults parse")
    }
}

/// Turns figment's error into one that names the setting (by its environment
/// variable, or its key in the file) and never quotes a secret.
fn config_error(err: figment::Error, var: &dyn Fn(&str) -> Option<String>) -> ConfigError {
    let setting = err
        .path
        .first()
        .and_then(|key| SETTINGS.iter().find(|s| s.key == key));
    let reason = match setting {
        Some(s) if s.secret => "not a valid value".to_owned(),
        _ => err.kind.to_string(),
    };
    let source = err.metadata.as_ref().map(|m| m.name.as_ref());
    match (source, setting) {
        (Some(ENVIRONMENT | DEFAULTS), Some(s)) | (None, Some(s)) => ConfigError::Env {
            name: s.env_name(var),
            reason,
        },
        (Some(path), _) => ConfigError::File {
            path: path.to_owned(),
            reason: match setting {
                Some(s) => format!("{}: {reason}", s.key),
                None => reason,
            },
        },
        (None, None) => ConfigError::File {
            path: "configuration".into(),
            reason,
        },
    }
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
        let file = (explicit.is_some() || std::path::Path::new(&path).exists()).then_some(path);
        Self::from_sources(file.as_deref(), |name| std::env::var(name).ok())
    }

    /// Loads defaults → the file at `file` (if any) → variables read through `var`.
    pub fn from_sources(
        file: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Layer::defaults());
        if let Some(path) = file {
            figment = figment.merge(Layer::file(path)?);
        }
        figment
            .merge(Layer::env(&var))
            .extract::<Self>()
            .map_err(|err| config_error(err, &var))?
            .checked()
    }

    /// Parses a TOML file over the defaults.
    pub fn from_file(path: &str) -> Result<Self, ConfigError> {
        Self::from_sources(Some(path), |_| None)
    }

    /// Overrides settings from environment variables read through `var` (tests and
    /// benches configure a server this way).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let layered = Figment::from(Serialized::defaults(&*self))
            .merge(Layer::env(&var))
            .extract::<Self>()
            .map_err(|err| config_error(err, &var))?
            .checked()?;
        *self = layered;
        Ok(())
    }

    /// Checks what types cannot say, and applies the documented floors.
    fn checked(mut self) -> Result<Self, ConfigError> {
        if !(1..=60).contains(&self.webhook_timeout_secs) {
            return Err(ConfigError::Env {
                name: "DREAM_WEBHOOK_TIMEOUT_SECS",
                reason: "must be between 1 and 60".into(),
            });
        }
        self.webhook_log_retention_days = self.webhook_log_retention_days.max(1);
        self.event_retention_days = self.event_retention_days.max(1);
        self.usage_history_retention_days = self.usage_history_retention_days.max(1);
        self.sweep_interval_secs = self.sweep_interval_secs.max(1);
        self.sweep_batch = self.sweep_batch.max(1);
        self.webhook_poll_ms = self.webhook_poll_ms.max(10);
        // Zero would mean "no timeout" to the Redis client: a stalled Redis would
        // stall every tracked call instead of failing closed.
        self.redis_timeout_ms = self.redis_timeout_ms.max(10);
        self.validate_urls()?;
        self.trusted_origins()?;
        self.house()?;
        if self.session_idle_secs == 0 || self.session_absolute_secs == 0 {
            return Err(ConfigError::Env {
                name: "DREAM_SESSION_IDLE_SECS",
                reason: "session lifetimes must be at least 1 second".into(),
            });
        }
        if !(1..=86_400).contains(&self.access_token_ttl_secs) {
            return Err(ConfigError::Env {
                name: "DREAM_ACCESS_TOKEN_TTL_SECS",
                reason: "must be between 1 and 86400 seconds".into(),
            });
        }
        if !(1..=3650).contains(&self.refresh_token_ttl_days) {
            return Err(ConfigError::Env {
                name: "DREAM_REFRESH_TOKEN_TTL_DAYS",
                reason: "must be between 1 and 3650 days".into(),
            });
        }
        // At load time, so a bad secret (from the file or the environment) stops
        // the server at start-up instead of failing every delivery.
        self.clerk_webhook_secrets()?;
        Ok(self)
    }

    /// The parsed `DREAM_TRUSTED_ORIGINS` (empty when unset): absolute http(s) origins.
    pub fn trusted_origins(&self) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = &self.trusted_origins else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                dream_core::validate_redirect_url("DREAM_TRUSTED_ORIGINS", origin)
                    .map(|()| origin.trim_end_matches('/').to_owned())
                    .map_err(|_| ConfigError::Env {
                        name: "DREAM_TRUSTED_ORIGINS",
                        reason: "each origin must be an absolute http(s) URL".into(),
                    })
            })
            .collect()
    }

    /// The plan gate's house platform (`DREAM_HOUSE_PLATFORM`), if set.
    pub fn house(&self) -> Result<Option<dream_core::HousePlatform>, ConfigError> {
        let Some(raw) = &self.house_platform else {
            return Ok(None);
        };
        let platform = PlatformId::parse(raw.trim()).ok_or_else(|| ConfigError::Env {
            name: "DREAM_HOUSE_PLATFORM",
            reason: "must be a platform id (plt_…)".into(),
        })?;
        Ok(Some(dream_core::HousePlatform {
            platform,
            live_tier: self.house_live_tier.clone(),
        }))
    }

    /// The parsed `CLERK_WEBHOOK_SECRET` entries' secrets (empty when unset).
    pub fn clerk_webhook_secrets(&self) -> Result<Vec<SigningSecret>, ConfigError> {
        Ok(self
            .clerk_endpoints()?
            .into_iter()
            .map(|e| e.secret)
            .collect())
    }

    /// The parsed `CLERK_WEBHOOK_SECRET` entries: `whsec_…`, or `plt_…:whsec_…`
    /// bound to a platform (empty when unset). A bad entry is an error naming the
    /// variable and the entry's position, never its value.
    pub fn clerk_endpoints(&self) -> Result<Vec<ClerkEndpoint>, ConfigError> {
        let Some(raw) = &self.clerk_webhook_secret else {
            return Ok(Vec::new());
        };
        let bad = |i: usize, what: &str| ConfigError::Env {
            name: "CLERK_WEBHOOK_SECRET",
            reason: format!("entry {} {what}", i + 1),
        };
        raw.expose()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(i, entry)| {
                // base64 never holds `:`, so it can only separate a platform.
                let (platform, secret) = match entry.split_once(':') {
                    Some((platform, secret)) => {
                        let platform = PlatformId::parse(platform.trim()).ok_or_else(|| {
                            bad(i, "binds to something that is not a platform id (plt_…)")
                        })?;
                        (Some(platform), secret.trim())
                    }
                    None => (None, entry),
                };
                let secret = SigningSecret::parse(secret).map_err(|_| {
                    bad(
                        i,
                        "is not a signing secret: expected `whsec_` followed by base64 \
                         (copy it from the Clerk dashboard's webhook endpoint), optionally \
                         after `plt_…:`",
                    )
                })?;
                Ok(ClerkEndpoint { secret, platform })
            })
            .collect()
    }

    /// URLs must be absolute http(s): a typo here would otherwise surface as a
    /// confusing Stripe error on the first checkout (or silently lost traces).
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
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                self.otel_exporter_otlp_endpoint.as_ref(),
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
mod tests;
