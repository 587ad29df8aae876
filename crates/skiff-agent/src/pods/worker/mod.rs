//! One pod's worker: converges what runs on this node with the pod's spec, level-triggered, and reports status.
//!
//! Each pass ([`Worker::sync`]): sandbox → volumes → init containers in order (each to completion; sidecars —
//! init containers with `restartPolicy: Always` — started and kept running) → app containers → restarts per
//! `restartPolicy` with the crash-loop back-off → phase; a pod that reached Succeeded or Failed has its
//! remaining containers stopped and its sandbox removed. A deleted pod is stopped (grace period, stop signal,
//! SIGKILL), torn down, and then deleted for good (`gracePeriodSeconds: 0` with the UID as precondition).
//!
//! Passes run when the pod changes, when a container exits (a watcher per running container), when a back-off
//! ends, and every 10 s regardless.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{json, Value};
use skiff_client::q;
use tokio::sync::{watch, Notify};

use super::probes::ProbeStates;
use super::runs::{self, Run};
use super::start::{self, Outcome, StartArgs};
use super::status::{self, PodView, Transitions};
use super::{stop, Ctx};
use crate::backoff::Backoff;
use crate::events::Subject;
use crate::images::go_duration_ms;
use crate::sandbox::Sandbox;

mod probing;
mod teardown;

const RESYNC: Duration = Duration::from_secs(10);
/// How often ConfigMap/Secret-backed volumes are refreshed from the API.
const VOLUME_REFRESH: Duration = Duration::from_secs(10);
/// The grace period for pods that vanished from the API without a graceful deletion (force deletes).
const VANISHED_GRACE: Duration = Duration::from_secs(2);

pub fn node_info(ctx: &Ctx) -> skiff_volumes::NodeInfo {
    skiff_volumes::NodeInfo {
        node_name: ctx.node_name.clone(),
        allocatable_cpu_millis: ctx.machine.cpus as i64 * 1000,
        allocatable_memory_bytes: ctx.machine.allocatable_memory() as i64,
        allocatable_ephemeral_bytes: ctx.machine.allocatable_ephemeral() as i64,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Init,
    App,
}

struct Worker {
    ctx: Arc<Ctx>,
    uid: String,
    runs: BTreeMap<String, Vec<Run>>,
    waiting: HashMap<String, (String, String)>,
    backoff: HashMap<String, Backoff>,
    sandbox: Option<Sandbox>,
    volumes: HashMap<String, PathBuf>,
    volumes_at: Option<Instant>,
    tokens: super::objects::TokenCache,
    transitions: Transitions,
    start_time: Option<String>,
    last_status: Option<Value>,
    wake: Arc<Notify>,
    terminal: bool,
    probes: ProbeStates,
    /// The prober task of each container's current run: (run id, task).
    probers: HashMap<String, (String, tokio::task::AbortHandle)>,
}

/// Runs the pod's worker until the pod is gone from the API and from this node.
pub async fn run(ctx: Arc<Ctx>, uid: String, mut rx: watch::Receiver<Option<Pod>>) {
    let mut w = Worker::load(ctx, uid);
    let mut last: Option<Pod> = None;
    loop {
        let current = rx.borrow_and_update().clone();
        let next = match current {
            Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                let grace = pod
                    .metadata
                    .deletion_grace_period_seconds
                    .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
                    .unwrap_or(30)
                    .max(0) as u64;
                w.terminate(Some(&pod), Duration::from_secs(grace)).await;
                if w.final_delete(&pod).await {
                    w.forget().await;
                    return;
                }
                Duration::from_secs(1)
            }
            Some(pod) => {
                last = Some(pod.clone());
                w.sync(&pod).await
            }
            None => {
                w.terminate(last.as_ref(), VANISHED_GRACE).await;
                w.forget().await;
                return;
            }
        };
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = w.wake.notified() => {}
            _ = tokio::time::sleep(next) => {}
        }
    }
}

fn subject(pod: &Pod, field_path: String) -> Subject {
    Subject {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        resource_version: pod.metadata.resource_version.clone().unwrap_or_default(),
        field_path,
    }
}

