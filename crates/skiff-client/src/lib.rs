//! The API client every component (scheduler, controllers, node agent) uses. Components talk to the API exactly
//! as external clients do — same paths, same JSON, same Status errors — through a [`Transport`]: in the server
//! process an in-process one that calls the API server's handlers directly (no TCP, no TLS), elsewhere HTTPS.
//!
//! This crate knows nothing of the server's internals; the server provides the in-process transport.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with a `Status` failure.
    #[error("{code} {reason}: {message}")]
    Api { code: u16, reason: String, message: String },
    #[error("transport: {0}")]
    Transport(String),
    #[error("decoding the response: {0}")]
    Decode(String),
}

impl ClientError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { code: 404, .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, ClientError::Api { code: 409, .. })
    }
}

/// One HTTP exchange with the API, at the level of path, body and status.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// `path_and_query` like `/api/v1/namespaces/default/pods?labelSelector=a%3Db`.
    async fn request(
        &self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), ClientError>;
    /// A streaming GET (watch): the response body as it arrives.
    async fn stream(&self, path_and_query: &str) -> Result<(u16, BoxStream<'static, Bytes>), ClientError>;
}

/// A watch event as the API sends it.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub kind: String,
    pub object: Value,
}

#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
}

fn status_error(code: u16, body: &[u8]) -> ClientError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    ClientError::Api {
        code,
        reason: v.get("reason").and_then(Value::as_str).unwrap_or("").to_string(),
        message: v
            .get("message")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}

/// Percent-encodes a query parameter value.
pub fn q(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Client {
    pub fn new(transport: Arc<dyn Transport>) -> Client {
        Client { transport }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Value, ClientError> {
        let (code, bytes) = self.transport.request(method, path, content_type, body).await?;
        if !(200..300).contains(&code) {
            return Err(status_error(code, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call("GET", path, None, Bytes::new()).await
    }

    /// The object, or `None` when it does not exist.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Value>, ClientError> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A list's items (with their type meta filled in) and its resourceVersion.
    pub async fn list(&self, path: &str) -> Result<(Vec<Value>, String), ClientError> {
        let v = self.get(path).await?;
        let rv = v.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
        let items = v.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok((items, rv))
    }

    pub async fn create(&self, path: &str, obj: &Value) -> Result<Value, ClientError> {
        let body = Bytes::from(serde_json::to_vec(obj).map_err(|e| ClientError::Decode(e.to_string()))?);
        self.call("POST", path, Some("application/json"), body).await
    }

    pub async fn update(&self, path: &str, obj: &Value) -> Result<Value, ClientError> {
        let body = Bytes::from(serde_json::to_vec(obj).map_err(|e| ClientError::Decode(e.to_string()))?);
        self.call("PUT", path, Some("application/json"), body).await
    }

    /// A JSON merge patch.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, ClientError> {
        let body = Bytes::from(serde_json::to_vec(patch).map_err(|e| ClientError::Decode(e.to_string()))?);
        self.call("PATCH", path, Some("application/merge-patch+json"), body).await
    }

    /// A strategic merge patch (lists merge by their keys, e.g. status conditions by `type`).
    pub async fn strategic_patch(&self, path: &str, patch: &Value) -> Result<Value, ClientError> {
        let body = Bytes::from(serde_json::to_vec(patch).map_err(|e| ClientError::Decode(e.to_string()))?);
        self.call("PATCH", path, Some("application/strategic-merge-patch+json"), body).await
    }

    pub async fn delete(&self, path: &str, options: Option<&Value>) -> Result<Value, ClientError> {
        let body = match options {
            Some(o) => Bytes::from(serde_json::to_vec(o).map_err(|e| ClientError::Decode(e.to_string()))?),
            None => Bytes::new(),
        };
        self.call("DELETE", path, options.map(|_| "application/json"), body).await
    }

    /// Watches `path` (a list path with any selectors) from `resource_version`: a stream of events that ends
    /// when the server closes the watch.
    pub async fn watch(
        &self,
        path: &str,
        resource_version: &str,
    ) -> Result<BoxStream<'static, WatchEvent>, ClientError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let full = format!("{path}{sep}watch=1&allowWatchBookmarks=true&resourceVersion={}", q(resource_version));
        let (code, body) = self.transport.stream(&full).await?;
        if !(200..300).contains(&code) {
            let bytes: Vec<u8> = body.collect::<Vec<Bytes>>().await.concat();
            return Err(status_error(code, &bytes));
        }
        // Events are newline-delimited JSON; chunks may split or join lines.
        let events = body
            .scan(Vec::<u8>::new(), |buf, chunk| {
                buf.extend_from_slice(&chunk);
                let mut out = Vec::new();
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                        let kind = v.get("type").and_then(Value::as_str).unwrap_or("").to_string();
                        out.push(WatchEvent { kind, object: v.get("object").cloned().unwrap_or(Value::Null) });
                    }
                }
                futures::future::ready(Some(futures::stream::iter(out)))
            })
            .flatten();
        Ok(events.boxed())
    }
}
