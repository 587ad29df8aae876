//! API errors, and the one place they become Kubernetes `Status` objects.

use serde_json::{json, Value};
use skiff_api::field::FieldError;
use skiff_api::registry::Resource;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{qualified} \"{name}\" not found")]
    NotFound { group: String, resource: String, qualified: String, name: String },
    #[error("{qualified} \"{name}\" already exists")]
    AlreadyExists { group: String, resource: String, qualified: String, name: String },
    #[error("Operation cannot be fulfilled on {qualified} \"{name}\": {detail}")]
    Conflict { group: String, resource: String, qualified: String, name: String, detail: String },
    #[error("{message}")]
    Invalid { group: String, kind: String, name: String, message: String, causes: Vec<FieldError> },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    Expired(String),
    #[error("{0}")]
    Gone(String),
    #[error("the server could not find the requested resource")]
    NoRoute,
    #[error("{0}")]
    RequestEntityTooLarge(String),
    #[error("Internal error occurred: {0}")]
    Internal(String),
    #[error("{0}")]
    Timeout(String),
    /// A Status whose shape was decided elsewhere (patch errors carry upstream's code, reason and details).
    #[error("{message}")]
    Raw { code: u16, reason: &'static str, message: String, details: Option<Value> },
}

impl ApiError {
    pub fn not_found(r: &Resource, name: &str) -> Self {
        ApiError::NotFound {
            group: r.group.into(),
            resource: r.plural.into(),
            qualified: r.qualified_resource(),
            name: name.into(),
        }
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError::NotFound {
            group: String::new(),
            resource: "namespaces".into(),
            qualified: "namespaces".into(),
            name: ns.into(),
        }
    }

    pub fn already_exists(r: &Resource, name: &str) -> Self {
        ApiError::AlreadyExists {
            group: r.group.into(),
            resource: r.plural.into(),
            qualified: r.qualified_resource(),
            name: name.into(),
        }
    }

    pub fn conflict(r: &Resource, name: &str, detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            group: r.group.into(),
            resource: r.plural.into(),
            qualified: r.qualified_resource(),
            name: name.into(),
            detail: detail.into(),
        }
    }

    /// The stale-resourceVersion conflict of optimistic concurrency.
    pub fn modified(r: &Resource, name: &str) -> Self {
        Self::conflict(
            r,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn invalid(r: &Resource, name: &str, causes: Vec<FieldError>) -> Self {
        let message = skiff_api::field::invalid_message(&r.qualified_kind(), name, &causes);
        ApiError::Invalid { group: r.group.into(), kind: r.kind.into(), name: name.into(), message, causes }
    }

    /// A bad `DeleteOptions`, upstream's `DeleteOptions.meta.k8s.io "" is invalid: …`.
    pub fn invalid_delete_options(detail: String) -> Self {
        ApiError::Invalid {
            group: "meta.k8s.io".into(),
            kind: "DeleteOptions".into(),
            name: String::new(),
            message: format!("DeleteOptions.meta.k8s.io \"\" is invalid: {detail}"),
            causes: vec![],
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Forbidden(_) => 403,
            ApiError::Unauthorized => 401,
            ApiError::MethodNotAllowed => 405,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::NotAcceptable(_) => 406,
            ApiError::Expired(_) | ApiError::Gone(_) => 410,
            ApiError::RequestEntityTooLarge(_) => 413,
            ApiError::Internal(_) => 500,
            ApiError::Timeout(_) => 504,
            ApiError::Raw { code, .. } => *code,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::Expired(_) => "Expired",
            ApiError::Gone(_) => "Gone",
            ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
            ApiError::Internal(_) => "InternalError",
            ApiError::Timeout(_) => "Timeout",
            ApiError::Raw { reason, .. } => reason,
        }
    }

    /// The `Status` object upstream returns for this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound { group, resource, name, .. }
            | ApiError::AlreadyExists { group, resource, name, .. }
            | ApiError::Conflict { group, resource, name, .. } => Some(details(name, group, resource, None)),
            ApiError::Invalid { group, kind, name, causes, .. } => {
                let causes = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason(), "message": c.body(), "field": c.field}))
                    .collect();
                Some(details(name, group, kind, Some(causes)))
            }
            ApiError::NoRoute => Some(json!({})),
            ApiError::Raw { details, .. } => details.clone(),
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }
}

fn details(name: &str, group: &str, kind: &str, causes: Option<Vec<Value>>) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), name.into());
    }
    if !group.is_empty() {
        d.insert("group".into(), group.into());
    }
    d.insert("kind".into(), kind.into());
    if let Some(c) = causes {
        d.insert("causes".into(), Value::Array(c));
    }
    Value::Object(d)
}

impl From<skiff_store::StoreError> for ApiError {
    fn from(e: skiff_store::StoreError) -> Self {
        match e {
            skiff_store::StoreError::Compacted { requested, compacted } => {
                ApiError::Expired(format!("too old resource version: {requested} ({compacted})"))
            }
            skiff_store::StoreError::FutureRevision { requested, current } => ApiError::Timeout(format!(
                "Too large resource version: {requested}, current resource version: {current}"
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
