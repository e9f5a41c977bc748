//! Sign up, log in, the account page (password change, plan, upgrade) and the
//! apps list with "new app".

use askama::Template;
use dream_core::{CoreError, Dream, IssuedKey, Mode, Platform, SignUp, SignedIn, SignedInAccount};
use serde::Deserialize;

use crate::{
    chrome::{app_href, Chrome, Flash},
    error::PageError,
    format,
};

/// The sign-in and sign-up forms.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CredentialsForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    /// Where to go after signing in (a dashboard path only).
    #[serde(default)]
    pub next: Option<String>,
}

impl CredentialsForm {
    /// `next` if it is a path of the dashboard, else the apps list: never an
    /// open redirect to another site.
    pub(crate) fn destination(&self) -> String {
        match self.next.as_deref() {
            Some(next)
                if next.starts_with("/dashboard/")
                    && !next.starts_with("//")
                    && !next.contains("\\") =>
            {
                next.to_owned()
            }
            _ => "/dashboard/apps".to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct CredentialsPage {
    chrome: Chrome,
    signup: bool,
    /// Whether this server lets anyone sign up (`DREAM_SIGNUP`).
    signup_open: bool,
    email: String,
    next: String,
    error: Option<(String, String)>,
}

/// `GET /dashboard/login` or `/dashboard/signup`, and either after a refusal.
/// With sign-up closed, the sign-up page says so instead of showing the form.
pub(crate) fn credentials_page(
    dream: &Dream,
    signup: bool,
    form: &CredentialsForm,
    error: Option<(String, String)>,
) -> Result<String, PageError> {
    let page = CredentialsPage {
        chrome: Chrome::new(if signup { "Sign up" } else { "Log in" }, None),
        signup,
        signup_open: signup_open(dream),
        email: form.email.clone(),
        next: form.destination(),
        error,
    };
    Ok(page.render()?)
}

/// Whether this server lets anyone sign up.
pub(crate) fn signup_open(dream: &Dream) -> bool {
    dream.account_settings().sign_up == SignUp::Open
}

/// Signs up or in; a refusal is `Err((field, message))` for the form.
pub(crate) async fn sign_in(
    dream: &Dream,
    signup: bool,
    form: &CredentialsForm,
) -> Result<Result<SignedIn, (String, String)>, PageError> {
    let result = if signup {
        dream
            .sign_up(form.email.trim(), form.password.clone())
            .await
    } else {
        dream.log_in(form.email.trim(), form.password.clone()).await
    };
    match result {
        Ok(signed_in) => Ok(Ok(signed_in)),
        Err(CoreError::InvalidInput { field, reason }) => {
            let field = if field.contains("password") {
                "password"
            } else {
                "email"
            };
            Ok(Err((field.to_owned(), reason)))
        }
        Err(CoreError::Conflict(message)) => Ok(Err(("email".to_owned(), message))),
        Err(CoreError::Unauthenticated { .. }) => Ok(Err((
            "password".to_owned(),
            "Wrong email or password.".to_owned(),
        ))),
        Err(CoreError::TooManyAttempts { retry_after_secs }) => Ok(Err((
            "password".to_owned(),
            format!(
                "Too many failed attempts: try again in {} minutes.",
                retry_after_secs.div_ceil(60)
            ),
        ))),
        Err(CoreError::Busy { .. }) => Ok(Err((
            "password".to_owned(),
            "The server is busy: try again in a few seconds.".to_owned(),
        ))),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    chrome: Chrome,
    apps: Vec<AppRow>,
    revealed: Option<(String, String, String)>,
    error: Option<String>,
}

struct AppRow {
    name: String,
    id: String,
    href: String,
    created: String,
}

/// `GET /dashboard/apps`, and the answer to "new app" (with its secret, once).
pub(crate) async fn apps(
    dream: &Dream,
    signed_in: &SignedInAccount,
    created: Option<(Platform, IssuedKey)>,
    error: Option<String>,
) -> Result<String, PageError> {
    let apps = dream.apps(&signed_in.account.id).await?;
    let flash = created.as_ref().map(|(app, _)| {
        Flash::ok(format!(
            "App {} created.",
            app.name.as_deref().unwrap_or("")
        ))
    });
    let page = AppsPage {
        chrome: Chrome::new("Apps", Some(signed_in.account.email.clone())).with_flash(flash),
        apps: apps
            .iter()
            .map(|app| AppRow {
                name: app.name.clone().unwrap_or_else(|| app.id.to_string()),
                id: app.id.to_string(),
                href: app_href(app, Mode::Test, ""),
                created: format::date(app.created_at),
            })
            .collect(),
        revealed: created.map(|(app, issued)| {
            (
                app_href(&app, Mode::Test, ""),
                issued.secret.expose_secret().to_owned(),
                issued.record.publishable_key,
            )
        }),
        error,
    };
    Ok(page.render()?)
}

/// The "new app" form.
#[derive(Debug, Deserialize)]
pub(crate) struct NewAppForm {
    pub name: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    email: String,
    created: String,
    plan: Option<String>,
    live_allowed: bool,
    error: Option<(String, String)>,
}

/// `GET /dashboard/account`, and the answer to its forms.
pub(crate) async fn account(
    dream: &Dream,
    signed_in: &SignedInAccount,
    flash: Option<Flash>,
    error: Option<(String, String)>,
) -> Result<String, PageError> {
    let plan = dream.account_plan(&signed_in.account).await?;
    let page = AccountPage {
        chrome: Chrome::new("Account", Some(signed_in.account.email.clone())).with_flash(flash),
        email: signed_in.account.email.clone(),
        created: format::date(signed_in.account.created_at),
        plan: plan.plan,
        live_allowed: plan.live_allowed,
        error,
    };
    Ok(page.render()?)
}

/// The password change form.
#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the password (every other session ends); a refusal names the field.
pub(crate) async fn change_password(
    dream: &Dream,
    signed_in: &SignedInAccount,
    form: PasswordForm,
) -> Result<Result<(), (String, String)>, PageError> {
    match dream
        .change_password(signed_in, form.current_password, form.new_password)
        .await
    {
        Ok(()) => Ok(Ok(())),
        Err(CoreError::InvalidInput { field, reason }) => {
            let field = if field.contains("current") {
                "current_password"
            } else {
                "new_password"
            };
            Ok(Err((field.to_owned(), reason)))
        }
        Err(other) => Err(other.into()),
    }
}
