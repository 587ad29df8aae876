//! Pod and PodSpec validation (`ValidatePodCreate`, `ValidatePodUpdate`, `ValidatePodStatusUpdate`,
//! `ValidatePodSpec`, `ValidatePodTemplateSpec` of `pkg/apis/core/validation/validation.go`, Kubernetes 1.32).

use super::container::{self, PodContext};
use super::meta::{self, metadata, validate_labels, validate_object_meta, validate_object_meta_update};
use super::names::*;
use super::pod_fields::{validate_affinity, validate_dns_config, validate_pod_security_context};
pub use super::pod_fields::{validate_apparmor_profile, validate_seccomp_profile, validate_tolerations};
use super::{arr, child, get, index, int, semantic_eq, str_at, str_of, string_map};
use crate::field::FieldError;
use serde_json::Value;
use std::collections::HashSet;

/// `ValidatePodSpec`. `pod_name` is set for real pods (generic ephemeral volume names depend on it).
pub fn validate_pod_spec(spec: &Value, pod_name: Option<&str>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let grace = int(spec, "terminationGracePeriodSeconds");
    if get(spec, "terminationGracePeriodSeconds").is_none() {
        errs.push(FieldError::required(child(path, "terminationGracePeriodSeconds"), ""));
    }
    let host_users = get(spec, "hostUsers").and_then(Value::as_bool).unwrap_or(true);
    let (vols, verrs) = super::volume::validate_volumes(arr(spec, "volumes"), pod_name, &child(path, "volumes"));
    errs.extend(verrs);
    let restart_policy = str_of(spec, "restartPolicy");
    let ctx = PodContext { volumes: &vols, grace_period: grace, restart_policy, host_users };
    let containers = arr(spec, "containers");
    errs.extend(container::validate_containers(containers, &ctx, &child(path, "containers")));
    errs.extend(container::validate_init_containers(
        arr(spec, "initContainers"),
        containers,
        &ctx,
        &child(path, "initContainers"),
    ));
    if super::flag(spec, "hostNetwork") && pod_name.is_some() {
        for (i, c) in containers.iter().enumerate() {
            for (j, p) in arr(c, "ports").iter().enumerate() {
                let (hp, cp) = (int(p, "hostPort").unwrap_or(0), int(p, "containerPort").unwrap_or(0));
                if hp != cp {
                    let pp = child(&index(&child(&index(&child(path, "containers"), i), "ports"), j), "hostPort");
                    errs.push(FieldError::invalid(pp, hp, "must match `containerPort` when `hostNetwork` is true"));
                }
            }
        }
    } else if super::flag(spec, "hostNetwork") {
        for (i, c) in containers.iter().enumerate() {
            for (j, p) in arr(c, "ports").iter().enumerate() {
                let (hp, cp) = (int(p, "hostPort").unwrap_or(0), int(p, "containerPort").unwrap_or(0));
                if hp != 0 && hp != cp {
                    let pp = child(&index(&child(&index(&child(path, "containers"), i), "ports"), j), "hostPort");
                    errs.push(FieldError::invalid(pp, hp, "must match `containerPort` when `hostNetwork` is true"));
                }
            }
        }
    }
    match restart_policy {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(child(path, "restartPolicy"), "")),
        other => {
            errs.push(FieldError::not_supported(child(path, "restartPolicy"), other, &["Always", "OnFailure", "Never"]))
        }
    }
    match str_of(spec, "dnsPolicy") {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(child(path, "dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            child(path, "dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(&string_map(spec, "nodeSelector"), &child(path, "nodeSelector")));
    errs.extend(validate_pod_security_context(spec, &child(path, "securityContext")));
    errs.extend(validate_affinity(spec, &child(path, "affinity")));
    errs.extend(validate_dns_config(spec, &child(path, "dnsConfig")));
    for (i, g) in arr(spec, "readinessGates").iter().enumerate() {
        let ct = str_of(g, "conditionType");
        for m in is_qualified_name(ct) {
            errs.push(FieldError::invalid(child(&index(&child(path, "readinessGates"), i), "conditionType"), ct, m));
        }
    }
    let mut gates = HashSet::new();
    for (i, g) in arr(spec, "schedulingGates").iter().enumerate() {
        let n = str_of(g, "name");
        let gp = index(&child(path, "schedulingGates"), i);
        for m in is_qualified_name(n) {
            errs.push(FieldError::invalid(&gp, n, m));
        }
        if !gates.insert(n) {
            errs.push(FieldError::duplicate(&gp, n));
        }
    }
    for (i, c) in arr(spec, "topologySpreadConstraints").iter().enumerate() {
        let cp = index(&child(path, "topologySpreadConstraints"), i);
        let skew = int(c, "maxSkew").unwrap_or(0);
        if skew <= 0 {
            errs.push(FieldError::invalid(child(&cp, "maxSkew"), skew, "must be greater than zero"));
        }
        if str_of(c, "topologyKey").is_empty() {
            errs.push(FieldError::required(child(&cp, "topologyKey"), "can not be empty"));
        }
        let wu = str_of(c, "whenUnsatisfiable");
        if !matches!(wu, "DoNotSchedule" | "ScheduleAnyway") {
            errs.push(FieldError::not_supported(
                child(&cp, "whenUnsatisfiable"),
                wu,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        errs.extend(meta::validate_label_selector(get(c, "labelSelector"), &child(&cp, "labelSelector")));
    }
    if !host_users {
        for (k, p) in [("hostNetwork", "hostNetwork"), ("hostPID", "HostPID"), ("hostIPC", "HostIPC")] {
            if super::flag(spec, k) {
                errs.push(FieldError::forbidden(child(path, p), "when `pod.Spec.HostUsers` is false"));
            }
        }
    }
    let sa = str_of(spec, "serviceAccountName");
    if !sa.is_empty() {
        for m in name_is_dns_subdomain(sa, false) {
            errs.push(FieldError::invalid(child(path, "serviceAccountName"), sa, m));
        }
    }
    let node = str_of(spec, "nodeName");
    if !node.is_empty() {
        for m in name_is_dns_subdomain(node, false) {
            errs.push(FieldError::invalid(child(path, "nodeName"), node, m));
        }
    }
    if let Some(ads) = int(spec, "activeDeadlineSeconds") {
        if ads < 1 || ads > i32::MAX as i64 {
            errs.push(FieldError::invalid(
                child(path, "activeDeadlineSeconds"),
                ads,
                inclusive_range_error(1, i32::MAX as i64),
            ));
        }
    }
    for k in ["hostname", "subdomain"] {
        let v = str_of(spec, k);
        if !v.is_empty() {
            for m in is_dns1123_label(v) {
                errs.push(FieldError::invalid(child(path, k), v, m));
            }
        }
    }
    errs.extend(validate_tolerations(arr(spec, "tolerations"), &child(path, "tolerations")));
    for (i, ha) in arr(spec, "hostAliases").iter().enumerate() {
        let hp = index(&child(path, "hostAliases"), i);
        let ip = str_of(ha, "ip");
        if !is_ip(ip) {
            errs.push(FieldError::invalid(child(&hp, "ip"), ip, INVALID_IP_MSG));
        }
        for (j, h) in arr(ha, "hostnames").iter().enumerate() {
            let h = h.as_str().unwrap_or("");
            for m in is_dns1123_subdomain(h) {
                errs.push(FieldError::invalid(index(&child(&hp, "hostnames"), j), h, m));
            }
        }
    }
    let pc = str_of(spec, "priorityClassName");
    if !pc.is_empty() {
        for m in name_is_dns_subdomain(pc, false) {
            errs.push(FieldError::invalid(child(path, "priorityClassName"), pc, m));
        }
    }
    if let Some(rc) = get(spec, "runtimeClassName").and_then(Value::as_str) {
        for m in name_is_dns_subdomain(rc, false) {
            errs.push(FieldError::invalid(child(path, "runtimeClassName"), rc, m));
        }
    }
    if let Some(pp) = get(spec, "preemptionPolicy").and_then(Value::as_str) {
        match pp {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(child(path, "preemptionPolicy"), "")),
            other => errs.push(FieldError::not_supported(
                child(path, "preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(o) = get(spec, "overhead") {
        let wrapped = serde_json::json!({ "limits": o });
        errs.extend(container::validate_resource_requirements(Some(&wrapped), &child(path, "overhead")));
    }
    if let Some(os) = get(spec, "os") {
        let n = str_of(os, "name");
        if n.is_empty() {
            errs.push(FieldError::required(child(&child(path, "os"), "name"), "cannot be empty"));
        } else if !matches!(n, "linux" | "windows") {
            errs.push(FieldError::not_supported(child(path, "os"), n, &["linux", "windows"]));
        }
    }
    errs
}

/// `ValidatePodSpecificAnnotations` (the deletion-cost and mirror-pod rules).
fn validate_pod_specific_annotations(meta: &Value, spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ann = string_map(meta, "annotations");
    for (k, v) in &ann {
        if k == "kubernetes.io/config.mirror" && str_of(spec, "nodeName").is_empty() {
            errs.push(FieldError::invalid(
                super::key(path, k),
                v.as_str(),
                "must set spec.nodeName if mirror pod annotation is set",
            ));
        }
        if k == "controller.kubernetes.io/pod-deletion-cost" && v.parse::<i32>().is_err() {
            errs.push(FieldError::invalid(super::key(path, k), v.as_str(), "must be a 32bit integer"));
        }
    }
    errs
}

fn validate_pod_metadata_and_spec(pod: &Value) -> Vec<FieldError> {
    let md = metadata(pod);
    let empty = Value::Object(Default::default());
    let spec = get(pod, "spec").unwrap_or(&empty);
    let mut errs = validate_object_meta(md, true, name_is_dns_subdomain, "metadata");
    errs.extend(validate_pod_specific_annotations(md, spec, "metadata.annotations"));
    errs.extend(validate_pod_spec(spec, Some(str_of(md, "name")), "spec"));
    if str_of(spec, "serviceAccountName").is_empty() {
        for (vi, v) in arr(spec, "volumes").iter().enumerate() {
            if let Some(p) = get(v, "projected") {
                for (si, s) in arr(p, "sources").iter().enumerate() {
                    if get(s, "serviceAccountToken").is_some() {
                        errs.push(FieldError::forbidden(
                            format!("spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken"),
                            "must not be specified when serviceAccountName is not set",
                        ));
                    }
                }
            }
        }
    }
    errs.extend(container::validate_containers_only_for_pod(arr(spec, "containers"), "spec.containers"));
    errs.extend(container::validate_containers_only_for_pod(arr(spec, "initContainers"), "spec.initContainers"));
    errs
}

/// Pod create / update validation.
pub fn validate_pod(pod: &Value, old: Option<&Value>) -> Vec<FieldError> {
    match old {
        None => {
            let mut errs = validate_pod_metadata_and_spec(pod);
            let empty = Value::Object(Default::default());
            let spec = get(pod, "spec").unwrap_or(&empty);
            if !arr(spec, "ephemeralContainers").is_empty() {
                errs.push(FieldError::forbidden("spec.ephemeralContainers", "cannot be set on create"));
            }
            if !str_of(spec, "nodeName").is_empty() && !arr(spec, "schedulingGates").is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.nodeName",
                    "cannot be set until all schedulingGates have been cleared",
                ));
            }
            errs
        }
        Some(old) => validate_pod_update(pod, old),
    }
}

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn validate_container_updates(new: &[Value], old: &[Value], path: &str) -> (Vec<FieldError>, bool) {
    if new.len() != old.len() {
        return (vec![FieldError::forbidden(path, "pod updates may not add or remove containers")], true);
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = str_of(c, "image");
        if image.is_empty() {
            errs.push(FieldError::required(child(&index(path, i), "image"), ""));
        }
        if image.trim().len() != image.len() {
            errs.push(FieldError::invalid(
                child(&index(path, i), "image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errs, false)
}

/// A rough stand-in for upstream's `cmp.Diff` of the two specs: one `-`/`+` pair per changed top-level field.
fn spec_diff(old: &Value, new: &Value) -> String {
    let empty = serde_json::Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = String::from("  core.PodSpec{\n");
    for k in keys {
        if !semantic_eq(o.get(k.as_str()), n.get(k.as_str())) {
            let show = |v: Option<&Value>| v.map(|v| v.to_string()).unwrap_or_else(|| "nil".to_string());
            out.push_str(&format!("- \t{k}: {},\n", show(o.get(k.as_str()))));
            out.push_str(&format!("+ \t{k}: {},\n", show(n.get(k.as_str()))));
        }
    }
    out.push_str("  }\n");
    out
}

fn toleration_eq_ignoring_seconds(a: &Value, b: &Value) -> bool {
    ["key", "operator", "value", "effect"].iter().all(|k| str_of(a, k) == str_of(b, k))
}

/// `ValidatePodUpdate`.
pub fn validate_pod_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(metadata(new), metadata(old), "metadata");
    errs.extend(validate_pod_metadata_and_spec(new));
    let empty = Value::Object(Default::default());
    let ns = get(new, "spec").unwrap_or(&empty);
    let os = get(old, "spec").unwrap_or(&empty);
    for k in ["containers", "initContainers"] {
        let (e, stop) = validate_container_updates(arr(ns, k), arr(os, k), &format!("spec.{k}"));
        errs.extend(e);
        if stop {
            return errs;
        }
    }
    match (int(ns, "activeDeadlineSeconds"), int(os, "activeDeadlineSeconds")) {
        (Some(n), old_ads) => {
            if n < 0 || n > i32::MAX as i64 {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    n,
                    inclusive_range_error(0, i32::MAX as i64),
                ));
                return errs;
            }
            if let Some(o) = old_ads {
                if o < n {
                    errs.push(FieldError::invalid(
                        "spec.activeDeadlineSeconds",
                        n,
                        "must be less than or equal to previous value",
                    ));
                    return errs;
                }
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    let new_tols = arr(ns, "tolerations");
    for o in arr(os, "tolerations") {
        if !new_tols.iter().any(|n| toleration_eq_ignoring_seconds(o, n)) {
            errs.push(FieldError::forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    let old_gates: Vec<&str> = arr(os, "schedulingGates").iter().map(|g| str_of(g, "name")).collect();
    for (i, g) in arr(ns, "schedulingGates").iter().enumerate() {
        let n = str_of(g, "name");
        if !old_gates.contains(&n) {
            errs.push(FieldError::forbidden(
                format!("spec.schedulingGates[{i}].name"),
                format!("only deletion is allowed, but found new scheduling gate '{n}'"),
            ));
        }
    }
    if semantic_eq(Some(ns), Some(os)) {
        return errs;
    }
    // Munge the updatable fields back to their old values, then any remaining difference is forbidden.
    let mut munged = ns.clone();
    if let Some(m) = munged.as_object_mut() {
        for k in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(k) {
                for (i, c) in cs.iter_mut().enumerate() {
                    let old_image = arr(os, k).get(i).map(|o| str_of(o, "image")).unwrap_or("");
                    if let Some(co) = c.as_object_mut() {
                        co.insert("image".into(), Value::from(old_image));
                    }
                }
            }
        }
        for k in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match os.get(k) {
                Some(v) => m.insert(k.into(), v.clone()),
                None => m.remove(k),
            };
        }
        let old_grace = int(os, "terminationGracePeriodSeconds");
        if old_grace.map(|g| g < 0).unwrap_or(false) && int(ns, "terminationGracePeriodSeconds") == Some(1) {
            m.insert("terminationGracePeriodSeconds".into(), Value::from(old_grace.unwrap_or(0)));
        }
        if !arr(os, "schedulingGates").is_empty() {
            // Gated pods may add to nodeSelector and node affinity; that is not checked in detail here.
            for k in ["nodeSelector", "affinity"] {
                match os.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
        }
    }
    if !semantic_eq(Some(&munged), Some(os)) {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}",
                spec_diff(os, &munged)
            ),
        ));
    }
    errs
}

/// `ValidatePodStatusUpdate` (the checks that matter for a node agent writing status).
pub fn validate_pod_status_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(metadata(new), metadata(old), "metadata");
    for (i, c) in arr(get(new, "status").unwrap_or(&Value::Null), "conditions").iter().enumerate() {
        let t = str_of(c, "type");
        if matches!(t, "PodScheduled" | "Ready" | "Initialized") {
            continue;
        }
        for m in is_qualified_name(t) {
            errs.push(FieldError::invalid(format!("metadata.conditions[{i}].Type"), t, m));
        }
    }
    if str_at(new, &["spec", "nodeName"]) != str_at(old, &["spec", "nodeName"]) {
        errs.push(FieldError::forbidden("status.nodeName", "may not be changed directly"));
    }
    let (nq, oq) = (str_at(new, &["status", "qosClass"]), str_at(old, &["status", "qosClass"]));
    if nq != oq {
        errs.push(FieldError::invalid("status.qosClass", nq, meta::FIELD_IMMUTABLE_ERROR_MSG));
    }
    for (i, ip) in arr(get(new, "status").unwrap_or(&Value::Null), "podIPs").iter().enumerate() {
        let ip = str_of(ip, "ip");
        if !is_ip(ip) {
            errs.push(FieldError::invalid(format!("status.podIPs[{i}]"), ip, INVALID_IP_MSG));
        }
    }
    errs
}

/// `ValidatePodTemplateSpec` (template metadata + spec, as embedded in workloads).
pub fn validate_pod_template_spec(tpl: Option<&Value>, path: &str) -> Vec<FieldError> {
    let empty = Value::Object(Default::default());
    let tpl = tpl.unwrap_or(&empty);
    let md = metadata(tpl);
    let spec = get(tpl, "spec").unwrap_or(&empty);
    let mut errs = validate_labels(&string_map(md, "labels"), &child(path, "labels"));
    errs.extend(meta::validate_annotations(&string_map(md, "annotations"), &child(path, "annotations")));
    errs.extend(validate_pod_specific_annotations(md, spec, &child(path, "annotations")));
    errs.extend(validate_pod_spec(spec, None, &child(path, "spec")));
    if !arr(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            child(&child(path, "spec"), "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// The PodTemplate object.
pub fn validate_pod_template_object(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = match old {
        Some(o) => validate_object_meta_update(metadata(obj), metadata(o), "metadata"),
        None => validate_object_meta(metadata(obj), true, name_is_dns_subdomain, "metadata"),
    };
    errs.extend(validate_pod_template_spec(get(obj, "template"), "template"));
    errs
}
