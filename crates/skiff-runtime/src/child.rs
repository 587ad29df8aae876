//! The container's init between `clone` and `execve`.
//!
//! Runs in the cloned child, a copy of the parent's address space: it must not allocate, lock or log —
//! it only makes syscalls on the [`Plan`] prepared before the clone. A failure is reported to the parent as a
//! fixed-size [`Report`] on the `CLOEXEC` sync pipe; a successful `execve` closes the pipe (EOF).
//!
//! The same file holds the two children of an exec into a running container ([`exec_joiner`],
//! [`exec_process`]; see [`crate::exec()`]), which share the process part of the setup.
//!
//! Order (as runc): stdio → join cgroups → join namespaces → cgroupns → root bind + mounts → /dev nodes →
//! hostname → `pivot_root(".", ".")` + detach the old root → sysctl → masked / read-only paths → read-only
//! root → cwd (created) → oom_score_adj → rlimits → umask → bounding set → groups/gid/uid (keeping
//! capabilities) → capset → ambient → no_new_privs → chdir → execve (over `$PATH`).

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use libc::{c_char, c_ulong};

use crate::plan::{ExecPlan, Plan, ProcessPlan};

/// What failed in the child.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Report {
    pub kind: u32,
    pub errno: i32,
    /// index into [`STEPS`], or of the exec candidate
    pub step: u32,
    pub detail: u32,
}

pub(crate) const KIND_STEP: u32 = 1;
pub(crate) const KIND_EXEC: u32 = 2;

/// Names of the setup steps, for the parent's error message.
pub(crate) const STEPS: [&str; 32] = [
    "dup2 stdio",
    "join cgroup (write cgroup.procs)",
    "setns",
    "unshare cgroup namespace",
    "set root propagation",
    "bind root",
    "chdir root",
    "mkdir mount point",
    "create bind mount file",
    "mount",
    "mount propagation",
    "remount read-only",
    "mknod",
    "symlink in /dev",
    "sethostname",
    "pivot_root",
    "detach old root",
    "sysctl",
    "mask path",
    "read-only path",
    "remount root read-only",
    "oom_score_adj",
    "setrlimit",
    "drop bounding capability",
    "setgroups",
    "setresgid/setresuid",
    "capset",
    "ambient capability",
    "no_new_privs",
    "chdir cwd",
    "prctl(PR_SET_DUMPABLE, 0)",
    "clone into the container's pid namespace",
];

/// Pointer arrays for `execve`, built by the parent (the child cannot allocate).
pub(crate) struct ExecArgs {
    pub argv: Vec<*const c_char>,
    pub envp: Vec<*const c_char>,
}

impl ExecArgs {
    /// NULL-terminated pointers into `p`'s strings (valid while `p` lives).
    pub(crate) fn new(p: &ProcessPlan) -> ExecArgs {
        let ptrs = |v: &[std::ffi::CString]| v.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        ExecArgs { argv: ptrs(&p.argv), envp: ptrs(&p.env) }
    }
}

macro_rules! check {
    ($step:expr, $detail:expr, $call:expr) => {{
        let r = $call;
        if (r as i64) < 0 {
            return Err(Report { kind: KIND_STEP, errno: errno(), step: $step, detail: $detail as u32 });
        }
        r
    }};
}

fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

const NONE: *const c_char = std::ptr::null();

/// Sets the container up and execs its process; returns only on failure.
///
/// # Safety
/// Must run in a freshly cloned child of the process that built `plan` and `exec`.
pub(crate) unsafe fn run(plan: &Plan, exec: &ExecArgs) -> Report {
    match setup(plan) {
        Ok(()) => do_exec(&plan.process, exec),
        Err(r) => r,
    }
}

unsafe fn mount_raw(
    src: *const c_char,
    dst: *const c_char,
    fstype: *const c_char,
    flags: c_ulong,
    data: *const c_char,
) -> i32 {
    libc::mount(src, dst, fstype, flags, data as *const libc::c_void)
}

