//! Issuing, authenticating, listing and revoking key pairs.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{
    CoreError, EventKind, IssuedKey, KeyDigest, KeyId, KeyKind, KeyRecord, Mode, PlatformId,
    Tenant, TokenShape,
};

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
        Ok(issued)
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
