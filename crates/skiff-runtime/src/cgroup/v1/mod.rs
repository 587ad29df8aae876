//! cgroup v1: one directory per controller hierarchy, `/sys/fs/cgroup/<controller>/<parent>/<id>`.
//!
//! On this project's reference host `cpu` and `cpuacct` are separate mounts; where they are co-mounted
//! (`cpu,cpuacct` with `cpu` and `cpuacct` symlinks) the two paths name the same directory, which is fine:
//! creating, joining and removing are idempotent.

mod cpu;
mod cpuacct;
mod devices;
mod memory;
mod pids;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::Cgroup;
use crate::error::{Result, RuntimeError};

/// The hierarchies a container joins, in join order.
pub const CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "devices"];

/// A container's cgroup in the v1 hierarchies of [`CONTROLLERS`].
#[derive(Debug, Clone)]
pub struct V1Cgroup {
    root: PathBuf,
    rel: PathBuf,
}

impl V1Cgroup {
    /// `root` is where the hierarchies are mounted (`/sys/fs/cgroup`), `rel` the cgroup's path in each.
    pub fn new(root: &Path, rel: PathBuf) -> V1Cgroup {
        V1Cgroup { root: root.into(), rel }
    }

    /// The cgroup's directory in one controller's hierarchy.
    pub fn dir(&self, controller: &str) -> PathBuf {
        self.root.join(controller).join(&self.rel)
    }

    fn mounted(&self, controller: &str) -> bool {
        self.root.join(controller).join("cgroup.procs").exists()
    }
}

impl Cgroup for V1Cgroup {
    fn create(&self) -> Result<()> {
        for c in CONTROLLERS {
            if !self.mounted(c) {
                return Err(RuntimeError::Cgroup(format!(
                    "v1 controller {c} is not mounted under {}",
                    self.root.display()
                )));
            }
            let d = self.dir(c);
            std::fs::create_dir_all(&d).map_err(RuntimeError::io("mkdir", d))?;
        }
        Ok(())
    }

    fn apply(&self, res: &LinuxResources) -> Result<()> {
        if let Some(m) = res.memory() {
            memory::apply(&self.dir("memory"), m)?;
        }
        if let Some(c) = res.cpu() {
            cpu::apply(&self.dir("cpu"), c)?;
        }
        if let Some(p) = res.pids() {
            pids::apply(&self.dir("pids"), p)?;
        }
        devices::apply(&self.dir("devices"), res.devices().as_deref().unwrap_or_default())?;
        cpuacct::apply(&self.dir("cpuacct"))
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        CONTROLLERS.iter().map(|c| self.dir(c).join("cgroup.procs")).collect()
    }

    fn pids(&self) -> Result<Vec<i32>> {
        // every joined hierarchy holds the same processes; a crash between joins leaves some only in the first
        let mut all = vec![];
        for c in CONTROLLERS {
            for p in super::read_pids(&self.dir(c).join("cgroup.procs"))? {
                if !all.contains(&p) {
                    all.push(p);
                }
            }
        }
        Ok(all)
    }

    fn oom_kills(&self) -> Result<u64> {
        memory::oom_kills(&self.dir("memory"))
    }

    fn dirs(&self) -> Vec<PathBuf> {
        CONTROLLERS.iter().map(|c| self.dir(c)).collect()
    }
}
