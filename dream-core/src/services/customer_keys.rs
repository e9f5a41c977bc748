//! API keys of a developer's own customers (`ck_…`): issue, list, revoke, roll,
//! and verify (optionally counting against the customer's plan in the same call).

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{
    validate_meter_name, AuditAction, CoreError, Customer, CustomerKeyId, CustomerKeyRecord,
    CustomerKeySecret, EventKind, IssuedCustomerKey, KeyDigest, KeyRate, NewCustomerKey, Tenant,
    Verification, VerifyCode, VerifyUsage, MAX_RATE_PER_MINUTE, REQUESTS_METER,
};

use super::{keys::MAX_ROLL_OVERLAP_SECS, usage::MAX_TRACK_AMOUNT, Dream};

/// Longest key [`Dream::verify_customer_key`] accepts (`maxLength` of `key` in
/// the spec); real keys are far shorter.
pub const MAX_PRESENTED_KEY_LEN: usize = 512;

/// What [`Dream::roll_customer_key`] did.
#[derive(Debug, Clone)]
pub struct RolledCustomerKey {
    /// The new key, with its secret to show once.
    pub issued: IssuedCustomerKey,
    /// The old key, with its new expiry.
    pub old: CustomerKeyRecord,
}

fn check_name(name: &Option<String>) -> Result<(), CoreError> {
    if let Some(name) = name {
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "/name",
                "at most 100 characters without control characters",
            ));
        }
    }
    Ok(())
}

impl Dream {
    /// Issues an API key (`ck_{mode}_…`) to one of the tenant's customers
    /// (`reference`: `usr_…` or the external id). The key is in the result and
    /// nowhere else: show it once. Recorded in the audit log and the event log.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::{Dream, Mode, Tenant, Tier, TierKind, Interval, Money, UsageLimit,
    ///     NewCustomer, VerifyCode};
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let platform = dream.create_platform(None).await?;
    /// let tenant = Tenant::new(platform.id, Mode::Test);
    /// dream.configure_tiers(&tenant, vec![Tier {
    ///     name: "free".into(), display_name: "Free".into(),
    ///     price: Money::from_major(0.0, "usd")?,
    ///     kind: TierKind::Recurring { interval: Interval::Month },
    ///     limit: UsageLimit::Limited(1), rate_limit_per_minute: None,
    ///     features: vec![], flags: vec![], alerts: vec![], meters: Default::default(), grants: None, archived: false,
    /// }]).await?;
    /// let customer = dream.create_customer(&tenant, NewCustomer::default()).await?;
    /// let issued = dream.issue_customer_key(&tenant, customer.id.as_str(), None, None).await?;
    /// let key = issued.secret.expose_secret();
    /// let first = dream.verify_customer_key(&tenant, key, None, Some(1), None).await?;
    /// assert_eq!(first.code, VerifyCode::Valid);
    /// let second = dream.verify_customer_key(&tenant, key, None, Some(1), None).await?;
    /// assert_eq!(second.code, VerifyCode::UsageExceeded);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn issue_customer_key(
        &self,
        tenant: &Tenant,
        reference: &str,
        name: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedCustomerKey, CoreError> {
        let options = NewCustomerKey {
            name,
            expires_at,
            ..NewCustomerKey::default()
        };
        self.issue_customer_key_with(tenant, reference, options)
            .await
    }

