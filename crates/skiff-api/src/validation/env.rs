//! Container environment: `env`, `envFrom` and the downward-API field selectors they (and volumes) use.

use super::names::*;
use super::quantity::quantity_from_json;
use super::{child, get, index, str_of};
use crate::field::FieldError;
use serde_json::Value;

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const CONVERTIBLE_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `validateObjectFieldSelector` for the given allowed expressions.
pub fn validate_object_field_selector(fs: &Value, allowed: &[&str], path: &str) -> Vec<FieldError> {
    let api_version = str_of(fs, "apiVersion");
    if api_version.is_empty() {
        return vec![FieldError::required(child(path, "apiVersion"), "")];
    }
    let fp = str_of(fs, "fieldPath");
    if fp.is_empty() {
        return vec![FieldError::required(child(path, "fieldPath"), "")];
    }
    // Upstream converts the path first; subscripted label/annotation paths convert to themselves.
    let subscript = ["metadata.annotations", "metadata.labels"].iter().find_map(|base| {
        fp.strip_prefix(base)
            .and_then(|rest| rest.strip_prefix("['"))
            .and_then(|rest| rest.strip_suffix("']"))
            .map(|s| (*base, s))
    });
    if api_version != "v1" {
        return vec![FieldError::invalid(
            child(path, "fieldPath"),
            fp,
            format!("error converting fieldPath: unsupported pod version: {api_version}"),
        )];
    }
    if subscript.is_none() && !CONVERTIBLE_FIELD_PATHS.contains(&fp) {
        return vec![FieldError::invalid(
            child(path, "fieldPath"),
            fp,
            format!("error converting fieldPath: field label not supported: {fp}"),
        )];
    }
    match subscript {
        Some(("metadata.annotations", k)) => {
            let k = k.to_lowercase();
            is_qualified_name(&k).into_iter().map(|m| FieldError::invalid(path, k.as_str(), m)).collect()
        }
        Some((_, k)) => is_qualified_name(k).into_iter().map(|m| FieldError::invalid(path, k, m)).collect(),
        None if !allowed.contains(&fp) => {
            let mut sorted = allowed.to_vec();
            sorted.sort();
            vec![FieldError::not_supported(child(path, "fieldPath"), fp, &sorted)]
        }
        None => Vec::new(),
    }
}

/// `validateContainerResourceFieldSelector`.
pub fn validate_resource_field_selector(fs: &Value, path: &str, volume: bool) -> Vec<FieldError> {
    const ALLOWED: &[&str] = &[
        "limits.cpu",
        "limits.ephemeral-storage",
        "limits.memory",
        "requests.cpu",
        "requests.ephemeral-storage",
        "requests.memory",
    ];
    let mut errs = Vec::new();
    let res = str_of(fs, "resource");
    if volume && str_of(fs, "containerName").is_empty() {
        errs.push(FieldError::required(child(path, "containerName"), ""));
    } else if res.is_empty() {
        errs.push(FieldError::required(child(path, "resource"), ""));
    } else if !ALLOWED.contains(&res)
        && !res.starts_with("requests.hugepages-")
        && !res.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(child(path, "resource"), res, ALLOWED));
    }
    if let Some(d) = get(fs, "divisor") {
        if let Ok(q) = quantity_from_json(d) {
            let s = q.canonical();
            let mem_like = ["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"];
            let bad = |msg: &str| FieldError::invalid(child(path, "divisor"), res, msg.to_string());
            if !q.is_zero() {
                match res {
                    "limits.cpu" | "requests.cpu" if !["1m", "1"].contains(&s.as_str()) => {
                        errs.push(bad("only divisor's values 1m and 1 are supported with the cpu resource"))
                    }
                    "limits.memory" | "requests.memory" if !mem_like.contains(&s.as_str()) => errs.push(bad(
                        "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource",
                    )),
                    "limits.ephemeral-storage" | "requests.ephemeral-storage" if !mem_like.contains(&s.as_str()) => errs.push(bad(
                        "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource",
                    )),
                    _ => {}
                }
            }
        }
    }
    errs
}

fn validate_key_selector(sel: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(sel, "name");
    for m in name_is_dns_subdomain(name, false) {
        errs.push(FieldError::invalid(child(path, "name"), name, m));
    }
    let k = str_of(sel, "key");
    if k.is_empty() {
        errs.push(FieldError::required(child(path, "key"), ""));
    } else {
        for m in is_config_map_key(k) {
            errs.push(FieldError::invalid(child(path, "key"), k, m));
        }
    }
    errs
}

/// `ValidateEnv` (relaxed names: the RelaxedEnvironmentVariableValidation gate is on in 1.32).
pub fn validate_env(env: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in env.iter().enumerate() {
        let p = index(path, i);
        let name = str_of(ev, "name");
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        } else {
            for m in is_relaxed_env_var_name(name) {
                errs.push(FieldError::invalid(child(&p, "name"), name, m));
            }
        }
        let Some(vf) = get(ev, "valueFrom") else {
            continue;
        };
        let vp = child(&p, "valueFrom");
        let mut n = 0;
        if let Some(fr) = get(vf, "fieldRef") {
            n += 1;
            errs.extend(validate_object_field_selector(fr, ENV_FIELD_PATHS, &child(&vp, "fieldRef")));
        }
        if let Some(rr) = get(vf, "resourceFieldRef") {
            n += 1;
            errs.extend(validate_resource_field_selector(rr, &child(&vp, "resourceFieldRef"), false));
        }
        if let Some(c) = get(vf, "configMapKeyRef") {
            n += 1;
            errs.extend(validate_key_selector(c, &child(&vp, "configMapKeyRef")));
        }
        if let Some(s) = get(vf, "secretKeyRef") {
            n += 1;
            errs.extend(validate_key_selector(s, &child(&vp, "secretKeyRef")));
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !str_of(ev, "value").is_empty() {
            errs.push(FieldError::invalid(&vp, "", "may not be specified when `value` is not empty"));
        } else if n > 1 {
            errs.push(FieldError::invalid(&vp, "", "may not have more than one field specified at a time"));
        }
    }
    errs
}

pub(crate) fn validate_env_from(env_from: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in env_from.iter().enumerate() {
        let p = index(path, i);
        let prefix = str_of(ev, "prefix");
        if !prefix.is_empty() {
            for m in is_relaxed_env_var_name(prefix) {
                errs.push(FieldError::invalid(child(&p, "prefix"), prefix, m));
            }
        }
        let mut n = 0;
        for k in ["configMapRef", "secretRef"] {
            if let Some(r) = get(ev, k) {
                n += 1;
                let name = str_of(r, "name");
                let np = child(&child(&p, k), "name");
                if name.is_empty() {
                    errs.push(FieldError::required(np, ""));
                } else {
                    for m in name_is_dns_subdomain(name, true) {
                        errs.push(FieldError::invalid(&np, name, m));
                    }
                }
            }
        }
        if n == 0 {
            errs.push(FieldError::invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"));
        } else if n > 1 {
            errs.push(FieldError::invalid(path, "", "may not have more than one field specified at a time"));
        }
    }
    errs
}
