//! End-user sign-in: login, refresh, logout (publishable key), revoke-all
//! (secret key), the JWK set (no auth) and signing key rotation (admin token).

use poem::{web::Data, Request};
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::ApiTags;
use crate::{
    account_scope::own_url,
    auth::{AdminAuth, PublishableKeyAuth, SecretKeyAuth},
    body::JsonBody,
    dto::{
        JwkSet, LoggedOutResponse, LoginRequest, RefreshRequest, RevokedSessions,
        RotatedSigningKey, TokenResponse,
    },
    error::ApiResult,
    state::AppState,
};
use dream_core::TokenAudience;

/// End-user sign-in.
pub struct SignInApi;

#[derive(ApiResponse)]
enum Jwks {
    /// The public keys.
    #[oai(status = 200)]
    Ok(
        Json<JwkSet>,
        /// Verifiers may cache the set for a minute; fetch it again when a
        /// token names an unknown `kid`.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// The issuer of tokens: `DREAM_PUBLIC_URL`, else the scheme and host the
/// request came with (as the account door's own URL).
fn issuer(state: &AppState, req: &Request) -> String {
    own_url(state, req, "")
}

#[OpenApi(tag = "ApiTags::SignIn")]
impl SignInApi {
    /// Sign a customer in with email and password (publishable key).
    ///
    /// Answers an access token (JWT, EdDSA, 15 minutes by default) and a
    /// refresh token. A wrong password and an unknown email get the same 401
    /// `invalid_credentials`. After 5 failed attempts for one email within 15
    /// minutes, answers 429 `too_many_attempts` whatever the password.
    #[oai(
        path = "/api/auth/login",
        method = "post",
        operation_id = "signInCustomer"
    )]
    async fn log_in(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: PublishableKeyAuth,
        body: JsonBody<LoginRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let body = body.0;
        let iss = issuer(&state, req);
        let audience = TokenAudience {
            issuer: &iss,
            publishable_key: &auth.0.publishable_key,
        };
        let pair = state
            .dream
            .customer_log_in(&auth.0.tenant, audience, &body.email, body.password)
            .await?;
        Ok(Json(TokenResponse::new(pair)))
    }

    /// Exchange a refresh token for a new access and refresh token.
    ///
    /// The presented refresh token stops working. Presenting a refresh token
    /// that was already exchanged ends the whole sign-in (its newest token
    /// too): refresh from one place at a time. Every failure is 401
    /// `invalid_refresh_token`.
    #[oai(
        path = "/api/auth/refresh",
        method = "post",
        operation_id = "refreshCustomerToken"
    )]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: PublishableKeyAuth,
        body: JsonBody<RefreshRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let iss = issuer(&state, req);
        let audience = TokenAudience {
            issuer: &iss,
            publishable_key: &auth.0.publishable_key,
        };
        let pair = state
            .dream
            .refresh_sign_in(&auth.0.tenant, audience, &body.0.refresh_token)
            .await?;
        Ok(Json(TokenResponse::new(pair)))
    }

    /// Sign a customer out: ends the sign-in of this refresh token.
    ///
    /// Access tokens already issued stay valid until they expire (15 minutes
    /// by default). Answers the same for an unknown or already revoked token.
    #[oai(
        path = "/api/auth/logout",
        method = "post",
        operation_id = "signOutCustomer"
    )]
    async fn log_out(
        &self,
        state: Data<&AppState>,
        auth: PublishableKeyAuth,
        body: JsonBody<RefreshRequest>,
    ) -> ApiResult<Json<LoggedOutResponse>> {
        state
            .dream
            .customer_log_out(&auth.0.tenant, &body.0.refresh_token)
            .await?;
        Ok(Json(LoggedOutResponse { success: true }))
    }

    /// End every sign-in of a customer (all refresh chains).
    ///
    /// Access tokens already issued stay valid until they expire.
    #[oai(
        path = "/api/customers/:id/sessions/revoke",
        method = "post",
        operation_id = "revokeCustomerSessions",
        tag = "ApiTags::Customers"
    )]
    async fn revoke_sessions(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
    ) -> ApiResult<Json<RevokedSessions>> {
        let revoked = auth
            .dream(&state)
            .revoke_customer_sessions(auth.tenant(), &id.0)
            .await?;
        Ok(Json(RevokedSessions {
            success: true,
            revoked,
        }))
    }

    /// The public keys that verify access tokens (JWK set, no authentication).
    ///
    /// After a rotation the previous key stays listed until every token it
    /// signed has expired.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks"
    )]
    async fn jwks(&self, state: Data<&AppState>) -> ApiResult<Jwks> {
        let keys = state.dream.published_signing_keys().await?;
        Ok(Jwks::Ok(
            Json(JwkSet {
                keys: keys.into_iter().map(Into::into).collect(),
            }),
            "public, max-age=60".into(),
        ))
    }

    /// Rotate the key that signs access tokens (admin token).
    ///
    /// The new key is published at once (every process within 30 s) and signs
    /// tokens from 30 s after the rotation on; the previous key stays published
    /// until its last token expires.
    #[oai(
        path = "/admin/signing-keys/rotate",
        method = "post",
        operation_id = "rotateSigningKey",
        tag = "ApiTags::Admin"
    )]
    async fn rotate(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
    ) -> ApiResult<Json<RotatedSigningKey>> {
        let kid = auth.dream(&state).rotate_signing_key().await?;
        Ok(Json(RotatedSigningKey { kid }))
    }
}
