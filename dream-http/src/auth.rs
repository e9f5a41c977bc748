//! Security schemes: the one place that turns a presented key or session cookie
//! into a tenant or account, or a 401.

use dream_core::{KeyRecord, SignedInAccount, Tenant};
use poem::{Request, RequestBody};
use poem_openapi::{
    auth::Bearer,
    registry::{MetaSecurityScheme, Registry},
    ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme,
};

use crate::{
    account_scope::{session_token, AppScope, SESSION_COOKIE},
    error::{ApiError, ErrorBody, ErrorCode},
    state::AppState,
};

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| ApiError::internal().into())
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

/// A secret key (`Authorization: Bearer sk_test_…` or `sk_live_…`), or, on the
/// account front door (`/account/apps/{platformId}/…`), the session cookie with
/// the app and mode that `account_scope` already checked. One extractor, so each
/// operation has one implementation behind both doors.
pub struct SecretKeyAuth(Tenant);

/// A secret or publishable key (`pk_…`), for read-only public data such as
/// tiers, or the account front door as for [`SecretKeyAuth`].
pub struct AnyKeyAuth(Tenant);

impl SecretKeyAuth {
    /// The tenant the key (or the account route) names.
    pub fn tenant(&self) -> &Tenant {
        &self.0
    }
}

impl AnyKeyAuth {
    /// The tenant the key (or the account route) names.
    pub fn tenant(&self) -> &Tenant {
        &self.0
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
                    return Ok(Self(scope.tenant.clone()));
                }
                let key = <$scheme as ApiExtractor>::from_request(req, body, param_opts).await?;
                Ok(Self(key.0.tenant))
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
    ($name:ident, $extract:ident) => {
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
                $extract(req).await.map(Self)
            }
        }
    };
}

/// A signed-in developer: the `dream_session` cookie of a valid session.
pub struct AccountAuth(pub SignedInAccount);

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
pub struct AppAuth(pub AppScope);

async fn app_scope(req: &Request) -> poem::Result<AppScope> {
    req.extensions()
        .get::<AppScope>()
        .cloned()
        .ok_or_else(|| ApiError::unauthenticated().into())
}

session_extractor!(AccountAuth, signed_in);
session_extractor!(AppAuth, app_scope);

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
