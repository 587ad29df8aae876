//! The shim process (`skiff shim --bundle DIR`): starts the container, reports, copies its output into the CRI
//! log, and records its exit.
//!
//! It must stay single-threaded: `skiff_runtime::create_and_start` clones this process, and the container's
//! init must be our child so that we can reap it and learn its exit status. It must also outlive the agent that
//! spawned it: it ignores the signals a dying agent (or its terminal) sends, and once it has reported it points
//! its stdout at `/dev/null`, so a closed pipe cannot hurt it.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use chrono::Utc;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use skiff_runtime::{Container, StdioTarget};

use crate::log::{format_time, Stream, Writer};
use crate::records::{self, ExitRecord, StartReport, Started, EXIT_FILE, STARTED_FILE};
use crate::ShimError;

/// Bytes read from a pipe per `read`.
const CHUNK: usize = 64 * 1024;
/// At most this much is read from a pipe per wake-up, so one chatty stream cannot starve the other.
const READS_PER_WAKEUP: usize = 16;
/// What is left in a pipe when the init has exited is read up to this much: a grandchild that keeps writing
/// must not keep the shim from recording the exit.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

/// Runs the shim for the bundle `bundle`; returns the process's exit code (0 once the exit is recorded).
pub fn main(bundle: &Path) -> i32 {
    let _span = tracing::info_span!("shim", bundle = %bundle.display()).entered();
    survive_signals();
    let (container, started_at, pipes, mut writer) = match start(bundle) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "container did not start");
            report(&StartReport::Failed { error: e.to_string() });
            return 1;
        }
    };
    report(&StartReport::Started { pid: container.pid, started_at: started_at.clone() });
    detach_stdout();
    let _span = tracing::info_span!("container", id = %container.id, pid = container.pid).entered();
    match supervise(&container, pipes, &mut writer) {
        Ok(()) => {}
        Err(e) => tracing::warn!(error = %e, "watching the container failed; waiting for its exit"),
    }
    let code = record_exit(bundle, &container, started_at);
    // after the exit record, so as not to delay it: nothing else writes the log now
    writer.finish_compression();
    code
}

/// Reaps the init and writes `exit.json`; returns the shim's exit code.
fn record_exit(bundle: &Path, container: &Container, started_at: String) -> i32 {
    let status = match skiff_runtime::wait(container) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "wait for the container's init");
            return 1;
        }
    };
    let exit = ExitRecord {
        code: status.code,
        signal: status.signal.map(|s| s.as_str().to_string()),
        oom_killed: status.oom_killed,
        started_at,
        finished_at: format_time(Utc::now()),
    };
    tracing::info!(code = exit.code, signal = ?exit.signal, oom_killed = exit.oom_killed, "container exited");
    if let Err(e) = records::write_atomic(&bundle.join(EXIT_FILE), &exit) {
        tracing::error!(error = %e, "record the exit");
        return 1;
    }
    0
}

/// The container's output pipes (read ends, non-blocking) and the streams they carry.
type Pipes = Vec<(Stream, OwnedFd)>;

/// Reads the config, opens the log, starts the container and records `started.json`. On error nothing of the
/// container is left (the runtime cleans up a failed start; we destroy one we cannot record).
fn start(bundle: &Path) -> Result<(Container, String, Pipes, Writer), ShimError> {
    let cfg = records::read_config(bundle)?;
    let writer = Writer::open(&cfg.log_path)?.rotate_at(cfg.log_rotation());
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("pipe2"))?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("pipe2"))?;
    let mut container = cfg.container;
    container.stdio = skiff_runtime::Stdio {
        stdin: StdioTarget::Null,
        stdout: StdioTarget::Fd(out_w.as_raw_fd()),
        stderr: StdioTarget::Fd(err_w.as_raw_fd()),
    };
    let c = skiff_runtime::create_and_start(&container)?;
    // only the container holds the write ends now: EOF comes when it (and all it started) closed them
    drop((out_w, err_w));
    let started_at = format_time(Utc::now());
    let started = Started { pid: c.pid, started_at: started_at.clone() };
    if let Err(e) = records::write_atomic(&bundle.join(STARTED_FILE), &started) {
        if let Err(e2) = skiff_runtime::destroy(&c) {
            tracing::warn!(error = %e2, "destroy the container we could not record");
        }
        return Err(e);
    }
    let pipes = vec![(Stream::Stdout, out_r), (Stream::Stderr, err_r)];
    for (_, fd) in &pipes {
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(ShimError::sys("fcntl(O_NONBLOCK)"))?;
    }
    Ok((c, started_at, pipes, writer))
}

