//! Pod spec field groups: security context, seccomp/AppArmor profiles, tolerations, DNS config and node
//! affinity (helpers of `ValidatePodSpec` in `pkg/apis/core/validation`, Kubernetes 1.32).

use super::meta;
use super::names::*;
use super::{arr, child, get, index, int, str_of};
use crate::field::FieldError;
use serde_json::Value;
use std::collections::HashSet;

/// `validateSeccompProfileField`.
pub fn validate_seccomp_profile(sp: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sp) = sp else { return errs };
    let t = str_of(sp, "type");
    match t {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(child(path, "type"), "type is required when seccompProfile is set")),
        other => errs.push(FieldError::not_supported(
            child(path, "type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    let lp = get(sp, "localhostProfile").and_then(Value::as_str);
    if t == "Localhost" {
        match lp {
            None => errs.push(FieldError::required(
                child(path, "localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => errs.extend(super::volume::validate_local_descending_path(p, &child(path, "localhostProfile"))),
        }
    } else if lp.is_some() {
        errs.push(FieldError::invalid(
            child(path, "localhostProfile"),
            crate::field::go_repr("core.SeccompProfile{...}"),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

/// `ValidateAppArmorProfileField`.
pub fn validate_apparmor_profile(p: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(p) = p else { return errs };
    let lp = get(p, "localhostProfile").and_then(Value::as_str);
    match str_of(p, "type") {
        "Localhost" => match lp {
            None => errs.push(FieldError::required(
                child(path, "localhostProfile"),
                "must be set when AppArmor type is Localhost",
            )),
            Some(l) => {
                if l.trim() != l {
                    errs.push(FieldError::invalid(
                        child(path, "localhostProfile"),
                        l,
                        "must not be padded with whitespace",
                    ));
                } else if l.is_empty() {
                    errs.push(FieldError::required(
                        child(path, "localhostProfile"),
                        "must be set when AppArmor type is Localhost",
                    ));
                }
                if l.len() > 4095 {
                    errs.push(FieldError::too_long(child(path, "localhostProfile"), 4095));
                }
            }
        },
        "RuntimeDefault" | "Unconfined" => {
            if let Some(l) = lp {
                errs.push(FieldError::invalid(
                    child(path, "localhostProfile"),
                    l,
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(child(path, "type"), "type is required when appArmorProfile is set")),
        other => errs.push(FieldError::not_supported(
            child(path, "type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    errs
}

/// `ValidateTolerations`.
pub fn validate_tolerations(tols: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tols.iter().enumerate() {
        let p = index(path, i);
        let k = str_of(t, "key");
        let op = str_of(t, "operator");
        let effect = str_of(t, "effect");
        let value = str_of(t, "value");
        if !k.is_empty() {
            errs.extend(meta::validate_label_name(k, &child(&p, "key")));
        }
        if k.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                child(&p, "operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if get(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                child(&p, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(child(&p, "operator"), value, msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&p, "operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(child(&p, "operator"), other, &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.push(FieldError::not_supported(
                child(&p, "effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

pub(crate) fn validate_pod_security_context(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sc) = get(spec, "securityContext") else {
        return errs;
    };
    for k in ["fsGroup", "runAsUser", "runAsGroup"] {
        if let Some(v) = int(sc, k) {
            for m in is_valid_user_id(v) {
                errs.push(FieldError::invalid(child(path, k), v, m));
            }
        }
    }
    for (g, gid) in arr(sc, "supplementalGroups").iter().enumerate() {
        let gid = gid.as_i64().unwrap_or(0);
        for m in is_valid_group_id(gid) {
            errs.push(FieldError::invalid(index(&child(path, "supplementalGroups"), g), gid, m));
        }
    }
    if super::flag(spec, "hostPID") && get(spec, "shareProcessNamespace").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::invalid(
            child(path, "shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let mut names = HashSet::new();
    for (i, s) in arr(sc, "sysctls").iter().enumerate() {
        let np = child(&index(&child(path, "sysctls"), i), "name");
        let n = str_of(s, "name");
        if n.is_empty() {
            errs.push(FieldError::required(&np, ""));
        } else if !names.insert(n) {
            errs.push(FieldError::duplicate(&np, n));
        }
    }
    if let Some(p) = get(sc, "fsGroupChangePolicy").and_then(Value::as_str) {
        if !matches!(p, "OnRootMismatch" | "Always") {
            errs.push(FieldError::not_supported(child(path, "fsGroupChangePolicy"), p, &["Always", "OnRootMismatch"]));
        }
    }
    errs.extend(validate_seccomp_profile(get(sc, "seccompProfile"), &child(path, "seccompProfile")));
    errs.extend(validate_apparmor_profile(get(sc, "appArmorProfile"), &child(path, "appArmorProfile")));
    if let Some(p) = get(sc, "supplementalGroupsPolicy").and_then(Value::as_str) {
        if !matches!(p, "Merge" | "Strict") {
            errs.push(FieldError::not_supported(child(path, "supplementalGroupsPolicy"), p, &["Merge", "Strict"]));
        }
    }
    errs
}

pub(crate) fn validate_dns_config(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let cfg = get(spec, "dnsConfig");
    if str_of(spec, "dnsPolicy") == "None" {
        match cfg {
            None => return vec![FieldError::required(path, "must provide `dnsConfig` when `dnsPolicy` is None")],
            Some(c) if arr(c, "nameservers").is_empty() => {
                return vec![FieldError::required(
                    child(path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )]
            }
            _ => {}
        }
    }
    let Some(cfg) = cfg else { return errs };
    let ns = arr(cfg, "nameservers");
    if ns.len() > 3 {
        errs.push(FieldError::invalid(
            child(path, "nameservers"),
            Value::Array(ns.to_vec()),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        let n = n.as_str().unwrap_or("");
        if !is_ip(n) {
            errs.push(FieldError::invalid(index(&child(path, "nameservers"), i), n, INVALID_IP_MSG));
        }
    }
    let searches = arr(cfg, "searches");
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            child(path, "searches"),
            Value::Array(searches.to_vec()),
            "must not have more than 32 search paths",
        ));
    }
    for (i, s) in searches.iter().enumerate() {
        let s = s.as_str().unwrap_or("");
        if s == "." {
            continue;
        }
        let s = s.strip_suffix('.').unwrap_or(s);
        for m in is_dns1123_subdomain(s) {
            errs.push(FieldError::invalid(index(&child(path, "searches"), i), s, m));
        }
    }
    for (i, o) in arr(cfg, "options").iter().enumerate() {
        if str_of(o, "name").is_empty() {
            errs.push(FieldError::required(index(&child(path, "options"), i), "must not be empty"));
        }
    }
    errs
}

pub(crate) fn validate_node_selector_requirement(rq: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let values = arr(rq, "values");
    match str_of(rq, "operator") {
        "In" | "NotIn" if values.is_empty() => errs
            .push(FieldError::required(child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'")),
        "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
            child(path, "values"),
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        )),
        "Gt" | "Lt" if values.len() != 1 => errs.push(FieldError::required(
            child(path, "values"),
            "must be specified single value when `operator` is 'Lt' or 'Gt'",
        )),
        "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
        other => errs.push(FieldError::invalid(child(path, "operator"), other, "not a valid selector operator")),
    }
    errs.extend(meta::validate_label_name(str_of(rq, "key"), &child(path, "key")));
    for (i, v) in values.iter().enumerate() {
        let v = v.as_str().unwrap_or("");
        for m in is_valid_label_value(v) {
            errs.push(FieldError::invalid(index(&child(path, "values"), i), v, m));
        }
    }
    errs
}

pub(crate) fn validate_affinity(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(na) = get(spec, "affinity").and_then(|a| get(a, "nodeAffinity")) else {
        return errs;
    };
    let np = child(path, "nodeAffinity");
    if let Some(req) = get(na, "requiredDuringSchedulingIgnoredDuringExecution") {
        let rp = child(&child(&np, "requiredDuringSchedulingIgnoredDuringExecution"), "nodeSelectorTerms");
        let terms = arr(req, "nodeSelectorTerms");
        if terms.is_empty() {
            errs.push(FieldError::required(&rp, "must have at least one node selector term"));
        }
        for (i, t) in terms.iter().enumerate() {
            for (j, r) in arr(t, "matchExpressions").iter().enumerate() {
                errs.extend(validate_node_selector_requirement(
                    r,
                    &index(&child(&index(&rp, i), "matchExpressions"), j),
                ));
            }
        }
    }
    for (i, t) in arr(na, "preferredDuringSchedulingIgnoredDuringExecution").iter().enumerate() {
        let tp = index(&child(&np, "preferredDuringSchedulingIgnoredDuringExecution"), i);
        let w = int(t, "weight").unwrap_or(0);
        if !(1..=100).contains(&w) {
            errs.push(FieldError::invalid(child(&tp, "weight"), w, "must be in the range 1-100"));
        }
    }
    errs
}
