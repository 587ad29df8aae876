//! apps/v1 workloads (`pkg/apis/apps/validation`, Kubernetes 1.32) and the core ReplicationController.
//! Updates also apply the apps/v1 strategy rule that `spec.selector` is immutable.

use super::meta::{
    self, go_map_repr, label_selector_repr, metadata, selector_is_empty, selector_matches, validate_label_selector,
    validate_object_meta, validate_object_meta_update,
};
use super::names::*;
use super::pod::validate_pod_template_spec;
use super::{child, get, get_at, int, nonnegative, semantic_eq, str_at, str_of, string_map};
use crate::field::{go_quote, go_repr, FieldError};
use serde_json::Value;

fn template_labels(spec: &Value) -> Vec<(String, String)> {
    get_at(spec, &["template", "metadata"]).map(|m| string_map(m, "labels")).unwrap_or_default()
}

fn template_labels_repr(spec: &Value) -> String {
    go_map_repr(get_at(spec, &["template", "metadata", "labels"]))
}

/// `%#v` of an IntOrString.
fn int_or_string_repr(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}", go_quote(s)),
        Some(Value::Number(n)) => {
            format!("intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}", n.as_i64().unwrap_or(0))
        }
        _ => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".to_string(),
    }
}

/// Percent value of an IntOrString, when it is a valid percent string.
fn percent(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    if !is_valid_percent(s).is_empty() {
        return None;
    }
    s.trim_end_matches('%').parse().ok()
}

fn int_or_percent(v: Option<&Value>) -> i64 {
    match percent(v) {
        Some(p) => p,
        None => v.and_then(Value::as_i64).unwrap_or(0),
    }
}

/// `ValidatePositiveIntOrPercent`.
fn validate_positive_int_or_percent(v: Option<&Value>, path: &str) -> Vec<FieldError> {
    match v {
        Some(Value::String(s)) => is_valid_percent(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, go_repr(int_or_string_repr(v)), m))
            .collect(),
        Some(Value::Number(n)) => nonnegative(n.as_i64().unwrap_or(0), path),
        _ => nonnegative(0, path),
    }
}

fn not_more_than_100_percent(v: Option<&Value>, path: &str) -> Vec<FieldError> {
    match percent(v) {
        Some(p) if p > 100 => {
            vec![FieldError::invalid(path, go_repr(int_or_string_repr(v)), "must not be greater than 100%")]
        }
        _ => Vec::new(),
    }
}

/// Selector presence, validity and non-emptiness, shared by Deployment/ReplicaSet/StatefulSet.
fn validate_selector(spec: &Value, kind_word: &str) -> Vec<FieldError> {
    let sel = get(spec, "selector");
    match sel {
        None => vec![FieldError::required("spec.selector", "")],
        Some(s) => {
            let mut errs = validate_label_selector(Some(s), "spec.selector");
            if selector_is_empty(Some(s)) {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    go_repr(label_selector_repr(s)),
                    format!("empty selector is invalid for {kind_word}"),
                ));
            }
            errs
        }
    }
}

/// `ValidatePodTemplateSpecForReplicaSet` (also used for Deployments).
fn validate_template_for_replica_set(spec: &Value, kind: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let sel = get(spec, "selector");
    match selector_matches(sel, &template_labels(spec)) {
        Err(()) => {
            let repr = sel.map(label_selector_repr).unwrap_or_else(|| "null".into());
            errs.push(FieldError::invalid("spec.selector", go_repr(repr), "invalid label selector"));
            return errs;
        }
        Ok(false) => errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            go_repr(template_labels_repr(spec)),
            "`selector` does not match template `labels`",
        )),
        _ => {}
    }
    errs.extend(validate_pod_template_spec(get(spec, "template"), "spec.template"));
    errs.extend(restart_always_no_deadline(spec, kind));
    errs
}

