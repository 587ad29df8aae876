//! Running a command inside a running container: `skiff shim exec --bundle DIR [--timeout SECS] -- CMD ARGS…`
//! ([`exec_main`]), and the agent's side that runs it and captures its output ([`exec`]).
//!
//! Why a process of its own: `skiff_runtime::exec` clones the calling process, so like the container's start it
//! must run in a single-threaded process — not in the agent. Unlike the shim, `shim exec` lives only as long as
//! the command: it runs it with the container's user, groups, capabilities, env and cwd (from the bundle's
//! `config.json`), stdin `/dev/null` and its own stdout/stderr (so the caller gets them), waits for it and exits
//! with its exit code. Exec probes use it now, `kubectl exec` later.
//!
//! Exit codes of `skiff shim exec` (as `timeout(1)` and docker do):
//! - the command's exit code, or 128 + the signal that killed it;
//! - [`EXIT_TIMED_OUT`] (124) when `--timeout` passed: the command's process group was killed with `SIGKILL`,
//!   and `skiff shim exec: timed out after …` is printed on stderr;
//! - [`EXIT_CANNOT_EXEC`] (125) when nothing could run (no such or stopped container, bad bundle, setup failure):
//!   stderr is `skiff shim exec: <error>`;
//! - 126 when the executable could not be run (e.g. not executable), 127 when it was not found
//!   (`exec: "x": executable file not found in $PATH` on stderr) — a command's failure, as in a shell.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use skiff_runtime::{ExecSpec, RuntimeError, StdioTarget};

use crate::records;
use crate::ShimError;

/// `skiff shim exec`'s exit code when `--timeout` passed and the command was killed.
pub const EXIT_TIMED_OUT: i32 = 124;
/// `skiff shim exec`'s exit code when the command could not be run at all; stderr then starts with
/// [`ERROR_PREFIX`].
pub const EXIT_CANNOT_EXEC: i32 = 125;
/// How `skiff shim exec` starts its own messages on stderr.
pub const ERROR_PREFIX: &str = "skiff shim exec: ";
/// How much of each stream [`exec`] keeps (the kubelet's limit on probe output); the rest is read and dropped.
pub const MAX_OUTPUT: usize = 10 * 1024;
/// How long [`exec`] waits beyond the timeout for `skiff shim exec` itself before killing it.
const GRACE: Duration = Duration::from_secs(5);

/// The entry point of `skiff shim exec --bundle DIR [--timeout SECS] -- ARGV…`; returns the exit code (see the
/// module docs). Must be called before the process has any other thread: it clones itself into the container.
pub fn exec_main(bundle: &Path, timeout: Option<Duration>, argv: Vec<String>) -> i32 {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("{ERROR_PREFIX}{e}");
        EXIT_CANNOT_EXEC
    };
    if argv.is_empty() {
        return fail(&"no command");
    }
    let cfg = match records::read_config(bundle) {
        Ok(c) => c.container,
        Err(e) => return fail(&e),
    };
    let Some(process) = cfg.spec.process() else { return fail(&"the container's spec has no process") };
    let mut spec = ExecSpec::from_process(process, argv);
    spec.stdio =
        skiff_runtime::Stdio { stdin: StdioTarget::Null, stdout: StdioTarget::Inherit, stderr: StdioTarget::Inherit };
    let p = match skiff_runtime::exec(&cfg.state_dir, &cfg.id, &spec) {
        Ok(p) => p,
        Err(e @ RuntimeError::ExecutableNotFound(_)) => {
            eprintln!("{e}");
            return 127;
        }
        Err(e @ RuntimeError::Exec { .. }) => {
            eprintln!("{e}");
            return 126;
        }
        Err(e) => return fail(&e),
    };
    match skiff_runtime::wait_exec(&p, timeout) {
        Ok(Some(status)) => status.code,
        Ok(None) => {
            if let Err(e) = skiff_runtime::kill_exec(&p, Signal::SIGKILL) {
                eprintln!("{ERROR_PREFIX}{e}");
            }
            if let Err(e) = skiff_runtime::wait_exec(&p, None) {
                eprintln!("{ERROR_PREFIX}{e}");
            }
            let secs = timeout.unwrap_or_default().as_secs_f64();
            eprintln!("{ERROR_PREFIX}timed out after {secs}s: killed");
            EXIT_TIMED_OUT
        }
        Err(e) => fail(&e),
    }
}

/// What a command run by [`exec`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code of `skiff shim exec` (see the module docs): the command's, or 128 + signal, 124 on a
    /// timeout, 126/127 when the executable could not be run or found.
    pub code: i32,
    /// The first [`MAX_OUTPUT`] bytes of each stream.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The timeout passed and the command was killed.
    pub timed_out: bool,
}

