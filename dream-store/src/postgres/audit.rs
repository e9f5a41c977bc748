//! Platforms' audit logs in PostgreSQL, newest first by insertion sequence.

use async_trait::async_trait;
use dream_core::{
    ports::AuditStore, Actor, AuditAction, AuditEntry, AuditId, Mode, Page, PageRequest,
    PlatformId, StoreError,
};
use sqlx::{postgres::PgRow, Row};

use super::PostgresStore;
use crate::sql::{backend, classify, corrupt, from_json, mode_str, parse_mode, to_i64, to_json};

fn entry_from_row(platform: &PlatformId, row: &PgRow) -> Result<AuditEntry, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let mode: Option<String> = row.try_get("mode").map_err(backend)?;
    let actor: String = row.try_get("actor").map_err(backend)?;
    let action: String = row.try_get("action").map_err(backend)?;
    let detail: String = row.try_get("detail").map_err(backend)?;
    Ok(AuditEntry {
        id: AuditId::parse(&id).ok_or_else(|| corrupt(format!("bad audit id {id:?}")))?,
        platform: platform.clone(),
        mode: mode.as_deref().map(parse_mode).transpose()?,
        actor: Actor::parse(&actor).ok_or_else(|| corrupt(format!("bad actor {actor:?}")))?,
        action: AuditAction::parse(&action)
            .ok_or_else(|| corrupt(format!("bad audit action {action:?}")))?,
        object_id: row.try_get("object_id").map_err(backend)?,
        request_id: row.try_get("request_id").map_err(backend)?,
        detail: from_json(&detail)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, platform_id, mode, actor, action, object_id, \
             request_id, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.id.as_str())
        .bind(e.platform.as_str())
        .bind(e.mode.map(mode_str))
        .bind(e.actor.to_string())
        .bind(e.action.as_str())
        .bind(&e.object_id)
        .bind(&e.request_id)
        .bind(to_json(&e.detail)?)
        .bind(e.created_at)
        .execute(&self.pool)
        .await
        .map_err(|err| classify(err, "audit entry id exists"))?;
        Ok(())
    }

    async fn list_audit(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
        page: &PageRequest<AuditId>,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let before: i64 = match &page.starting_after {
            None => i64::MAX,
            Some(cursor) => {
                sqlx::query_scalar("SELECT seq FROM audit_log WHERE platform_id = $1 AND id = $2")
                    .bind(platform.as_str())
                    .bind(cursor.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?
            }
        };
        let rows = sqlx::query(
            "SELECT id, mode, actor, action, object_id, request_id, detail, created_at \
             FROM audit_log WHERE platform_id = $1 AND seq < $2 \
             AND ($3::TEXT IS NULL OR mode IS NULL OR mode = $3) ORDER BY seq DESC LIMIT $4",
        )
        .bind(platform.as_str())
        .bind(before)
        .bind(mode.map(mode_str))
        .bind(to_i64(page.limit as u64 + 1)?)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut data = rows
            .iter()
            .map(|row| entry_from_row(platform, row))
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(Page { data, has_more })
    }
}
