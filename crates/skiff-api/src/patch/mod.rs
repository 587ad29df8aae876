//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.
//!
//! [`apply`] returns the patched object as upstream's patcher produces it, *before* it is decoded into the
//! Go type. Upstream then decodes it strictly: callers should report [`crate::schema::unknown_fields`] of
//! the result (Strict/Warn, see [`strict_patch_error`]) and drop them with
//! [`crate::schema::prune_unknown_fields`], as the typed decode does in every mode.
//!
//! Errors carry upstream's status code and message ([`PatchError::code`], [`PatchError::status_message`]),
//! from apiserver `endpoints/handlers/patch.go` (1.32) assuming `fieldValidation` Strict or Warn (Warn is
//! the server default, kubectl sends Strict), where the body is first decoded with `UnmarshalStrict`.

mod gofmt;
mod strategic;

use crate::schema::{decode_json_checked, index, StrictError};
use serde_json::Value;

/// Upstream's limit on operations in one JSON patch.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

/// The PATCH content types (server-side apply is not handled here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    StrategicMerge,
}

impl PatchType {
    /// Parse a `Content-Type` header (parameters such as `; charset=utf-8` are ignored, as upstream does).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
        }
    }
}

/// Content types a custom resource accepts for PATCH (no strategic merge patch), in upstream's order.
pub const CUSTOM_RESOURCE_PATCH_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

/// A patch that cannot be applied. `Display` is the detailed text (for logs); map to a `Status` with
/// [`code`](Self::code), [`reason`](Self::reason) and [`status_message`](Self::status_message).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// 400 BadRequest with this message (undecodable body, malformed directives).
    #[error("{0}")]
    BadRequest(String),
    /// 422 Invalid via `NewGenericServerResponse`: upstream replaces the detail with the generic message
    /// "the server rejected our request due to an error in our request" (JSON patch op failures such as a
    /// failed `test` or a missing path; lists of lists in a strategic merge patch).
    #[error("{0}")]
    Unprocessable(String),
    /// 413 RequestEntityTooLarge.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations { max: usize, got: usize },
    /// 415 UnsupportedMediaType: strategic merge patch of a kind without a built-in schema (custom resources).
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(String),
    /// 500: upstream returns a plain Go error, which becomes a Status with code 500, empty reason and this
    /// text as message (e.g. a missing merge key, `unknown patch type`, `$setElementOrder` order mismatch).
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Unprocessable(_) => 422,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::UnsupportedMediaType(_) => 415,
            PatchError::Internal(_) => 500,
        }
    }

    /// `Status.reason` (empty for the 500 case, which upstream leaves `Unknown`, i.e. `""`).
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Unprocessable(_) => "Invalid",
            PatchError::TooManyOperations { .. } => "RequestEntityTooLarge",
            PatchError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            PatchError::Internal(_) => "",
        }
    }

    /// `Status.message` exactly as upstream sends it.
    pub fn status_message(&self) -> String {
        match self {
            PatchError::Unprocessable(_) => "the server rejected our request due to an error in our request".into(),
            PatchError::TooManyOperations { .. } => format!("Request entity too large: {self}"),
            other => other.to_string(),
        }
    }
}

/// Apply a PATCH body to `original`, an object of `group/version/kind`.
pub fn apply(
    patch_type: PatchType,
    original: &Value,
    patch: &[u8],
    group: &str,
    version: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    match patch_type {
        PatchType::Json => apply_json_patch(original, patch),
        PatchType::Merge => apply_merge_patch(original, patch),
        PatchType::StrategicMerge => match index().kind(group, version, kind) {
            Some(def) => strategic::apply(original, patch, def),
            None => Err(PatchError::UnsupportedMediaType(CUSTOM_RESOURCE_PATCH_TYPES.into())),
        },
    }
}

fn decode_error(e: serde_json::Error) -> PatchError {
    PatchError::BadRequest(format!("error decoding patch: {e}"))
}

