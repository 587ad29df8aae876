//! Per-kind create/update preparation that upstream's registry "strategies" do before validation: resetting
//! status on create, keeping status on spec updates and spec on status updates, and bumping `generation`.

use crate::registry::Resource;
use serde_json::{json, Map, Value};

fn has_status_subresource(r: &Resource) -> bool {
    r.subresource("status").is_some()
}

/// On create: clients cannot set status through the main resource; a few kinds start with a status.
pub fn prepare_for_create(r: &Resource, obj: &mut Value) {
    if r.tracks_generation {
        obj["metadata"]["generation"] = json!(1);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("generation");
    }
    match (r.group, r.kind) {
        ("", "Pod") => {
            let qos = qos_class(obj);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        ("", "Namespace") => obj["status"] = json!({"phase": "Active"}),
        ("", "Service") => obj["status"] = json!({"loadBalancer": {}}),
        ("", "PersistentVolume") => obj["status"] = json!({"phase": "Pending"}),
        ("", "PersistentVolumeClaim") => obj["status"] = json!({"phase": "Pending"}),
        ("", "Node") => {}
        // Go serializes these status structs' non-omitempty counters even when zero.
        ("apps", "ReplicaSet") => obj["status"] = json!({"replicas": 0}),
        ("apps", "StatefulSet") => obj["status"] = json!({"replicas": 0, "availableReplicas": 0}),
        ("apps", "DaemonSet") => {
            obj["status"] = json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0})
        }
        _ if has_status_subresource(r) => obj["status"] = json!({}),
        _ => {}
    }
}

/// Fields Go always serializes although they hold zero values (non-pointer structs ignore `omitempty`), so that
/// objects read back exactly as from a real cluster: `resources: {}` on containers, `creationTimestamp: null`
/// in pod templates.
pub fn go_zero_values(r: &Resource, obj: &mut Value) {
    let template_paths: &[&str] = match (r.group, r.kind) {
        ("", "Pod") => {
            pod_spec_zero_values(obj.get_mut("spec"));
            &[]
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") | ("batch", "Job") => &["/spec/template"],
        ("batch", "CronJob") => &["/spec/jobTemplate", "/spec/jobTemplate/spec/template"],
        _ => &[],
    };
    for path in template_paths {
        if let Some(t) = obj.pointer_mut(path).and_then(Value::as_object_mut) {
            let meta = t.entry("metadata").or_insert_with(|| json!({}));
            if let Some(m) = meta.as_object_mut() {
                m.entry("creationTimestamp").or_insert(Value::Null);
            }
            if path.ends_with("/template") {
                pod_spec_zero_values(t.get_mut("spec"));
            }
        }
    }
}

fn pod_spec_zero_values(spec: Option<&mut Value>) {
    let Some(spec) = spec else { return };
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                c.entry("resources").or_insert_with(|| json!({}));
            }
        }
    }
}

/// On an update of the main resource: status is kept from the stored object; spec changes bump generation.
pub fn prepare_for_update(r: &Resource, obj: &mut Value, old: &Value) {
    if has_status_subresource(r) && r.kind != "Node" {
        match old.get("status") {
            Some(s) => obj["status"] = s.clone(),
            None => {
                if let Some(o) = obj.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    if r.kind == "Namespace" {
        // Only the `finalize` subresource may change a namespace's finalizers.
        match old.pointer("/spec/finalizers") {
            Some(f) => obj["spec"]["finalizers"] = f.clone(),
            None => {
                if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("finalizers");
                }
            }
        }
    }
    bump_generation(r, obj, old);
}

/// On a status update: only status (and, as upstream allows, labels/annotations) may change.
pub fn prepare_for_status_update(r: &Resource, obj: &mut Value, old: &Value) {
    let status = obj.get("status").cloned();
    let labels = obj.pointer("/metadata/labels").cloned();
    let annotations = obj.pointer("/metadata/annotations").cloned();
    let mut new = old.clone();
    match status {
        Some(s) => new["status"] = s,
        None => {
            if let Some(o) = new.as_object_mut() {
                o.remove("status");
            }
        }
    }
    if let Some(m) = new["metadata"].as_object_mut() {
        set_or_remove(m, "labels", labels);
        set_or_remove(m, "annotations", annotations);
    }
    if let (Some(rv), Some(m)) = (obj.pointer("/metadata/resourceVersion").cloned(), new["metadata"].as_object_mut()) {
        m.insert("resourceVersion".into(), rv);
    }
    let _ = r;
    *obj = new;
}

fn set_or_remove(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    match v {
        Some(v) => m.insert(k.into(), v),
        None => m.remove(k),
    };
}

fn bump_generation(r: &Resource, obj: &mut Value, old: &Value) {
    if !r.tracks_generation {
        return;
    }
    let old_gen = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let changed = obj.get("spec") != old.get("spec");
    obj["metadata"]["generation"] = json!(if changed { old_gen + 1 } else { old_gen });
}

/// Upstream's `GetPodQOS`: Guaranteed when every container sets equal cpu and memory requests and limits,
/// BestEffort when none sets any, Burstable otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    let spec = &pod["spec"];
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        let relevant = |m: Option<&Map<String, Value>>| {
            m.map(|m| m.keys().filter(|k| *k == "cpu" || *k == "memory").count()).unwrap_or(0)
        };
        if relevant(req) > 0 || relevant(lim) > 0 {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|m| m.get(res));
            // Requests default to limits when unset.
            let q = req.and_then(|m| m.get(res)).or(l);
            match (l, q) {
                (Some(l), Some(q)) if same_quantity(l, q) => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed && !containers.is_empty() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn same_quantity(a: &Value, b: &Value) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => match (crate::validation::parse_quantity(x), crate::validation::parse_quantity(y)) {
            (Ok(p), Ok(q)) => p == q,
            _ => x == y,
        },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        let pod = |res: Value| json!({"spec": {"containers": [{"name": "a", "resources": res}]}});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))), "Guaranteed");
        assert_eq!(
            qos_class(&pod(
                json!({"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}})
            )),
            "Burstable"
        );
    }

    #[test]
    fn spec_change_bumps_generation_status_change_does_not() {
        let deploy = crate::registry::find("apps", "v1", "deployments").unwrap();
        let old = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut new = json!({"metadata": {}, "spec": {"replicas": 2}, "status": {"replicas": 9}});
        prepare_for_update(deploy, &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 4);
        assert_eq!(new["status"]["replicas"], 1);
        let mut same = json!({"metadata": {}, "spec": {"replicas": 1}});
        prepare_for_update(deploy, &mut same, &old);
        assert_eq!(same["metadata"]["generation"], 3);
    }
}
