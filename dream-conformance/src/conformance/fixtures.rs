//! Shared fixtures: fixed times, fresh platforms and tenants, complete records.

use chrono::{DateTime, Duration, TimeZone, Utc};

use dream_core::{
    ports::Stores, Customer, CustomerId, IssuedKey, KeyRecord, Metadata, Mode, PasswordHash,
    Platform, PlatformId, Tenant,
};

/// The suite's reference instant (a Tuesday in the middle of a month, whole second).
pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .expect("2026-03-10T12:00:00Z is a valid UTC time")
}

/// `t0` plus `secs` seconds.
pub(super) fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

/// `t0` plus `ms` milliseconds.
pub(super) fn at_ms(ms: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(ms)
}

/// Inserts a fresh platform and returns its test and live tenants.
pub(super) async fn new_tenants(store: &Stores) -> (Tenant, Tenant) {
    let platform = Platform {
        id: PlatformId::generate(),
        name: Some("conformance".into()),
        created_at: t0(),
        owner: None,
        deleted_at: None,
    };
    store
        .platforms
        .insert_platform(&platform)
        .await
        .expect("insert_platform of a fresh platform must succeed");
    (
        Tenant::new(platform.id.clone(), Mode::Test),
        Tenant::new(platform.id, Mode::Live),
    )
}

/// A customer with every field set, on plan `free`.
pub(super) fn customer(
    tenant: &Tenant,
    external_id: Option<&str>,
    created_at: DateTime<Utc>,
) -> Customer {
    let mut metadata = Metadata::new();
    metadata.insert("team".into(), "blue".into());
    metadata.insert("seats".into(), "3".into());
    Customer {
        id: CustomerId::generate(),
        tenant: tenant.clone(),
        external_id: external_id.map(str::to_owned),
        email: Some("ada@example.com".into()),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        plan: "free".into(),
        password_hash: Some(PasswordHash::from_phc(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".into(),
        )),
        metadata,
        created_at,
        updated_at: created_at,
    }
}

/// Inserts `customer`, panicking with `what` on failure.
pub(super) async fn insert_customer(store: &Stores, customer: &Customer, what: &str) {
    store
        .customers
        .insert_customer(customer)
        .await
        .unwrap_or_else(|e| panic!("insert_customer ({what}) must succeed, got {e:?}"));
}

/// A fresh key pair record for `tenant`.
pub(super) fn key(
    tenant: &Tenant,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> KeyRecord {
    IssuedKey::generate(
        tenant.clone(),
        Some("production".into()),
        expires_at,
        created_at,
    )
    .record
}
