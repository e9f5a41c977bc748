//! End customers signing in: email and password → a short-lived access token
//! (JWT, EdDSA) and a rotating refresh token; logout and revoke-all end refresh
//! chains; the signing keys are made on first use, cached, and rotated by the
//! operator.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};

use crate::{
    email_key, AccessClaims, CoreError, Customer, CustomerQuery, Jwk, PageRequest, RefreshFamily,
    RefreshFamilyId, RefreshOutcome, RefreshToken, SigningKey, SigningKeyRecord, StoreError,
    Tenant,
};

use super::Dream;

/// How end-user sign-in behaves on this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInSettings {
    /// Lifetime of an access token (`DREAM_ACCESS_TOKEN_TTL_SECS`, 15 minutes).
    pub access_ttl: Duration,
    /// Absolute lifetime of a sign-in, however often its refresh token rotates
    /// (`DREAM_REFRESH_TOKEN_TTL_DAYS`, 30 days).
    pub refresh_ttl: Duration,
    /// How long a process serves its cached signing keys before reading them
    /// again: every process publishes a rotated key within this bound, and
    /// signs with it from this bound after the rotation on.
    pub key_cache_ttl: Duration,
}

impl Default for SignInSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            key_cache_ttl: Duration::seconds(SIGNING_KEY_CACHE_SECS),
        }
    }
}

/// Default of [`SignInSettings::key_cache_ttl`], in seconds.
pub const SIGNING_KEY_CACHE_SECS: i64 = 30;

/// Who the tokens are for: this server (`iss`) and the publishable key the
/// customer signs in through (`aud`).
#[derive(Debug, Clone, Copy)]
pub struct TokenAudience<'a> {
    /// This server's public URL.
    pub issuer: &'a str,
    /// The app's publishable key.
    pub publishable_key: &'a str,
}

/// A successful login or refresh. `Debug` hides both tokens.
pub struct TokenPair {
    /// The signed access token (JWT).
    pub access_token: String,
    /// When it was issued (its `iat`).
    pub issued_at: DateTime<Utc>,
    /// When it expires.
    pub access_expires_at: DateTime<Utc>,
    /// The new refresh token (shown once; stored only as a digest).
    pub refresh_token: RefreshToken,
    /// The end of the sign-in: no refresh works after it.
    pub refresh_expires_at: DateTime<Utc>,
    /// Who signed in.
    pub customer: Customer,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("customer", &self.customer.id)
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}

/// The signing keys one process uses, read from the store at most once per
/// [`SignInSettings::key_cache_ttl`].
#[derive(Debug, Default)]
pub(super) struct KeyCache(RwLock<Option<Arc<LoadedKeys>>>);

#[derive(Debug)]
struct LoadedKeys {
    loaded_at: DateTime<Utc>,
    current: SigningKey,
    published: Vec<Jwk>,
}

/// A long password is refused before hashing: Argon2 cost grows with input size.
const MAX_PRESENTED_PASSWORD_BYTES: usize = 1024;

/// The longest email address (RFC 5321).
const MAX_EMAIL_BYTES: usize = 254;

/// Customers compared per page when looking one up by email.
const EMAIL_PAGE: usize = 100;

/// The throttling key of a customer's email: the tenant, a space (no email has
/// one, so it never meets a developer account's key) and the email key.
fn throttle_key(tenant: &Tenant, email: &str) -> String {
    format!("{tenant} {}", email_key(email))
}

impl Dream {
    /// Uses `settings` for end-user sign-in from now on.
    pub fn with_sign_in_settings(mut self, settings: SignInSettings) -> Self {
        self.sign_in = settings;
        self
    }

    /// The sign-in settings in force.
    pub fn sign_in_settings(&self) -> &SignInSettings {
        &self.sign_in
    }

