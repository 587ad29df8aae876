//! Pod and pod-template defaults: `SetDefaults_PodSpec`, `SetDefaults_Container`, probe / volume / port
//! defaults (core v1 defaults.go and the generated declarative defaults), `SetDefaults_Pod` for real pods,
//! and the pod admission plugins' effects (ServiceAccount name, Priority, DefaultTolerationSeconds).

use super::{
    default_resource_list, each_obj_mut, ensure_obj, obj_mut, set_default, set_default_nonzero, set_default_str,
};
use crate::validation::quantity::quantity_from_json;
use serde_json::{json, Map, Value};

/// Upstream `parsers.ParseImageName` reduced to what pull-policy defaulting needs: the tag, `latest` when
/// neither tag nor digest is given, and "" when the reference does not parse (e.g. upper-case names).
fn image_tag(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repo_last, tag) = match last.split_once(':') {
        Some((r, t)) => (r, Some(t)),
        None => (last, None),
    };
    let path = match name.rsplit_once('/') {
        Some((head, _)) => {
            // The first component is a registry host when it has a dot, colon or is localhost.
            let components: Vec<&str> = head.split('/').collect();
            let skip = usize::from(
                components.first().map(|c| c.contains('.') || c.contains(':') || *c == "localhost").unwrap_or(false),
            );
            let mut p: Vec<&str> = components[skip..].to_vec();
            p.push(repo_last);
            p.join("/")
        }
        None => repo_last.to_string(),
    };
    let valid = !image.is_empty()
        && !path.is_empty()
        && path.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c));
    if !valid {
        return String::new();
    }
    match (tag, digest) {
        (Some(t), _) => t.to_string(),
        (None, Some(_)) => String::new(),
        (None, None) => "latest".to_string(),
    }
}

fn default_http_get(h: Option<&mut Map<String, Value>>) {
    if let Some(h) = h {
        set_default_str(h, "path", "/");
        set_default_str(h, "scheme", "HTTP");
    }
}

fn default_probe(p: Option<&mut Map<String, Value>>) {
    let Some(p) = p else { return };
    set_default_nonzero(p, "timeoutSeconds", 1);
    set_default_nonzero(p, "periodSeconds", 10);
    set_default_nonzero(p, "successThreshold", 1);
    set_default_nonzero(p, "failureThreshold", 3);
    default_http_get(obj_mut(p, "httpGet"));
    if let Some(g) = obj_mut(p, "grpc") {
        set_default(g, "service", Value::from(""));
    }
}

fn default_field_ref(fr: Option<&mut Map<String, Value>>) {
    if let Some(fr) = fr {
        set_default_str(fr, "apiVersion", "v1");
    }
}

/// `SetDefaults_Container` and the declarative defaults of a container's nested fields.
fn default_container(c: &mut Map<String, Value>) {
    if super::absent_or_empty(c, "imagePullPolicy") {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let policy = if image_tag(image) == "latest" { "Always" } else { "IfNotPresent" };
        c.insert("imagePullPolicy".into(), Value::from(policy));
    }
    set_default_str(c, "terminationMessagePath", "/dev/termination-log");
    set_default_str(c, "terminationMessagePolicy", "File");
    for p in each_obj_mut(c, "ports") {
        set_default_str(p, "protocol", "TCP");
    }
    for e in each_obj_mut(c, "env") {
        if let Some(vf) = obj_mut(e, "valueFrom") {
            default_field_ref(obj_mut(vf, "fieldRef"));
        }
    }
    if let Some(r) = obj_mut(c, "resources") {
        default_resource_list(obj_mut(r, "limits"));
        default_resource_list(obj_mut(r, "requests"));
    }
    for k in ["livenessProbe", "readinessProbe", "startupProbe"] {
        default_probe(obj_mut(c, k));
    }
    if let Some(lc) = obj_mut(c, "lifecycle") {
        for k in ["postStart", "preStop"] {
            if let Some(h) = obj_mut(lc, k) {
                default_http_get(obj_mut(h, "httpGet"));
            }
        }
    }
}

fn default_downward_items(src: &mut Map<String, Value>) {
    for item in each_obj_mut(src, "items") {
        default_field_ref(obj_mut(item, "fieldRef"));
    }
}

