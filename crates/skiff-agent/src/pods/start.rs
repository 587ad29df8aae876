//! Starting one run of a container: image, environment, mounts, OCI spec, bundle, shim — each failure ending as
//! the kubelet's waiting reason (`ErrImagePull`, `CreateContainerConfigError`, `CreateContainerError`) or, when
//! the process itself cannot start, as a terminated run (`StartError`, exit code 128).

use std::collections::HashMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};
use skiff_containerspec::{Inputs, Mount, Namespaces, Propagation, SpecError};
use skiff_image::hosts::Credentials;
use skiff_shim::{ShimConfig, StartReport};

use super::runs::{self, Run, RunMeta};
use super::{env, Ctx};
use crate::events::Subject;
use crate::sandbox::Sandbox;

pub enum Outcome {
    Started(Run),
    /// Not started; the container waits with this reason and message.
    Waiting {
        reason: &'static str,
        message: String,
    },
    /// The process could not start: a terminated run (exit code 128, reason StartError).
    Failed(Run),
}

/// The pod's `imagePullSecrets` as registry credentials (missing secrets are skipped, as the kubelet does).
async fn pull_credentials(ctx: &Ctx, pod: &Pod) -> Credentials {
    let mut creds = Credentials::default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    for r in pod.spec.as_ref().and_then(|s| s.image_pull_secrets.clone()).unwrap_or_default() {
        let path = format!("/api/v1/namespaces/{}/secrets/{}", skiff_client::q(&ns), skiff_client::q(&r.name));
        let Ok(Some(v)) = ctx.client.get_opt(&path).await else { continue };
        let Ok(secret) = serde_json::from_value::<k8s_openapi::api::core::v1::Secret>(v) else { continue };
        let data = secret.data.unwrap_or_default();
        let Some(cfg) = data.get(".dockerconfigjson").or_else(|| data.get(".dockercfg")) else { continue };
        match Credentials::from_docker_config(&cfg.0) {
            Ok(c) => creds = creds.merged(&c),
            Err(e) => tracing::warn!(secret = %r.name, error = %e, "unusable image pull secret"),
        }
    }
    creds
}

fn random_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..32).map(|_| format!("{:02x}", rng.gen::<u8>())).collect()
}

pub struct StartArgs<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub attempt: u32,
    pub sandbox: &'a Sandbox,
    pub volumes: &'a HashMap<String, PathBuf>,
    pub subject: &'a Subject,
}

