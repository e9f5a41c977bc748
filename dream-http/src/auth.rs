//! Security schemes: the one place that turns a presented key or session cookie
//! into a tenant or account (or a 401), and into the actor that the audit log
//! records for the request.
//!
//! Management handlers call services through the extractor's `dream(&state)`: a
//! `Dream` that already knows who is acting and in which request, so the
//! services' audit entries name them.

use dream_core::{Actor, AuditContext, Dream, KeyKind, KeyRecord, SignedInAccount, Tenant};
use poem::{Request, RequestBody};
use poem_openapi::{
    auth::Bearer,
    registry::{MetaSecurityScheme, Registry},
    ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme,
};

use crate::{
    account_scope::{session_token, AppScope, SESSION_COOKIE},
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

/// The audit context of a signed-in developer's request.
fn account_context(signed_in: &SignedInAccount, req: &Request) -> AuditContext {
    AuditContext::new(
        Actor::Account(signed_in.account.id.to_string()),
        request_id(req),
    )
}

/// How the key schemes appear in the spec; the extractors below add the account
/// front door to them.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "SecretKey", checker = "check_secret_key")]
struct SecretKeyScheme(KeyRecord);

async fn check_secret_key(req: &Request, bearer: Bearer) -> poem::Result<KeyRecord> {
    state(req)?
        .dream
        .authenticate_secret(&bearer.token)
        .await
        .map_err(|e| ApiError::from(e).into())
}

#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    rename = "SecretOrPublishableKey",
    checker = "check_any_key"
)]
struct AnyKeyScheme(KeyRecord);

async fn check_any_key(req: &Request, bearer: Bearer) -> poem::Result<KeyRecord> {
    state(req)?
        .dream
        .authenticate_any(&bearer.token)
        .await
        .map(|(record, _)| record)
        .map_err(|e| ApiError::from(e).into())
}

/// The app's publishable key (`pk_…`), for end-user sign-in from a browser:
/// the key names the tenant and becomes the tokens' `aud`. A secret key is
/// refused here (it must never reach a browser).
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    rename = "PublishableKey",
    checker = "check_publishable_key"
)]
pub struct PublishableKeyAuth(pub KeyRecord);

async fn check_publishable_key(req: &Request, bearer: Bearer) -> poem::Result<KeyRecord> {
    let (record, kind) = state(req)?
        .dream
        .authenticate_any(&bearer.token)
        .await
        .map_err(ApiError::from)?;
    if kind != KeyKind::Publishable {
        return Err(ApiError::Unauthorized(poem_openapi::payload::Json(ErrorBody::new(
            ErrorCode::InvalidApiKey,
            "Publishable key required",
            "Sign customers in with the app's publishable key (pk_…); a secret key must never reach a browser.",
        )))
        .into());
    }
    Ok(record)
}

/// Who is calling and on which tenant: what a key or an account route names.
pub struct Caller {
    /// The tenant the key (or the account route) names.
    pub tenant: Tenant,
    /// Who is acting (`key_…` or `acc_…`) and in which request.
    pub audit: AuditContext,
}

impl Caller {
    fn from_scope(scope: &AppScope, req: &Request) -> Self {
        Self {
            tenant: scope.tenant.clone(),
            audit: account_context(&scope.signed_in, req),
        }
    }

    fn from_key(key: KeyRecord, req: &Request) -> Self {
        Self {
            audit: AuditContext::new(Actor::SecretKey(key.id), request_id(req)),
            tenant: key.tenant,
        }
    }
}

/// A secret key (`Authorization: Bearer sk_test_…` or `sk_live_…`), or, on the
/// account front door (`/account/apps/{platformId}/…`), the session cookie with
/// the app and mode that `account_scope` already checked. One extractor, so each
/// operation has one implementation behind both doors.
pub struct SecretKeyAuth(pub Caller);

/// A secret or publishable key (`pk_…`), for read-only public data such as
/// tiers, or the account front door as for [`SecretKeyAuth`].
pub struct AnyKeyAuth(pub Caller);

impl SecretKeyAuth {
    /// The tenant the key (or the account route) names.
    pub fn tenant(&self) -> &Tenant {
        &self.0.tenant
    }

