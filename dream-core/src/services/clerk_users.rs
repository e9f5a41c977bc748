//! Auth provider webhooks in: Clerk's user events keep a developer's customers in
//! step with their Clerk users.
//!
//! Clerk signs with the Standard Webhooks scheme (Svix), delivers at least once,
//! retries for days and out of order. A user reaches its tenant through the
//! publishable key the developer puts in the user's `public_metadata`
//! (`publishableKey`); revoked keys still route, because data hangs off the
//! platform and users keep old metadata after a rotation (Clerk's signature is
//! what we trust, not the key). Each delivery is claimed by its `svix-id` (kept
//! [`WEBHOOK_DEDUP_DAYS`]), and an [`IdentityLink`] per user remembers the tenant
//! (delete events carry no metadata) and the time of the last applied event, so
//! an older event delivered late is dropped and a deleted user stays deleted.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Dream, WebhookOutcome, WEBHOOK_DEDUP_DAYS};
use crate::{
    customer::{validate_email, validate_name},
    ports::IdentityLink,
    verify_signed_by, CoreError, Customer, CustomerId, CustomerPatch, IdempotencyClaim,
    IdempotencyScope, IdempotencyTimes, KeyKind, NewCustomer, PlatformId, SignedHeaders,
    SigningSecret, StoredResponse, Tenant, TokenShape, WebhookError, SIGNATURE_TOLERANCE_SECS,
};

/// The provider name of Clerk's identity links.
const CLERK: &str = "clerk";

/// The idempotency-store endpoint Clerk deliveries are claimed under.
const DEDUP_ENDPOINT: &str = "webhook clerk";

/// Why an event changed nothing, when it was acknowledged without effect.
type Skipped = &'static str;

/// A profile field as Clerk sent it: absent (keep the stored value), `null` or
/// empty (clear it), or a value.
type Field = Option<Option<String>>;

/// What dream reads of a Clerk event; everything else in the payload is ignored.
#[derive(Debug)]
struct ClerkEvent {
    kind: String,
    user: String,
    /// `data.public_metadata.publishableKey` when it is a string.
    publishable_key: Option<String>,
    /// The top-level `timestamp` (ms), else `data.updated_at` (ms).
    source_at: Option<DateTime<Utc>>,
    email: Field,
    first_name: Field,
    last_name: Field,
}

/// What an event asks for.
enum Change {
    Upsert,
    Delete,
}

/// One Clerk webhook endpoint's signing secret, and the platform its events may
/// write to.
///
/// A user's `publishableKey` is public (it ships in every frontend), so an
/// endpoint that is not bound would let the owner of any configured Clerk
/// instance route users into any platform on this server. Bind every secret when
/// one server hosts several developers; an unbound secret suits a server of one.
#[derive(Debug, Clone)]
pub struct ClerkEndpoint {
    /// The endpoint's `whsec_…` secret.
    pub secret: SigningSecret,
    /// The only platform its events may change; `None`: any.
    pub platform: Option<PlatformId>,
}

impl AsRef<SigningSecret> for ClerkEndpoint {
    fn as_ref(&self) -> &SigningSecret {
        &self.secret
    }
}

impl Dream {
    /// Verifies Clerk deliveries with `secrets`, the endpoint's `whsec_…` signing
    /// secrets (several during a rotation: any may match), each allowed to write to
    /// any platform. Without any,
    /// [`handle_clerk_webhook`](Self::handle_clerk_webhook) answers
    /// `WebhookError::NotConfigured`.
    pub fn with_clerk_webhook_secrets(self, secrets: Vec<SigningSecret>) -> Self {
        self.with_clerk_endpoints(
            secrets
                .into_iter()
                .map(|secret| ClerkEndpoint {
                    secret,
                    platform: None,
                })
                .collect(),
        )
    }

    /// Verifies Clerk deliveries with these endpoints' secrets; an event verified
    /// by a bound endpoint changes only users of its platform (others are
    /// acknowledged and ignored, and logged).
    pub fn with_clerk_endpoints(mut self, endpoints: Vec<ClerkEndpoint>) -> Self {
        self.clerk_endpoints = endpoints.into();
        self
    }

