//! Security schemes: the one place that turns a presented key or session cookie
//! into a tenant or account, or a 401.

use dream_core::{KeyRecord, SignedInAccount, Tenant};
use poem::{Request, RequestBody};
use poem_openapi::{
    auth::{ApiKey, Bearer},
    registry::Registry,
    ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme,
};

use crate::{
    account_scope::AppScope,
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

/// A signed-in developer: the `dream_session` cookie of a valid session.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "dream_session",
    key_in = "cookie",
    rename = "SessionCookie",
    checker = "check_session"
)]
pub struct AccountAuth(pub SignedInAccount);

async fn check_session(req: &Request, cookie: ApiKey) -> poem::Result<SignedInAccount> {
    if let Some(scope) = req.extensions().get::<AppScope>() {
        return Ok(scope.signed_in.clone());
    }
    state(req)?
        .dream
        .authenticate_session(&cookie.key)
        .await
        .map_err(|e| ApiError::from(e).into())
}

/// A signed-in developer on one of their apps (`/account/apps/{platformId}…`): the
/// session, ownership and `mode` were checked by `account_scope` before routing.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "dream_session",
    key_in = "cookie",
    rename = "SessionCookie",
    checker = "check_app_scope"
)]
pub struct AppAuth(pub AppScope);

async fn check_app_scope(req: &Request, _cookie: ApiKey) -> poem::Result<AppScope> {
    req.extensions()
        .get::<AppScope>()
        .cloned()
        .ok_or_else(|| ApiError::unauthenticated().into())
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
