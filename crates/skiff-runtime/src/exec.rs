//! Running another process inside a running container: exec probes now, `kubectl exec` later.
//!
//! [`exec()`] gives the new process what the container's own process has — its namespaces, cgroup, root, user,
//! groups, capabilities, no_new_privs, rlimits and oom_score_adj — taken from the container's init and from the
//! spec's `process` kept in the state record, with the overrides of an [`ExecSpec`] (args always; env, cwd,
//! user, capabilities, no_new_privs optionally). It is runc's `exec`, in two clones:
//!
//! 1. In the caller, still in the host's namespaces: check that the recorded pid is still the container's init
//!    (start time, not a zombie), open every `/proc/<pid>/ns/*` that differs from the caller's — all of them
//!    before any `setns`, and the pid checked again after, so they are the init's — and prepare the
//!    process plan (C strings, the `$PATH` candidates) and both stacks.
//! 2. The *joiner*, cloned from the caller: becomes non-dumpable (a container process must not reach the host's
//!    binary through `/proc/PID/exe` before `execve`), writes `0` to the container's `cgroup.procs` files (host
//!    paths, so before the mount namespace), `setns`es into ipc, uts, net, cgroup, pid and — last — mnt.
//!    Joining a mount namespace sets root and cwd to the namespace's root, which the init's `pivot_root` made
//!    the container's rootfs: no `chroot` is needed (the tests check that a file of the container's overlay is
//!    seen at `/`). `setns` into a pid namespace only applies to children, hence:
//! 3. The *process*, cloned by the joiner with `CLONE_PARENT` — in the container's pid namespace, and a child of
//!    the caller (so the caller can wait for it). It starts a session of its own (its process group is what
//!    [`kill_exec`] signals, so a timeout also ends what it started), resets signal dispositions, applies the
//!    process settings as the init does (`child.rs`: rlimits, user, capabilities, no_new_privs, `chdir`) and
//!    `execve`s over the container's `$PATH`.
//!
//! Failures before `execve` come back on the same `CLOEXEC` sync pipe and in the same words as the init's
//! (`exec: "x": executable file not found in $PATH`); the joiner also sends the process's pid on it. Like
//! [`create_and_start`](crate::create_and_start), [`exec()`] clones the calling process: call it from a
//! single-threaded process (`skiff shim exec`).
//!
//! The process is in the container's cgroup and pid namespace, so destroying the container (or its init
//! exiting) kills it too. Not supported yet: a terminal, and an exec into a container whose process settings
//! were not recorded (records from before exec existed) unless the [`ExecSpec`] gives them all.

use std::cell::Cell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{pipe2, Pid};
use oci_spec::runtime::{LinuxCapabilities, Process, User};

use crate::child::{self, ExecArgs, ExecCtx, Report, KIND_EXEC, KIND_PID};
use crate::error::{Result, RuntimeError};
use crate::plan::{self, ExecPlan};
use crate::{spawn, state, Container, ExitStatus, Stdio};

/// The joiner only makes a few syscalls; the process runs the same setup as the init's tail.
const STACK_SIZE: usize = 256 * 1024;

/// The namespaces joined, in order: the mount namespace last (after it, host paths are gone).
const NAMESPACES: [(&str, libc::c_int); 6] = [
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
];

/// What to run in a container. `None` fields are the container's own (its spec's `process`, as recorded when
/// it was created).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExecSpec {
    /// The command; `args[0]` without a `/` is looked up in the `PATH` of the process's env (inside the
    /// container), or in the default `PATH`.
    pub args: Vec<String>,
    /// `NAME=value` entries.
    pub env: Option<Vec<String>>,
    /// The working directory inside the container; it must exist.
    pub cwd: Option<PathBuf>,
    /// uid, gid, additional gids (numeric, as in the OCI spec), umask.
    pub user: Option<User>,
    pub capabilities: Option<LinuxCapabilities>,
    pub no_new_privs: Option<bool>,
    pub stdio: Stdio,
}

impl ExecSpec {
    /// `args` with everything else the container's, and stdio to `/dev/null`.
    pub fn new(args: Vec<String>) -> ExecSpec {
        ExecSpec { args, ..ExecSpec::default() }
    }

    /// `args` with the env, cwd, user, capabilities and no_new_privs of `process` (e.g. the container's spec
    /// from its bundle), and stdio to `/dev/null`.
    pub fn from_process(process: &Process, args: Vec<String>) -> ExecSpec {
        ExecSpec {
            args,
            env: Some(process.env().clone().unwrap_or_default()),
            cwd: Some(process.cwd().clone()),
            user: Some(process.user().clone()),
            capabilities: process.capabilities().clone(),
            no_new_privs: Some(process.no_new_privileges().unwrap_or(false)),
            stdio: Stdio::null(),
        }
    }
}

/// A process started by [`exec`]: a child of the caller, until [`wait_exec`] reaps it.
#[derive(Debug)]
pub struct ExecProcess {
    /// In the caller's pid namespace (also its process group and session id).
    pub pid: i32,
    reaped: Cell<bool>,
}

