//! Defaulting of Kubernetes objects as the 1.32 API server applies it: the `SetDefaults_*` functions of
//! `pkg/apis/*/v1/defaults.go` (plus their generated declarative defaults), the parts of the create
//! strategies that fill fields (Job selectors, Service `clusterIPs`, Namespace finalizers, Pod status), the
//! v1 conversions with visible effects (Secret `stringData`, `serviceAccount`), and the admission plugins
//! every cluster runs for pods (ServiceAccount, Priority, DefaultTolerationSeconds).
//!
//! Objects are edited as JSON in place; anything of an unexpected JSON type is left alone.

use serde_json::{Map, Value};

mod core;
mod pod;
mod workloads;

pub use pod::{add_service_account_token_volume, pod_qos_class};

/// Applies upstream's defaults for `group/version, kind` to `obj`. Unknown kinds are left unchanged.
pub fn apply(group: &str, version: &str, kind: &str, obj: &mut Value) {
    let _ = version;
    if !obj.is_object() {
        return;
    }
    match (group, kind) {
        ("", "Pod") => pod::default_pod(obj),
        ("", "PodTemplate") => {
            if let Some(t) = obj.get_mut("template") {
                pod::default_pod_template(t);
            }
        }
        ("", "ReplicationController") => workloads::default_replication_controller(obj),
        ("", "Service") => core::default_service(obj),
        ("", "Secret") => core::default_secret(obj),
        ("", "Namespace") => core::default_namespace(obj),
        ("", "Node") => core::default_node(obj),
        ("", "PersistentVolume") => core::default_persistent_volume(obj),
        ("", "PersistentVolumeClaim") => core::default_persistent_volume_claim(obj),
        ("", "Endpoints") => core::default_endpoints(obj),
        ("", "LimitRange") => core::default_limit_range(obj),
        ("", "ResourceQuota") => core::default_resource_quota(obj),
        ("apps", "Deployment") => workloads::default_deployment(obj),
        ("apps", "ReplicaSet") => workloads::default_replica_set(obj),
        ("apps", "StatefulSet") => workloads::default_stateful_set(obj),
        ("apps", "DaemonSet") => workloads::default_daemon_set(obj),
        ("batch", "Job") => workloads::default_job(obj),
        ("batch", "CronJob") => workloads::default_cron_job(obj),
        ("discovery.k8s.io", "EndpointSlice") => core::default_endpoint_slice(obj),
        _ => {}
    }
}

// ---- JSON editing helpers ----

/// Whether `m[k]` is missing or null.
pub(crate) fn absent(m: &Map<String, Value>, k: &str) -> bool {
    matches!(m.get(k), None | Some(Value::Null))
}

/// Whether `m[k]` is missing, null or "".
pub(crate) fn absent_or_empty(m: &Map<String, Value>, k: &str) -> bool {
    match m.get(k) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Sets `m[k] = v` when the field is missing or null.
pub(crate) fn set_default(m: &mut Map<String, Value>, k: &str, v: Value) {
    if absent(m, k) {
        m.insert(k.to_string(), v);
    }
}

/// Sets a string field when it is missing, null or "".
pub(crate) fn set_default_str(m: &mut Map<String, Value>, k: &str, v: &str) {
    if absent_or_empty(m, k) {
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
}

/// Sets an integer field when it is missing, null or 0 (upstream defaults zero-valued ints).
pub(crate) fn set_default_nonzero(m: &mut Map<String, Value>, k: &str, v: i64) {
    let zero = matches!(m.get(k), None | Some(Value::Null)) || m.get(k).and_then(Value::as_i64) == Some(0);
    if zero {
        m.insert(k.to_string(), Value::from(v));
    }
}

/// The object at `m[k]`, created (replacing a null) when missing; `None` if it holds another type.
pub(crate) fn ensure_obj<'a>(m: &'a mut Map<String, Value>, k: &str) -> Option<&'a mut Map<String, Value>> {
    if absent(m, k) {
        m.insert(k.to_string(), Value::Object(Map::new()));
    }
    m.get_mut(k).and_then(Value::as_object_mut)
}

/// The object at `m[k]` when present.
pub(crate) fn obj_mut<'a>(m: &'a mut Map<String, Value>, k: &str) -> Option<&'a mut Map<String, Value>> {
    m.get_mut(k).and_then(Value::as_object_mut)
}

/// Each object element of the array at `m[k]`.
pub(crate) fn each_obj_mut<'a>(
    m: &'a mut Map<String, Value>,
    k: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(k).and_then(Value::as_array_mut).into_iter().flat_map(|a| a.iter_mut()).filter_map(Value::as_object_mut)
}

/// `SetDefaults_ResourceList`: quantities are rounded up to milli precision and written in canonical form.
pub(crate) fn default_resource_list(m: Option<&mut Map<String, Value>>) {
    let Some(m) = m else { return };
    for v in m.values_mut() {
        if let Ok(mut q) = crate::validation::quantity::quantity_from_json(v) {
            q.round_up_milli();
            *v = Value::String(q.canonical());
        }
    }
}

#[cfg(test)]
mod tests;