    /// Signs a customer of `tenant` in with email and password. Throttled per
    /// (tenant, email) like developer logins; an unknown email and a wrong
    /// password get the same [`CoreError::InvalidCredentials`] after the same
    /// amount of hashing. When several customers share the email, the oldest
    /// with a password is the one that can sign in.
    pub async fn customer_log_in(
        &self,
        tenant: &Tenant,
        audience: TokenAudience<'_>,
        email: &str,
        password: String,
    ) -> Result<TokenPair, CoreError> {
        // Bounded before it becomes a store key or a query.
        if email.len() > MAX_EMAIL_BYTES {
            return Err(CoreError::invalid("/email", "at most 254 characters"));
        }
        let key = throttle_key(tenant, email);
        let customer = self
            .throttled_login(&key, async {
                let customer = self.customer_with_email(tenant, email).await?;
                let hash = match customer.as_ref().and_then(|c| c.password_hash.clone()) {
                    Some(hash) => hash,
                    None => self.dummy_hash().await?,
                };
                let matches = password.len() <= MAX_PRESENTED_PASSWORD_BYTES
                    && self.password_hasher.verify(hash, password).await?;
                Ok(customer.filter(|c| matches && c.password_hash.is_some()))
            })
            .await?
            .ok_or(CoreError::InvalidCredentials)?;
        let now = self.now();
        let family = RefreshFamily {
            id: RefreshFamilyId::generate(),
            tenant: tenant.clone(),
            customer: customer.id.clone(),
            created_at: now,
            expires_at: now + self.sign_in.refresh_ttl,
            revoked_at: None,
        };
        let refresh_token = RefreshToken::generate();
        self.stores
            .tokens
            .insert_refresh_family(&family, &refresh_token.digest())
            .await?;
        self.token_pair(customer, &family, refresh_token, audience)
            .await
    }

    /// Exchanges a refresh token for a new pair. The presented token stops
    /// working; presenting an already-rotated token revokes its whole chain
    /// (and fails). Every failure is the same [`CoreError::InvalidRefreshToken`].
    pub async fn refresh_sign_in(
        &self,
        tenant: &Tenant,
        audience: TokenAudience<'_>,
        presented: &str,
    ) -> Result<TokenPair, CoreError> {
        if !RefreshToken::is_well_formed(presented) {
            return Err(CoreError::InvalidRefreshToken);
        }
        let next = RefreshToken::generate();
        let outcome = self
            .stores
            .tokens
            .rotate_refresh_token(
                tenant,
                &RefreshToken::presented(presented).digest(),
                &next.digest(),
                self.now(),
            )
            .await?;
        let family = match outcome {
            RefreshOutcome::Rotated(family) => family,
            RefreshOutcome::Reused => {
                tracing::warn!(%tenant, "a rotated refresh token was presented again: its sign-in is revoked");
                return Err(CoreError::InvalidRefreshToken);
            }
            RefreshOutcome::Unknown | RefreshOutcome::Ended => {
                return Err(CoreError::InvalidRefreshToken)
            }
        };
        let customer = self
            .stores
            .customers
            .get_customer(tenant, &family.customer)
            .await?
            .ok_or(CoreError::InvalidRefreshToken)?;
        self.token_pair(customer, &family, next, audience).await
    }

    /// Ends the sign-in that issued `presented` (its current or an older token).
    /// Answers the same whether or not it was live, so it reveals nothing.
    pub async fn customer_log_out(
        &self,
        tenant: &Tenant,
        presented: &str,
    ) -> Result<(), CoreError> {
        if RefreshToken::is_well_formed(presented) {
            self.stores
                .tokens
                .revoke_refresh_family(
                    tenant,
                    &RefreshToken::presented(presented).digest(),
                    self.now(),
                )
                .await?;
        }
        Ok(())
    }

    /// Ends every sign-in of the customer (named by `usr_…` or external id);
    /// answers how many were live.
    /// Access tokens already issued stay valid until they expire.
    pub async fn revoke_customer_sessions(
        &self,
        tenant: &Tenant,
        customer: &str,
    ) -> Result<u64, CoreError> {
        let customer = self.customer(tenant, customer).await?;
        Ok(self
            .stores
            .tokens
            .revoke_customer_refresh_families(tenant, &customer.id, self.now())
            .await?)
    }

    /// The public keys that verify access tokens: the current key and every key
    /// retired recently enough that a token it signed may still be valid.
    pub async fn published_signing_keys(&self) -> Result<Vec<Jwk>, CoreError> {
        Ok(self.loaded_keys().await?.published.clone())
    }

    /// Makes sure a signing key exists and opens (run at start-up, so a wrong
    /// `DREAM_MASTER_KEY` is found before the first login).
    pub async fn ensure_signing_key(&self) -> Result<String, CoreError> {
        Ok(self.loaded_keys().await?.current.kid().to_owned())
    }

