//! The worker's side of probes: a prober task per running container run, and the restarts that failed
//! liveness/startup probes call for.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{field_path, subject, Kind, Worker};
use crate::pods::{probes, stop};

impl Worker {
    /// Starts a prober for every running container run that has probes and none yet; stops those of runs that
    /// ended.
    pub(super) fn sync_probers(&mut self, pod: &Pod) {
        let spec = pod.spec.clone().unwrap_or_default();
        let containers = spec.init_containers.iter().flatten().chain(spec.containers.iter());
        let Some(ip) = self.sandbox.as_ref().map(|s| s.ip) else { return };
        for c in containers {
            let has = c.liveness_probe.is_some() || c.readiness_probe.is_some() || c.startup_probe.is_some();
            let current = self.runs.get(&c.name).and_then(|r| r.last()).filter(|r| r.running());
            let prober_run = self.probers.get(&c.name).map(|(id, _)| id.clone());
            match (current, prober_run) {
                (Some(r), Some(id)) if r.meta.id == id => {}
                (Some(r), _) if has => {
                    if let Some((_, h)) = self.probers.remove(&c.name) {
                        h.abort();
                    }
                    let kind = if spec.containers.iter().any(|x| x.name == c.name) { Kind::App } else { Kind::Init };
                    let target = probes::Target {
                        container: c.clone(),
                        run_id: r.meta.id.clone(),
                        pod_ip: std::net::IpAddr::V4(ip),
                        bundle: r.dir.clone(),
                        subject: subject(pod, field_path(kind, &c.name)),
                    };
                    let task =
                        tokio::spawn(probes::run(self.ctx.clone(), target, self.probes.clone(), self.wake.clone()));
                    self.probers.insert(c.name.clone(), (r.meta.id.clone(), task.abort_handle()));
                }
                (None, Some(_)) | (Some(_), Some(_)) => {
                    if let Some((_, h)) = self.probers.remove(&c.name) {
                        h.abort();
                    }
                    self.probes.lock().unwrap_or_else(|e| e.into_inner()).remove(&c.name);
                }
                _ => {}
            }
        }
    }

    /// Stops the containers whose liveness or startup probe failed for good; the next pass restarts them per
    /// the restart policy.
    pub(super) async fn kill_unhealthy(&mut self, pod: &Pod) {
        let doomed: Vec<(String, String, String)> = self
            .probes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(name, st)| st.kill.clone().map(|why| (name.clone(), st.run_id.clone(), why)))
            .collect();
        let spec = pod.spec.clone().unwrap_or_default();
        for (name, run_id, why) in doomed {
            let Some(c) = spec.init_containers.iter().flatten().chain(spec.containers.iter()).find(|c| c.name == name)
            else {
                continue;
            };
            let kind = if spec.containers.iter().any(|x| x.name == name) { Kind::App } else { Kind::Init };
            let grace = c
                .liveness_probe
                .as_ref()
                .and_then(|p| p.termination_grace_period_seconds)
                .or(spec.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0) as u64;
            let ctx = self.ctx.clone();
            if let Some(run) = self.runs.get_mut(&name).and_then(|r| r.last_mut()).filter(|r| r.meta.id == run_id) {
                ctx.recorder.normal(&subject(pod, field_path(kind, &name)), "Killing", &why).await;
                stop::stop(&ctx, run, Duration::from_secs(grace)).await;
            }
            if let Some((_, h)) = self.probers.remove(&name) {
                h.abort();
            }
            self.probes.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
        }
    }

    pub(super) fn started(&self, c: &Container) -> bool {
        let run = self.last_run(&c.name).filter(|r| r.running());
        let probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        match (run, probes.get(&c.name)) {
            (Some(r), Some(p)) if p.run_id == r.meta.id => p.started,
            (Some(_), _) => c.startup_probe.is_none(),
            (None, _) => false,
        }
    }
}
