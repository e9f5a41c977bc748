//! The `/v1` API: authentication, `Stripe-Account`, injected failures, idempotency, routing.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::params::Params;
use crate::server::{Incoming, Reply};
use crate::state::{KeyInfo, KeyOwner, State, StoredResponse};
use crate::{
    checkout, customers, form, ids, portal, prices, products, Failure, ObjectKind, RecordedRequest,
    PLATFORM_ACCOUNT,
};

/// The account and mode a request acts on, with the state to act on.
pub(crate) struct Ctx<'a> {
    pub state: &'a mut State,
    pub account: String,
    pub livemode: bool,
    pub now: i64,
}

impl Ctx<'_> {
    pub fn id(&mut self, prefix: &str, len: usize) -> String {
        self.state.ids.id(prefix, len)
    }

    pub fn find(&self, kind: ObjectKind, id: &str) -> Option<&Value> {
        self.state.find(&self.account, kind, self.livemode, id)
    }

    /// Replaces a stored object (matched by kind and id).
    pub fn replace(&mut self, kind: ObjectKind, object: Value) {
        let id = object["id"].as_str().unwrap_or_default().to_owned();
        if let Some(stored) = self.state.find_mut(&self.account, kind, self.livemode, &id) {
            *stored = object;
        }
    }

    pub fn insert(&mut self, kind: ObjectKind, object: Value) {
        self.state.insert(&self.account, kind, object);
    }

    /// The objects of a kind in this account and mode, in creation order.
    pub fn all(&self, kind: ObjectKind) -> impl DoubleEndedIterator<Item = &Value> {
        self.state
            .objects_in_mode(&self.account, kind, self.livemode)
    }
}

/// Answers one `/v1` request and fills in the record.
pub(crate) fn handle(state: &mut State, req: &Incoming, record: &mut RecordedRequest) -> Reply {
    let mut reply = match answer(state, req, record) {
        Ok(reply) => reply,
        Err(err) => error_reply(&err),
    };
    if let Some(version) = &record.stripe_version {
        reply = reply.header("Stripe-Version", version.clone());
    }
    reply
}

fn error_reply(err: &ApiError) -> Reply {
    let reply = Reply::json(err.status, err.body());
    match err.should_retry {
        Some(retry) => reply.header("Stripe-Should-Retry", retry.to_string()),
        None => reply,
    }
}

fn answer(
    state: &mut State,
    req: &Incoming,
    record: &mut RecordedRequest,
) -> Result<Reply, ApiError> {
    let key = bearer_key(req)?;
    let info = state
        .keys
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::bad_key(&key))?;
    record.livemode = info.livemode;
    let account = resolve_account(state, &key, &info, record.stripe_account.as_deref())?;
    record.account = Some(account.clone());

    let params = parse_params(req);
    if let Ok(params) = &params {
        record.params = Value::Object(params.clone());
    }
    if let Some(failure) = take_failure(state, &req.path) {
        return Err(ApiError::from_failure(&failure));
    }
    let params = params?;

    let idempotency_key = match &record.idempotency_key {
        Some(k) if req.method == "POST" => Some(k.clone()),
        _ => None,
    };
    if let Some(idem) = &idempotency_key {
        if idem.len() > 255 {
            return Err(ApiError::invalid(
                "Invalid Idempotency-Key: must be at most 255 characters long.",
            ));
        }
        let slot = (key.clone(), account.clone(), idem.clone());
        if let Some(stored) = state.idempotency.get(&slot) {
            let reply = replay(stored, req, &record.params, idem)?;
            record.replayed = true;
            return Ok(reply);
        }
    }

    let mut ctx = Ctx {
        state,
        account: account.clone(),
        livemode: info.livemode,
        now: ids::now(),
    };
    let body = route(&mut ctx, &req.method, &req.path, Params::new(params))?;
    let mut reply = Reply::json(200, body.clone());
    if let Some(idem) = idempotency_key {
        ctx.state.idempotency.insert(
            (key, account, idem.clone()),
            StoredResponse {
                method: req.method.clone(),
                path: req.path.clone(),
                params: record.params.clone(),
                status: 200,
                body,
                request_id: record.request_id.clone(),
            },
        );
        reply = reply.header("Idempotency-Key", idem);
    }
    Ok(reply)
}

/// Same key: replay if the request is the same, else `idempotency_error`.
fn replay(
    stored: &StoredResponse,
    req: &Incoming,
    params: &Value,
    idem: &str,
) -> Result<Reply, ApiError> {
    if stored.method != req.method || stored.path != req.path {
        return Err(ApiError::idempotency(format!(
            "Keys for idempotent requests can only be used for the same endpoint they were first \
             used for ('{} {}' vs '{} {}'). Try using a key other than '{idem}' if you meant to \
             execute a different request.",
            stored.method, stored.path, req.method, req.path
        )));
    }
    if &stored.params != params {
        return Err(ApiError::idempotency(format!(
            "Keys for idempotent requests can only be used with the same parameters they were \
             first used with. Try using a key other than '{idem}' if you meant to execute a \
             different request."
        )));
    }
    Ok(Reply::json(stored.status, stored.body.clone())
        .header("Idempotent-Replayed", "true")
        .header("Original-Request", stored.request_id.clone())
        .header("Idempotency-Key", idem.to_owned()))
}

