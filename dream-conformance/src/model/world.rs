//! The system under test (a `Dream` over the backend) next to the reference model.

use std::{
    collections::{hash_map::Entry, HashMap},
    sync::Arc,
};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::{prop_assert, prop_assert_eq, test_runner::TestCaseError};

use dream_core::{
    ports::Stores, Clock, CoreError, CustomerId, CustomerPatch, Dream, Interval, KeyId,
    ManualClock, Mode, Money, Period, SecretKey, StoreError, Tenant, Tier, TierKind,
};

use super::ops::{Op, Plan, CUSTOMERS, KEYS, TENANTS};

/// A customer the model knows the backend has.
#[derive(Debug)]
struct Known {
    id: CustomerId,
    plan: Plan,
    /// Usage counted in the current period.
    used: u64,
}

/// The reference model: plain maps.
#[derive(Debug, Default)]
struct Model {
    /// By (tenant index, customer index).
    customers: HashMap<(usize, usize), Known>,
    /// First revocation time by (tenant index, key index).
    revoked: HashMap<(usize, usize), DateTime<Utc>>,
}

/// A `Dream` over the backend under test, its clock, and the model.
pub(super) struct World {
    dream: Dream,
    store: Stores,
    clock: Arc<ManualClock>,
    tenants: Vec<Tenant>,
    secrets: Vec<Vec<SecretKey>>,
    key_ids: Vec<Vec<KeyId>>,
    model: Model,
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

fn setup<T>(result: Result<T, CoreError>, what: &str) -> Result<T, TestCaseError> {
    result.map_err(|e| fail(format!("setup: {what} failed: {e:?}")))
}

fn tiers() -> Vec<Tier> {
    Plan::ALL
        .iter()
        .map(|plan| Tier {
            name: plan.name().into(),
            display_name: plan.name().into(),
            price: Money {
                amount_minor: plan.price_minor(),
                currency: "usd".into(),
            },
            kind: TierKind::Recurring {
                interval: Interval::Month,
            },
            limit: plan.limit(),
            rate_limit_per_minute: None,
            features: vec![],
            flags: vec![],
            alerts: dream_core::DEFAULT_ALERTS.to_vec(),
            meters: Default::default(),
            archived: false,
        })
        .collect()
}

fn reference(customer: usize) -> String {
    format!("c{customer}")
}

impl World {
    /// Platforms A and B, tenants A/test, A/live, B/test, each with the three
    /// tiers and two keys, on a clock standing mid-month.
    pub(super) async fn new(store: Stores) -> Result<Self, TestCaseError> {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 20, 10, 0, 0)
            .single()
            .ok_or_else(|| fail("invalid start time".into()))?;
        let clock = Arc::new(ManualClock::new(start));
        let dream = Dream::with_clock(store.clone(), clock.clone());
        let a = setup(dream.create_platform(Some("A".into())).await, "platform A")?;
        let b = setup(dream.create_platform(Some("B".into())).await, "platform B")?;
        let tenants = vec![
            Tenant::new(a.id.clone(), Mode::Test),
            Tenant::new(a.id, Mode::Live),
            Tenant::new(b.id, Mode::Test),
        ];
        let mut secrets = Vec::with_capacity(TENANTS);
        let mut key_ids = Vec::with_capacity(TENANTS);
        for tenant in &tenants {
            setup(
                dream.configure_tiers(tenant, tiers()).await,
                "configure_tiers",
            )?;
            let mut tenant_secrets = Vec::with_capacity(KEYS);
            let mut tenant_keys = Vec::with_capacity(KEYS);
            for _ in 0..KEYS {
                let issued = setup(dream.issue_key(tenant, None, None).await, "issue_key")?;
                tenant_secrets.push(issued.secret);
                tenant_keys.push(issued.record.id);
            }
            secrets.push(tenant_secrets);
            key_ids.push(tenant_keys);
        }
        Ok(Self {
            dream,
            store,
            clock,
            tenants,
            secrets,
            key_ids,
            model: Model::default(),
        })
    }

