//! The dashboard's routes: who is signed in, which app and mode, then one page
//! module per path. Every write checks the request's origin first (the same
//! rule as the account API) and answers with the page to show next, or a
//! redirect after a change that a reload must not repeat.

use dream_core::{Mode, PlatformId, SignedInAccount};
use dream_http::{session, AppState};
use poem::{
    http::StatusCode,
    web::{Data, Form, Path, Query},
    IntoResponse, Request, Response, Route,
};

use crate::{
    access::AppAccess,
    chrome::Flash,
    error::PageError,
    html,
    pages::{auth, customers, events, keys, overview, stripe, tiers, webhooks},
};

type PageResult = Result<Response, PageError>;

/// Every dashboard route, to be nested at `/dashboard`.
pub(crate) fn routes() -> Route {
    const APP: &str = "/apps/:platform/:mode";
    Route::new()
        .at("/", poem::get(home))
        .at("/assets/:file", poem::get(crate::assets::serve))
        .at("/login", poem::get(login_page).post(login_submit))
        .at("/signup", poem::get(signup_page).post(signup_submit))
        .at("/logout", poem::post(logout))
        .at("/account", poem::get(account_page).post(password_change))
        .at("/account/upgrade", poem::post(upgrade))
        .at("/apps", poem::get(apps_page).post(apps_create))
        // poem allows no captures in a nested prefix: each app route is spelled out.
        .at(APP, poem::get(overview_page))
        .at(format!("{APP}/customers"), poem::get(customers_page))
        .at(
            format!("{APP}/customers/:customer"),
            poem::get(customer_page).post(customer_action),
        )
        .at(
            format!("{APP}/tiers"),
            poem::get(tiers_page).post(tiers_save),
        )
        .at(
            format!("{APP}/keys"),
            poem::get(keys_page).post(keys_action),
        )
        .at(
            format!("{APP}/stripe"),
            poem::get(stripe_page).post(stripe_action),
        )
        .at(
            format!("{APP}/webhooks"),
            poem::get(webhooks_page).post(webhooks_create),
        )
        .at(
            format!("{APP}/webhooks/:endpoint"),
            poem::get(webhook_page).post(webhook_action),
        )
        .at(format!("{APP}/events"), poem::get(events_page))
}

fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("Location", to)
        .finish()
}

/// The signed-in account, or a redirect to sign in and come back.
async fn signed_in(state: &AppState, req: &Request) -> Result<SignedInAccount, PageError> {
    let back_to = || PageError::SignInRequired {
        back_to: req.uri().path().to_owned(),
    };
    let token = session::session_token(req).ok_or_else(back_to)?;
    match state.dream.authenticate_session(&token).await {
        Ok(signed_in) => Ok(signed_in),
        Err(dream_core::CoreError::Unauthenticated { .. }) => Err(back_to()),
        Err(other) => Err(other.into()),
    }
}

/// The services, acting as the signed-in account (`acc_…` in the audit log).
fn acting_as(state: &AppState, signed_in: &SignedInAccount) -> dream_core::Dream {
    state.dream.acting_as(dream_core::AuditContext::new(
        dream_core::Actor::Account(signed_in.account.id.to_string()),
        None,
    ))
}

/// A write from another site is refused before anything else.
fn same_origin(state: &AppState, req: &Request) -> Result<(), PageError> {
    if session::from_allowed_origin(state, req) {
        Ok(())
    } else {
        Err(PageError::ForeignOrigin)
    }
}

/// The app in the path, if the signed-in account owns it; any other app is the
/// same 404 as a missing one.
async fn app_access(
    state: &AppState,
    req: &Request,
    (platform, mode): (&str, &str),
) -> Result<AppAccess, PageError> {
    let signed_in = signed_in(state, req).await?;
    let mode = match mode {
        "test" => Mode::Test,
        "live" => Mode::Live,
        _ => return Err(PageError::NotFound),
    };
    let id = PlatformId::parse(platform).ok_or(PageError::NotFound)?;
    let platform = state.dream.owned_app(&signed_in.account.id, &id).await?;
    Ok(AppAccess {
        tenant: dream_core::Tenant::new(platform.id.clone(), mode),
        platform,
        account_email: signed_in.account.email.clone(),
        dream: acting_as(state, &signed_in),
        account: signed_in.account,
    })
}

#[poem::handler]
async fn home(state: Data<&AppState>, req: &Request) -> PageResult {
    signed_in(&state, req).await?;
    Ok(redirect("/dashboard/apps"))
}

#[poem::handler]
fn login_page(state: Data<&AppState>, Query(form): Query<auth::CredentialsForm>) -> PageResult {
    Ok(html(auth::credentials_page(
        &state.dream,
        false,
        &form,
        None,
    )?))
}

