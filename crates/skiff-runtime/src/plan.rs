//! Translation of an OCI runtime spec into a [`Plan`]: everything the container's init does between `clone`
//! and `execve`, prepared in the parent as C strings, numbers and open file descriptors, so that the child
//! (see [`crate::child`]) only makes syscalls — it never allocates nor takes a lock. The process part
//! ([`process_plan`]: user, capabilities, rlimits, cwd, `$PATH` candidates…) is shared with [`crate::exec()`],
//! whose [`ExecPlan`] adds only what joining a running container needs.
//!
//! Supported: process args/env/cwd/user/umask/rlimits/capabilities/no_new_privs/oom_score_adj; hostname;
//! mounts (any type, `bind`/`rbind`, flags and propagation options, read-only bind remounts); `/dev` as a tmpfs
//! with the default device nodes plus `linux.devices`; namespaces (new, or joined by path for net/ipc/uts/pid);
//! masked and read-only paths; `linux.sysctl`; a read-only root.
//! Not supported (a clear [`RuntimeError::InvalidSpec`]): a terminal, user and time namespaces, joining a
//! mount namespace, `cgroup` mounts. Ignored with a warning: seccomp, AppArmor, SELinux labels, hooks.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Process, Spec};

use crate::caps;
use crate::error::{Result, RuntimeError};

/// One mount made inside the container's root (paths relative to it).
pub(crate) struct MountOp {
    pub src: CString,
    pub dst: CString,
    pub fstype: CString,
    pub flags: libc::c_ulong,
    pub data: Option<CString>,
    pub propagation: libc::c_ulong,
    pub bind: bool,
    /// a bind mount of a file: create an empty file at `dst` instead of a directory
    pub file: bool,
    /// directories to create first (each prefix of `dst`, and `dst` itself unless `file`)
    pub mkdirs: Vec<CString>,
}

