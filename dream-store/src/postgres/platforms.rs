//! Platforms and their tier configurations in PostgreSQL.

use async_trait::async_trait;
use dream_core::{
    ports::PlatformStore, AccountId, Platform, PlatformId, StoreError, Tenant, TierConfig,
};
use sqlx::Row;

use super::PostgresStore;
use crate::sql::{backend, classify, corrupt, from_json, mode_str, to_json};

macro_rules! platform_columns {
    () => {
        "id, name, created_at, owner, deleted_at"
    };
}

#[async_trait]
impl PlatformStore for PostgresStore {
    async fn insert_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO platforms (id, name, created_at, owner, deleted_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(platform.id.as_str())
        .bind(&platform.name)
        .bind(platform.created_at)
        .bind(platform.owner.as_ref().map(AccountId::as_str))
        .bind(platform.deleted_at)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "platform id exists"))?;
        Ok(())
    }

    async fn get_platform(&self, id: &PlatformId) -> Result<Option<Platform>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            platform_columns!(),
            " FROM platforms WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(platform_from_row).transpose()
    }

    async fn list_platforms_by_owner(
        &self,
        owner: &AccountId,
    ) -> Result<Vec<Platform>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            platform_columns!(),
            " FROM platforms \
             WHERE owner = $1 AND deleted_at IS NULL ORDER BY created_at, id"
        ))
        .bind(owner.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(platform_from_row)
        .collect()
    }

    async fn update_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE platforms SET name = $2, deleted_at = $3 WHERE id = $1")
            .bind(platform.id.as_str())
            .bind(&platform.name)
            .bind(platform.deleted_at)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn put_tier_config(
        &self,
        tenant: &Tenant,
        config: &TierConfig,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tier_configs (platform_id, mode, config) VALUES ($1, $2, $3) \
             ON CONFLICT (platform_id, mode) DO UPDATE SET config = EXCLUDED.config",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(to_json(config)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_tier_config(&self, tenant: &Tenant) -> Result<Option<TierConfig>, StoreError> {
        let config: Option<String> = sqlx::query_scalar(
            "SELECT config FROM tier_configs WHERE platform_id = $1 AND mode = $2",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        config.map(|c| from_json(&c)).transpose()
    }

    async fn put_allowed_origins(
        &self,
        platform: &PlatformId,
        origins: &[String],
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE platforms SET allowed_origins = $2 WHERE id = $1")
            .bind(platform.as_str())
            .bind(to_json(&origins)?)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_allowed_origins(
        &self,
        platform: &PlatformId,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let origins: Option<String> =
            sqlx::query_scalar("SELECT allowed_origins FROM platforms WHERE id = $1")
                .bind(platform.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        origins.map(|o| from_json(&o)).transpose()
    }
}

fn platform_from_row(row: &sqlx::postgres::PgRow) -> Result<Platform, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let owner: Option<String> = row.try_get("owner").map_err(backend)?;
    Ok(Platform {
        id: PlatformId::parse(&id).ok_or_else(|| corrupt(format!("bad platform id {id:?}")))?,
        name: row.try_get("name").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        owner: owner
            .map(|o| AccountId::parse(&o).ok_or_else(|| corrupt(format!("bad account id {o:?}"))))
            .transpose()?,
        deleted_at: row.try_get("deleted_at").map_err(backend)?,
    })
}
