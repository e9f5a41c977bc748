//! End-user sign-in bodies. Passwords and tokens never appear in `Debug`.

use chrono::{DateTime, Utc};
use dream_core::{Jwk, TokenPair};
use poem_openapi::Object;
use serde::Deserialize;

/// An end customer's email and password.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// The customer's email (compared case-insensitively).
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// The customer's password.
    #[oai(validator(max_length = 256))]
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").finish_non_exhaustive()
    }
}

/// A refresh token, to rotate (`/api/auth/refresh`) or revoke (`/api/auth/logout`).
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token (`rt_…`) of the last login or refresh.
    #[oai(validator(max_length = 256))]
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest").finish_non_exhaustive()
    }
}

/// A signed-in customer's tokens.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The access token: a JWT signed with EdDSA (Ed25519), verifiable with
    /// the keys at `/.well-known/jwks.json`. Stateless: it stays valid until
    /// it expires, even after logout.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The refresh token (`rt_…`): single use; every refresh returns a new one.
    pub refresh_token: String,
    /// When the sign-in ends at the latest (no refresh after it).
    pub refresh_token_expires_at: DateTime<Utc>,
    /// The customer (`usr_…`), also the token's `sub`.
    pub customer_id: String,
    /// The customer's plan, also the token's `plan`.
    pub plan: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("customer_id", &self.customer_id)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// The response for `pair`.
    pub fn new(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer".into(),
            expires_in: (pair.access_expires_at - pair.issued_at).num_seconds(),
            refresh_token: pair.refresh_token.expose_secret().to_owned(),
            refresh_token_expires_at: pair.refresh_expires_at,
            customer_id: pair.customer.id.to_string(),
            plan: pair.customer.plan,
        }
    }
}

/// Done.
#[derive(Object, Debug)]
pub struct LoggedOutResponse {
    /// Always true (also for a token that was already revoked or unknown).
    pub success: bool,
}

/// The sign-ins that were ended.
#[derive(Object, Debug)]
pub struct RevokedSessions {
    /// Always true.
    pub success: bool,
    /// How many live sign-ins (refresh chains) were ended.
    pub revoked: u64,
}

/// A public key that verifies access tokens (RFC 7517 / RFC 8037).
#[derive(Object, Debug)]
pub struct JwkDto {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// The key id, as in a token's header.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[oai(rename = "use")]
    pub use_: String,
}

impl From<Jwk> for JwkDto {
    fn from(jwk: Jwk) -> Self {
        Self {
            kty: jwk.kty,
            crv: jwk.crv,
            x: jwk.x,
            kid: jwk.kid,
            alg: jwk.alg,
            use_: jwk.use_,
        }
    }
}

/// The JWK set.
#[derive(Object, Debug)]
pub struct JwkSet {
    /// The current key first, then recently retired keys still verifying
    /// unexpired tokens.
    pub keys: Vec<JwkDto>,
}

/// A signing key rotation.
#[derive(Object, Debug)]
pub struct RotatedSigningKey {
    /// The new current key's id.
    pub kid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_passwords_or_tokens() {
        let login: LoginRequest =
            serde_json::from_str(r#"{"email":"ada@example.com","password":"hunter2hunter2"}"#)
                .unwrap();
        assert!(!format!("{login:?}").contains("hunter2"));
        let refresh: RefreshRequest =
            serde_json::from_str(r#"{"refreshToken":"rt_secretsecret"}"#).unwrap();
        assert!(!format!("{refresh:?}").contains("rt_secret"));
        let response = TokenResponse {
            access_token: "eyJsecret".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            refresh_token: "rt_secretsecret".into(),
            refresh_token_expires_at: Utc::now(),
            customer_id: "usr_1".into(),
            plan: "free".into(),
        };
        let shown = format!("{response:?}");
        assert!(
            !shown.contains("eyJsecret") && !shown.contains("rt_secret"),
            "{shown}"
        );
    }
}