/// Runs `exe shim exec --bundle BUNDLE --timeout SECS -- ARGV…` and collects what the command printed (at most
/// [`MAX_OUTPUT`] of each stream) and how it ended. A command that ran (whatever its exit code, a timeout
/// included) is `Ok`; one that could not run at all (a stopped container, say) is [`ShimError::Exec`] with
/// `shim exec`'s message. Blocking: the agent calls it on a blocking thread. Output of processes the command
/// left running in the background is not waited for.
pub fn exec(exe: &Path, bundle: &Path, argv: &[String], timeout: Duration) -> Result<ExecOutput, ShimError> {
    let mut cmd = Command::new(exe);
    cmd.args(["shim", "exec", "--bundle"]).arg(bundle).arg("--timeout").arg(timeout.as_secs_f64().to_string());
    cmd.arg("--").args(argv).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|source| ShimError::Spawn { exe: exe.into(), source })?;
    let pipes = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)];
    let mut outs = [Capture::default(), Capture::default()];
    let collected = collect(child.id() as i32, pipes, &mut outs, start + timeout + GRACE);
    let killed = collected.is_err();
    if killed {
        tracing::warn!(bundle = %bundle.display(), "shim exec outlived its timeout: killed");
        let _ = child.kill();
    }
    let status = child.wait().map_err(ShimError::io("wait for shim exec", exe))?;
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    let [stdout, stderr] = outs.map(|c| c.data);
    if code == EXIT_CANNOT_EXEC {
        if let Some(msg) = std::str::from_utf8(&stderr).ok().and_then(|s| s.strip_prefix(ERROR_PREFIX)) {
            return Err(ShimError::Exec { bundle: bundle.into(), message: msg.trim().into() });
        }
    }
    let timed_out = killed || (code == EXIT_TIMED_OUT && start.elapsed() >= timeout);
    Ok(ExecOutput { code, stdout, stderr, timed_out })
}

/// One stream's output, capped at [`MAX_OUTPUT`].
#[derive(Default)]
struct Capture {
    data: Vec<u8>,
}

impl Capture {
    fn add(&mut self, bytes: &[u8]) {
        let room = MAX_OUTPUT.saturating_sub(self.data.len());
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// Reads both pipes until `pid` (our child) has exited — then what they hold — or both are closed and it has
/// exited; `Err(())` when `deadline` passes first.
fn collect(pid: i32, pipes: [Option<OwnedFd>; 2], outs: &mut [Capture; 2], deadline: Instant) -> Result<(), ()> {
    let mut pipes: Vec<(usize, OwnedFd)> = pipes.into_iter().enumerate().filter_map(|(i, p)| Some((i, p?))).collect();
    for (_, fd) in &pipes {
        let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    }
    let pidfd = pidfd_open(pid);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(());
        }
        let exited = {
            let mut fds: Vec<PollFd> = pipes.iter().map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)).collect();
            if let Some(p) = &pidfd {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            // without a pidfd, look at the child every 50 ms
            let mut wait = deadline - now;
            if pidfd.is_none() {
                wait = wait.min(Duration::from_millis(50));
            }
            let ms = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
            match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "poll shim exec output");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            match &pidfd {
                Some(_) => fds.last().and_then(|f| f.revents()).is_some_and(|r| !r.is_empty()),
                None => exited(pid),
            }
        };
        // after the exit, whatever the pipes hold is read; a background process may keep them open
        pipes.retain(|(i, fd)| read_some(fd, &mut outs[*i], &mut buf));
        if exited {
            return Ok(());
        }
    }
}

/// Reads what `fd` has now into `out`; false once it is closed (or broken).
fn read_some(fd: &OwnedFd, out: &mut Capture, buf: &mut [u8]) -> bool {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => return false,
            Ok(n) => out.add(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return true,
            Err(_) => return false,
        }
    }
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: the kernel returned a new descriptor that only we own
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether our child `pid` has exited, without reaping it (the fallback without pidfds).
fn exited(pid: i32) -> bool {
    // SAFETY: waitid writes into `info`, which we own
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::waitid(libc::P_PID, pid as u32, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
    // SAFETY: after a successful waitid the pid field is initialised (0 when nothing has exited)
    r != 0 || unsafe { info.si_pid() } != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_first_bytes_only() {
        let mut c = Capture::default();
        c.add(&[b'a'; 6000]);
        c.add(&[b'b'; 6000]);
        assert_eq!(c.data.len(), MAX_OUTPUT);
        assert_eq!(c.data[MAX_OUTPUT - 1], b'b');
        c.add(b"more");
        assert_eq!(c.data.len(), MAX_OUTPUT);
    }
}