#[poem::handler]
fn signup_page(state: Data<&AppState>, Query(form): Query<auth::CredentialsForm>) -> PageResult {
    Ok(html(auth::credentials_page(
        &state.dream,
        true,
        &form,
        None,
    )?))
}

async fn credentials(
    state: &AppState,
    req: &Request,
    signup: bool,
    form: auth::CredentialsForm,
) -> PageResult {
    same_origin(state, req)?;
    if signup && !auth::signup_open(&state.dream) {
        // The page says sign-up is closed; no account is made.
        return Ok(
            html(auth::credentials_page(&state.dream, true, &form, None)?)
                .with_status(StatusCode::FORBIDDEN)
                .into_response(),
        );
    }
    match auth::sign_in(&state.dream, signup, &form).await? {
        Ok(signed_in) => {
            let mut response = redirect(&form.destination());
            response.headers_mut().insert(
                "Set-Cookie",
                session::session_cookie(state, signed_in.token.expose_secret())
                    .parse()
                    .map_err(|_| PageError::NotFound)?,
            );
            Ok(response)
        }
        Err(error) => {
            let status = if signup {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNAUTHORIZED
            };
            Ok(html(auth::credentials_page(
                &state.dream,
                signup,
                &form,
                Some(error),
            )?)
            .with_status(status)
            .into_response())
        }
    }
}

#[poem::handler]
async fn login_submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<auth::CredentialsForm>,
) -> PageResult {
    credentials(&state, req, false, form).await
}

#[poem::handler]
async fn signup_submit(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<auth::CredentialsForm>,
) -> PageResult {
    credentials(&state, req, true, form).await
}

#[poem::handler]
async fn logout(state: Data<&AppState>, req: &Request) -> PageResult {
    same_origin(&state, req)?;
    if let Ok(signed_in) = signed_in(&state, req).await {
        state.dream.log_out(&signed_in).await?;
    }
    let mut response = redirect("/dashboard/login");
    if let Ok(cookie) = session::cleared_cookie(&state).parse() {
        response.headers_mut().insert("Set-Cookie", cookie);
    }
    Ok(response)
}

#[poem::handler]
async fn account_page(state: Data<&AppState>, req: &Request) -> PageResult {
    let signed_in = signed_in(&state, req).await?;
    Ok(html(
        auth::account(&state.dream, &signed_in, None, None).await?,
    ))
}

#[poem::handler]
async fn password_change(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<auth::PasswordForm>,
) -> PageResult {
    same_origin(&state, req)?;
    let signed_in = signed_in(&state, req).await?;
    let (flash, error) = match auth::change_password(&state.dream, &signed_in, form).await? {
        Ok(()) => (
            Some(Flash::ok(
                "Password changed. Other browsers were signed out.",
            )),
            None,
        ),
        Err(error) => (None, Some(error)),
    };
    Ok(html(
        auth::account(&state.dream, &signed_in, flash, error).await?,
    ))
}

#[poem::handler]
async fn upgrade(state: Data<&AppState>, req: &Request) -> PageResult {
    same_origin(&state, req)?;
    let signed_in = signed_in(&state, req).await?;
    let back = session::own_url(&state, req, "/dashboard/account");
    let urls = dream_core::CheckoutUrls {
        success_url: back.clone(),
        cancel_url: back,
    };
    match state
        .dream
        .upgrade_checkout(&signed_in.account, &urls)
        .await
    {
        Ok(checkout) => Ok(redirect(&checkout.url)),
        Err(dream_core::CoreError::Conflict(message)) => Ok(html(
            auth::account(&state.dream, &signed_in, Some(Flash::error(message)), None).await?,
        )),
        Err(other) => Err(other.into()),
    }
}

#[poem::handler]
async fn apps_page(state: Data<&AppState>, req: &Request) -> PageResult {
    let signed_in = signed_in(&state, req).await?;
    Ok(html(
        auth::apps(&state.dream, &signed_in, None, None).await?,
    ))
}

#[poem::handler]
async fn apps_create(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<auth::NewAppForm>,
) -> PageResult {
    same_origin(&state, req)?;
    let signed_in = signed_in(&state, req).await?;
    match acting_as(&state, &signed_in)
        .create_app(&signed_in.account.id, form.name)
        .await
    {
        Ok(created) => Ok(html(
            auth::apps(&state.dream, &signed_in, Some(created), None).await?,
        )),
        Err(dream_core::CoreError::InvalidInput { reason, .. }) => Ok(html(
            auth::apps(&state.dream, &signed_in, None, Some(reason)).await?,
        )),
        Err(other) => Err(other.into()),
    }
}

#[poem::handler]
async fn overview_page(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
) -> PageResult {
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    let base = session::own_url(&state, req, "");
    Ok(html(overview::render(&access.dream, &access, &base).await?))
}

#[poem::handler]
async fn customers_page(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
    Query(query): Query<customers::ListQuery>,
) -> PageResult {
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    Ok(html(customers::list(&access.dream, &access, query).await?))
}

