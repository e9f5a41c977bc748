//! Prepaid credits: grants through the API or a paid one-off product; the track
//! path spends them (see [`crate::decide_usage`]).

use serde_json::json;

use crate::{
    AuditAction, CoreError, CreditGrant, CustomerId, EventId, EventKind, StoreError, Tenant,
    CREDIT_BALANCE_FULL, MAX_CREDIT_GRANT,
};

use super::Dream;

/// Longest reason a grant may carry.
const MAX_REASON_CHARS: usize = 200;

/// What a grant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditsGranted {
    /// The customer credited.
    pub customer: CustomerId,
    /// The meter the credits pay for.
    pub meter: String,
    /// Units granted.
    pub amount: u64,
    /// The meter's balance after the grant (for a replayed grant id: after the
    /// first grant).
    pub balance: u64,
    /// The grant's id: the one given, or a generated `grant_…`.
    pub grant_id: String,
    /// Whether the grant id had been used before (nothing was added now).
    pub replayed: bool,
}

impl Dream {
    /// Grants `amount` credits of `meter` to the customer named by `reference`.
    /// A `grant_id` makes the grant idempotent: the same id again adds nothing
    /// and answers the first grant's balance. Every grant that adds is an event
    /// (`credits.granted`) and, from the API, an audit entry.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::*;
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let tenant = Tenant::new(dream.create_platform(None).await?.id, Mode::Test);
    /// dream.configure_tiers(&tenant, vec![Tier {
    ///     name: "free".into(), display_name: "Free".into(),
    ///     price: Money::from_major(0.0, "usd")?,
    ///     kind: TierKind::Recurring { interval: Interval::Month },
    ///     limit: UsageLimit::Limited(10), rate_limit_per_minute: None,
    ///     features: vec![], flags: vec![], alerts: vec![], meters: Default::default(), grants: None,
    ///     archived: false,
    /// }]).await?;
    /// let customer = dream.create_customer(&tenant, NewCustomer::default()).await?;
    /// let id = customer.id.as_str();
    /// let first = dream.grant_credits(&tenant, id, "requests", 500, "welcome", Some("w1")).await?;
    /// assert_eq!(first.balance, 500);
    /// let again = dream.grant_credits(&tenant, id, "requests", 500, "welcome", Some("w1")).await?;
    /// assert!(again.replayed);
    /// assert_eq!(again.balance, 500);
    /// // The allowance (10) first, then 5 credits.
    /// let tracked = dream.track(&tenant, id, None, 15).await?;
    /// assert_eq!((tracked.used, tracked.credits_spent), (15, 5));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn grant_credits(
        &self,
        tenant: &Tenant,
        reference: &str,
        meter: &str,
        amount: u64,
        reason: &str,
        grant_id: Option<&str>,
    ) -> Result<CreditsGranted, CoreError> {
        if !(1..=MAX_CREDIT_GRANT).contains(&amount) {
            return Err(CoreError::invalid(
                "/amount",
                format!("must be between 1 and {MAX_CREDIT_GRANT}"),
            ));
        }
        self.grant_any_amount(tenant, reference, meter, amount, reason, grant_id)
            .await
    }

    /// [`Dream::grant_credits`] without the bound on one grant's amount, for
    /// grants whose amount dream computed (a purchase: credits per unit ×
    /// quantity); the store still refuses a balance past its maximum.
    pub(super) async fn grant_any_amount(
        &self,
        tenant: &Tenant,
        reference: &str,
        meter: &str,
        amount: u64,
        reason: &str,
        grant_id: Option<&str>,
    ) -> Result<CreditsGranted, CoreError> {
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(CoreError::invalid(
                "/reason",
                format!("at most {MAX_REASON_CHARS} characters"),
            ));
        }
        self.tier_config(tenant)
            .await?
            .require_meter(meter, "/meter")?;
        let customer = self.customer(tenant, reference).await?;
        let grant_id = grant_id.map_or_else(
            || {
                EventId::generate()
                    .to_string()
                    .replacen("evt_", "grant_", 1)
            },
            str::to_owned,
        );
        let grant = CreditGrant {
            tenant: tenant.clone(),
            customer: customer.id.clone(),
            meter: meter.to_owned(),
            amount,
            grant_id: grant_id.clone(),
            reason: reason.to_owned(),
            now: self.now(),
        };
        let outcome = self
            .stores
            .usage
            .grant_credits(&grant)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(what) if what == CREDIT_BALANCE_FULL => {
                    CoreError::invalid("/amount", CREDIT_BALANCE_FULL)
                }
                other => other.into(),
            })?;
        if !outcome.replayed {
            self.credits_granted_event(&grant, outcome.balance).await;
            self.record(
                &tenant.platform,
                Some(tenant.mode),
                AuditAction::CreditsGranted,
                Some(customer.id.to_string()),
                json!({ "meter": meter, "amount": amount, "reason": reason,
                        "grantId": grant_id, "balance": outcome.balance }),
            )
            .await;
        }
        Ok(CreditsGranted {
            customer: customer.id,
            meter: meter.to_owned(),
            amount,
            balance: outcome.balance,
            grant_id,
            replayed: outcome.replayed,
        })
    }

    /// `credits.granted`, with an id derived from the grant id: the grant is
    /// announced once even if a retry races the first attempt's event.
    async fn credits_granted_event(&self, grant: &CreditGrant, balance: u64) {
        let key = format!(
            "credits.granted\n{}\n{}\n{}",
            grant.tenant.platform,
            grant.tenant.mode.as_str(),
            grant.grant_id
        );
        let data = json!({ "meter": grant.meter, "amount": grant.amount, "balance": balance,
                           "reason": grant.reason, "grantId": grant.grant_id });
        self.emit_once(
            &key,
            &grant.tenant,
            EventKind::CreditsGranted,
            &grant.customer,
            data,
        )
        .await;
    }
}
