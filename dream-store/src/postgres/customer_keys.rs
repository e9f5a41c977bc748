//! Customer keys in PostgreSQL: by digest (verification), by tenant and id, revocation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::CustomerKeyStore, CustomerId, CustomerKeyId, CustomerKeyRecord, KeyDigest, PlatformId,
    StoreError, Tenant,
};
use sqlx::{postgres::PgRow, Row};

use super::PostgresStore;
use crate::sql::{backend, classify, corrupt, digest, mode_str, parse_mode};

macro_rules! columns {
    () => {
        "id, platform_id, mode, customer_id, name, digest, hint, created_at, expires_at, \
         revoked_at, meter, rate_per_minute"
    };
}

fn from_row(row: &PgRow) -> Result<CustomerKeyRecord, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let platform: String = row.try_get("platform_id").map_err(backend)?;
    let mode: String = row.try_get("mode").map_err(backend)?;
    let customer: String = row.try_get("customer_id").map_err(backend)?;
    let digest_bytes: Vec<u8> = row.try_get("digest").map_err(backend)?;
    Ok(CustomerKeyRecord {
        id: CustomerKeyId::parse(&id)
            .ok_or_else(|| corrupt(format!("bad customer key id {id:?}")))?,
        tenant: Tenant::new(
            PlatformId::parse(&platform)
                .ok_or_else(|| corrupt(format!("bad platform id {platform:?}")))?,
            parse_mode(&mode)?,
        ),
        customer: CustomerId::parse(&customer)
            .ok_or_else(|| corrupt(format!("bad customer id {customer:?}")))?,
        name: row.try_get("name").map_err(backend)?,
        digest: digest(&digest_bytes)?,
        hint: row.try_get("hint").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        revoked_at: row.try_get("revoked_at").map_err(backend)?,
        meter: row.try_get("meter").map_err(backend)?,
        rate_per_minute: row
            .try_get::<Option<i32>, _>("rate_per_minute")
            .map_err(backend)?
            .map(|rate| u32::try_from(rate).map_err(|_| corrupt(format!("bad key rate {rate}"))))
            .transpose()?,
    })
}

#[async_trait]
impl CustomerKeyStore for PostgresStore {
    async fn insert_customer_key(&self, key: &CustomerKeyRecord) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO customer_keys (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(key.id.as_str())
        .bind(key.tenant.platform.as_str())
        .bind(mode_str(key.tenant.mode))
        .bind(key.customer.as_str())
        .bind(&key.name)
        .bind(key.digest.0.as_slice())
        .bind(&key.hint)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.revoked_at)
        .bind(&key.meter)
        .bind(
            key.rate_per_minute
                .map(|rate| {
                    i32::try_from(rate)
                        .map_err(|_| StoreError::Backend("key rate exceeds INTEGER".into()))
                })
                .transpose()?,
        )
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "customer key exists"))?;
        Ok(())
    }

    async fn find_customer_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM customer_keys WHERE digest = $1"
        ))
        .bind(digest.0.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn get_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM customer_keys WHERE id = $1 AND platform_id = $2 AND mode = $3"
        ))
        .bind(id.as_str())
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn list_customer_keys(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Vec<CustomerKeyRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM customer_keys WHERE platform_id = $1 AND mode = $2 AND customer_id = $3 \
             ORDER BY created_at, id"
        ))
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn revoke_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        sqlx::query(concat!(
            "UPDATE customer_keys SET revoked_at = COALESCE(revoked_at, $4) \
             WHERE id = $1 AND platform_id = $2 AND mode = $3 RETURNING ",
            columns!()
        ))
        .bind(id.as_str())
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn expire_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        // One statement: a concurrent roll or expiry can only make it earlier.
        sqlx::query(concat!(
            "UPDATE customer_keys SET expires_at = CASE WHEN expires_at IS NULL \
             OR expires_at > $4 THEN $4 ELSE expires_at END \
             WHERE id = $1 AND platform_id = $2 AND mode = $3 RETURNING ",
            columns!()
        ))
        .bind(id.as_str())
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(from_row)
        .transpose()
    }
}
