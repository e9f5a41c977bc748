//! Payment provider webhooks in: verify, route to a tenant, apply once, in order.
//!
//! Stripe delivers at least once, retries for days and out of order. Each event is
//! claimed by id in the idempotency store (kept 30 days), so a duplicate changes
//! nothing; subscription state only moves forward (see [`SubscriptionStore`]), so
//! an older event delivered late never overwrites newer state; and every change is
//! idempotent on its own (inventory settles once, links keep the first), so even a
//! duplicate older than the dedup window is harmless.
//!
//! [`SubscriptionStore`]: crate::ports::SubscriptionStore

use chrono::Duration;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Dream;
use crate::{
    metadata_keys as meta, BillingChange, BillingConnection, CheckoutKind, CoreError, Customer,
    CustomerId, Event, EventKind, IdempotencyClaim, IdempotencyScope, IdempotencyTimes, Metadata,
    Mode, PlatformId, ProductSold, ProviderEvent, ReservationId, ReservationState, RevealedSecret,
    StoredResponse, StripeCustomerLink, StripeLink, SubscriptionApply, SubscriptionState,
    SubscriptionStatus, Tenant, TierConfig, TierKind, WebhookError,
};

/// How long processed event ids are remembered (Stripe retries for 3 days).
pub const WEBHOOK_DEDUP_DAYS: i64 = 30;

/// What handling one webhook did. Every outcome is acknowledged (2xx) so the
/// provider stops retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Applied to `tenant`.
    Applied {
        /// The tenant the event belonged to.
        tenant: Tenant,
        /// The provider's event id.
        event_id: String,
    },
    /// Seen before; nothing changed.
    Duplicate {
        /// The provider's event id.
        event_id: String,
    },
    /// Acknowledged without effect (`reason` says why: unknown account, mode
    /// mismatch, an event type dream does not act on, …).
    Ignored {
        /// The provider's event id.
        event_id: String,
        /// Why.
        reason: &'static str,
    },
}

impl Dream {
    /// Verifies and applies one Stripe webhook delivery (`payload` = the raw body).
    pub async fn handle_stripe_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookOutcome, CoreError> {
        let provider = self.provider()?;
        let event = provider
            .verify_webhook(payload, signature, self.now())
            .map_err(CoreError::Webhook)?;
        let ignored = |reason| WebhookOutcome::Ignored {
            event_id: event.id.clone(),
            reason,
        };
        let Some(change) = &event.change else {
            return Ok(ignored("event type not handled"));
        };
        let Some((connection, tenant)) = self.route(&event, change).await? else {
            tracing::info!(event_id = %event.id, account = ?event.account, kind = %event.kind, "webhook for no known tenant acknowledged");
            return Ok(ignored("no tenant for this account"));
        };
        self.apply_once(tenant, &connection, &event, change).await
    }

