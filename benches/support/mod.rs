//! Set-up shared by the benchmarks.

#![allow(dead_code)]

use dream_bin::{Application, Config};
use dream_core::{Interval, Mode, Money, Tenant, Tier, TierKind, UsageLimit};

/// A free recurring tier without a limit, so a benchmark never hits one.
pub fn unlimited_tier() -> Tier {
    Tier {
        name: "unlimited".into(),
        display_name: "Unlimited".into(),
        price: Money {
            amount_minor: 0,
            currency: "usd".into(),
        },
        kind: TierKind::Recurring {
            interval: Interval::Month,
        },
        limit: UsageLimit::Unlimited,
        rate_limit_per_minute: None,
        features: vec![],
        flags: vec![],
        alerts: dream_core::DEFAULT_ALERTS.to_vec(),
        meters: Default::default(),
        grants: None,
        archived: false,
    }
}

/// Starts a server with `config` on a free port, creates a tenant on
/// [`unlimited_tier`], and returns the track URL and a secret key.
pub async fn start_server(mut config: Config) -> (String, String) {
    config.addr = "127.0.0.1:0".parse().expect("addr");
    let app = Application::build(&config).await.expect("app");
    let url = format!("http://127.0.0.1:{}/api/data", app.port());
    let platform = app.dream().create_platform(None).await.expect("platform");
    let tenant = Tenant::new(platform.id, Mode::Test);
    app.dream()
        .configure_tiers(&tenant, vec![unlimited_tier()])
        .await
        .expect("tiers");
    let sk = app
        .dream()
        .issue_key(&tenant, None, None)
        .await
        .expect("key")
        .secret
        .expose_secret()
        .to_owned();
    tokio::spawn(app.run_until(std::future::pending()));
    (url, sk)
}
