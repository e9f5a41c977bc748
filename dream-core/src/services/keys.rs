//! Issuing, authenticating, listing and revoking key pairs.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{
    AuditAction, CoreError, EventKind, IssuedKey, KeyDigest, KeyId, KeyKind, KeyRecord, Mode,
    PlatformId, Tenant, TokenShape,
};

/// What [`Dream::roll_key`] did.
#[derive(Debug, Clone)]
pub struct RolledKey {
    /// The new pair, with its secret to show once.
    pub issued: IssuedKey,
    /// The old pair, with its new expiry.
    pub old: KeyRecord,
}

/// Longest overlap of a roll: the old key may keep working at most this long.
pub const MAX_ROLL_OVERLAP_SECS: i64 = 30 * 24 * 3600;

use super::Dream;

impl Dream {
    /// Issues a new pair for an existing platform. The secret is in the result and
    /// nowhere else: show it once.
    pub async fn issue_key(
        &self,
        tenant: &Tenant,
        label: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedKey, CoreError> {
        self.platform(&tenant.platform).await?;
        if let Some(label) = &label {
            if label.chars().count() > 100 || label.chars().any(char::is_control) {
                return Err(CoreError::invalid(
                    "/label",
                    "at most 100 characters without control characters",
                ));
            }
        }
        let now = self.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(CoreError::invalid("/expiresAt", "must be in the future"));
        }
        let issued = IssuedKey::generate(tenant.clone(), label, expires_at, now);
        self.stores.keys.insert_key(&issued.record).await?;
        self.emit(
            tenant,
            EventKind::KeyCreated,
            None,
            json!({ "keyId": issued.record.id, "publishableKey": issued.record.publishable_key }),
        )
        .await;
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::KeyCreated,
            Some(issued.record.id.to_string()),
            json!({ "label": issued.record.label, "publishableKey": issued.record.publishable_key,
                    "expiresAt": issued.record.expires_at }),
        )
        .await;
        Ok(issued)
    }

    /// Rolls a pair, as Stripe and Unkey do: issues a new pair for the same tenant
    /// (same label, same expiry) now, and makes the old pair expire after
    /// `overlap` (at once for zero), so clients can switch without downtime. An
    /// earlier expiry of the old pair is kept: a roll never extends a key's life.
    ///
    /// `overlap` is 0 to 30 days (else `InvalidInput` on `/overlapSeconds`).
    /// Unknown pair: `NotFound`; a revoked or expired pair: `Conflict` (there is
    /// nothing left to roll; issue a new pair). The new secret is in the result
    /// only. Two concurrent rolls of one pair both succeed (two new pairs, the
    /// old one expiring at the earlier time): each caller gets a working key.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::{Dream, Mode, Tenant};
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let platform = dream.create_platform(None).await?;
    /// let old = dream.issue_key(&Tenant::new(platform.id, Mode::Test), None, None).await?;
    /// let rolled = dream.roll_key(&old.record.id, chrono::Duration::hours(1)).await?;
    /// assert!(rolled.old.expires_at.is_some());
    /// // Both work during the overlap.
    /// dream.authenticate_secret(old.secret.expose_secret()).await?;
    /// dream.authenticate_secret(rolled.issued.secret.expose_secret()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn roll_key(
        &self,
        id: &KeyId,
        overlap: chrono::Duration,
    ) -> Result<RolledKey, CoreError> {
        if overlap < chrono::Duration::zero()
            || overlap > chrono::Duration::seconds(MAX_ROLL_OVERLAP_SECS)
        {
            return Err(CoreError::invalid(
                "/overlapSeconds",
                format!("must be between 0 and {MAX_ROLL_OVERLAP_SECS} (30 days)"),
            ));
        }
        let old = self
            .stores
            .keys
            .get_key(id)
            .await?
            .ok_or(CoreError::NotFound("key"))?;
        let now = self.now();
        if old.revoked_at.is_some() {
            return Err(CoreError::Conflict(
                "this key is revoked; there is nothing to roll: issue a new key".into(),
            ));
        }
        if !old.is_active(now) {
            return Err(CoreError::Conflict(
                "this key has expired; there is nothing to roll: issue a new key".into(),
            ));
        }
        // The new pair first: if expiring the old one then fails, both still work
        // and the caller can retry, rather than being left with neither.
        let issued =
            IssuedKey::generate(old.tenant.clone(), old.label.clone(), old.expires_at, now);
        self.stores.keys.insert_key(&issued.record).await?;
        let old = self
            .stores
            .keys
            .expire_key(id, now + overlap)
            .await?
            .ok_or(CoreError::NotFound("key"))?;
        self.emit(
            &old.tenant,
            EventKind::KeyCreated,
            None,
            json!({ "keyId": issued.record.id, "publishableKey": issued.record.publishable_key,
                    "rolledFrom": old.id }),
        )
        .await;
        self.record(
            &old.tenant.platform,
            Some(old.tenant.mode),
            AuditAction::KeyRolled,
            Some(old.id.to_string()),
            json!({ "newKeyId": issued.record.id,
                    "newPublishableKey": issued.record.publishable_key,
                    "overlapSeconds": overlap.num_seconds(),
                    "oldExpiresAt": old.expires_at }),
        )
        .await;
        Ok(RolledKey { issued, old })
    }

    /// Authenticates a secret key. Malformed, unknown, revoked and expired keys all
    /// give [`CoreError::InvalidApiKey`]; a publishable key gives
    /// [`CoreError::SecretKeyRequired`].
    pub async fn authenticate_secret(&self, token: &str) -> Result<KeyRecord, CoreError> {
        match TokenShape::of(token) {
            Some(TokenShape {
                kind: KeyKind::Secret,
                ..
            }) => self.active_key_by_digest(&KeyDigest::of(token)).await,
            Some(TokenShape {
                kind: KeyKind::Publishable,
                ..
            }) => Err(CoreError::SecretKeyRequired),
            None => Err(CoreError::InvalidApiKey),
        }
    }

    /// Authenticates either kind of key, for read-only public operations.
    pub async fn authenticate_any(&self, token: &str) -> Result<(KeyRecord, KeyKind), CoreError> {
        let shape = TokenShape::of(token).ok_or(CoreError::InvalidApiKey)?;
        let record = match shape.kind {
            KeyKind::Secret => self.active_key_by_digest(&KeyDigest::of(token)).await?,
            KeyKind::Publishable => {
                let record = self
                    .stores
                    .keys
                    .find_key_by_publishable(token)
                    .await?
                    .ok_or(CoreError::InvalidApiKey)?;
                self.require_active(record)?
            }
        };
        Ok((record, shape.kind))
    }

    async fn active_key_by_digest(&self, digest: &KeyDigest) -> Result<KeyRecord, CoreError> {
        let record = self
            .stores
            .keys
            .find_key_by_digest(digest)
            .await?
            .ok_or(CoreError::InvalidApiKey)?;
        self.require_active(record)
    }

    fn require_active(&self, record: KeyRecord) -> Result<KeyRecord, CoreError> {
        if record.is_active(self.now()) {
            Ok(record)
        } else {
            Err(CoreError::InvalidApiKey)
        }
    }

    /// A platform's pairs (no secrets), oldest first.
    pub async fn list_keys(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
    ) -> Result<Vec<KeyRecord>, CoreError> {
        self.platform(platform).await?;
        Ok(self.stores.keys.list_keys(platform, mode).await?)
    }

    /// One of the platform's pairs; another platform's pair is `NotFound`, exactly
    /// like a missing one. Front doors scoped to a platform (a developer account's
    /// app) check a key with this before revoking or rolling it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::{CoreError, Dream, Mode, Tenant};
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let mine = dream.create_platform(None).await?;
    /// let theirs = dream.create_platform(None).await?;
    /// let key = dream.issue_key(&Tenant::new(theirs.id, Mode::Test), None, None).await?;
    /// assert!(matches!(
    ///     dream.platform_key(&mine.id, &key.record.id).await,
    ///     Err(CoreError::NotFound("key"))
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn platform_key(
        &self,
        platform: &PlatformId,
        id: &KeyId,
    ) -> Result<KeyRecord, CoreError> {
        self.stores
            .keys
            .get_key(id)
            .await?
            .filter(|key| &key.tenant.platform == platform)
            .ok_or(CoreError::NotFound("key"))
    }

    /// Revokes a pair at once. Revoking twice keeps the first time.
    pub async fn revoke_key(&self, id: &KeyId) -> Result<KeyRecord, CoreError> {
        let already = self
            .stores
            .keys
            .get_key(id)
            .await?
            .ok_or(CoreError::NotFound("key"))?
            .revoked_at
            .is_some();
        let record = self
            .stores
            .keys
            .revoke_key(id, self.now())
            .await?
            .ok_or(CoreError::NotFound("key"))?;
        if !already {
            self.emit(
                &record.tenant,
                EventKind::KeyRevoked,
                None,
                json!({ "keyId": record.id, "publishableKey": record.publishable_key }),
            )
            .await;
            self.record(
                &record.tenant.platform,
                Some(record.tenant.mode),
                AuditAction::KeyRevoked,
                Some(record.id.to_string()),
                json!({ "publishableKey": record.publishable_key }),
            )
            .await;
        }
        Ok(record)
    }

    /// Whether the tenant has a pair that authenticates now.
    pub async fn has_active_key(&self, tenant: &Tenant) -> Result<bool, CoreError> {
        Ok(self
            .stores
            .keys
            .count_active_keys(tenant, self.now())
            .await?
            > 0)
    }
}