/// The start shared by a container's init and an exec'd process: stdio in place, every other inherited descriptor
/// closed at exec, the cgroups joined (host paths, so before any mount namespace; "0" = the writer itself, which
/// may be pid 1 of its namespace already), then the namespaces joined by descriptor, in the given order.
unsafe fn enter(
    stdio: &[RawFd; 3],
    cgroup_procs: &[CString],
    setns: &[(RawFd, libc::c_int, &'static str)],
) -> Result<(), Report> {
    for (i, fd) in stdio.iter().enumerate() {
        check!(0, i, libc::dup2(*fd, i as i32));
    }
    libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
    for (i, procs) in cgroup_procs.iter().enumerate() {
        let fd = check!(1, i, libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC));
        let w = libc::write(fd, b"0".as_ptr().cast(), 1);
        let e = errno();
        libc::close(fd);
        if w < 0 {
            return Err(Report { kind: KIND_STEP, errno: e, step: 1, detail: i as u32 });
        }
    }
    for (i, (fd, typ, _)) in setns.iter().enumerate() {
        check!(2, i, libc::setns(*fd, *typ));
    }
    Ok(())
}

unsafe fn setup(p: &Plan) -> Result<(), Report> {
    enter(&p.stdio, &p.cgroup_procs, &p.setns)?;
    if p.unshare_cgroupns {
        check!(3, 0, libc::unshare(libc::CLONE_NEWCGROUP));
    }
    check!(4, 0, mount_raw(NONE, c"/".as_ptr(), NONE, p.root_propagation, NONE));
    check!(5, 0, mount_raw(p.root.as_ptr(), p.root.as_ptr(), NONE, libc::MS_BIND | libc::MS_REC, NONE));
    check!(6, 0, libc::chdir(p.root.as_ptr()));
    for (i, m) in p.mounts.iter().enumerate() {
        for d in &m.mkdirs {
            if libc::mkdir(d.as_ptr(), 0o755) < 0 && errno() != libc::EEXIST {
                return Err(Report { kind: KIND_STEP, errno: errno(), step: 7, detail: i as u32 });
            }
        }
        if m.file {
            let fd = libc::open(m.dst.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
            check!(8, i, fd);
            libc::close(fd);
        }
        let data = m.data.as_ref().map_or(NONE, |d| d.as_ptr());
        // a bind mount ignores the other flags: bind first, then remount with them
        check!(9, i, mount_raw(m.src.as_ptr(), m.dst.as_ptr(), m.fstype.as_ptr(), m.flags, data));
        if m.bind && m.flags & !(libc::MS_BIND | libc::MS_REC) != 0 {
            let f = (m.flags & !libc::MS_REC) | libc::MS_REMOUNT | libc::MS_BIND;
            check!(11, i, mount_raw(NONE, m.dst.as_ptr(), NONE, f, NONE));
        }
        if m.propagation != 0 {
            check!(10, i, mount_raw(NONE, m.dst.as_ptr(), NONE, m.propagation, NONE));
        }
    }
    if p.make_dev {
        let old = libc::umask(0);
        for (i, d) in p.devices.iter().enumerate() {
            check!(12, i, libc::mknod(d.path.as_ptr(), d.mode, d.dev));
            if d.uid != 0 || d.gid != 0 {
                check!(12, i, libc::chown(d.path.as_ptr(), d.uid, d.gid));
            }
        }
        libc::umask(old);
        let links: [(&CStr, &CStr); 6] = [
            (c"/proc/self/fd", c"dev/fd"),
            (c"/proc/self/fd/0", c"dev/stdin"),
            (c"/proc/self/fd/1", c"dev/stdout"),
            (c"/proc/self/fd/2", c"dev/stderr"),
            (c"pts/ptmx", c"dev/ptmx"),
            (c"/proc/kcore", c"dev/core"),
        ];
        for (i, (target, link)) in links.iter().enumerate() {
            if libc::symlink(target.as_ptr(), link.as_ptr()) < 0 && errno() != libc::EEXIST {
                return Err(Report { kind: KIND_STEP, errno: errno(), step: 13, detail: i as u32 });
            }
        }
    }
    if let Some(h) = &p.hostname {
        check!(14, 0, libc::sethostname(h.as_ptr(), h.as_bytes().len()));
    }
    // pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it (runc's trick)
    check!(15, 0, libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()));
    check!(16, 0, libc::umount2(c".".as_ptr(), libc::MNT_DETACH));
    check!(6, 1, libc::chdir(c"/".as_ptr()));
    for (i, (path, value)) in p.sysctl.iter().enumerate() {
        let fd = check!(17, i, libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC));
        let w = libc::write(fd, value.as_ptr().cast(), value.as_bytes().len());
        let e = errno();
        libc::close(fd);
        if w < 0 {
            return Err(Report { kind: KIND_STEP, errno: e, step: 17, detail: i as u32 });
        }
    }
    for (i, m) in p.masked.iter().enumerate() {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(m.as_ptr(), &mut st) != 0 {
            continue; // absent: nothing to mask
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            check!(18, i, mount_raw(c"tmpfs".as_ptr(), m.as_ptr(), c"tmpfs".as_ptr(), libc::MS_RDONLY, NONE));
        } else {
            check!(18, i, mount_raw(c"/dev/null".as_ptr(), m.as_ptr(), NONE, libc::MS_BIND, NONE));
        }
    }
    for (i, r) in p.readonly.iter().enumerate() {
        if libc::access(r.as_ptr(), libc::F_OK) != 0 {
            continue;
        }
        check!(19, i, mount_raw(r.as_ptr(), r.as_ptr(), NONE, libc::MS_BIND | libc::MS_REC, NONE));
        let f = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        check!(19, i, mount_raw(r.as_ptr(), r.as_ptr(), NONE, f, NONE));
    }
    if p.root_readonly {
        let f = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        check!(20, 0, mount_raw(NONE, c"/".as_ptr(), NONE, f, NONE));
    }
    for d in &p.cwd_mkdirs {
        libc::mkdir(d.as_ptr(), 0o755); // the process's chdir reports what matters
    }
    setup_process(&p.process)
}

