//! A Kubernetes container as an OCI runtime spec, the way the kubelet and containerd's CRI plugin together
//! would build it, for skiff-runtime to start.
//!
//! [`build`] is a pure function of its [`Inputs`]: the pod, the container, the image's config, and what the
//! agent has already resolved (env sources, volume host paths, the pod's namespaces and shared files). Its only
//! I/O is reading `/etc/passwd` and `/etc/group` from the image's unpacked layers. Each concern has its module,
//! each naming the upstream function it follows: [`command`] (argv), [`env`] and [`expand`] (environment),
//! `user` (credentials), `security` (capabilities, masked paths), [`mounts`], [`resources`] (cgroup limits, OOM
//! score), `namespaces`, [`hostname`].
//!
//! The spec is shaped for skiff-runtime: no terminal, no user namespace, no cgroup mount, no seccomp or AppArmor
//! profile (recorded nowhere: the runtime would only ignore them), no `hostname` (the pod's UTS namespace,
//! joined or the host's, already has it).
//!
//! Errors are the kubelet's two waiting reasons: [`SpecError::Config`] for what the kubelet itself refuses
//! (`CreateContainerConfigError`), [`SpecError::Create`] for what containerd refuses (`CreateContainerError`).

pub mod command;
pub mod env;
pub mod expand;
pub mod hostname;
pub mod mounts;
pub mod resources;

mod layers;
mod namespaces;
mod security;
mod user;

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};
use oci_spec::runtime::Spec;
use serde_json::{json, Map, Value};
use skiff_image::manifest::RuntimeConfig;

pub use env::{EnvVar, DEFAULT_PATH};
pub use expand::expand;
pub use hostname::pod_hostname;
pub use mounts::{Mount, Propagation};
pub use namespaces::Namespaces;
pub use resources::{qos_class, QosClass};

/// The kubelet's default `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// Everything [`build`] needs, resolved by the agent.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub pod: &'a Pod,
    /// An app container or an init container (sidecars included).
    pub container: &'a Container,
    /// The image's config: `Entrypoint`, `Cmd`, `Env`, `WorkingDir`, `User`, `StopSignal`.
    pub image: &'a RuntimeConfig,
    /// The image's unpacked layer directories, lowest first, in overlay form (whiteouts are 0/0 character
    /// devices); read for `/etc/passwd` and `/etc/group`.
    pub image_layers: &'a [PathBuf],
    /// The container's environment in upstream order (`envFrom` sources, then `env`), values resolved but not
    /// yet `$(VAR)`-expanded.
    pub env: Vec<EnvVar>,
    /// Service-link variables (`KUBERNETES_SERVICE_HOST`, …): below the container's own.
    pub service_env: Vec<(String, String)>,
    /// Volume mounts in `volumeMounts` order.
    pub mounts: Vec<Mount>,
    pub namespaces: Namespaces,
    /// The pod's hostname ([`pod_hostname`]), or the node's for a `hostNetwork` pod: the `HOSTNAME` variable.
    pub hostname: String,
    /// Pod-shared files, bind-mounted when present.
    pub etc_hosts: Option<PathBuf>,
    pub etc_hostname: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
    /// The pod's `/dev/shm` (or the host's for `hostIPC`); without it the container gets a 64 MiB tmpfs.
    pub dev_shm: Option<PathBuf>,
    /// The host file mounted at `terminationMessagePath`.
    pub termination_log: Option<PathBuf>,
    /// The node's memory, for Burstable containers' OOM score.
    pub node_memory_bytes: u64,
}

/// The spec and what the agent needs beside it.
#[derive(Debug, Clone)]
pub struct Built {
    pub spec: Spec,
    /// The signal that asks the container to stop: the image's `StopSignal` as `SIGxxx`, else `SIGTERM`.
    pub stop_signal: String,
    pub uid: u32,
    pub gid: u32,
}

/// Why a container cannot be created, as the kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The waiting reason `CreateContainerConfigError`: the kubelet refuses the container's configuration.
    #[error("{0}")]
    Config(String),
    /// The waiting reason `CreateContainerError`: the runtime refuses to create it.
    #[error("{0}")]
    Create(String),
}

