//! Recording and reading the audit log, and who is acting.
//!
//! Management services record their own entries (through [`Dream::record`]), so
//! no front door can forget one; a door only names the actor with
//! [`Dream::acting_as`]. Without it, the actor is [`Actor::System`](crate::Actor).

use std::sync::Arc;

use crate::{
    AuditAction, AuditContext, AuditEntry, AuditId, CoreError, Mode, Page, PageRequest, PlatformId,
};

use super::Dream;

impl Dream {
    /// This handle with `context` as the actor (and request) of every management
    /// action done through it. Cheap: a clone of the handle.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::{Actor, AuditContext, Dream, PageRequest};
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    /// let operator = dream.acting_as(AuditContext::new(Actor::Operator, Some("req_1".into())));
    /// let platform = operator.create_platform(Some("my app".into())).await?;
    /// let log = dream.audit_log(&platform.id, None, &PageRequest::first(10)).await?;
    /// assert_eq!(log.data[0].actor, Actor::Operator);
    /// assert_eq!(log.data[0].action.as_str(), "platform.created");
    /// # Ok(())
    /// # }
    /// ```
    pub fn acting_as(&self, context: AuditContext) -> Dream {
        let mut scoped = self.clone();
        scoped.audit = Arc::new(context);
        scoped
    }

    /// Who is acting through this handle.
    pub fn audit_context(&self) -> &AuditContext {
        &self.audit
    }

    /// Appends an entry for an action that has already happened. Like
    /// [`Dream::emit`], a failure is logged rather than returned: the caller must
    /// not believe the action did not happen.
    pub(super) async fn record(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
        action: AuditAction,
        object_id: Option<String>,
        detail: serde_json::Value,
    ) {
        let entry = AuditEntry::new(
            &self.audit,
            platform.clone(),
            mode,
            action,
            object_id,
            detail,
            self.now(),
        );
        if let Err(err) = self.stores.audit.append_audit(&entry).await {
            tracing::error!(
                error = %err,
                action = action.as_str(),
                platform = %platform,
                "could not append to the audit log"
            );
        }
    }

    /// A platform's audit log, newest first: with `mode`, that mode's entries and
    /// the platform-wide ones. A cursor that is not an entry of the platform is
    /// `NotFound`.
    pub async fn audit_log(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
        page: &PageRequest<AuditId>,
    ) -> Result<Page<AuditEntry>, CoreError> {
        self.platform(platform).await?;
        Ok(self.stores.audit.list_audit(platform, mode, page).await?)
    }
}
