//! Core-group defaults other than pods: Service (`SetDefaults_Service` plus the single-stack IPv4 family
//! fields the allocator fills), Secret (`stringData` folded into `data`, type `Opaque`), Namespace (name
//! label, `kubernetes` finalizer, `Active` phase), Node, PersistentVolume(Claim), Endpoints, EndpointSlice,
//! LimitRange and ResourceQuota.

use super::{default_resource_list, each_obj_mut, ensure_obj, obj_mut, set_default, set_default_str};
use base64::Engine;
use serde_json::{json, Value};

/// `SetDefaults_Service` and the strategy/allocator fields that do not need an allocation.
pub(crate) fn default_service(obj: &mut Value) {
    let Some(spec) = obj.as_object_mut().and_then(|o| ensure_obj(o, "spec")) else {
        return;
    };
    set_default_str(spec, "sessionAffinity", "None");
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .map(|t| !t.is_null())
                .unwrap_or(false);
            if !has_timeout {
                spec.insert("sessionAffinityConfig".into(), json!({"clientIP": {"timeoutSeconds": 10800}}));
            }
        }
        _ => {}
    }
    set_default_str(spec, "type", "ClusterIP");
    for p in each_obj_mut(spec, "ports") {
        set_default_str(p, "protocol", "TCP");
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            let port = p.get("port").cloned().unwrap_or(Value::from(0));
            p.insert("targetPort".into(), port);
        }
    }
    let typ = spec.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    let has_external_ips = spec.get("externalIPs").and_then(Value::as_array).map(|a| !a.is_empty()).unwrap_or(false);
    let externally_accessible = typ == "LoadBalancer" || typ == "NodePort" || (typ == "ClusterIP" && has_external_ips);
    if externally_accessible {
        set_default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(typ.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        set_default(spec, "internalTrafficPolicy", Value::from("Cluster"));
    }
    if typ == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", Value::from(true));
    }
    if typ != "ExternalName" {
        // The REST strategy mirrors clusterIP into clusterIPs; the allocator picks single-stack IPv4.
        if let Some(ip) = spec.get("clusterIP").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            let ip = ip.to_string();
            if spec.get("clusterIPs").and_then(Value::as_array).map(|a| a.is_empty()).unwrap_or(true) {
                spec.insert("clusterIPs".into(), json!([ip]));
            }
        }
        set_default(spec, "ipFamilyPolicy", Value::from("SingleStack"));
        if spec.get("ipFamilies").and_then(Value::as_array).map(|a| a.is_empty()).unwrap_or(true) {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
        }
    }
}

/// Secret: `stringData` overrides and merges into base64 `data` (upstream does this in conversion), and
/// the type defaults to `Opaque`.
pub(crate) fn default_secret(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    if let Some(Value::Object(sd)) = o.remove("stringData") {
        if let Some(data) = ensure_obj(o, "data") {
            for (k, v) in sd {
                let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                data.insert(k, Value::from(base64::engine::general_purpose::STANDARD.encode(text.as_bytes())));
            }
        }
    }
    set_default_str(o, "type", "Opaque");
}

/// Namespace: the `kubernetes.io/metadata.name` label, the `kubernetes` finalizer, phase `Active`.
pub(crate) fn default_namespace(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    let name = o.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
    if !name.is_empty() {
        if let Some(labels) = ensure_obj(o, "metadata").and_then(|m| ensure_obj(m, "labels")) {
            labels.insert("kubernetes.io/metadata.name".into(), Value::from(name));
        }
    }
    if let Some(spec) = ensure_obj(o, "spec") {
        set_default(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = ensure_obj(o, "status") {
        set_default_str(status, "phase", "Active");
    }
}

/// Node: allocatable defaults to capacity; resource lists canonicalised.
pub(crate) fn default_node(obj: &mut Value) {
    let Some(status) = obj.as_object_mut().and_then(|o| obj_mut(o, "status")) else {
        return;
    };
    if let Some(cap) = status.get("capacity").cloned() {
        set_default(status, "allocatable", cap);
    }
    default_resource_list(obj_mut(status, "capacity"));
    default_resource_list(obj_mut(status, "allocatable"));
}

/// PersistentVolume: reclaim policy `Retain`, volume mode `Filesystem`, phase `Pending`.
pub(crate) fn default_persistent_volume(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    if let Some(spec) = ensure_obj(o, "spec") {
        set_default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        set_default(spec, "volumeMode", Value::from("Filesystem"));
        default_resource_list(obj_mut(spec, "capacity"));
        if let Some(h) = obj_mut(spec, "hostPath") {
            set_default(h, "type", Value::from(""));
        }
    }
    if let Some(status) = ensure_obj(o, "status") {
        set_default_str(status, "phase", "Pending");
    }
}

/// PersistentVolumeClaim: volume mode `Filesystem`, phase `Pending`.
pub(crate) fn default_persistent_volume_claim(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    if let Some(spec) = ensure_obj(o, "spec") {
        set_default(spec, "volumeMode", Value::from("Filesystem"));
        if let Some(r) = obj_mut(spec, "resources") {
            default_resource_list(obj_mut(r, "requests"));
            default_resource_list(obj_mut(r, "limits"));
        }
    }
    if let Some(status) = ensure_obj(o, "status") {
        set_default_str(status, "phase", "Pending");
    }
}

/// Endpoints: port protocol `TCP`.
pub(crate) fn default_endpoints(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    for ss in each_obj_mut(o, "subsets") {
        for p in each_obj_mut(ss, "ports") {
            set_default_str(p, "protocol", "TCP");
        }
    }
}

/// discovery.k8s.io/v1 EndpointSlice: port name "" and protocol `TCP`.
pub(crate) fn default_endpoint_slice(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    for p in each_obj_mut(o, "ports") {
        set_default(p, "name", Value::from(""));
        set_default(p, "protocol", Value::from("TCP"));
    }
}

/// `SetDefaults_LimitRangeItem`: container defaults from max, requests from defaults or min.
pub(crate) fn default_limit_range(obj: &mut Value) {
    let Some(spec) = obj.as_object_mut().and_then(|o| obj_mut(o, "spec")) else {
        return;
    };
    for item in each_obj_mut(spec, "limits") {
        for k in ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"] {
            default_resource_list(obj_mut(item, k));
        }
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let max = item.get("max").and_then(Value::as_object).cloned().unwrap_or_default();
        let min = item.get("min").and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(d) = ensure_obj(item, "default") {
            for (k, v) in &max {
                d.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let defaults = item.get("default").and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(dr) = ensure_obj(item, "defaultRequest") {
            for (k, v) in defaults.iter().chain(min.iter()) {
                dr.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// ResourceQuota: resource lists canonicalised.
pub(crate) fn default_resource_quota(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    if let Some(spec) = obj_mut(o, "spec") {
        default_resource_list(obj_mut(spec, "hard"));
    }
}
