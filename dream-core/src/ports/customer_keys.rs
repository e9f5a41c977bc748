//! The customer-key port: API keys a developer issues to their own customers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{CustomerId, CustomerKeyId, CustomerKeyRecord, KeyDigest, StoreError, Tenant};

/// Customer keys (`ck_…`). Only digests of keys are ever passed in. Every method
/// but the lookup by digest is scoped to a tenant, so another tenant's key is
/// exactly as absent as a missing one.
///
/// A minimal backend over a `HashMap`, the shape every real backend follows:
///
/// ```
/// use std::{collections::HashMap, sync::Mutex};
/// use async_trait::async_trait;
/// use chrono::{DateTime, Utc};
/// use dream_core::{ports::CustomerKeyStore, CustomerId, CustomerKeyId, CustomerKeyRecord,
///     KeyDigest, StoreError, Tenant};
///
/// #[derive(Default)]
/// struct MapKeys(Mutex<HashMap<CustomerKeyId, CustomerKeyRecord>>);
///
/// impl MapKeys {
///     fn update(&self, t: &Tenant, id: &CustomerKeyId, f: impl FnOnce(&mut CustomerKeyRecord))
///         -> Option<CustomerKeyRecord> {
///         let mut map = self.0.lock().unwrap();
///         map.get_mut(id).filter(|k| &k.tenant == t).map(|k| { f(k); k.clone() })
///     }
/// }
///
/// #[async_trait]
/// impl CustomerKeyStore for MapKeys {
///     async fn insert_customer_key(&self, key: &CustomerKeyRecord) -> Result<(), StoreError> {
///         let mut map = self.0.lock().unwrap();
///         if map.contains_key(&key.id) || map.values().any(|k| k.digest == key.digest) {
///             return Err(StoreError::Conflict("customer key exists"));
///         }
///         map.insert(key.id.clone(), key.clone());
///         Ok(())
///     }
///     async fn find_customer_key_by_digest(&self, d: &KeyDigest)
///         -> Result<Option<CustomerKeyRecord>, StoreError> {
///         Ok(self.0.lock().unwrap().values().find(|k| k.digest == *d).cloned())
///     }
///     async fn get_customer_key(&self, t: &Tenant, id: &CustomerKeyId)
///         -> Result<Option<CustomerKeyRecord>, StoreError> {
///         Ok(self.0.lock().unwrap().get(id).filter(|k| &k.tenant == t).cloned())
///     }
///     async fn list_customer_keys(&self, t: &Tenant, c: &CustomerId)
///         -> Result<Vec<CustomerKeyRecord>, StoreError> {
///         let map = self.0.lock().unwrap();
///         let mut keys: Vec<_> = map.values()
///             .filter(|k| &k.tenant == t && &k.customer == c).cloned().collect();
///         keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
///         Ok(keys)
///     }
///     async fn revoke_customer_key(&self, t: &Tenant, id: &CustomerKeyId, at: DateTime<Utc>)
///         -> Result<Option<CustomerKeyRecord>, StoreError> {
///         Ok(self.update(t, id, |k| { k.revoked_at.get_or_insert(at); }))
///     }
///     async fn expire_customer_key(&self, t: &Tenant, id: &CustomerKeyId, at: DateTime<Utc>)
///         -> Result<Option<CustomerKeyRecord>, StoreError> {
///         Ok(self.update(t, id, |k| {
///             k.expires_at = Some(k.expires_at.map_or(at, |e| e.min(at)));
///         }))
///     }
/// }
/// ```
#[async_trait]
pub trait CustomerKeyStore: Send + Sync {
    /// Stores a new key. `Conflict` if the id or the digest exists.
    async fn insert_customer_key(&self, key: &CustomerKeyRecord) -> Result<(), StoreError>;

    /// The key with this digest, in any tenant, active or not (the hot path of
    /// verification; the caller checks the tenant).
    async fn find_customer_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<CustomerKeyRecord>, StoreError>;

    /// The tenant's key with this id.
    async fn get_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
    ) -> Result<Option<CustomerKeyRecord>, StoreError>;

    /// One customer's keys, oldest first (revoked and expired ones included).
    async fn list_customer_keys(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Vec<CustomerKeyRecord>, StoreError>;

    /// Marks the tenant's key revoked at `at`, keeping an earlier revocation
    /// time. Returns the updated record, or `None` if the tenant has no such key.
    async fn revoke_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError>;

    /// Makes the tenant's key expire at `at`, keeping an earlier expiry (a roll
    /// never extends a key's life), in one atomic step. Returns the updated
    /// record, or `None` if the tenant has no such key.
    async fn expire_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError>;
}
