//! Printers for the remaining groups: leases, endpoint slices, networking, RBAC bindings, storage classes,
//! scheduling and node classes, disruption budgets, autoscalers and admission webhooks.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::format::{format_label_selector, list_with_more};
use super::human::since;
use super::quantity;
use super::{age_col, col, docs, json, name_col, wide, Column};

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    since(json::time(obj, &["metadata", "creationTimestamp"]), now).into()
}

fn name(obj: &Value) -> Value {
    json::name(obj).into()
}

pub(super) fn lease_columns() -> Vec<Column> {
    vec![name_col(), col("Holder", "string", docs::LEASE_SPEC_HOLDER_IDENTITY), age_col()]
}

pub(super) fn lease_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json::str(obj, &["spec", "holderIdentity"]).into(), age(obj, now)]
}

pub(super) fn endpoint_slice_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("AddressType", "string", docs::ENDPOINTSLICE_ADDRESS_TYPE),
        col("Ports", "string", docs::ENDPOINTSLICE_PORTS),
        col("Endpoints", "string", docs::ENDPOINTSLICE_ENDPOINTS),
        age_col(),
    ]
}

pub(super) fn endpoint_slice_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // formatDiscoveryPorts: the port number, else its name, else "*" (all ports).
    let ports: Vec<String> = json::arr(obj, &["ports"])
        .iter()
        .map(|p| match (json::opt_int(p, &["port"]), json::opt_str(p, &["name"])) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let addresses: Vec<String> = json::arr(obj, &["endpoints"])
        .iter()
        .flat_map(|e| json::arr(e, &["addresses"]))
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    vec![
        name(obj),
        json::str(obj, &["addressType"]).into(),
        list_with_more(&ports, ports.len(), 3).into(),
        list_with_more(&addresses, addresses.len(), 3).into(),
        age(obj, now),
    ]
}

pub(super) fn ingress_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
        col("Ports", "string", "Ports of TLS configurations that open"),
        age_col(),
    ]
}

pub(super) fn ingress_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let rules = json::arr(obj, &["spec", "rules"]);
    // formatHosts: the first three non-empty hosts; once three are listed, the rest are counted as "more".
    let (mut hosts, mut more) = (Vec::new(), false);
    for rule in rules {
        if hosts.len() == 3 {
            more = true;
        }
        let host = json::str(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = match (hosts.is_empty(), more) {
        (true, _) => "*".to_string(),
        (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - 3),
        (false, false) => hosts.join(","),
    };
    // The server prints wide, so the address list is never clipped.
    let address = super::format::load_balancer_ingress(obj);
    let ports = if json::arr(obj, &["spec", "tls"]).is_empty() { "80" } else { "80, 443" };
    vec![
        name(obj),
        json::opt_str(obj, &["spec", "ingressClassName"]).unwrap_or("<none>").into(),
        hosts.into(),
        address.join(",").into(),
        ports.into(),
        age(obj, now),
    ]
}

pub(super) fn ingress_class_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Controller", "string", "Controller that is responsible for handling this class"),
        col("Parameters", "string", "A reference to a resource with additional parameters"),
        age_col(),
    ]
}

pub(super) fn ingress_class_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parameters = match json::get(obj, &["spec", "parameters"]).filter(|p| p.is_object()) {
        None => "<none>".to_string(),
        Some(p) => {
            let kind = match json::opt_str(p, &["apiGroup"]) {
                Some(group) => format!("{}.{group}", json::str(p, &["kind"])),
                None => json::str(p, &["kind"]).to_string(),
            };
            format!("{kind}/{}", json::str(p, &["name"]))
        }
    };
    vec![name(obj), json::str(obj, &["spec", "controller"]).into(), parameters.into(), age(obj, now)]
}

pub(super) fn network_policy_columns() -> Vec<Column> {
    vec![name_col(), col("Pod-Selector", "string", docs::NETPOL_SPEC_POD_SELECTOR), age_col()]
}

pub(super) fn network_policy_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let selector = format_label_selector(json::get(obj, &["spec", "podSelector"]));
    vec![name(obj), selector.into(), age(obj, now)]
}

