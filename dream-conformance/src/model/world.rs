//! The system under test (a `Dream` over the backend) next to the reference model.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::{prop_assert, prop_assert_eq, test_runner::TestCaseError};

use dream_core::{
    ports::Stores, Clock, CoreError, CustomerId, CustomerPatch, Dream, Interval, KeyId,
    ManualClock, MeterPeriod, MeterReset, MeterSpec, Mode, Money, Period, SecretKey, StoreError,
    Tenant, Tier, TierKind,
};

use super::ops::{reference_decision, Meter, Op, Plan, CUSTOMERS, KEYS, TENANTS};

/// A customer the model knows the backend has.
#[derive(Debug)]
struct Known {
    id: CustomerId,
    plan: Plan,
    /// `requests` counted in the current month.
    used: u64,
    /// `exports` counted today and `seats` counted ever.
    meters: HashMap<Meter, u64>,
    /// Credit balances by meter.
    credits: HashMap<Meter, u64>,
}

impl Known {
    fn new(id: CustomerId) -> Self {
        Self {
            id,
            plan: Plan::Free,
            used: 0,
            meters: HashMap::new(),
            credits: HashMap::new(),
        }
    }

    fn count(&self, meter: Meter) -> u64 {
        match meter {
            Meter::Requests => self.used,
            other => self.meters.get(&other).copied().unwrap_or(0),
        }
    }

    fn set_count(&mut self, meter: Meter, used: u64) {
        match meter {
            Meter::Requests => self.used = used,
            other => {
                self.meters.insert(other, used);
            }
        }
    }

    fn credit(&self, meter: Meter) -> u64 {
        self.credits.get(&meter).copied().unwrap_or(0)
    }
}

