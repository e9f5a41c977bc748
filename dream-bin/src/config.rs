//! Configuration: defaults, then `dream.toml` (or `DREAM_CONFIG`), then `DREAM_*`
//! environment variables. One typed, validated value.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

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
    /// run it again (`DREAM_IDEMPOTENCY_LOCK_SECS`, default 30).
    pub idempotency_lock_secs: u64,
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
            idempotency_lock_secs: 30,
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
        fn parse<T: std::str::FromStr>(name: &'static str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: fmt::Display,
        {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Env {
                name,
                reason: e.to_string(),
            })
        }
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
        if let Some(v) = var("DREAM_SHUTDOWN_GRACE_SECS") {
            self.shutdown_grace_secs = parse("DREAM_SHUTDOWN_GRACE_SECS", &v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
