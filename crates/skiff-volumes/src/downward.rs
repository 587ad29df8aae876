//! The downward API: pod fields (`fieldRef`, upstream pkg/fieldpath + kubelet's `podFieldSelectorRuntimeValue`)
//! and container resources (`resourceFieldRef`, kubelet's resource helpers), for downwardAPI volumes,
//! projected volumes and environment variables alike.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, DownwardAPIVolumeFile, Pod, ResourceFieldSelector};
use skiff_api::field::go_quote;
use skiff_api::validation::parse_quantity;

use crate::atomic_writer::{clean_path, FileProjection, Payload};
use crate::{NodeInfo, VolumeError};

/// The value of a pod field. Supports what kubelet supports for environment variables (a superset of what
/// volumes may use): `metadata.name|namespace|uid|labels|annotations`, `metadata.labels['k']`,
/// `metadata.annotations['k']`, `spec.nodeName` (and its old spelling `spec.host`),
/// `spec.serviceAccountName`, `status.hostIP(s)`, `status.podIP(s)`. IPs are read from the pod's status:
/// the agent fills those in on its copy of the pod before resolving environment variables.
pub fn field_ref(pod: &Pod, field_path: &str) -> Result<String, VolumeError> {
    let meta = &pod.metadata;
    if let Some((path, subscript)) = split_maybe_subscripted_path(field_path) {
        let map = match path {
            "metadata.annotations" => {
                check_subscript(field_path, &subscript.to_lowercase())?;
                &meta.annotations
            }
            "metadata.labels" => {
                check_subscript(field_path, subscript)?;
                &meta.labels
            }
            _ => return Err(VolumeError::FieldRef(format!("field label does not support subscript: {field_path}"))),
        };
        return Ok(map.as_ref().and_then(|m| m.get(subscript)).cloned().unwrap_or_default());
    }
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let host_ips = || -> Vec<String> {
        let ips: Vec<String> =
            status.and_then(|s| s.host_ips.as_ref()).into_iter().flatten().map(|ip| ip.ip.clone()).collect();
        if ips.is_empty() {
            status.and_then(|s| s.host_ip.clone()).into_iter().collect()
        } else {
            ips
        }
    };
    let pod_ips = || -> Vec<String> {
        let ips: Vec<String> =
            status.and_then(|s| s.pod_ips.as_ref()).into_iter().flatten().map(|ip| ip.ip.clone()).collect();
        if ips.is_empty() {
            status.and_then(|s| s.pod_ip.clone()).into_iter().collect()
        } else {
            ips
        }
    };
    Ok(match field_path {
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" | "spec.host" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" => host_ips().into_iter().next().unwrap_or_default(),
        "status.hostIPs" => host_ips().join(","),
        "status.podIP" => pod_ips().into_iter().next().unwrap_or_default(),
        "status.podIPs" => pod_ips().join(","),
        // Accepted by the API's field label conversion, but kubelet's extractor has no case for them.
        "spec.restartPolicy" | "spec.schedulerName" | "status.phase" => {
            return Err(VolumeError::FieldRef(format!("unsupported fieldPath: {field_path}")))
        }
        _ => return Err(VolumeError::FieldRef(format!("field label not supported: {field_path}"))),
    })
}

