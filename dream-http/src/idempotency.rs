//! `Idempotency-Key` on POST: same key and request → the stored response, byte for
//! byte; same key, other request → 422; same key while the first still runs → 409.
//!
//! Keys are scoped by tenant (or the admin scope) and endpoint, kept 24 h. Only
//! 2xx responses are stored: anything else releases the key so a retry runs again
//! (a refused track call changed nothing, so re-running it is safe).
//!
//! A response holding a secret (`sk_live_…`, `sk_test_…`, `ck_live_…`, `ck_test_…`,
//! `whsec_…`) is never stored
//! in plaintext: with a master key its body is sealed for the tenant and opened on
//! replay; without one only a marker is kept and a replay answers 409
//! `replay_unavailable` (the secret was shown once; list keys instead).

use dream_core::{
    IdempotencyClaim, IdempotencyScope, IdempotencyTimes, Mode, PlatformId, RevealedSecret,
    SealedSecret, StoredResponse, Tenant,
};
use poem::{
    http::{HeaderName, HeaderValue, Method, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};
use poem_openapi::payload::Json;
use sha2::{Digest, Sha256};

use crate::{
    error::{ApiError, ErrorBody, ErrorCode},
    state::AppState,
};

const HEADER: &str = "idempotency-key";

/// Stored-response pseudo-header: the body is sealed with the master key. Internal
/// to this module; never replayed to a client.
const SEALED: &str = "x-dream-idempotency-sealed";
/// Stored-response pseudo-header: the body held a secret and was not kept.
const WITHHELD: &str = "x-dream-idempotency-withheld";
/// What marks a body as holding a secret: secret API keys, customer keys and
/// webhook signing secrets. A false positive only costs replayability, never secrecy.
const SECRET_MARKERS: [&[u8]; 5] = [
    b"sk_live_",
    b"sk_test_",
    b"ck_live_",
    b"ck_test_",
    b"whsec_",
];

fn holds_secret(body: &[u8]) -> bool {
    SECRET_MARKERS
        .iter()
        .any(|marker| body.windows(marker.len()).any(|w| w == *marker))
}

/// What to keep of a successful response: the body as is, sealed, or withheld.
fn for_storage(state: &AppState, tenant: &Tenant, mut stored: StoredResponse) -> StoredResponse {
    if !holds_secret(&stored.body) {
        return stored;
    }
    let sealed = String::from_utf8(std::mem::take(&mut stored.body))
        .ok()
        .and_then(|text| state.dream.seal_at_rest(tenant, &RevealedSecret::new(text)));
    match sealed {
        Some(sealed) => {
            stored.body = sealed.to_stored().into_bytes();
            stored.headers.push((SEALED.into(), "v1".into()));
        }
        None => {
            stored.headers = vec![(WITHHELD.into(), "secret".into())];
        }
    }
    stored
}

/// The response to replay, with a sealed body opened; `None` when it cannot be
/// (withheld, or the master key changed).
fn from_storage(
    state: &AppState,
    tenant: &Tenant,
    mut stored: StoredResponse,
) -> Option<StoredResponse> {
    let marked = |name: &str| stored.headers.iter().any(|(n, _)| n == name);
    if marked(WITHHELD) {
        return None;
    }
    if marked(SEALED) {
        let sealed = std::str::from_utf8(&stored.body)
            .ok()
            .and_then(SealedSecret::from_stored)?;
        let opened = state.dream.open_at_rest(tenant, &sealed)?;
        stored.body = opened.expose().as_bytes().to_vec();
        stored.headers.retain(|(n, _)| n != SEALED);
    }
    Some(stored)
}

fn replay_unavailable() -> Response {
    error(
        StatusCode::CONFLICT,
        ErrorCode::ReplayUnavailable,
        "Replay unavailable",
        "The response to this Idempotency-Key held a secret that is shown once and was not kept: the secret was shown once; list keys instead (GET /admin/platforms/{platformId}/keys), or use a new Idempotency-Key.",
    )
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The scope owner: the key's tenant, or a reserved pseudo-tenant for the admin
/// API. `None` when the caller is not authenticated (the handler answers 401).
async fn owner(state: &AppState, req: &Request) -> Option<Tenant> {
    let token = bearer(req)?;
    let path = req.uri().path();
    if path.starts_with("/api/") {
        return state
            .dream
            .authenticate_secret(token)
            .await
            .ok()
            .map(|k| k.tenant);
    }
    if state.is_admin_token(token) {
        // "admin" is not a valid generated id body length, so it never collides.
        PlatformId::parse("plt_admin").map(|p| Tenant::new(p, Mode::Live))
    } else {
        None
    }
}

fn fingerprint(req: &Request, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        req.method().as_str().as_bytes(),
        req.uri()
            .path_and_query()
            .map_or("", |p| p.as_str())
            .as_bytes(),
        header_bytes(req, "x-user-id"),
        header_bytes(req, "x-user-plan"),
        body,
    ] {
        // Length-prefix each part so different splits cannot collide.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

fn header_bytes<'a>(req: &'a Request, name: &str) -> &'a [u8] {
    req.headers().get(name).map_or(&[], |v| v.as_bytes())
}

fn error(status: StatusCode, code: ErrorCode, title: &str, message: &str) -> Response {
    Json(ErrorBody::new(code, title, message))
        .into_response()
        .with_status(status)
        .into_response()
}

fn replay(stored: StoredResponse) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
        .body(stored.body);
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

/// The idempotency layer; a no-op unless the request is a POST with the header.
pub async fn idempotent<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    if req.method() != Method::POST || !req.headers().contains_key(HEADER) {
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    // Boxed: the claim's state stays out of the future of requests without a key.
    Box::pin(with_key(ep, req)).await
}

/// A POST with an `Idempotency-Key`: claim, run once, store or replay.
async fn with_key<E: Endpoint>(ep: E, mut req: Request) -> poem::Result<Response> {
    let Some(key) = req.headers().get(HEADER).cloned() else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 => k.to_owned(),
        _ => {
            return Err(ApiError::invalid(
                "Idempotency-Key",
                "Idempotency-Key must be 1-255 visible ASCII characters.",
            )
            .into())
        }
    };
    let Some(state) = req.data::<AppState>().cloned() else {
        return Err(ApiError::internal().into());
    };
    let Some(tenant) = owner(&state, &req).await else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let body = req
        .take_body()
        .into_bytes_limit(state.body_limit)
        .await
        .map_err(|err| poem::Error::from(ApiError::unreadable_body(err, state.body_limit)))?;
    let scope = IdempotencyScope {
        tenant,
        endpoint: format!("{} {}", req.method(), req.uri().path()),
        key,
    };
    let print = fingerprint(&req, &body);
    let store = &state.dream.stores().idempotency;
    let times = IdempotencyTimes {
        lock_timeout: chrono::Duration::from_std(state.idempotency_lock_timeout)
            .unwrap_or(chrono::Duration::seconds(300)),
        ..IdempotencyTimes::standard(state.dream.now())
    };
    let claim = store
        .claim_idempotency_key(&scope, &print, &times)
        .await
        .map_err(|e| ApiError::from(dream_core::CoreError::from(e)))?;
    let token = match claim {
        IdempotencyClaim::Completed(stored) => {
            return Ok(match from_storage(&state, &scope.tenant, stored) {
                Some(stored) => replay(stored),
                None => replay_unavailable(),
            })
        }
        IdempotencyClaim::InFlight => {
            return Ok(error(
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyKeyInUse,
                "Idempotency key in use",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
            ))
        }
        IdempotencyClaim::Mismatch => {
            return Ok(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyMismatch,
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request; use a new key.",
            ))
        }
        IdempotencyClaim::Claimed(token) => token,
    };
    req.set_body(body);
    let result = ep.call(req).await.map(IntoResponse::into_response);
    match result {
        Ok(mut resp) if resp.status().is_success() => {
            let bytes = resp.take_body().into_bytes().await.unwrap_or_default();
            let stored = StoredResponse {
                status: resp.status().as_u16(),
                headers: resp
                    .headers()
                    .iter()
                    .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect(),
                body: bytes.to_vec(),
            };
            let stored = for_storage(&state, &scope.tenant, stored);
            match store
                .complete_idempotency_key(&scope, &token, &stored)
                .await
            {
                Ok(()) => {}
                // Ran past the lock timeout and a retry took the key over: that
                // retry's outcome is the one kept.
                Err(dream_core::StoreError::NotFound) => {
                    tracing::warn!(
                        "an idempotent request outlived its lock; its response was not stored"
                    )
                }
                Err(err) => tracing::error!(error = %err, "could not store an idempotent response"),
            }
            resp.set_body(bytes);
            Ok(resp)
        }
        other => {
            if let Err(err) = store.release_idempotency_key(&scope, &token).await {
                tracing::error!(error = %err, "could not release an idempotency key");
            }
            other
        }
    }
}