pub async fn start(ctx: &Ctx, a: StartArgs<'_>) -> Outcome {
    let (pod, c, subject) = (a.pod, a.container, a.subject);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let creds = pull_credentials(ctx, pod).await;
    let rec = match ctx.images.ensure(&uid, c, &creds, &ctx.recorder, subject).await {
        Ok(r) => r,
        Err(w) => return Outcome::Waiting { reason: w.reason, message: w.message },
    };
    let config_error = |message: String| async move {
        ctx.recorder.warning(subject, "Failed", &format!("Error: {message}")).await;
        Outcome::Waiting { reason: "CreateContainerConfigError", message }
    };
    let svc = ctx.images.service();
    let (image_cfg, layers) = match svc.config(&rec).and_then(|cfg| Ok((cfg, svc.layer_dirs(&rec)?))) {
        Ok(x) => x,
        Err(e) => return config_error(format!("image {}: {e}", rec.name)).await,
    };
    // the downward API sees the pod's IPs before the kubelet has reported them
    let mut seen = pod.clone();
    let status = seen.status.get_or_insert_with(Default::default);
    status.pod_ip = Some(a.sandbox.ip.to_string());
    status.pod_ips = Some(vec![k8s_openapi::api::core::v1::PodIP { ip: a.sandbox.ip.to_string() }]);
    status.host_ip = Some(ctx.node_ip.to_string());
    status.host_ips = Some(vec![k8s_openapi::api::core::v1::HostIP { ip: ctx.node_ip.to_string() }]);
    let node = super::worker::node_info(ctx);
    let (env, invalid) = match env::resolve(&ctx.client, &seen, c, &node).await {
        Ok(e) => e,
        Err(message) => return config_error(message).await,
    };
    if !invalid.is_empty() {
        let msg = format!("Keys [{}] from the EnvFrom configMap {} were skipped since they are considered invalid environment variable names.", invalid.join(", "), pod.metadata.namespace.clone().unwrap_or_default());
        ctx.recorder.warning(subject, "InvalidEnvironmentVariableNames", &msg).await;
    }
    let service_env = env::service_env(&ctx.client, pod).await;
    let mut mounts = Vec::new();
    for vm in c.volume_mounts.iter().flatten() {
        let Some(host) = a.volumes.get(&vm.name) else {
            return config_error(format!("cannot find volume \"{}\" to mount into container \"{}\"", vm.name, c.name))
                .await;
        };
        let sub = vm.sub_path.clone().filter(|s| !s.is_empty()).or_else(|| {
            vm.sub_path_expr.as_ref().map(|e| {
                skiff_containerspec::expand(e, &|k: &str| env.iter().find(|v| v.name == k).map(|v| v.value.clone()))
            })
        });
        let source = match sub.filter(|s| !s.is_empty()) {
            Some(s) => match skiff_volumes::subpath(host, &s) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(container = %c.name, volume = %vm.name, error = %e, "subPath");
                    let m = format!(
                        "failed to prepare subPath for volumeMount \"{}\" of container \"{}\"",
                        vm.name, c.name
                    );
                    return config_error(m).await;
                }
            },
            None => host.clone(),
        };
        mounts.push(Mount {
            name: vm.name.clone(),
            source,
            destination: vm.mount_path.clone(),
            read_only: vm.read_only.unwrap_or(false),
            recursive_read_only: vm.recursive_read_only.as_deref() == Some("Enabled"),
            propagation: match vm.mount_propagation.as_deref() {
                Some("HostToContainer") => Propagation::HostToContainer,
                Some("Bidirectional") => Propagation::Bidirectional,
                _ => Propagation::Private,
            },
        });
    }
    let dir = ctx.layout.bundle(&uid, &c.name, a.attempt);
    let log = ctx.layout.log(&uid, &c.name, a.attempt);
    let termination_log = dir.join("termination-log");
    let prepare = || -> std::io::Result<()> {
        for d in [dir.join("rootfs/upper"), dir.join("rootfs/work"), dir.join("rootfs/merged")] {
            std::fs::create_dir_all(d)?;
        }
        if let Some(p) = log.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&termination_log, b"")?;
        let policy = c.termination_message_policy.as_deref().unwrap_or("File");
        std::fs::write(dir.join("termination-policy"), policy)
    };
    if let Err(e) = prepare() {
        return config_error(format!("preparing {}: {e}", dir.display())).await;
    }
    let sb = a.sandbox;
    let inputs = Inputs {
        pod: &seen,
        container: c,
        image: &image_cfg,
        image_layers: &layers,
        env,
        service_env,
        mounts,
        namespaces: Namespaces {
            network: sb.netns.clone(),
            ipc: sb.ipc.clone(),
            uts: sb.uts.clone(),
            pid: sb.pid.clone(),
        },
        hostname: sb.hostname.clone(),
        etc_hosts: Some(sb.etc_hosts.clone()),
        etc_hostname: Some(sb.etc_hostname.clone()),
        resolv_conf: Some(sb.resolv_conf.clone()),
        dev_shm: sb.shm.clone(),
        termination_log: Some(termination_log.clone()),
        node_memory_bytes: ctx.machine.memory_bytes,
    };
    let built = match skiff_containerspec::build(&inputs) {
        Ok(b) => b,
        Err(SpecError::Config(m)) => return config_error(m).await,
        Err(SpecError::Create(message)) => {
            ctx.recorder.warning(subject, "Failed", &format!("Error: {message}")).await;
            return Outcome::Waiting { reason: "CreateContainerError", message };
        }
    };
    let id = random_id();
    let mut meta = RunMeta {
        id: id.clone(),
        container: c.name.clone(),
        attempt: a.attempt,
        image: rec.name.clone(),
        image_id: image_id(&rec),
        stop_signal: built.stop_signal.clone(),
        start_error: None,
    };
    let container = skiff_runtime::ContainerConfig {
        id,
        spec: built.spec,
        rootfs: skiff_runtime::RootfsSpec::Overlay {
            lower: layers,
            upper: dir.join("rootfs/upper"),
            work: dir.join("rootfs/work"),
            target: dir.join("rootfs/merged"),
            volatile: true,
        },
        state_dir: ctx.layout.runtime_state(),
        cgroup_parent: format!("{}/pod{}", ctx.cgroup_parent, uid),
        stdio: skiff_runtime::Stdio::null(),
    };
    let shim_cfg = ShimConfig::new(container, log.clone());
    let written = runs::write_meta(&dir, &meta)
        .map_err(|e| e.to_string())
        .and_then(|_| skiff_shim::write_config(&dir, &shim_cfg).map_err(|e| e.to_string()));
    if let Err(e) = written {
        return config_error(format!("writing the bundle {}: {e}", dir.display())).await;
    }
    ctx.recorder.normal(subject, "Created", &format!("Created container: {}", c.name)).await;
    let (exe, bundle) = (ctx.shim_exe.clone(), dir.clone());
    // A burst of starts contends for the same two or so cores; a few at a time finish sooner overall.
    let _slot = ctx.start_slots.acquire().await;
    let report = tokio::task::spawn_blocking(move || skiff_shim::spawn(&exe, &bundle))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let mut run = Run { meta: meta.clone(), dir: dir.clone(), log, started: None, exit: None, released: false };
    match report {
        Ok(StartReport::Started { .. }) => {
            run.started = skiff_shim::read_started(&dir).ok().flatten();
            if run.started.is_none() {
                tracing::warn!(dir = %dir.display(), "shim reported a start but wrote no started.json");
            }
            ctx.recorder.normal(subject, "Started", &format!("Started container {}", c.name)).await;
            Outcome::Started(run)
        }
        Ok(StartReport::Failed { error }) | Err(error) => {
            let message = format!("failed to start container \"{}\": {error}", c.name);
            meta.start_error = Some(message.clone());
            let _ = runs::write_meta(&dir, &meta);
            run.meta = meta;
            run.exit = runs::write_start_failure(&dir, 128, &crate::now_rfc3339()).ok();
            run.released = true;
            ctx.recorder.warning(subject, "Failed", &format!("Error: {message}")).await;
            Outcome::Failed(run)
        }
    }
}

/// `docker.io/library/nginx@sha256:…`: the repository with the digest the name resolved to.
fn image_id(rec: &skiff_image::store::ImageRecord) -> String {
    let repo = rec.name.rsplit_once('@').map(|(r, _)| r).unwrap_or(&rec.name);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    format!("{repo}@{}", rec.digest)
}
