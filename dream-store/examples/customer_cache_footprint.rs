//! Measures what the customer cache really costs per customer, to check the
//! weights its budget is counted in (`customer_weight`).
//!
//! `cargo run --release -p dream-store --features cache --example customer_cache_footprint [count]`
//!
//! Fills the cache with `count` (default 1,000,000) typical customers through a
//! store that makes them up on request (so the store itself holds nothing), then
//! prints the resident memory the process grew by beside the summed weights.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::{CustomerStore, Stores},
    Customer, CustomerId, CustomerQuery, Event, Mode, Page, PageRequest, PlatformId, StoreError,
    Tenant,
};
use dream_store::{cached_with, customer_weight, MemoryStore};

/// Answers every lookup by external id with a new typical customer.
struct MadeUp;

fn typical(tenant: &Tenant, external_id: &str) -> Customer {
    let now = Utc::now();
    Customer {
        id: CustomerId::generate(),
        tenant: tenant.clone(),
        external_id: Some(external_id.to_owned()),
        email: Some(format!("{external_id}@example.com")),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        plan: "pro".into(),
        password_hash: None,
        metadata: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    }
}

fn unsupported() -> StoreError {
    StoreError::Conflict("not part of this measurement")
}

#[async_trait]
impl CustomerStore for MadeUp {
    async fn insert_customer(&self, _: &Customer) -> Result<(), StoreError> {
        Err(unsupported())
    }
    async fn insert_customer_capped(&self, _: &Customer, _: u64) -> Result<bool, StoreError> {
        Err(unsupported())
    }
    async fn insert_customer_with_event(
        &self,
        _: &Customer,
        _: Option<u64>,
        _: &Event,
    ) -> Result<bool, StoreError> {
        Err(unsupported())
    }
    async fn get_customer(
        &self,
        _: &Tenant,
        _: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        Ok(None)
    }
    async fn find_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        Ok(Some(typical(tenant, external_id)))
    }
    async fn update_customer(&self, _: &Customer) -> Result<(), StoreError> {
        Err(unsupported())
    }
    async fn change_customer_plan(
        &self,
        _: &Tenant,
        _: &CustomerId,
        _: &str,
        _: DateTime<Utc>,
        _: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<String, StoreError> {
        Err(unsupported())
    }
    async fn delete_customer(&self, _: &Tenant, _: &CustomerId) -> Result<bool, StoreError> {
        Err(unsupported())
    }
    async fn list_customers(
        &self,
        _: &Tenant,
        _: &CustomerQuery,
        _: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        Err(unsupported())
    }
    async fn plan_counts(&self, _: &Tenant) -> Result<BTreeMap<String, u64>, StoreError> {
        Err(unsupported())
    }
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), StoreError> {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut stores = Stores::new(Arc::new(MemoryStore::new()));
    stores.customers = Arc::new(MadeUp);
    // A budget far above the need, so nothing is evicted while measuring.
    let stores = cached_with(stores, Duration::from_secs(3600), 1 << 40);
    let tenant = Tenant::new(PlatformId::generate(), Mode::Live);
    let before = resident_bytes();
    let mut weights = 0u64;
    for i in 0..count {
        let external_id = format!("user_{i:015}");
        if let Some(customer) = stores
            .customers
            .find_customer_by_external_id(&tenant, &external_id)
            .await?
        {
            weights += u64::from(customer_weight(&customer));
        }
    }
    // Every lookup again: all hits, nothing new is held.
    for i in 0..count {
        let external_id = format!("user_{i:015}");
        stores
            .customers
            .find_customer_by_external_id(&tenant, &external_id)
            .await?;
    }
    let grown = resident_bytes().saturating_sub(before);
    println!(
        "{count} customers: resident memory grew {:.1} MB ({} bytes each); \
         customer_weight says {} bytes each",
        grown as f64 / 1e6,
        grown / count.max(1),
        weights / count.max(1),
    );
    Ok(())
}