fn restart_always_no_deadline(spec: &Value, kind: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rp = str_at(spec, &["template", "spec", "restartPolicy"]);
    if rp != "Always" {
        errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", rp, &["Always"]));
    }
    if get_at(spec, &["template", "spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

fn meta_errors(obj: &Value, old: Option<&Value>, name_fn: NameFn) -> Vec<FieldError> {
    match old {
        Some(o) => validate_object_meta_update(metadata(obj), metadata(o), "metadata"),
        None => validate_object_meta(metadata(obj), true, name_fn, "metadata"),
    }
}

/// apps/v1 strategies reject selector changes on update.
fn selector_immutable(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let Some(old) = old else { return Vec::new() };
    let (n, o) = (get_at(obj, &["spec", "selector"]), get_at(old, &["spec", "selector"]));
    if semantic_eq(n, o) {
        return Vec::new();
    }
    let repr = n.map(label_selector_repr).unwrap_or_else(|| "null".into());
    vec![FieldError::invalid("spec.selector", go_repr(repr), meta::FIELD_IMMUTABLE_ERROR_MSG)]
}

fn spec_of(obj: &Value) -> &Value {
    static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::Object(Default::default()));
    get(obj, "spec").unwrap_or(&EMPTY)
}

/// Deployment create/update.
pub fn validate_deployment(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let mut errs = meta_errors(obj, old, name_is_dns_subdomain);
    errs.extend(nonnegative(int(spec, "replicas").unwrap_or(0), "spec.replicas"));
    errs.extend(validate_selector(spec, "deployment"));
    errs.extend(validate_template_for_replica_set(spec, "Deployment"));
    let strategy = get(spec, "strategy");
    let st = strategy.map(|s| str_of(s, "type")).unwrap_or("");
    let ru = strategy.and_then(|s| get(s, "rollingUpdate"));
    match st {
        "Recreate" => {
            if ru.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => errs
                .push(FieldError::required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")),
            Some(ru) => {
                let (mu, ms) = (get(ru, "maxUnavailable"), get(ru, "maxSurge"));
                errs.extend(validate_positive_int_or_percent(mu, "spec.strategy.rollingUpdate.maxUnavailable"));
                errs.extend(validate_positive_int_or_percent(ms, "spec.strategy.rollingUpdate.maxSurge"));
                if int_or_percent(mu) == 0 && int_or_percent(ms) == 0 {
                    errs.push(FieldError::invalid(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        go_repr(int_or_string_repr(mu)),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(not_more_than_100_percent(mu, "spec.strategy.rollingUpdate.maxUnavailable"));
            }
        },
        _ => errs.push(FieldError::not_supported(
            "spec.strategy",
            go_repr(format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}",
                go_quote(st)
            )),
            &["Recreate", "RollingUpdate"],
        )),
    }
    let min_ready = int(spec, "minReadySeconds").unwrap_or(0);
    errs.extend(nonnegative(min_ready, "spec.minReadySeconds"));
    if let Some(r) = int(spec, "revisionHistoryLimit") {
        errs.extend(nonnegative(r, "spec.revisionHistoryLimit"));
    }
    if let Some(p) = int(spec, "progressDeadlineSeconds") {
        errs.extend(nonnegative(p, "spec.progressDeadlineSeconds"));
        if p <= min_ready {
            errs.push(FieldError::invalid("spec.progressDeadlineSeconds", p, "must be greater than minReadySeconds"));
        }
    }
    errs.extend(selector_immutable(obj, old));
    errs
}

/// ReplicaSet create/update.
pub fn validate_replica_set(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let mut errs = meta_errors(obj, old, name_is_dns_subdomain);
    errs.extend(nonnegative(int(spec, "replicas").unwrap_or(0), "spec.replicas"));
    errs.extend(nonnegative(int(spec, "minReadySeconds").unwrap_or(0), "spec.minReadySeconds"));
    // Upstream reuses the deployment wording here.
    errs.extend(validate_selector(spec, "deployment"));
    errs.extend(validate_template_for_replica_set(spec, "ReplicaSet"));
    errs.extend(selector_immutable(obj, old));
    errs
}

/// StatefulSet create/update.
pub fn validate_stateful_set(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let mut errs = meta_errors(obj, old, name_is_dns_label);
    match str_of(spec, "podManagementPolicy") {
        "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => {
            errs.push(FieldError::invalid("spec.podManagementPolicy", other, "must be 'OrderedReady' or 'Parallel'"))
        }
    }
    let us = get(spec, "updateStrategy");
    let ru = us.and_then(|u| get(u, "rollingUpdate"));
    match us.map(|u| str_of(u, "type")).unwrap_or("") {
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        "OnDelete" => {
            if ru.is_some() {
                errs.push(FieldError::invalid(
                    "spec.updateStrategy.rollingUpdate",
                    go_repr("apps.RollingUpdateStatefulSetStrategy{...}"),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                errs.extend(nonnegative(
                    int(ru, "partition").unwrap_or(0),
                    "spec.updateStrategy.rollingUpdate.partition",
                ));
                if let Some(mu) = get(ru, "maxUnavailable") {
                    let p = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                    errs.extend(validate_positive_int_or_percent(Some(mu), p));
                    if int_or_percent(Some(mu)) == 0 {
                        errs.push(FieldError::invalid(p, go_repr(int_or_string_repr(Some(mu))), "cannot be 0"));
                    }
                    errs.extend(not_more_than_100_percent(Some(mu), p));
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            "spec.updateStrategy",
            go_repr("apps.StatefulSetUpdateStrategy{...}"),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(p) = get(spec, "persistentVolumeClaimRetentionPolicy") {
        for k in ["whenDeleted", "whenScaled"] {
            let v = str_of(p, k);
            if !matches!(v, "Retain" | "Delete") {
                errs.push(FieldError::not_supported(
                    format!("spec.persistentVolumeClaimRetentionPolicy.{k}"),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(nonnegative(int(spec, "replicas").unwrap_or(0), "spec.replicas"));
    errs.extend(nonnegative(int(spec, "minReadySeconds").unwrap_or(0), "spec.minReadySeconds"));
    if let Some(o) = get(spec, "ordinals") {
        errs.extend(nonnegative(int(o, "start").unwrap_or(0), "spec.ordinals.start"));
    }
    errs.extend(validate_selector(spec, "statefulset"));
    let sel = get(spec, "selector");
    match selector_matches(sel, &template_labels(spec)) {
        Err(()) => errs.push(FieldError::invalid(
            "spec.selector",
            go_repr(sel.map(label_selector_repr).unwrap_or_else(|| "null".into())),
            "",
        )),
        Ok(matched) => {
            if !matched {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    go_repr(template_labels_repr(spec)),
                    "`selector` does not match template `labels`",
                ));
            }
            let md = get_at(spec, &["template", "metadata"]).cloned().unwrap_or(Value::Null);
            errs.extend(meta::validate_labels(&string_map(&md, "labels"), "spec.template.labels"));
            errs.extend(meta::validate_annotations(&string_map(&md, "annotations"), "spec.template.annotations"));
        }
    }
    errs.extend(restart_always_no_deadline(spec, "StatefulSet"));
    if let Some(old) = old {
        let mut n = spec.clone();
        let o = spec_of(old);
        if let Some(m) = n.as_object_mut() {
            for k in [
                "replicas",
                "template",
                "updateStrategy",
                "minReadySeconds",
                "ordinals",
                "persistentVolumeClaimRetentionPolicy",
            ] {
                match o.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
        }
        if !semantic_eq(Some(&n), Some(o)) {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
    errs
}

/// DaemonSet create/update.
pub fn validate_daemon_set(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let mut errs = meta_errors(obj, old, name_is_dns_subdomain);
    let sel = get(spec, "selector");
    errs.extend(validate_label_selector(sel, "spec.selector"));
    if let Ok(false) = selector_matches(sel, &template_labels(spec)) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            go_repr(template_labels_repr(spec)),
            "`selector` does not match template `labels`",
        ));
    }
    if let Some(s) = sel {
        if selector_is_empty(Some(s)) {
            errs.push(FieldError::invalid(
                "spec.selector",
                go_repr(label_selector_repr(s)),
                "empty selector is invalid for daemonset",
            ));
        }
    }
    errs.extend(validate_pod_template_spec(get(spec, "template"), "spec.template"));
    errs.extend(restart_always_no_deadline(spec, "DaemonSet"));
    errs.extend(nonnegative(int(spec, "minReadySeconds").unwrap_or(0), "spec.minReadySeconds"));
    let us = get(spec, "updateStrategy");
    match us.map(|u| str_of(u, "type")).unwrap_or("") {
        "OnDelete" => {}
        "RollingUpdate" => match us.and_then(|u| get(u, "rollingUpdate")) {
            None => errs.push(FieldError::required("spec.updateStrategy.rollingUpdate", "")),
            Some(ru) => {
                let p = "spec.updateStrategy.rollingUpdate";
                let (mu, ms) = (get(ru, "maxUnavailable"), get(ru, "maxSurge"));
                errs.extend(validate_positive_int_or_percent(mu, &child(p, "maxUnavailable")));
                errs.extend(validate_positive_int_or_percent(ms, &child(p, "maxSurge")));
                errs.extend(not_more_than_100_percent(mu, &child(p, "maxUnavailable")));
                errs.extend(not_more_than_100_percent(ms, &child(p, "maxSurge")));
                let (hu, hs) = (int_or_percent(mu) != 0, int_or_percent(ms) != 0);
                if hu && hs {
                    errs.push(FieldError::invalid(
                        child(p, "maxSurge"),
                        go_repr(int_or_string_repr(ms)),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !hu && !hs {
                    errs.push(FieldError::required(child(p, "maxUnavailable"), "cannot be 0 when maxSurge is 0"));
                }
            }
        },
        other => errs.push(FieldError::not_supported(
            "spec.updateStrategy",
            go_repr(format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}}",
                go_quote(other)
            )),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    if let Some(r) = int(spec, "revisionHistoryLimit") {
        errs.extend(nonnegative(r, "spec.revisionHistoryLimit"));
    }
    errs.extend(selector_immutable(obj, old));
    errs
}

/// ReplicationController create/update (core group; selector is a plain map).
pub fn validate_replication_controller(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(obj);
    let mut errs = meta_errors(obj, old, name_is_dns_subdomain);
    errs.extend(nonnegative(int(spec, "minReadySeconds").unwrap_or(0), "spec.minReadySeconds"));
    let selector = string_map(spec, "selector");
    if selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    errs.extend(nonnegative(int(spec, "replicas").unwrap_or(0), "spec.replicas"));
    match get(spec, "template") {
        None => errs.push(FieldError::required("spec.template", "")),
        Some(_) => {
            let labels = template_labels(spec);
            if !selector.is_empty() && !selector.iter().all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v)) {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    go_repr(template_labels_repr(spec)),
                    "`selector` does not match template `labels`",
                ));
            }
            errs.extend(validate_pod_template_spec(get(spec, "template"), "spec.template"));
            let rp = str_at(spec, &["template", "spec", "restartPolicy"]);
            if rp != "Always" {
                errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", rp, &["Always"]));
            }
            if get_at(spec, &["template", "spec", "activeDeadlineSeconds"]).is_some() {
                errs.push(FieldError::forbidden(
                    "spec.template.spec.activeDeadlineSeconds",
                    "activeDeadlineSeconds in ReplicationController is not Supported",
                ));
            }
        }
    }
    errs
}
