//! Service validation (`ValidateService`, `ValidateServiceUpdate` of `pkg/apis/core/validation`,
//! Kubernetes 1.32). Cluster IP allocation is the API server's job; only the shape is checked here.

use super::container::{validate_port_num_or_name, validate_protocol};
use super::core::spec_of;
use super::meta::{self, metadata, validate_object_meta, validate_object_meta_update};
use super::names::*;
use super::{arr, child, get, index, int, str_of, string_map};
use crate::field::{go_quote, go_repr, FieldError};
use serde_json::Value;
use std::collections::HashSet;

fn is_headless(spec: &Value) -> bool {
    let ips = arr(spec, "clusterIPs");
    ips.len() == 1 && ips[0].as_str() == Some("None")
}

fn service_port_key_repr(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(protocol)
    )
}

/// Service create/update.
pub fn validate_service(svc: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = spec_of(svc);
    if let Some(old) = old {
        errs.extend(validate_object_meta_update(metadata(svc), metadata(old), "metadata"));
        let os = spec_of(old);
        let (n, o) = (arr(spec, "clusterIPs"), arr(os, "clusterIPs"));
        let external_name = str_of(spec, "type") == "ExternalName" || str_of(os, "type") == "ExternalName";
        if !external_name && !n.is_empty() && !o.is_empty() && n[0] != o[0] {
            errs.push(FieldError::invalid("spec.clusterIPs[0]", Value::Array(n.to_vec()), "may not change once set"));
        }
    }
    errs.extend(validate_object_meta(metadata(svc), true, name_is_dns1035_label, "metadata"));
    let typ = str_of(spec, "type");
    let ports = arr(spec, "ports");
    if ports.is_empty() && !is_headless(spec) && typ != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match typ {
        "LoadBalancer" | "NodePort" if is_headless(spec) => errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            "None",
            format!("may not be set to 'None' for {typ} services"),
        )),
        "ExternalName" => {
            if !arr(spec, "clusterIPs").is_empty() {
                errs.push(FieldError::forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
            }
            if !arr(spec, "ipFamilies").is_empty() {
                errs.push(FieldError::forbidden("spec.ipFamilies", "may not be set for ExternalName services"));
            }
            if get(spec, "ipFamilyPolicy").is_some() {
                errs.push(FieldError::forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"));
            }
            let en = str_of(spec, "externalName");
            let cname = en.strip_suffix('.').unwrap_or(en);
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                for m in is_dns1123_subdomain(cname) {
                    errs.push(FieldError::invalid("spec.externalName", cname, m));
                }
            }
        }
        _ => {}
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = index("spec.ports", i);
        let name = str_of(p, "name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(child(&pp, "name"), ""));
        } else if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(FieldError::invalid(child(&pp, "name"), name, m));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(child(&pp, "name"), name));
            }
        }
        let port = int(p, "port").unwrap_or(0);
        for m in is_valid_port_num(port) {
            errs.push(FieldError::invalid(child(&pp, "port"), port, m));
        }
        errs.extend(validate_protocol(str_of(p, "protocol"), &child(&pp, "protocol")));
        errs.extend(validate_port_num_or_name(get(p, "targetPort"), &child(&pp, "targetPort")));
        if let Some(ap) = get(p, "appProtocol").and_then(Value::as_str) {
            for m in is_qualified_name(ap) {
                errs.push(FieldError::invalid(child(&pp, "appProtocol"), ap, m));
            }
        }
    }
    errs.extend(meta::validate_labels(&string_map(spec, "selector"), "spec.selector"));
    let sa = str_of(spec, "sessionAffinity");
    match sa {
        "" => errs.push(FieldError::required("spec.sessionAffinity", "")),
        "ClientIP" => match get(spec, "sessionAffinityConfig").and_then(|c| get(c, "clientIP")) {
            None => {
                errs.push(FieldError::required("spec.sessionAffinityConfig", "when session affinity type is ClientIP"))
            }
            Some(c) => match int(c, "timeoutSeconds") {
                None => errs.push(FieldError::required(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    "when session affinity type is ClientIP",
                )),
                Some(t) if t <= 0 || t > 86400 => errs.push(FieldError::invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                _ => {}
            },
        },
        "None" => {
            if get(spec, "sessionAffinityConfig").is_some() {
                errs.push(FieldError::forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(FieldError::not_supported("spec.sessionAffinity", other, &["ClientIP", "None"])),
    }
    for (i, ip) in arr(spec, "clusterIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if ip != "None" && !is_ip(ip) {
            errs.push(FieldError::invalid(
                index("spec.clusterIPs", i),
                ip,
                "must be empty, 'None', or a valid IP address",
            ));
        }
    }
    if let Some(p) = get(spec, "ipFamilyPolicy").and_then(Value::as_str) {
        if !matches!(p, "SingleStack" | "PreferDualStack" | "RequireDualStack") {
            errs.push(FieldError::not_supported(
                "spec.ipFamilyPolicy",
                p,
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
            ));
        }
    }
    for (i, f) in arr(spec, "ipFamilies").iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        if !matches!(f, "IPv4" | "IPv6") {
            errs.push(FieldError::not_supported(index("spec.ipFamilies", i), f, &["IPv4", "IPv6"]));
        }
    }
    for (i, ip) in arr(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if !is_ip(ip) {
            errs.push(FieldError::invalid(index("spec.externalIPs", i), ip, INVALID_IP_MSG));
        }
    }
    match typ {
        "" => errs.push(FieldError::required("spec.type", "")),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" => {}
        other => errs.push(FieldError::not_supported(
            "spec.type",
            other,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    if typ == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if int(p, "nodePort").unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    child(&index("spec.ports", i), "nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let np = int(p, "nodePort").unwrap_or(0);
        if np != 0 && !node_ports.insert((str_of(p, "protocol"), np)) {
            errs.push(FieldError::duplicate(child(&index("spec.ports", i), "nodePort"), np));
        }
    }
    let mut seen = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let k = (str_of(p, "protocol"), int(p, "port").unwrap_or(0));
        if !seen.insert(k) {
            errs.push(FieldError::duplicate(index("spec.ports", i), go_repr(service_port_key_repr(k.0, k.1))));
        }
    }
    let ranges = arr(spec, "loadBalancerSourceRanges");
    if !ranges.is_empty() {
        if typ != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                "spec.LoadBalancerSourceRanges",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            let r = r.as_str().unwrap_or("").trim();
            if !is_cidr(r) {
                errs.push(FieldError::invalid(
                    index("spec.LoadBalancerSourceRanges", i),
                    r,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
    if get(spec, "allocateLoadBalancerNodePorts").is_some() && typ != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if typ == "LoadBalancer" && get(spec, "allocateLoadBalancerNodePorts").is_none() {
        errs.push(FieldError::required("allocateLoadBalancerNodePorts", ""));
    }
    let externally_accessible =
        typ == "LoadBalancer" || typ == "NodePort" || (typ == "ClusterIP" && !arr(spec, "externalIPs").is_empty());
    let etp = str_of(spec, "externalTrafficPolicy");
    if !externally_accessible {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(FieldError::required("spec.externalTrafficPolicy", ""));
    } else if !matches!(etp, "Cluster" | "Local") {
        errs.push(FieldError::not_supported("spec.externalTrafficPolicy", etp, &["Cluster", "Local"]));
    }
    let hc = int(spec, "healthCheckNodePort").unwrap_or(0);
    if hc != 0 && !(typ == "LoadBalancer" && etp == "Local") {
        errs.push(FieldError::invalid(
            "spec.healthCheckNodePort",
            hc,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    match get(spec, "internalTrafficPolicy").and_then(Value::as_str) {
        None if matches!(typ, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(FieldError::required("spec.internalTrafficPolicy", ""))
        }
        Some(p) if !matches!(p, "Cluster" | "Local") => {
            errs.push(FieldError::not_supported("spec.internalTrafficPolicy", p, &["Cluster", "Local"]))
        }
        _ => {}
    }
    if let Some(td) = get(spec, "trafficDistribution").and_then(Value::as_str) {
        if td != "PreferClose" {
            errs.push(FieldError::not_supported("spec.trafficDistribution", td, &["PreferClose"]));
        }
    }
    errs
}
