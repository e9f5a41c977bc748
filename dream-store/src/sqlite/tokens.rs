//! Refresh families and signing keys on SQLite. Rotation and revocation run in
//! `BEGIN IMMEDIATE` transactions on the writer, so deciding and writing cannot
//! interleave with another writer in any process on the file.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::TokenStore, CustomerId, PlatformId, RefreshDigest, RefreshFamily, RefreshFamilyId,
    RefreshOutcome, SigningKeyRecord, StoreError, StoredPrivateKey, Tenant,
};
use sqlx::{sqlite::SqliteRow, Row};

use super::{from_opt_ts, from_ts, ts, SqliteStore};
use crate::sql::{backend, classify, corrupt, digest, mode_str, parse_mode};

macro_rules! key_columns {
    () => {
        "kid, alg, public_key, private_key, created_at, retired_at"
    };
}

fn family_from_row(row: &SqliteRow) -> Result<(RefreshFamily, RefreshDigest), StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let platform: String = row.try_get("platform_id").map_err(backend)?;
    let mode: String = row.try_get("mode").map_err(backend)?;
    let customer: String = row.try_get("customer_id").map_err(backend)?;
    let current: Vec<u8> = row.try_get("current_digest").map_err(backend)?;
    Ok((
        RefreshFamily {
            id: RefreshFamilyId::parse(&id)
                .ok_or_else(|| corrupt(format!("bad refresh family id {id:?}")))?,
            tenant: Tenant::new(
                PlatformId::parse(&platform)
                    .ok_or_else(|| corrupt(format!("bad platform id {platform:?}")))?,
                parse_mode(&mode)?,
            ),
            customer: CustomerId::parse(&customer)
                .ok_or_else(|| corrupt(format!("bad customer id {customer:?}")))?,
            created_at: from_ts(row.try_get("created_at").map_err(backend)?)?,
            expires_at: from_ts(row.try_get("expires_at").map_err(backend)?)?,
            revoked_at: from_opt_ts(row.try_get("revoked_at").map_err(backend)?)?,
        },
        RefreshDigest(digest(&current)?.0),
    ))
}

fn key_from_row(row: &SqliteRow) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid: row.try_get("kid").map_err(backend)?,
        alg: row.try_get("alg").map_err(backend)?,
        public_key: row.try_get("public_key").map_err(backend)?,
        private_key: StoredPrivateKey::from_stored(row.try_get("private_key").map_err(backend)?),
        created_at: from_ts(row.try_get("created_at").map_err(backend)?)?,
        retired_at: from_opt_ts(row.try_get("retired_at").map_err(backend)?)?,
    })
}

const FAMILY_OF_TOKEN: &str = "SELECT f.id, f.platform_id, f.mode, f.customer_id, \
     f.current_digest, f.created_at, f.expires_at, f.revoked_at \
     FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
     WHERE t.digest = ?1 AND f.platform_id = ?2 AND f.mode = ?3";

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_refresh_family(
        &self,
        family: &RefreshFamily,
        first: &RefreshDigest,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO refresh_families (id, platform_id, mode, customer_id, current_digest, \
             created_at, expires_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(family.id.as_str())
        .bind(family.tenant.platform.as_str())
        .bind(mode_str(family.tenant.mode))
        .bind(family.customer.as_str())
        .bind(first.0.to_vec())
        .bind(ts(family.created_at))
        .bind(ts(family.expires_at))
        .bind(family.revoked_at.map(ts))
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "refresh family exists"))?;
        sqlx::query("INSERT INTO refresh_tokens (digest, family_id) VALUES (?1, ?2)")
            .bind(first.0.to_vec())
            .bind(family.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, "refresh token exists"))?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        tenant: &Tenant,
        presented: &RefreshDigest,
        next: &RefreshDigest,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let row = sqlx::query(FAMILY_OF_TOKEN)
            .bind(presented.0.to_vec())
            .bind(tenant.platform.as_str())
            .bind(mode_str(tenant.mode))
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let Some((family, current)) = row.as_ref().map(family_from_row).transpose()? else {
            return Ok(RefreshOutcome::Unknown);
        };
        if family.revoked_at.is_some() || now >= family.expires_at {
            return Ok(RefreshOutcome::Ended);
        }
        if current != *presented {
            sqlx::query("UPDATE refresh_families SET revoked_at = ?2 WHERE id = ?1")
                .bind(family.id.as_str())
                .bind(ts(now))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            return Ok(RefreshOutcome::Reused);
        }
        sqlx::query("UPDATE refresh_families SET current_digest = ?2 WHERE id = ?1")
            .bind(family.id.as_str())
            .bind(next.0.to_vec())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("INSERT INTO refresh_tokens (digest, family_id) VALUES (?1, ?2)")
            .bind(next.0.to_vec())
            .bind(family.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, "refresh token exists"))?;
        tx.commit().await.map_err(backend)?;
        Ok(RefreshOutcome::Rotated(family))
    }

    async fn revoke_refresh_family(
        &self,
        tenant: &Tenant,
        presented: &RefreshDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_families SET revoked_at = ?4 \
             WHERE id = (SELECT family_id FROM refresh_tokens WHERE digest = ?1) \
             AND platform_id = ?2 AND mode = ?3 AND revoked_at IS NULL AND expires_at > ?4",
        )
        .bind(presented.0.to_vec())
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(ts(now))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_customer_refresh_families(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_families SET revoked_at = ?4 \
             WHERE platform_id = ?1 AND mode = ?2 AND customer_id = ?3 \
             AND revoked_at IS NULL AND expires_at > ?4",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .bind(ts(now))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn delete_lapsed_refresh_families(
        &self,
        now: DateTime<Utc>,
        batch: usize,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM refresh_families \
             WHERE revoked_at IS NOT NULL OR expires_at <= ?1 LIMIT ?2",
        )
        .bind(ts(now))
        .bind(i64::try_from(batch).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for id in &ids {
            sqlx::query("DELETE FROM refresh_tokens WHERE family_id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("DELETE FROM refresh_families WHERE id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(ids.len() as u64)
    }

    async fn insert_signing_key_if_absent(
        &self,
        key: &SigningKeyRecord,
    ) -> Result<SigningKeyRecord, StoreError> {
        // DO NOTHING on either constraint: a current key exists (another process
        // won) or, impossibly for random ids, the kid exists.
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, public_key, private_key, created_at, \
             retired_at, is_current) VALUES (?1, ?2, ?3, ?4, ?5, NULL, 1) ON CONFLICT DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.public_key)
        .bind(key.private_key.as_stored())
        .bind(ts(key.created_at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys WHERE is_current = 1"
        ))
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?
        .as_ref()
        .map(key_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
    }

    async fn rotate_signing_key(
        &self,
        next: &SigningKeyRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        sqlx::query(
            "UPDATE signing_keys SET is_current = NULL, retired_at = ?1 WHERE is_current = 1",
        )
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, public_key, private_key, created_at, \
             retired_at, is_current) VALUES (?1, ?2, ?3, ?4, ?5, NULL, 1)",
        )
        .bind(&next.kid)
        .bind(&next.alg)
        .bind(&next.public_key)
        .bind(next.private_key.as_stored())
        .bind(ts(next.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "a concurrent signing key rotation won"))?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn signing_keys(
        &self,
        retired_after: DateTime<Utc>,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys WHERE retired_at IS NULL OR retired_at > ?1 \
             ORDER BY retired_at IS NOT NULL, retired_at DESC"
        ))
        .bind(ts(retired_after))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(key_from_row)
        .collect()
    }
}
