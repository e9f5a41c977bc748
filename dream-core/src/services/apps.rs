//! Apps: platforms owned by developer accounts. Another account's app, a deleted
//! app and a missing one are the same `NotFound`.

use crate::{AccountId, CoreError, IssuedKey, Mode, Platform, PlatformId, Tenant};

use super::{platforms::validate_platform_name, Dream};

impl Dream {
    /// Creates an app owned by `owner`, with a test-mode key pair (its secret is
    /// in the result only).
    pub async fn create_app(
        &self,
        owner: &AccountId,
        name: String,
    ) -> Result<(Platform, IssuedKey), CoreError> {
        validate_app_name(&name)?;
        let platform = self
            .insert_platform(Some(name), Some(owner.clone()))
            .await?;
        let tenant = Tenant::new(platform.id.clone(), Mode::Test);
        let issued = self
            .issue_key(&tenant, Some("default".into()), None)
            .await?;
        Ok((platform, issued))
    }

    /// The account's apps, oldest first.
    pub async fn apps(&self, owner: &AccountId) -> Result<Vec<Platform>, CoreError> {
        Ok(self.stores.platforms.list_platforms_by_owner(owner).await?)
    }

    /// The app if `owner` owns it (and has not deleted it), else `NotFound`.
    pub async fn owned_app(
        &self,
        owner: &AccountId,
        id: &PlatformId,
    ) -> Result<Platform, CoreError> {
        self.stores
            .platforms
            .get_platform(id)
            .await?
            .filter(|p| p.is_owned_by(owner))
            .ok_or(CoreError::NotFound("platform"))
    }

    /// Renames an app.
    pub async fn rename_app(
        &self,
        owner: &AccountId,
        id: &PlatformId,
        name: String,
    ) -> Result<Platform, CoreError> {
        validate_app_name(&name)?;
        let mut app = self.owned_app(owner, id).await?;
        app.name = Some(name);
        self.stores.platforms.update_platform(&app).await?;
        Ok(app)
    }

    /// Deletes an app for its owner: every key pair of both modes is revoked at
    /// once, then the app disappears from the account. Its data (customers,
    /// events) is kept for the operator, and nothing is removed at Stripe.
    pub async fn delete_app(
        &self,
        owner: &AccountId,
        id: &PlatformId,
    ) -> Result<Platform, CoreError> {
        let mut app = self.owned_app(owner, id).await?;
        let now = self.now();
        for key in self.stores.keys.list_keys(id, None).await? {
            if key.revoked_at.is_none() {
                self.revoke_key(&key.id).await?;
            }
        }
        app.deleted_at = Some(now);
        self.stores.platforms.update_platform(&app).await?;
        Ok(app)
    }

    /// Revokes a key pair of this platform; a key of another platform is `NotFound`.
    pub async fn revoke_platform_key(
        &self,
        platform: &PlatformId,
        id: &crate::KeyId,
    ) -> Result<crate::KeyRecord, CoreError> {
        match self.stores.keys.get_key(id).await? {
            Some(key) if &key.tenant.platform == platform => self.revoke_key(id).await,
            _ => Err(CoreError::NotFound("key")),
        }
    }
}

fn validate_app_name(name: &str) -> Result<(), CoreError> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "/name",
            "must be 1-200 characters without control characters",
        ));
    }
    validate_platform_name(name)
}
