//! Container resource requirements (`ValidateContainerResourceRequirements`, resource-name and quantity
//! rules of `pkg/apis/core/validation/validation.go` and `pkg/apis/core/helper`, Kubernetes 1.32).

use super::names::*;
use super::quantity::quantity_from_json;
use super::{child, key, obj};
use crate::field::FieldError;
use serde_json::Value;
use std::collections::BTreeMap;

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];
const STANDARD_INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_huge_page(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// Upstream `helper.IsNativeResource`.
pub fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Upstream `helper.IsExtendedResourceName`.
pub fn is_extended_resource_name(name: &str) -> bool {
    if is_native_resource(name) || name.starts_with("requests.") {
        return false;
    }
    is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// Upstream `helper.IsOvercommitAllowed`.
pub fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_huge_page(name)
}

fn is_integer_resource(name: &str) -> bool {
    STANDARD_INTEGER_RESOURCES.contains(&name) || is_extended_resource_name(name)
}

/// `validateResourceName` + `validateContainerResourceName`.
fn validate_container_resource_name(name: &str, path: &str) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> =
        is_qualified_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect();
    if errs.is_empty()
        && !name.contains('/')
        && !(STANDARD_RESOURCES.contains(&name) || is_huge_page(name) || name.starts_with("requests.hugepages-"))
    {
        errs.push(FieldError::invalid(path, name, "must be a standard resource type or fully qualified"));
    }
    if !name.contains('/') {
        if !(matches!(name, "cpu" | "memory" | "ephemeral-storage") || is_huge_page(name)) {
            errs.push(FieldError::invalid(path, name, "must be a standard resource for containers"));
        }
    } else if !is_native_resource(name) && !is_extended_resource_name(name) {
        errs.push(FieldError::invalid(path, name, "doesn't follow extended resource name standard"));
    }
    errs
}

/// `ValidateResourceQuantityValue`.
pub fn validate_resource_quantity_value(name: &str, raw: &Value, path: &str) -> Vec<FieldError> {
    let q = match quantity_from_json(raw) {
        Ok(q) => q,
        Err(e) => return vec![FieldError::invalid(path, raw.clone(), e.to_string())],
    };
    let mut errs = Vec::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(path, q.canonical(), super::meta::IS_NEGATIVE_ERROR_MSG));
    }
    if is_integer_resource(name) && !q.is_integer() {
        errs.push(FieldError::invalid(path, q.canonical(), "must be an integer"));
    }
    errs
}

/// `ValidateContainerResourceRequirements` (without dynamic resource claims).
pub fn validate_resource_requirements(res: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(res) = res else { return errs };
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let limits: BTreeMap<&String, &Value> = obj(res, "limits").map(|m| m.iter().collect()).unwrap_or_default();
    let requests: BTreeMap<&String, &Value> = obj(res, "requests").map(|m| m.iter().collect()).unwrap_or_default();
    let (mut lim_cpu_mem, mut req_cpu_mem, mut lim_huge, mut req_huge) = (false, false, false, false);
    for (name, q) in &limits {
        let p = key(&lim_path, name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_resource_quantity_value(name, q, &p));
        if is_huge_page(name) {
            lim_huge = true;
        }
        if matches!(name.as_str(), "cpu" | "memory") {
            lim_cpu_mem = true;
        }
    }
    for (name, q) in &requests {
        let p = key(&req_path, name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_resource_quantity_value(name, q, &p));
        if let (Some(lim), Ok(rq)) = (limits.get(name), quantity_from_json(q)) {
            if let Ok(lq) = quantity_from_json(lim) {
                let ord = rq.cmp_value(&lq);
                if ord != std::cmp::Ordering::Equal && !is_overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        &req_path,
                        rq.canonical(),
                        format!("must be equal to {name} limit of {}", lq.canonical()),
                    ));
                } else if ord == std::cmp::Ordering::Greater {
                    errs.push(FieldError::invalid(
                        &req_path,
                        rq.canonical(),
                        format!("must be less than or equal to {name} limit of {}", lq.canonical()),
                    ));
                }
            }
        } else if !limits.contains_key(name) && !is_overcommit_allowed(name) {
            errs.push(FieldError::required(&lim_path, "Limit must be set for non overcommitable resources"));
        }
        if is_huge_page(name) {
            req_huge = true;
        }
        if matches!(name.as_str(), "cpu" | "memory") {
            req_cpu_mem = true;
        }
    }
    if !lim_cpu_mem && !req_cpu_mem && (req_huge || lim_huge) {
        errs.push(FieldError::forbidden(path, "HugePages require cpu or memory"));
    }
    errs
}
