//! `clone` into the container's namespaces, and the parent's side of the sync pipe.

use std::io::Read;
use std::os::fd::AsRawFd;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::{pipe2, Pid};

use crate::child::{self, ExecArgs, Report, KIND_EXEC, STEPS};
use crate::error::{Result, RuntimeError};
use crate::plan::{Plan, ProcessPlan};

const STACK_SIZE: usize = 256 * 1024;

/// Clones the container's init, which sets up and execs; returns its pid once `execve` succeeded.
pub(crate) fn spawn(plan: &Plan) -> Result<i32> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(RuntimeError::sys("pipe2"))?;
    let exec = ExecArgs::new(&plan.process);
    let wfd = w.as_raw_fd();
    let mut stack = vec![0u8; STACK_SIZE];
    let cb = Box::new(|| {
        // SAFETY: we are the freshly cloned child; `plan` and `exec` were built before the clone
        unsafe {
            let rep = child::run(plan, &exec);
            child::report(wfd, &rep);
            libc::_exit(127)
        }
    });
    if let Some(fd) = &plan.join_pid {
        // pid_for_children of this (single-threaded, one-container) process: the clone below lands in that
        // namespace and stays our child, so we can still wait for it
        nix::sched::setns(fd, CloneFlags::CLONE_NEWPID).map_err(RuntimeError::sys("setns(pid namespace)"))?;
    }
    // SAFETY: the callback only makes syscalls (no allocation, no locks); see the crate docs on threads
    let pid = unsafe { nix::sched::clone(cb, &mut stack, plan.clone_flags, Some(libc::SIGCHLD)) }
        .map_err(RuntimeError::sys(format!("clone({:?})", plan.clone_flags)))?;
    drop(w);
    let mut buf = [0u8; std::mem::size_of::<Report>()];
    let n = read_full(&mut std::fs::File::from(r), &mut buf);
    if n < buf.len() {
        return Ok(pid.as_raw()); // EOF: execve closed the pipe
    }
    // SAFETY: `Report` is plain old data of exactly this size
    let rep: Report = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
    let _ = waitpid(pid, None);
    Err(to_error(plan, &rep, pid))
}

pub(crate) fn read_full(f: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    n
}

fn to_error(plan: &Plan, rep: &Report, pid: Pid) -> RuntimeError {
    if rep.kind == KIND_EXEC {
        return exec_error(&plan.process, rep);
    }
    let i = rep.detail as usize;
    let what = match rep.step {
        1 => plan.cgroup_procs.get(i).map(|p| p.to_string_lossy().into_owned()),
        2 => plan.setns.get(i).map(|(_, _, n)| n.to_string()),
        7..=11 => plan.mounts.get(i).map(|m| format!("{} on /{}", m.src.to_string_lossy(), m.dst.to_string_lossy())),
        12 => plan.devices.get(i).map(|d| d.path.to_string_lossy().into_owned()),
        17 => plan.sysctl.get(i).map(|(k, _)| k.to_string_lossy().into_owned()),
        18 => plan.masked.get(i).map(|p| p.to_string_lossy().into_owned()),
        19 => plan.readonly.get(i).map(|p| p.to_string_lossy().into_owned()),
        _ => process_detail(&plan.process, rep),
    };
    tracing::debug!(pid = pid.as_raw(), step = STEPS.get(rep.step as usize).copied(), "container setup failed");
    setup_error(rep, what)
}

/// The error of a failed `execve` (`rep.kind == KIND_EXEC`): runc's "executable file not found in $PATH" when
/// the `$PATH` lookup found nothing.
pub(crate) fn exec_error(p: &ProcessPlan, rep: &Report) -> RuntimeError {
    let errno = nix::errno::Errno::from_raw(rep.errno);
    let arg0 = p.argv.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    if errno == nix::errno::Errno::ENOENT && !arg0.contains('/') {
        return RuntimeError::ExecutableNotFound(arg0);
    }
    let path = p.exec_candidates.get(rep.step as usize).map(|c| c.to_string_lossy().into_owned()).unwrap_or(arg0);
    RuntimeError::Exec { path, errno }
}

/// What a failed step of the process settings was about (the rlimit, the cwd).
pub(crate) fn process_detail(p: &ProcessPlan, rep: &Report) -> Option<String> {
    let i = rep.detail as usize;
    match rep.step {
        22 => p.rlimits.get(i).map(|(r, l)| format!("resource {r} = {}/{}", l.rlim_cur, l.rlim_max)),
        29 => Some(p.cwd.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// A failed setup step (`rep.kind == KIND_STEP`) as an error naming the step and `what` it was about.
pub(crate) fn setup_error(rep: &Report, what: Option<String>) -> RuntimeError {
    let errno = nix::errno::Errno::from_raw(rep.errno);
    let name = STEPS.get(rep.step as usize).copied().unwrap_or("?");
    let step = match what {
        Some(w) => format!("{name} ({w})"),
        None => name.to_string(),
    };
    RuntimeError::Setup { step, errno }
}