pub(crate) struct Device {
    pub path: CString,
    pub mode: libc::mode_t,
    pub dev: libc::dev_t,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

pub(crate) struct Caps {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    pub last: u32,
}

/// The process part of a plan: what the container's init — or a process exec'd into the container — does once
/// it is inside the container's namespaces and root, up to `execve`.
pub(crate) struct ProcessPlan {
    pub oom_score_adj: Option<CString>,
    pub rlimits: Vec<(libc::c_int, libc::rlimit)>,
    pub umask: Option<libc::mode_t>,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
    pub caps: Option<Caps>,
    pub no_new_privs: bool,
    pub cwd: CString,
    pub exec_candidates: Vec<CString>,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
}

pub(crate) struct Plan {
    pub clone_flags: CloneFlags,
    /// namespaces to join: (fd, CLONE_NEW* type, what)
    pub setns: Vec<(RawFd, libc::c_int, &'static str)>,
    /// a pid namespace to start the container in (the pod's shared one): joined by the caller before the clone
    pub join_pid: Option<OwnedFd>,
    pub unshare_cgroupns: bool,
    pub cgroup_procs: Vec<CString>,
    pub root: CString,
    pub root_propagation: libc::c_ulong,
    pub root_readonly: bool,
    pub mounts: Vec<MountOp>,
    pub make_dev: bool,
    pub devices: Vec<Device>,
    pub hostname: Option<CString>,
    pub sysctl: Vec<(CString, CString)>,
    pub masked: Vec<CString>,
    pub readonly: Vec<CString>,
    pub cwd_mkdirs: Vec<CString>,
    pub process: ProcessPlan,
    /// stdin, stdout, stderr: fds ≥ 10 owned by the parent until the clone
    pub stdio: [RawFd; 3],
    /// keeps the namespace fds open until the clone
    pub _ns_files: Vec<OwnedFd>,
}

/// What an exec into a running container does between the first `clone` and `execve` (see [`crate::exec`]).
pub(crate) struct ExecPlan {
    /// stdin, stdout, stderr: fds ≥ 10 owned by the parent until the clone
    pub stdio: [RawFd; 3],
    pub cgroup_procs: Vec<CString>,
    /// the init's namespaces that are not the caller's, the mount namespace last: (fd, CLONE_NEW* type, name)
    pub setns: Vec<(RawFd, libc::c_int, &'static str)>,
    pub process: ProcessPlan,
    /// keeps the namespace fds open until the clone
    pub _ns_files: Vec<OwnedFd>,
}

pub(crate) fn cstr(s: impl AsRef<[u8]>) -> Result<CString> {
    CString::new(s.as_ref())
        .map_err(|_| RuntimeError::InvalidSpec(format!("NUL byte in {:?}", String::from_utf8_lossy(s.as_ref()))))
}

/// `/a/b/c` → `a/b/c`, refusing `..`.
fn relative(p: &Path) -> Result<String> {
    let mut out = vec![];
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::RootDir | Component::CurDir => {}
            _ => return Err(RuntimeError::InvalidSpec(format!("path {} leaves the root", p.display()))),
        }
    }
    Ok(out.join("/"))
}

fn prefixes(rel: &str, include_last: bool) -> Result<Vec<CString>> {
    let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    let n = if include_last { parts.len() } else { parts.len().saturating_sub(1) };
    (1..=n).map(|i| cstr(parts[..i].join("/"))).collect()
}

fn mount_flag(opt: &str) -> Option<(bool, libc::c_ulong)> {
    // (clear?, flag)
    Some(match opt {
        "ro" => (false, libc::MS_RDONLY),
        "rw" => (true, libc::MS_RDONLY),
        "nosuid" => (false, libc::MS_NOSUID),
        "suid" => (true, libc::MS_NOSUID),
        "nodev" => (false, libc::MS_NODEV),
        "dev" => (true, libc::MS_NODEV),
        "noexec" => (false, libc::MS_NOEXEC),
        "exec" => (true, libc::MS_NOEXEC),
        "sync" => (false, libc::MS_SYNCHRONOUS),
        "async" => (true, libc::MS_SYNCHRONOUS),
        "dirsync" => (false, libc::MS_DIRSYNC),
        "remount" => (false, libc::MS_REMOUNT),
        "mand" => (false, libc::MS_MANDLOCK),
        "nomand" => (true, libc::MS_MANDLOCK),
        "atime" => (true, libc::MS_NOATIME),
        "noatime" => (false, libc::MS_NOATIME),
        "diratime" => (true, libc::MS_NODIRATIME),
        "nodiratime" => (false, libc::MS_NODIRATIME),
        "relatime" => (false, libc::MS_RELATIME),
        "norelatime" => (true, libc::MS_RELATIME),
        "strictatime" => (false, libc::MS_STRICTATIME),
        "nostrictatime" => (true, libc::MS_STRICTATIME),
        "bind" => (false, libc::MS_BIND),
        "rbind" => (false, libc::MS_BIND | libc::MS_REC),
        _ => return None,
    })
}

fn propagation_flag(opt: &str) -> Option<libc::c_ulong> {
    Some(match opt {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

fn rlimit_resource(t: PosixRlimitType) -> libc::c_int {
    (match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as libc::c_int
}

/// Never above the host's hard limit: a request above it is lowered to it (with a warning).
fn clamp_rlimit(res: libc::c_int, soft: u64, hard: u64) -> libc::rlimit {
    let mut host = libc::rlimit { rlim_cur: 0, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: getrlimit writes into the struct we pass
    if unsafe { libc::getrlimit(res as _, &mut host) } != 0 {
        host.rlim_max = libc::RLIM_INFINITY;
    }
    let hard_ok = hard.min(host.rlim_max);
    if hard_ok < hard {
        tracing::warn!(
            resource = res,
            requested = hard,
            host_hard = host.rlim_max,
            "rlimit lowered to the host's hard limit"
        );
    }
    libc::rlimit { rlim_cur: soft.min(hard_ok), rlim_max: hard_ok }
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Default device nodes in a tmpfs `/dev`: (name, major, minor).
const DEFAULT_DEVICES: [(&str, u32, u32); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// Builds the plan for `spec`, whose root is already at `root` (a directory or mount point in the host).
pub(crate) fn build(
    spec: &Spec,
    root: &Path,
    cgroup_procs: Vec<std::path::PathBuf>,
    stdio: [RawFd; 3],
) -> Result<Plan> {
    let process = spec.process().as_ref().ok_or_else(|| RuntimeError::InvalidSpec("no process".into()))?;
    let (process_plan, cwd_rel) = process_plan(process)?;
    let linux = spec.linux().as_ref();
    if spec.hooks().is_some() {
        tracing::warn!("OCI hooks are ignored");
    }
    if linux.is_some_and(|l| l.seccomp().is_some()) {
        tracing::warn!("seccomp profile ignored (not supported yet)");
    }

    // namespaces
    let mut clone_flags = CloneFlags::empty();
    let mut setns = vec![];
    let mut ns_files = vec![];
    let mut unshare_cgroupns = false;
    let mut new_mount = false;
    let mut join_pid: Option<OwnedFd> = None;
    for ns in linux.and_then(|l| l.namespaces().as_ref()).into_iter().flatten() {
        let (flag, name) = match ns.typ() {
            LinuxNamespaceType::Mount => (CloneFlags::CLONE_NEWNS, "mnt"),
            LinuxNamespaceType::Pid => (CloneFlags::CLONE_NEWPID, "pid"),
            LinuxNamespaceType::Network => (CloneFlags::CLONE_NEWNET, "net"),
            LinuxNamespaceType::Ipc => (CloneFlags::CLONE_NEWIPC, "ipc"),
            LinuxNamespaceType::Uts => (CloneFlags::CLONE_NEWUTS, "uts"),
            LinuxNamespaceType::Cgroup => (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
            t => return Err(RuntimeError::InvalidSpec(format!("{t:?} namespace not supported"))),
        };
        match ns.path() {
            None if flag == CloneFlags::CLONE_NEWCGROUP => unshare_cgroupns = true, // after joining the cgroups
            None => {
                new_mount |= flag == CloneFlags::CLONE_NEWNS;
                clone_flags |= flag;
            }
            Some(p) if matches!(name, "net" | "ipc" | "uts") => {
                let fd = open(p, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .map_err(RuntimeError::sys(format!("open {name} namespace {}", p.display())))?;
                // SAFETY: open returned a fresh fd that nothing else owns
                let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                setns.push((fd.as_raw_fd(), flag.bits(), name));
                ns_files.push(fd);
            }
            Some(p) if name == "pid" => {
                // joined by the caller itself before the clone (see `spawn`): a pid namespace is entered by
                // a process's children, never by the process
                let fd = open(p, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .map_err(RuntimeError::sys(format!("open pid namespace {}", p.display())))?;
                // SAFETY: open returned a fresh fd that nothing else owns
                join_pid = Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
            }
            Some(p) => {
                return Err(RuntimeError::InvalidSpec(format!(
                    "joining a {name} namespace ({}) is not supported",
                    p.display()
                )))
            }
        }
    }
    if !new_mount {
        return Err(RuntimeError::InvalidSpec("a new mount namespace is required".into()));
    }

    // mounts
    let mut mounts = vec![];
    let mut make_dev = false;
    for m in spec.mounts().as_ref().into_iter().flatten() {
        let typ = m.typ().clone().unwrap_or_default();
        if typ == "cgroup" || typ == "cgroup2" {
            tracing::warn!(dst = %m.destination().display(), "cgroup mounts are not supported yet: skipped");
            continue;
        }
        let (mut flags, mut prop, mut data) = (0, 0, vec![]);
        for o in m.options().as_ref().into_iter().flatten() {
            if let Some((clear, f)) = mount_flag(o) {
                if clear {
                    flags &= !f;
                } else {
                    flags |= f;
                }
            } else if let Some(p) = propagation_flag(o) {
                prop |= p;
            } else {
                data.push(o.as_str());
            }
        }
        let bind = typ == "bind" || flags & libc::MS_BIND != 0;
        if bind {
            flags |= libc::MS_BIND;
        }
        // Resolved inside the rootfs, so symlinks the image made cannot send the mount outside it.
        let dst = crate::securejoin::secure_join(root, m.destination())?.to_string_lossy().into_owned();
        if dst.is_empty() {
            return Err(RuntimeError::InvalidSpec("a mount on / is not supported".into()));
        }
        let src =
            m.source().as_ref().map(|s| s.as_os_str().as_bytes().to_vec()).unwrap_or_else(|| typ.clone().into_bytes());
        let file = bind && std::fs::metadata(std::ffi::OsStr::from_bytes(&src)).is_ok_and(|md| !md.is_dir());
        if dst == "dev" && typ == "tmpfs" {
            make_dev = true;
        }
        mounts.push(MountOp {
            src: cstr(&src)?,
            dst: cstr(&dst)?,
            fstype: cstr(if bind { "none" } else { typ.as_str() })?,
            flags,
            data: if data.is_empty() { None } else { Some(cstr(data.join(","))?) },
            propagation: prop,
            bind,
            file,
            mkdirs: prefixes(&dst, !file)?,
        });
    }

    let mut devices = vec![];
    if make_dev {
        for (name, maj, min) in DEFAULT_DEVICES {
            devices.push(Device {
                path: cstr(format!("dev/{name}"))?,
                mode: libc::S_IFCHR | 0o666,
                dev: libc::makedev(maj, min),
                uid: 0,
                gid: 0,
            });
        }
        for d in linux.and_then(|l| l.devices().as_ref()).into_iter().flatten() {
            let rel = relative(d.path())?;
            if !rel.starts_with("dev/") {
                return Err(RuntimeError::InvalidSpec(format!("device {} is not under /dev", d.path().display())));
            }
            let kind = match d.typ().as_str() {
                "b" => libc::S_IFBLK,
                "p" => libc::S_IFIFO,
                _ => libc::S_IFCHR,
            };
            devices.retain(|x: &Device| x.path.as_bytes() != rel.as_bytes());
            devices.push(Device {
                path: cstr(&rel)?,
                mode: kind | d.file_mode().unwrap_or(0o666) as libc::mode_t,
                dev: libc::makedev(d.major() as u32, d.minor() as u32),
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            });
        }
    }

    let paths = |v: Option<&Vec<String>>| -> Result<Vec<CString>> { v.into_iter().flatten().map(cstr).collect() };
    let masked = paths(linux.and_then(|l| l.masked_paths().as_ref()))?;
    let readonly = paths(linux.and_then(|l| l.readonly_paths().as_ref()))?;
    let mut sysctl = vec![];
    for (k, v) in linux.and_then(|l| l.sysctl().as_ref()).into_iter().flatten() {
        if k.contains("..") || k.contains('/') {
            return Err(RuntimeError::InvalidSpec(format!("bad sysctl {k:?}")));
        }
        sysctl.push((cstr(format!("/proc/sys/{}", k.replace('.', "/")))?, cstr(v)?));
    }
    let root_propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => libc::MS_PRIVATE | libc::MS_REC,
        Some(p) => propagation_flag(p).ok_or_else(|| RuntimeError::InvalidSpec(format!("rootfsPropagation {p:?}")))?,
    };

    Ok(Plan {
        clone_flags,
        setns,
        join_pid,
        unshare_cgroupns,
        cgroup_procs: cgroup_procs.iter().map(|p| cstr(p.as_os_str().as_bytes())).collect::<Result<_>>()?,
        root: cstr(root.as_os_str().as_bytes())?,
        root_propagation,
        root_readonly: spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false),
        mounts,
        make_dev,
        devices,
        hostname: spec.hostname().as_ref().filter(|h| !h.is_empty()).map(cstr).transpose()?,
        sysctl,
        masked,
        readonly,
        cwd_mkdirs: prefixes(&cwd_rel, true)?
            .into_iter()
            .map(|p| cstr([b"/", p.as_bytes()].concat()))
            .collect::<Result<_>>()?,
        process: process_plan,
        stdio,
        _ns_files: ns_files,
    })
}

/// The process part of a plan, from an OCI process (the container's, or the one of an exec); also returns `cwd`
/// relative to the root. `args` must not be empty; the executable is looked up in the `PATH` of `env` (or the
/// default `PATH`) when `args[0]` has no `/`, as `execvp` and runc do.
pub(crate) fn process_plan(process: &Process) -> Result<(ProcessPlan, String)> {
    if process.terminal() == Some(true) {
        return Err(RuntimeError::InvalidSpec("terminal: true is not supported yet".into()));
    }
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| RuntimeError::InvalidSpec("process.args is empty".into()))?;
    if process.apparmor_profile().is_some() || process.selinux_label().is_some() {
        tracing::warn!("AppArmor/SELinux labels ignored");
    }
    let mut rlimits = vec![];
    for r in process.rlimits().as_ref().into_iter().flatten() {
        let res = rlimit_resource(r.typ());
        rlimits.push((res, clamp_rlimit(res, r.soft(), r.hard())));
    }
    let caps = match process.capabilities() {
        None => None,
        Some(c) => {
            let last = caps::last_cap();
            Some(Caps {
                bounding: caps::mask(c.bounding().as_ref(), last),
                effective: caps::mask(c.effective().as_ref(), last),
                permitted: caps::mask(c.permitted().as_ref(), last),
                inheritable: caps::mask(c.inheritable().as_ref(), last),
                ambient: caps::mask(c.ambient().as_ref(), last),
                last,
            })
        }
    };
    let env: Vec<String> = process.env().clone().unwrap_or_default();
    let path_var = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    let arg0 = &args[0];
    let exec_candidates = if arg0.contains('/') {
        vec![cstr(arg0)?]
    } else {
        path_var
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| cstr(format!("{}/{arg0}", d.trim_end_matches('/'))))
            .collect::<Result<_>>()?
    };
    let cwd_rel = relative(process.cwd())?;
    let user = process.user();
    let plan = ProcessPlan {
        oom_score_adj: process.oom_score_adj().map(|v| cstr(v.to_string())).transpose()?,
        rlimits,
        umask: user.umask().map(|u| u as libc::mode_t),
        uid: user.uid(),
        gid: user.gid(),
        groups: user.additional_gids().clone().unwrap_or_default(),
        caps,
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        cwd: cstr(format!("/{cwd_rel}"))?,
        exec_candidates,
        argv: args.iter().map(cstr).collect::<Result<_>>()?,
        env: env.iter().map(cstr).collect::<Result<_>>()?,
    };
    Ok((plan, cwd_rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimits_never_exceed_the_host_hard_limit() {
        let mut host = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into `host`
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut host) }, 0);
        let r = clamp_rlimit(libc::RLIMIT_NOFILE as libc::c_int, u64::MAX, u64::MAX);
        assert!(r.rlim_max <= host.rlim_max && r.rlim_cur <= r.rlim_max);
        let r = clamp_rlimit(libc::RLIMIT_NOFILE as libc::c_int, 512, 1024);
        assert_eq!((r.rlim_cur, r.rlim_max), (512, 1024.min(host.rlim_max)));
    }

    #[test]
    fn paths_and_options() {
        assert_eq!(relative(Path::new("/proc/sys")).ok().as_deref(), Some("proc/sys"));
        assert!(relative(Path::new("/a/../b")).is_err());
        let p = prefixes("dev/pts", true).unwrap_or_default();
        assert_eq!(p, vec![cstr("dev").unwrap_or_default(), cstr("dev/pts").unwrap_or_default()]);
        assert_eq!(mount_flag("ro"), Some((false, libc::MS_RDONLY)));
        assert_eq!(propagation_flag("rslave"), Some(libc::MS_SLAVE | libc::MS_REC));
        assert_eq!(mount_flag("mode=755"), None);
    }
}