/// Copies output into the log until the init exits, then drains what the pipes hold.
fn supervise(c: &Container, mut pipes: Pipes, writer: &mut Writer) -> Result<(), ShimError> {
    let pidfd = pidfd_open(c.pid);
    if let Err(e) = &pidfd {
        tracing::warn!(error = %e, "pidfd_open: falling back to polling for the exit");
    }
    let pidfd = pidfd.ok();
    loop {
        let (exited, ready) = {
            let mut fds: Vec<PollFd> = pipes.iter().map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)).collect();
            if let Some(p) = &pidfd {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            // rotated logs to compress: only look at what is ready, then do a step of that
            let timeout = if writer.compressing() {
                PollTimeout::ZERO
            } else if pidfd.is_some() {
                PollTimeout::NONE
            } else {
                PollTimeout::from(100u16)
            };
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(ShimError::Sys { call: "poll".into(), errno: e }),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let exited = match &pidfd {
                Some(_) => fds.last().is_some_and(ready),
                None => init_exited(c.pid),
            };
            (exited, fds[..pipes.len()].iter().map(ready).collect::<Vec<bool>>())
        };
        let mut closed = vec![];
        for (i, (stream, fd)) in pipes.iter().enumerate() {
            let budget = if exited { DRAIN_LIMIT / CHUNK } else { READS_PER_WAKEUP };
            if (ready[i] || exited) && copy(fd, *stream, writer, budget) == Copied::Eof {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            let (stream, _) = pipes.remove(i);
            finish(writer, stream);
        }
        if exited {
            for (stream, _) in &pipes {
                finish(writer, *stream);
            }
            return Ok(());
        }
        writer.compress_step();
    }
}

#[derive(PartialEq)]
enum Copied {
    /// The pipe is empty for now (or the budget is spent).
    More,
    /// Every write end is closed.
    Eof,
}

/// Reads up to `budget` chunks from `fd` into the log, without blocking.
fn copy(fd: &OwnedFd, stream: Stream, writer: &mut Writer, budget: usize) -> Copied {
    let mut buf = vec![0u8; CHUNK];
    for _ in 0..budget {
        match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => return Copied::Eof,
            Ok(n) => {
                if let Err(e) = writer.write(stream, &buf[..n], Utc::now()) {
                    tracing::warn!(error = %e, "log output lost");
                }
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return Copied::More,
            Err(e) => {
                tracing::warn!(stream = stream.as_str(), error = %e, "read container output");
                return Copied::Eof;
            }
        }
    }
    Copied::More
}

fn finish(writer: &mut Writer, stream: Stream) {
    if let Err(e) = writer.finish(stream, Utc::now()) {
        tracing::warn!(error = %e, "log output lost");
    }
}

/// A pidfd for `pid`: readable once the process has exited (before it is reaped).
fn pidfd_open(pid: i32) -> Result<OwnedFd, ShimError> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(ShimError::Sys { call: format!("pidfd_open({pid})"), errno: Errno::last() });
    }
    // SAFETY: the kernel returned a new descriptor that only we own (pidfds are always close-on-exec)
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether our child `pid` has exited, without reaping it (the fallback without pidfds).
fn init_exited(pid: i32) -> bool {
    // SAFETY: waitid writes into `info`, which we own
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::waitid(libc::P_PID, pid as u32, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
    // SAFETY: after a successful waitid the pid field is initialised (0 when nothing has exited)
    r != 0 || unsafe { info.si_pid() } != 0
}

extern "C" fn ignore(_: libc::c_int) {}

/// Makes SIGPIPE, SIGHUP, SIGINT and SIGTERM harmless to the shim.
///
/// With a handler that does nothing rather than `SIG_IGN`: ignored signals stay ignored across `execve`, so the
/// container (cloned from us) would inherit them, while handled signals are reset to the default on `execve`.
fn survive_signals() {
    let action = SigAction::new(SigHandler::Handler(ignore), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGPIPE, Signal::SIGHUP, Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler does nothing, so it is async-signal-safe
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            tracing::warn!(signal = %sig, error = %e, "sigaction");
        }
    }
}

/// Prints the one report line on stdout.
fn report(r: &StartReport) {
    let line = serde_json::to_string(r).expect("a StartReport serializes: strings and numbers");
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        tracing::warn!(error = %e, "report to the agent");
    }
}

/// Points fd 1 at `/dev/null`: the agent reading our report may die and close its end at any time.
fn detach_stdout() {
    match std::fs::OpenOptions::new().write(true).open("/dev/null") {
        Ok(null) => {
            if let Err(e) = nix::unistd::dup2(null.as_raw_fd(), 1) {
                tracing::warn!(error = %e, "dup2(/dev/null, 1)");
            }
        }
        Err(e) => tracing::warn!(error = %e, "open /dev/null"),
    }
}
