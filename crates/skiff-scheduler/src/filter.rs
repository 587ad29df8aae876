//! Filters and scoring for the plugins skiff implements (NodeUnschedulable, NodeAffinity/nodeSelector,
//! TaintToleration, NodePorts, NodeResourcesFit; LeastAllocated scoring), and upstream's FailedScheduling text.

use crate::resources::Requests;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Why one node was rejected. `resolvable` says whether preemption could help (upstream's `Unschedulable`) or
/// not (`UnschedulableAndUnresolvable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reasons: Vec<String>,
    pub resolvable: bool,
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default()
}

fn tolerates(pod: &Value, taint: &Value) -> bool {
    let (key, value, effect) = (
        taint["key"].as_str().unwrap_or(""),
        taint["value"].as_str().unwrap_or(""),
        taint["effect"].as_str().unwrap_or(""),
    );
    pod.pointer("/spec/tolerations").and_then(Value::as_array).into_iter().flatten().any(|t| {
        let t_effect = t["effect"].as_str().unwrap_or("");
        let t_key = t["key"].as_str().unwrap_or("");
        let op = t["operator"].as_str().unwrap_or("Equal");
        (t_effect.is_empty() || t_effect == effect)
            && (t_key.is_empty() && op == "Exists" || t_key == key)
            && match op {
                "Exists" => true,
                _ => t["value"].as_str().unwrap_or("") == value,
            }
    })
}

fn expression_matches(expr: &Value, get: &dyn Fn(&str) -> Option<String>) -> bool {
    let key = expr["key"].as_str().unwrap_or("");
    let values: Vec<&str> = expr["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let actual = get(key);
    match expr["operator"].as_str().unwrap_or("") {
        "In" => actual.is_some_and(|a| values.contains(&a.as_str())),
        "NotIn" => actual.is_none_or(|a| !values.contains(&a.as_str())),
        "Exists" => actual.is_some(),
        "DoesNotExist" => actual.is_none(),
        "Gt" | "Lt" => {
            let (Some(a), Some(v)) =
                (actual.and_then(|a| a.parse::<i64>().ok()), values.first().and_then(|v| v.parse::<i64>().ok()))
            else {
                return false;
            };
            if expr["operator"] == "Gt" {
                a > v
            } else {
                a < v
            }
        }
        _ => false,
    }
}

/// `spec.nodeSelector` and required node affinity.
fn node_matches(pod: &Value, node: &Value) -> bool {
    let node_labels = labels(node);
    let selector_ok = pod
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .is_none_or(|sel| sel.iter().all(|(k, v)| node_labels.get(k).map(String::as_str) == v.as_str()));
    let terms =
        pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");
    let affinity_ok = match terms.and_then(Value::as_array) {
        None => true,
        // Terms are ORed; expressions within a term are ANDed.
        Some(terms) => terms.iter().any(|t| {
            let by_label = |k: &str| node_labels.get(k).cloned();
            let by_field = |k: &str| match k {
                "metadata.name" => node.pointer("/metadata/name").and_then(Value::as_str).map(String::from),
                _ => None,
            };
            let exprs = t["matchExpressions"].as_array().cloned().unwrap_or_default();
            let fields = t["matchFields"].as_array().cloned().unwrap_or_default();
            (!exprs.is_empty() || !fields.is_empty())
                && exprs.iter().all(|e| expression_matches(e, &by_label))
                && fields.iter().all(|e| expression_matches(e, &by_field))
        }),
    };
    selector_ok && affinity_ok
}

fn host_ports(pod: &Value) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for key in ["containers", "initContainers"] {
        for c in pod.pointer(&format!("/spec/{key}")).and_then(Value::as_array).into_iter().flatten() {
            for p in c["ports"].as_array().into_iter().flatten() {
                if let Some(hp) = p["hostPort"].as_i64().filter(|h| *h > 0) {
                    out.push((p["protocol"].as_str().unwrap_or("TCP").to_string(), hp));
                }
            }
        }
    }
    out
}

/// Checks one node; `Err` with the reasons it does not fit.
pub fn check(pod: &Value, node: &Value, used: Option<&(Requests, Vec<Value>)>) -> Result<(), Failure> {
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true)
        && !tolerates(pod, &serde_json::json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}))
    {
        return Err(Failure { reasons: vec!["node(s) were unschedulable".into()], resolvable: false });
    }
    if !node_matches(pod, node) {
        return Err(Failure {
            reasons: vec!["node(s) didn't match Pod's node affinity/selector".into()],
            resolvable: false,
        });
    }
    for taint in node.pointer("/spec/taints").and_then(Value::as_array).into_iter().flatten() {
        let effect = taint["effect"].as_str().unwrap_or("");
        if (effect == "NoSchedule" || effect == "NoExecute") && !tolerates(pod, taint) {
            let reason = format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint["key"].as_str().unwrap_or(""),
                taint["value"].as_str().unwrap_or("")
            );
            return Err(Failure { reasons: vec![reason], resolvable: false });
        }
    }
    let wanted_ports = host_ports(pod);
    if !wanted_ports.is_empty() {
        let taken: Vec<(String, i64)> =
            used.map(|(_, pods)| pods.iter().flat_map(host_ports).collect()).unwrap_or_default();
        if wanted_ports.iter().any(|p| taken.contains(p)) {
            return Err(Failure {
                reasons: vec!["node(s) didn't have free ports for the requested pod ports".into()],
                resolvable: true,
            });
        }
    }
    let alloc = Requests::allocatable(node);
    let req = Requests::of_pod(pod);
    let in_use = used.map(|u| u.0).unwrap_or_default();
    let mut reasons = Vec::new();
    if in_use.pods + 1.0 > alloc.pods {
        reasons.push("Too many pods".to_string());
    }
    if req.cpu_milli > 0.0 && in_use.cpu_milli + req.cpu_milli > alloc.cpu_milli {
        reasons.push("Insufficient cpu".to_string());
    }
    if req.memory > 0.0 && in_use.memory + req.memory > alloc.memory {
        reasons.push("Insufficient memory".to_string());
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Failure { reasons, resolvable: true })
    }
}