    /// [`Dream::issue_customer_key`] with every option: the meter its
    /// verifications count unless they name another, and its own rate limit,
    /// enforced in the same atomic decision as the plan's limits.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::{Dream, Mode, NewCustomer, NewCustomerKey, Tenant, Tier, TierKind,
    ///     Interval, Money, UsageLimit, VerifyCode};
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let platform = dream.create_platform(None).await?;
    /// let tenant = Tenant::new(platform.id, Mode::Test);
    /// dream.configure_tiers(&tenant, vec![Tier {
    ///     name: "free".into(), display_name: "Free".into(),
    ///     price: Money::from_major(0.0, "usd")?,
    ///     kind: TierKind::Recurring { interval: Interval::Month },
    ///     limit: UsageLimit::Limited(100), rate_limit_per_minute: None,
    ///     features: vec![], flags: vec![], alerts: vec![], meters: Default::default(), grants: None, archived: false,
    /// }]).await?;
    /// let customer = dream.create_customer(&tenant, NewCustomer::default()).await?;
    /// let options = NewCustomerKey { rate_per_minute: Some(1), ..Default::default() };
    /// let issued = dream.issue_customer_key_with(&tenant, customer.id.as_str(), options).await?;
    /// let key = issued.secret.expose_secret();
    /// let first = dream.verify_customer_key(&tenant, key, None, Some(1), None).await?;
    /// assert_eq!(first.code, VerifyCode::Valid);
    /// let second = dream.verify_customer_key(&tenant, key, None, Some(1), None).await?;
    /// assert_eq!(second.code, VerifyCode::RateLimited);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn issue_customer_key_with(
        &self,
        tenant: &Tenant,
        reference: &str,
        options: NewCustomerKey,
    ) -> Result<IssuedCustomerKey, CoreError> {
        check_name(&options.name)?;
        if let Some(meter) = &options.meter {
            self.tier_config(tenant)
                .await?
                .require_meter(meter, "/meter")?;
        }
        if options
            .rate_per_minute
            .is_some_and(|rate| !(1..=MAX_RATE_PER_MINUTE).contains(&rate))
        {
            return Err(CoreError::invalid(
                "/ratePerMinute",
                format!("must be between 1 and {MAX_RATE_PER_MINUTE}"),
            ));
        }
        let now = self.now();
        if options.expires_at.is_some_and(|at| at <= now) {
            return Err(CoreError::invalid("/expiresAt", "must be in the future"));
        }
        let customer = self.customer(tenant, reference).await?;
        let mut issued = IssuedCustomerKey::generate(
            tenant.clone(),
            customer.id,
            options.name,
            options.expires_at,
            now,
        );
        issued.record.meter = options.meter;
        issued.record.rate_per_minute = options.rate_per_minute;
        self.stores
            .customer_keys
            .insert_customer_key(&issued.record)
            .await?;
        self.customer_key_created(&issued.record, None).await;
        Ok(issued)
    }

    async fn customer_key_created(
        &self,
        key: &CustomerKeyRecord,
        rolled_from: Option<&CustomerKeyId>,
    ) {
        self.emit(
            &key.tenant,
            EventKind::CustomerKeyCreated,
            Some(&key.customer),
            json!({ "keyId": key.id, "rolledFrom": rolled_from }),
        )
        .await;
        if rolled_from.is_none() {
            self.record(
                &key.tenant.platform,
                Some(key.tenant.mode),
                AuditAction::CustomerKeyCreated,
                Some(key.id.to_string()),
                json!({ "customerId": key.customer, "name": key.name,
                        "expiresAt": key.expires_at, "meter": key.meter,
                        "ratePerMinute": key.rate_per_minute }),
            )
            .await;
        }
    }

    /// One customer's keys (never the keys themselves), oldest first.
    pub async fn list_customer_keys(
        &self,
        tenant: &Tenant,
        reference: &str,
    ) -> Result<Vec<CustomerKeyRecord>, CoreError> {
        let customer = self.customer(tenant, reference).await?;
        Ok(self
            .stores
            .customer_keys
            .list_customer_keys(tenant, &customer.id)
            .await?)
    }

    /// The customer's key `id`; another customer's or tenant's key is `NotFound`,
    /// exactly like a missing one.
    async fn customer_key(
        &self,
        tenant: &Tenant,
        reference: &str,
        id: &CustomerKeyId,
    ) -> Result<(Customer, CustomerKeyRecord), CoreError> {
        let customer = self.customer(tenant, reference).await?;
        let key = self
            .stores
            .customer_keys
            .get_customer_key(tenant, id)
            .await?
            .filter(|key| key.customer == customer.id)
            .ok_or(CoreError::NotFound("key"))?;
        Ok((customer, key))
    }

    /// Revokes a customer's key at once (every process within the cache bound).
    /// Revoking twice keeps the first time and records nothing new.
    pub async fn revoke_customer_key(
        &self,
        tenant: &Tenant,
        reference: &str,
        id: &CustomerKeyId,
    ) -> Result<CustomerKeyRecord, CoreError> {
        let (_, key) = self.customer_key(tenant, reference, id).await?;
        let record = self
            .stores
            .customer_keys
            .revoke_customer_key(tenant, id, self.now())
            .await?
            .ok_or(CoreError::NotFound("key"))?;
        if key.revoked_at.is_none() {
            self.emit(
                tenant,
                EventKind::CustomerKeyRevoked,
                Some(&record.customer),
                json!({ "keyId": record.id }),
            )
            .await;
            self.record(
                &tenant.platform,
                Some(tenant.mode),
                AuditAction::CustomerKeyRevoked,
                Some(record.id.to_string()),
                json!({ "customerId": record.customer }),
            )
            .await;
        }
        Ok(record)
    }

    /// Rolls a customer's key exactly as [`Dream::roll_key`] rolls a key pair: a
    /// new key (same customer, name and expiry) now, the old one expiring after
    /// `overlap` (0 to 30 days, else `InvalidInput` on `/overlapSeconds`); an
    /// earlier expiry of the old key is kept, never extended. A revoked or
    /// expired key: `Conflict`.
    pub async fn roll_customer_key(
        &self,
        tenant: &Tenant,
        reference: &str,
        id: &CustomerKeyId,
        overlap: chrono::Duration,
    ) -> Result<RolledCustomerKey, CoreError> {
        if overlap < chrono::Duration::zero()
            || overlap > chrono::Duration::seconds(MAX_ROLL_OVERLAP_SECS)
        {
            return Err(CoreError::invalid(
                "/overlapSeconds",
                format!("must be between 0 and {MAX_ROLL_OVERLAP_SECS} (30 days)"),
            ));
        }
        let (_, old) = self.customer_key(tenant, reference, id).await?;
        let now = self.now();
        if old.revoked_at.is_some() {
            return Err(CoreError::Conflict(
                "this key is revoked; there is nothing to roll: issue a new key".into(),
            ));
        }
        if !old.is_active(now) {
            return Err(CoreError::Conflict(
                "this key has expired; there is nothing to roll: issue a new key".into(),
            ));
        }
        // The new key first: if expiring the old one then fails, both still work
        // and the caller can retry, rather than being left with neither.
        let mut issued = IssuedCustomerKey::generate(
            tenant.clone(),
            old.customer.clone(),
            old.name.clone(),
            old.expires_at,
            now,
        );
        issued.record.meter = old.meter.clone();
        issued.record.rate_per_minute = old.rate_per_minute;
        self.stores
            .customer_keys
            .insert_customer_key(&issued.record)
            .await?;
        let old = self
            .stores
            .customer_keys
            .expire_customer_key(tenant, id, now + overlap)
            .await?
            .ok_or(CoreError::NotFound("key"))?;
        self.customer_key_created(&issued.record, Some(&old.id))
            .await;
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::CustomerKeyRolled,
            Some(old.id.to_string()),
            json!({ "customerId": old.customer, "newKeyId": issued.record.id,
                    "overlapSeconds": overlap.num_seconds(),
                    "oldExpiresAt": old.expires_at }),
        )
        .await;
        Ok(RolledCustomerKey { issued, old })
    }

    /// Verifies a customer key presented to the developer's API and, with
    /// `amount`, counts it against the customer's plan through the same atomic
    /// decision as [`Dream::track`] (limit, credits, the plan's rate limit, the
    /// key's own `rate_per_minute`, receipts): one call answers whether to serve
    /// the request.
    ///
    /// Verdicts are answers, not errors: a malformed or unknown key, another
    /// tenant's or the other mode's key, and a key whose customer was deleted are
    /// all [`VerifyCode::NotFound`], indistinguishable from each other. Revoked and
    /// expired keys say so. With `amount`, a refusal counts nothing
    /// ([`VerifyCode::UsageExceeded`], [`VerifyCode::RateLimited`]).
    /// `idempotency_key` makes a counted retry safe: the same key, amount and
    /// idempotency key are counted once. Errors are only what a track would
    /// raise for reasons other than a verdict: a bad `amount`, an unreachable
    /// store (usage fails closed).
    ///
    /// The key lookup is by digest, served by the cache of the key store
    /// decorator on the hot path, so this costs what a track costs.
    pub async fn verify_customer_key(
        &self,
        tenant: &Tenant,
        token: &str,
        meter: Option<&str>,
        amount: Option<u64>,
        idempotency_key: Option<&str>,
    ) -> Result<Verification, CoreError> {
        // A bad amount is the caller's mistake whatever the key: refused before
        // the lookup, so the answer does not depend on the key.
        if amount.is_some_and(|n| !(1..=MAX_TRACK_AMOUNT).contains(&n)) {
            return Err(CoreError::invalid(
                "/amount",
                format!("must be between 1 and {MAX_TRACK_AMOUNT}"),
            ));
        }
        if let Some(meter) = meter {
            validate_meter_name(meter, "/meter")?;
        }
        // The spec's bound: longer is malformed input, not an unknown key.
        if token.len() > MAX_PRESENTED_KEY_LEN {
            return Err(CoreError::invalid(
                "/key",
                format!("must be at most {MAX_PRESENTED_KEY_LEN} characters"),
            ));
        }
        if CustomerKeySecret::mode_of(token) != Some(tenant.mode) {
            return Ok(Verification::not_found());
        }
        let Some(key) = self
            .stores
            .customer_keys
            .find_customer_key_by_digest(&KeyDigest::of(token))
            .await?
            .filter(|key| &key.tenant == tenant)
        else {
            return Ok(Verification::not_found());
        };
        if key.revoked_at.is_some() {
            return Ok(Verification::of_key(VerifyCode::Revoked, Some(&key)));
        }
        if !key.is_active(self.now()) {
            return Ok(Verification::of_key(VerifyCode::Expired, Some(&key)));
        }
        let mut verdict = Verification::of_key(VerifyCode::Valid, Some(&key));
        let customer = key.customer.as_str();
        let meter = meter.or(key.meter.as_deref()).unwrap_or(REQUESTS_METER);
        let Some(amount) = amount else {
            let read = async {
                let (customer, config) = self.customer_for_usage(tenant, customer, None).await?;
                let state = self.meter_state(tenant, &customer, &config, meter).await?;
                Ok::<_, CoreError>((customer.plan.clone(), state))
            };
            return match read.await {
                Ok((plan, state)) => {
                    verdict.usage = Some(VerifyUsage {
                        used: state.used,
                        limit: state.limit,
                        remaining: state.remaining(),
                        period_end: state.period.end,
                    });
                    verdict.plan = Some(plan);
                    Ok(verdict)
                }
                Err(CoreError::NotFound(_)) => Ok(Verification::not_found()),
                Err(err) => Err(err),
            };
        };
        // The receipt names the key record, never the key itself: receipts are stored.
        let receipt = idempotency_key.map(|idem| {
            if meter == REQUESTS_METER {
                format!("POST /api/keys/verify\n{idem}\n{}\n{amount}", key.id)
            } else {
                format!(
                    "POST /api/keys/verify\n{idem}\n{}\n{amount}\n{meter}",
                    key.id
                )
            }
        });
        let key_rate = key.rate_per_minute.map(|per_minute| KeyRate {
            window: key.id.to_string(),
            per_minute,
            cost: if meter == REQUESTS_METER { amount } else { 1 },
        });
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        match self
            .track_with_key(
                tenant,
                customer,
                meter,
                amount,
                receipt.as_deref(),
                key_rate,
            )
            .await
        {
            Ok(outcome) => {
                verdict.usage = Some(VerifyUsage {
                    used: outcome.used,
                    limit: outcome.limit,
                    remaining: outcome.remaining(),
                    period_end: outcome.period.end,
                });
                verdict.plan = Some(outcome.plan);
                Ok(verdict)
            }
            Err(CoreError::UsageLimitReached(reached)) => {
                verdict.code = VerifyCode::UsageExceeded;
                verdict.usage = Some(VerifyUsage {
                    used: reached.used,
                    limit: Some(reached.limit),
                    remaining: Some(reached.limit.saturating_sub(reached.used)),
                    period_end: reached.period_end,
                });
                verdict.plan = Some(reached.plan);
                Ok(verdict)
            }
            Err(CoreError::RateLimited { retry_after_ms, .. }) => {
                verdict.code = VerifyCode::RateLimited;
                verdict.retry_after_ms = Some(retry_after_ms);
                Ok(verdict)
            }
            Err(CoreError::NotFound(_)) => Ok(Verification::not_found()),
            Err(err) => Err(err),
        }
    }
}
