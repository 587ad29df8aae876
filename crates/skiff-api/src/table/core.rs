//! Printers for core/v1 kinds other than pods and events: namespaces, configmaps, secrets, services, endpoints,
//! service accounts, nodes, persistent volumes and claims, replication controllers, pod templates, quotas.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::format::{access_modes, container_cells, format_labels};
use super::human::since;
use super::quantity;
use super::{age_col, col, docs, json, name_col, wide, Column, CONTAINERS_DOC, IMAGES_DOC};

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    since(json::time(obj, &["metadata", "creationTimestamp"]), now).into()
}

fn name(obj: &Value) -> Value {
    json::name(obj).into()
}

pub(super) fn pod_template_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Containers", "string", CONTAINERS_DOC),
        col("Images", "string", IMAGES_DOC),
        col("Pod Labels", "string", "The labels for the pod template."),
    ]
}

pub(super) fn pod_template_row(obj: &Value) -> Vec<Value> {
    let (names, images) = container_cells(json::arr(obj, &["template", "spec", "containers"]));
    let labels = json::string_map(obj, &["template", "metadata", "labels"]);
    vec![name(obj), names.into(), images.into(), format_labels(&labels).into()]
}

pub(super) fn replication_controller_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Desired", "integer", docs::RC_SPEC_REPLICAS),
        col("Current", "integer", docs::RC_STATUS_REPLICAS),
        col("Ready", "integer", docs::RC_STATUS_READY_REPLICAS),
        age_col(),
        wide(col("Containers", "string", CONTAINERS_DOC)),
        wide(col("Images", "string", IMAGES_DOC)),
        wide(col("Selector", "string", docs::RC_SPEC_SELECTOR)),
    ]
}

pub(super) fn replication_controller_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // spec.replicas defaults to 1 on write, so a stored object without it means 1.
    let desired = json::opt_int(obj, &["spec", "replicas"]).unwrap_or(1);
    let (names, images) = container_cells(json::arr(obj, &["spec", "template", "spec", "containers"]));
    vec![
        name(obj),
        desired.into(),
        json::int(obj, &["status", "replicas"]).into(),
        json::int(obj, &["status", "readyReplicas"]).into(),
        age(obj, now),
        names.into(),
        images.into(),
        format_labels(&json::string_map(obj, &["spec", "selector"])).into(),
    ]
}

pub(super) fn namespace_columns() -> Vec<Column> {
    vec![name_col(), col("Status", "string", "The status of the namespace"), age_col()]
}

pub(super) fn namespace_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json::str(obj, &["status", "phase"]).into(), age(obj, now)]
}

pub(super) fn config_map_columns() -> Vec<Column> {
    vec![name_col(), col("Data", "string", docs::CONFIGMAP_DATA), age_col()]
}

pub(super) fn config_map_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let count = json::map_len(obj, &["data"]) + json::map_len(obj, &["binaryData"]);
    vec![name(obj), (count as i64).into(), age(obj, now)]
}

pub(super) fn secret_columns() -> Vec<Column> {
    vec![name_col(), col("Type", "string", docs::SECRET_TYPE), col("Data", "string", docs::SECRET_DATA), age_col()]
}

pub(super) fn secret_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // v1→internal conversion folds stringData into data, so count the union of both keys.
    let mut keys: Vec<&String> = json::map(obj, &["data"]).map(|m| m.keys().collect()).unwrap_or_default();
    if let Some(extra) = json::map(obj, &["stringData"]) {
        keys.extend(extra.keys());
    }
    keys.sort();
    keys.dedup();
    vec![name(obj), json::str(obj, &["type"]).into(), (keys.len() as i64).into(), age(obj, now)]
}

pub(super) fn service_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Type", "string", docs::SVC_SPEC_TYPE),
        col("Cluster-IP", "string", docs::SVC_SPEC_CLUSTER_IP),
        col("External-IP", "string", docs::SVC_SPEC_EXTERNAL_IPS),
        col("Port(s)", "string", docs::SVC_SPEC_PORTS),
        age_col(),
        wide(col("Selector", "string", docs::SVC_SPEC_SELECTOR)),
    ]
}