pub(super) fn role_binding_columns(cluster: bool) -> Vec<Column> {
    let (role, users, groups, sas) = if cluster {
        (
            docs::CLUSTERROLEBINDING_ROLE_REF,
            "Users in the clusterRoleBinding",
            "Groups in the clusterRoleBinding",
            "ServiceAccounts in the clusterRoleBinding",
        )
    } else {
        (
            docs::ROLEBINDING_ROLE_REF,
            "Users in the roleBinding",
            "Groups in the roleBinding",
            "ServiceAccounts in the roleBinding",
        )
    };
    vec![
        name_col(),
        col("Role", "string", role),
        age_col(),
        wide(col("Users", "string", users)),
        wide(col("Groups", "string", groups)),
        wide(col("ServiceAccounts", "string", sas)),
    ]
}

pub(super) fn role_binding_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!("{}/{}", json::str(obj, &["roleRef", "kind"]), json::str(obj, &["roleRef", "name"]));
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in json::arr(obj, &["subjects"]) {
        let subject_name = json::str(s, &["name"]);
        match json::str(s, &["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{subject_name}", json::str(s, &["namespace"]))),
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            _ => {}
        }
    }
    vec![
        name(obj),
        role.into(),
        age(obj, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        sas.join(", ").into(),
    ]
}

pub(super) fn storage_class_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Provisioner", "string", docs::STORAGECLASS_PROVISIONER),
        col("ReclaimPolicy", "string", docs::STORAGECLASS_RECLAIM_POLICY),
        col("VolumeBindingMode", "string", docs::STORAGECLASS_VOLUME_BINDING_MODE),
        col("AllowVolumeExpansion", "string", docs::STORAGECLASS_ALLOW_VOLUME_EXPANSION),
        age_col(),
    ]
}

pub(super) fn storage_class_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let annotation = |key: &str| json::str(obj, &["metadata", "annotations", key]) == "true";
    let is_default = annotation("storageclass.kubernetes.io/is-default-class")
        || annotation("storageclass.beta.kubernetes.io/is-default-class");
    let mut class_name = json::name(obj).to_string();
    if is_default {
        class_name.push_str(" (default)");
    }
    vec![
        class_name.into(),
        json::str(obj, &["provisioner"]).into(),
        json::opt_str(obj, &["reclaimPolicy"]).unwrap_or("Delete").into(),
        json::opt_str(obj, &["volumeBindingMode"]).unwrap_or("Immediate").into(),
        json::bool(obj, &["allowVolumeExpansion"]).into(),
        age(obj, now),
    ]
}

pub(super) fn priority_class_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Value", "integer", docs::PRIORITYCLASS_VALUE),
        col("Global-Default", "boolean", docs::PRIORITYCLASS_GLOBAL_DEFAULT),
        age_col(),
        // Upstream only fills this cell for wide output but declares the column at priority 0.
        col("PreemptionPolicy", "string", docs::PRIORITYCLASS_PREEMPTION_POLICY),
    ]
}

pub(super) fn priority_class_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        json::int(obj, &["value"]).into(),
        json::bool(obj, &["globalDefault"]).into(),
        age(obj, now),
        json::str(obj, &["preemptionPolicy"]).into(),
    ]
}

pub(super) fn runtime_class_columns() -> Vec<Column> {
    vec![
        name_col(),
        // Upstream looks this text up under a key ObjectMeta does not have, so it is empty.
        col("Handler", "string", ""),
        age_col(),
    ]
}

pub(super) fn runtime_class_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json::str(obj, &["handler"]).into(), age(obj, now)]
}

pub(super) fn pod_disruption_budget_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Min Available", "string", "The minimum number of pods that must be available."),
        col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
        col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
        age_col(),
    ]
}

/// An IntOrString as `String()` prints it; `N/A` when unset.
fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "N/A".to_string(),
    }
}

pub(super) fn pod_disruption_budget_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        int_or_string(json::get(obj, &["spec", "minAvailable"])).into(),
        int_or_string(json::get(obj, &["spec", "maxUnavailable"])).into(),
        json::int(obj, &["status", "disruptionsAllowed"]).into(),
        age(obj, now),
    ]
}

pub(super) fn hpa_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Reference", "string", docs::HPA_SPEC_SCALE_TARGET_REF),
        col("Targets", "string", docs::HPA_SPEC_METRICS),
        col("MinPods", "string", docs::HPA_SPEC_MIN_REPLICAS),
        col("MaxPods", "string", docs::HPA_SPEC_MAX_REPLICAS),
        col("Replicas", "string", docs::HPA_STATUS_CURRENT_REPLICAS),
        age_col(),
    ]
}