    /// Applies `op` to the system and the model, checking the system's answer.
    pub(super) async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        // Time moves a little between operations, as it does in production.
        self.clock.advance(Duration::seconds(1));
        match *op {
            Op::Track {
                tenant,
                key,
                customer,
                amount,
            } => self.track(tenant, key, customer, amount).await,
            Op::ChangePlan {
                tenant,
                customer,
                plan,
            } => self.change_plan(tenant, customer, plan).await,
            Op::Rollover => {
                let next = Period::calendar_month(self.clock.now()).end;
                self.clock.set(next + Duration::minutes(5));
                for known in self.model.customers.values_mut() {
                    known.used = 0;
                }
                Ok(())
            }
            Op::RevokeKey { tenant, key } => self.revoke(tenant, key).await,
        }
    }

    async fn track(
        &mut self,
        t: usize,
        k: usize,
        c: usize,
        amount: u64,
    ) -> Result<(), TestCaseError> {
        let tenant = self.tenants[t].clone();
        let auth = self
            .dream
            .authenticate_secret(self.secrets[t][k].expose_secret())
            .await;
        if self.model.revoked.contains_key(&(t, k)) {
            prop_assert!(
                matches!(auth, Err(CoreError::InvalidApiKey)),
                "revoked key {} of tenant {} must give InvalidApiKey, got {:?}",
                k,
                t,
                auth
            );
            return Ok(());
        }
        let key = auth.map_err(|e| fail(format!("active key {k} of tenant {t}: {e:?}")))?;
        prop_assert_eq!(
            &key.tenant,
            &tenant,
            "a key authenticates to its own tenant"
        );

        let (plan, used) = self
            .model
            .customers
            .get(&(t, c))
            .map_or((Plan::Free, 0), |known| (known.plan, known.used));
        let fits = plan.admits(used, amount);
        let reference = reference(c);
        let (id, accepted) = match self
            .dream
            .track(&key.tenant, &reference, None, amount)
            .await
        {
            Ok(outcome) => {
                prop_assert!(
                    fits,
                    "tenant {} {}: amount {} accepted with {} used on {:?}",
                    t,
                    reference,
                    amount,
                    used,
                    plan
                );
                prop_assert_eq!(outcome.used, used + amount, "accepted usage is exact");
                if let Some(limit) = plan.limit().as_option() {
                    prop_assert!(
                        outcome.used <= limit,
                        "accepted usage {} exceeds the {:?} limit {}",
                        outcome.used,
                        plan,
                        limit
                    );
                }
                prop_assert_eq!(
                    outcome.plan.as_str(),
                    plan.name(),
                    "the stored plan applies"
                );
                prop_assert_eq!(&outcome.customer.tenant, &tenant, "customer of the tenant");
                (outcome.customer.id, true)
            }
            Err(CoreError::UsageLimitReached(refusal)) => {
                prop_assert!(plan != Plan::Max, "Unlimited refused a call: {:?}", refusal);
                prop_assert!(
                    !fits,
                    "tenant {} {}: amount {} refused with {} used on {:?}",
                    t,
                    reference,
                    amount,
                    used,
                    plan
                );
                prop_assert_eq!(refusal.used, used, "a refusal reports the unchanged usage");
                prop_assert_eq!(
                    refusal.plan.as_str(),
                    plan.name(),
                    "the stored plan applies"
                );
                // The customer exists from first sight even when the call is refused.
                let found = self
                    .dream
                    .customer(&tenant, &reference)
                    .await
                    .map_err(|e| fail(format!("customer seen by track is missing: {e:?}")))?;
                (found.id, false)
            }
            Err(other) => {
                return Err(fail(format!(
                    "tenant {t} {reference}: unexpected track error {other:?}"
                )))
            }
        };
        let now_used = if accepted { used + amount } else { used };
        match self.model.customers.entry((t, c)) {
            Entry::Occupied(mut entry) => {
                prop_assert_eq!(
                    &entry.get().id,
                    &id,
                    "a reference keeps naming one customer"
                );
                entry.get_mut().used = now_used;
            }
            Entry::Vacant(entry) => {
                entry.insert(Known {
                    id: id.clone(),
                    plan: Plan::Free,
                    used: now_used,
                });
                let same_id = self
                    .model
                    .customers
                    .iter()
                    .filter(|(_, known)| known.id == id)
                    .count();
                prop_assert_eq!(same_id, 1, "a new customer got another's id: {:?}", id);
            }
        }
        Ok(())
    }

    async fn change_plan(&mut self, t: usize, c: usize, plan: Plan) -> Result<(), TestCaseError> {
        let patch = CustomerPatch {
            plan: Some(plan.name().into()),
            ..CustomerPatch::default()
        };
        let result = self
            .dream
            .update_customer(&self.tenants[t], &reference(c), patch)
            .await;
        match self.model.customers.get_mut(&(t, c)) {
            Some(known) => {
                let updated = result.map_err(|e| {
                    fail(format!(
                        "tenant {t} c{c}: plan change to {plan:?} failed: {e:?}"
                    ))
                })?;
                prop_assert_eq!(
                    &updated.id,
                    &known.id,
                    "the plan change hit another customer"
                );
                prop_assert_eq!(
                    updated.plan.as_str(),
                    plan.name(),
                    "the new plan is returned"
                );
                known.plan = plan;
            }
            None => prop_assert!(
                matches!(result, Err(CoreError::NotFound(_))),
                "tenant {} c{}: changing the plan of a never-seen customer must be NotFound, \
                 got {:?}",
                t,
                c,
                result
            ),
        }
        Ok(())
    }

    async fn revoke(&mut self, t: usize, k: usize) -> Result<(), TestCaseError> {
        let now = self.clock.now();
        let record = self
            .dream
            .revoke_key(&self.key_ids[t][k])
            .await
            .map_err(|e| fail(format!("revoking key {k} of tenant {t}: {e:?}")))?;
        let first = *self.model.revoked.entry((t, k)).or_insert(now);
        prop_assert_eq!(
            record.revoked_at,
            Some(first),
            "revoking keeps the first time"
        );
        prop_assert_eq!(
            &record.tenant,
            &self.tenants[t],
            "revoked the tenant's own key"
        );
        Ok(())
    }

    /// Checks every tenant's stored state against the model.
    pub(super) async fn check(&self) -> Result<(), TestCaseError> {
        let period = Period::calendar_month(self.clock.now());
        let store_err = |what: &str, e: StoreError| fail(format!("{what} failed: {e:?}"));
        for (t, tenant) in self.tenants.iter().enumerate() {
            let mut total = 0;
            let mut active = 0;
            for c in 0..CUSTOMERS {
                let stored = self
                    .store
                    .customers
                    .find_customer_by_external_id(tenant, &reference(c))
                    .await
                    .map_err(|e| store_err("find_customer_by_external_id", e))?;
                match (self.model.customers.get(&(t, c)), stored) {
                    (None, None) => {}
                    (Some(known), Some(stored)) => {
                        prop_assert_eq!(&stored.id, &known.id, "tenant {} c{}: id", t, c);
                        prop_assert_eq!(stored.plan.as_str(), known.plan.name(), "stored plan");
                        let used = self
                            .store
                            .usage
                            .get_usage(tenant, &known.id, &period)
                            .await
                            .map_err(|e| store_err("get_usage", e))?;
                        prop_assert_eq!(
                            used,
                            known.used,
                            "tenant {} c{}: stored usage differs from the model",
                            t,
                            c
                        );
                        total += used;
                        active += u64::from(used > 0);
                        for (o, other) in self.tenants.iter().enumerate().filter(|(o, _)| *o != t) {
                            let leaked = self
                                .store
                                .usage
                                .get_usage(other, &known.id, &period)
                                .await
                                .map_err(|e| store_err("get_usage", e))?;
                            prop_assert_eq!(
                                leaked,
                                0,
                                "tenant {} sees usage of tenant {}'s c{}",
                                o,
                                t,
                                c
                            );
                        }
                    }
                    (Some(_), None) => {
                        return Err(fail(format!("tenant {t} c{c} vanished from the store")))
                    }
                    (None, Some(stored)) => {
                        return Err(fail(format!(
                            "tenant {t} has c{c} ({:?}) though it never tracked it",
                            stored.id
                        )))
                    }
                }
            }
            let stored_total = self
                .store
                .usage
                .total_usage(tenant, &period)
                .await
                .map_err(|e| store_err("total_usage", e))?;
            prop_assert_eq!(stored_total, total, "tenant {}: total_usage", t);
            let stored_active = self
                .store
                .usage
                .active_customers(tenant, &period)
                .await
                .map_err(|e| store_err("active_customers", e))?;
            prop_assert_eq!(stored_active, active, "tenant {}: active_customers", t);
        }
        Ok(())
    }
}
