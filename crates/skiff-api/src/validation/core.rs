//! Core-group objects other than pods (Service, ConfigMap, Secret, Namespace, Node, Event, Endpoints,
//! PersistentVolume(Claim)) and a few small kinds of other groups (Lease, EndpointSlice), following
//! `pkg/apis/core/validation/validation.go` and friends in Kubernetes 1.32.

use super::container::{validate_protocol, validate_resource_quantity_value};
use super::meta::{self, metadata, validate_object_meta, validate_object_meta_update};
use super::names::*;
use super::{arr, child, get, index, int, key, nonnegative, obj, str_of, string_map};
use crate::field::{go_quote, go_repr, FieldError};
use base64::Engine;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// Upstream `core.MaxSecretSize` (also the ConfigMap limit).
const MAX_SECRET_SIZE: i64 = 1024 * 1024;

pub(crate) fn empty() -> &'static Value {
    static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::Object(Default::default()));
    &EMPTY
}

pub(crate) fn spec_of(v: &Value) -> &Value {
    get(v, "spec").unwrap_or(empty())
}

pub(crate) fn meta_errors(obj: &Value, old: Option<&Value>, namespaced: bool, name_fn: NameFn) -> Vec<FieldError> {
    match old {
        Some(o) => validate_object_meta_update(metadata(obj), metadata(o), "metadata"),
        None => validate_object_meta(metadata(obj), namespaced, name_fn, "metadata"),
    }
}

/// Kinds with metadata-only validation.
pub fn validate_simple(obj: &Value, old: Option<&Value>, namespaced: bool, name_fn: NameFn) -> Vec<FieldError> {
    match old {
        // Update validation re-checks the new object's metadata as upstream's `*Update` functions do.
        Some(o) => {
            let mut errs = validate_object_meta_update(metadata(obj), metadata(o), "metadata");
            errs.extend(validate_object_meta(metadata(obj), namespaced, name_fn, "metadata"));
            dedup(errs)
        }
        None => validate_object_meta(metadata(obj), namespaced, name_fn, "metadata"),
    }
}

fn dedup(errs: Vec<FieldError>) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::new();
    for e in errs {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// Decoded length of a base64 string (what upstream's `[]byte` holds).
fn decoded_len(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("");
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(b) => b.len() as i64,
        Err(_) => (s.len() as i64 * 3) / 4,
    }
}

