//! Modes and tenants: the partition key of all end-user data.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::PlatformId;

/// Test or live: fully separate tiers, customers, usage and keys, like Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Test data; keys `pk_test_…` / `sk_test_…`.
    Test,
    /// Live data; keys `pk_live_…` / `sk_live_…`.
    Live,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Test, Mode::Live];

    /// `"test"` or `"live"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(Mode::Test),
            "live" => Ok(Mode::Live),
            _ => Err(()),
        }
    }
}

/// A platform in one mode. All customer, usage and event data hangs off a tenant,
/// never off a key, so keys rotate without moving anything.
///
/// ```
/// use dream_core::{Mode, PlatformId, Tenant};
/// let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
/// assert_eq!(tenant.mode, Mode::Test);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tenant {
    /// The platform.
    pub platform: PlatformId,
    /// The mode.
    pub mode: Mode,
}

impl Tenant {
    /// A tenant of `platform` in `mode`.
    pub fn new(platform: PlatformId, mode: Mode) -> Self {
        Self { platform, mode }
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.platform, self.mode)
    }
}
