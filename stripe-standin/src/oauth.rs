//! Connect OAuth: `/oauth/authorize`, `/oauth/token`, `/oauth/deauthorize`.

use serde_json::{json, Map, Value};

use crate::api::{bearer_key, take_failure};
use crate::error::{redact_key, OAuthError};
use crate::form;
use crate::params::is_http_url;
use crate::server::{Incoming, Reply};
use crate::state::{KeyInfo, KeyOwner, State};
use crate::RecordedRequest;

/// Answers one `/oauth/…` request and fills in the record.
pub(crate) fn handle(state: &mut State, req: &Incoming, record: &mut RecordedRequest) -> Reply {
    match answer(state, req, record) {
        Ok(reply) => reply,
        Err(err) => Reply::json(err.status, err.body()),
    }
}

fn answer(
    state: &mut State,
    req: &Incoming,
    record: &mut RecordedRequest,
) -> Result<Reply, OAuthError> {
    let raw = if req.method == "POST" && !req.query.is_empty() {
        format!("{}&{}", req.query, req.body)
    } else if req.method == "POST" {
        req.body.clone()
    } else {
        req.query.clone()
    };
    let params = form::parse(&raw)
        .map_err(|e| OAuthError::new(400, "invalid_request", e.message.clone()))?;
    record.params = Value::Object(params.clone());
    if let Some(failure) = take_failure(state, &req.path) {
        return Err(OAuthError::from_failure(&failure));
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/oauth/authorize") => authorize(state, &params, record),
        ("POST", "/oauth/token") => token(state, req, &params, record),
        ("POST", "/oauth/deauthorize") => deauthorize(state, req, &params, record),
        (method, path) => Err(OAuthError::new(
            404,
            "invalid_request",
            format!("Unrecognized request URL ({method}: {path})."),
        )),
    }
}