pub(super) fn service_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Internal ClusterIPs[0] comes from clusterIP when set (conversion treats it as authoritative).
    let cluster_ip = match json::str(obj, &["spec", "clusterIP"]) {
        "" => json::arr(obj, &["spec", "clusterIPs"]).first().and_then(Value::as_str).unwrap_or("<none>"),
        ip => ip,
    };
    let ports: Vec<String> = json::arr(obj, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = json::int(p, &["port"]);
            let protocol = match json::str(p, &["protocol"]) {
                "" => "TCP", // the defaulted value; stored services always carry it
                proto => proto,
            };
            match json::int(p, &["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() { "<none>".to_string() } else { ports.join(",") };
    vec![
        name(obj),
        json::str(obj, &["spec", "type"]).into(),
        cluster_ip.into(),
        service_external_ip(obj).into(),
        ports.into(),
        age(obj, now),
        format_labels(&json::string_map(obj, &["spec", "selector"])).into(),
    ]
}

/// `getServiceExternalIP` in its wide form (the server always prints wide, so load-balancer lists are not clipped).
fn service_external_ip(obj: &Value) -> String {
    let external: Vec<&str> = json::arr(obj, &["spec", "externalIPs"]).iter().filter_map(Value::as_str).collect();
    match json::str(obj, &["spec", "type"]) {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let mut lb = super::format::load_balancer_ingress(obj);
            lb.extend(external);
            if lb.is_empty() {
                "<pending>".to_string()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => json::str(obj, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

pub(super) fn endpoints_columns() -> Vec<Column> {
    vec![name_col(), col("Endpoints", "string", docs::ENDPOINTS_SUBSETS), age_col()]
}

pub(super) fn endpoints_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), format_endpoints(obj).into(), age(obj, now)]
}

/// `formatEndpoints`: up to three `ip:port` (or bare IPs for port-less subsets), then ` + N more...`.
fn format_endpoints(obj: &Value) -> String {
    let subsets = json::arr(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = json::arr(ss, &["addresses"]);
        let ports = json::arr(ss, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(json::str(a, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(json::str(a, &["ip"]), json::int(port, &["port"])));
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

/// `net.JoinHostPort`: IPv6 addresses get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(super) fn service_account_columns() -> Vec<Column> {
    vec![name_col(), col("Secrets", "string", docs::SA_SECRETS), age_col()]
}

pub(super) fn service_account_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let secrets = json::arr(obj, &["secrets"]).len() as i64;
    vec![name(obj), secrets.into(), age(obj, now)]
}

pub(super) fn node_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        age_col(),
        col("Version", "string", docs::NODE_INFO_KUBELET_VERSION),
        wide(col("Internal-IP", "string", docs::NODE_STATUS_ADDRESSES)),
        wide(col("External-IP", "string", docs::NODE_STATUS_ADDRESSES)),
        wide(col("OS-Image", "string", docs::NODE_INFO_OS_IMAGE)),
        wide(col("Kernel-Version", "string", docs::NODE_INFO_KERNEL_VERSION)),
        wide(col("Container-Runtime", "string", docs::NODE_INFO_CONTAINER_RUNTIME)),
    ]
}

pub(super) fn node_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Only the Ready condition feeds STATUS; the last one of that type wins, as in upstream's map.
    let ready = json::arr(obj, &["status", "conditions"]).iter().rfind(|c| json::str(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if json::str(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if json::bool(obj, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = json::string_map(obj, &["metadata", "labels"])
        .into_iter()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) if !role.is_empty() => Some(role),
            Some(_) => None,
            None if k == "kubernetes.io/role" && !v.is_empty() => Some(v),
            None => None,
        })
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let roles = if roles.is_empty() { "<none>".to_string() } else { roles.join(",") };
    let address = |kind: &str| {
        json::arr(obj, &["status", "addresses"])
            .iter()
            .find(|a| json::str(a, &["type"]) == kind)
            .map_or("<none>", |a| json::str(a, &["address"]))
            .to_string()
    };
    let info = |field: &str| match json::str(obj, &["status", "nodeInfo", field]) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        name(obj),
        status.join(",").into(),
        roles.into(),
        age(obj, now),
        json::str(obj, &["status", "nodeInfo", "kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ]
}

/// The beta annotation that still overrides `storageClassName` (`helper.GetPersistentVolume(Claim)Class`).
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

fn storage_class(obj: &Value) -> &str {
    json::opt_str(obj, &["metadata", "annotations", BETA_STORAGE_CLASS_ANNOTATION])
        .unwrap_or_else(|| json::str(obj, &["spec", "storageClassName"]))
}

fn storage_quantity(obj: &Value, path: &[&str]) -> String {
    // A missing quantity is Go's zero Quantity, which prints "0".
    json::opt_str(obj, path).map_or_else(|| "0".to_string(), quantity::canonical)
}

pub(super) fn persistent_volume_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Capacity", "string", docs::PV_SPEC_CAPACITY),
        col("Access Modes", "string", docs::PV_SPEC_ACCESS_MODES),
        col("Reclaim Policy", "string", docs::PV_SPEC_RECLAIM_POLICY),
        col("Status", "string", docs::PV_STATUS_PHASE),
        col("Claim", "string", docs::PV_SPEC_CLAIM_REF),
        col("StorageClass", "string", "StorageClass of the pv"),
        col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
        col("Reason", "string", docs::PV_STATUS_REASON),
        age_col(),
        wide(col("VolumeMode", "string", docs::PV_SPEC_VOLUME_MODE)),
    ]
}

pub(super) fn persistent_volume_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match json::get(obj, &["spec", "claimRef"]).filter(|c| c.is_object()) {
        Some(c) => format!("{}/{}", json::str(c, &["namespace"]), json::str(c, &["name"])),
        None => String::new(),
    };
    let phase = if json::deleting(obj) { "Terminating" } else { json::str(obj, &["status", "phase"]) };
    vec![
        name(obj),
        storage_quantity(obj, &["spec", "capacity", "storage"]).into(),
        access_modes(json::arr(obj, &["spec", "accessModes"])).into(),
        json::str(obj, &["spec", "persistentVolumeReclaimPolicy"]).into(),
        phase.into(),
        claim.into(),
        storage_class(obj).into(),
        json::opt_str(obj, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>").into(),
        json::str(obj, &["status", "reason"]).into(),
        age(obj, now),
        json::opt_str(obj, &["spec", "volumeMode"]).unwrap_or("<unset>").into(),
    ]
}

pub(super) fn persistent_volume_claim_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", docs::PVC_STATUS_PHASE),
        col("Volume", "string", docs::PVC_SPEC_VOLUME_NAME),
        col("Capacity", "string", docs::PVC_STATUS_CAPACITY),
        col("Access Modes", "string", docs::PVC_STATUS_ACCESS_MODES),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
        age_col(),
        wide(col("VolumeMode", "string", docs::PVC_SPEC_VOLUME_MODE)),
    ]
}

pub(super) fn persistent_volume_claim_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = if json::deleting(obj) { "Terminating" } else { json::str(obj, &["status", "phase"]) };
    let volume = json::str(obj, &["spec", "volumeName"]);
    // Capacity and access modes only show once the claim is bound to a volume.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            storage_quantity(obj, &["status", "capacity", "storage"]),
            access_modes(json::arr(obj, &["status", "accessModes"])),
        )
    };
    vec![
        name(obj),
        phase.into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class(obj).into(),
        json::opt_str(obj, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>").into(),
        age(obj, now),
        json::opt_str(obj, &["spec", "volumeMode"]).unwrap_or("<unset>").into(),
    ]
}

