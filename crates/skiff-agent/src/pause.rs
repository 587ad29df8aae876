//! `skiff pause`: holds a pod's shared pid namespace (`shareProcessNamespace`), the role of the pause container's
//! process. It unshares a pid namespace, forks its init (pid 1 there), prints that init's host pid and exits; the
//! init reaps the zombies reparented to it and exits on SIGTERM/SIGINT (SIGKILL from the agent at teardown).
//! Runs single-threaded, before anything else in the process.

use std::io::Write;

use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

pub fn main() -> i32 {
    if let Err(e) = unshare(CloneFlags::CLONE_NEWPID) {
        eprintln!("skiff pause: unshare(CLONE_NEWPID): {e}");
        return 1;
    }
    // SAFETY: single-threaded process (called before any thread starts); the child only makes syscalls
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{child}");
            let _ = out.flush();
            0
        }
        Ok(ForkResult::Child) => init(),
        Err(e) => {
            eprintln!("skiff pause: fork: {e}");
            1
        }
    }
}

fn init() -> ! {
    // stdio to /dev/null: the agent's pipe must not stay open through us
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this process
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let mut set = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        set.add(s);
    }
    let _ = set.thread_block();
    loop {
        match set.wait() {
            Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => std::process::exit(0),
            _ => loop {
                match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            },
        }
    }
}
