//! Security schemes: the one place that turns a presented key into a tenant or a 401,
//! and into the actor that the audit log records for the request.
//!
//! Management handlers call services through [`SecretKeyAuth::dream`] or
//! [`AdminAuth::dream`]: a `Dream` that already knows who is acting and in which
//! request, so the services' audit entries name them.

use dream_core::{Actor, AuditContext, Dream, KeyKind, KeyRecord, Tenant};
use poem::Request;
use poem_openapi::{auth::Bearer, SecurityScheme};

use crate::{
    error::{ApiError, ErrorBody, ErrorCode},
    middleware::RequestId,
    state::AppState,
};

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| ApiError::internal().into())
}

fn request_id(req: &Request) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.0.clone())
}

/// A secret key: `Authorization: Bearer sk_test_…` or `sk_live_…`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "SecretKey", checker = "check_secret_key")]
pub struct SecretKeyAuth(pub SecretKeyCaller);

/// Who called with a secret key: the pair, and the request (for the audit log).
pub struct SecretKeyCaller {
    /// The authenticated pair.
    pub key: KeyRecord,
    /// The request being served.
    pub request_id: Option<String>,
}

async fn check_secret_key(req: &Request, bearer: Bearer) -> poem::Result<SecretKeyCaller> {
    let key = state(req)?
        .dream
        .authenticate_secret(&bearer.token)
        .await
        .map_err(ApiError::from)?;
    Ok(SecretKeyCaller {
        key,
        request_id: request_id(req),
    })
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
        &self.0.key.tenant
    }

    /// The services, acting as this key (`key_…` in the audit log).
    pub fn dream(&self, state: &AppState) -> Dream {
        state.dream.acting_as(AuditContext::new(
            Actor::SecretKey(self.0.key.id.clone()),
            self.0.request_id.clone(),
        ))
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
pub struct AdminAuth(pub AuditContext);

impl AdminAuth {
    /// The services, acting as the operator (`operator` in the audit log).
    pub fn dream(&self, state: &AppState) -> Dream {
        state.dream.acting_as(self.0.clone())
    }
}

async fn check_admin_token(req: &Request, bearer: Bearer) -> poem::Result<AuditContext> {
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
        Ok(AuditContext::new(Actor::Operator, request_id(req)))
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
