//! skiff's container runtime: one container from an OCI runtime spec, with its cgroup, on `nix`/`libc`.
//!
//! A thin layer (no runc, no youki; see `ARCHITECTURE.md`, "Container runtime layer"): the caller builds an
//! [`oci_spec::runtime::Spec`], and [`create_and_start`] mounts the rootfs ([`RootfsSpec`]), creates the cgroup
//! (v1 or v2, [`cgroup`]), clones the container's init into its namespaces, sets it up ([`child`]: mounts,
//! `pivot_root`, masked paths, rlimits, user, capabilities) and returns once it has `execve`d — or with the
//! error that stopped it. [`wait`] collects the exit (code, signal, OOM kill), [`kill`] signals it, and
//! [`destroy`] / [`destroy_by_id`] remove everything (processes, cgroup, mount, state record), idempotently.
//! [`exec()`] runs another process inside a running container (its namespaces, cgroup, user and capabilities),
//! for exec probes and `kubectl exec`; [`wait_exec`] and [`kill_exec`] go with it.
//!
//! Nothing here knows about Kubernetes.
//!
//! # Fork safety: call from a single-threaded process
//! [`create_and_start`] (and [`exec()`]) `clone`s the calling process. The child only makes syscalls on data
//! prepared before the clone, but any other thread of the caller could hold a lock or be mid-way through creating
//! a descriptor without `CLOEXEC` at that instant, and a container init must be the child of a process that
//! outlives it to be waited for. So skiff calls it from `skiff shim` (and `skiff shim exec`), single-threaded
//! processes; tests and examples run each start in a freshly spawned helper process. A multi-threaded caller
//! gets a warning.
//! [`wait`] must be called by the same process (the container's parent), and [`wait_exec`] by the process that
//! called [`exec()`].

pub mod cgroup;
pub mod error;
pub mod exec;
pub mod rootfs;
pub mod stdio;

mod caps;
mod child;
mod plan;
mod securejoin;
mod spawn;
mod state;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub use error::{Result, RuntimeError};
pub use exec::{exec, kill_exec, wait_exec, ExecProcess, ExecSpec};
pub use rootfs::RootfsSpec;
pub use stdio::{Stdio, StdioTarget};

/// Everything needed to start one container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ContainerConfig {
    /// Unique among the containers of `state_dir`; also the cgroup's name. `[A-Za-z0-9_.-]`, not `.`/`..`.
    pub id: String,
    /// What to run and how (process, mounts, namespaces — new, or existing ones joined by path —, resources,
    /// masked/read-only paths, capabilities…). `root.path` is ignored: the root is `rootfs`.
    pub spec: oci_spec::runtime::Spec,
    pub rootfs: RootfsSpec,
    /// Where the state record lives (`<state_dir>/<id>/state.json`).
    pub state_dir: PathBuf,
    /// The cgroup parent, relative to each hierarchy's root (e.g. `"skiff"`, `"skiff/pod-123"`).
    pub cgroup_parent: String,
    pub stdio: Stdio,
}

/// A started container.
#[derive(Debug)]
pub struct Container {
    pub id: String,
    /// The container's init, in the caller's pid namespace.
    pub pid: i32,
    state_dir: PathBuf,
    start_time: u64,
    cgroup: Box<dyn cgroup::Cgroup>,
}

/// How a container's init ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, or 128 + the signal number when killed by a signal (the shells' and Kubernetes' way).
    pub code: i32,
    /// The signal that killed it.
    pub signal: Option<Signal>,
    /// The kernel's OOM killer killed a process of the container's memory cgroup.
    pub oom_killed: bool,
}

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidSpec(format!("bad container id {id:?}")))
    }
}

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").and_then(|v| v.trim().parse().ok())))
        .unwrap_or(1)
}

/// Creates the container and starts its process; returns once it has `execve`d.
///
/// On error everything created so far is removed. Must run in a single-threaded process (see the crate docs).
pub fn create_and_start(cfg: &ContainerConfig) -> Result<Container> {
    check_id(&cfg.id)?;
    if threads() > 1 {
        tracing::warn!(id = %cfg.id, "create_and_start called from a multi-threaded process: not fork-safe");
    }
    let layout = cgroup::Layout::detect()?;
    let cg = cgroup::for_container(layout, &cfg.cgroup_parent, &cfg.id)?;
    if state::read(&cfg.state_dir, &cfg.id)?.is_some() {
        return Err(RuntimeError::InvalidSpec(format!("container {} already exists", cfg.id)));
    }
    let mut st = state::State {
        id: cfg.id.clone(),
        layout,
        cgroup_parent: cfg.cgroup_parent.clone(),
        mounted_rootfs: match &cfg.rootfs {
            RootfsSpec::Overlay { target, .. } => Some(target.clone()),
            RootfsSpec::Dir(_) => None,
        },
        pid: 0,
        start_time: 0,
        process: cfg.spec.process().clone(),
    };
    // the record exists before any kernel object, so destroy_by_id can always find them
    state::write(&cfg.state_dir, &st)?;
    match start(cfg, cg.as_ref()) {
        Ok((pid, start_time)) => {
            st.pid = pid;
            st.start_time = start_time;
            let c = Container { id: cfg.id.clone(), pid, state_dir: cfg.state_dir.clone(), start_time, cgroup: cg };
            if let Err(e) = state::write(&cfg.state_dir, &st) {
                let _ = destroy(&c);
                return Err(e);
            }
            tracing::debug!(id = %cfg.id, pid, "container started");
            Ok(c)
        }
        Err(e) => {
            tracing::debug!(id = %cfg.id, error = %e, "container start failed");
            if let Err(e2) = destroy_by_id(&cfg.state_dir, &cfg.id) {
                tracing::warn!(id = %cfg.id, error = %e2, "cleanup after a failed start");
            }
            Err(e)
        }
    }
}

