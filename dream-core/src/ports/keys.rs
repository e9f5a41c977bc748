//! The key port: key pairs by id, secret digest and publishable key; revocation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{KeyDigest, KeyId, KeyRecord, Mode, PlatformId, StoreError, Tenant};

/// Key pairs. Only digests of secrets are ever passed in.
///
/// A minimal backend over a `HashMap`, the shape every real backend follows:
///
/// ```
/// use std::{collections::HashMap, sync::Mutex};
/// use async_trait::async_trait;
/// use chrono::{DateTime, Utc};
/// use dream_core::{ports::KeyStore, KeyDigest, KeyId, KeyRecord, Mode, PlatformId, StoreError, Tenant};
///
/// #[derive(Default)]
/// struct MapKeys(Mutex<HashMap<KeyId, KeyRecord>>);
///
/// #[async_trait]
/// impl KeyStore for MapKeys {
///     async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
///         self.0.lock().unwrap().insert(key.id.clone(), key.clone());
///         Ok(())
///     }
///     async fn find_key_by_digest(&self, d: &KeyDigest) -> Result<Option<KeyRecord>, StoreError> {
///         Ok(self.0.lock().unwrap().values().find(|k| k.secret_digest == *d).cloned())
///     }
///     async fn find_key_by_publishable(&self, pk: &str) -> Result<Option<KeyRecord>, StoreError> {
///         Ok(self.0.lock().unwrap().values().find(|k| k.publishable_key == pk).cloned())
///     }
///     async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
///         Ok(self.0.lock().unwrap().get(id).cloned())
///     }
///     async fn list_keys(&self, p: &PlatformId, mode: Option<Mode>) -> Result<Vec<KeyRecord>, StoreError> {
///         let map = self.0.lock().unwrap();
///         let mut keys: Vec<_> = map.values()
///             .filter(|k| &k.tenant.platform == p && mode.is_none_or(|m| k.tenant.mode == m))
///             .cloned().collect();
///         keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
///         Ok(keys)
///     }
///     async fn revoke_key(&self, id: &KeyId, at: DateTime<Utc>) -> Result<Option<KeyRecord>, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         Ok(map.get_mut(id).map(|k| {
///             k.revoked_at.get_or_insert(at);
///             k.clone()
///         }))
///     }
///     async fn expire_key(&self, id: &KeyId, at: DateTime<Utc>) -> Result<Option<KeyRecord>, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         Ok(map.get_mut(id).map(|k| {
///             k.expires_at = Some(k.expires_at.map_or(at, |e| e.min(at)));
///             k.clone()
///         }))
///     }
///     async fn count_active_keys(&self, t: &Tenant, now: DateTime<Utc>) -> Result<usize, StoreError> {
///         Ok(self.0.lock().unwrap().values().filter(|k| &k.tenant == t && k.is_active(now)).count())
///     }
/// }
/// ```
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new pair. `Conflict` if the id, digest or publishable key exists.
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// The pair whose secret has this digest (active or not).
    async fn find_key_by_digest(&self, digest: &KeyDigest)
        -> Result<Option<KeyRecord>, StoreError>;

    /// The pair with this publishable key (active or not).
    async fn find_key_by_publishable(
        &self,
        publishable_key: &str,
    ) -> Result<Option<KeyRecord>, StoreError>;

    /// The pair with this id.
    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;

    /// A platform's pairs, oldest first, in one mode or both.
    async fn list_keys(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
    ) -> Result<Vec<KeyRecord>, StoreError>;

    /// Marks the pair revoked at `at`, keeping an earlier revocation time if there is
    /// one. Returns the updated record, or `None` if no such pair exists.
    async fn revoke_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError>;

    /// Makes the pair expire at `at`, keeping an earlier expiry if it has one (a
    /// roll never extends a key's life). Returns the updated record, or `None` if
    /// no such pair exists.
    async fn expire_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError>;

    /// How many of the tenant's pairs authenticate at `now`.
    async fn count_active_keys(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;
}