    /// The services, acting as this key or account (`key_…` or `acc_…` in the
    /// audit log).
    pub fn dream(&self, state: &AppState) -> Dream {
        state.dream.acting_as(self.0.audit.clone())
    }
}

impl AnyKeyAuth {
    /// The tenant the key (or the account route) names.
    pub fn tenant(&self) -> &Tenant {
        &self.0.tenant
    }
}

/// Implements `ApiExtractor` for a tenant extractor: the app scope of an account
/// route when there is one, else the key scheme `$scheme`.
macro_rules! tenant_extractor {
    ($name:ident, $scheme:ident) => {
        impl<'a> ApiExtractor<'a> for $name {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                <$scheme as ApiExtractor>::register(registry);
            }

            fn security_schemes() -> Vec<&'static str> {
                <$scheme as ApiExtractor>::security_schemes()
            }

            async fn from_request(
                req: &'a Request,
                body: &mut RequestBody,
                param_opts: ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                if let Some(scope) = req.extensions().get::<AppScope>() {
                    return Ok(Self(Caller::from_scope(scope, req)));
                }
                let key = <$scheme as ApiExtractor>::from_request(req, body, param_opts).await?;
                Ok(Self(Caller::from_key(key.0, req)))
            }
        }
    };
}

tenant_extractor!(SecretKeyAuth, SecretKeyScheme);
tenant_extractor!(AnyKeyAuth, AnyKeyScheme);

/// The session cookie scheme in the spec. The cookie is read by
/// `account_scope::session_token` (poem-openapi's cookie support would pull in a
/// cookie jar the server has no other use for).
fn register_session_cookie(registry: &mut Registry) {
    registry.create_security_scheme(
        "SessionCookie",
        MetaSecurityScheme {
            ty: "apiKey",
            description: Some(
                "The `dream_session` cookie set by `POST /account/signup` or `/account/login` \
                 (HttpOnly, SameSite=Lax). Writes also need an `Origin` naming this server.",
            ),
            name: Some(SESSION_COOKIE),
            key_in: Some("cookie"),
            scheme: None,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    );
}

/// Implements `ApiExtractor` for a session extractor: `$extract` turns the
/// request into the value or a 401 `unauthenticated`.
macro_rules! session_extractor {
    ($name:ident, $extract:ident, $signed_in:expr) => {
        impl<'a> ApiExtractor<'a> for $name {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                register_session_cookie(registry);
            }

            fn security_schemes() -> Vec<&'static str> {
                vec!["SessionCookie"]
            }

            async fn from_request(
                req: &'a Request,
                _body: &mut RequestBody,
                _param_opts: ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                let value = $extract(req).await?;
                let audit = account_context($signed_in(&value), req);
                Ok(Self(value, audit))
            }
        }
    };
}

/// A signed-in developer: the `dream_session` cookie of a valid session.
pub struct AccountAuth(pub SignedInAccount, AuditContext);

impl AccountAuth {
    /// The services, acting as this account (`acc_…` in the audit log).
    pub fn dream(&self, state: &AppState) -> Dream {
        state.dream.acting_as(self.1.clone())
    }
}

async fn signed_in(req: &Request) -> poem::Result<SignedInAccount> {
    if let Some(scope) = req.extensions().get::<AppScope>() {
        return Ok(scope.signed_in.clone());
    }
    let token = session_token(req).ok_or_else(ApiError::unauthenticated)?;
    state(req)?
        .dream
        .authenticate_session(&token)
        .await
        .map_err(|e| ApiError::from(e).into())
}

/// A signed-in developer on one of their apps (`/account/apps/{platformId}…`): the
/// session, ownership and `mode` were checked by `account_scope` before routing.
pub struct AppAuth(pub AppScope, AuditContext);

impl AppAuth {
    /// The services, acting as this account (`acc_…` in the audit log).
    pub fn dream(&self, state: &AppState) -> Dream {
        state.dream.acting_as(self.1.clone())
    }
}

async fn app_scope(req: &Request) -> poem::Result<AppScope> {
    req.extensions()
        .get::<AppScope>()
        .cloned()
        .ok_or_else(|| ApiError::unauthenticated().into())
}

fn scope_account(scope: &AppScope) -> &SignedInAccount {
    &scope.signed_in
}

session_extractor!(AccountAuth, signed_in, std::convert::identity);
session_extractor!(AppAuth, app_scope, scope_account);

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