/// The key from `Authorization: Bearer …`.
pub(crate) fn bearer_key(req: &Incoming) -> Result<String, ApiError> {
    let header = req.header("authorization").ok_or_else(ApiError::no_key)?;
    let key = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if key.is_empty() {
        return Err(ApiError::no_key());
    }
    Ok(key.to_owned())
}

/// The account a request acts on, checking `Stripe-Account` against what the key may reach.
fn resolve_account(
    state: &State,
    key: &str,
    info: &KeyInfo,
    stripe_account: Option<&str>,
) -> Result<String, ApiError> {
    match (&info.owner, stripe_account) {
        (KeyOwner::Platform, None) => Ok(PLATFORM_ACCOUNT.to_owned()),
        (KeyOwner::Platform, Some(account)) if state.connected.contains(account) => {
            Ok(account.to_owned())
        }
        (KeyOwner::Account(own), None) => Ok(own.clone()),
        (KeyOwner::Account(own), Some(account)) if own == account => Ok(own.clone()),
        (_, Some(account)) => Err(ApiError::no_account_access(key, account)),
    }
}

/// Query parameters, plus the form body for POST.
fn parse_params(req: &Incoming) -> Result<Map<String, Value>, ApiError> {
    if req.method != "POST" || req.body.is_empty() {
        return form::parse(&req.query);
    }
    if let Some(content_type) = req.header("content-type") {
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(ApiError::invalid(format!(
                "Invalid request: the body must be application/x-www-form-urlencoded, not \
                 {content_type}."
            )));
        }
    }
    if req.query.is_empty() {
        form::parse(&req.body)
    } else {
        form::parse(&format!("{}&{}", req.query, req.body))
    }
}

/// The next injected failure for this path, if any.
pub(crate) fn take_failure(state: &mut State, path: &str) -> Option<Failure> {
    let index = state
        .failures
        .iter()
        .position(|(prefix, _)| path.starts_with(prefix.as_str()))?;
    state.failures.remove(index).map(|(_, failure)| failure)
}

fn route(ctx: &mut Ctx<'_>, method: &str, path: &str, p: Params) -> Result<Value, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["v1", "products"]) => products::create(ctx, &p),
        ("GET", ["v1", "products"]) => products::list(ctx, &p),
        ("GET", ["v1", "products", id]) if !id.is_empty() => products::retrieve(ctx, &p, id),
        ("POST", ["v1", "products", id]) if !id.is_empty() => products::update(ctx, &p, id),
        ("POST", ["v1", "prices"]) => prices::create(ctx, &p),
        ("GET", ["v1", "prices"]) => prices::list(ctx, &p),
        ("GET", ["v1", "prices", id]) if !id.is_empty() => prices::retrieve(ctx, &p, id),
        ("POST", ["v1", "prices", id]) if !id.is_empty() => prices::update(ctx, &p, id),
        ("POST", ["v1", "customers"]) => customers::create(ctx, &p),
        ("GET", ["v1", "customers", id]) if !id.is_empty() => customers::retrieve(ctx, &p, id),
        ("POST", ["v1", "customers", id]) if !id.is_empty() => customers::update(ctx, &p, id),
        ("POST", ["v1", "checkout", "sessions"]) => checkout::create(ctx, &p),
        ("GET", ["v1", "checkout", "sessions", id]) if !id.is_empty() => {
            checkout::retrieve(ctx, &p, id)
        }
        ("POST", ["v1", "checkout", "sessions", id, "expire"]) if !id.is_empty() => {
            checkout::expire_endpoint(ctx, &p, id)
        }
        ("POST", ["v1", "billing_portal", "sessions"]) => portal::create(ctx, &p),
        _ => Err(ApiError::unrecognized_url(method, path)),
    }
}

/// Retrieve: only `expand` is allowed; 404 if missing.
pub(crate) fn retrieve(
    ctx: &Ctx<'_>,
    p: &Params,
    kind: ObjectKind,
    what: &str,
    id: &str,
) -> Result<Value, ApiError> {
    p.only(&["expand"])?;
    p.string_list("expand")?;
    ctx.find(kind, id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(what, id))
}

/// A list page, newest first, with `limit` and `starting_after`.
pub(crate) fn list(
    ctx: &Ctx<'_>,
    p: &Params,
    kind: ObjectKind,
    what: &str,
    url: &str,
    keep: impl Fn(&Value) -> bool,
) -> Result<Value, ApiError> {
    if p.has("ending_before") {
        return Err(ApiError::unsupported("ending_before"));
    }
    if p.has("created") {
        return Err(ApiError::unsupported("created"));
    }
    p.string_list("expand")?;
    let limit = p.int_in("limit", 1, 100)?.unwrap_or(10) as usize;
    let mut matching = ctx.all(kind).rev().filter(|o| keep(o)).peekable();
    if let Some(after) = p.string("starting_after")? {
        if ctx.find(kind, &after).is_none() {
            return Err(ApiError::no_such_param("starting_after", what, &after));
        }
        for object in matching.by_ref() {
            if object["id"] == after.as_str() {
                break;
            }
        }
    }
    let data: Vec<Value> = matching.by_ref().take(limit).cloned().collect();
    let has_more = matching.peek().is_some();
    Ok(crate::templates::list(url, data, has_more))
}