/// `SetDefaults_Volume` and the per-source defaults.
fn default_volume(v: &mut Map<String, Value>) {
    let has_source = v.iter().any(|(k, val)| k != "name" && !val.is_null());
    if !has_source {
        v.insert("emptyDir".into(), json!({}));
    }
    if let Some(h) = obj_mut(v, "hostPath") {
        set_default(h, "type", Value::from(""));
    }
    for k in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = obj_mut(v, k) {
            set_default(s, "defaultMode", Value::from(420));
        }
    }
    if let Some(d) = obj_mut(v, "downwardAPI") {
        default_downward_items(d);
    }
    if let Some(p) = obj_mut(v, "projected") {
        for s in each_obj_mut(p, "sources") {
            if let Some(d) = obj_mut(s, "downwardAPI") {
                default_downward_items(d);
            }
            if let Some(t) = obj_mut(s, "serviceAccountToken") {
                set_default(t, "expirationSeconds", Value::from(3600));
            }
        }
    }
    if let Some(i) = obj_mut(v, "iscsi") {
        set_default_str(i, "iscsiInterface", "default");
    }
    if let Some(r) = obj_mut(v, "rbd") {
        set_default_str(r, "pool", "rbd");
        set_default_str(r, "user", "admin");
        set_default_str(r, "keyring", "/etc/ceph/keyring");
    }
    if let Some(a) = obj_mut(v, "azureDisk") {
        set_default(a, "cachingMode", Value::from("ReadWrite"));
        set_default(a, "fsType", Value::from("ext4"));
        set_default(a, "readOnly", Value::from(false));
        set_default(a, "kind", Value::from("Shared"));
    }
    if let Some(s) = obj_mut(v, "scaleIO") {
        set_default_str(s, "storageMode", "ThinProvisioned");
        set_default_str(s, "fsType", "xfs");
    }
    if let Some(e) = obj_mut(v, "ephemeral") {
        if let Some(t) = obj_mut(e, "volumeClaimTemplate") {
            if let Some(s) = obj_mut(t, "spec") {
                set_default(s, "volumeMode", Value::from("Filesystem"));
                if let Some(r) = obj_mut(s, "resources") {
                    default_resource_list(obj_mut(r, "requests"));
                    default_resource_list(obj_mut(r, "limits"));
                }
            }
        }
    }
    if let Some(img) = obj_mut(v, "image") {
        if super::absent_or_empty(img, "pullPolicy") {
            let r = img.get("reference").and_then(Value::as_str).unwrap_or("");
            let p = if image_tag(r) == "latest" { "Always" } else { "IfNotPresent" };
            img.insert("pullPolicy".into(), Value::from(p));
        }
    }
}

/// `SetDefaults_PodSpec` plus everything nested in a pod spec (shared by pods and templates).
pub(crate) fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default_str(spec, "dnsPolicy", "ClusterFirst");
    set_default_str(spec, "restartPolicy", "Always");
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "terminationGracePeriodSeconds", Value::from(30));
    set_default_str(spec, "schedulerName", "default-scheduler");
    for k in ["containers", "initContainers", "ephemeralContainers"] {
        for c in each_obj_mut(spec, k) {
            default_container(c);
        }
    }
    for v in each_obj_mut(spec, "volumes") {
        default_volume(v);
    }
    default_resource_list(obj_mut(spec, "overhead"));
    // v1 conversion: the deprecated `serviceAccount` mirrors `serviceAccountName`.
    if super::absent_or_empty(spec, "serviceAccountName") {
        if let Some(sa) = spec.get("serviceAccount").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            let sa = sa.to_string();
            spec.insert("serviceAccountName".into(), Value::from(sa));
        }
    }
    if let Some(sa) = spec.get("serviceAccountName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        let sa = sa.to_string();
        spec.insert("serviceAccount".into(), Value::from(sa));
    }
}

/// Defaults for a `PodTemplateSpec` (`{metadata, spec}`).
pub(crate) fn default_pod_template(tpl: &mut Value) {
    if let Some(t) = tpl.as_object_mut() {
        if let Some(spec) = ensure_obj(t, "spec") {
            default_pod_spec(spec);
        }
    }
}

fn requests_from_limits(c: &mut Map<String, Value>) {
    let Some(res) = obj_mut(c, "resources") else {
        return;
    };
    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    if let Some(req) = ensure_obj(res, "requests") {
        for (k, v) in limits {
            if !req.contains_key(&k) {
                req.insert(k, v);
            }
        }
    }
}