/// ConfigMap create/update.
pub fn validate_config_map(cm: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(old) = old {
        errs.extend(validate_object_meta_update(metadata(cm), metadata(old), "metadata"));
        if get(old, "immutable").and_then(Value::as_bool) == Some(true) {
            if get(cm, "immutable").and_then(Value::as_bool) != Some(true) {
                errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
            }
            for k in ["data", "binaryData"] {
                if get(cm, k) != get(old, k) {
                    errs.push(FieldError::forbidden(k, "field is immutable when `immutable` is set"));
                }
            }
        }
    }
    errs.extend(validate_object_meta(metadata(cm), true, name_is_dns_subdomain, "metadata"));
    let mut total = 0i64;
    let binary: BTreeMap<String, Value> =
        obj(cm, "binaryData").map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    for (k, v) in string_map(cm, "data") {
        for m in is_config_map_key(&k) {
            errs.push(FieldError::invalid(key("data", &k), k.as_str(), m));
        }
        if binary.contains_key(&k) {
            errs.push(FieldError::invalid(key("data", &k), k.as_str(), "duplicate of key present in binaryData"));
        }
        total += v.len() as i64;
    }
    for (k, v) in &binary {
        for m in is_config_map_key(k) {
            errs.push(FieldError::invalid(key("binaryData", k), k.as_str(), m));
        }
        total += decoded_len(v);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
    errs
}

/// Secret create/update (data is base64 in JSON; sizes count decoded bytes).
pub fn validate_secret(secret: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(old) = old {
        errs.extend(validate_object_meta_update(metadata(secret), metadata(old), "metadata"));
        let (nt, ot) = (str_of(secret, "type"), str_of(old, "type"));
        if nt != ot {
            errs.push(FieldError::invalid("type", nt, meta::FIELD_IMMUTABLE_ERROR_MSG));
        }
        if get(old, "immutable").and_then(Value::as_bool) == Some(true) {
            if get(secret, "immutable").and_then(Value::as_bool) != Some(true) {
                errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
            }
            if get(secret, "data") != get(old, "data") {
                errs.push(FieldError::forbidden("data", "field is immutable when `immutable` is set"));
            }
        }
    }
    errs.extend(validate_object_meta(metadata(secret), true, name_is_dns_subdomain, "metadata"));
    let data: BTreeMap<String, Value> =
        obj(secret, "data").map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    let mut total = 0i64;
    for (k, v) in &data {
        for m in is_config_map_key(k) {
            errs.push(FieldError::invalid(key("data", k), k.as_str(), m));
        }
        total += decoded_len(v);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.contains_key(k);
    match str_of(secret, "type") {
        "kubernetes.io/service-account-token" => {
            let name = get(metadata(secret), "annotations")
                .map(|a| str_of(a, "kubernetes.io/service-account.name"))
                .unwrap_or("");
            if name.is_empty() {
                errs.push(FieldError::required("metadata.annotations[kubernetes.io/service-account.name]", ""));
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => errs.push(FieldError::required("data[.dockercfg]", "")),
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.push(FieldError::required("data[.dockerconfigjson]", ""))
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").map(decoded_len).unwrap_or(0) == 0 => {
            errs.push(FieldError::required("data[ssh-privatekey]", ""))
        }
        "kubernetes.io/tls" => {
            if !has("tls.crt") {
                errs.push(FieldError::required("data[tls.crt]", ""));
            }
            if !has("tls.key") {
                errs.push(FieldError::required("data[tls.key]", ""));
            }
        }
        _ => {}
    }
    errs
}

/// Namespace create/update.
pub fn validate_namespace(ns: &Value, old: Option<&Value>) -> Vec<FieldError> {
    if let Some(old) = old {
        return validate_object_meta_update(metadata(ns), metadata(old), "metadata");
    }
    let mut errs = validate_object_meta(metadata(ns), false, name_is_dns_label, "metadata");
    for f in arr(spec_of(ns), "finalizers") {
        let f = f.as_str().unwrap_or("");
        for m in is_qualified_name(f) {
            errs.push(FieldError::invalid("spec.finalizers", f, m));
        }
        errs.extend(meta::validate_kube_finalizer_name(f, "spec.finalizers"));
    }
    errs
}

/// Node create/update (taints are reported under `metadata.taints`, as upstream does).
pub fn validate_node(node: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(node);
    let mut errs = meta_errors(node, old, false, name_is_dns_subdomain);
    let mut unique: HashSet<(&str, &str)> = HashSet::new();
    for (i, t) in arr(spec, "taints").iter().enumerate() {
        let p = index("metadata.taints", i);
        let (k, v, e) = (str_of(t, "key"), str_of(t, "value"), str_of(t, "effect"));
        errs.extend(meta::validate_label_name(k, &child(&p, "key")));
        let msgs = is_valid_label_value(v);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(child(&p, "value"), v, msgs.join(";")));
        }
        match e {
            "" => errs.push(FieldError::required(child(&p, "effect"), "")),
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            other => errs.push(FieldError::not_supported(
                child(&p, "effect"),
                other,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )),
        }
        if !unique.insert((e, k)) {
            let mut d = FieldError::duplicate(
                &p,
                go_repr(format!(
                    "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:<nil>}}",
                    go_quote(k),
                    go_quote(v),
                    go_quote(e)
                )),
            );
            d.detail = "taints must be unique by key and effect pair".into();
            errs.push(d);
        }
    }
    if let Some(status) = get(node, "status") {
        for section in ["capacity", "allocatable"] {
            if let Some(m) = obj(status, section) {
                for (k, q) in m {
                    errs.extend(validate_resource_quantity_value(k, q, &format!("status.{section}.{k}")));
                }
            }
        }
    }
    for (i, c) in arr(spec, "podCIDRs").iter().enumerate() {
        let c = c.as_str().unwrap_or("");
        if !is_cidr(c) {
            errs.push(FieldError::invalid(
                index("spec.podCIDRs", i),
                c,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    if let Some(old) = old {
        let os = spec_of(old);
        let (n, o) = (arr(spec, "podCIDRs"), arr(os, "podCIDRs"));
        if !o.is_empty() && n != o {
            errs.push(FieldError::forbidden(
                "spec.podCIDRs",
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        let op = str_of(os, "providerID");
        if !op.is_empty() && op != str_of(spec, "providerID") {
            errs.push(FieldError::forbidden(
                "spec.providerID",
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
    }
    errs
}

/// core/v1 and events.k8s.io Events (upstream's legacy rules; metadata name is still required).
pub fn validate_event(ev: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let md = metadata(ev);
    let mut errs = Vec::new();
    if let Some(old) = old {
        errs.extend(validate_object_meta_update(md, metadata(old), "metadata"));
    } else if str_of(md, "name").is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    }
    let ns = str_of(md, "namespace");
    let involved_ns =
        get(ev, "involvedObject").or_else(|| get(ev, "regarding")).map(|o| str_of(o, "namespace")).unwrap_or("");
    let mismatch = if involved_ns.is_empty() {
        !ns.is_empty() && ns != "default" && ns != "kube-system"
    } else {
        ns != involved_ns
    };
    if mismatch && get(ev, "eventTime").is_none() {
        errs.push(FieldError::invalid("involvedObject.namespace", involved_ns, "does not match event.namespace"));
    }
    for m in is_dns1123_subdomain(ns) {
        errs.push(FieldError::invalid("namespace", ns, m));
    }
    errs
}

fn validate_endpoint_port(p: &Value, require_name: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(p, "name");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    } else if !name.is_empty() {
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(child(path, "name"), name, m));
        }
    }
    let port = int(p, "port").unwrap_or(0);
    for m in is_valid_port_num(port) {
        errs.push(FieldError::invalid(child(path, "port"), port, m));
    }
    errs.extend(validate_protocol(str_of(p, "protocol"), &child(path, "protocol")));
    errs
}

fn validate_non_special_ip(ip: &str, path: &str) -> Vec<FieldError> {
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return vec![FieldError::invalid(path, ip, "must be a valid IP address")];
    };
    let mut errs = Vec::new();
    if addr.is_unspecified() {
        errs.push(FieldError::invalid(path, ip, format!("may not be unspecified ({ip})")));
    }
    if addr.is_loopback() {
        errs.push(FieldError::invalid(path, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
    }
    let link_local = match addr {
        std::net::IpAddr::V4(a) => a.is_link_local(),
        std::net::IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local {
        errs.push(FieldError::invalid(path, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
    }
    errs
}

/// Endpoints create/update.
pub fn validate_endpoints(ep: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = meta_errors(ep, old, true, name_is_dns_subdomain);
    for (i, ss) in arr(ep, "subsets").iter().enumerate() {
        let sp = index("subsets", i);
        if arr(ss, "addresses").is_empty() && arr(ss, "notReadyAddresses").is_empty() {
            errs.push(FieldError::required(&sp, "must specify `addresses` or `notReadyAddresses`"));
        }
        for k in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr(ss, k).iter().enumerate() {
                let ap = index(&child(&sp, k), j);
                let ip = str_of(a, "ip");
                if !is_ip(ip) {
                    errs.push(FieldError::invalid(child(&ap, "ip"), ip, INVALID_IP_MSG));
                }
                let h = str_of(a, "hostname");
                if !h.is_empty() {
                    for m in is_dns1123_label(h) {
                        errs.push(FieldError::invalid(child(&ap, "hostname"), h, m));
                    }
                }
                errs.extend(validate_non_special_ip(ip, &child(&ap, "ip")));
            }
        }
        let ports = arr(ss, "ports");
        for (j, p) in ports.iter().enumerate() {
            errs.extend(validate_endpoint_port(p, ports.len() > 1, &index(&child(&sp, "ports"), j)));
        }
    }
    errs
}

/// discovery.k8s.io/v1 EndpointSlice (address type, address counts, ports).
pub fn validate_endpoint_slice(es: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = meta_errors(es, old, true, name_is_dns_subdomain);
    let at = str_of(es, "addressType");
    if !matches!(at, "IPv4" | "IPv6" | "FQDN") {
        errs.push(FieldError::not_supported("addressType", at, &["FQDN", "IPv4", "IPv6"]));
    }
    for (i, e) in arr(es, "endpoints").iter().enumerate() {
        let ep = index("endpoints", i);
        let addrs = arr(e, "addresses");
        if addrs.is_empty() {
            errs.push(FieldError::required(child(&ep, "addresses"), "must contain at least 1 address"));
        } else if addrs.len() > 100 {
            errs.push(FieldError::too_many(child(&ep, "addresses"), addrs.len() as i64, 100));
        }
    }
    let mut names = HashSet::new();
    for (i, p) in arr(es, "ports").iter().enumerate() {
        let pp = index("ports", i);
        let name = str_of(p, "name");
        if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(FieldError::invalid(child(&pp, "name"), name, m));
            }
        }
        if !names.insert(name) {
            errs.push(FieldError::duplicate(child(&pp, "name"), name));
        }
        if let Some(port) = int(p, "port") {
            for m in is_valid_port_num(port) {
                errs.push(FieldError::invalid(child(&pp, "port"), port, m));
            }
        }
        if let Some(proto) = get(p, "protocol").and_then(Value::as_str) {
            errs.extend(validate_protocol(proto, &child(&pp, "protocol")));
        }
    }
    errs
}

/// coordination.k8s.io/v1 Lease.
pub fn validate_lease(lease: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(lease);
    let mut errs = meta_errors(lease, old, true, name_is_dns_subdomain);
    if let Some(d) = int(spec, "leaseDurationSeconds") {
        if d <= 0 {
            errs.push(FieldError::invalid("spec.leaseDurationSeconds", d, "must be greater than 0"));
        }
    }
    if let Some(t) = int(spec, "leaseTransitions") {
        errs.extend(nonnegative(t, "spec.leaseTransitions"));
    }
    errs
}