/// The reference model: plain maps.
#[derive(Debug, Default)]
struct Model {
    /// By (tenant index, customer index).
    customers: HashMap<(usize, usize), Known>,
    /// First revocation time by (tenant index, key index).
    revoked: HashMap<(usize, usize), DateTime<Utc>>,
    /// The balance each grant id's first grant produced, by (tenant, grant).
    grants: HashMap<(usize, u8), u64>,
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
            meters: [
                (Meter::Exports, MeterReset::Day),
                (Meter::Seats, MeterReset::Never),
            ]
            .into_iter()
            .map(|(meter, reset)| {
                let spec = MeterSpec {
                    limit: plan.meter_limit(meter),
                    reset,
                    alerts: vec![],
                };
                (meter.name().to_owned(), spec)
            })
            .collect(),
            grants: None,
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
            Op::TrackMeter {
                tenant,
                customer,
                meter,
                amount,
            } => self.track_meter(tenant, customer, meter, amount).await,
            Op::GrantCredits {
                tenant,
                customer,
                meter,
                amount,
                grant,
            } => self.grant(tenant, customer, meter, amount, grant).await,
            Op::Rollover => {
                let next = Period::calendar_month(self.clock.now()).end;
                self.move_clock(next + Duration::minutes(5));
                Ok(())
            }
            Op::NextDay => {
                let next = MeterReset::Day.period(self.clock.now()).end;
                self.move_clock(next + Duration::minutes(5));
                Ok(())
            }
            Op::RevokeKey { tenant, key } => self.revoke(tenant, key).await,
        }
    }

    /// Sets the clock; a new day starts `exports` again, a new month `requests`.
    fn move_clock(&mut self, to: DateTime<Utc>) {
        let month = Period::calendar_month(self.clock.now());
        self.clock.set(to);
        let new_month = Period::calendar_month(to) != month;
        for known in self.model.customers.values_mut() {
            known.meters.remove(&Meter::Exports);
            if new_month {
                known.used = 0;
            }
        }
    }

    /// The model's customer for (t, c), inserted with `id` on first sight.
    fn known(&mut self, t: usize, c: usize, id: &CustomerId) -> Result<&mut Known, TestCaseError> {
        let fresh = !self.model.customers.contains_key(&(t, c));
        if fresh {
            let same_id = self
                .model
                .customers
                .values()
                .filter(|known| &known.id == id)
                .count();
            prop_assert_eq!(same_id, 0, "a new customer got another's id: {:?}", id);
        }
        let known = self
            .model
            .customers
            .entry((t, c))
            .or_insert_with(|| Known::new(id.clone()));
        prop_assert_eq!(&known.id, id, "a reference keeps naming one customer");
        Ok(known)
    }

    async fn track_meter(
        &mut self,
        t: usize,
        c: usize,
        meter: Meter,
        amount: i64,
    ) -> Result<(), TestCaseError> {
        let tenant = self.tenants[t].clone();
        let reference = reference(c);
        let (plan, used, credits) = self
            .model
            .customers
            .get(&(t, c))
            .map_or((Plan::Free, 0, 0), |k| {
                (k.plan, k.count(meter), k.credit(meter))
            });
        let result = self
            .dream
            .track_meter(&tenant, &reference, None, meter.name(), amount, None)
            .await;
        // Every call names a customer, so it exists afterwards (first sight).
        let id = self
            .dream
            .customer(&tenant, &reference)
            .await
            .map_err(|e| fail(format!("customer seen by track_meter is missing: {e:?}")))?
            .id;
        let known = self.known(t, c, &id)?;
        if amount < 0 {
            if meter != Meter::Seats {
                prop_assert!(
                    matches!(&result, Err(CoreError::InvalidInput { field, .. }) if field == "/amount"),
                    "a negative amount on {:?} must be refused naming /amount, got {:?}",
                    meter,
                    result
                );
                return Ok(());
            }
            let after = used.saturating_sub(amount.unsigned_abs());
            let outcome = result.map_err(|e| fail(format!("releasing seats failed: {e:?}")))?;
            prop_assert_eq!(outcome.used, after, "a release answers the count after it");
            prop_assert_eq!(outcome.credits_spent, 0);
            known.set_count(meter, after);
            return Ok(());
        }
        let amount = amount.unsigned_abs();
        match (
            reference_decision(plan.meter_limit(meter), used, amount, credits),
            result,
        ) {
            (Some(spent), Ok(outcome)) => {
                prop_assert_eq!(outcome.used, used + amount, "accepted usage is exact");
                prop_assert_eq!(outcome.credits_spent, spent, "credits spent");
                prop_assert_eq!(outcome.meter.as_ref(), meter.name());
                known.set_count(meter, used + amount);
                known.credits.insert(meter, credits - spent);
            }
            (None, Err(CoreError::UsageLimitReached(refusal))) => {
                prop_assert_eq!(refusal.used, used, "a refusal reports the unchanged usage");
            }
            (expected, got) => {
                return Err(fail(format!(
                    "tenant {t} {reference} {meter:?} +{amount} with {used} used and \
                     {credits} credits on {plan:?}: expected {expected:?} credits spent, \
                     got {got:?}"
                )))
            }
        }
        Ok(())
    }

    async fn grant(
        &mut self,
        t: usize,
        c: usize,
        meter: Meter,
        amount: u64,
        grant: u8,
    ) -> Result<(), TestCaseError> {
        let tenant = self.tenants[t].clone();
        let grant_id = format!("g{grant}");
        let result = self
            .dream
            .grant_credits(
                &tenant,
                &reference(c),
                meter.name(),
                amount,
                "model",
                Some(&grant_id),
            )
            .await;
        let Some(known) = self.model.customers.get_mut(&(t, c)) else {
            prop_assert!(
                matches!(result, Err(CoreError::NotFound(_))),
                "granting to a never-seen customer must be NotFound, got {:?}",
                result
            );
            return Ok(());
        };
        let granted = result.map_err(|e| fail(format!("grant {grant_id} failed: {e:?}")))?;
        match self.model.grants.get(&(t, grant)) {
            Some(first_balance) => {
                prop_assert!(granted.replayed, "a repeated grant id must replay");
                prop_assert_eq!(
                    granted.balance,
                    *first_balance,
                    "a replay answers the first balance"
                );
            }
            None => {
                prop_assert!(!granted.replayed, "a new grant id must add");
                let balance = known.credit(meter) + amount;
                prop_assert_eq!(granted.balance, balance, "balance after the grant");
                known.credits.insert(meter, balance);
                self.model.grants.insert((t, grant), balance);
            }
        }
        Ok(())
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

        let (plan, used, credits) = self
            .model
            .customers
            .get(&(t, c))
            .map_or((Plan::Free, 0, 0), |known| {
                (known.plan, known.used, known.credit(Meter::Requests))
            });
        let decision = reference_decision(plan.limit(), used, amount, credits);
        let fits = decision.is_some();
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
                prop_assert_eq!(Some(outcome.credits_spent), decision, "credits spent");
                if let (Some(limit), 0) = (plan.limit().as_option(), outcome.credits_spent) {
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
                (outcome.customer.id.clone(), true)
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
        let known = self.known(t, c, &id)?;
        if accepted {
            known.used = used + amount;
            known
                .credits
                .insert(Meter::Requests, credits - decision.unwrap_or(0));
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
                        let now = self.clock.now();
                        let asked: Vec<MeterPeriod> = [
                            (Meter::Exports, MeterReset::Day),
                            (Meter::Seats, MeterReset::Never),
                        ]
                        .into_iter()
                        .map(|(meter, reset)| MeterPeriod {
                            meter: meter.name().to_owned(),
                            period: reset.period(now),
                        })
                        .collect();
                        let reading = self
                            .store
                            .usage
                            .read_meters(tenant, &known.id, &asked)
                            .await
                            .map_err(|e| store_err("read_meters", e))?;
                        prop_assert_eq!(
                            &reading.used,
                            &vec![known.count(Meter::Exports), known.count(Meter::Seats)],
                            "tenant {} c{}: exports and seats",
                            t,
                            c
                        );
                        for meter in Meter::ALL {
                            prop_assert_eq!(
                                reading.credits.get(meter.name()).copied().unwrap_or(0),
                                known.credit(meter),
                                "tenant {} c{}: {:?} credits",
                                t,
                                c,
                                meter
                            );
                        }
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
