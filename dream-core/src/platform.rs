//! Platforms: one app of a developer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, PlatformId};

/// A developer's app. Stable across key rotations; owns a tenant per mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `plt_…`.
    pub id: PlatformId,
    /// Optional display name.
    pub name: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// The developer account that owns it; `None` for a platform an operator made
    /// with the admin token.
    pub owner: Option<AccountId>,
    /// When its owner deleted it (its keys were revoked then). A deleted platform
    /// is gone for its owner; operators still see it, so its history stays.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Platform {
    /// Whether `account` owns this platform and has not deleted it.
    pub fn is_owned_by(&self, account: &AccountId) -> bool {
        self.deleted_at.is_none() && self.owner.as_ref() == Some(account)
    }
}
