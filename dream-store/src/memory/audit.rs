//! Platforms' audit logs in memory: one append-ordered list per platform.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use dream_core::{
    ports::AuditStore, AuditEntry, AuditId, Mode, Page, PageRequest, PlatformId, StoreError,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct AuditLog {
    platforms: HashMap<PlatformId, Vec<AuditEntry>>,
    /// Every id in every log: ids are unique across platforms, as the port requires.
    ids: HashSet<AuditId>,
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut log = lock(&self.audit);
        if !log.ids.insert(entry.id.clone()) {
            return Err(StoreError::Conflict("audit entry id exists"));
        }
        log.platforms
            .entry(entry.platform.clone())
            .or_default()
            .push(entry.clone());
        Ok(())
    }

    async fn list_audit(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
        page: &PageRequest<AuditId>,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let log = lock(&self.audit);
        let entries = log.platforms.get(platform).map_or(&[][..], Vec::as_slice);
        let end = match &page.starting_after {
            Some(cursor) => entries
                .iter()
                .position(|e| &e.id == cursor)
                .ok_or(StoreError::NotFound)?,
            None => entries.len(),
        };
        let mut data: Vec<AuditEntry> = entries[..end]
            .iter()
            .rev()
            .filter(|e| mode.is_none() || e.mode.is_none() || e.mode == mode)
            .take(page.limit + 1)
            .cloned()
            .collect();
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(Page { data, has_more })
    }
}