/// The value of a container resource (`limits.cpu`, `requests.memory`, `limits.ephemeral-storage`,
/// `requests.hugepages-2Mi`, …) divided by the divisor (default 1) and rounded up. The container is
/// `r.containerName`, or `container_name` when that is empty (environment variables of the container itself).
/// Unset cpu/memory/ephemeral-storage limits are the node's allocatable amounts, as kubelet reports them.
pub fn resource_field_ref(
    pod: &Pod,
    container_name: &str,
    r: &ResourceFieldSelector,
    node: &NodeInfo,
) -> Result<String, VolumeError> {
    let name = r.container_name.as_deref().filter(|n| !n.is_empty()).unwrap_or(container_name);
    let spec = pod.spec.as_ref();
    let container: &Container = spec
        .and_then(|s| s.containers.iter().chain(s.init_containers.iter().flatten()).find(|c| c.name == name))
        .ok_or_else(|| VolumeError::ResourceFieldRef(format!("container {name} not found")))?;
    let divisor = r.divisor.as_ref().and_then(|d| parse_quantity(&d.0).ok()).filter(|d| !d.is_zero());
    let resources = container.resources.as_ref();
    let (kind, resource) = r.resource.split_once('.').unwrap_or(("", r.resource.as_str()));
    let list = match kind {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => None,
    };
    let declared = list.and_then(|l| l.get(resource)).and_then(|q| parse_quantity(&q.0).ok()).filter(|q| !q.is_zero());
    let supported = matches!(resource, "cpu" | "memory" | "ephemeral-storage") || resource.starts_with("hugepages-");
    if !matches!(kind, "limits" | "requests") || !supported {
        return Err(VolumeError::ResourceFieldRef(format!("unsupported container resource : {}", r.resource)));
    }
    let value = if resource == "cpu" {
        let millis = match (declared, kind) {
            (Some(q), _) => q.milli_value(),
            (None, "limits") => node.allocatable_cpu_millis,
            (None, _) => 0,
        };
        let div = divisor.map(|d| d.milli_value()).unwrap_or(1000);
        ceil_div(millis, div)
    } else {
        let amount = match (declared, kind, resource) {
            (Some(q), _, _) => q.value(),
            (None, "limits", "memory") => node.allocatable_memory_bytes,
            (None, "limits", "ephemeral-storage") => node.allocatable_ephemeral_bytes,
            _ => 0,
        };
        ceil_div(amount, divisor.map(|d| d.value()).unwrap_or(1))
    };
    Ok(value.to_string())
}

/// `int64(math.Ceil(float64(a) / float64(b)))`, as upstream computes it.
fn ceil_div(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    (a as f64 / b as f64).ceil() as i64
}

/// The files of a downwardAPI volume (or projection): each item's value at its cleaned path with its mode.
/// Every failing item is reported, together, like upstream's `CollectData`.
pub(crate) fn payload(
    items: &[DownwardAPIVolumeFile],
    pod: &Pod,
    node: &NodeInfo,
    default_mode: i32,
) -> Result<Payload, VolumeError> {
    let mut errs = Vec::new();
    let mut out = Payload::new();
    for item in items {
        let mode = item.mode.unwrap_or(default_mode) as u32;
        let mut data = Vec::new();
        if let Some(f) = &item.field_ref {
            match field_ref(pod, &f.field_path) {
                Ok(v) => data = v.into_bytes(),
                Err(e) => errs.push(e),
            }
        } else if let Some(r) = &item.resource_field_ref {
            match resource_field_ref(pod, "", r, node) {
                Ok(v) => data = v.into_bytes(),
                Err(e) => errs.push(e),
            }
        }
        out.insert(clean_path(&item.path), FileProjection::new(data, mode));
    }
    VolumeError::aggregate(errs)?;
    Ok(out)
}

/// `metadata.labels['key']` → (`metadata.labels`, `key`) (upstream `SplitMaybeSubscriptedPath`).
fn split_maybe_subscripted_path(field_path: &str) -> Option<(&str, &str)> {
    let s = field_path.strip_suffix("']")?;
    let (path, subscript) = s.split_once("['")?;
    (!path.is_empty()).then_some((path, subscript))
}

fn check_subscript(field_path: &str, key: &str) -> Result<(), VolumeError> {
    let errs = qualified_name_errors(key);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(VolumeError::FieldRef(format!("invalid key subscript in {field_path}: {}", errs.join(";"))))
    }
}

/// `key="value"` lines sorted by key, values quoted like Go's `strconv.Quote` (upstream `FormatMap`).
pub fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    for (k, v) in m.into_iter().flatten() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&go_quote(v));
    }
    out
}