fn tolerates(tols: &[Value], key: &str) -> bool {
    tols.iter().any(|t| {
        let k = t.get("key").and_then(Value::as_str).unwrap_or("");
        let e = t.get("effect").and_then(Value::as_str).unwrap_or("");
        (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
    })
}

/// Upstream `qos.GetPodQOS` over a pod spec (requests already defaulted from limits).
pub fn pod_qos_class(spec: &Value) -> &'static str {
    let mut containers: Vec<Value> = Vec::new();
    for k in ["containers", "initContainers"] {
        if let Some(a) = spec.get(k).and_then(Value::as_array) {
            containers.extend(a.iter().cloned());
        }
    }
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let get = |section: &str, name: &str| {
            c.get("resources")
                .and_then(|r| r.get(section))
                .and_then(|s| s.get(name))
                .and_then(|v| quantity_from_json(v).ok())
                .filter(|q| !q.is_zero())
        };
        let mut limits_found = 0;
        for name in ["cpu", "memory"] {
            let (r, l) = (get("requests", name), get("limits", name));
            if r.is_some() || l.is_some() {
                any = true;
            }
            if let Some(l) = l {
                limits_found += 1;
                if let Some(r) = r {
                    if r.cmp_value(&l) != std::cmp::Ordering::Equal {
                        guaranteed = false;
                    }
                }
            } else if r.is_some() {
                guaranteed = false;
            }
        }
        if limits_found < 2 {
            guaranteed = false;
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Everything the API server fills in a Pod on create (defaults, admission, strategy).
pub(crate) fn default_pod(pod: &mut Value) {
    let Some(p) = pod.as_object_mut() else { return };
    let Some(spec) = ensure_obj(p, "spec") else {
        return;
    };
    default_pod_spec(spec);
    // SetDefaults_Pod: requests default to limits for (init) containers of real pods only.
    for k in ["containers", "initContainers"] {
        for c in each_obj_mut(spec, k) {
            requests_from_limits(c);
        }
    }
    set_default(spec, "enableServiceLinks", Value::from(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for k in ["containers", "initContainers"] {
            for c in each_obj_mut(spec, k) {
                for port in each_obj_mut(c, "ports") {
                    let cp = port.get("containerPort").cloned().unwrap_or(Value::from(0));
                    set_default_nonzero(port, "hostPort", cp.as_i64().unwrap_or(0));
                }
            }
        }
    }
    // ServiceAccount admission.
    if super::absent_or_empty(spec, "serviceAccountName") {
        spec.insert("serviceAccountName".into(), Value::from("default"));
        spec.insert("serviceAccount".into(), Value::from("default"));
    }
    // Priority admission (no cluster default class): built-in classes resolve, others stay unset.
    let priority = match spec.get("priorityClassName").and_then(Value::as_str).unwrap_or("") {
        "" => Some(0),
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    };
    if let Some(pr) = priority {
        set_default(spec, "priority", Value::from(pr));
        set_default(spec, "preemptionPolicy", Value::from("PreemptLowerPriority"));
    }
    // DefaultTolerationSeconds admission.
    let tols = spec.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut added = Vec::new();
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        if !tolerates(&tols, key) {
            added.push(json!({"effect": "NoExecute", "key": key, "operator": "Exists", "tolerationSeconds": 300}));
        }
    }
    if !added.is_empty() {
        let mut all = tols;
        all.extend(added);
        spec.insert("tolerations".into(), Value::Array(all));
    }
    let qos = pod_qos_class(&Value::Object(spec.clone()));
    // Pod strategy PrepareForCreate: a new pod is Pending with its QoS class computed.
    if let Some(status) = ensure_obj(p, "status") {
        set_default_str(status, "phase", "Pending");
        set_default_str(status, "qosClass", qos);
    }
}

/// The ServiceAccount admission plugin's token volume: a projected `kube-api-access-<suffix>` volume
/// mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount` in every container that does not
/// already mount something there. Skipped when `automountServiceAccountToken` is false on the pod. The caller
/// chooses `suffix` (upstream: 5 random lowercase alphanumerics) and calls this on create only.
pub fn add_service_account_token_volume(pod: &mut Value, suffix: &str) {
    const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("automountServiceAccountToken").and_then(Value::as_bool) == Some(false) {
        return;
    }
    let already = |c: &Value| {
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .map(|ms| ms.iter().any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH)))
            .unwrap_or(false)
    };
    let has_token_volume = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter().any(|v| {
                v.get("name").and_then(Value::as_str).map(|n| n.starts_with("kube-api-access-")).unwrap_or(false)
            })
        })
        .unwrap_or(false);
    if has_token_volume {
        return;
    }
    let name = format!("kube-api-access-{suffix}");
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}
            ]
        }
    });
    let mut mounted = false;
    for k in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(k).and_then(Value::as_array_mut) {
            for c in cs.iter_mut() {
                if already(c) {
                    continue;
                }
                if let Some(co) = c.as_object_mut() {
                    let mounts = co.entry("volumeMounts").or_insert_with(|| Value::Array(Vec::new()));
                    if let Some(ms) = mounts.as_array_mut() {
                        ms.push(json!({"mountPath": MOUNT_PATH, "name": name, "readOnly": true}));
                        mounted = true;
                    }
                }
            }
        }
    }
    if mounted {
        let vols = spec.entry("volumes").or_insert_with(|| Value::Array(Vec::new()));
        if let Some(vs) = vols.as_array_mut() {
            vs.push(volume);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::image_tag;

    #[test]
    fn image_tags_follow_docker_reference_rules() {
        assert_eq!(image_tag("nginx"), "latest");
        assert_eq!(image_tag("nginx:1.24"), "1.24");
        assert_eq!(image_tag("nginx:latest"), "latest");
        assert_eq!(image_tag("localhost:5000/nginx"), "latest");
        assert_eq!(image_tag("registry.io:5000/a/b:v1"), "v1");
        assert_eq!(image_tag("nginx@sha256:abc"), "");
        assert_eq!(image_tag("Nginx"), "");
    }
}
