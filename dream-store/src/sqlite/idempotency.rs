//! Idempotency keys in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::IdempotencyStore, ClaimToken, IdempotencyClaim, IdempotencyScope, IdempotencyTimes,
    StoreError, StoredResponse,
};
use sqlx::Row;

use super::{ts, SqliteStore};
use crate::sql::{backend, from_json, mode_str, to_json};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &[u8; 32],
        times: &IdempotencyTimes,
    ) -> Result<IdempotencyClaim, StoreError> {
        // Either this statement claims the key (new, or taking over an expired entry)
        // and returns a row, or the live entry is read below. A concurrent release
        // between the two is retried once.
        for _ in 0..2 {
            let token = ClaimToken::generate();
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys \
                   (platform_id, mode, endpoint, key, fingerprint, claimed_at, claim_token, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?9, ?10) \
                 ON CONFLICT (platform_id, mode, endpoint, key) DO UPDATE \
                   SET fingerprint = excluded.fingerprint, claimed_at = excluded.claimed_at, \
                       claim_token = excluded.claim_token, expires_at = excluded.expires_at, \
                       status = NULL, headers = NULL, body = NULL \
                   WHERE (idempotency_keys.status IS NULL AND idempotency_keys.claimed_at <= ?7) \
                      OR (idempotency_keys.status IS NOT NULL AND idempotency_keys.claimed_at <= ?8) \
                 RETURNING 1",
            )
            .bind(scope.tenant.platform.as_str())
            .bind(mode_str(scope.tenant.mode))
            .bind(&scope.endpoint)
            .bind(&scope.key)
            .bind(fingerprint.as_slice())
            .bind(ts(times.now))
            .bind(ts(times.now - times.lock_timeout))
            .bind(ts(times.now - times.retention))
            .bind(token.as_bytes().as_slice())
            .bind(ts(times.now + times.retention))
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?;
            if claimed.is_some() {
                return Ok(IdempotencyClaim::Claimed(token));
            }
            let live = sqlx::query(
                "SELECT fingerprint, status, headers, body FROM idempotency_keys \
                 WHERE platform_id = ?1 AND mode = ?2 AND endpoint = ?3 AND key = ?4",
            )
            .bind(scope.tenant.platform.as_str())
            .bind(mode_str(scope.tenant.mode))
            .bind(&scope.endpoint)
            .bind(&scope.key)
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?;
            let Some(row) = live else { continue };
            let stored: Vec<u8> = row.try_get("fingerprint").map_err(backend)?;
            if stored.as_slice() != fingerprint.as_slice() {
                return Ok(IdempotencyClaim::Mismatch);
            }
            let status: Option<i32> = row.try_get("status").map_err(backend)?;
            return Ok(match status {
                None => IdempotencyClaim::InFlight,
                Some(status) => {
                    let headers: Option<String> = row.try_get("headers").map_err(backend)?;
                    let body: Option<Vec<u8>> = row.try_get("body").map_err(backend)?;
                    IdempotencyClaim::Completed(StoredResponse {
                        status: u16::try_from(status).unwrap_or(500),
                        headers: from_json(headers.as_deref().unwrap_or("[]"))?,
                        body: body.unwrap_or_default(),
                    })
                }
            });
        }
        Ok(IdempotencyClaim::InFlight)
    }

    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        token: &ClaimToken,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE idempotency_keys SET status = ?5, headers = ?6, body = ?7 \
             WHERE platform_id = ?1 AND mode = ?2 AND endpoint = ?3 AND key = ?4 \
               AND claim_token = ?8 AND status IS NULL",
        )
        .bind(scope.tenant.platform.as_str())
        .bind(mode_str(scope.tenant.mode))
        .bind(&scope.endpoint)
        .bind(&scope.key)
        .bind(i32::from(response.status))
        .bind(to_json(&response.headers)?)
        .bind(response.body.as_slice())
        .bind(token.as_bytes().as_slice())
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        token: &ClaimToken,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE platform_id = ?1 AND mode = ?2 \
             AND endpoint = ?3 AND key = ?4 AND claim_token = ?5 AND status IS NULL",
        )
        .bind(scope.tenant.platform.as_str())
        .bind(mode_str(scope.tenant.mode))
        .bind(&scope.endpoint)
        .bind(&scope.key)
        .bind(token.as_bytes().as_slice())
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn purge_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let purged = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= ?1")
            .bind(ts(now))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(purged.rows_affected())
    }
}
