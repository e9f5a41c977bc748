//! Platforms: one app of a developer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::PlatformId;

/// A developer's app. Stable across key rotations; owns a tenant per mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `plt_…`.
    pub id: PlatformId,
    /// Optional display name.
    pub name: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}
