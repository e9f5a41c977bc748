//! Customers: create, read, update, delete, list, and find-or-create on first sight.

use std::sync::Arc;

use serde_json::json;

use crate::{
    customer::{
        validate_email, validate_external_id, validate_metadata, validate_name, validate_password,
    },
    AuditAction, CoreError, Customer, CustomerId, CustomerPatch, Event, EventKind, NewCustomer,
    Page, PageRequest, PasswordHash, StoreError, Tenant, TierConfig,
};

use super::Dream;

fn unknown_plan(config: &TierConfig, plan: &str) -> CoreError {
    let offered: Vec<&str> = config
        .active()
        .filter(|t| t.is_plan())
        .map(|t| t.name.as_str())
        .collect();
    CoreError::invalid(
        "/plan",
        format!(
            "unknown plan \"{plan}\"; offered plans: {}",
            if offered.is_empty() {
                "none (configure tiers first)".to_owned()
            } else {
                offered.join(", ")
            }
        ),
    )
}

fn no_tiers() -> CoreError {
    CoreError::Conflict(
        "this tenant has no tiers yet: configure them with POST /create-products first".into(),
    )
}

fn check_external_id(id: &str) -> Result<(), CoreError> {
    validate_external_id(id, "/externalId")?;
    if CustomerId::parse(id).is_some() {
        return Err(CoreError::invalid(
            "/externalId",
            "must not look like a dream customer id (usr_…)",
        ));
    }
    Ok(())
}

fn duplicate_external_id(err: StoreError) -> CoreError {
    match err {
        StoreError::Conflict(_) => {
            CoreError::Conflict("another customer of this tenant has this externalId".into())
        }
        other => other.into(),
    }
}

impl Dream {
    /// Checks the password rule, then hashes through the configured
    /// [`PasswordHasher`](crate::ports::PasswordHasher), which may answer
    /// [`CoreError::Busy`] when its pool is full. Invalid input is refused before
    /// it can take a hashing slot.
    pub async fn hash_password(&self, password: String) -> Result<PasswordHash, CoreError> {
        validate_password(&password)?;
        self.password_hasher.hash(password).await
    }

