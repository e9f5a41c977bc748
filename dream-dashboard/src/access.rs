//! Who is looking, and at which app in which mode.

use dream_core::{Account, Dream, Platform, Tenant};

/// An app the signed-in account owns, seen in one mode.
pub(crate) struct AppAccess {
    /// Who is signed in (the plan gate asks about it).
    pub account: Account,
    /// The account's email, for the header.
    pub account_email: String,
    /// The app.
    pub platform: Platform,
    /// The app in the chosen mode.
    pub tenant: Tenant,
    /// The services, acting as the account (`acc_…` in the audit log).
    pub dream: Dream,
}