/// Builds the OCI runtime spec of `inputs.container`.
pub fn build(inputs: &Inputs) -> Result<Built, SpecError> {
    let (pod, c, image) = (inputs.pod, inputs.container, inputs.image);

    // kubelet: identity first (runAsNonRoot), then env and command
    let identity = user::resolve(pod, c, image.user.as_deref().unwrap_or_default(), inputs.image_layers)?;
    let kubelet_env = env::KubeletEnv::resolve(&inputs.env, &inputs.service_env);
    let args = command::argv(c, image, &kubelet_env)?;
    let process_env =
        env::process_env(image.env.as_deref().unwrap_or_default(), &kubelet_env, &inputs.hostname, &identity.home);
    let cwd = [c.working_dir.as_deref(), image.working_dir.as_deref()]
        .into_iter()
        .flatten()
        .find(|d| !d.is_empty())
        .unwrap_or("/");

    let privileges = security::Privileges::of(c);
    let termination_path =
        c.termination_message_path.as_deref().filter(|p| !p.is_empty()).unwrap_or(DEFAULT_TERMINATION_MESSAGE_PATH);
    let shared = mounts::SharedFiles {
        etc_hosts: inputs.etc_hosts.as_deref(),
        etc_hostname: inputs.etc_hostname.as_deref(),
        resolv_conf: inputs.resolv_conf.as_deref(),
        dev_shm: inputs.dev_shm.as_deref(),
        termination_log: inputs.termination_log.as_deref().map(|p| (p, termination_path)),
    };
    let (mounts, rootfs_propagation) =
        mounts::build(&inputs.mounts, &shared, privileges.read_only_rootfs, privileges.privileged)?;

    let mut linux = Map::new();
    linux.insert("namespaces".into(), namespaces::list(pod, &inputs.namespaces, privileges.privileged));
    linux.insert("resources".into(), resources::linux_resources(c)?);
    linux.insert("maskedPaths".into(), json!(privileges.masked_paths));
    linux.insert("readonlyPaths".into(), json!(privileges.readonly_paths));
    let sysctl = namespaces::sysctls(pod, &inputs.namespaces);
    if !sysctl.is_empty() {
        linux.insert("sysctl".into(), json!(sysctl));
    }
    if let Some(p) = rootfs_propagation {
        linux.insert("rootfsPropagation".into(), json!(p));
    }

    let caps = &privileges.capabilities;
    let spec = json!({
        "ociVersion": "1.0.2-dev",
        "root": {"path": "rootfs", "readonly": privileges.read_only_rootfs},
        "process": {
            "terminal": false,
            "user": {"uid": identity.uid, "gid": identity.gid, "additionalGids": identity.additional_gids},
            "args": args,
            "env": process_env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": privileges.no_new_privileges,
            "oomScoreAdj": resources::oom_score_adj(pod, c, inputs.node_memory_bytes)?,
        },
        "mounts": mounts,
        "linux": Value::Object(linux),
    });
    let spec: Spec = serde_json::from_value(spec)
        .map_err(|e| SpecError::Create(format!("failed to generate spec: invalid OCI spec: {e}")))?;
    tracing::debug!(container = %c.name, uid = identity.uid, "container spec built");
    Ok(Built { spec, stop_signal: stop_signal(image.stop_signal.as_deref()), uid: identity.uid, gid: identity.gid })
}

/// Signal names by number (x86/arm `signal(7)` numbering).
const SIGNALS: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// The image's `StopSignal` (`SIGQUIT`, `quit`, `3`, `SIGRTMIN+3`) as `SIGxxx`; `SIGTERM` when unset.
pub fn stop_signal(image_stop_signal: Option<&str>) -> String {
    let s = image_stop_signal.map(str::trim).unwrap_or_default().to_ascii_uppercase();
    if s.is_empty() {
        return "SIGTERM".into();
    }
    if let Ok(n) = s.parse::<usize>() {
        return match n.checked_sub(1).and_then(|i| SIGNALS.get(i)) {
            Some(name) => name.to_string(),
            None => format!("SIGRTMIN+{}", n.saturating_sub(34)),
        };
    }
    if s.starts_with("SIG") {
        s
    } else {
        format!("SIG{s}")
    }
}

#[cfg(test)]
mod tests;
