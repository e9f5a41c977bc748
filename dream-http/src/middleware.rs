//! Request ids, the request span, access logs, request metrics, and the guarantee
//! that every error leaves as our JSON shape (poem's own parse/auth/route errors
//! included).

use std::{
    collections::HashSet,
    fmt::{self, Write as _},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, PoisonError,
    },
    time::Instant,
};

use poem::{
    error::{MethodNotAllowedError, NotFoundError},
    http::{header, HeaderValue, Method, StatusCode},
    Endpoint, IntoResponse, PathPattern, Request, Response,
};
use poem_openapi::{
    error::{AuthorizationError, ParseParamError},
    payload::Json,
};
use tracing::{field::Empty, Instrument};

use crate::{
    error::{ApiError, ErrorBody, ErrorCode},
    AppSettings,
};

/// The id of the request being served, also sent as `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A request id, formatted on the stack: the request's copies (extension, header)
/// are made from it, and the span and the access log borrow it.
struct RequestIdBuf {
    buf: [u8; 40],
    len: usize,
}

impl RequestIdBuf {
    fn next() -> Self {
        // Unique, not secret: process start time plus a counter.
        static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let start = START.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64)
        });
        let mut id = Self {
            buf: [0; 40],
            len: 0,
        };
        // At most 4 + 16 + 16 bytes: always fits.
        let _ = write!(
            id,
            "req_{start:x}{:06x}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        id
    }

    fn as_str(&self) -> &str {
        // Only whole `str`s are ever written (see `write_str`).
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for RequestIdBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dest = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn code_for(status: StatusCode) -> (ErrorCode, &'static str) {
    match status.as_u16() {
        400 => (ErrorCode::InvalidRequest, "Invalid request"),
        401 => (ErrorCode::InvalidApiKey, "Invalid API key"),
        404 => (ErrorCode::NotFound, "Not found"),
        405 => (ErrorCode::MethodNotAllowed, "Method not allowed"),
        413 => (ErrorCode::PayloadTooLarge, "Payload too large"),
        415 => (ErrorCode::UnsupportedMediaType, "Unsupported media type"),
        s if s < 500 => (ErrorCode::InvalidRequest, "Invalid request"),
        _ => (ErrorCode::InternalError, "Internal error"),
    }
}

fn json_error(status: StatusCode, body: ErrorBody) -> Response {
    Json(body)
        .into_response()
        .with_status(status)
        .into_response()
}

/// Maps errors raised before or outside our handlers to our shape.
pub(crate) fn error_response(err: poem::Error, path: &str) -> Response {
    if let Some(p) = err.downcast_ref::<ParseParamError>() {
        let reason = if p.reason.contains("expects an input value") {
            "is required".to_owned()
        } else if let Some(pattern) = p
            .reason
            .strip_prefix("verification failed. pattern(\"")
            .and_then(|rest| rest.strip_suffix("\")"))
        {
            // A validator declared in the spec: say which pattern, not poem's wording.
            format!("must match the pattern {pattern}")
        } else {
            p.reason.clone()
        };
        return ApiError::invalid(p.name, format!("{}: {reason}", p.name)).into_response();
    }
    if err.is::<AuthorizationError>() {
        // The account API's scheme is the session cookie, not a key.
        let account = path == "/account" || path.starts_with("/account/");
        return if account {
            ApiError::unauthenticated().into_response()
        } else {
            ApiError::invalid_api_key().into_response()
        };
    }
    if err.is::<NotFoundError>() {
        return json_error(
            StatusCode::NOT_FOUND,
            ErrorBody::new(
                ErrorCode::NotFound,
                "Not found",
                "No such endpoint. See /docs.",
            ),
        );
    }
    if err.is::<MethodNotAllowedError>() {
        let mut resp = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorBody::new(
                ErrorCode::MethodNotAllowed,
                "Method not allowed",
                "This endpoint does not support this method. See /docs.",
            ),
        );
        // RFC 9110: a 405 lists the methods the resource supports.
        if let Some(allow) = crate::spec::allowed_methods(path)
            .and_then(|methods| HeaderValue::from_str(methods).ok())
        {
            resp.headers_mut().insert(header::ALLOW, allow);
        }
        return resp;
    }
    err.into_response()
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Adds `requestId` to our JSON errors, and wraps any other error body in our shape.
async fn finish_error(mut resp: Response, request_id: &str) -> Response {
    let status = resp.status();
    let bytes = resp.take_body().into_bytes().await.unwrap_or_default();
    if is_json(&resp) {
        if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(&bytes) {
            map.insert("requestId".into(), request_id.into());
            let body = serde_json::to_vec(&map).unwrap_or_default();
            resp.set_body(body);
            return resp;
        }
    }
    let (code, title) = code_for(status);
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let message = if status.is_server_error() || text.is_empty() {
        format!("{title}.")
    } else {
        text
    };
    let mut body = ErrorBody::new(code, title, message);
    body.request_id = Some(request_id.to_owned());
    let mut out = json_error(status, body);
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// What a request is, for metric labels and spans: the spec's operation id, else
/// the route template of a route outside the spec (webhooks), else `unmatched`.
/// Never the raw path: its ids would make a series per object.
fn operation(spec_operation: Option<&'static str>, pattern: Option<&PathPattern>) -> &'static str {
    match (spec_operation, pattern) {
        (Some(op), _) => op,
        (None, Some(pattern)) => intern(&pattern.0),
        (None, None) => "unmatched",
    }
}

/// A route template as a `&'static str`: the templates are the routes' own, a
/// fixed set, so each is leaked once and the metric labels borrow it.
fn intern(template: &str) -> &'static str {
    static TEMPLATES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut templates = TEMPLATES.lock().unwrap_or_else(PoisonError::into_inner);
    let templates = templates.get_or_insert_with(HashSet::new);
    if let Some(&known) = templates.get(template) {
        return known;
    }
    let leaked: &'static str = Box::leak(template.into());
    templates.insert(leaked);
    leaked
}

/// The span's `otel.name`: `METHOD operationId` (the method alone outside the
/// spec), written into the span without an intermediate string.
struct SpanName<'a>(&'a Method, Option<&'static str>);

impl fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(op) => write!(f, "{} {op}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The outermost layer of the API: request id, span, error shape, access log,
/// metrics.
pub async fn observe<E: Endpoint>(
    ep: E,
    mut req: Request,
    settings: &AppSettings,
) -> poem::Result<Response> {
    let trace_spans = settings.trace_spans;
    let id = RequestIdBuf::next();
    let request_id = id.as_str();
    req.extensions_mut()
        .insert(RequestId(request_id.to_owned()));
    let method = req.method().clone();
    // A clone shares the request line's bytes: no copy of the path.
    let uri = req.uri().clone();
    let path = uri.path();
    let spec_operation = crate::spec::operation_id(method.as_str(), path);
    let span = if trace_spans {
        // `otel.*` fields shape the span when it is exported (OTLP). Its name
        // cannot change once the span has started, so it comes from the spec up
        // front.
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %method,
            operation = Empty,
            status = Empty,
            otel.name = %SpanName(&method, spec_operation),
            otel.kind = "server",
            otel.status_code = Empty,
        )
    } else {
        // For the log alone: every line inside the request names it.
        tracing::info_span!("request", request_id = %request_id)
    };
    let started = Instant::now();
    let (mut resp, pattern) = match ep.call(req).instrument(span.clone()).await {
        Ok(resp) => {
            let resp = resp.into_response();
            let pattern = resp.data::<PathPattern>().cloned();
            (resp, pattern)
        }
        Err(err) => {
            let pattern = err.data::<PathPattern>().cloned();
            (error_response(err, path), pattern)
        }
    };
    if resp.status().is_client_error() || resp.status().is_server_error() {
        // Boxed: the error path's state stays out of every request's future.
        resp = Box::pin(finish_error(resp, request_id)).await;
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-request-id", value);
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let operation = operation(spec_operation, pattern.as_ref());
    crate::metrics::observe_request(operation, status, elapsed.as_secs_f64());
    if trace_spans && !span.is_disabled() {
        span.record("operation", operation);
        span.record("status", status);
        if resp.status().is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    if settings.access_log.records(status) {
        // Never the query string or headers: they may carry keys. Outside the
        // span: the line carries the span's fields itself, and formatting the
        // span's context into every line cost more than the rest of the line.
        tracing::info!(
            request_id = %request_id,
            method = %method,
            path = %path,
            operation,
            status,
            latency_us = elapsed.as_micros() as u64,
            "request"
        );
    }
    Ok(resp)
}
