//! The audit log port: append-only, per platform, newest first.

use async_trait::async_trait;

use crate::{AuditEntry, AuditId, Mode, Page, PageRequest, PlatformId, StoreError};

/// Platforms' audit logs.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry. `Conflict` if the id exists.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// The platform's entries, newest (last appended) first. With `mode`, only
    /// that mode's entries and the platform-wide ones (no mode); without, all.
    /// `NotFound` when the cursor is not an entry of the platform.
    async fn list_audit(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
        page: &PageRequest<AuditId>,
    ) -> Result<Page<AuditEntry>, StoreError>;
}