pub(super) fn hpa_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        json::str(obj, &["spec", "scaleTargetRef", "kind"]),
        json::str(obj, &["spec", "scaleTargetRef", "name"])
    );
    let min_pods =
        json::opt_int(obj, &["spec", "minReplicas"]).map_or_else(|| "<unset>".to_string(), |n| n.to_string());
    vec![
        name(obj),
        reference.into(),
        hpa_metrics(obj).into(),
        min_pods.into(),
        json::int(obj, &["spec", "maxReplicas"]).into(),
        json::int(obj, &["status", "currentReplicas"]).into(),
        age(obj, now),
    ]
}

/// `formatHPAMetrics` over autoscaling/v2 JSON (and the v1 CPU-percentage shorthand): `current/target` per metric,
/// at most two, then ` + N more...`.
fn hpa_metrics(obj: &Value) -> String {
    let specs = json::arr(obj, &["spec", "metrics"]);
    if specs.is_empty() {
        // autoscaling/v1 shape: one CPU utilization target.
        return match json::opt_int(obj, &["spec", "targetCPUUtilizationPercentage"]) {
            Some(target) => {
                let current = json::opt_int(obj, &["status", "currentCPUUtilizationPercentage"])
                    .map_or_else(|| "<unknown>".to_string(), |c| format!("{c}%"));
                format!("cpu: {current}/{target}%")
            }
            None => "<none>".to_string(),
        };
    }
    let statuses = json::arr(obj, &["status", "currentMetrics"]);
    let q = |v: &Value, path: &[&str]| json::opt_str(v, path).map(quantity::canonical);
    let unknown = || "<unknown>".to_string();
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let status = statuses.get(i).unwrap_or(&Value::Null);
            let kind = json::str(spec, &["type"]);
            let key = match kind {
                "External" => "external",
                "Pods" => "pods",
                "Object" => "object",
                "Resource" => "resource",
                "ContainerResource" => "containerResource",
                _ => return "<unknown type>".to_string(),
            };
            let target = json::get(spec, &[key, "target"]).unwrap_or(&Value::Null);
            // Go pairs specs and statuses by index and only checks that the status has the same metric source.
            let current = json::get(status, &[key, "current"]);
            match kind {
                "Pods" => format!(
                    "{}/{}",
                    current.and_then(|c| q(c, &["averageValue"])).unwrap_or_else(unknown),
                    q(target, &["averageValue"]).unwrap_or_else(|| "<nil>".into())
                ),
                "External" | "Object" => match q(target, &["averageValue"]) {
                    Some(avg) => {
                        format!("{}/{avg} (avg)", current.and_then(|c| q(c, &["averageValue"])).unwrap_or_else(unknown))
                    }
                    None => format!(
                        "{}/{}",
                        current.and_then(|c| q(c, &["value"])).unwrap_or_else(unknown),
                        q(target, &["value"]).unwrap_or_else(|| "<nil>".into())
                    ),
                },
                _ => {
                    let resource = json::str(spec, &[key, "name"]);
                    match q(target, &["averageValue"]) {
                        Some(avg) => format!(
                            "{resource}: {}/{avg}",
                            current.and_then(|c| q(c, &["averageValue"])).unwrap_or_else(unknown)
                        ),
                        None => {
                            let pct = |v: Option<i64>| v.map(|n| format!("{n}%"));
                            let cur = pct(current.and_then(|c| json::opt_int(c, &["averageUtilization"])));
                            let tgt = pct(json::opt_int(target, &["averageUtilization"]));
                            format!(
                                "{resource}: {}/{}",
                                cur.unwrap_or_else(unknown),
                                tgt.unwrap_or_else(|| "<auto>".into())
                            )
                        }
                    }
                }
            }
        })
        .collect();
    if list.len() > 2 {
        format!("{} + {} more...", list[..2].join(", "), list.len() - 2)
    } else {
        list.join(", ")
    }
}

pub(super) fn webhook_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
        age_col(),
    ]
}

pub(super) fn webhook_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let count = json::arr(obj, &["webhooks"]).len() as i64;
    vec![name(obj), count.into(), age(obj, now)]
}

#[cfg(test)]
#[path = "other_tests.rs"]
mod tests;
