//! cgroup v2: one directory, `/sys/fs/cgroup/<parent>/<id>`.
//!
//! [`V2Cgroup::create`] enables the controllers a container needs (`memory cpu pids`, those the root offers) in
//! `cgroup.subtree_control` of every ancestor from the root down to `<parent>`, which must hold no process
//! (v2's "no internal processes" rule).
//!
//! TODO(v2): device rules. v2 has no `devices.*` files: runc attaches a `BPF_PROG_TYPE_CGROUP_DEVICE` program
//! to the cgroup. Until then containers on v2 hosts get no device cgroup filter (the `/dev` tmpfs still only
//! holds the default nodes). TODO(v2): `clone3(CLONE_INTO_CGROUP)` to avoid the migration cost.

mod cpu;
mod memory;
mod pids;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{write, Cgroup};
use crate::error::{Result, RuntimeError};

/// The controllers enabled for containers.
pub const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// A container's cgroup in the unified hierarchy.
#[derive(Debug, Clone)]
pub struct V2Cgroup {
    root: PathBuf,
    rel: PathBuf,
}

impl V2Cgroup {
    /// `root` is the cgroup2 mount (`/sys/fs/cgroup`), `rel` the cgroup's path below it.
    pub fn new(root: &Path, rel: PathBuf) -> V2Cgroup {
        V2Cgroup { root: root.into(), rel }
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.rel)
    }

    fn enable_controllers(&self) -> Result<()> {
        let avail_file = self.root.join("cgroup.controllers");
        let avail = std::fs::read_to_string(&avail_file).map_err(RuntimeError::io("read", &avail_file))?;
        let want: Vec<&str> =
            CONTROLLERS.iter().copied().filter(|c| avail.split_whitespace().any(|a| a == *c)).collect();
        if want.is_empty() {
            tracing::warn!(root = %self.root.display(), "cgroup v2: no memory/cpu/pids controller available");
            return Ok(());
        }
        let value = want.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
        // every ancestor of the container's directory, root included
        let mut dir = self.root.clone();
        let parts: Vec<_> = self.rel.components().collect();
        for (i, part) in parts.iter().enumerate() {
            write(&dir.join("cgroup.subtree_control"), &value)?;
            dir.push(part);
            if i + 1 < parts.len() {
                std::fs::create_dir_all(&dir).map_err(RuntimeError::io("mkdir", &dir))?;
            }
        }
        Ok(())
    }
}

impl Cgroup for V2Cgroup {
    fn create(&self) -> Result<()> {
        let d = self.dir();
        if let Some(parent) = d.parent() {
            std::fs::create_dir_all(parent).map_err(RuntimeError::io("mkdir", parent))?;
        }
        self.enable_controllers()?;
        std::fs::create_dir_all(&d).map_err(RuntimeError::io("mkdir", d))
    }

    fn apply(&self, res: &LinuxResources) -> Result<()> {
        let d = self.dir();
        if let Some(m) = res.memory() {
            memory::apply(&d, m)?;
        }
        if let Some(c) = res.cpu() {
            cpu::apply(&d, c)?;
        }
        if let Some(p) = res.pids() {
            pids::apply(&d, p)?;
        }
        if res.devices().as_ref().is_some_and(|d| d.iter().any(|r| r.allow())) {
            tracing::debug!("cgroup v2 device rules are not enforced yet (TODO: BPF device filter)");
        }
        Ok(())
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        vec![self.dir().join("cgroup.procs")]
    }

    fn pids(&self) -> Result<Vec<i32>> {
        super::read_pids(&self.dir().join("cgroup.procs"))
    }

    fn oom_kills(&self) -> Result<u64> {
        memory::oom_kills(&self.dir())
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir()]
    }
}