    /// Creates a customer on `new.plan` or the tenant's default plan (a
    /// management action: recorded in the audit log).
    pub async fn create_customer(
        &self,
        tenant: &Tenant,
        new: NewCustomer,
    ) -> Result<Customer, CoreError> {
        let customer = self.add_customer(tenant, new).await?;
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::CustomerCreated,
            Some(customer.id.to_string()),
            json!({ "plan": customer.plan, "externalId": customer.external_id }),
        )
        .await;
        Ok(customer)
    }

    /// Creates a customer without an audit entry: for customers that appear on
    /// first sight (a tracked call), which nobody manages.
    async fn add_customer(&self, tenant: &Tenant, new: NewCustomer) -> Result<Customer, CoreError> {
        if let Some(id) = &new.external_id {
            check_external_id(id)?;
        }
        if let Some(email) = &new.email {
            validate_email(email)?;
        }
        if let Some(name) = &new.first_name {
            validate_name(name, "/firstName")?;
        }
        if let Some(name) = &new.last_name {
            validate_name(name, "/lastName")?;
        }
        validate_metadata(&new.metadata)?;
        let config = self.tier_config(tenant).await?;
        let plan = match &new.plan {
            Some(name) => config
                .offered_plan(name)
                .ok_or_else(|| unknown_plan(&config, name))?,
            None => config.default_plan().ok_or_else(no_tiers)?,
        };
        let now = self.now();
        let customer = Customer {
            id: CustomerId::generate(),
            tenant: tenant.clone(),
            external_id: new.external_id,
            email: new.email,
            first_name: new.first_name,
            last_name: new.last_name,
            plan: plan.name.clone(),
            password_hash: new.password_hash,
            metadata: new.metadata,
            created_at: now,
            updated_at: now,
        };
        // Stored with its event in one atomic write (an outbox), so a failure
        // can never leave the customer without its `customer.created`.
        let event = Event::new(
            tenant.clone(),
            EventKind::CustomerCreated,
            Some(customer.id.clone()),
            json!({ "plan": customer.plan, "externalId": customer.external_id }),
            now,
        );
        let max = self.limits.max_customers;
        let inserted = self
            .stores
            .customers
            .insert_customer_with_event(&customer, max, &event)
            .await
            .map_err(duplicate_external_id)?;
        if let (false, Some(limit)) = (inserted, max) {
            return Err(CoreError::LimitExceeded {
                what: "customers",
                limit,
            });
        }
        Ok(customer)
    }

    /// Finds a customer by our id (`usr_…`) or, failing that, the external id.
    pub async fn find_customer(
        &self,
        tenant: &Tenant,
        reference: &str,
    ) -> Result<Option<Customer>, CoreError> {
        Ok(self
            .find_shared_customer(tenant, reference)
            .await?
            .map(Arc::unwrap_or_clone))
    }

    /// The customer as the store's cache holds it, shared rather than copied:
    /// what the hot path reads on every call.
    async fn find_shared_customer(
        &self,
        tenant: &Tenant,
        reference: &str,
    ) -> Result<Option<Arc<Customer>>, CoreError> {
        if let Some(id) = CustomerId::parse(reference) {
            if let Some(found) = self
                .stores
                .customers
                .get_shared_customer(tenant, &id)
                .await?
            {
                return Ok(Some(found));
            }
        }
        Ok(self
            .stores
            .customers
            .find_shared_customer_by_external_id(tenant, reference)
            .await?)
    }

    /// The customer, or `NotFound` (also for another tenant's customer).
    pub async fn customer(&self, tenant: &Tenant, reference: &str) -> Result<Customer, CoreError> {
        self.find_customer(tenant, reference)
            .await?
            .ok_or(CoreError::NotFound("customer"))
    }

    /// Applies a partial update. A plan change takes effect on limits at once.
    pub async fn update_customer(
        &self,
        tenant: &Tenant,
        reference: &str,
        patch: CustomerPatch,
    ) -> Result<Customer, CoreError> {
        let mut customer = self.customer(tenant, reference).await?;
        let before = customer.clone();
        if let Some(external_id) = patch.external_id {
            if let Some(id) = &external_id {
                check_external_id(id)?;
            }
            customer.external_id = external_id;
        }
        if let Some(email) = patch.email {
            if let Some(email) = &email {
                validate_email(email)?;
            }
            customer.email = email;
        }
        if let Some(name) = patch.first_name {
            if let Some(name) = &name {
                validate_name(name, "/firstName")?;
            }
            customer.first_name = name;
        }
        if let Some(name) = patch.last_name {
            if let Some(name) = &name {
                validate_name(name, "/lastName")?;
            }
            customer.last_name = name;
        }
        if let Some(metadata) = patch.metadata {
            validate_metadata(&metadata)?;
            customer.metadata = metadata;
        }
        let config = self.tier_config(tenant).await?;
        let new_plan = match &patch.plan {
            Some(plan) if *plan != before.plan => Some(
                config
                    .offered_plan(plan)
                    .ok_or_else(|| unknown_plan(&config, plan))?
                    .name
                    .clone(),
            ),
            _ => None,
        };
        let now = self.now();
        // The profile and the plan are written separately on purpose: the profile
        // write never touches `plan`, so this read cannot undo a plan change a
        // subscription made meanwhile; the plan goes through one atomic store step.
        let profile_changed = customer != before;
        if profile_changed {
            customer.updated_at = now;
            self.stores
                .customers
                .update_customer(&customer)
                .await
                .map_err(duplicate_external_id)?;
        }
        if let Some(plan) = &new_plan {
            // `plan.changed` is written with the change (an outbox), built from
            // the plan it replaced, which only the store's atomic step knows.
            let events = |previous: &str| {
                if previous == plan.as_str() {
                    return vec![];
                }
                let paying = |name: &str| {
                    config
                        .find(name)
                        .is_some_and(|t| t.monthly_amount_minor() > 0)
                };
                vec![Event::new(
                    tenant.clone(),
                    EventKind::PlanChanged,
                    Some(customer.id.clone()),
                    json!({ "from": previous, "to": plan,
                            "churned": paying(previous) && !paying(plan) }),
                    now,
                )]
            };
            self.stores
                .customers
                .change_customer_plan(tenant, &customer.id, plan, now, &events)
                .await?;
        }
        if profile_changed {
            self.emit(
                tenant,
                EventKind::CustomerUpdated,
                Some(&customer.id),
                json!({}),
            )
            .await;
        } else if new_plan.is_none() {
            return Ok(customer);
        }
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::CustomerUpdated,
            Some(customer.id.to_string()),
            json!({ "profileChanged": profile_changed, "plan": new_plan }),
        )
        .await;
        // What is stored now, plan included (a subscription may have changed it).
        self.stores
            .customers
            .get_customer(tenant, &customer.id)
            .await?
            .ok_or(CoreError::NotFound("customer"))
    }

    /// Deletes a customer. Its usage history stays counted for the period.
    pub async fn delete_customer(
        &self,
        tenant: &Tenant,
        reference: &str,
    ) -> Result<Customer, CoreError> {
        let customer = self.customer(tenant, reference).await?;
        if !self
            .stores
            .customers
            .delete_customer(tenant, &customer.id)
            .await?
        {
            return Err(CoreError::NotFound("customer"));
        }
        let config = self.tier_config(tenant).await?;
        let was_paying = config
            .find(&customer.plan)
            .is_some_and(|t| t.monthly_amount_minor() > 0);
        self.emit(
            tenant,
            EventKind::CustomerDeleted,
            Some(&customer.id),
            json!({ "plan": customer.plan, "churned": was_paying }),
        )
        .await;
        self.record(
            &tenant.platform,
            Some(tenant.mode),
            AuditAction::CustomerDeleted,
            Some(customer.id.to_string()),
            json!({ "plan": customer.plan }),
        )
        .await;
        Ok(customer)
    }

    /// The customer's subscription as the provider last reported it, if any.
    pub async fn subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<crate::SubscriptionState>, CoreError> {
        Ok(self
            .stores
            .subscriptions
            .get_subscription_state(tenant, customer)
            .await?)
    }

    /// The tenant's customers that match `query`, in its order.
    pub async fn list_customers(
        &self,
        tenant: &Tenant,
        query: &crate::CustomerQuery,
        page: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, CoreError> {
        Ok(self
            .stores
            .customers
            .list_customers(tenant, query, page)
            .await?)
    }

    /// The customer named by `reference`, created on first sight (event
    /// `customer.created`) on `plan_hint` if that is an offered plan, else on the
    /// default plan. A known customer's stored plan always wins over the hint.
    pub async fn customer_for_usage(
        &self,
        tenant: &Tenant,
        reference: &str,
        plan_hint: Option<&str>,
    ) -> Result<(Arc<Customer>, Arc<TierConfig>), CoreError> {
        validate_external_id(reference, "X-User-Id")?;
        let config = self.shared_tier_config(tenant).await?;
        if let Some(found) = self.find_shared_customer(tenant, reference).await? {
            return Ok((found, config));
        }
        if CustomerId::parse(reference).is_some() {
            // Looks like one of our ids but is not one of this tenant's customers.
            return Err(CoreError::NotFound("customer"));
        }
        let plan = plan_hint
            .and_then(|name| config.offered_plan(name))
            .or_else(|| config.default_plan())
            .ok_or_else(no_tiers)?
            .name
            .clone();
        let new = NewCustomer {
            external_id: Some(reference.to_owned()),
            plan: Some(plan),
            ..NewCustomer::default()
        };
        match self.add_customer(tenant, new).await {
            Ok(created) => Ok((Arc::new(created), config)),
            // Another request created it first: use theirs.
            Err(CoreError::Conflict(_)) => {
                let found = self
                    .find_shared_customer(tenant, reference)
                    .await?
                    .ok_or(CoreError::NotFound("customer"))?;
                Ok((found, config))
            }
            Err(err) => Err(err),
        }
    }
}