#[poem::handler]
async fn customer_page(
    state: Data<&AppState>,
    req: &Request,
    Path((platform, mode, customer)): Path<(String, String, String)>,
) -> PageResult {
    let access = app_access(&state, req, (&platform, &mode)).await?;
    Ok(html(
        customers::detail(&access.dream, &access, &customer, None).await?,
    ))
}

#[poem::handler]
async fn customer_action(
    state: Data<&AppState>,
    req: &Request,
    Path((platform, mode, customer)): Path<(String, String, String)>,
    Form(form): Form<customers::PlanForm>,
) -> PageResult {
    same_origin(&state, req)?;
    let access = app_access(&state, req, (&platform, &mode)).await?;
    let flash = customers::change_plan(&access.dream, &access, &customer, form).await?;
    Ok(html(
        customers::detail(&access.dream, &access, &customer, Some(flash)).await?,
    ))
}

#[poem::handler]
async fn tiers_page(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
) -> PageResult {
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    Ok(html(tiers::render(&access.dream, &access, None).await?))
}

#[poem::handler]
async fn tiers_save(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    same_origin(&state, req)?;
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    Ok(html(tiers::save(&access.dream, &access, pairs).await?))
}

#[poem::handler]
async fn keys_page(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
) -> PageResult {
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    Ok(html(
        keys::render(&access.dream, &access, None, None).await?,
    ))
}

#[poem::handler]
async fn keys_action(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
    Form(form): Form<keys::KeyForm>,
) -> PageResult {
    same_origin(&state, req)?;
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    let outcome = keys::act(&access.dream, &access, form).await?;
    Ok(html(
        keys::render(&access.dream, &access, Some(outcome.flash), outcome.issued).await?,
    ))
}

#[poem::handler]
async fn stripe_page(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
) -> PageResult {
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    Ok(html(stripe::render(&access.dream, &access, None).await?))
}

/// The Stripe page's form: `connect` or `disconnect`.
#[derive(Debug, serde::Deserialize)]
struct IntentForm {
    intent: String,
}

#[poem::handler]
async fn stripe_action(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
    Form(form): Form<IntentForm>,
) -> PageResult {
    same_origin(&state, req)?;
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    match stripe::act(&access.dream, &access, &form.intent).await? {
        stripe::StripeOutcome::Redirect(url) => Ok(redirect(&url)),
        stripe::StripeOutcome::Message(flash) => Ok(html(
            stripe::render(&access.dream, &access, Some(flash)).await?,
        )),
    }
}

#[poem::handler]
async fn webhooks_page(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
) -> PageResult {
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    Ok(html(webhooks::list(&access.dream, &access, None).await?))
}

#[poem::handler]
async fn webhooks_create(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
    Form(form): Form<webhooks::EndpointForm>,
) -> PageResult {
    same_origin(&state, req)?;
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    match webhooks::create(&access.dream, &access, form).await? {
        Ok(page) => Ok(html(page)
            .with_status(StatusCode::BAD_REQUEST)
            .into_response()),
        Err(endpoint_href) => Ok(redirect(&endpoint_href)),
    }
}

#[poem::handler]
async fn webhook_page(
    state: Data<&AppState>,
    req: &Request,
    Path((platform, mode, endpoint)): Path<(String, String, String)>,
    Query(query): Query<webhooks::DeliveriesQuery>,
) -> PageResult {
    let access = app_access(&state, req, (&platform, &mode)).await?;
    Ok(html(
        webhooks::detail(&access.dream, &access, &endpoint, query, None, false, None).await?,
    ))
}

#[poem::handler]
async fn webhook_action(
    state: Data<&AppState>,
    req: &Request,
    Path((platform, mode, endpoint)): Path<(String, String, String)>,
    Form(form): Form<webhooks::EndpointForm>,
) -> PageResult {
    same_origin(&state, req)?;
    let access = app_access(&state, req, (&platform, &mode)).await?;
    match webhooks::act(&access.dream, &access, &endpoint, form).await? {
        webhooks::EndpointOutcome::Deleted => Ok(redirect(&crate::chrome::app_href(
            &access.platform,
            access.tenant.mode,
            "webhooks",
        ))),
        webhooks::EndpointOutcome::Page {
            flash,
            reveal,
            error,
        } => Ok(html(
            webhooks::detail(
                &state.dream,
                &access,
                &endpoint,
                webhooks::DeliveriesQuery::default(),
                flash,
                reveal,
                error,
            )
            .await?,
        )),
    }
}

#[poem::handler]
async fn events_page(
    state: Data<&AppState>,
    req: &Request,
    Path(app): Path<(String, String)>,
    Query(query): Query<events::EventsQuery>,
) -> PageResult {
    let access = app_access(&state, req, (&app.0, &app.1)).await?;
    Ok(html(events::render(&access.dream, &access, query).await?))
}