fn start(cfg: &ContainerConfig, cg: &dyn cgroup::Cgroup) -> Result<(i32, u64)> {
    rootfs::mount_rootfs(&cfg.rootfs)?;
    cg.create()?;
    if let Some(res) = cfg.spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        cg.apply(res)?;
    }
    let stdio = cfg.stdio.open()?;
    let fds = [0, 1, 2].map(|i| std::os::fd::AsRawFd::as_raw_fd(&stdio[i]));
    let plan = plan::build(&cfg.spec, cfg.rootfs.root(), cg.procs_files(), fds)?;
    let pid = spawn::spawn(&plan)?;
    Ok((pid, state::start_time(pid).unwrap_or(0)))
}

impl Container {
    /// The container as recorded in `state_dir` (e.g. by a shim before it was restarted); `None` if unknown.
    pub fn load(state_dir: &Path, id: &str) -> Result<Option<Container>> {
        let Some(st) = state::read(state_dir, id)? else { return Ok(None) };
        let cgroup = cgroup::for_container(st.layout, &st.cgroup_parent, id)?;
        Ok(Some(Container { id: st.id, pid: st.pid, state_dir: state_dir.into(), start_time: st.start_time, cgroup }))
    }

    /// The container's cgroup.
    pub fn cgroup(&self) -> &dyn cgroup::Cgroup {
        self.cgroup.as_ref()
    }

    /// Whether the recorded process still exists (and is the same process, not a reused pid).
    pub fn alive(&self) -> bool {
        self.pid > 0 && state::start_time(self.pid).is_some_and(|t| t == self.start_time)
    }
}

/// Sends `signal` to the container's init. A process that is gone is not an error.
///
/// Note: the init of a new pid namespace only receives signals it has a handler for (`SIGKILL` aside).
pub fn kill(c: &Container, signal: Signal) -> Result<()> {
    if !c.alive() {
        return Ok(());
    }
    match nix::sys::signal::kill(Pid::from_raw(c.pid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(RuntimeError::Sys { call: format!("kill({}, {signal})", c.pid), errno: e }),
    }
}

/// Waits for the container's init to exit (the caller must be its parent) and reports how it ended.
pub fn wait(c: &Container) -> Result<ExitStatus> {
    let (code, signal) = loop {
        match waitpid(Pid::from_raw(c.pid), None) {
            Ok(WaitStatus::Exited(_, code)) => break (code, None),
            Ok(WaitStatus::Signaled(_, sig, _)) => break (128 + sig as i32, Some(sig)),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(RuntimeError::Sys { call: format!("waitpid({})", c.pid), errno: e }),
        }
    };
    let oom_killed = c.cgroup.oom_kills()? > 0;
    Ok(ExitStatus { code, signal, oom_killed })
}

/// Kills whatever is left of the container, removes its cgroup, unmounts its rootfs and forgets it. Idempotent.
pub fn destroy(c: &Container) -> Result<()> {
    destroy_by_id(&c.state_dir, &c.id)
}

/// [`destroy`] by id, from the state record alone (after a crash of the caller). Unknown ids are fine.
pub fn destroy_by_id(state_dir: &Path, id: &str) -> Result<()> {
    check_id(id)?;
    let Some(c) = Container::load(state_dir, id)? else { return Ok(()) };
    let Some(st) = state::read(state_dir, id)? else { return Ok(()) };
    if c.alive() {
        let _ = nix::sys::signal::kill(Pid::from_raw(c.pid), Signal::SIGKILL);
    }
    cgroup::kill_all(c.cgroup.as_ref(), Duration::from_secs(5))?;
    if c.pid > 0 {
        reap(c.pid);
    }
    c.cgroup.remove()?;
    if let Some(target) = &st.mounted_rootfs {
        rootfs::unmount(target)?;
    }
    state::remove(state_dir, id)?;
    tracing::debug!(id, "container destroyed");
    Ok(())
}

/// Removes the (empty) cgroup `parent/name` from every hierarchy this runtime uses — e.g. a pod's directory once
/// its containers are destroyed. Absent is fine.
pub fn remove_cgroup(parent: &str, name: &str) -> Result<()> {
    cgroup::for_container(cgroup::Layout::detect()?, parent, name)?.remove()
}

/// Reaps `pid` if it is our child and has exited (or exits within a second after SIGKILL).
fn reap(pid: i32) {
    for _ in 0..500 {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(2)),
            Err(Errno::EINTR) => {}
            _ => return, // reaped, or not our child (ECHILD)
        }
    }
}