pub(super) fn resource_quota_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        col(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
        age_col(),
    ]
}

pub(super) fn resource_quota_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut resources: Vec<&String> =
        json::map(obj, &["status", "hard"]).map(|m| m.keys().collect()).unwrap_or_default();
    resources.sort();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for r in resources {
        let used = storage_quantity(obj, &["status", "used", r]);
        let hard = storage_quantity(obj, &["status", "hard", r]);
        let text = format!("{r}: {used}/{hard}");
        // Resources named "limits.*" go to the LIMIT column, everything else to REQUEST.
        if r.split('.').next() == Some("limits") && r.contains('.') {
            limits.push(text);
        } else {
            requests.push(text);
        }
    }
    vec![name(obj), requests.join(", ").into(), limits.join(", ").into(), age(obj, now)]
}

pub(super) fn component_status_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", "Status of the component conditions"),
        col("Message", "string", "Message of the component conditions"),
        col("Error", "string", "Error of the component conditions"),
    ]
}

pub(super) fn component_status_row(obj: &Value) -> Vec<Value> {
    let healthy = json::arr(obj, &["conditions"]).iter().find(|c| json::str(c, &["type"]) == "Healthy");
    let (status, message, error) = match healthy {
        Some(c) => (
            if json::str(c, &["status"]) == "True" { "Healthy" } else { "Unhealthy" },
            json::str(c, &["message"]),
            json::str(c, &["error"]),
        ),
        None => ("Unknown", "", ""),
    };
    vec![name(obj), status.into(), message.into(), error.into()]
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