fn apply_json_patch(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let doc: Value = serde_json::from_slice(patch).map_err(decode_error)?;
    let ops = match doc {
        Value::Array(ops) => ops,
        // Go decodes `null` into a nil patch: nothing to apply.
        Value::Null => return Ok(original.clone()),
        other => {
            return Err(PatchError::BadRequest(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                strategic::json_kind_word(&other)
            )))
        }
    };
    for op in &ops {
        if !op.is_object() && !op.is_null() {
            return Err(PatchError::BadRequest(format!(
                "error decoding patch: json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                strategic::json_kind_word(op)
            )));
        }
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { max: MAX_JSON_PATCH_OPERATIONS, got: ops.len() });
    }
    let mut out = original.clone();
    for op in ops {
        // Upstream only looks at an operation when applying it, so a malformed one fails like a failed op.
        let op: json_patch::PatchOperation =
            serde_json::from_value(op).map_err(|e| PatchError::Unprocessable(e.to_string()))?;
        json_patch::patch(&mut out, std::slice::from_ref(&op)).map_err(|e| PatchError::Unprocessable(e.to_string()))?;
    }
    Ok(out)
}

fn apply_merge_patch(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let p: Value = serde_json::from_slice(patch).map_err(decode_error)?;
    match &p {
        Value::Object(_) => {
            let mut out = original.clone();
            json_patch::merge(&mut out, &p);
            Ok(out)
        }
        // evanphx/json-patch: a `null` patch is "Invalid JSON Patch".
        Value::Null => Err(PatchError::BadRequest("Invalid JSON Patch".into())),
        other => Err(PatchError::BadRequest(format!(
            "error decoding patch: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            strategic::json_kind_word(other)
        ))),
    }
}

/// Strict-decoding violations of a PATCH body itself (upstream `UnmarshalStrict` of the body), to combine
/// with the unknown fields of the patched object: duplicate keys at any depth, and for JSON patch also
/// unknown operation keys, prefixed `json patch ` as upstream does. Undecodable bodies yield nothing
/// ([`apply`] reports them).
pub fn patch_body_strict_errors(patch_type: PatchType, patch: &[u8]) -> Vec<StrictError> {
    let Ok((value, duplicates)) = decode_json_checked(patch) else {
        return Vec::new();
    };
    let mut errors: Vec<StrictError> = duplicates.into_iter().map(StrictError::Duplicate).collect();
    if patch_type == PatchType::Json {
        if let Value::Array(ops) = &value {
            for (i, op) in ops.iter().enumerate() {
                let Value::Object(m) = op else { continue };
                for k in m.keys().filter(|k| !matches!(k.as_str(), "op" | "path" | "from" | "value")) {
                    errors.push(StrictError::Unknown(format!("[{i}].{k}")));
                }
            }
        }
    }
    errors
}

/// Warning texts / error parts for body violations (`json patch ` prefix for JSON patch ops).
pub fn patch_body_strict_texts(patch_type: PatchType, errors: &[StrictError]) -> Vec<String> {
    let prefix = if patch_type == PatchType::Json { "json patch " } else { "" };
    errors.iter().map(|e| format!("{prefix}{e}")).collect()
}

/// The 422 Invalid upstream returns for PATCH in Strict mode when the body or the patched object has strict
/// errors: `(Status.message, details.causes[0].message)`; the cause has type `FieldValueInvalid` and field
/// `patch`, details have empty group/kind/name. `texts` are body violations
/// ([`patch_body_strict_texts`]) followed by the patched object's (`unknown field "spec.x"`).
/// The invalid value is the patch as Go prints a map (strategic) or the patched JSON (JSON/merge patch).
pub fn strict_patch_error(patch_type: PatchType, patch: &[u8], patched: &Value, texts: &[String]) -> (String, String) {
    let value = match patch_type {
        PatchType::StrategicMerge => match serde_json::from_slice::<Value>(patch) {
            Ok(v @ Value::Object(_)) => gofmt::v(&v),
            _ => "map[]".to_string(),
        },
        PatchType::Json | PatchType::Merge => go_json(patched),
    };
    let mut detail = String::from("strict decoding error: ");
    detail.push_str(&texts.join(", "));
    let body = format!("Invalid value: {}: {detail}", crate::schema::go_quote(&value));
    (format!(" \"\" is invalid: patch: {body}"), body)
}

/// `json.Marshal` of a decoded document, as evanphx/json-patch returns it: sorted keys, HTML-escaped.
fn go_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().filter_map(|k| Some((k.clone(), sorted(m.get(k)?)))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // These characters only occur inside JSON strings, where Go writes them as escapes.
    sorted(v)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests;
