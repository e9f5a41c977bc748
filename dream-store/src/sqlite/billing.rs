//! Billing connections, Connect onboarding states and Stripe customer links on
//! SQLite. Every write is one statement on the single writer connection, so each
//! is atomic without a transaction of its own.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::BillingStore, BillingConnection, CustomerId, OAuthState, PlatformId, SealedSecret,
    StoreError, StripeCustomerLink, StripeLink, Tenant,
};
use sqlx::{sqlite::SqliteRow, Row};

use super::{from_ts, ts, SqliteStore};
use crate::sql::{backend, classify, corrupt, mode_str, parse_mode, to_i64};

fn tenant_from_row(row: &SqliteRow) -> Result<Tenant, StoreError> {
    let platform: String = row.try_get("platform_id").map_err(backend)?;
    let mode: String = row.try_get("mode").map_err(backend)?;
    Ok(Tenant::new(
        PlatformId::parse(&platform)
            .ok_or_else(|| corrupt(format!("bad platform id {platform:?}")))?,
        parse_mode(&mode)?,
    ))
}

/// The columns a link is stored in.
struct LinkColumns<'a> {
    kind: &'static str,
    account_id: Option<&'a str>,
    sealed_key: Option<String>,
    sealed_webhook_secret: Option<String>,
}

fn link_columns(link: &StripeLink) -> LinkColumns<'_> {
    match link {
        StripeLink::Connect { account_id } => LinkColumns {
            kind: "connect",
            account_id: Some(account_id.as_str()),
            sealed_key: None,
            sealed_webhook_secret: None,
        },
        StripeLink::Direct {
            sealed_key,
            sealed_webhook_secret,
        } => LinkColumns {
            kind: "direct",
            account_id: None,
            sealed_key: Some(sealed_key.to_stored()),
            sealed_webhook_secret: sealed_webhook_secret.as_ref().map(SealedSecret::to_stored),
        },
    }
}

fn link_from_row(row: &SqliteRow) -> Result<StripeLink, StoreError> {
    let kind: String = row.try_get("kind").map_err(backend)?;
    let account_id: Option<String> = row.try_get("account_id").map_err(backend)?;
    let sealed_key: Option<String> = row.try_get("sealed_key").map_err(backend)?;
    let sealed_webhook_secret: Option<String> =
        row.try_get("sealed_webhook_secret").map_err(backend)?;
    match (kind.as_str(), account_id, sealed_key, sealed_webhook_secret) {
        ("connect", Some(account_id), None, None) => Ok(StripeLink::Connect { account_id }),
        ("direct", None, Some(sealed), webhook_secret) => Ok(StripeLink::Direct {
            // The sealed text stays out of the messages: it is still key material.
            sealed_key: SealedSecret::from_stored(&sealed)
                .ok_or_else(|| corrupt("a sealed Stripe key is not in its stored form".into()))?,
            sealed_webhook_secret: webhook_secret
                .map(|text| {
                    SealedSecret::from_stored(&text).ok_or_else(|| {
                        corrupt("a sealed webhook secret is not in its stored form".into())
                    })
                })
                .transpose()?,
        }),
        (kind, ..) => Err(corrupt(format!(
            "billing connection of kind {kind:?} has the wrong columns set"
        ))),
    }
}

fn oauth_state_from_row(row: &SqliteRow) -> Result<OAuthState, StoreError> {
    let digest: Vec<u8> = row.try_get("digest").map_err(backend)?;
    Ok(OAuthState {
        digest: <[u8; 32]>::try_from(digest.as_slice())
            .map_err(|_| corrupt("an oauth state digest is not 32 bytes".into()))?,
        tenant: tenant_from_row(row)?,
        created_at: from_ts(row.try_get("created_at").map_err(backend)?)?,
        expires_at: from_ts(row.try_get("expires_at").map_err(backend)?)?,
    })
}

