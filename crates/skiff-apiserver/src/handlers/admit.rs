//! Turning a request body into an admitted object: decode (JSON, YAML), field validation (`Strict`/`Warn`/
//! `Ignore`), typed normalization, server-set metadata, defaulting and validation.

use crate::errors::{ApiError, ApiResult};
use crate::request::Query;
use chrono::Utc;
use rand::Rng;
use serde_json::{json, Value};
use skiff_api::registry::Resource;
use skiff_api::schema::StrictError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn from_query(q: &Query) -> ApiResult<Self> {
        match q.get("fieldValidation") {
            // Upstream's default when the client says nothing.
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation parameter unsupported: {other}, must be one of: Ignore, Warn, Strict"
            ))),
        }
    }
}

pub fn now_rfc3339() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// "`Pod in version "v1" cannot be handled as a Pod: …`", upstream's prefix for decoding failures.
fn cannot_handle(r: &Resource, detail: impl std::fmt::Display) -> ApiError {
    cannot_handle_kind(r.version, r.kind, detail)
}

fn cannot_handle_kind(version: &str, kind: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}"))
}

/// Decodes a full object for `r` from a request body: parses it (JSON, YAML, protobuf), checks apiVersion/kind,
/// applies field validation, and normalizes it through the typed form. Returns the object and any warnings
/// (for `Warn`).
pub fn decode_object(
    r: &Resource,
    body: &[u8],
    content_type: &str,
    validation: FieldValidation,
) -> ApiResult<(Value, Vec<String>)> {
    let (obj, warnings) = decode_kind(r.group, r.version, r.kind, body, content_type, validation)?;
    let obj = check_object(r, obj)?;
    Ok((obj, warnings))
}

/// Parses a body holding a `group/version, kind` object (JSON, YAML, protobuf) and applies field validation,
/// without the type checks of [`decode_object`]: for bodies that are not a stored resource (subresources that
/// speak another kind, like `serviceaccounts/token`'s TokenRequest).
pub fn decode_kind(
    group: &str,
    version: &str,
    kind: &str,
    body: &[u8],
    content_type: &str,
    validation: FieldValidation,
) -> ApiResult<(Value, Vec<String>)> {
    let fail = |e: &dyn std::fmt::Display| cannot_handle_kind(version, kind, e);
    let (obj, strict) = match content_type {
        "" | "application/json" | "*/*" => {
            skiff_api::schema::decode_strict(group, version, kind, body).map_err(|e| fail(&e))?
        }
        "application/vnd.kubernetes.protobuf" => {
            let v = skiff_api::proto::decode(body, group, version, kind).map_err(|e| fail(&e))?;
            let unknown = skiff_api::schema::unknown_fields(group, version, kind, &v);
            (v, unknown.into_iter().map(StrictError::Unknown).collect())
        }
        "application/yaml" => {
            let v: Value = serde_yaml::from_slice(body).map_err(|e| fail(&e))?;
            let unknown = skiff_api::schema::unknown_fields(group, version, kind, &v);
            (v, unknown.into_iter().map(StrictError::Unknown).collect())
        }
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other})"
            )))
        }
    };
    let warnings = match (validation, strict.is_empty()) {
        (_, true) | (FieldValidation::Ignore, _) => vec![],
        (FieldValidation::Strict, false) => {
            return Err(fail(&skiff_api::schema::strict_errors_message(&strict)));
        }
        (FieldValidation::Warn, false) => strict.iter().map(ToString::to_string).collect(),
    };
    Ok((obj, warnings))
}

/// The decode steps after field validation, shared with patch (whose result is an object too): type meta
/// must match the endpoint, and the object goes through its typed form (pruning unknown fields).
pub fn check_object(r: &Resource, mut obj: Value) -> ApiResult<Value> {
    if !obj.is_object() {
        return Err(cannot_handle(r, "json: cannot unmarshal into Go value of type struct"));
    }
    let gv = r.group_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(gv),
        Some(v) if v == gv => {}
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version ({gv})"
            )))
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(r.kind),
        Some(k) if k == r.kind => {}
        Some(k) => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                r.kind
            )))
        }
    }
    r.normalize(obj).map_err(|e| cannot_handle(r, e))
}

/// Upstream's `SimpleNameGenerator`: 5 random characters from an alphabet without vowels or confusables.
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..5).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    // Upstream trims the prefix so the result stays within 63 characters.
    let max_prefix = 63 - 5;
    let prefix = if prefix.len() > max_prefix { &prefix[..max_prefix] } else { prefix };
    format!("{prefix}{suffix}")
}

/// Sets the metadata the server owns on create: namespace, generated name, uid, creationTimestamp.
pub fn prepare_create_meta(r: &Resource, obj: &mut Value, ns: Option<&str>) -> ApiResult<()> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let meta = &mut obj["metadata"];
    if r.namespaced {
        let url_ns = ns.unwrap_or("");
        match meta.get("namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != url_ns => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ))
            }
            _ => meta["namespace"] = json!(url_ns),
        }
    } else if let Some(m) = meta.as_object_mut() {
        m.remove("namespace");
    }
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        if let Some(g) = meta.get("generateName").and_then(Value::as_str).filter(|g| !g.is_empty()) {
            meta["name"] = json!(generate_name(g));
        }
    }
    meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
    meta["creationTimestamp"] = json!(now_rfc3339());
    if let Some(m) = meta.as_object_mut() {
        for k in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            m.remove(k);
        }
    }
    Ok(())
}

/// Carries over the metadata a client may not change on update (upstream's `rest.BeforeUpdate`).
pub fn prepare_update_meta(obj: &mut Value, old: &Value) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    for k in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace", "generation"]
    {
        match old["metadata"].get(k) {
            Some(v) => obj["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("selfLink");
    }
}

/// Defaulting then validation; `Invalid` with every cause when the object is not acceptable.
pub fn default_and_validate(r: &Resource, obj: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    skiff_api::defaults::apply(r.group, r.version, r.kind, obj);
    skiff_api::strategy::go_zero_values(r, obj);
    let errs = skiff_api::validation::validate(r.group, r.version, r.kind, obj, old);
    if errs.is_empty() {
        return Ok(());
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    Err(ApiError::invalid(r, name, errs))
}
