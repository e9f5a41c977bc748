//! The identity-link port: which customer an identity provider's user (Clerk) is,
//! moving forward in time only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{CustomerId, StoreError, Tenant};

/// Which tenant (and, while it exists, which customer) an identity of an outside
/// auth provider belongs to: a Clerk user, say. One row per `(provider, subject)`.
///
/// The link exists because the provider's delete events carry nothing but the
/// subject, and because events arrive out of order: `source_at` is the time of the
/// provider event that last moved the link, so an older event delivered late can
/// be recognised and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLink {
    /// The auth provider (`"clerk"`).
    pub provider: String,
    /// The provider's id of the user (`user_…`).
    pub subject: String,
    /// The tenant the user belongs to. A link never moves to another tenant.
    /// `None` only for a tombstone left by a delete that arrived before any event
    /// naming the user's tenant: the first later event that names one and is not
    /// older claims the link.
    pub tenant: Option<Tenant>,
    /// The customer the user is, or `None`: a tombstone left by a delete, so that
    /// a late, older update cannot bring the customer back.
    pub customer: Option<CustomerId>,
    /// When the provider produced the event that last moved this link.
    pub source_at: DateTime<Utc>,
}

/// Identity links of outside auth providers (see [`IdentityLink`]).
///
/// A link is kept after its customer is deleted (through the API or a provider's
/// delete event): it is how a later event of the same user is routed and ordered.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The link of `subject` at `provider`, if any.
    async fn get_identity_link(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<IdentityLink>, StoreError>;

    /// Atomically: store `link` if no link of its `(provider, subject)` exists, or
    /// replace the stored one (tenant, customer and `source_at`) if its
    /// `source_at` is not later than `link.source_at` (equal times apply, so a
    /// redelivered event is harmless) and it belongs to the same tenant or has
    /// none. Returns whether it was stored.
    ///
    /// A stored link of another tenant is never replaced (`false`): a user cannot
    /// move data between tenants by editing their metadata. Nor is a stored link
    /// with a tenant replaced by a `link` without one. A `link` without a tenant
    /// must be a tombstone (`customer: None`).
    async fn advance_identity_link(&self, link: &IdentityLink) -> Result<bool, StoreError>;
}