/// The process's own settings, once inside the container: oom_score_adj → rlimits → umask → bounding set →
/// groups/gid/uid (keeping capabilities) → capset → ambient → no_new_privs → chdir. Shared by the container's
/// init and by processes exec'd into the container.
unsafe fn setup_process(p: &ProcessPlan) -> Result<(), Report> {
    if let Some(adj) = &p.oom_score_adj {
        let fd = check!(21, 0, libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC));
        let w = libc::write(fd, adj.as_ptr().cast(), adj.as_bytes().len());
        libc::close(fd);
        check!(21, 0, w);
    }
    for (i, (res, rl)) in p.rlimits.iter().enumerate() {
        check!(22, i, libc::setrlimit(*res as _, rl));
    }
    if let Some(u) = p.umask {
        libc::umask(u);
    }
    set_user_and_caps(p)?;
    check!(29, 0, libc::chdir(p.cwd.as_ptr()));
    Ok(())
}

unsafe fn set_user_and_caps(p: &ProcessPlan) -> Result<(), Report> {
    if let Some(c) = &p.caps {
        for cap in 0..=c.last {
            if c.bounding & (1 << cap) == 0 {
                check!(23, cap, libc::prctl(libc::PR_CAPBSET_DROP, cap as c_ulong, 0, 0, 0));
            }
        }
        // keep the permitted set across the uid change; effective is set again by capset below
        libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
    }
    check!(24, 0, libc::setgroups(p.groups.len(), p.groups.as_ptr()));
    check!(25, 0, libc::setresgid(p.gid, p.gid, p.gid));
    check!(25, 1, libc::setresuid(p.uid, p.uid, p.uid));
    if let Some(c) = &p.caps {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let hdr = Header { version: 0x2008_0522, pid: 0 };
        let lo = |m: u64| m as u32;
        let hi = |m: u64| (m >> 32) as u32;
        let data = [
            Data { effective: lo(c.effective), permitted: lo(c.permitted), inheritable: lo(c.inheritable) },
            Data { effective: hi(c.effective), permitted: hi(c.permitted), inheritable: hi(c.inheritable) },
        ];
        check!(26, 0, libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()));
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        for cap in 0..=c.last {
            if c.ambient & (1 << cap) != 0 {
                check!(27, cap, libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap as c_ulong, 0, 0));
            }
        }
    }
    if p.no_new_privs {
        check!(28, 0, libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    }
    Ok(())
}

