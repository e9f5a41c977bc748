//! The configuration's tests: layering, strict values, secrets kept out of errors, and the README's settings table.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// A TOML file with `text`, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(text: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "dream-config-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn defaults_are_valid() {
    let c = Config::default();
    assert_eq!(c.addr, SocketAddr::from(([127, 0, 0, 1], 8787)));
    assert_eq!(c.data_dir, PathBuf::from("./dream-data"));
    assert_eq!(c.database_max_connections, 16);
    assert!(c.auto_migrate && c.webhook_worker && !c.webhook_allow_private);
    assert_eq!(c.max_body_bytes, 1024 * 1024);
    assert_eq!(c.log_format, LogFormat::Pretty);
    assert_eq!(c.access_log, AccessLog::All);
    assert_eq!(c.signup, SignUp::Open);
    assert_eq!(c.webhook_retry_schedule.iter().sum::<u64>(), 99_305);
    assert_eq!(c.webhook_disable_after_secs, 5 * 24 * 3600);
    assert_eq!(c.stripe_api_base, "https://api.stripe.com");
    assert_eq!(c.otel_service_name, "dream");
    assert!(c.admin_token.is_none() && c.otel_exporter_otlp_endpoint.is_none());
    assert_eq!(c.store_kind(), StoreKind::Sqlite);
    // The declared defaults pass the same checks as any configuration.
    assert!(c.clone().checked().is_ok());
}