    /// Verifies and applies one Clerk webhook delivery (`payload` = the raw body,
    /// `headers` = its `svix-*` or `webhook-*` headers).
    ///
    /// `user.created` and `user.updated` create or update the customer whose
    /// external id is the Clerk user id (an existing one, made through the API, is
    /// linked rather than duplicated) in the tenant of the user's
    /// `public_metadata.publishableKey`; `user.deleted` deletes it. Anything dream
    /// cannot route or does not act on is [`WebhookOutcome::Ignored`], so Clerk
    /// stops retrying it; a failure releases the delivery so Clerk's retry runs
    /// again.
    pub async fn handle_clerk_webhook(
        &self,
        payload: &[u8],
        headers: SignedHeaders<'_>,
    ) -> Result<WebhookOutcome, CoreError> {
        if self.clerk_endpoints.is_empty() {
            return Err(CoreError::Webhook(WebhookError::NotConfigured(
                "Clerk webhooks are not configured on this server: set CLERK_WEBHOOK_SECRET \
                 to the endpoint's signing secret (whsec_…)."
                    .into(),
            )));
        }
        let now = self.now();
        let signer = verify_signed_by(
            &self.clerk_endpoints,
            headers,
            payload,
            now,
            Duration::seconds(SIGNATURE_TOLERANCE_SECS),
        )
        .map_err(CoreError::Webhook)?;
        let bound_to = self
            .clerk_endpoints
            .get(signer)
            .and_then(|e| e.platform.as_ref());
        // Verification passed, so the id header is present.
        let event_id = headers.id.unwrap_or_default().to_owned();
        let event = parse(payload).map_err(CoreError::Webhook)?;
        // Clerk stamps its events; the signed delivery time is the last resort.
        let source_at = event
            .source_at
            .or_else(|| {
                headers
                    .timestamp
                    .and_then(|t| t.trim().parse().ok())
                    .and_then(|secs| DateTime::from_timestamp(secs, 0))
            })
            .unwrap_or(now);
        let ignored = |reason: Skipped| {
            tracing::info!(event_id = %event_id, kind = %event.kind, user = %event.user, reason, "Clerk webhook acknowledged without effect");
            Ok(WebhookOutcome::Ignored {
                event_id: event_id.clone(),
                reason,
            })
        };

        let change = match event.kind.as_str() {
            "user.created" | "user.updated" => Change::Upsert,
            "user.deleted" => Change::Delete,
            _ => return ignored("event type not handled"),
        };
        let (tenant, prior) = match change {
            Change::Upsert => match self
                .tenant_of_publishable(event.publishable_key.as_deref())
                .await?
            {
                Ok(tenant) => (tenant, None),
                Err(reason) => return ignored(reason),
            },
            // Delete events carry no metadata: the link made by earlier events routes them.
            Change::Delete => match self.route_clerk_delete(&event.user, source_at).await? {
                Some((tenant, link)) => (tenant, Some(link)),
                None => return ignored("unknown user; a tombstone keeps it deleted"),
            },
        };

        if bound_to.is_some_and(|platform| *platform != tenant.platform) {
            tracing::warn!(event_id = %event_id, user = %event.user, named = %tenant, "a Clerk endpoint bound to another platform named this tenant; ignored");
            return ignored("the Clerk endpoint is not bound to this platform");
        }

        let scope = IdempotencyScope {
            tenant: tenant.clone(),
            endpoint: DEDUP_ENDPOINT.into(),
            key: event_id.clone(),
        };
        let times = IdempotencyTimes {
            now,
            retention: Duration::days(WEBHOOK_DEDUP_DAYS),
            lock_timeout: Duration::minutes(2),
        };
        let fingerprint: [u8; 32] = Sha256::digest(event_id.as_bytes()).into();
        let token = match self
            .stores
            .idempotency
            .claim_idempotency_key(&scope, &fingerprint, &times)
            .await?
        {
            IdempotencyClaim::Claimed(token) => token,
            IdempotencyClaim::Completed(_) | IdempotencyClaim::Mismatch => {
                tracing::debug!(event_id = %event_id, "duplicate Clerk webhook");
                return Ok(WebhookOutcome::Duplicate { event_id });
            }
            IdempotencyClaim::InFlight => {
                return Err(CoreError::Conflict(
                    "this event is being processed; deliver it again later".into(),
                ))
            }
        };

        let applied = match (&change, &prior) {
            (Change::Upsert, _) => self.upsert_clerk_user(&tenant, &event, source_at).await,
            (Change::Delete, Some(prior)) => {
                self.delete_clerk_user(&tenant, prior, &event.user, source_at)
                    .await
            }
            (Change::Delete, None) => Ok(Some("unknown user")),
        };
        let applied = match applied {
            // Data Clerk allows and dream does not (an id over 255 characters):
            // retrying cannot help, so acknowledge it.
            Err(CoreError::InvalidInput { field, reason }) => {
                tracing::warn!(event_id = %event_id, field, reason, "Clerk user data dream does not accept");
                Ok(Some("user data dream does not accept"))
            }
            other => other,
        };
        match applied {
            Ok(skipped) => {
                let done = StoredResponse {
                    status: 200,
                    headers: vec![],
                    body: b"{}".to_vec(),
                };
                self.stores
                    .idempotency
                    .complete_idempotency_key(&scope, &token, &done)
                    .await?;
                match skipped {
                    None => Ok(WebhookOutcome::Applied { tenant, event_id }),
                    Some(reason) => ignored(reason),
                }
            }
            Err(err) => {
                // Clerk retries; the retry must run again.
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

    /// The tenant of a user's `publishableKey`, or why there is none. Revoked keys
    /// route too (see the module docs).
    async fn tenant_of_publishable(
        &self,
        publishable_key: Option<&str>,
    ) -> Result<Result<Tenant, Skipped>, CoreError> {
        let Some(pk) = publishable_key else {
            return Ok(Err("no publishableKey in the user's public_metadata"));
        };
        if !TokenShape::of(pk).is_some_and(|shape| shape.kind == KeyKind::Publishable) {
            return Ok(Err("publishableKey is not a pk_test_… or pk_live_… key"));
        }
        Ok(match self.stores.keys.find_key_by_publishable(pk).await? {
            Some(key) => Ok(key.tenant),
            None => Err("unknown publishableKey"),
        })
    }

    /// `user.created` / `user.updated`: find (or create) the customer, update its
    /// profile, then move the link forward. `Some(reason)` when nothing applied.
    async fn upsert_clerk_user(
        &self,
        tenant: &Tenant,
        event: &ClerkEvent,
        source_at: DateTime<Utc>,
    ) -> Result<Option<Skipped>, CoreError> {
        let user = event.user.as_str();
        let link = self.stores.identity.get_identity_link(CLERK, user).await?;
        if let Some(link) = &link {
            if let Some(linked) = link.tenant.as_ref().filter(|t| *t != tenant) {
                tracing::info!(user, %linked, named = %tenant, "a Clerk user's publishableKey names another tenant; the user stays where it is");
                return Ok(Some("user belongs to another tenant"));
            }
            // Sequential late deliveries stop here; the advance below settles races.
            if link.source_at > source_at {
                return Ok(Some("older than the last applied event"));
            }
        }
        let linked = match link.as_ref().and_then(|l| l.customer.as_ref()) {
            Some(id) => self.stores.customers.get_customer(tenant, id).await?,
            None => None,
        };
        let existing = match linked {
            Some(customer) => Some(customer),
            None => {
                self.stores
                    .customers
                    .find_customer_by_external_id(tenant, user)
                    .await?
            }
        };
        let customer = match existing {
            Some(customer) => self.apply_profile(tenant, customer, event).await?,
            None => {
                let new = NewCustomer {
                    external_id: Some(user.to_owned()),
                    email: event.email.clone().flatten(),
                    first_name: event.first_name.clone().flatten(),
                    last_name: event.last_name.clone().flatten(),
                    ..NewCustomer::default()
                };
                match self.create_customer(tenant, new).await {
                    Ok(created) => created,
                    // Another delivery for this user created it first: update theirs.
                    Err(CoreError::Conflict(message)) => {
                        match self
                            .stores
                            .customers
                            .find_customer_by_external_id(tenant, user)
                            .await?
                        {
                            Some(customer) => self.apply_profile(tenant, customer, event).await?,
                            // Not a duplicate (the tenant has no tiers yet, say):
                            // fail, so Clerk retries once it is fixed.
                            None => return Err(CoreError::Conflict(message)),
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
        };
        let advanced = self
            .stores
            .identity
            .advance_identity_link(&IdentityLink {
                provider: CLERK.into(),
                subject: user.to_owned(),
                tenant: Some(tenant.clone()),
                customer: Some(customer.id.clone()),
                source_at,
            })
            .await?;
        if advanced {
            return Ok(None);
        }
        // A newer event moved the link while we wrote. If it was the delete, it
        // may have looked for the customer before we created it: delete it here,
        // so a deleted user never ends up with a customer.
        match self.stores.identity.get_identity_link(CLERK, user).await? {
            Some(now)
                if now.tenant.as_ref().is_none_or(|t| t == tenant) && now.customer.is_none() =>
            {
                self.remove_customer(tenant, &customer.id).await?;
                Ok(Some("the user was deleted meanwhile"))
            }
            _ => Ok(Some("older than the last applied event")),
        }
    }

    /// The tenant a `user.deleted` goes to, from the user's link. When no tenant
    /// is known (the delete overtook the user's `user.created`, say), a tombstone
    /// without a tenant is left instead and `None` returned: the late create is
    /// then older than the tombstone and dropped, so the user is never created.
    async fn route_clerk_delete(
        &self,
        user: &str,
        source_at: DateTime<Utc>,
    ) -> Result<Option<(Tenant, IdentityLink)>, CoreError> {
        // Twice: a create may claim the subject between the read and the
        // tombstone, and then its tenant routes the delete after all.
        for _ in 0..2 {
            let link = self.stores.identity.get_identity_link(CLERK, user).await?;
            if let Some(link) = link {
                if let Some(tenant) = link.tenant.clone() {
                    return Ok(Some((tenant, link)));
                }
            }
            let tombstone = IdentityLink {
                provider: CLERK.into(),
                subject: user.to_owned(),
                tenant: None,
                customer: None,
                source_at,
            };
            if self
                .stores
                .identity
                .advance_identity_link(&tombstone)
                .await?
            {
                return Ok(None);
            }
        }
        // A newer tombstone without a tenant is already there.
        Ok(None)
    }

    /// `user.deleted`: leave a tombstone link first (so no older update can bring
    /// the customer back), then delete the customer if there is one.
    async fn delete_clerk_user(
        &self,
        tenant: &Tenant,
        prior: &IdentityLink,
        user: &str,
        source_at: DateTime<Utc>,
    ) -> Result<Option<Skipped>, CoreError> {
        let advanced = self
            .stores
            .identity
            .advance_identity_link(&IdentityLink {
                provider: CLERK.into(),
                subject: user.to_owned(),
                tenant: Some(tenant.clone()),
                customer: None,
                source_at,
            })
            .await?;
        if !advanced {
            return Ok(Some("older than the last applied event"));
        }
        // The linked customer, and the one with the user's id as external id
        // (usually the same; a concurrent create may have made the second).
        if let Some(id) = &prior.customer {
            self.remove_customer(tenant, id).await?;
        }
        if let Some(customer) = self
            .stores
            .customers
            .find_customer_by_external_id(tenant, user)
            .await?
        {
            self.remove_customer(tenant, &customer.id).await?;
        }
        Ok(None)
    }

    /// Sets the profile fields Clerk sent (absent ones are left alone).
    async fn apply_profile(
        &self,
        tenant: &Tenant,
        customer: Customer,
        event: &ClerkEvent,
    ) -> Result<Customer, CoreError> {
        if event.email.is_none() && event.first_name.is_none() && event.last_name.is_none() {
            return Ok(customer);
        }
        let patch = CustomerPatch {
            email: event.email.clone(),
            first_name: event.first_name.clone(),
            last_name: event.last_name.clone(),
            ..CustomerPatch::default()
        };
        self.update_customer(tenant, customer.id.as_str(), patch)
            .await
    }

    /// Deletes a customer (event `customer.deleted`); one already gone is fine.
    async fn remove_customer(&self, tenant: &Tenant, id: &CustomerId) -> Result<(), CoreError> {
        match self.delete_customer(tenant, id.as_str()).await {
            Ok(_) | Err(CoreError::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// Reads a Clerk event tolerantly: unknown fields are fine, and profile values of
/// an unexpected type or that dream would refuse are left out (logged), so one
/// odd field does not block the user. Not JSON, or no `type` or `data.id`, is
/// `InvalidPayload`.
fn parse(payload: &[u8]) -> Result<ClerkEvent, WebhookError> {
    let invalid = |why: &str| WebhookError::InvalidPayload(why.to_owned());
    let value: Value = serde_json::from_slice(payload).map_err(|_| invalid("not JSON"))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("no event `type`"))?;
    let data = value
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| invalid("no `data` object"))?;
    let user = data
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("no `data.id`"))?;
    let millis = |v: Option<&Value>| {
        v.and_then(Value::as_i64)
            .and_then(DateTime::from_timestamp_millis)
    };
    let publishable_key = data
        .get("public_metadata")
        .and_then(|m| m.get("publishableKey"))
        .and_then(Value::as_str)
        .map(|pk| pk.trim().to_owned());
    let checked = |field: Field, name: &'static str, check: &dyn Fn(&str) -> bool| match field {
        Some(Some(v)) if !check(&v) => {
            tracing::warn!(
                user,
                field = name,
                "Clerk sent a value dream does not accept; the stored one is kept"
            );
            None
        }
        other => other,
    };
    Ok(ClerkEvent {
        kind: kind.to_owned(),
        user: user.to_owned(),
        publishable_key,
        source_at: millis(value.get("timestamp")).or_else(|| millis(data.get("updated_at"))),
        email: checked(primary_email(data), "email", &|e| validate_email(e).is_ok()),
        first_name: checked(text(data, "first_name"), "first_name", &|n| {
            validate_name(n, "/firstName").is_ok()
        }),
        last_name: checked(text(data, "last_name"), "last_name", &|n| {
            validate_name(n, "/lastName").is_ok()
        }),
    })
}

fn text(data: &Value, key: &str) -> Field {
    match data.get(key)? {
        Value::Null => Some(None),
        Value::String(s) if s.trim().is_empty() => Some(None),
        Value::String(s) => Some(Some(s.trim().to_owned())),
        // A type Clerk does not send: keep what is stored.
        _ => None,
    }
}

/// The address of `email_addresses` whose id is `primary_email_address_id`;
/// none (clear) when the user has no primary address, absent when the payload
/// has no `email_addresses` at all.
fn primary_email(data: &Value) -> Field {
    let addresses = data.get("email_addresses")?.as_array()?;
    let primary = data.get("primary_email_address_id").and_then(Value::as_str);
    Some(
        primary
            .and_then(|id| {
                addresses
                    .iter()
                    .find(|a| a.get("id").and_then(Value::as_str) == Some(id))
            })
            .and_then(|a| a.get("email_address"))
            .and_then(Value::as_str)
            .map(|e| e.trim().to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_clerk_user_event() {
        let body = br#"{"data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC","object":"user",
            "email_addresses":[{"id":"idn_1","email_address":"old@example.com"},
                               {"id":"idn_2","email_address":"ada@example.com"}],
            "primary_email_address_id":"idn_2","first_name":"Ada","last_name":null,
            "public_metadata":{"publishableKey":"pk_test_abc"},"updated_at":1654012591514,
            "unknown":{"nested":[1,2]}},
            "object":"event","timestamp":1654012591835,"type":"user.updated"}"#;
        let event = parse(body).unwrap();
        assert_eq!(event.kind, "user.updated");
        assert_eq!(event.user, "user_29w83sxmDNGwOuEthce5gg56FcC");
        assert_eq!(event.publishable_key.as_deref(), Some("pk_test_abc"));
        assert_eq!(event.email, Some(Some("ada@example.com".into())));
        assert_eq!(event.first_name, Some(Some("Ada".into())));
        assert_eq!(event.last_name, Some(None));
        assert_eq!(
            event.source_at,
            DateTime::from_timestamp_millis(1654012591835)
        );
    }

    #[test]
    fn deleted_events_carry_only_the_id_and_odd_values_are_left_out() {
        let deleted = br#"{"data":{"deleted":true,"id":"user_1","object":"user"},
            "object":"event","type":"user.deleted","timestamp":1}"#;
        let event = parse(deleted).unwrap();
        assert_eq!(
            (event.email, event.first_name, event.publishable_key),
            (None, None, None)
        );
        let odd = br#"{"type":"user.created","data":{"id":"user_1","first_name":7,
            "email_addresses":[{"id":"a","email_address":"not an email"}],
            "primary_email_address_id":"a","public_metadata":{"publishableKey":42},
            "updated_at":5}}"#;
        let event = parse(odd).unwrap();
        assert_eq!((event.email, event.first_name), (None, None));
        assert_eq!(event.publishable_key, None);
        assert_eq!(event.source_at, DateTime::from_timestamp_millis(5));
    }

    #[test]
    fn refuses_what_is_not_a_clerk_event() {
        for body in [
            &b"not json"[..],
            br#"{"data":{"id":"user_1"}}"#,
            br#"{"type":"user.created"}"#,
            br#"{"type":"user.created","data":{"id":""}}"#,
        ] {
            assert!(
                matches!(parse(body), Err(WebhookError::InvalidPayload(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