/// `execve` each `$PATH` candidate in turn, as `execvp` does: ENOENT/ENOTDIR move on, EACCES is remembered.
unsafe fn do_exec(p: &ProcessPlan, e: &ExecArgs) -> Report {
    let mut report = Report { kind: KIND_EXEC, errno: libc::ENOENT, step: 0, detail: 0 };
    let mut saw_eacces = false;
    for (i, cand) in p.exec_candidates.iter().enumerate() {
        libc::execve(cand.as_ptr(), e.argv.as_ptr(), e.envp.as_ptr());
        let err = errno();
        match err {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => {
                if !saw_eacces {
                    report = Report { kind: KIND_EXEC, errno: err, step: i as u32, detail: 0 };
                }
                saw_eacces = true;
            }
            _ => return Report { kind: KIND_EXEC, errno: err, step: i as u32, detail: 0 },
        }
    }
    report
}

/// Writes `r` to the sync pipe.
pub(crate) unsafe fn report(fd: i32, r: &Report) {
    let size = std::mem::size_of::<Report>();
    libc::write(fd, (r as *const Report).cast(), size);
}

/// `Report::kind` of the joiner's message that carries the exec'd process's pid (in `detail`), not a failure.
pub(crate) const KIND_PID: u32 = 3;

/// What the two children of an exec share, built by the parent before the first `clone` (they cannot allocate).
pub(crate) struct ExecCtx<'a> {
    pub plan: &'a ExecPlan,
    pub exec: &'a ExecArgs,
    /// The write end of the `CLOEXEC` sync pipe.
    pub pipe: i32,
    /// The top of the stack the joiner clones the process onto (allocated by the parent).
    pub stack_top: *mut libc::c_void,
}

/// The exec's first child, the joiner (cloned from the caller, in the caller's namespaces): becomes
/// non-dumpable, places stdio, joins the container's cgroups then its namespaces (mount last), and clones the
/// process itself with `CLONE_PARENT` — a `setns` into a pid namespace only applies to children, and
/// `CLONE_PARENT` makes that child the caller's, so the caller can wait for it. Reports the child's pid (or
/// what failed) on the sync pipe, then exits.
///
/// Only for `clone`, with `arg` the [`ExecCtx`] the parent built.
pub(crate) extern "C" fn exec_joiner(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: we are the freshly cloned joiner; `arg` points to the parent's `ExecCtx`, copied with its memory
    unsafe {
        let ctx = &*(arg as *const ExecCtx);
        if let Err(r) = join(ctx.plan) {
            report(ctx.pipe, &r);
            libc::_exit(1);
        }
        let pid = libc::clone(exec_process, ctx.stack_top, libc::CLONE_PARENT | libc::SIGCHLD, arg);
        if pid < 0 {
            report(ctx.pipe, &Report { kind: KIND_STEP, errno: errno(), step: 31, detail: 0 });
            libc::_exit(1);
        }
        report(ctx.pipe, &Report { kind: KIND_PID, errno: 0, step: 0, detail: pid as u32 });
        libc::_exit(0)
    }
}

unsafe fn join(p: &ExecPlan) -> Result<(), Report> {
    // Until execve, this process is a copy of the (host) caller: no container process may ptrace it or open its
    // /proc/PID/exe (the host binary; runc's CVE-2019-5736). execve makes the new program dumpable again.
    check!(30, 0, libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0));
    // the mount namespace is last in `setns` (the cgroup paths are the host's)
    enter(&p.stdio, &p.cgroup_procs, &p.setns)
}

/// The exec'd process (the joiner's child, in the container's pid namespace, the caller's child): a session and
/// process group of its own (so that a timeout can kill what it started), default signal dispositions and an
/// empty signal mask (ignored signals would survive `execve`), then the process settings and `execve`.
extern "C" fn exec_process(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: we are the freshly cloned process; `arg` points to the `ExecCtx`, copied with the joiner's memory
    unsafe {
        let ctx = &*(arg as *const ExecCtx);
        libc::setsid();
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL); // EINVAL for the few the C library reserves: fine
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let r = match setup_process(&ctx.plan.process) {
            Ok(()) => do_exec(&ctx.plan.process, ctx.exec),
            Err(r) => r,
        };
        report(ctx.pipe, &r);
        libc::_exit(127)
    }
}
