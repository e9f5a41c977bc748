//! Developer accounts: sign-up, login, logout, the account, password, upgrade.

use dream_core::{Account, SignedIn};
use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::{billing::checkout_urls, ApiTags};
use crate::{
    account_scope::{cleared_cookie, session_cookie},
    auth::AccountAuth,
    body::{JsonBody, OptionalJsonBody},
    dto::{
        AccountDto, ChangePasswordRequest, CheckoutResponse, CredentialsRequest, UpgradeRequest,
    },
    error::ApiResult,
    state::AppState,
};

/// Developer accounts.
pub struct AccountsApi;

#[derive(ApiResponse)]
enum SignedUp {
    /// Created and signed in.
    #[oai(status = 201)]
    Created(
        Json<AccountDto>,
        /// The session cookie `dream_session` (HttpOnly, SameSite=Lax).
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

#[derive(ApiResponse)]
enum LoggedIn {
    /// Signed in.
    #[oai(status = 200)]
    Ok(
        Json<AccountDto>,
        /// The session cookie `dream_session` (HttpOnly, SameSite=Lax).
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum LoggedOut {
    /// The session has ended everywhere.
    #[oai(status = 204)]
    NoContent(
        /// Clears the session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

/// The account with its plan and apps.
async fn account_view(state: &AppState, account: &Account) -> ApiResult<AccountDto> {
    let plan = state.dream.account_plan(account).await?;
    let apps = state.dream.apps(&account.id).await?;
    Ok(AccountDto::new(account, plan, apps))
}

async fn signed_in_view(
    state: &AppState,
    signed_in: SignedIn,
) -> ApiResult<(Json<AccountDto>, String)> {
    let view = account_view(state, &signed_in.account).await?;
    let cookie = session_cookie(state, signed_in.token.expose_secret());
    Ok((Json(view), cookie))
}

#[OpenApi(prefix_path = "/account", tag = "ApiTags::Accounts")]
impl AccountsApi {
    /// Sign up: creates an account and signs it in (sets the `dream_session` cookie).
    ///
    /// Like every write under `/account`, needs an `Origin` header naming this
    /// server (or a trusted origin): browsers send it; scripts must too. On a
    /// server with closed sign-up (`DREAM_SIGNUP=closed`) it answers 403
    /// `signup_closed`: the operator creates accounts (`POST /admin/accounts`).
    #[oai(path = "/signup", method = "post", operation_id = "signUp")]
    async fn sign_up(
        &self,
        state: Data<&AppState>,
        body: JsonBody<CredentialsRequest>,
    ) -> ApiResult<SignedUp> {
        let req = body.0;
        let signed_in = state.dream.sign_up(&req.email, req.password).await?;
        let (view, cookie) = signed_in_view(&state, signed_in).await?;
        Ok(SignedUp::Created(view, cookie))
    }

    /// Log in with email and password (sets the `dream_session` cookie).
    ///
    /// After 5 failed attempts for one email within 15 minutes, answers 429
    /// `too_many_attempts` whatever the password, until the oldest ages out.
    #[oai(path = "/login", method = "post", operation_id = "logIn")]
    async fn log_in(
        &self,
        state: Data<&AppState>,
        body: JsonBody<CredentialsRequest>,
    ) -> ApiResult<LoggedIn> {
        let req = body.0;
        let signed_in = state.dream.log_in(&req.email, req.password).await?;
        let (view, cookie) = signed_in_view(&state, signed_in).await?;
        Ok(LoggedIn::Ok(view, cookie))
    }

    /// Log out: ends this session in every process at once.
    #[oai(path = "/logout", method = "post", operation_id = "logOut")]
    async fn log_out(&self, state: Data<&AppState>, auth: AccountAuth) -> ApiResult<LoggedOut> {
        state.dream.log_out(&auth.0).await?;
        Ok(LoggedOut::NoContent(cleared_cookie(&state)))
    }

    /// The signed-in account, its plan and its apps.
    #[oai(path = "/", method = "get", operation_id = "getAccount")]
    async fn get(&self, state: Data<&AppState>, auth: AccountAuth) -> ApiResult<Json<AccountDto>> {
        Ok(Json(account_view(&state, &auth.0.account).await?))
    }

    /// Change the password; every other session of the account ends at once.
    #[oai(path = "/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: AccountAuth,
        body: JsonBody<ChangePasswordRequest>,
    ) -> ApiResult<Done> {
        let req = body.0;
        state
            .dream
            .change_password(&auth.0, req.current_password, req.new_password)
            .await?;
        Ok(Done::NoContent)
    }

    /// A Stripe Checkout link for the paid plan that opens live mode.
    ///
    /// Only on a server with a house platform (`DREAM_HOUSE_PLATFORM`); the plan
    /// changes when the house platform's subscription webhook arrives.
    #[oai(path = "/upgrade", method = "post", operation_id = "upgradeAccount")]
    async fn upgrade(
        &self,
        state: Data<&AppState>,
        auth: AccountAuth,
        body: OptionalJsonBody<UpgradeRequest>,
    ) -> ApiResult<Json<CheckoutResponse>> {
        state.dream.house()?;
        let req = body.0;
        let urls = checkout_urls(&state.billing, req.success_url, req.cancel_url)?;
        let session = state.dream.upgrade_checkout(&auth.0.account, &urls).await?;
        Ok(Json(CheckoutResponse {
            url: session.url,
            session_id: session.id,
            expires_at: session.expires_at,
        }))
    }
}