#[async_trait]
impl BillingStore for SqliteStore {
    async fn put_billing_connection(
        &self,
        connection: &BillingConnection,
    ) -> Result<(), StoreError> {
        let columns = link_columns(&connection.link);
        sqlx::query(
            "INSERT INTO billing_connections \
               (platform_id, mode, kind, account_id, sealed_key, sealed_webhook_secret, \
                connected_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (platform_id, mode) DO UPDATE SET \
               kind = excluded.kind, account_id = excluded.account_id, \
               sealed_key = excluded.sealed_key, \
               sealed_webhook_secret = excluded.sealed_webhook_secret, \
               connected_at = excluded.connected_at",
        )
        .bind(connection.tenant.platform.as_str())
        .bind(mode_str(connection.tenant.mode))
        .bind(columns.kind)
        .bind(columns.account_id)
        .bind(columns.sealed_key)
        .bind(columns.sealed_webhook_secret)
        .bind(ts(connection.connected_at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_billing_connection(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<BillingConnection>, StoreError> {
        let row = sqlx::query(
            "SELECT kind, account_id, sealed_key, sealed_webhook_secret, connected_at \
             FROM billing_connections \
             WHERE platform_id = ?1 AND mode = ?2",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.map(|row| {
            Ok(BillingConnection {
                tenant: tenant.clone(),
                link: link_from_row(&row)?,
                connected_at: from_ts(row.try_get("connected_at").map_err(backend)?)?,
            })
        })
        .transpose()
    }

    async fn delete_billing_connection(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM billing_connections WHERE platform_id = ?1 AND mode = ?2")
                .bind(tenant.platform.as_str())
                .bind(mode_str(tenant.mode))
                .execute(&self.writer)
                .await
                .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn tenants_for_stripe_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<Tenant>, StoreError> {
        sqlx::query(
            "SELECT platform_id, mode FROM billing_connections \
             WHERE kind = 'connect' AND account_id = ?1 ORDER BY platform_id, mode",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(tenant_from_row)
        .collect()
    }

    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_states (digest, platform_id, mode, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(state.digest.as_slice())
        .bind(state.tenant.platform.as_str())
        .bind(mode_str(state.tenant.mode))
        .bind(ts(state.created_at))
        .bind(ts(state.expires_at))
        .execute(&self.writer)
        .await
        .map_err(|e| classify(e, "oauth state exists"))?;
        Ok(())
    }

    /// The delete is the claim: of racing callers only one gets the row back. An
    /// expired row is deleted all the same, so it can never be taken later.
    async fn take_oauth_state(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<OAuthState>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE digest = ?1 \
             RETURNING digest, platform_id, mode, created_at, expires_at",
        )
        .bind(digest.as_slice())
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        Ok(row
            .as_ref()
            .map(oauth_state_from_row)
            .transpose()?
            .filter(|state| now < state.expires_at))
    }

    async fn delete_expired_oauth_states(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM oauth_states WHERE digest IN ( \
               SELECT digest FROM oauth_states WHERE expires_at <= ?1 LIMIT ?2)",
        )
        .bind(ts(now))
        .bind(to_i64(limit as u64)?)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    /// One upsert whose update keeps the stored id: it returns the row either way,
    /// so the first link wins without a second statement.
    async fn link_stripe_customer(&self, link: &StripeCustomerLink) -> Result<String, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO stripe_customer_links \
               (platform_id, mode, customer_id, account, stripe_customer_id) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (platform_id, mode, customer_id, account) \
             DO UPDATE SET stripe_customer_id = stripe_customer_links.stripe_customer_id \
             RETURNING stripe_customer_id",
        )
        .bind(link.tenant.platform.as_str())
        .bind(mode_str(link.tenant.mode))
        .bind(link.customer.as_str())
        .bind(&link.account)
        .bind(&link.stripe_customer_id)
        .fetch_one(&self.writer)
        .await
        .map_err(backend)
    }

    async fn get_stripe_customer(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        account: &str,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT stripe_customer_id FROM stripe_customer_links \
             WHERE platform_id = ?1 AND mode = ?2 AND customer_id = ?3 AND account = ?4",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .bind(account)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)
    }

    async fn find_customer_by_stripe_id(
        &self,
        tenant: &Tenant,
        account: &str,
        stripe_customer_id: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        // Nothing makes a `cus_…` id unique per account; should two customers share
        // one, the smallest id answers, as in every backend.
        let id: Option<String> = sqlx::query_scalar(
            "SELECT customer_id FROM stripe_customer_links \
             WHERE platform_id = ?1 AND mode = ?2 AND account = ?3 AND stripe_customer_id = ?4 \
             ORDER BY customer_id LIMIT 1",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(account)
        .bind(stripe_customer_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        id.map(|id| {
            CustomerId::parse(&id).ok_or_else(|| corrupt(format!("bad customer id {id:?}")))
        })
        .transpose()
    }
}