#[test]
fn webhook_settings_from_env() {
    let mut c = Config::default();
    c.apply_env(env(&[
        ("DREAM_WEBHOOK_RETRY_SCHEDULE", " 1, 2 ,3"),
        ("DREAM_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("DREAM_WEBHOOK_WORKER", "false"),
        ("DREAM_WEBHOOK_POLL_MS", "1"),
    ]))
    .unwrap();
    assert_eq!(c.webhook_retry_schedule, vec![1, 2, 3]);
    assert!(c.webhook_allow_private && !c.webhook_worker);
    assert_eq!(c.webhook_poll_ms, 10, "floor applies");
    for (name, value) in [
        ("DREAM_WEBHOOK_RETRY_SCHEDULE", "5,soon"),
        ("DREAM_WEBHOOK_ALLOW_PRIVATE", "maybe"),
        ("DREAM_WEBHOOK_TIMEOUT_SECS", "600"),
        ("DREAM_WEBHOOK_TIMEOUT_SECS", "-1"),
    ] {
        let err = Config::default()
            .apply_env(env(&[(name, value)]))
            .unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn access_log_takes_its_three_words_only() {
    for (text, expected) in [
        ("all", AccessLog::All),
        ("errors", AccessLog::Errors),
        (" off ", AccessLog::Off),
    ] {
        let c = Config::from_sources(None, env(&[("DREAM_ACCESS_LOG", text)])).unwrap();
        assert_eq!(c.access_log, expected, "{text}");
    }
    for refused in ["none", "false", "ALL", "5xx"] {
        let err = Config::from_sources(None, env(&[("DREAM_ACCESS_LOG", refused)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("DREAM_ACCESS_LOG"), "{refused}: {err}");
    }
    let file = TempFile::new("access_log = \"errors\"");
    assert_eq!(
        Config::from_file(file.path()).unwrap().access_log,
        AccessLog::Errors
    );
}

#[test]
fn signup_is_open_or_closed() {
    let c = Config::from_sources(None, env(&[("DREAM_SIGNUP", "closed")])).unwrap();
    assert_eq!(c.signup, SignUp::Closed);
    for refused in ["invite", "false", "Closed"] {
        let err = Config::from_sources(None, env(&[("DREAM_SIGNUP", refused)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("DREAM_SIGNUP"), "{refused}: {err}");
    }
}

#[test]
fn booleans_are_strict() {
    for accepted in ["true", "false", " true "] {
        Config::from_sources(None, env(&[("DREAM_AUTO_MIGRATE", accepted)])).unwrap();
    }
    for refused in ["1", "0", "yes", "on", "TRUE", "False"] {
        let err = Config::from_sources(None, env(&[("DREAM_AUTO_MIGRATE", refused)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("DREAM_AUTO_MIGRATE"), "{refused}: {err}");
    }
    let file = TempFile::new("auto_migrate = \"yes\"");
    assert!(Config::from_file(file.path()).is_err());
}

#[test]
fn env_overrides_and_errors() {
    let mut c = Config::default();
    c.apply_env(env(&[
        ("DREAM_ADDR", "0.0.0.0:9000"),
        ("DREAM_ADMIN_TOKEN", "s3cr3t-admin"),
    ]))
    .unwrap();
    assert_eq!(c.addr.port(), 9000);
    assert_eq!(c.admin_token.as_ref().unwrap().expose(), "s3cr3t-admin");
    assert!(!format!("{c:?}").contains("s3cr3t"));
    let err = c.apply_env(env(&[("DREAM_ADDR", "nope")])).unwrap_err();
    assert!(err.to_string().contains("DREAM_ADDR"), "{err}");
    // A failed override leaves the configuration as it was.
    assert_eq!(c.addr.port(), 9000);
    // Empty variables count as unset.
    c.apply_env(env(&[("DREAM_ADMIN_TOKEN", ""), ("DREAM_ADDR", " ")]))
        .unwrap();
    assert!(c.admin_token.is_some() && c.addr.port() == 9000);
}

#[test]
fn layers_apply_in_order_and_the_file_rejects_unknown_keys() {
    let file = TempFile::new(
        "addr = \"127.0.0.1:1\"\nstore = \"memory\"\ncache_ttl_ms = 5\nwebhook_retry_schedule = [1, 2]\n\
         stripe_client_id = \"ca_file\"\nstripe_secret_key = \"sk_live_x\"",
    );
    let c = Config::from_file(file.path()).unwrap();
    assert_eq!(c.addr.port(), 1);
    assert_eq!(c.store_kind(), StoreKind::Memory);
    assert_eq!((c.cache_ttl_ms, c.idempotency_lock_secs), (5, 300));
    assert_eq!(c.webhook_retry_schedule, vec![1, 2]);
    assert_eq!(c.stripe_client_id.as_deref(), Some("ca_file"));
    let c = Config::from_sources(
        Some(file.path()),
        env(&[("DREAM_CACHE_TTL_MS", "7"), ("DREAM_STORE", "sqlite")]),
    )
    .unwrap();
    assert_eq!((c.addr.port(), c.cache_ttl_ms), (1, 7), "env over file");
    assert_eq!(c.store_kind(), StoreKind::Sqlite);

    let typo = TempFile::new("adr = \"x\"");
    let err = Config::from_file(typo.path()).unwrap_err().to_string();
    assert!(err.contains("adr"), "{err}");
    let bad = TempFile::new("cache_ttl_ms = \"soon\"");
    let err = Config::from_file(bad.path()).unwrap_err().to_string();
    assert!(
        err.contains(bad.path()) && err.contains("cache_ttl_ms"),
        "{err}"
    );
    let broken = TempFile::new("addr = ");
    assert!(matches!(
        Config::from_file(broken.path()),
        Err(ConfigError::Syntax { .. })
    ));
    assert!(matches!(
        Config::from_file("/nonexistent/dream.toml"),
        Err(ConfigError::Read { .. })
    ));
}

#[test]
fn secrets_never_appear_in_errors() {
    let file = TempFile::new("admin_token = 987654321");
    let err = Config::from_file(file.path()).unwrap_err().to_string();
    assert!(
        err.contains("admin_token") && !err.contains("987654321"),
        "{err}"
    );
}

#[test]
fn store_selection() {
    let mut c = Config::default();
    assert_eq!(c.store_kind(), StoreKind::Sqlite);
    c.apply_env(env(&[("DATABASE_URL", "postgres://secret@db/x")]))
        .unwrap();
    assert_eq!(c.store_kind(), StoreKind::Postgres);
    assert!(!format!("{c:?}").contains("secret@db"));
    c.apply_env(env(&[
        ("DATABASE_URL", "postgres://plain/x"),
        ("DREAM_DATABASE_URL", "postgres://prefixed/x"),
    ]))
    .unwrap();
    assert_eq!(
        c.database_url.as_ref().unwrap().expose(),
        "postgres://prefixed/x",
        "the prefixed alias wins"
    );
    let err = c.apply_env(env(&[("DREAM_STORE", "mysql")])).unwrap_err();
    assert!(err.to_string().contains("DREAM_STORE"), "{err}");
}

#[test]
fn clerk_secrets_bind_to_platforms() {
    let (one, two) = (SigningSecret::generate(), SigningSecret::generate());
    let platform = dream_core::PlatformId::generate();
    let raw = format!("{platform}:{}, {}", one.expose(), two.expose());
    let mut c = Config::default();
    c.apply_env(env(&[("CLERK_WEBHOOK_SECRET", &raw)])).unwrap();
    let endpoints = c.clerk_endpoints().unwrap();
    assert_eq!(endpoints.len(), 2);
    assert_eq!(endpoints[0].secret, one);
    assert_eq!(endpoints[0].platform.as_ref(), Some(&platform));
    assert_eq!(endpoints[1].secret, two);
    assert_eq!(endpoints[1].platform, None);

    let bad = format!("acct_123:{}", one.expose());
    let err = Config::default()
        .apply_env(env(&[("CLERK_WEBHOOK_SECRET", &bad)]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("entry 1") && err.contains("plt_"), "{err}");
    assert!(!err.contains(&one.expose()[6..]), "{err}");
}

#[test]
fn clerk_webhook_secrets_by_conventional_name() {
    let mut c = Config::default();
    assert!(c.clerk_webhook_secrets().unwrap().is_empty());
    let (one, two) = (SigningSecret::generate(), SigningSecret::generate());
    let both = format!(" {} ,{},", one.expose(), two.expose());
    c.apply_env(env(&[("CLERK_WEBHOOK_SECRET", &both)]))
        .unwrap();
    assert_eq!(c.clerk_webhook_secrets().unwrap(), vec![one.clone(), two]);
    assert!(!format!("{c:?}").contains(&one.expose()[6..]));

    let bad = format!("{},whsec_n0t*base64", one.expose());
    let err = Config::default()
        .apply_env(env(&[("CLERK_WEBHOOK_SECRET", &bad)]))
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
fn stripe_and_otel_settings_by_conventional_names() {
    let mut c = Config::default();
    let master = "ab".repeat(32);
    c.apply_env(env(&[
        ("STRIPE_SECRET_KEY", "sk_test_platformsecret"),
        ("STRIPE_CLIENT_ID", "ca_123"),
        ("STRIPE_API_BASE", "http://127.0.0.1:12111"),
        ("DREAM_MASTER_KEY", &master),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_SERVICE_NAME", "dream-eu"),
    ]))
    .unwrap();
    assert_eq!(c.stripe_client_id.as_deref(), Some("ca_123"));
    assert_eq!(c.stripe_api_base, "http://127.0.0.1:12111");
    assert_eq!(
        c.otel_exporter_otlp_endpoint.as_deref(),
        Some("http://127.0.0.1:4318")
    );
    assert_eq!(c.otel_service_name, "dream-eu");
    let debug = format!("{c:?}");
    assert!(!debug.contains("platformsecret") && !debug.contains(&master));
    for name in ["DREAM_CHECKOUT_SUCCESS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"] {
        let err = c.apply_env(env(&[(name, "not a url")])).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

/// The README's settings table: variable names (a row may name several) → the
/// row's default and meaning cells.
fn readme_settings() -> BTreeMap<String, (String, String)> {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("README has a Configuration section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, names, default, meaning, ..] = cells.as_slice() else {
            panic!("README row without three cells: {line}");
        };
        for name in backticked(names) {
            rows.insert(name.to_owned(), (default.to_string(), meaning.to_string()));
        }
    }
    rows
}

fn backticked(cell: &str) -> impl Iterator<Item = &str> {
    cell.split('`').skip(1).step_by(2)
}

#[test]
fn readme_settings_table_matches_the_declared_settings() {
    let readme = readme_settings();
    let declared: BTreeSet<&str> = SETTINGS.iter().map(|s| s.env[0]).collect();
    let documented: BTreeSet<&str> = readme.keys().map(String::as_str).collect();
    assert_eq!(
        documented, declared,
        "README.md's Configuration table and dream-bin/src/config.rs disagree on the names"
    );
    for setting in SETTINGS {
        let name = setting.env[0];
        let (default, meaning) = &readme[name];
        for alias in &setting.env[1..] {
            assert!(
                meaning.contains(&format!("`{alias}`")),
                "README: {name} should mention its alias {alias}"
            );
        }
        let first = backticked(default).next();
        match setting.default {
            Some(declared) => assert_eq!(
                first,
                Some(declared),
                "README default of {name} ({default}) differs from the declared {declared:?}"
            ),
            // Unset, or derived from another setting: the README must say which.
            None => assert!(
                default.starts_with("unset")
                    || backticked(default).any(|t| SETTINGS.iter().any(|s| s.env[0] == t)),
                "README default of {name} is {default:?}, but it has no declared default"
            ),
        }
    }
}

#[test]
fn redis_timeout_is_a_setting_with_a_floor() {
    let mut c = Config::default();
    assert_eq!(c.redis_timeout_ms, 1000);
    c.apply_env(env(&[("DREAM_REDIS_TIMEOUT_MS", "250")]))
        .unwrap();
    assert_eq!(c.redis_timeout_ms, 250);
    // Zero would disable the client's timeout: a stalled Redis must fail closed.
    c.apply_env(env(&[("DREAM_REDIS_TIMEOUT_MS", "0")]))
        .unwrap();
    assert_eq!(c.redis_timeout_ms, 10);
}

#[test]
fn usage_history_retention_is_a_setting_with_a_floor() {
    let mut c = Config::default();
    assert_eq!(c.usage_history_retention_days, 400);
    c.apply_env(env(&[("DREAM_USAGE_HISTORY_RETENTION_DAYS", "30")]))
        .unwrap();
    assert_eq!(c.usage_history_retention_days, 30);
    c.apply_env(env(&[("DREAM_USAGE_HISTORY_RETENTION_DAYS", "0")]))
        .unwrap();
    assert_eq!(c.usage_history_retention_days, 1, "at least a day is kept");
    let err = Config::default()
        .apply_env(env(&[("DREAM_USAGE_HISTORY_RETENTION_DAYS", "forever")]))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("DREAM_USAGE_HISTORY_RETENTION_DAYS"),
        "{err}"
    );
}
