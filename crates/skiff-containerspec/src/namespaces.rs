//! The container's namespaces and the pod's sysctls.
//!
//! As with containerd: a new mount namespace; the pod's network, IPC and UTS namespaces joined by path (none
//! for `hostNetwork`/`hostIPC`, i.e. the host's); the pod's PID namespace joined for `shareProcessNamespace`, the
//! host's for `hostPID`, else a new one; a new cgroup namespace unless privileged.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

/// The pod's namespaces, as paths to join (`/proc/<pid>/ns/net`, a bind-mounted netns file…).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// `None`: the host's when the pod has `hostNetwork`, else a new one.
    pub network: Option<PathBuf>,
    /// `None`: the host's when the pod has `hostIPC`, else a new one.
    pub ipc: Option<PathBuf>,
    /// `None`: the host's when the pod has `hostNetwork`, else a new one.
    pub uts: Option<PathBuf>,
    /// The pod's PID namespace for `shareProcessNamespace` (skiff-runtime cannot join one yet); `None`: a new
    /// one, or the host's for `hostPID`.
    pub pid: Option<PathBuf>,
}

/// `linux.namespaces`, in containerd's order (pid, ipc, uts, mount, network, cgroup).
pub(crate) fn list(pod: &Pod, ns: &Namespaces, privileged: bool) -> Value {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let host_ipc = spec.and_then(|s| s.host_ipc).unwrap_or(false);
    let host_pid = spec.and_then(|s| s.host_pid).unwrap_or(false);
    // a missing path means the host's only when the pod asks for it: never put a container on the host by mistake
    let entry = |typ: &str, path: &Option<PathBuf>, host: bool| match path {
        Some(p) => Some(json!({"type": typ, "path": p})),
        None if host => None,
        None => Some(json!({"type": typ})),
    };
    let list: Vec<Value> = [
        entry("pid", &ns.pid, host_pid),
        entry("ipc", &ns.ipc, host_ipc),
        entry("uts", &ns.uts, host_network),
        Some(json!({"type": "mount"})),
        entry("network", &ns.network, host_network),
        (!privileged).then(|| json!({"type": "cgroup"})),
    ]
    .into_iter()
    .flatten()
    .collect();
    json!(list)
}

/// The pod's sysctls (`securityContext.sysctls`), minus those of a namespace the container shares with the host:
/// they would change the node (the kubelet refuses such pods; this is the backstop).
pub(crate) fn sysctls(pod: &Pod, ns: &Namespaces) -> std::collections::BTreeMap<String, String> {
    let spec = pod.spec.as_ref();
    let host_net = ns.network.is_none() && spec.and_then(|s| s.host_network).unwrap_or(false);
    let host_ipc = ns.ipc.is_none() && spec.and_then(|s| s.host_ipc).unwrap_or(false);
    let host_uts = ns.uts.is_none() && spec.and_then(|s| s.host_network).unwrap_or(false);
    let all = spec.and_then(|s| s.security_context.as_ref()).and_then(|c| c.sysctls.as_ref());
    all.into_iter()
        .flatten()
        .filter(|s| {
            let name = dots(&s.name);
            let ipc = ["kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue."].iter().any(|p| name.starts_with(p));
            let uts = name == "kernel.hostname" || name == "kernel.domainname";
            let keep = !(host_net && name.starts_with("net.") || host_ipc && ipc || host_uts && uts);
            if !keep {
                tracing::warn!(sysctl = %s.name, "sysctl of a host namespace skipped");
            }
            keep
        })
        .map(|s| (dots(&s.name), s.value.clone()))
        .collect()
}

/// `ConvertSysctlVariableToDotsSeparator`: a name written with `/` separators has its `.` and `/` swapped
/// (`net/ipv4/conf/eth0.100/rp_filter` → `net.ipv4.conf.eth0/100.rp_filter`).
fn dots(name: &str) -> String {
    match name.find(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'/' => name
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => name.to_string(),
    }
}
