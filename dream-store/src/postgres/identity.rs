//! Identity links on PostgreSQL. An advance is one `INSERT … ON CONFLICT DO
//! UPDATE … WHERE`: on a conflict PostgreSQL locks the existing row and evaluates
//! the WHERE against its latest committed version, so concurrent advances from
//! any number of processes serialize on the row and the newest `source_at` wins.

use async_trait::async_trait;
use dream_core::{
    ports::{IdentityLink, IdentityStore},
    CustomerId, PlatformId, StoreError, Tenant,
};
use sqlx::{postgres::PgRow, Row};

use super::PostgresStore;
use crate::sql::{backend, corrupt, mode_str, parse_mode};

fn link_from_row(row: &PgRow) -> Result<IdentityLink, StoreError> {
    let platform: Option<String> = row.try_get("platform_id").map_err(backend)?;
    let mode: Option<String> = row.try_get("mode").map_err(backend)?;
    let customer: Option<String> = row.try_get("customer_id").map_err(backend)?;
    Ok(IdentityLink {
        provider: row.try_get("provider").map_err(backend)?,
        subject: row.try_get("subject").map_err(backend)?,
        tenant: match (platform, mode) {
            (Some(platform), Some(mode)) => Some(Tenant::new(
                PlatformId::parse(&platform)
                    .ok_or_else(|| corrupt(format!("bad platform id {platform:?}")))?,
                parse_mode(&mode)?,
            )),
            (None, None) => None,
            _ => return Err(corrupt("an identity link has half a tenant".into())),
        },
        customer: customer
            .map(|id| {
                CustomerId::parse(&id).ok_or_else(|| corrupt(format!("bad customer id {id:?}")))
            })
            .transpose()?,
        source_at: row.try_get("source_at").map_err(backend)?,
    })
}

#[async_trait]
impl IdentityStore for PostgresStore {
    async fn get_identity_link(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<IdentityLink>, StoreError> {
        sqlx::query(
            "SELECT provider, subject, platform_id, mode, customer_id, source_at \
             FROM identity_links WHERE provider = $1 AND subject = $2",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(link_from_row)
        .transpose()
    }

    async fn advance_identity_link(&self, link: &IdentityLink) -> Result<bool, StoreError> {
        // With the WHERE false the upsert changes no row: 0 rows means refused.
        // Compared in SQL, at the stored precision.
        let done = sqlx::query(
            "INSERT INTO identity_links \
               (provider, subject, platform_id, mode, customer_id, source_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (provider, subject) DO UPDATE SET \
               platform_id = EXCLUDED.platform_id, mode = EXCLUDED.mode, \
               customer_id = EXCLUDED.customer_id, source_at = EXCLUDED.source_at \
             WHERE (identity_links.platform_id IS NULL \
                 OR (identity_links.platform_id = EXCLUDED.platform_id \
                     AND identity_links.mode = EXCLUDED.mode)) \
               AND identity_links.source_at <= EXCLUDED.source_at",
        )
        .bind(&link.provider)
        .bind(&link.subject)
        .bind(link.tenant.as_ref().map(|t| t.platform.as_str()))
        .bind(link.tenant.as_ref().map(|t| mode_str(t.mode)))
        .bind(link.customer.as_ref().map(CustomerId::as_str))
        .bind(link.source_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}
