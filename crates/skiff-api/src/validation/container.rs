//! Container validation (`validateContainerCommon`, `validateContainers`, `validateInitContainers` and their
//! helpers in `pkg/apis/core/validation/validation.go`, Kubernetes 1.32).

use super::names::*;
use super::{arr, child, get, index, int, nonnegative, str_of};
use crate::field::{go_repr, FieldError};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

use super::env::validate_env_from;
pub use super::env::{validate_env, validate_object_field_selector, validate_resource_field_selector};
pub use super::resources::{
    is_extended_resource_name, is_native_resource, is_overcommit_allowed, validate_resource_quantity_value,
    validate_resource_requirements,
};

/// Volumes that validated, by name (upstream's `map[string]core.VolumeSource`).
pub type VolumeMap<'a> = BTreeMap<String, &'a Value>;

/// Context a container is validated in.
pub struct PodContext<'a> {
    pub volumes: &'a VolumeMap<'a>,
    pub grace_period: Option<i64>,
    pub restart_policy: &'a str,
    pub host_users: bool,
}

/// `ValidatePortNumOrName` for an IntOrString JSON value.
pub fn validate_port_num_or_name(port: Option<&Value>, path: &str) -> Vec<FieldError> {
    match port {
        Some(Value::String(s)) => {
            is_valid_port_name(s).into_iter().map(|m| FieldError::invalid(path, s.as_str(), m)).collect()
        }
        Some(Value::Number(n)) => {
            let v = n.as_i64().unwrap_or(0);
            is_valid_port_num(v).into_iter().map(|m| FieldError::invalid(path, v, m)).collect()
        }
        // An absent IntOrString decodes as the integer 0.
        _ => is_valid_port_num(0).into_iter().map(|m| FieldError::invalid(path, 0, m)).collect(),
    }
}

fn validate_ports(ctr: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, port) in arr(ctr, "ports").iter().enumerate() {
        let p = index(path, i);
        let name = str_of(port, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(child(&p, "name"), name, m));
                }
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(child(&p, "name"), name));
            }
        }
        let cp = int(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(FieldError::required(child(&p, "containerPort"), ""));
        } else {
            for m in is_valid_port_num(cp) {
                errs.push(FieldError::invalid(child(&p, "containerPort"), cp, m));
            }
        }
        let hp = int(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(FieldError::invalid(child(&p, "hostPort"), hp, m));
            }
        }
        errs.extend(validate_protocol(str_of(port, "protocol"), &child(&p, "protocol")));
    }
    errs
}

/// Protocol: required, one of TCP/UDP/SCTP.
pub fn validate_protocol(proto: &str, path: &str) -> Vec<FieldError> {
    match proto {
        "" => vec![FieldError::required(path, "")],
        "TCP" | "UDP" | "SCTP" => Vec::new(),
        other => vec![FieldError::not_supported(path, other, &["SCTP", "TCP", "UDP"])],
    }
}

