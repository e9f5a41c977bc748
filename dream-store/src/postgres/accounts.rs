//! Accounts, sessions and failed logins in PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    email_key, ports::AccountStore, Account, AccountId, LoginAttemptId, LoginFailures,
    PasswordHash, Session, SessionDigest, StoreError,
};
use sqlx::{postgres::PgRow, Row};

use super::PostgresStore;
use crate::sql::{backend, classify, corrupt, digest};

macro_rules! account_columns {
    () => {
        "id, email, password_hash, created_at"
    };
}
macro_rules! session_columns {
    () => {
        "digest, account_id, created_at, last_seen_at"
    };
}

fn account_from_row(row: &PgRow) -> Result<Account, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    Ok(Account {
        id: AccountId::parse(&id).ok_or_else(|| corrupt(format!("bad account id {id:?}")))?,
        email: row.try_get("email").map_err(backend)?,
        password_hash: PasswordHash::from_phc(row.try_get("password_hash").map_err(backend)?),
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

fn session_from_row(row: &PgRow) -> Result<Session, StoreError> {
    let bytes: Vec<u8> = row.try_get("digest").map_err(backend)?;
    let account: String = row.try_get("account_id").map_err(backend)?;
    Ok(Session {
        digest: SessionDigest(digest(&bytes)?.0),
        account: AccountId::parse(&account)
            .ok_or_else(|| corrupt(format!("bad account id {account:?}")))?,
        created_at: row.try_get("created_at").map_err(backend)?,
        last_seen_at: row.try_get("last_seen_at").map_err(backend)?,
    })
}

fn failures_from_row(row: &PgRow) -> Result<LoginFailures, StoreError> {
    let count: i64 = row.try_get("n").map_err(backend)?;
    Ok(LoginFailures {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        oldest: row.try_get("oldest").map_err(backend)?,
    })
}

const COUNT_FAILURES: &str = "SELECT COUNT(*) AS n, MIN(failed_at) AS oldest FROM login_failures \
                              WHERE email_key = $1 AND failed_at > $2";

#[async_trait]
impl AccountStore for PostgresStore {
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (id, email, email_key, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account.id.as_str())
        .bind(&account.email)
        .bind(email_key(&account.email))
        .bind(account.password_hash.as_phc())
        .bind(account.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "account email exists"))?;
        Ok(())
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(account_from_row)
        .transpose()
    }

    async fn find_account_by_email(&self, email_key: &str) -> Result<Option<Account>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE email_key = $1"
        ))
        .bind(email_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(account_from_row)
        .transpose()
    }

    async fn set_account_password(
        &self,
        id: &AccountId,
        hash: &PasswordHash,
        keep: Option<&SessionDigest>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(hash.as_phc())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "DELETE FROM account_sessions WHERE account_id = $1 AND digest IS DISTINCT FROM $2",
        )
        .bind(id.as_str())
        .bind(keep.map(|d| d.0.to_vec()))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_sessions (digest, account_id, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(session.digest.0.to_vec())
        .bind(session.account.as_str())
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "session exists"))?;
        Ok(())
    }

    async fn find_session(&self, digest: &SessionDigest) -> Result<Option<Session>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM account_sessions WHERE digest = $1"
        ))
        .bind(digest.0.to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn touch_session(
        &self,
        digest: &SessionDigest,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE account_sessions SET last_seen_at = $2 WHERE digest = $1")
            .bind(digest.0.to_vec())
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(&self, digest: &SessionDigest) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM account_sessions WHERE digest = $1")
            .bind(digest.0.to_vec())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn record_login_failure(
        &self,
        email_key: &str,
        attempt: &LoginAttemptId,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError> {
        // Attempts of one email take turns (a transaction-scoped advisory lock), so
        // each count includes every attempt recorded before it: counts are distinct.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('login_failures/' || $1, 0))")
            .bind(email_key)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM login_failures WHERE email_key = $1 AND failed_at <= $2")
            .bind(email_key)
            .bind(since)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO login_failures (email_key, attempt, failed_at) VALUES ($1, $2, $3)",
        )
        .bind(email_key)
        .bind(attempt.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let row = sqlx::query(COUNT_FAILURES)
            .bind(email_key)
            .bind(since)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let failures = failures_from_row(&row)?;
        tx.commit().await.map_err(backend)?;
        Ok(failures)
    }

    async fn forget_login_failure(
        &self,
        email_key: &str,
        attempt: &LoginAttemptId,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE email_key = $1 AND attempt = $2")
            .bind(email_key)
            .bind(attempt.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn login_failures(
        &self,
        email_key: &str,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError> {
        let row = sqlx::query(COUNT_FAILURES)
            .bind(email_key)
            .bind(since)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        failures_from_row(&row)
    }
}