const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
const QUALIFIED_NAME_ERR_MSG: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = concat!(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', ",
    "and must start and end with an alphanumeric character"
);
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// Upstream `validation.IsQualifiedName`, with its messages.
fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(dns1123_subdomain_errors(prefix).into_iter().map(|e| format!("prefix part {e}")));
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            )]
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!("name part must be no more than {QUALIFIED_NAME_MAX_LENGTH} bytes"));
    }
    if !name.is_empty() && !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(format!("must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} bytes"));
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        b.first().is_some_and(edge) && b.last().is_some_and(edge) && b.iter().all(|c| edge(c) || *c == b'-')
    };
    if !s.split('.').all(label_ok) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_ERR_MSG, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// Upstream `validation.RegexError`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1",
                "labels": {"app": "web", "tier": "front\"end"},
                "annotations": {"note": "line1\nline2", "k8s.io/x": "ü\u{200b}"}},
            "spec": {"nodeName": "node-1", "serviceAccountName": "sa",
                "containers": [{"name": "c", "resources": {
                    "limits": {"memory": "128Mi", "cpu": "500m"},
                    "requests": {"cpu": "250m", "memory": "64Mi"}}},
                    {"name": "bare"}]},
            "status": {"hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
                "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}, {"ip": "fd01::5"}]}
        }))
        .expect("test pod is valid")
    }

    fn node() -> NodeInfo {
        NodeInfo {
            node_name: "node-1".into(),
            allocatable_cpu_millis: 4000,
            allocatable_memory_bytes: 8 << 30,
            allocatable_ephemeral_bytes: 100 << 30,
        }
    }

    #[test]
    fn field_refs() {
        let p = pod();
        let cases = [
            ("metadata.name", "web"),
            ("metadata.namespace", "default"),
            ("metadata.uid", "u-1"),
            ("metadata.labels", "app=\"web\"\ntier=\"front\\\"end\""),
            ("metadata.annotations", "k8s.io/x=\"ü\\u200b\"\nnote=\"line1\\nline2\""),
            ("metadata.labels['app']", "web"),
            ("metadata.labels['missing']", ""),
            ("metadata.annotations['k8s.io/x']", "ü\u{200b}"),
            ("spec.nodeName", "node-1"),
            ("spec.host", "node-1"),
            ("spec.serviceAccountName", "sa"),
            ("status.hostIP", "10.0.0.1"),
            ("status.hostIPs", "10.0.0.1,fd00::1"),
            ("status.podIP", "10.1.0.5"),
            ("status.podIPs", "10.1.0.5,fd01::5"),
        ];
        for (path, want) in cases {
            assert_eq!(field_ref(&p, path).unwrap_or_else(|e| panic!("{path}: {e}")), want, "{path}");
        }
    }

    #[test]
    fn field_ref_errors() {
        let p = pod();
        assert_eq!(field_ref(&p, "spec.foo").expect_err("bad").to_string(), "field label not supported: spec.foo");
        assert_eq!(
            field_ref(&p, "metadata.name['x']").expect_err("bad").to_string(),
            "field label does not support subscript: metadata.name['x']"
        );
        let err = field_ref(&p, "metadata.labels['-bad-']").expect_err("bad").to_string();
        assert!(
            err.starts_with("invalid key subscript in metadata.labels['-bad-']: name part must consist of"),
            "{err}"
        );
    }

    #[test]
    fn resource_field_refs() {
        let (p, n) = (pod(), node());
        let sel = |res: &str, container: Option<&str>, divisor: Option<&str>| ResourceFieldSelector {
            resource: res.into(),
            container_name: container.map(Into::into),
            divisor: divisor.map(|d| Quantity(d.into())),
        };
        let cases = [
            (sel("limits.cpu", Some("c"), None), "1"),
            (sel("limits.cpu", Some("c"), Some("1m")), "500"),
            (sel("requests.cpu", Some("c"), Some("1m")), "250"),
            (sel("limits.memory", Some("c"), None), "134217728"),
            (sel("limits.memory", Some("c"), Some("1Mi")), "128"),
            (sel("requests.memory", Some("c"), Some("1Mi")), "64"),
            (sel("limits.cpu", Some("bare"), None), "4"),
            (sel("limits.memory", Some("bare"), Some("1Gi")), "8"),
            (sel("limits.ephemeral-storage", Some("bare"), Some("1Gi")), "100"),
            (sel("requests.cpu", Some("bare"), None), "0"),
            (sel("limits.cpu", None, Some("1m")), "500"),
        ];
        for (s, want) in cases {
            assert_eq!(resource_field_ref(&p, "c", &s, &n).expect("resolves"), want, "{s:?}");
        }
        assert_eq!(
            resource_field_ref(&p, "", &sel("limits.cpu", Some("nope"), None), &n).expect_err("missing").to_string(),
            "container nope not found"
        );
        assert_eq!(
            resource_field_ref(&p, "c", &sel("limits.gpu", None, None), &n).expect_err("bad").to_string(),
            "unsupported container resource : limits.gpu"
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("a\"b\\c\td\u{1}\u{7f}é😀"), "\"a\\\"b\\\\c\\td\\x01\\x7fé😀\"");
        assert_eq!(go_quote("\u{a0}"), "\"\\u00a0\"");
    }
}
