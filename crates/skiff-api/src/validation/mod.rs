//! Validation of Kubernetes objects with upstream's field paths and messages (Kubernetes 1.32:
//! `pkg/apis/*/validation` and apimachinery's validators). Objects arrive as JSON already defaulted by
//! [`crate::defaults::apply`]; validation reads them through small accessors that treat a missing field and
//! a field of the wrong JSON type alike (decoding has already rejected type errors upstream).

use crate::field::FieldError;
use serde_json::{Map, Value};

pub mod apps;
pub mod batch;
pub mod container;
pub mod core;
pub mod env;
pub mod meta;
pub mod names;
pub mod pod;
pub mod pod_fields;
pub mod quantity;
pub mod resources;
pub mod service;
pub mod storage;
pub mod volume;

pub use meta::{validate_annotations, validate_label_selector, validate_labels};
pub use names::{
    is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, is_valid_port_name, is_valid_port_num,
};
pub use quantity::{parse_quantity, Quantity, QuantityError};

/// Validates `obj` (create when `old` is `None`, update otherwise) and returns every error found.
/// Unknown kinds get metadata validation only (with the namespace checked when present).
pub fn validate(group: &str, version: &str, kind: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let _ = version;
    match (group, kind) {
        ("", "Pod") => pod::validate_pod(obj, old),
        ("", "PodTemplate") => pod::validate_pod_template_object(obj, old),
        ("", "Service") => service::validate_service(obj, old),
        ("", "ConfigMap") => core::validate_config_map(obj, old),
        ("", "Secret") => core::validate_secret(obj, old),
        ("", "Namespace") => core::validate_namespace(obj, old),
        ("", "Node") => core::validate_node(obj, old),
        ("", "ServiceAccount") => core::validate_simple(obj, old, true, names::name_is_dns_subdomain),
        ("", "Event") => core::validate_event(obj, old),
        ("", "Endpoints") => core::validate_endpoints(obj, old),
        ("", "PersistentVolume") => storage::validate_persistent_volume(obj, old),
        ("", "PersistentVolumeClaim") => storage::validate_persistent_volume_claim(obj, old),
        ("", "ReplicationController") => apps::validate_replication_controller(obj, old),
        ("", "LimitRange") | ("", "ResourceQuota") => {
            core::validate_simple(obj, old, true, names::name_is_dns_subdomain)
        }
        ("apps", "Deployment") => apps::validate_deployment(obj, old),
        ("apps", "ReplicaSet") => apps::validate_replica_set(obj, old),
        ("apps", "StatefulSet") => apps::validate_stateful_set(obj, old),
        ("apps", "DaemonSet") => apps::validate_daemon_set(obj, old),
        ("apps", "ControllerRevision") => core::validate_simple(obj, old, true, names::name_is_dns_subdomain),
        ("batch", "Job") => batch::validate_job(obj, old),
        ("batch", "CronJob") => batch::validate_cron_job(obj, old),
        ("coordination.k8s.io", "Lease") => core::validate_lease(obj, old),
        ("discovery.k8s.io", "EndpointSlice") => core::validate_endpoint_slice(obj, old),
        ("events.k8s.io", "Event") => core::validate_event(obj, old),
        ("rbac.authorization.k8s.io", "Role") | ("rbac.authorization.k8s.io", "RoleBinding") => {
            core::validate_simple(obj, old, true, names::name_is_path_segment)
        }
        ("rbac.authorization.k8s.io", "ClusterRole") | ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            core::validate_simple(obj, old, false, names::name_is_path_segment)
        }
        _ => {
            let namespaced = !str_at(obj, &["metadata", "namespace"]).is_empty();
            core::validate_simple(obj, old, namespaced, names::name_is_dns_subdomain)
        }
    }
}

// ---- field paths (upstream `field.Path` rendering) ----

/// `p.Child(c)`.
pub(crate) fn child(p: &str, c: &str) -> String {
    if p.is_empty() {
        c.to_string()
    } else {
        format!("{p}.{c}")
    }
}

/// `p.Index(i)`.
pub(crate) fn index(p: &str, i: usize) -> String {
    format!("{p}[{i}]")
}

/// `p.Key(k)`.
pub(crate) fn key(p: &str, k: &str) -> String {
    format!("{p}[{k}]")
}

// ---- JSON accessors: a missing field, `null` and a wrongly typed field all read as absent ----

/// The field `k` of `v`, unless missing or null.
pub(crate) fn get<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    match v.get(k) {
        Some(Value::Null) | None => None,
        Some(x) => Some(x),
    }
}

/// Follows a path of object keys.
pub(crate) fn get_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in path {
        cur = get(cur, k)?;
    }
    Some(cur)
}

/// A string field, or "".
pub(crate) fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A string at a path, or "".
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get_at(v, path).and_then(Value::as_str).unwrap_or("")
}

/// An array field, or empty.
pub(crate) fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// An object field.
pub(crate) fn obj<'a>(v: &'a Value, k: &str) -> Option<&'a Map<String, Value>> {
    v.get(k).and_then(Value::as_object)
}

/// An integer field.
pub(crate) fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

/// A boolean field, `false` when absent.
pub(crate) fn flag(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// A `map[string]string` field as sorted pairs (upstream iterates maps in random order; sorting keeps
/// messages stable). Non-string values read as their JSON text.
pub(crate) fn string_map(v: &Value, k: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = match obj(v, k) {
        Some(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect(),
        None => Vec::new(),
    };
    out.sort();
    out
}

/// `ValidateNonnegativeField`.
pub(crate) fn nonnegative(value: i64, path: &str) -> Vec<FieldError> {
    if value < 0 {
        vec![FieldError::invalid(path, value, meta::IS_NEGATIVE_ERROR_MSG)]
    } else {
        Vec::new()
    }
}

/// Deep equality with upstream's semantic rules for decoded objects: a missing field equals its zero value
/// (null, "", 0, false, empty list or map), and quantities compare by value.
pub(crate) fn semantic_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn is_zero(v: Option<&Value>) -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Bool(b)) => !b,
            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(m)) => m.values().all(|v| is_zero(Some(v))),
        }
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.keys().chain(y.keys()).all(|k| semantic_eq(x.get(k), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| semantic_eq(Some(p), Some(q)))
        }
        (Some(Value::String(x)), Some(Value::String(y))) => {
            if x == y {
                return true;
            }
            match (parse_quantity(x), parse_quantity(y)) {
                (Ok(p), Ok(q)) => p == q && x.chars().any(|c| c.is_ascii_digit()),
                _ => false,
            }
        }
        (Some(x), Some(y)) if x == y => true,
        (x, y) => is_zero(x) && is_zero(y),
    }
}

#[cfg(test)]
mod tests;
