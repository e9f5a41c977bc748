//! API keys: the list with hints and dates, create (the secret revealed once on
//! the answer page, never stored or redirected through), and revoke.

use askama::Template;
use chrono::{DateTime, Utc};
use dream_core::{Dream, IssuedKey, KeyId, KeyRecord};
use serde::Deserialize;

use crate::{
    access::AppAccess,
    chrome::{app_href, Chrome, Flash, Section},
    error::PageError,
    format,
};

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    chrome: Chrome,
    action: String,
    rows: Vec<Row>,
    revealed: Option<Revealed>,
}

struct Row {
    id: String,
    label: String,
    publishable: String,
    hint: String,
    created: String,
    expires: String,
    status: &'static str,
    status_class: &'static str,
    active: bool,
}

/// A secret shown once, right after it was issued.
struct Revealed {
    secret: String,
    publishable: String,
}

impl Row {
    fn new(key: &KeyRecord, now: DateTime<Utc>) -> Self {
        let (status, status_class) = if key.revoked_at.is_some() {
            ("revoked", "bad")
        } else if key.expires_at.is_some_and(|at| at <= now) {
            ("expired", "bad")
        } else if key.expires_at.is_some() {
            ("expiring", "warn")
        } else {
            ("active", "ok")
        };
        Self {
            id: key.id.to_string(),
            label: key.label.clone().unwrap_or_default(),
            publishable: key.publishable_key.clone(),
            hint: key.secret_hint.clone(),
            created: format::time(key.created_at),
            expires: key.expires_at.map(format::time).unwrap_or_default(),
            status,
            status_class,
            active: key.is_active(now),
        }
    }
}

/// `GET …/keys`, and the answer to every key action (`revealed` after a create).
pub(crate) async fn render(
    dream: &Dream,
    access: &AppAccess,
    flash: Option<Flash>,
    revealed: Option<IssuedKey>,
) -> Result<String, PageError> {
    let now = Utc::now();
    let mut keys = dream
        .list_keys(&access.platform.id, Some(access.tenant.mode))
        .await?;
    keys.reverse();
    let page = KeysPage {
        chrome: Chrome::for_app(
            "API keys",
            access.account_email.clone(),
            &access.platform,
            access.tenant.mode,
            Section::Keys,
        )
        .with_flash(flash),
        action: app_href(&access.platform, access.tenant.mode, "keys"),
        rows: keys.iter().map(|k| Row::new(k, now)).collect(),
        revealed: revealed.map(|issued| Revealed {
            secret: issued.secret.expose_secret().to_owned(),
            publishable: issued.record.publishable_key,
        }),
    };
    Ok(page.render()?)
}

/// The keys page's forms: one `intent` per button.
#[derive(Debug, Deserialize)]
pub(crate) struct KeyForm {
    pub intent: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub key_id: Option<String>,
    /// Seconds the old pair of a roll keeps working.
    #[serde(default)]
    pub overlap: Option<i64>,
}

/// What a key action leads to: a message, and the secret of a new pair.
pub(crate) struct KeyOutcome {
    pub flash: Flash,
    pub issued: Option<IssuedKey>,
}

/// `POST …/keys`.
pub(crate) async fn act(
    dream: &Dream,
    access: &AppAccess,
    form: KeyForm,
) -> Result<KeyOutcome, PageError> {
    match form.intent.as_str() {
        "create" => {
            if let Err(err) = dream
                .require_mode_allowed(&access.account, access.tenant.mode)
                .await
            {
                return Ok(KeyOutcome {
                    flash: plan_required(err)?,
                    issued: None,
                });
            }
            let label = form.label.filter(|l| !l.trim().is_empty());
            match dream.issue_key(&access.tenant, label, None).await {
                Ok(issued) => Ok(KeyOutcome {
                    flash: Flash::ok("Key pair created. Copy the secret key now."),
                    issued: Some(issued),
                }),
                Err(dream_core::CoreError::InvalidInput { reason, .. }) => Ok(KeyOutcome {
                    flash: Flash::error(format!("Label {reason}.")),
                    issued: None,
                }),
                Err(other) => Err(other.into()),
            }
        }
        "roll" => {
            let id = form
                .key_id
                .as_deref()
                .and_then(KeyId::parse)
                .ok_or(PageError::NotFound)?;
            dream.platform_key(&access.platform.id, &id).await?;
            let overlap = chrono::Duration::seconds(form.overlap.unwrap_or(0));
            match dream.roll_key(&id, overlap).await {
                Ok(rolled) => Ok(KeyOutcome {
                    flash: Flash::ok(match rolled.old.expires_at {
                        Some(at) if at > Utc::now() => format!(
                            "Key rolled. The old secret key works until {}.",
                            format::time(at)
                        ),
                        _ => "Key rolled. The old secret key no longer works.".to_owned(),
                    }),
                    issued: Some(rolled.issued),
                }),
                Err(dream_core::CoreError::Conflict(message)) => Ok(KeyOutcome {
                    flash: Flash::error(message),
                    issued: None,
                }),
                Err(other) => Err(other.into()),
            }
        }
        "revoke" => {
            let id = form
                .key_id
                .as_deref()
                .and_then(KeyId::parse)
                .ok_or(PageError::NotFound)?;
            let key = dream.revoke_platform_key(&access.platform.id, &id).await?;
            Ok(KeyOutcome {
                flash: Flash::ok(format!("Key {} revoked.", key.publishable_key)),
                issued: None,
            })
        }
        _ => Err(PageError::NotFound),
    }
}

/// The plan gate's refusal as a message pointing at the upgrade; other errors pass.
pub(crate) fn plan_required(err: dream_core::CoreError) -> Result<Flash, PageError> {
    match err {
        dream_core::CoreError::PlanRequired(_) => Ok(Flash::error(
            "Live mode needs the paid plan: upgrade on your account page.",
        )),
        other => Err(other.into()),
    }
}
