//! HTTP plumbing shared by every handler: body types, JSON responses, content negotiation.

use crate::errors::{ApiError, ApiResult};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::convert::Infallible;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Upstream's limit on request bodies (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

pub fn json(code: u16, v: &Value) -> Response<Body> {
    json_typed(code, v, "application/json")
}

pub fn json_typed(code: u16, v: &Value, content_type: &str) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, ct);
    }
    resp
}

pub fn text(code: u16, s: &str) -> Response<Body> {
    let mut resp = Response::new(full(s.to_string()));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

pub fn error(e: &ApiError) -> Response<Body> {
    json(e.code(), &e.status())
}

/// Adds `Warning: 299 - "text"` headers, as upstream does for field-validation warnings.
pub fn add_warnings(resp: &mut Response<Body>, warnings: &[String]) {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
}

fn accept(headers: &HeaderMap) -> String {
    headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// The `meta.k8s.io` version of Table the client asked for, if it asked for a Table.
pub fn wants_table(headers: &HeaderMap) -> Option<&'static str> {
    for part in accept(headers).split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        if params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io") {
            return Some(if params.contains(&"v=v1beta1") { "v1beta1" } else { "v1" });
        }
    }
    None
}

/// The aggregated-discovery version asked for (`v2` or `v2beta1`), if any.
pub fn wants_aggregated_discovery(headers: &HeaderMap) -> Option<&'static str> {
    for part in accept(headers).split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        if params.contains(&"g=apidiscovery.k8s.io") && params.contains(&"as=APIGroupDiscoveryList") {
            if params.contains(&"v=v2") {
                return Some("v2");
            }
            if params.contains(&"v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

pub async fn read_body(body: hyper::body::Incoming) -> ApiResult<Bytes> {
    match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(ApiError::RequestEntityTooLarge("the server has received a request that is too large".into()))
        }
        Err(e) => Err(ApiError::BadRequest(format!("reading request body: {e}"))),
    }
}
