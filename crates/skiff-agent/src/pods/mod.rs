//! The pods bound to this node: one worker per pod ([`worker`]), fed by a list + watch of
//! `spec.nodeName=<node>`, plus the pods found on disk that the API no longer has (they are torn down).

mod env;
mod objects;
mod probes;
pub mod runs;
mod start;
mod status;
mod stop;
mod worker;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use skiff_client::{q, Client};
use tokio::sync::watch;

use crate::events::Recorder;
use crate::images::Images;
use crate::layout::Layout;
use crate::node::Machine;
use crate::sandbox::Sandboxes;

/// What every pod worker shares.
pub struct Ctx {
    pub client: Client,
    pub node_name: String,
    pub node_ip: Ipv4Addr,
    pub machine: Machine,
    pub layout: Layout,
    pub sandboxes: Sandboxes,
    pub images: Images,
    pub recorder: Recorder,
    pub shim_exe: PathBuf,
    pub cgroup_parent: String,
    /// `namespace/name` → uid of the pods this node runs (for the node server).
    pub index: Mutex<HashMap<String, String>>,
    /// Container starts (shim spawns) running at once.
    pub start_slots: tokio::sync::Semaphore,
}

impl Ctx {
    pub fn pod_uid(&self, ns: &str, name: &str) -> Option<String> {
        self.index.lock().unwrap_or_else(|e| e.into_inner()).get(&format!("{ns}/{name}")).cloned()
    }
}

/// The recorded runs of one container of a pod, oldest first.
pub fn container_runs(ctx: &Ctx, uid: &str, container: &str) -> Vec<runs::Run> {
    runs::load(&ctx.layout, uid).remove(container).unwrap_or_default()
}

type Workers = Arc<Mutex<HashMap<String, watch::Sender<Option<Pod>>>>>;

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// Hands the pod's latest state (or its disappearance) to its worker, starting one if needed.
fn route(ctx: &Arc<Ctx>, workers: &Workers, uid: &str, pod: Option<Pod>) {
    if let Some(p) = &pod {
        let key =
            format!("{}/{}", p.metadata.namespace.as_deref().unwrap_or(""), p.metadata.name.as_deref().unwrap_or(""));
        ctx.index.lock().unwrap_or_else(|e| e.into_inner()).insert(key, uid.to_string());
    }
    let mut map = workers.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(tx) = map.get(uid) {
        if !tx.is_closed() {
            let _ = tx.send(pod);
            return;
        }
    }
    if pod.is_none() && !ctx.layout.pod(uid).exists() {
        return;
    }
    let (tx, rx) = watch::channel(pod);
    map.insert(uid.to_string(), tx);
    let (ctx, workers, uid) = (ctx.clone(), workers.clone(), uid.to_string());
    tokio::spawn(async move {
        worker::run(ctx.clone(), uid.clone(), rx).await;
        ctx.index.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, u| *u != uid);
        let mut map = workers.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&uid).is_some_and(|tx| tx.is_closed() || tx.receiver_count() == 0) {
            map.remove(&uid);
        }
    });
}

fn parse_pod(v: serde_json::Value) -> Option<Pod> {
    match serde_json::from_value::<Pod>(v) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(error = %e, "undecodable pod");
            None
        }
    }
}

/// Runs forever: relists after every watch that ends, so missed events only delay convergence.
pub async fn run(ctx: Arc<Ctx>) {
    let workers: Workers = Arc::new(Mutex::new(HashMap::new()));
    let path = format!("/api/v1/pods?fieldSelector={}", q(&format!("spec.nodeName={}", ctx.node_name)));
    let mut first = true;
    loop {
        let (items, rv) = match ctx.client.list(&path).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "listing this node's pods");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let mut listed = HashSet::new();
        for pod in items.into_iter().filter_map(parse_pod) {
            let uid = uid_of(&pod);
            listed.insert(uid.clone());
            route(&ctx, &workers, &uid, Some(pod));
        }
        // Pods on disk or with a worker that the API no longer has: gone while we were not watching.
        let mut known: HashSet<String> = workers.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        if first {
            if let Ok(rd) = std::fs::read_dir(ctx.layout.pods()) {
                known.extend(rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()));
            }
            first = false;
        }
        for uid in known.difference(&listed) {
            route(&ctx, &workers, uid, None);
        }
        let mut events = match ctx.client.watch(&path, &rv).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "watching this node's pods");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(ev) = events.next().await {
            match ev.kind.as_str() {
                "ADDED" | "MODIFIED" => {
                    if let Some(pod) = parse_pod(ev.object) {
                        route(&ctx, &workers, &uid_of(&pod), Some(pod));
                    }
                }
                "DELETED" => {
                    if let Some(pod) = parse_pod(ev.object) {
                        route(&ctx, &workers, &uid_of(&pod), None);
                    }
                }
                "ERROR" => break,
                _ => {}
            }
        }
    }
}

/// Kills and removes everything of one pod found on disk, without the API (`skiff reset`).
pub async fn reset_pod(layout: &Layout, sandboxes: &Sandboxes, cgroup_parent: &str, uid: &str) {
    let state = layout.runtime_state();
    for run in runs::load(layout, uid).into_values().flatten() {
        let (state, id) = (state.clone(), run.meta.id.clone());
        let r = tokio::task::spawn_blocking(move || skiff_runtime::destroy_by_id(&state, &id)).await;
        if let Ok(Err(e)) = r {
            tracing::warn!(pod = uid, id = %run.meta.id, error = %e, "destroying a container");
        }
    }
    if let Err(e) = sandboxes.remove(uid).await {
        tracing::warn!(pod = uid, error = %e, "removing a sandbox");
    }
    let root = layout.volumes(uid);
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || skiff_volumes::PodVolumes::new(root).teardown()).await {
        tracing::warn!(pod = uid, error = %e, "tearing down volumes");
    }
    if let Err(e) = skiff_runtime::remove_cgroup(cgroup_parent, &format!("pod{uid}")) {
        tracing::warn!(pod = uid, error = %e, "removing the pod cgroup");
    }
    if let Err(e) = std::fs::remove_dir_all(layout.pod(uid)) {
        tracing::warn!(pod = uid, error = %e, "removing the pod directory");
    }
}
