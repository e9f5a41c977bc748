//! Security schemes: the one place that turns a presented key into a tenant or a 401.

use dream_core::{KeyKind, KeyRecord, Tenant};
use poem::Request;
use poem_openapi::{auth::Bearer, SecurityScheme};

use crate::{
    error::{ApiError, ErrorBody, ErrorCode},
    state::AppState,
};

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| ApiError::internal().into())
}

/// A secret key: `Authorization: Bearer sk_test_…` or `sk_live_…`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "SecretKey", checker = "check_secret_key")]
pub struct SecretKeyAuth(pub KeyRecord);

async fn check_secret_key(req: &Request, bearer: Bearer) -> poem::Result<KeyRecord> {
    state(req)?
        .dream
        .authenticate_secret(&bearer.token)
        .await
        .map_err(|e| ApiError::from(e).into())
}

/// A secret or publishable key (`pk_…`), for read-only public data such as tiers.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    rename = "SecretOrPublishableKey",
    checker = "check_any_key"
)]
pub struct AnyKeyAuth(pub (KeyRecord, KeyKind));

async fn check_any_key(req: &Request, bearer: Bearer) -> poem::Result<(KeyRecord, KeyKind)> {
    state(req)?
        .dream
        .authenticate_any(&bearer.token)
        .await
        .map_err(|e| ApiError::from(e).into())
}

impl SecretKeyAuth {
    /// The tenant the key belongs to.
    pub fn tenant(&self) -> &Tenant {
        &self.0.tenant
    }
}

impl AnyKeyAuth {
    /// The tenant the key belongs to.
    pub fn tenant(&self) -> &Tenant {
        &self.0 .0.tenant
    }
}

/// The operator's admin token (`DREAM_ADMIN_TOKEN`), until developer accounts exist.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "AdminToken", checker = "check_admin_token")]
pub struct AdminAuth(pub ());

async fn check_admin_token(req: &Request, bearer: Bearer) -> poem::Result<()> {
    let state = state(req)?;
    if state.admin_token_digest.is_none() {
        return Err(
            ApiError::Unauthorized(poem_openapi::payload::Json(ErrorBody::new(
                ErrorCode::InvalidApiKey,
                "Admin API disabled",
                "Start the server with DREAM_ADMIN_TOKEN set to use the admin API.",
            )))
            .into(),
        );
    }
    if state.is_admin_token(&bearer.token) {
        Ok(())
    } else {
        Err(
            ApiError::Unauthorized(poem_openapi::payload::Json(ErrorBody::new(
                ErrorCode::InvalidApiKey,
                "Invalid admin token",
                "Send `Authorization: Bearer <DREAM_ADMIN_TOKEN>`.",
            )))
            .into(),
        )
    }
}