fn validate_volume_mounts(ctr: &Value, volumes: &VolumeMap, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = HashSet::new();
    let devices: Vec<(&str, &str)> =
        arr(ctr, "volumeDevices").iter().map(|d| (str_of(d, "name"), str_of(d, "devicePath"))).collect();
    let privileged = get(ctr, "securityContext").map(|s| super::flag(s, "privileged")).unwrap_or(false);
    for (i, m) in arr(ctr, "volumeMounts").iter().enumerate() {
        let p = index(path, i);
        let name = str_of(m, "name");
        let mount_path = str_of(m, "mountPath");
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        }
        if !volumes.contains_key(name) {
            errs.push(FieldError::not_found(child(&p, "name"), name));
        }
        if mount_path.is_empty() {
            errs.push(FieldError::required(child(&p, "mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(child(&p, "mountPath"), mount_path, "must be unique"));
        }
        if devices.iter().any(|(n, _)| *n == name) {
            errs.push(FieldError::invalid(child(&p, "name"), name, "must not already exist in volumeDevices"));
        }
        if devices.iter().any(|(_, dp)| *dp == mount_path) {
            errs.push(FieldError::invalid(
                child(&p, "mountPath"),
                mount_path,
                "must not already exist as a path in volumeDevices",
            ));
        }
        if volumes.get(name).map(|v| get(v, "image").is_some()).unwrap_or(false) {
            for k in ["subPath", "subPathExpr"] {
                let s = str_of(m, k);
                if !s.is_empty() {
                    errs.push(FieldError::invalid(child(&p, k), s, "not allowed in image volume sources"));
                }
            }
        }
        // Upstream reports sub-path problems on the list's path, without the index.
        let sub = str_of(m, "subPath");
        if !sub.is_empty() {
            errs.extend(super::volume::validate_local_descending_path(sub, &child(path, "subPath")));
        }
        let sub_expr = str_of(m, "subPathExpr");
        if !sub_expr.is_empty() {
            if !sub.is_empty() {
                errs.push(FieldError::invalid(
                    child(&p, "subPathExpr"),
                    sub_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(super::volume::validate_local_descending_path(sub_expr, &child(path, "subPathExpr")));
        }
        let prop_path = child(path, "mountPropagation");
        if let Some(prop) = get(m, "mountPropagation").and_then(Value::as_str) {
            if !matches!(prop, "Bidirectional" | "HostToContainer" | "None") {
                errs.push(FieldError::not_supported(&prop_path, prop, &["Bidirectional", "HostToContainer", "None"]));
            }
            if prop == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &prop_path,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = get(m, "recursiveReadOnly").and_then(Value::as_str) {
            let rp = child(path, "recursiveReadOnly");
            match rro {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if !super::flag(m, "readOnly") {
                        errs.push(FieldError::forbidden(&rp, "may only be specified when readOnly is true"));
                    }
                    if get(m, "mountPropagation").and_then(Value::as_str).map(|p| p != "None").unwrap_or(false) {
                        errs.push(FieldError::forbidden(
                            &rp,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(&rp, other, &["Disabled", "Enabled", "IfPossible"])),
            }
        }
    }
    errs
}

/// `ValidateSecurityContext` (container level).
fn validate_security_context(sc: Option<&Value>, path: &str, host_users: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sc) = sc else { return errs };
    for k in ["runAsUser", "runAsGroup"] {
        if let Some(v) = int(sc, k) {
            for m in is_valid_user_id(v) {
                errs.push(FieldError::invalid(child(path, k), v, m));
            }
        }
    }
    if let Some(pm) = get(sc, "procMount").and_then(Value::as_str) {
        if !matches!(pm, "Default" | "Unmasked") {
            errs.push(FieldError::not_supported(child(path, "procMount"), pm, &["Default", "Unmasked"]));
        }
        if host_users && pm == "Unmasked" {
            errs.push(FieldError::invalid(child(path, "procMount"), pm, "`hostUsers` must be false to use `Unmasked`"));
        }
    }
    errs.extend(super::pod::validate_seccomp_profile(get(sc, "seccompProfile"), &child(path, "seccompProfile")));
    if get(sc, "allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) {
        if super::flag(sc, "privileged") {
            errs.push(FieldError::invalid(
                path,
                go_repr("core.SecurityContext{...}"),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let caps = get(sc, "capabilities").map(|c| arr(c, "add")).unwrap_or(&[]);
        if caps.iter().any(|c| c.as_str() == Some("CAP_SYS_ADMIN")) {
            errs.push(FieldError::invalid(
                path,
                go_repr("core.SecurityContext{...}"),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs.extend(super::pod::validate_apparmor_profile(get(sc, "appArmorProfile"), &child(path, "appArmorProfile")));
    errs
}

fn validate_resize_policy(ctr: &Value, path: &str, restart_policy: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (i, p) in arr(ctr, "resizePolicy").iter().enumerate() {
        let rn = str_of(p, "resourceName");
        let rp = str_of(p, "restartPolicy");
        if !seen.insert(rn) {
            errs.push(FieldError::duplicate(index(path, i), rn));
        }
        match rn {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(path, "")),
            other => errs.push(FieldError::not_supported(path, other, &["cpu", "memory"])),
        }
        match rp {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(path, "")),
            other => errs.push(FieldError::not_supported(path, other, &["NotRequired", "RestartContainer"])),
        }
        if restart_policy == "Never" && rp != "NotRequired" {
            errs.push(FieldError::invalid(path, rp, "must be 'NotRequired' when `restartPolicy` is 'Never'"));
        }
    }
    errs
}

/// `validateContainerCommon`.
pub fn validate_container_common(ctr: &Value, ctx: &PodContext, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(ctr, "name");
    if name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    } else {
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(child(path, "name"), name, m));
        }
    }
    if str_of(ctr, "image").is_empty() {
        errs.push(FieldError::required(child(path, "image"), ""));
    }
    match str_of(ctr, "terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(child(path, "terminationMessagePolicy"), "")),
        other => errs.push(FieldError::not_supported(
            child(path, "terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_ports(ctr, &child(path, "ports")));
    errs.extend(validate_env(arr(ctr, "env"), &child(path, "env")));
    errs.extend(validate_env_from(arr(ctr, "envFrom"), &child(path, "envFrom")));
    errs.extend(validate_volume_mounts(ctr, ctx.volumes, &child(path, "volumeMounts")));
    errs.extend(super::volume::validate_volume_devices(ctr, ctx.volumes, &child(path, "volumeDevices")));
    match str_of(ctr, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(child(path, "imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            child(path, "imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    errs.extend(validate_resource_requirements(get(ctr, "resources"), &child(path, "resources")));
    errs.extend(validate_resize_policy(ctr, &child(path, "resizePolicy"), ctx.restart_policy));
    errs.extend(validate_security_context(
        get(ctr, "securityContext"),
        &child(path, "securityContext"),
        ctx.host_users,
    ));
    errs
}

fn validate_handler(h: &Value, grace: Option<i64>, path: &str, probe: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut n = 0;
    let kinds: &[&str] =
        if probe { &["exec", "httpGet", "tcpSocket", "grpc"] } else { &["exec", "httpGet", "tcpSocket", "sleep"] };
    for k in kinds {
        let Some(a) = get(h, k) else { continue };
        let p = child(path, k);
        if n > 0 {
            errs.push(FieldError::forbidden(&p, "may not specify more than 1 handler type"));
            continue;
        }
        n += 1;
        match *k {
            "exec" => {
                if arr(a, "command").is_empty() {
                    errs.push(FieldError::required(child(&p, "command"), ""));
                }
            }
            "httpGet" => {
                if str_of(a, "path").is_empty() {
                    errs.push(FieldError::required(child(&p, "path"), ""));
                }
                errs.extend(validate_port_num_or_name(get(a, "port"), &child(&p, "port")));
                let scheme = str_of(a, "scheme");
                if !matches!(scheme, "HTTP" | "HTTPS") {
                    errs.push(FieldError::not_supported(child(&p, "scheme"), scheme, &["HTTP", "HTTPS"]));
                }
                for hdr in arr(a, "httpHeaders") {
                    let hn = str_of(hdr, "name");
                    for m in is_http_header_name(hn) {
                        errs.push(FieldError::invalid(child(&p, "httpHeaders"), hn, m));
                    }
                }
            }
            "tcpSocket" => errs.extend(validate_port_num_or_name(get(a, "port"), &child(&p, "port"))),
            "grpc" => {
                let port = int(a, "port").unwrap_or(0);
                errs.extend(validate_port_num_or_name(Some(&Value::from(port)), &child(&p, "port")));
            }
            _ => {
                let secs = int(a, "seconds").unwrap_or(0);
                if let Some(g) = grace {
                    if secs < 0 || secs > g {
                        errs.push(FieldError::invalid(
                            &p,
                            secs,
                            format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
                        ));
                    }
                }
            }
        }
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

/// `validateProbe` plus the liveness/readiness/startup specifics.
fn validate_probe(probe: Option<&Value>, grace: Option<i64>, path: &str, kind: &str) -> Vec<FieldError> {
    let Some(probe) = probe else {
        return Vec::new();
    };
    let mut errs = validate_handler(probe, grace, path, true);
    for k in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"] {
        errs.extend(nonnegative(int(probe, k).unwrap_or(0), &child(path, k)));
    }
    if let Some(t) = int(probe, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(FieldError::invalid(child(path, "terminationGracePeriodSeconds"), t, "must be greater than 0"));
        }
    }
    match kind {
        "readiness" => {
            if let Some(t) = int(probe, "terminationGracePeriodSeconds") {
                errs.push(FieldError::invalid(
                    child(path, "terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            }
        }
        _ => {
            let st = int(probe, "successThreshold").unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(child(path, "successThreshold"), st, "must be 1"));
            }
        }
    }
    errs
}

fn validate_lifecycle_and_probes(ctr: &Value, grace: Option<i64>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(lc) = get(ctr, "lifecycle") {
        for k in ["postStart", "preStop"] {
            if let Some(h) = get(lc, k) {
                errs.extend(validate_handler(h, grace, &child(&child(path, "lifecycle"), k), false));
            }
        }
    }
    errs.extend(validate_probe(get(ctr, "livenessProbe"), grace, &child(path, "livenessProbe"), "liveness"));
    errs.extend(validate_probe(get(ctr, "readinessProbe"), grace, &child(path, "readinessProbe"), "readiness"));
    errs.extend(validate_probe(get(ctr, "startupProbe"), grace, &child(path, "startupProbe"), "startup"));
    errs
}

/// `checkHostPortConflicts` over a set of containers.
fn check_host_port_conflicts(containers: &[&Value], path: &str, offset: usize) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (ci, ctr) in containers.iter().enumerate() {
        for (pi, port) in arr(ctr, "ports").iter().enumerate() {
            let hp = int(port, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let s = format!("{}/{}/{}", str_of(port, "protocol"), str_of(port, "hostIP"), hp);
            if !seen.insert(s.clone()) {
                errs.push(FieldError::duplicate(
                    child(&index(&child(&index(path, ci + offset), "ports"), pi), "hostPort"),
                    s,
                ));
            }
        }
    }
    errs
}

/// `validateContainers` for `spec.containers`.
pub fn validate_containers(containers: &[Value], ctx: &PodContext, path: &str) -> Vec<FieldError> {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, ctr) in containers.iter().enumerate() {
        let p = index(path, i);
        errs.extend(validate_container_common(ctr, ctx, &p));
        let name = str_of(ctr, "name");
        if !names.insert(name) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
        errs.extend(validate_lifecycle_and_probes(ctr, ctx.grace_period, &p));
        if get(ctr, "restartPolicy").is_some() {
            errs.push(FieldError::forbidden(child(&p, "restartPolicy"), "may not be set for non-init containers"));
        }
    }
    let all: Vec<&Value> = containers.iter().collect();
    errs.extend(check_host_port_conflicts(&all, path, 0));
    errs
}

/// `validateInitContainers` for `spec.initContainers` (names must not collide with regular containers).
pub fn validate_init_containers(inits: &[Value], regular: &[Value], ctx: &PodContext, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: HashSet<&str> = regular.iter().map(|c| str_of(c, "name")).collect();
    for (i, ctr) in inits.iter().enumerate() {
        let p = index(path, i);
        errs.extend(validate_container_common(ctr, ctx, &p));
        let mut restart_always = false;
        if let Some(rp) = get(ctr, "restartPolicy") {
            let rp = rp.as_str().unwrap_or("");
            if rp != "Always" {
                errs.push(FieldError::not_supported(child(&p, "restartPolicy"), rp, &["Always"]));
            }
            restart_always = rp == "Always";
        }
        let name = str_of(ctr, "name");
        if names.contains(name) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        } else if !name.is_empty() {
            names.insert(name);
        }
        errs.extend(check_host_port_conflicts(&[ctr], path, i));
        if restart_always {
            errs.extend(validate_lifecycle_and_probes(ctr, ctx.grace_period, &p));
        } else {
            for k in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
                if get(ctr, k).is_some() {
                    errs.push(FieldError::forbidden(
                        child(&p, k),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
        if !arr(ctr, "resizePolicy").is_empty() {
            errs.push(FieldError::invalid(
                child(&p, "resizePolicy"),
                go_repr("[]core.ContainerResizePolicy{...}"),
                "must not be set for init containers",
            ));
        }
    }
    errs
}

/// Pod-only check: no whitespace around the image.
pub fn validate_containers_only_for_pod(containers: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ctr) in containers.iter().enumerate() {
        let image = str_of(ctr, "image");
        if image.len() != image.trim().len() {
            errs.push(FieldError::invalid(
                child(&index(path, i), "image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    errs
}
