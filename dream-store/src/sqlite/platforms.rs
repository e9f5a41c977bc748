//! Platforms and their tier configurations in SQLite.

use async_trait::async_trait;
use dream_core::{ports::PlatformStore, Platform, PlatformId, StoreError, Tenant, TierConfig};
use sqlx::Row;

use super::{from_ts, ts, SqliteStore};
use crate::sql::{backend, classify, from_json, mode_str, to_json};

#[async_trait]
impl PlatformStore for SqliteStore {
    async fn insert_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO platforms (id, name, created_at) VALUES (?1, ?2, ?3)")
            .bind(platform.id.as_str())
            .bind(&platform.name)
            .bind(ts(platform.created_at))
            .execute(&self.writer)
            .await
            .map_err(|e| classify(e, "platform id exists"))?;
        Ok(())
    }

    async fn get_platform(&self, id: &PlatformId) -> Result<Option<Platform>, StoreError> {
        let row = sqlx::query("SELECT name, created_at FROM platforms WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(Platform {
                id: id.clone(),
                name: row.try_get("name").map_err(backend)?,
                created_at: from_ts(row.try_get("created_at").map_err(backend)?)?,
            })
        })
        .transpose()
    }

    async fn put_tier_config(
        &self,
        tenant: &Tenant,
        config: &TierConfig,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tier_configs (platform_id, mode, config) VALUES (?1, ?2, ?3) \
             ON CONFLICT (platform_id, mode) DO UPDATE SET config = excluded.config",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(to_json(config)?)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_tier_config(&self, tenant: &Tenant) -> Result<Option<TierConfig>, StoreError> {
        let config: Option<String> = sqlx::query_scalar(
            "SELECT config FROM tier_configs WHERE platform_id = ?1 AND mode = ?2",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        config.map(|c| from_json(&c)).transpose()
    }

    async fn put_allowed_origins(
        &self,
        platform: &PlatformId,
        origins: &[String],
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE platforms SET allowed_origins = ?2 WHERE id = ?1")
            .bind(platform.as_str())
            .bind(to_json(&origins)?)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_allowed_origins(
        &self,
        platform: &PlatformId,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let origins: Option<String> =
            sqlx::query_scalar("SELECT allowed_origins FROM platforms WHERE id = ?1")
                .bind(platform.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        origins.map(|o| from_json(&o)).transpose()
    }
}