fn string(params: &Map<String, Value>, key: &str) -> Option<String> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The browser flow: checks the request, "logs in" as the configured account and redirects back
/// with a code.
fn authorize(
    state: &mut State,
    params: &Map<String, Value>,
    record: &mut RecordedRequest,
) -> Result<Reply, OAuthError> {
    let client_id = string(params, "client_id")
        .ok_or_else(|| OAuthError::new(400, "invalid_request", "No client_id provided."))?;
    if client_id != state.client_id {
        return Err(OAuthError::new(
            400,
            "invalid_client",
            format!("No such application: '{client_id}'"),
        ));
    }
    let redirect_uri = string(params, "redirect_uri").ok_or_else(|| {
        OAuthError::new(
            400,
            "invalid_request",
            "No redirect_uri was provided and the application has no default redirect URI.",
        )
    })?;
    if !is_http_url(&redirect_uri) {
        return Err(OAuthError::new(
            400,
            "invalid_redirect_uri",
            format!("Invalid redirect URI '{redirect_uri}'."),
        ));
    }
    let state_param = string(params, "state");
    let scope = string(params, "scope").unwrap_or_else(|| "read_only".to_owned());
    let error = if string(params, "response_type").as_deref() != Some("code") {
        Some((
            "unsupported_response_type",
            "Only 'code' response_type is supported.",
        ))
    } else if scope != "read_write" && scope != "read_only" {
        Some((
            "invalid_scope",
            "Invalid scope: must be read_write or read_only.",
        ))
    } else if std::mem::take(&mut state.deny_next_authorize) {
        Some(("access_denied", "The user denied your request"))
    } else {
        None
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    match error {
        Some((error, description)) => {
            query.append_pair("error", error);
            query.append_pair("error_description", description);
        }
        None => {
            let account = state.authorize_account.clone();
            let code = state.issue_oauth_code(&account, false, &scope);
            record.account = Some(account);
            query.append_pair("code", &code);
            query.append_pair("scope", &scope);
        }
    }
    if let Some(s) = &state_param {
        query.append_pair("state", s);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{separator}{}", query.finish());
    Ok(Reply {
        status: 302,
        body: None,
        headers: vec![("Location", location)],
    })
}

/// The platform's secret key, from `Authorization: Bearer` or `client_secret`.
fn platform_key(
    state: &State,
    req: &Incoming,
    params: &Map<String, Value>,
) -> Result<KeyInfo, OAuthError> {
    let key = bearer_key(req)
        .ok()
        .or_else(|| string(params, "client_secret"))
        .ok_or_else(|| {
            OAuthError::new(
                401,
                "invalid_client",
                "No authentication was provided. Send your secret API key using the \
                 Authorization header, or as a client_secret POST parameter.",
            )
        })?;
    match state.keys.get(&key) {
        Some(info) if info.owner == KeyOwner::Platform => Ok(info.clone()),
        Some(_) => Err(OAuthError::new(
            401,
            "invalid_client",
            format!(
                "The key {} does not belong to a Connect platform.",
                redact_key(&key)
            ),
        )),
        None => Err(OAuthError::new(
            401,
            "invalid_client",
            format!("Invalid API Key provided: {}", redact_key(&key)),
        )),
    }
}

/// Exchanges a single-use code for the connected account's credentials.
fn token(
    state: &mut State,
    req: &Incoming,
    params: &Map<String, Value>,
    record: &mut RecordedRequest,
) -> Result<Reply, OAuthError> {
    let key = platform_key(state, req, params)?;
    record.livemode = key.livemode;
    match string(params, "grant_type").as_deref() {
        Some("authorization_code") => {}
        None => {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "No grant type specified",
            ))
        }
        Some(other) => {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                format!(
                    "Unsupported grant type: {other} (the stand-in supports authorization_code)"
                ),
            ))
        }
    }
    let code = string(params, "code")
        .ok_or_else(|| OAuthError::new(400, "invalid_request", "No authorization code provided"))?;
    let grant = state.oauth_codes.get_mut(&code).ok_or_else(|| {
        OAuthError::new(
            400,
            "invalid_grant",
            format!("Authorization code does not exist: {code}"),
        )
    })?;
    if grant.used {
        return Err(OAuthError::new(
            400,
            "invalid_grant",
            "This authorization code has already been used. All tokens issued with this code \
             have been revoked.",
        ));
    }
    if grant.livemode != key.livemode {
        let (code_mode, key_mode) = if grant.livemode {
            ("live", "test")
        } else {
            ("test", "live")
        };
        return Err(OAuthError::new(
            400,
            "invalid_grant",
            format!(
                "Authorization code provided was created in {code_mode} mode, but you are using \
                 a {key_mode} mode API key."
            ),
        ));
    }
    grant.used = true;
    let grant = grant.clone();
    let mode = if grant.livemode { "live" } else { "test" };
    let access_token = state.ids.id(&format!("sk_{mode}_"), 99);
    let refresh_token = state.ids.id("rt_", 45);
    let publishable_key = state.ids.id(&format!("pk_{mode}_"), 99);
    state.keys.insert(
        access_token.clone(),
        KeyInfo {
            owner: KeyOwner::Account(grant.account.clone()),
            livemode: grant.livemode,
        },
    );
    state.connected.insert(grant.account.clone());
    state.issued_tokens.extend([
        access_token.clone(),
        refresh_token.clone(),
        publishable_key.clone(),
    ]);
    record.account = Some(grant.account.clone());
    Ok(Reply::json(
        200,
        json!({
            "access_token": access_token,
            "livemode": grant.livemode,
            "refresh_token": refresh_token,
            "scope": grant.scope,
            "stripe_publishable_key": publishable_key,
            "stripe_user_id": grant.account,
            "token_type": "bearer",
        }),
    ))
}

/// Disconnects an account from the platform.
fn deauthorize(
    state: &mut State,
    req: &Incoming,
    params: &Map<String, Value>,
    record: &mut RecordedRequest,
) -> Result<Reply, OAuthError> {
    let key = platform_key(state, req, params)?;
    record.livemode = key.livemode;
    let client_id = string(params, "client_id")
        .ok_or_else(|| OAuthError::new(400, "invalid_request", "No client_id provided."))?;
    if client_id != state.client_id {
        return Err(OAuthError::new(
            400,
            "invalid_client",
            format!("No such application: '{client_id}'"),
        ));
    }
    let account = string(params, "stripe_user_id")
        .ok_or_else(|| OAuthError::new(400, "invalid_request", "No stripe_user_id provided."))?;
    record.account = Some(account.clone());
    if !state.connected.remove(&account) {
        return Err(OAuthError::new(
            400,
            "invalid_client",
            format!(
                "This application is not connected to stripe account {account}, or that account \
                 does not exist."
            ),
        ));
    }
    Ok(Reply::json(200, json!({ "stripe_user_id": account })))
}
