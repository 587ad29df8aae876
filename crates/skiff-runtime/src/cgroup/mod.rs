//! Cgroups behind one small trait, [`Cgroup`], with a v1 and a v2 implementation chosen by the host's layout.
//!
//! A container's cgroup is `<parent>/<id>` under each hierarchy the runtime uses:
//! - **v1** (also the hybrid layout of hosts whose `/sys/fs/cgroup` is a tmpfs of v1 controller mounts, with a
//!   possibly empty cgroup2 at `/sys/fs/cgroup/unified`): the `memory`, `cpu`, `cpuacct`, `pids` and `devices`
//!   hierarchies, one file per controller in [`v1`]; other hierarchies (freezer, blkio, cpuset, `name=systemd`,
//!   unified) are left alone.
//! - **v2** (`/sys/fs/cgroup` is cgroup2): one directory, with `+memory +cpu +pids` enabled in every ancestor's
//!   `cgroup.subtree_control`; see [`v2`] (device rules are a TODO there).
//!
//! The container's init joins its cgroups itself, by writing `0` to every `cgroup.procs` file the manager
//! lists ([`Cgroup::procs_files`]) before anything else — so the limits apply from its first allocation.

pub mod v1;
pub mod v2;

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use crate::error::{Result, RuntimeError};

/// Where cgroup hierarchies are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Layout {
    /// v1 controllers (legacy or hybrid: `/sys/fs/cgroup` is a tmpfs).
    V1,
    /// The unified hierarchy at `/sys/fs/cgroup`.
    V2,
}

impl Layout {
    /// `V2` when `/sys/fs/cgroup` is a cgroup2 file system, else `V1`.
    pub fn detect() -> Result<Layout> {
        let st = nix::sys::statfs::statfs(CGROUP_ROOT).map_err(RuntimeError::sys(format!("statfs {CGROUP_ROOT}")))?;
        Ok(if st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC { Layout::V2 } else { Layout::V1 })
    }
}

/// One container's cgroup, in whatever hierarchies the layout has.
pub trait Cgroup: Debug + Send + Sync {
    /// Creates the directories (and, on v2, enables controllers in the ancestors). Idempotent.
    fn create(&self) -> Result<()>;
    /// Writes the limits of `linux.resources`.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// The `cgroup.procs` files the container's init writes `0` into to join.
    fn procs_files(&self) -> Vec<PathBuf>;
    /// The processes in the cgroup (empty if it does not exist).
    fn pids(&self) -> Result<Vec<i32>>;
    /// How many processes the kernel's OOM killer killed in this cgroup.
    fn oom_kills(&self) -> Result<u64>;
    /// Every directory of this cgroup, deepest last.
    fn dirs(&self) -> Vec<PathBuf>;
    /// Removes the directories (they must hold no process). Idempotent.
    fn remove(&self) -> Result<()> {
        for d in self.dirs() {
            rmdir_retry(&d)?;
        }
        Ok(())
    }
}

/// The cgroup of container `id` under `parent` (e.g. `"skiff"` or `"skiff/pod-uid"`), for this host's layout.
pub fn for_container(layout: Layout, parent: &str, id: &str) -> Result<Box<dyn Cgroup>> {
    let rel = relative_path(parent, id)?;
    Ok(match layout {
        Layout::V1 => Box::new(v1::V1Cgroup::new(Path::new(CGROUP_ROOT), rel)),
        Layout::V2 => Box::new(v2::V2Cgroup::new(Path::new(CGROUP_ROOT), rel)),
    })
}

fn relative_path(parent: &str, id: &str) -> Result<PathBuf> {
    let mut rel = PathBuf::new();
    for part in parent.split('/').filter(|p| !p.is_empty()).chain([id]) {
        if part == "." || part == ".." || part.contains('\0') {
            return Err(RuntimeError::Cgroup(format!("bad cgroup path component {part:?}")));
        }
        rel.push(part);
    }
    Ok(rel)
}

/// Sends `SIGKILL` to every process of the cgroup until it is empty (or `timeout` passes).
pub fn kill_all(cg: &dyn Cgroup, timeout: Duration) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let pids = cg.pids()?;
        if pids.is_empty() {
            return Ok(());
        }
        for p in &pids {
            // ESRCH: exited meanwhile
            let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
        }
        if std::time::Instant::now() > deadline {
            return Err(RuntimeError::Cgroup(format!("processes {pids:?} survive SIGKILL")));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    tracing::trace!(path = %path.display(), value, "cgroup write");
    std::fs::write(path, value).map_err(RuntimeError::io("write", path))
}

pub(crate) fn read_pids(procs: &Path) -> Result<Vec<i32>> {
    match std::fs::read_to_string(procs) {
        Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(e) => Err(RuntimeError::Io { op: "read", path: procs.into(), source: e }),
    }
}

/// The value of `key` in a flat-keyed file (`key value` lines), 0 when absent.
pub(crate) fn read_keyed(path: &Path, key: &str) -> Result<u64> {
    let s = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(RuntimeError::Io { op: "read", path: path.into(), source: e }),
    };
    Ok(s.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0))
}

/// `rmdir` that waits out the short `EBUSY` window after the last process left; absent is fine.
pub(crate) fn rmdir_retry(d: &Path) -> Result<()> {
    for i in 0..100 {
        match std::fs::remove_dir(d) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && i < 99 => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(RuntimeError::Io { op: "rmdir", path: d.into(), source: e }),
        }
    }
    Ok(())
}