/// Runs `spec` inside the running container `id` of `state_dir`; returns once the process has `execve`d, or
/// the error that stopped it (e.g. `exec: "x": executable file not found in $PATH`,
/// [`RuntimeError::NotRunning`]). Must run in a single-threaded process (see the crate docs); the caller
/// must then [`wait_exec`] for the process.
pub fn exec(state_dir: &Path, id: &str, spec: &ExecSpec) -> Result<ExecProcess> {
    crate::check_id(id)?;
    if crate::threads() > 1 {
        tracing::warn!(id, "exec called from a multi-threaded process: not fork-safe");
    }
    let not_running = || RuntimeError::NotRunning(id.to_string());
    let st = state::read(state_dir, id)?.ok_or_else(not_running)?;
    let c = Container::load(state_dir, id)?.ok_or_else(not_running)?;
    if !state::running(c.pid, c.start_time) {
        return Err(not_running());
    }
    let process = effective_process(st.process.as_ref(), spec, id)?;
    let (process, _) = plan::process_plan(&process)?;
    let (setns, ns_files) = open_namespaces(c.pid).map_err(|e| match e {
        // the init exited meanwhile
        RuntimeError::Sys { errno: Errno::ENOENT | Errno::ESRCH, .. } => not_running(),
        e => e,
    })?;
    // the descriptors are the init's only if the pid still is the init's once they are open
    if !state::running(c.pid, c.start_time) {
        return Err(not_running());
    }
    let stdio = spec.stdio.open()?;
    let cgroup_procs: Result<Vec<_>> =
        c.cgroup().procs_files().iter().map(|p| plan::cstr(p.as_os_str().as_bytes())).collect();
    let plan = ExecPlan {
        stdio: [0, 1, 2].map(|i| stdio[i].as_raw_fd()),
        cgroup_procs: cgroup_procs?,
        setns,
        process,
        _ns_files: ns_files,
    };
    let pid = spawn_exec(&plan)?;
    tracing::debug!(id, pid, args = ?spec.args, "exec started");
    Ok(ExecProcess { pid, reaped: Cell::new(false) })
}

/// The container's process with the overrides of `spec`; without a recorded process every field must be given.
fn effective_process(recorded: Option<&Process>, spec: &ExecSpec, id: &str) -> Result<Process> {
    if spec.args.is_empty() {
        return Err(RuntimeError::InvalidSpec("exec: no command".into()));
    }
    let mut p = match recorded {
        Some(p) => p.clone(),
        None => {
            let missing = [
                (spec.env.is_none(), "env"),
                (spec.cwd.is_none(), "cwd"),
                (spec.user.is_none(), "user"),
                (spec.capabilities.is_none(), "capabilities"),
                (spec.no_new_privs.is_none(), "no_new_privs"),
            ];
            if let Some((_, what)) = missing.iter().find(|(m, _)| *m) {
                return Err(RuntimeError::InvalidSpec(format!(
                    "exec: container {id} has no recorded process settings (created by an older version): \
                     {what} must be given"
                )));
            }
            // what a recorded process would add: rlimits and oom_score_adj are then inherited from the caller
            let mut p = Process::default();
            p.set_rlimits(None);
            p.set_oom_score_adj(None);
            p
        }
    };
    p.set_terminal(None);
    p.set_args(Some(spec.args.clone()));
    if let Some(env) = &spec.env {
        p.set_env(Some(env.clone()));
    }
    if let Some(cwd) = &spec.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(user) = &spec.user {
        p.set_user(user.clone());
    }
    if let Some(caps) = &spec.capabilities {
        p.set_capabilities(Some(caps.clone()));
    }
    if let Some(nnp) = spec.no_new_privs {
        p.set_no_new_privileges(Some(nnp));
    }
    Ok(p)
}