    /// Verifies and applies one delivery to `/webhook/stripe/{platform}`: the endpoint
    /// a direct-mode developer registers on their own Stripe account, signed with that
    /// endpoint's secret (stored sealed with the connection), which the operator's
    /// `STRIPE_WEBHOOK_SECRET` cannot verify and need not be set for.
    ///
    /// The mode whose stored secret verifies the signature is the tenant; the event's
    /// `livemode` must agree, else it is ignored. An unknown platform, one without a
    /// direct connection or without a webhook secret fails exactly as a bad signature
    /// does, so the answer never tells whether a platform id exists.
    pub async fn handle_direct_stripe_webhook(
        &self,
        platform: &str,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookOutcome, CoreError> {
        let provider = self.provider()?;
        let mut candidates = Vec::new();
        // A malformed id names no platform: it gets the same answer as an unknown one.
        if let Some(platform) = PlatformId::parse(platform) {
            for mode in [Mode::Test, Mode::Live] {
                let tenant = Tenant::new(platform.clone(), mode);
                if let Some(candidate) = self.direct_webhook_secret(&tenant).await? {
                    candidates.push(candidate);
                }
            }
        }
        if candidates.is_empty() {
            // No secret can verify anything; the verifier still checks the header
            // first, so a missing or malformed one reads as it would for a real tenant.
            let err = match provider.verify_webhook_with(&[], payload, signature, self.now()) {
                Err(err) => err,
                Ok(_) => WebhookError::SignatureMismatch,
            };
            return Err(CoreError::Webhook(err));
        }
        let mut verified = None;
        let mut other_mode = None;
        let mut failure = WebhookError::SignatureMismatch;
        for (connection, secret) in candidates {
            // One secret at a time: which one verifies says which mode sent it.
            match provider.verify_webhook_with(
                std::slice::from_ref(&secret),
                payload,
                signature,
                self.now(),
            ) {
                Ok(event) if mode_of(&event) == connection.tenant.mode => {
                    verified = Some((connection, event));
                    break;
                }
                // Test and live endpoints have their own secrets on Stripe; an event
                // of the other mode under this mode's secret must not touch this
                // mode's data. The other mode's secret may still be the same (pasted
                // twice), so keep looking.
                Ok(event) => other_mode = Some((connection.tenant, event.id)),
                Err(WebhookError::SignatureMismatch) => {}
                // Header problems are the same under every secret; a stale timestamp
                // or an unreadable payload comes from the secret that matched.
                Err(err) => {
                    failure = err;
                    break;
                }
            }
        }
        let Some((connection, event)) = verified else {
            return match other_mode {
                Some((tenant, event_id)) => {
                    tracing::info!(%event_id, %tenant, "direct webhook of the other mode acknowledged");
                    Ok(WebhookOutcome::Ignored {
                        event_id,
                        reason: "event of the other mode",
                    })
                }
                None => Err(CoreError::Webhook(failure)),
            };
        };
        let tenant = connection.tenant.clone();
        let ignored = |reason| WebhookOutcome::Ignored {
            event_id: event.id.clone(),
            reason,
        };
        if event.account.is_some() {
            // A direct tenant's objects live on the developer's own account, whose
            // events carry no `account`; one that does comes from an account the
            // developer connected to theirs, which dream does not bill.
            tracing::info!(event_id = %event.id, %tenant, "direct webhook from a connected account acknowledged");
            return Ok(ignored("event of a connected account"));
        }
        let Some(change) = &event.change else {
            return Ok(ignored("event type not handled"));
        };
        self.apply_once(tenant, &connection, &event, change).await
    }

    /// The tenant's direct connection and its opened webhook secret, if it has both.
    async fn direct_webhook_secret(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<(BillingConnection, RevealedSecret)>, CoreError> {
        let Some(connection) = self.stores.billing.get_billing_connection(tenant).await? else {
            return Ok(None);
        };
        let StripeLink::Direct {
            sealed_webhook_secret: Some(sealed),
            ..
        } = &connection.link
        else {
            return Ok(None);
        };
        let Some(master_key) = self.master_key.as_deref() else {
            // Stored under a master key this process was not given: the events cannot
            // be verified. Stripe retries, so fixing the setting recovers them.
            tracing::error!(%tenant, "a direct-mode webhook secret is stored but DREAM_MASTER_KEY is not set");
            return Ok(None);
        };
        match master_key.open(tenant, sealed) {
            Ok(secret) => Ok(Some((connection, secret))),
            Err(_) => {
                tracing::error!(%tenant, "the stored webhook secret does not open with DREAM_MASTER_KEY (was it changed?): connect the key and secret again");
                Ok(None)
            }
        }
    }

    /// Claims the event id for `tenant` (once per 30 days) and applies its change;
    /// a failed change releases the claim so the provider's retry runs again.
    async fn apply_once(
        &self,
        tenant: Tenant,
        connection: &BillingConnection,
        event: &ProviderEvent,
        change: &BillingChange,
    ) -> Result<WebhookOutcome, CoreError> {
        // The same scope as the Connect path: an event reaching both endpoints is
        // still applied once.
        let scope = IdempotencyScope {
            tenant: tenant.clone(),
            endpoint: "webhook stripe".into(),
            key: event.id.clone(),
        };
        let times = IdempotencyTimes {
            now: self.now(),
            retention: Duration::days(WEBHOOK_DEDUP_DAYS),
            lock_timeout: Duration::minutes(2),
        };
        let fingerprint: [u8; 32] = Sha256::digest(event.id.as_bytes()).into();
        let token = match self
            .stores
            .idempotency
            .claim_idempotency_key(&scope, &fingerprint, &times)
            .await?
        {
            IdempotencyClaim::Claimed(token) => token,
            IdempotencyClaim::Completed(_) | IdempotencyClaim::Mismatch => {
                tracing::debug!(event_id = %event.id, "duplicate webhook");
                return Ok(WebhookOutcome::Duplicate {
                    event_id: event.id.clone(),
                });
            }
            IdempotencyClaim::InFlight => {
                return Err(CoreError::Conflict(
                    "this event is being processed; deliver it again later".into(),
                ))
            }
        };
        let applied = self.apply_change(&tenant, connection, event, change).await;
        match applied {
            Ok(()) => {
                let done = StoredResponse {
                    status: 200,
                    headers: vec![],
                    body: b"{}".to_vec(),
                };
                self.stores
                    .idempotency
                    .complete_idempotency_key(&scope, &token, &done)
                    .await?;
                Ok(WebhookOutcome::Applied {
                    tenant,
                    event_id: event.id.clone(),
                })
            }
            Err(err) => {
                // The provider retries; the retry must run again.
                if let Err(release) = self
                    .stores
                    .idempotency
                    .release_idempotency_key(&scope, &token)
                    .await
                {
                    tracing::warn!(error = %release, "could not release a webhook claim; the retry waits for its lock timeout");
                }
                Err(err)
            }
        }
    }

    /// The tenant an event belongs to: by connected account (Connect) and mode,
    /// else by dream's metadata for a direct-mode tenant.
    async fn route(
        &self,
        event: &ProviderEvent,
        change: &BillingChange,
    ) -> Result<Option<(BillingConnection, Tenant)>, CoreError> {
        let mode = mode_of(event);
        let metadata_tenant = metadata_of(change).and_then(|m| {
            let platform = PlatformId::parse(m.get(meta::PLATFORM)?)?;
            let mode: Mode = m.get(meta::MODE)?.parse().ok()?;
            Some(Tenant::new(platform, mode))
        });
        let candidates: Vec<Tenant> = match &event.account {
            Some(account) => self
                .stores
                .billing
                .tenants_for_stripe_account(account)
                .await?
                .into_iter()
                .filter(|t| t.mode == mode)
                .collect(),
            None => metadata_tenant
                .iter()
                .filter(|t| t.mode == mode)
                .cloned()
                .collect(),
        };
        let tenant = match candidates.as_slice() {
            [] => return Ok(None),
            [only] => only.clone(),
            // One Stripe account connected to several platforms: the metadata says whose.
            many => match metadata_tenant.filter(|t| many.contains(t)) {
                Some(t) => t,
                None => return Ok(None),
            },
        };
        let Some(connection) = self.stores.billing.get_billing_connection(&tenant).await? else {
            return Ok(None);
        };
        // A direct-mode tenant is reached only through its own metadata; a Connect
        // tenant only through its own account.
        let matches = match (&connection.link, &event.account) {
            (StripeLink::Connect { account_id }, Some(account)) => account_id == account,
            (StripeLink::Direct { .. }, None) => true,
            _ => false,
        };
        Ok(matches.then_some((connection, tenant)))
    }

    async fn apply_change(
        &self,
        tenant: &Tenant,
        connection: &BillingConnection,
        event: &ProviderEvent,
        change: &BillingChange,
    ) -> Result<(), CoreError> {
        let ctx = ApplyContext {
            tenant,
            connection,
            event,
        };
        match change {
            BillingChange::CheckoutCompleted {
                kind: CheckoutKind::Subscription,
                metadata,
                provider_customer_id,
                subscription_id,
                payment_status,
                session_id,
            } => {
                self.subscription_checkout_completed(
                    &ctx,
                    session_id,
                    metadata,
                    provider_customer_id.as_deref(),
                    subscription_id.as_deref(),
                    payment_status,
                )
                .await
            }
            BillingChange::CheckoutCompleted {
                kind: CheckoutKind::Payment,
                metadata,
                payment_status,
                session_id,
                ..
            } => {
                self.cart_checkout_completed(&ctx, session_id, metadata, payment_status)
                    .await
            }
            BillingChange::CheckoutExpired { metadata, .. } => {
                self.checkout_expired(tenant, metadata).await
            }
            BillingChange::CheckoutAsyncPayment {
                kind: CheckoutKind::Payment,
                session_id,
                metadata,
                succeeded: true,
            } => {
                // The money arrived: settled as a checkout completed paid.
                self.cart_checkout_completed(&ctx, session_id, metadata, "paid")
                    .await
            }
            BillingChange::CheckoutAsyncPayment {
                kind: CheckoutKind::Payment,
                session_id,
                metadata,
                succeeded: false,
            } => self.cart_payment_failed(tenant, session_id, metadata).await,
            // A subscription's delayed payment is settled by its own events
            // (`customer.subscription.updated`, `invoice.paid`/`payment_failed`).
            BillingChange::CheckoutAsyncPayment {
                kind: CheckoutKind::Subscription,
                ..
            } => Ok(()),
            BillingChange::Subscription {
                state,
                metadata,
                price_id,
                deleted,
            } => {
                self.subscription_changed(&ctx, state, metadata, price_id.as_deref(), *deleted)
                    .await
            }
            BillingChange::Invoice {
                paid,
                subscription_id,
                provider_customer_id,
                amount_minor,
                currency,
            } => {
                let invoice = InvoiceOutcome {
                    paid: *paid,
                    subscription_id: subscription_id.as_deref(),
                    provider_customer_id: provider_customer_id.as_deref(),
                    amount_minor: *amount_minor,
                    currency: currency.as_deref(),
                };
                self.invoice_settled(&ctx, &invoice).await
            }
        }
    }

    /// A paid subscription checkout: links the provider's customer (first link
    /// wins), then moves the customer to the checkout's tier. An unpaid one
    /// (delayed payment methods) only links; the subscription events decide later.
    async fn subscription_checkout_completed(
        &self,
        ctx: &ApplyContext<'_>,
        session_id: &str,
        metadata: &Metadata,
        provider_customer_id: Option<&str>,
        subscription_id: Option<&str>,
        payment_status: &str,
    ) -> Result<(), CoreError> {
        let ApplyContext {
            tenant,
            connection,
            event,
        } = *ctx;
        let Some(customer) = self.customer_from_metadata(tenant, metadata).await? else {
            return Ok(());
        };
        if let Some(cus) = provider_customer_id {
            self.stores
                .billing
                .link_stripe_customer(&StripeCustomerLink {
                    tenant: tenant.clone(),
                    customer: customer.id.clone(),
                    account: connection.account_key().to_owned(),
                    stripe_customer_id: cus.to_owned(),
                })
                .await?;
        }
        if payment_status == "unpaid" {
            // Delayed payment methods: the subscription events decide later.
            return Ok(());
        }
        let config = self.tier_config(tenant).await?;
        let tier = metadata
            .get(meta::TIER)
            .and_then(|t| config.find(t))
            .filter(|t| t.is_plan());
        let state = SubscriptionState {
            subscription_id: subscription_id.unwrap_or(session_id).to_owned(),
            provider_customer_id: provider_customer_id.map(str::to_owned),
            status: SubscriptionStatus::Active,
            tier: tier.map(|t| t.name.clone()),
            current_period_start: None,
            current_period_end: None,
            cancel_at_period_end: false,
            mrr_minor: tier.map_or(0, |t| t.monthly_amount_minor()),
            currency: tier.map(|t| t.price.currency.clone()),
            as_of: event.created,
        };
        self.apply_state(tenant, &customer, &state, tier.map(|t| t.name.as_str()))
            .await
    }

    /// A paid cart: commits its inventory reservation, records the payment and
    /// reports products it sold out. The commit is never refused (the money was
    /// taken): a reservation that had expired and been sold again, or had been
    /// released, may push a product over its stock, which `inventory.oversold`
    /// reports.
    async fn cart_checkout_completed(
        &self,
        ctx: &ApplyContext<'_>,
        session_id: &str,
        metadata: &Metadata,
        payment_status: &str,
    ) -> Result<(), CoreError> {
        let tenant = ctx.tenant;
        let Some(reservation) = reservation_of(metadata) else {
            return Ok(());
        };
        if payment_status == "unpaid" {
            return Ok(());
        }
        let commit = self
            .stores
            .inventory
            .commit_reservation(tenant, &reservation, self.now())
            .await?;
        if commit.transition.before == ReservationState::Released {
            // Expired or refused before the payment arrived: sold after all.
            tracing::warn!(%reservation, session = %session_id, "payment for a released reservation: recorded as sold");
        }
        let customer = customer_ref(metadata);
        self.emit_oversold(ctx, customer.as_ref(), &commit.sold)
            .await;
        self.grant_purchased_credits(tenant, customer.as_ref(), &reservation)
            .await?;
        self.emit(
            tenant,
            EventKind::PaymentSucceeded,
            customer.as_ref(),
            json!({ "sessionId": session_id, "reservationId": reservation.to_string() }),
        )
        .await;
        self.emit_sold_out(tenant, &reservation).await
    }

    /// Grants the buyer the credits the cart's products carry (`grants` of a
    /// one-off tier, per unit). Each grant's id names the reservation and the
    /// product, so a redelivered webhook (or a retry after a failure here) grants
    /// once; a failure fails the webhook, which Stripe then retries.
    async fn grant_purchased_credits(
        &self,
        tenant: &Tenant,
        customer: Option<&CustomerId>,
        reservation: &ReservationId,
    ) -> Result<(), CoreError> {
        let config = self.tier_config(tenant).await?;
        let Some(stored) = self
            .stores
            .inventory
            .get_reservation(tenant, reservation)
            .await?
        else {
            return Ok(());
        };
        for line in &stored.lines {
            let Some(grants) = config.find(&line.product).and_then(|t| t.grants.as_ref()) else {
                continue;
            };
            let Some(customer) = customer else {
                tracing::warn!(%reservation, product = %line.product, "a paid cart with credits has no customer to grant them to");
                continue;
            };
            let amount = grants.amount.saturating_mul(line.quantity);
            let grant_id = format!("cart_{reservation}_{}", line.product);
            let granted = self
                .grant_any_amount(
                    tenant,
                    customer.as_str(),
                    &grants.meter,
                    amount,
                    &format!("purchase of {} × {}", line.quantity, line.product),
                    Some(&grant_id),
                )
                .await;
            match granted {
                Ok(_) => {}
                // A customer deleted since, or a meter no tier defines any more:
                // retrying cannot help, so the payment is still recorded.
                Err(err @ (CoreError::NotFound(_) | CoreError::InvalidInput { .. })) => {
                    tracing::warn!(%reservation, product = %line.product, error = %err, "could not grant the credits a paid cart carries");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Emits `inventory.oversold` for each product this commit sold past its
    /// stock: the tier's current stock, or the one the reservation was checked
    /// against when the tier is gone or its config cannot be read (the sale is
    /// already recorded, so nothing here may fail the webhook).
    async fn emit_oversold(
        &self,
        ctx: &ApplyContext<'_>,
        customer: Option<&CustomerId>,
        sold: &[ProductSold],
    ) {
        if sold.is_empty() {
            return;
        }
        let config = match self.tier_config(ctx.tenant).await {
            Ok(config) => Some(config),
            Err(err) => {
                tracing::warn!(error = %err, "tiers unreadable; oversold checked against the reserved stock");
                None
            }
        };
        for product in sold {
            let tier = config.as_ref().and_then(|c| c.find(&product.product));
            let stock = match tier.map(|t| &t.kind) {
                Some(TierKind::OneTime { inventory }) => *inventory,
                _ => product.stock,
            };
            let Some(over) = product.oversold_by(stock) else {
                continue;
            };
            let price = config
                .as_ref()
                .and_then(|c| c.stripe_refs(&product.product, ctx.connection.account_key()))
                .and_then(|r| r.price_id.clone());
            tracing::warn!(tier = %product.product, over, sold = product.sold, "a late payment oversold a product: refund or restock");
            self.emit(
                ctx.tenant,
                EventKind::InventoryOversold,
                customer,
                json!({
                    "tier": product.product,
                    "price": price,
                    "quantity": product.quantity,
                    "stock": stock,
                    "sold": product.sold,
                    "oversold": over,
                }),
            )
            .await;
        }
    }

    /// A cart's delayed payment failed: its held units go back on sale at once,
    /// and the developer hears of it (`payment.failed`).
    async fn cart_payment_failed(
        &self,
        tenant: &Tenant,
        session_id: &str,
        metadata: &Metadata,
    ) -> Result<(), CoreError> {
        let Some(reservation) = reservation_of(metadata) else {
            return Ok(());
        };
        self.stores
            .inventory
            .release_reservation(tenant, &reservation, self.now())
            .await?;
        let customer = customer_ref(metadata);
        self.emit(
            tenant,
            EventKind::PaymentFailed,
            customer.as_ref(),
            json!({ "sessionId": session_id, "reservationId": reservation.to_string() }),
        )
        .await;
        Ok(())
    }

    /// An expired checkout: a cart's held units go back on sale at once.
    async fn checkout_expired(
        &self,
        tenant: &Tenant,
        metadata: &Metadata,
    ) -> Result<(), CoreError> {
        if let Some(reservation) = reservation_of(metadata) {
            self.stores
                .inventory
                .release_reservation(tenant, &reservation, self.now())
                .await?;
        }
        Ok(())
    }

    /// A subscription created, updated or deleted: its state is stored if not
    /// older than the stored one, and the plan follows it (the default plan when
    /// deleted or not in good standing).
    async fn subscription_changed(
        &self,
        ctx: &ApplyContext<'_>,
        state: &SubscriptionState,
        metadata: &Metadata,
        price_id: Option<&str>,
        deleted: bool,
    ) -> Result<(), CoreError> {
        let ApplyContext {
            tenant, connection, ..
        } = *ctx;
        let customer = match self.customer_from_metadata(tenant, metadata).await? {
            Some(c) => Some(c),
            None => {
                self.customer_by_provider_id(
                    tenant,
                    connection,
                    state.provider_customer_id.as_deref(),
                )
                .await?
            }
        };
        let Some(customer) = customer else {
            tracing::info!(subscription = %state.subscription_id, "subscription of no known customer acknowledged");
            return Ok(());
        };
        let config = self.tier_config(tenant).await?;
        let mut state = state.clone();
        if state.tier.is_none() {
            state.tier = tier_of_price(&config, connection.account_key(), price_id);
        }
        let plan = if deleted || !state.status.grants_plan() {
            config.default_plan().map(|t| t.name.clone())
        } else {
            state
                .tier
                .as_deref()
                .and_then(|t| config.find(t))
                .filter(|t| t.is_plan())
                .map(|t| t.name.clone())
        };
        self.apply_state(tenant, &customer, &state, plan.as_deref())
            .await
    }

    /// An invoice paid or failed: the payment event is emitted, and the status of
    /// the subscription it bills moves between active and past due.
    async fn invoice_settled(
        &self,
        ctx: &ApplyContext<'_>,
        invoice: &InvoiceOutcome<'_>,
    ) -> Result<(), CoreError> {
        let ApplyContext {
            tenant,
            connection,
            event,
        } = *ctx;
        let InvoiceOutcome {
            paid,
            subscription_id,
            provider_customer_id,
            amount_minor,
            currency,
        } = *invoice;
        let Some(customer) = self
            .customer_by_provider_id(tenant, connection, provider_customer_id)
            .await?
        else {
            return Ok(());
        };
        self.emit(
            tenant,
            if paid {
                EventKind::PaymentSucceeded
            } else {
                EventKind::PaymentFailed
            },
            Some(&customer.id),
            json!({ "subscriptionId": subscription_id, "amount": amount_minor, "currency": currency }),
        )
        .await;
        // The status follows the invoice only for the subscription it bills;
        // the subscription events carry the rest.
        let Some(current) = self
            .stores
            .subscriptions
            .get_subscription_state(tenant, &customer.id)
            .await?
            .filter(|s| Some(s.subscription_id.as_str()) == subscription_id)
        else {
            return Ok(());
        };
        let status = match (paid, current.status) {
            (
                true,
                SubscriptionStatus::PastDue
                | SubscriptionStatus::Unpaid
                | SubscriptionStatus::Incomplete,
            ) => SubscriptionStatus::Active,
            (false, SubscriptionStatus::Active | SubscriptionStatus::Trialing) => {
                SubscriptionStatus::PastDue
            }
            (_, unchanged) => unchanged,
        };
        if status == current.status {
            return Ok(());
        }
        let state = SubscriptionState {
            status,
            as_of: event.created,
            ..current
        };
        let plan = if status.grants_plan() {
            state.tier.clone()
        } else {
            None
        };
        self.apply_state(tenant, &customer, &state, plan.as_deref())
            .await
    }

    /// Applies a state (and plan) if it is not older than the stored one, with
    /// its `plan.changed` (when the plan changes) and `subscription.updated`
    /// events in the same atomic write (an outbox): a failure applies neither,
    /// and Stripe's retry applies both.
    async fn apply_state(
        &self,
        tenant: &Tenant,
        customer: &Customer,
        state: &SubscriptionState,
        plan: Option<&str>,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let events = |previous_plan: &str| {
            let mut events = vec![];
            if let Some(plan) = plan.filter(|p| *p != previous_plan) {
                events.push(Event::new(
                    tenant.clone(),
                    EventKind::PlanChanged,
                    Some(customer.id.clone()),
                    json!({ "from": previous_plan, "to": plan, "reason": "subscription" }),
                    now,
                ));
            }
            events.push(Event::new(
                tenant.clone(),
                EventKind::SubscriptionUpdated,
                Some(customer.id.clone()),
                json!({
                    "subscriptionId": state.subscription_id,
                    "status": state.status.as_str(),
                    "tier": state.tier,
                    "cancelAtPeriodEnd": state.cancel_at_period_end,
                    "currentPeriodEnd": state.current_period_end,
                    "mrr": state.mrr_minor,
                    "currency": state.currency,
                }),
                now,
            ));
            events
        };
        let applied = self
            .stores
            .subscriptions
            .apply_subscription_state(tenant, &customer.id, state, plan, now, &events)
            .await?;
        if applied == SubscriptionApply::Stale {
            tracing::debug!(subscription = %state.subscription_id, "stale subscription event ignored");
        }
        Ok(())
    }

    async fn customer_from_metadata(
        &self,
        tenant: &Tenant,
        metadata: &Metadata,
    ) -> Result<Option<Customer>, CoreError> {
        match customer_ref(metadata) {
            Some(id) => Ok(self.stores.customers.get_customer(tenant, &id).await?),
            None => Ok(None),
        }
    }

    async fn customer_by_provider_id(
        &self,
        tenant: &Tenant,
        connection: &BillingConnection,
        provider_customer_id: Option<&str>,
    ) -> Result<Option<Customer>, CoreError> {
        let Some(cus) = provider_customer_id else {
            return Ok(None);
        };
        let Some(id) = self
            .stores
            .billing
            .find_customer_by_stripe_id(tenant, connection.account_key(), cus)
            .await?
        else {
            return Ok(None);
        };
        Ok(self.stores.customers.get_customer(tenant, &id).await?)
    }

    /// Emits `inventory.sold_out` for each product of the reservation whose every
    /// unit is now sold (units merely held by open checkouts may still come back).
    async fn emit_sold_out(
        &self,
        tenant: &Tenant,
        reservation: &ReservationId,
    ) -> Result<(), CoreError> {
        let Some(held) = self
            .stores
            .inventory
            .get_reservation(tenant, reservation)
            .await?
        else {
            return Ok(());
        };
        let now = self.now();
        for line in &held.lines {
            let counts = self
                .stores
                .inventory
                .inventory_counts(tenant, &line.product, now)
                .await?;
            if line.stock.is_some_and(|stock| counts.sold >= stock) {
                self.emit(
                    tenant,
                    EventKind::InventorySoldOut,
                    None,
                    json!({ "product": line.product }),
                )
                .await;
            }
        }
        Ok(())
    }
}

/// The mode an event was sent in.
fn mode_of(event: &ProviderEvent) -> Mode {
    if event.livemode {
        Mode::Live
    } else {
        Mode::Test
    }
}

fn metadata_of(change: &BillingChange) -> Option<&Metadata> {
    match change {
        BillingChange::CheckoutCompleted { metadata, .. }
        | BillingChange::CheckoutExpired { metadata, .. }
        | BillingChange::CheckoutAsyncPayment { metadata, .. }
        | BillingChange::Subscription { metadata, .. } => Some(metadata),
        BillingChange::Invoice { .. } => None,
    }
}

fn customer_ref(metadata: &Metadata) -> Option<CustomerId> {
    metadata
        .get(meta::CUSTOMER)
        .and_then(|c| CustomerId::parse(c))
}

fn reservation_of(metadata: &Metadata) -> Option<ReservationId> {
    metadata
        .get(meta::RESERVATION)
        .and_then(|r| ReservationId::parse(r))
}

/// The tier whose current or replaced Stripe price is `price_id`.
fn tier_of_price(config: &TierConfig, account: &str, price_id: Option<&str>) -> Option<String> {
    let price_id = price_id?;
    config.tiers.iter().find_map(|tier| {
        let refs = config.stripe_refs(&tier.name, account)?;
        let known = refs.price_id.as_deref() == Some(price_id)
            || refs.retiring_prices.iter().any(|p| p == price_id);
        known.then(|| tier.name.clone())
    })
}

/// What every change is applied in: the tenant the event routed to, its Stripe
/// connection and the event itself.
#[derive(Clone, Copy)]
struct ApplyContext<'a> {
    tenant: &'a Tenant,
    connection: &'a BillingConnection,
    event: &'a ProviderEvent,
}

/// An `invoice.paid` / `invoice.payment_failed`, borrowed from the change.
#[derive(Clone, Copy)]
struct InvoiceOutcome<'a> {
    paid: bool,
    subscription_id: Option<&'a str>,
    provider_customer_id: Option<&'a str>,
    amount_minor: i64,
    currency: Option<&'a str>,
}
