//! Key pairs in PostgreSQL: secret keys by digest, publishable keys, revocation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::KeyStore, KeyDigest, KeyId, KeyRecord, Mode, PlatformId, StoreError, Tenant,
};
use sqlx::{postgres::PgRow, Row};

use super::PostgresStore;
use crate::sql::{backend, classify, corrupt, digest, mode_str, parse_mode};

macro_rules! key_columns {
    () => {
        "id, platform_id, mode, publishable_key, secret_digest, secret_hint, \
                           label, created_at, expires_at, revoked_at"
    };
}

fn key_from_row(row: &PgRow) -> Result<KeyRecord, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let platform: String = row.try_get("platform_id").map_err(backend)?;
    let mode: String = row.try_get("mode").map_err(backend)?;
    let digest_bytes: Vec<u8> = row.try_get("secret_digest").map_err(backend)?;
    Ok(KeyRecord {
        id: KeyId::parse(&id).ok_or_else(|| corrupt(format!("bad key id {id:?}")))?,
        tenant: Tenant::new(
            PlatformId::parse(&platform)
                .ok_or_else(|| corrupt(format!("bad platform id {platform:?}")))?,
            parse_mode(&mode)?,
        ),
        publishable_key: row.try_get("publishable_key").map_err(backend)?,
        secret_digest: digest(&digest_bytes)?,
        secret_hint: row.try_get("secret_hint").map_err(backend)?,
        label: row.try_get("label").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        revoked_at: row.try_get("revoked_at").map_err(backend)?,
    })
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO api_keys (",
            key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(key.id.as_str())
        .bind(key.tenant.platform.as_str())
        .bind(mode_str(key.tenant.mode))
        .bind(&key.publishable_key)
        .bind(key.secret_digest.0.as_slice())
        .bind(&key.secret_hint)
        .bind(&key.label)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.revoked_at)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "key exists"))?;
        Ok(())
    }

    async fn find_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE secret_digest = $1"
        ))
        .bind(digest.0.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    async fn find_key_by_publishable(
        &self,
        publishable_key: &str,
    ) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE publishable_key = $1"
        ))
        .bind(publishable_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    async fn list_keys(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE platform_id = $1 \
             AND ($2::TEXT IS NULL OR mode = $2) ORDER BY created_at, id"
        ))
        .bind(platform.as_str())
        .bind(mode.map(mode_str))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(key_from_row)
        .collect()
    }

    async fn revoke_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query(concat!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
             RETURNING ",
            key_columns!()
        ))
        .bind(id.as_str())
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    async fn expire_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        // One statement: a concurrent roll or expiry can only make it earlier.
        sqlx::query(concat!(
            "UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > $2 \
             THEN $2 ELSE expires_at END WHERE id = $1 RETURNING ",
            key_columns!()
        ))
        .bind(id.as_str())
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    async fn count_active_keys(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM api_keys WHERE platform_id = $1 AND mode = $2 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(n as usize)
    }
}