    /// Makes a new signing key current: published at once, used for signing
    /// one key-cache bound later (when every process publishes it). The
    /// previous key signs until then and stays published until its last token
    /// has expired, then drops out. Answers the new key's id.
    pub async fn rotate_signing_key(&self) -> Result<String, CoreError> {
        let now = self.now();
        let (key, record) = SigningKey::generate(self.master_key.as_deref(), now);
        self.stores.tokens.rotate_signing_key(&record, now).await?;
        *self
            .signing_keys
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner()) = None;
        tracing::info!(kid = key.kid(), "signing key rotated");
        Ok(key.kid().to_owned())
    }

    async fn token_pair(
        &self,
        customer: Customer,
        family: &RefreshFamily,
        refresh_token: RefreshToken,
        audience: TokenAudience<'_>,
    ) -> Result<TokenPair, CoreError> {
        let now = self.now();
        let access_expires_at = now + self.sign_in.access_ttl;
        let claims = AccessClaims {
            sub: customer.id.to_string(),
            iss: audience.issuer.to_owned(),
            aud: audience.publishable_key.to_owned(),
            plan: customer.plan.clone(),
            exp: access_expires_at.timestamp(),
            iat: now.timestamp(),
            jti: RefreshFamilyId::generate().as_str()[4..].to_owned(),
            external_id: customer.external_id.clone(),
        };
        let keys = self.loaded_keys().await?;
        let access_token = keys
            .current
            .sign_jwt(&claims)
            .map_err(|err| CoreError::Store(StoreError::Backend(Box::new(err))))?;
        Ok(TokenPair {
            access_token,
            issued_at: now,
            access_expires_at,
            refresh_token,
            refresh_expires_at: family.expires_at,
            customer,
        })
    }

    /// The customer of `tenant` who may sign in with `email`: the oldest with
    /// that email (compared case-insensitively) and a password.
    async fn customer_with_email(
        &self,
        tenant: &Tenant,
        email: &str,
    ) -> Result<Option<Customer>, CoreError> {
        let wanted = email_key(email);
        let query = CustomerQuery {
            email_prefix: Some(email.to_owned()),
            plan: None,
            oldest_first: true,
        };
        let mut page = PageRequest {
            limit: EMAIL_PAGE,
            starting_after: None,
        };
        loop {
            let found = self
                .stores
                .customers
                .list_customers(tenant, &query, &page)
                .await?;
            if let Some(customer) = found.data.iter().find(|c| {
                c.password_hash.is_some()
                    && c.email.as_deref().map(email_key) == Some(wanted.clone())
            }) {
                return Ok(Some(customer.clone()));
            }
            match (found.has_more, found.data.last()) {
                (true, Some(last)) => page.starting_after = Some(last.id.clone()),
                _ => return Ok(None),
            }
        }
    }

    async fn loaded_keys(&self) -> Result<Arc<LoadedKeys>, CoreError> {
        let now = self.now();
        if let Some(loaded) = self
            .signing_keys
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|l| now - l.loaded_at < self.sign_in.key_cache_ttl && l.loaded_at <= now)
        {
            return Ok(loaded.clone());
        }
        let loaded = Arc::new(self.load_keys(now).await?);
        *self
            .signing_keys
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(loaded.clone());
        Ok(loaded)
    }

    async fn load_keys(&self, now: DateTime<Utc>) -> Result<LoadedKeys, CoreError> {
        // Publish before use: a new key signs only once it is a cache bound old,
        // when every process has read (and so publishes) it. Until then the
        // previous key signs, for at most another cache bound in a process that
        // read the keys just before. So a retired key is published for the
        // token lifetime plus two cache bounds.
        let bound = self.sign_in.key_cache_ttl;
        let retired_after = now - self.sign_in.access_ttl - bound - bound;
        let mut records = self.stores.tokens.signing_keys(retired_after).await?;
        if !records.iter().any(|r| r.retired_at.is_none()) {
            let (_, fresh) = SigningKey::generate(self.master_key.as_deref(), now);
            self.stores
                .tokens
                .insert_signing_key_if_absent(&fresh)
                .await?;
            records = self.stores.tokens.signing_keys(retired_after).await?;
        }
        // Current first, then newest retired first: the newest key old enough,
        // else (first start, or rotations in quick succession) the current one.
        let signer: &SigningKeyRecord = records
            .iter()
            .find(|r| r.created_at <= now - bound)
            .or_else(|| records.iter().find(|r| r.retired_at.is_none()))
            .ok_or(CoreError::Store(StoreError::NotFound))?;
        let current = SigningKey::open(signer, self.master_key.as_deref())
            .map_err(|err| CoreError::Store(StoreError::Backend(Box::new(err))))?;
        Ok(LoadedKeys {
            loaded_at: now,
            current,
            published: records.iter().map(Jwk::from).collect(),
        })
    }
}
