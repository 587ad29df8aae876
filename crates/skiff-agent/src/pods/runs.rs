//! Runs of a pod's containers as recorded on disk: one bundle directory per attempt
//! (`containers/<name>/<attempt>/`), holding the agent's `run.json`, the shim's `config.json`, `started.json`
//! and `exit.json`. Loading them is how a restarted agent knows what runs, what ran and how it ended.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skiff_shim::{ExitRecord, Started};

use crate::layout::Layout;

/// The agent's own record of a run, written before the shim is spawned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    /// The runtime's container id.
    pub id: String,
    pub container: String,
    pub attempt: u32,
    /// The image as the container status shows it (`docker.io/library/nginx:1.24`).
    pub image: String,
    /// `docker.io/library/nginx@sha256:…`.
    pub image_id: String,
    /// The signal that asks it to stop (image StopSignal or SIGTERM).
    pub stop_signal: String,
    /// Set when the start failed (then `exit.json` was written by the agent).
    #[serde(default)]
    pub start_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub meta: RunMeta,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub started: Option<Started>,
    pub exit: Option<ExitRecord>,
    /// Runtime resources (cgroup, rootfs mount) released after the exit.
    pub released: bool,
}

impl Run {
    pub fn running(&self) -> bool {
        self.started.is_some() && self.exit.is_none()
    }

    /// Re-reads `exit.json` (the shim writes it when the container exits).
    pub fn refresh(&mut self) {
        if self.exit.is_none() {
            self.exit = skiff_shim::read_exit(&self.dir).ok().flatten();
        }
    }

    pub fn container_id(&self) -> String {
        format!("skiff://{}", self.meta.id)
    }
}

pub fn write_meta(dir: &Path, meta: &RunMeta) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("run.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(meta).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, dir.join("run.json"))
}

/// Writes the exit record of a run that never started (the shim did not get that far).
pub fn write_start_failure(dir: &Path, code: i32, at: &str) -> std::io::Result<ExitRecord> {
    let rec =
        ExitRecord { code, signal: None, oom_killed: false, started_at: at.to_string(), finished_at: at.to_string() };
    let tmp = dir.join("exit.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&rec).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, dir.join("exit.json"))?;
    Ok(rec)
}

/// Every recorded run of the pod, by container name, oldest attempt first.
pub fn load(layout: &Layout, uid: &str) -> BTreeMap<String, Vec<Run>> {
    let mut out: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    let Ok(names) = std::fs::read_dir(layout.containers(uid)) else { return out };
    for name in names.flatten() {
        let name = name.file_name().to_string_lossy().into_owned();
        let Ok(attempts) = std::fs::read_dir(layout.container_runs(uid, &name)) else { continue };
        let mut runs = Vec::new();
        for a in attempts.flatten() {
            let dir = a.path();
            let Ok(bytes) = std::fs::read(dir.join("run.json")) else { continue };
            let Ok(meta) = serde_json::from_slice::<RunMeta>(&bytes) else { continue };
            let started = skiff_shim::read_started(&dir).ok().flatten();
            let exit = skiff_shim::read_exit(&dir).ok().flatten();
            let log = layout.log(uid, &name, meta.attempt);
            runs.push(Run { meta, dir, log, started, exit, released: false });
        }
        runs.sort_by_key(|r| r.meta.attempt);
        if !runs.is_empty() {
            out.insert(name, runs);
        }
    }
    out
}