fn field_path(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Init => format!("spec.initContainers{{{name}}}"),
        Kind::App => format!("spec.containers{{{name}}}"),
    }
}

fn pod_path(pod: &Pod) -> String {
    format!(
        "/api/v1/namespaces/{}/pods/{}",
        q(pod.metadata.namespace.as_deref().unwrap_or("default")),
        q(pod.metadata.name.as_deref().unwrap_or_default())
    )
}

/// A wall-clock RFC 3339 time as an `Instant` (for back-off arithmetic).
fn instant_of(t: &str) -> Instant {
    let now = Instant::now();
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(at) => {
            let ago = chrono::Utc::now().signed_duration_since(at.with_timezone(&chrono::Utc));
            now.checked_sub(ago.to_std().unwrap_or_default()).unwrap_or(now)
        }
        Err(_) => now,
    }
}

/// Waits for a run's exit record: a pidfd of the container's init wakes us at its exit; the file is also polled,
/// since the pid may be gone (or reused) by the time we look.
fn watch_exit(run: &Run, wake: Arc<Notify>) {
    let Some(started) = run.started.clone() else { return };
    let dir = run.dir.clone();
    tokio::spawn(async move {
        let exit_file = dir.join("exit.json");
        let pidfd = pidfd(started.pid);
        loop {
            if exit_file.exists() {
                wake.notify_one();
                return;
            }
            match &pidfd {
                Some(fd) => {
                    tokio::select! {
                        r = fd.readable() => {
                            if let Ok(mut g) = r { g.retain_ready(); }
                            // the shim writes the record right after reaping
                            for _ in 0..200 {
                                if exit_file.exists() { break; }
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                None => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    });
}

fn pidfd(pid: i32) -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor was just returned to us and is owned by nobody else
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same until it is dropped
    unsafe { tokio::io::unix::AsyncFd::register(owned) }.ok()
}

impl Worker {
    fn load(ctx: Arc<Ctx>, uid: String) -> Worker {
        let runs = runs::load(&ctx.layout, &uid);
        let wake = Arc::new(Notify::new());
        for r in runs.values().flatten() {
            if r.running() {
                tracing::info!(pod = %uid, container = %r.meta.container, id = %r.meta.id, "adopted running container");
                watch_exit(r, wake.clone());
            }
        }
        Worker {
            ctx,
            uid,
            runs,
            waiting: HashMap::new(),
            backoff: HashMap::new(),
            sandbox: None,
            volumes: HashMap::new(),
            volumes_at: None,
            tokens: Default::default(),
            transitions: Transitions::default(),
            start_time: None,
            last_status: None,
            wake,
            terminal: false,
            probes: Default::default(),
            probers: HashMap::new(),
        }
    }

    fn record_pod(&self, pod: &Pod) {
        let path = self.ctx.layout.pod_record(&self.uid);
        if path.exists() {
            return;
        }
        let rec = json!({"namespace": pod.metadata.namespace, "name": pod.metadata.name, "uid": self.uid});
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(self.ctx.layout.pod(&self.uid))?;
            std::fs::write(&path, serde_json::to_vec(&rec).map_err(std::io::Error::other)?)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "writing the pod record");
        }
    }

    /// One convergence pass; returns when the next one is due at the latest.
    async fn sync(&mut self, pod: &Pod) -> Duration {
        self.record_pod(pod);
        if self.start_time.is_none() {
            self.transitions.seed(pod);
            // a pod that had finished before an agent restart stays finished: nothing to set up again
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                self.finish(pod).await;
            }
            self.start_time = Some(
                pod.status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .map(|t| t.0.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_else(crate::now_rfc3339),
            );
        }
        for r in self.runs.values_mut().flatten() {
            r.refresh();
            if r.exit.is_some() && !r.released {
                stop::release(&self.ctx, r).await;
            }
        }
        self.sync_probers(pod);
        self.kill_unhealthy(pod).await;
        if self.terminal {
            self.report(pod).await;
            return Duration::from_secs(60);
        }
        let mut next = RESYNC;
        match self.ctx.sandboxes.ensure(pod).await {
            Ok(sb) => self.sandbox = Some(sb),
            Err(e) => {
                let msg = format!("Failed to create pod sandbox: {e}");
                tracing::warn!(pod = %self.uid, error = %e, "sandbox");
                self.ctx.recorder.warning(&subject(pod, String::new()), "FailedCreatePodSandBox", &msg).await;
                self.report(pod).await;
                return Duration::from_secs(5);
            }
        }
        if self.volumes_at.is_none_or(|t| t.elapsed() >= VOLUME_REFRESH) {
            match self.setup_volumes(pod).await {
                Ok(()) => self.volumes_at = Some(Instant::now()),
                Err(msg) => {
                    self.ctx.recorder.warning(&subject(pod, String::new()), "FailedMount", &msg).await;
                    if self.volumes_at.is_none() {
                        // the first setup failed: nothing can start yet
                        self.report(pod).await;
                        return Duration::from_secs(2);
                    }
                }
            }
        }
        if self.last_status.is_none() {
            // as the kubelet, report the pod as seen (ContainerCreating / Init:0/N) before starting anything
            self.report(pod).await;
        }
        if let Some(wait) = self.step_init(pod).await {
            next = next.min(wait);
        } else if let Some(wait) = self.step_app(pod).await {
            next = next.min(wait);
        }
        let phase = self.report(pod).await;
        if matches!(phase, "Succeeded" | "Failed") {
            self.finish(pod).await;
            self.report(pod).await;
        }
        next
    }

    /// Fetches the objects the pod's volumes need and sets each volume up (or refreshes its content).
    async fn setup_volumes(&mut self, pod: &Pod) -> Result<(), String> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let mut objects = super::objects::VolumeObjects::default();
        for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            objects.fetch_for(&self.ctx.client, &ns, v).await;
            objects.fetch_tokens(&self.ctx.client, pod, v, &mut self.tokens).await;
        }
        let node = node_info(&self.ctx);
        let (pod, root) = (pod.clone(), self.ctx.layout.volumes(&self.uid));
        let result = tokio::task::spawn_blocking(move || {
            let vols = skiff_volumes::PodVolumes::new(root);
            let mut out = HashMap::new();
            for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
                match vols.setup(&pod, v, &objects, &node) {
                    Ok(p) => {
                        out.insert(v.name.clone(), p);
                    }
                    Err(e) => return Err(skiff_volumes::failed_mount_message(&v.name, &e)),
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| e.to_string())??;
        self.volumes = result;
        Ok(())
    }

    fn last_run(&self, name: &str) -> Option<&Run> {
        self.runs.get(name).and_then(|r| r.last())
    }

    /// Init containers in order. `None` when all are done (sidecars running), else when to look again.
    async fn step_init(&mut self, pod: &Pod) -> Option<Duration> {
        let spec = pod.spec.clone().unwrap_or_default();
        let policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
        for c in spec.init_containers.iter().flatten() {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            let state = self.last_run(&c.name).map(|r| (r.running(), r.exit.as_ref().map(|e| e.code)));
            match state {
                Some((true, _)) if sidecar && self.started(c) => continue,
                Some((true, _)) if sidecar => return Some(RESYNC),
                Some((true, _)) => return Some(RESYNC),
                Some((false, Some(0))) if !sidecar => continue,
                Some((false, Some(_))) if !sidecar && policy == "Never" => return Some(RESYNC),
                Some((false, _)) => {
                    let wait = self.restart(pod, c, Kind::Init).await;
                    if !(sidecar && self.started(c)) {
                        return Some(wait.unwrap_or(RESYNC));
                    }
                }
                None => {
                    let wait = self.start(pod, c, Kind::Init, 0).await;
                    if !(sidecar && self.started(c)) {
                        return Some(wait.unwrap_or(RESYNC));
                    }
                }
            }
        }
        None
    }

    async fn step_app(&mut self, pod: &Pod) -> Option<Duration> {
        let spec = pod.spec.clone().unwrap_or_default();
        let policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
        let mut next: Option<Duration> = None;
        for c in &spec.containers {
            let state = self.last_run(&c.name).map(|r| (r.running(), r.exit.as_ref().map(|e| e.code)));
            let wait = match state {
                None => self.start(pod, c, Kind::App, 0).await,
                Some((true, _)) => None,
                Some((false, code)) => {
                    let again = policy == "Always" || (policy == "OnFailure" && code != Some(0));
                    if again {
                        self.restart(pod, c, Kind::App).await
                    } else {
                        None
                    }
                }
            };
            if let Some(w) = wait {
                next = Some(next.map_or(w, |n| n.min(w)));
            }
        }
        next
    }

    /// Restarts an exited container, unless its crash-loop back-off says to wait (then `CrashLoopBackOff`).
    async fn restart(&mut self, pod: &Pod, c: &Container, kind: Kind) -> Option<Duration> {
        let (attempt, finished) = match self.last_run(&c.name) {
            Some(r) => {
                (r.meta.attempt + 1, r.exit.as_ref().map(|e| instant_of(&e.finished_at)).unwrap_or_else(Instant::now))
            }
            None => (0, Instant::now()),
        };
        let b = self.backoff.entry(c.name.clone()).or_default();
        if let Some(remaining) = b.remaining_since(finished, Instant::now()) {
            let (ns, name) =
                (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
            let message = format!(
                "back-off {} restarting failed container={} pod={name}_{ns}({})",
                go_duration_ms(b.delay()),
                c.name,
                self.uid
            );
            self.waiting.insert(c.name.clone(), ("CrashLoopBackOff".into(), message));
            let ev = format!("Back-off restarting failed container {} in pod {name}_{ns}({})", c.name, self.uid);
            self.ctx.recorder.warning(&subject(pod, field_path(kind, &c.name)), "BackOff", &ev).await;
            return Some(remaining);
        }
        b.failed(finished);
        self.start(pod, c, kind, attempt).await
    }

    async fn start(&mut self, pod: &Pod, c: &Container, kind: Kind, attempt: u32) -> Option<Duration> {
        let Some(sandbox) = self.sandbox.clone() else { return Some(Duration::from_secs(1)) };
        let subj = subject(pod, field_path(kind, &c.name));
        let args = StartArgs { pod, container: c, attempt, sandbox: &sandbox, volumes: &self.volumes, subject: &subj };
        match start::start(&self.ctx, args).await {
            Outcome::Started(run) => {
                self.waiting.remove(&c.name);
                watch_exit(&run, self.wake.clone());
                self.push_run(run);
                None
            }
            Outcome::Failed(run) => {
                self.waiting.remove(&c.name);
                self.push_run(run);
                Some(Duration::from_millis(100))
            }
            Outcome::Waiting { reason, message } => {
                self.waiting.insert(c.name.clone(), (reason.to_string(), message));
                Some(Duration::from_secs(5))
            }
        }
    }

    /// Adds a run and forgets all but the two latest of the container (the kubelet keeps one dead container
    /// per container for `--previous`).
    fn push_run(&mut self, run: Run) {
        let list = self.runs.entry(run.meta.container.clone()).or_default();
        list.push(run);
        while list.len() > 2 {
            let old = list.remove(0);
            let _ = std::fs::remove_dir_all(&old.dir);
            let _ = std::fs::remove_file(&old.log);
        }
    }

    /// Computes the status and writes it if it changed; returns the phase.
    async fn report(&mut self, pod: &Pod) -> &'static str {
        let probes = self.probes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let view = PodView {
            pod,
            runs: &self.runs,
            waiting: &self.waiting,
            sandbox_ready: self.sandbox.is_some() && !self.terminal,
            pod_ip: self.sandbox.as_ref().map(|s| s.ip.to_string()),
            host_ip: self.ctx.node_ip.to_string(),
            start_time: self.start_time.as_deref().unwrap_or_default(),
            probes: &probes,
        };
        let (status, phase) = status::pod_status(&view, &mut self.transitions);
        if self.last_status.as_ref() == Some(&status) {
            return phase;
        }
        let path = format!("{}/status", pod_path(pod));
        match self.ctx.client.merge_patch(&path, &json!({"status": status})).await {
            Ok(_) => self.last_status = Some(status),
            Err(e) if e.is_not_found() => {}
            Err(e) => tracing::warn!(pod = %self.uid, error = %e, "writing the pod status"),
        }
        phase
    }
}