/// LeastAllocated: the share of cpu and memory left free after placing the pod, averaged (0–100).
fn score(pod: &Value, node: &Value, used: Option<&(Requests, Vec<Value>)>) -> f64 {
    let alloc = Requests::allocatable(node);
    let mut after = used.map(|u| u.0).unwrap_or_default();
    after.add(&Requests::of_pod(pod));
    let free = |a: f64, u: f64| if a <= 0.0 { 0.0 } else { ((a - u) / a).max(0.0) * 100.0 };
    (free(alloc.cpu_milli, after.cpu_milli) + free(alloc.memory, after.memory)) / 2.0
}

/// The best node for `pod`, or why none fits (one failure per rejected node).
pub fn place(
    pod: &Value,
    nodes: &[Value],
    used: &HashMap<String, (Requests, Vec<Value>)>,
) -> Result<String, Vec<Failure>> {
    let mut best: Option<(f64, String)> = None;
    let mut failures = Vec::new();
    for node in nodes {
        let name = node.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let u = used.get(&name);
        match check(pod, node, u) {
            Ok(()) => {
                let s = score(pod, node, u);
                // Ties go to the first name, so placement is deterministic.
                if best.as_ref().is_none_or(|(b, bn)| s > *b || (s == *b && name < *bn)) {
                    best = Some((s, name));
                }
            }
            Err(f) => failures.push(f),
        }
    }
    best.map(|(_, n)| n).ok_or(failures)
}

/// Counts reasons as upstream's `FitError` does: `1 Insufficient memory, 2 node(s) had untolerated taint {…}`,
/// sorted by text.
fn tally<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in items {
        *counts.entry(r).or_default() += 1;
    }
    counts.iter().map(|(r, n)| format!("{n} {r}")).collect::<Vec<_>>().join(", ")
}

/// Upstream's FailedScheduling message, including the preemption post-filter's part.
pub fn explain(total_nodes: usize, failures: &[Failure]) -> String {
    if total_nodes == 0 {
        return "no nodes available to schedule pods".to_string();
    }
    let reasons = tally(failures.iter().flat_map(|f| f.reasons.iter().map(String::as_str)));
    let preemption = tally(failures.iter().map(|f| {
        if f.resolvable {
            "No preemption victims found for incoming pod."
        } else {
            "Preemption is not helpful for scheduling."
        }
    }));
    // Upstream puts the final period after the last preemption reason only.
    let preemption = preemption.replace(".,", ",");
    format!(
        "0/{total_nodes} nodes are available: {reasons}. preemption: 0/{total_nodes} nodes are available: {preemption}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str, mem: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
               "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "110"}}})
    }

    fn pod(mem: &str) -> Value {
        json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"memory": mem}}}]}})
    }

    #[test]
    fn too_much_memory_reads_like_upstream() {
        let nodes = [node("n1", "2", "4Gi")];
        let err = place(&pod("64Gi"), &nodes, &HashMap::new()).unwrap_err();
        assert_eq!(
            explain(1, &err),
            "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
        assert_eq!(explain(0, &[]), "no nodes available to schedule pods");
    }

    #[test]
    fn mixed_reasons_are_counted_and_sorted() {
        let mut tainted = node("n2", "2", "4Gi");
        tainted["spec"] = json!({"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]});
        let mut tainted2 = tainted.clone();
        tainted2["metadata"]["name"] = json!("n3");
        let nodes = [node("n1", "2", "4Gi"), tainted, tainted2];
        let err = place(&pod("8Gi"), &nodes, &HashMap::new()).unwrap_err();
        assert_eq!(
            explain(3, &err),
            "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn selectors_tolerations_and_least_allocated() {
        let mut p = pod("1Gi");
        p["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname": "n2"});
        let nodes = [node("n1", "2", "4Gi"), node("n2", "2", "4Gi")];
        assert_eq!(place(&p, &nodes, &HashMap::new()).unwrap(), "n2");
        let mut used = HashMap::new();
        used.insert(
            "n1".to_string(),
            (Requests { cpu_milli: 1000.0, memory: 2.0 * 1024.0 * 1024.0 * 1024.0, pods: 1.0 }, vec![]),
        );
        assert_eq!(place(&pod("1Gi"), &nodes, &used).unwrap(), "n2", "the less loaded node wins");
        let mut tainted = node("n1", "2", "4Gi");
        tainted["spec"] = json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]});
        let mut tolerant = pod("1Gi");
        tolerant["spec"]["tolerations"] =
            json!([{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]);
        assert!(place(&tolerant, std::slice::from_ref(&tainted), &HashMap::new()).is_ok());
        assert!(place(&pod("1Gi"), std::slice::from_ref(&tainted), &HashMap::new()).is_err());
    }
}
