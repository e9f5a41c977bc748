//! Identity links in memory, behind their own mutex: the check and the write of
//! an advance happen under one lock, so advances never interleave.

use std::collections::HashMap;

use async_trait::async_trait;
use dream_core::{
    ports::{IdentityLink, IdentityStore},
    StoreError,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct Identities {
    /// Keyed by `(provider, subject)`, the primary key of the SQL tables.
    links: HashMap<(String, String), IdentityLink>,
}

#[async_trait]
impl IdentityStore for MemoryStore {
    async fn get_identity_link(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<IdentityLink>, StoreError> {
        let identities = lock(&self.identities);
        Ok(identities
            .links
            .get(&(provider.to_owned(), subject.to_owned()))
            .cloned())
    }

    async fn advance_identity_link(&self, link: &IdentityLink) -> Result<bool, StoreError> {
        let mut identities = lock(&self.identities);
        let key = (link.provider.clone(), link.subject.clone());
        if let Some(stored) = identities.links.get(&key) {
            let same_tenant = stored.tenant.is_none() || stored.tenant == link.tenant;
            if !same_tenant || stored.source_at > link.source_at {
                return Ok(false);
            }
        }
        identities.links.insert(key, link.clone());
        Ok(true)
    }
}