/// Opens `/proc/<pid>/ns/*` for each namespace of `pid` that is not the caller's (the same one is skipped:
/// joining it would change nothing, and a container may share the host's network, say).
#[allow(clippy::type_complexity)]
fn open_namespaces(pid: i32) -> Result<(Vec<(RawFd, libc::c_int, &'static str)>, Vec<OwnedFd>)> {
    let (mut setns, mut files) = (vec![], vec![]);
    for (name, typ) in NAMESPACES {
        let path = format!("/proc/{pid}/ns/{name}");
        let fd = nix::fcntl::open(path.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
            .map_err(RuntimeError::sys(format!("open {path}")))?;
        // SAFETY: open returned a fresh fd that nothing else owns
        let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let theirs = file.metadata().map_err(RuntimeError::io("stat", &path))?;
        let own = format!("/proc/self/ns/{name}");
        match std::fs::metadata(&own) {
            Ok(ours) if (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()) => continue,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {} // a kernel without it: join
            Err(e) => return Err(RuntimeError::Io { op: "stat", path: own.into(), source: e }),
        }
        let fd = OwnedFd::from(file);
        setns.push((fd.as_raw_fd(), typ, name));
        files.push(fd);
    }
    Ok((setns, files))
}

/// Clones the joiner, collects its reports and reaps it; returns the exec'd process's pid.
fn spawn_exec(plan: &ExecPlan) -> Result<i32> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(RuntimeError::sys("pipe2"))?;
    let exec = ExecArgs::new(&plan.process);
    let mut joiner_stack = vec![0u8; STACK_SIZE];
    let mut process_stack = vec![0u8; STACK_SIZE];
    let ctx = ExecCtx { plan, exec: &exec, pipe: w.as_raw_fd(), stack_top: stack_top(&mut process_stack) };
    // SAFETY: the joiner and the process only make syscalls on `ctx`, built above (see the crate docs on
    // threads); both run on stacks of their own in copies of this address space
    let joiner = unsafe {
        libc::clone(
            child::exec_joiner,
            stack_top(&mut joiner_stack),
            libc::SIGCHLD,
            &ctx as *const ExecCtx as *mut libc::c_void,
        )
    };
    if joiner < 0 {
        return Err(RuntimeError::Sys { call: "clone (exec)".into(), errno: Errno::last() });
    }
    drop(w);
    // reports until EOF: the joiner's (pid or failure) and, if the process failed before execve, its own
    let (mut pid, mut failure) = (None, None);
    let mut f = std::fs::File::from(r);
    loop {
        let mut buf = [0u8; std::mem::size_of::<Report>()];
        if spawn::read_full(&mut f, &mut buf) < buf.len() {
            break;
        }
        // SAFETY: `Report` is plain old data of exactly this size
        let rep: Report = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
        match rep.kind {
            KIND_PID => pid = Some(rep.detail as i32),
            _ => failure = failure.or(Some(rep)),
        }
    }
    reap(joiner);
    match (failure, pid) {
        (None, Some(pid)) => Ok(pid),
        (Some(rep), pid) => {
            if let Some(pid) = pid {
                reap(pid);
            }
            Err(if rep.kind == KIND_EXEC {
                spawn::exec_error(&plan.process, &rep)
            } else {
                let i = rep.detail as usize;
                let what = match rep.step {
                    1 => plan.cgroup_procs.get(i).map(|p| p.to_string_lossy().into_owned()),
                    2 => plan.setns.get(i).map(|(_, _, n)| n.to_string()),
                    _ => spawn::process_detail(&plan.process, &rep),
                };
                spawn::setup_error(&rep, what)
            })
        }
        (None, None) => Err(RuntimeError::Setup { step: "exec: no report from the joiner".into(), errno: Errno::EIO }),
    }
}

fn stack_top(stack: &mut [u8]) -> *mut libc::c_void {
    // SAFETY: one past the end of the allocation; aligned down to 16 bytes as the ABIs want
    let end = unsafe { stack.as_mut_ptr().add(stack.len()) };
    end.wrapping_sub(end as usize % 16).cast()
}

fn reap(pid: i32) {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Err(Errno::EINTR) => continue,
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

/// Waits for the exec'd process (the caller must be the one that called [`exec`]). With a timeout, `None`
/// means it still runs when the timeout passes. `oom_killed` is always false: the memory cgroup's counter is
/// the container's and cannot tell which process the OOM killer chose.
pub fn wait_exec(p: &ExecProcess, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
    if p.reaped.get() {
        return Err(RuntimeError::Sys { call: format!("waitpid({}): already reaped", p.pid), errno: Errno::ECHILD });
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let flags = deadline.map(|_| nix::sys::wait::WaitPidFlag::WNOHANG);
    loop {
        let status = match waitpid(Pid::from_raw(p.pid), flags) {
            Ok(WaitStatus::Exited(_, code)) => ExitStatus { code, signal: None, oom_killed: false },
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                ExitStatus { code: 128 + sig as i32, signal: Some(sig), oom_killed: false }
            }
            Ok(WaitStatus::StillAlive) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(None);
                }
                wait_readable(p.pid, deadline);
                continue;
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(RuntimeError::Sys { call: format!("waitpid({})", p.pid), errno: e }),
        };
        p.reaped.set(true);
        return Ok(Some(status));
    }
}

/// Sleeps until `pid` exits or `deadline` passes: on a pidfd when the kernel has them, else a short nap.
fn wait_readable(pid: i32, deadline: Option<Instant>) {
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(1));
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        std::thread::sleep(left.min(Duration::from_millis(10)));
        return;
    }
    // SAFETY: the kernel returned a new descriptor that only we own
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: one pollfd that we own
    unsafe { libc::poll(&mut pfd, 1, ms) };
}

/// Sends `signal` to the exec'd process's process group: itself and what it started (unless they made groups
/// of their own). A no-op once [`wait_exec`] reaped it; until then its pid, and so the group id, cannot be
/// reused.
pub fn kill_exec(p: &ExecProcess, signal: Signal) -> Result<()> {
    if p.reaped.get() {
        return Ok(());
    }
    // a session leader cannot leave its process group: the group exists while the process does
    match nix::sys::signal::killpg(Pid::from_raw(p.pid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(RuntimeError::Sys { call: format!("killpg({}, {signal})", p.pid), errno: e }),
    }
}
