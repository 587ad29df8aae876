//! Ending a pod on this node: stopping its containers (app containers together, then sidecars in reverse order),
//! removing its sandbox and volumes, the final delete of the object, and forgetting it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::{field_path, pod_path, subject, Kind, Worker};
use crate::pods::runs::Run;
use crate::pods::stop;

impl Worker {
    /// The pod reached Succeeded or Failed: stop what still runs (sidecars), release everything, remove the
    /// sandbox. The pod IP stays in the status, as upstream.
    pub(super) async fn finish(&mut self, pod: &Pod) {
        let grace = Duration::from_secs(
            pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0) as u64,
        );
        self.stop_all(Some(pod), grace).await;
        if let Err(e) = self.ctx.sandboxes.remove(&self.uid).await {
            tracing::warn!(pod = %self.uid, error = %e, "removing the sandbox of a finished pod");
        }
        self.terminal = true;
    }

    /// Stops every running container: app containers together, then sidecars in reverse order.
    pub(super) async fn stop_all(&mut self, pod: Option<&Pod>, grace: Duration) {
        for (_, (_, h)) in self.probers.drain() {
            h.abort();
        }
        let spec = pod.and_then(|p| p.spec.clone()).unwrap_or_default();
        let init_names: Vec<String> = spec.init_containers.iter().flatten().map(|c| c.name.clone()).collect();
        let ctx = self.ctx.clone();
        let mut app_runs: Vec<(String, Run)> = Vec::new();
        let mut init_runs: Vec<(String, Run)> = Vec::new();
        for (name, runs) in self.runs.iter_mut() {
            if let Some(r) = runs.last_mut() {
                r.refresh();
                if r.running() {
                    let item = (name.clone(), r.clone());
                    if init_names.contains(name) {
                        init_runs.push(item)
                    } else {
                        app_runs.push(item)
                    }
                }
            }
        }
        let kill = |name: String, mut run: Run, kind: Kind| {
            let ctx = ctx.clone();
            async move {
                if let Some(p) = pod {
                    let msg = format!("Stopping container {name}");
                    ctx.recorder.normal(&subject(p, field_path(kind, &name)), "Killing", &msg).await;
                }
                stop::stop(&ctx, &mut run, grace).await;
                (name, run)
            }
        };
        let mut done: Vec<(String, Run)> =
            futures::future::join_all(app_runs.into_iter().map(|(n, r)| kill(n, r, Kind::App))).await;
        init_runs.sort_by_key(|(n, _)| std::cmp::Reverse(init_names.iter().position(|x| x == n)));
        for (n, r) in init_runs {
            done.push(kill(n, r, Kind::Init).await);
        }
        for (name, run) in done {
            if let Some(last) = self.runs.get_mut(&name).and_then(|v| v.last_mut()) {
                *last = run;
            }
        }
        for r in self.runs.values_mut().flatten() {
            r.refresh();
            if !r.running() {
                stop::release(&self.ctx, r).await;
            }
        }
    }

    /// Stops everything of the pod and removes its sandbox and volumes (not its directory yet).
    pub(super) async fn terminate(&mut self, pod: Option<&Pod>, grace: Duration) {
        self.stop_all(pod, grace).await;
        if let Err(e) = self.ctx.sandboxes.remove(&self.uid).await {
            tracing::warn!(pod = %self.uid, error = %e, "removing the sandbox");
        }
        let root = self.ctx.layout.volumes(&self.uid);
        let torn = tokio::task::spawn_blocking(move || skiff_volumes::PodVolumes::new(root).teardown()).await;
        if let Ok(Err(e)) = torn {
            tracing::warn!(pod = %self.uid, error = %e, "tearing down volumes");
        }
    }

    /// Deletes the pod object for good. `true` when it is gone (or replaced by another pod of the same name).
    pub(super) async fn final_delete(&self, pod: &Pod) -> bool {
        let opts = json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                          "preconditions": {"uid": self.uid}});
        match self.ctx.client.delete(&pod_path(pod), Some(&opts)).await {
            Ok(_) => true,
            Err(e) if e.is_not_found() || e.is_conflict() => true,
            Err(e) => {
                tracing::warn!(pod = %self.uid, error = %e, "deleting the pod");
                false
            }
        }
    }

    /// Removes the pod's directory: nothing of it remains on the node.
    pub(super) async fn forget(&mut self) {
        self.ctx.images.forget(&self.uid);
        self.ctx.recorder.forget(&self.uid);
        let dir = self.ctx.layout.pod(&self.uid);
        let (parent, name) = (self.ctx.cgroup_parent.clone(), format!("pod{}", self.uid));
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = skiff_runtime::remove_cgroup(&parent, &name) {
                tracing::warn!(cgroup = %name, error = %e, "removing the pod cgroup");
            }
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), error = %e, "removing the pod directory");
                }
            }
        })
        .await;
        tracing::info!(pod = %self.uid, "pod removed from the node");
    }
}
