//! Throwaway spike for issue 6: how fast can skiff start a container, and with which runtime layer?
//!
//! `runtime-spike all [N]` measures, N runs each (default 50, after 3 warm-up runs):
//! - the namespace floor (`unshare --net --pid --mount --uts --ipc --fork true`, and the same flags
//!   with an in-process clone + exec of the host's /bin/true);
//! - Debian's `runc` as a child process (`create`+`start`, and `run`), config.json built with `oci-spec`;
//! - a thin in-process layer over `nix` (clone with namespace flags, mounts, pivot_root, cgroup v1 files);
//! - youki's `libcontainer` in-process (built with `--features youki`).
//!
//! Every container gets an overlayfs rootfs over the unpacked busybox layer (mounted per run, timed
//! as part of the start), new mount/pid/ipc/uts/net namespaces, proc/sys/dev/devpts/shm/mqueue,
//! pivot_root, masked and read-only paths, the default 3 capabilities, no_new_privs, RLIMIT_NOFILE 1024,
//! and cgroup v1 limits (memory 128 MiB, cpu quota 0.5 CPU / shares 512, pids 1024).
//! `runtime-spike mem [N]` keeps N `sleep` containers per layer and reports what stays resident.
//! `runtime-spike cleanup` removes anything a crashed run left behind.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::libc;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

const BASE: &str = "/tmp/spike";
const LOWER: &str = "/tmp/spike/rootfs";
const RUNS: &str = "/tmp/spike/runs";
const RUNC_ROOT: &str = "/run/skiff-spike-runc";
const YOUKI_ROOT: &str = "/run/skiff-spike-youki";
const CG_PARENT: &str = "skiff-spike";
/// v1 hierarchies the thin layer joins: limits in memory/cpu/pids, device rules in devices,
/// usage accounting in cpuacct (a separate hierarchy on this host, not `cpu,cpuacct`).
const CG_JOIN: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "devices"];
const MEM_LIMIT: i64 = 128 << 20;
const CPU_QUOTA: i64 = 50_000;
const CPU_PERIOD: u64 = 100_000;
const CPU_SHARES: u64 = 512;
const PIDS_MAX: i64 = 1024;
const NOFILE: u64 = 1024; // below the host's hard limit (20000)

type R<T> = Result<T, String>;

fn e<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> String {
    move |err| format!("{what}: {err}")
}

// ---------------------------------------------------------------------------------------------
// rootfs: overlayfs over the unpacked layer(s)

struct Rootfs {
    dir: PathBuf,
    merged: PathBuf,
}

fn volatile() -> bool {
    std::env::var_os("SPIKE_VOLATILE").is_some()
}

fn mount_rootfs(id: &str) -> R<Rootfs> {
    let dir = Path::new(RUNS).join(id);
    let merged = dir.join("rootfs");
    for d in ["upper", "work", "rootfs"] {
        fs::create_dir_all(dir.join(d)).map_err(e(format!("mkdir {d}")))?;
    }
    let mut opts = format!(
        "lowerdir={LOWER},upperdir={},workdir={}",
        dir.join("upper").display(),
        dir.join("work").display()
    );
    if volatile() {
        opts.push_str(",volatile");
    }
    mount(Some("overlay"), &merged, Some("overlay"), MsFlags::empty(), Some(opts.as_str()))
        .map_err(e("mount overlay"))?;
    Ok(Rootfs { dir, merged })
}

fn unmount_rootfs(r: &Rootfs) -> R<()> {
    umount2(&r.merged, MntFlags::MNT_DETACH).map_err(e("umount overlay"))?;
    // the overlay workdir holds a 000 directory; root removes it anyway
    fs::remove_dir_all(&r.dir).map_err(e("rm run dir"))
}

// ---------------------------------------------------------------------------------------------
// OCI config.json (for runc and youki)

fn oci_spec(id: &str, rootfs: &Path, args: &[&str]) -> R<oci_spec::runtime::Spec> {
    use oci_spec::runtime::*;
    let mut spec = Spec::default();
    let mut process = Process::default();
    process.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
    process.set_env(Some(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()]));
    process.set_rlimits(Some(vec![PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(NOFILE)
        .soft(NOFILE)
        .build()
        .map_err(e("rlimit"))?]));
    spec.set_process(Some(process));
    spec.set_root(Some(RootBuilder::default().path(rootfs).readonly(false).build().map_err(e("root"))?));
    spec.set_hostname(Some(format!("c-{id}")));
    // the brief's mounts: proc, sys, dev, devpts, shm, mqueue (no /sys/fs/cgroup mount, no cgroupns)
    let mounts: Vec<Mount> = get_default_mounts()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .collect();
    spec.set_mounts(Some(mounts));
    let mut linux = Linux::default();
    linux.set_namespaces(Some(
        get_default_namespaces().into_iter().filter(|n| n.typ() != LinuxNamespaceType::Cgroup).collect(),
    ));
    // cgroupfs driver: an absolute path is taken relative to the root of every v1 hierarchy
    linux.set_cgroups_path(Some(PathBuf::from(format!("/{CG_PARENT}/{id}"))));
    let resources = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(MEM_LIMIT).build().map_err(e("mem"))?)
        .cpu(
            LinuxCpuBuilder::default()
                .shares(CPU_SHARES)
                .quota(CPU_QUOTA)
                .period(CPU_PERIOD)
                .build()
                .map_err(e("cpu"))?,
        )
        .pids(LinuxPidsBuilder::default().limit(PIDS_MAX).build().map_err(e("pids"))?)
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .map_err(e("dev"))?])
        .build()
        .map_err(e("resources"))?;
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    Ok(spec)
}

fn write_bundle(id: &str, r: &Rootfs, args: &[&str]) -> R<()> {
    let spec = oci_spec(id, &r.merged, args)?;
    let json = serde_json::to_vec(&spec).map_err(e("json"))?;
    fs::write(r.dir.join("config.json"), json).map_err(e("write config.json"))
}

// ---------------------------------------------------------------------------------------------
// process helpers

fn set_subreaper() {
    // orphaned container inits (runc create, youki) are reparented to us, so we can wait for them —
    // exactly what a per-container shim does
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

fn wait_exit(pid: Pid) -> R<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(format!("waitpid {pid}: {err}")),
        }
    }
}

fn kill_wait(pid: Pid) -> R<i32> {
    let _ = kill(pid, Signal::SIGKILL);
    wait_exit(pid)
}

fn read_pid(path: &Path) -> R<Pid> {
    let s = fs::read_to_string(path).map_err(e("pid file"))?;
    Ok(Pid::from_raw(s.trim().parse().map_err(e("pid"))?))
}

fn run_tool(prog: &str, args: &[&str], errfile: &Path) -> R<()> {
    // stdout/stdin /dev/null; stderr to a file: a container created by `runc create` inherits runc's
    // stdio (pass-through mode), so a pipe here would stay open for the container's lifetime
    let err = fs::File::create(errfile).map_err(e("errfile"))?;
    let st = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out_file())
        .stderr(err)
        .status()
        .map_err(e(prog))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{prog} {args:?}: {st}: {}", fs::read_to_string(errfile).unwrap_or_default().trim()))
    }
}

// ---------------------------------------------------------------------------------------------
// runtimes

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    True,  // start → exit of /bin/true (exit collected)
    Sleep, // start → exec of `sleep 3600` happened
    Show,  // run SHOW_SCRIPT with stdout/stderr to SPIKE_OUT (a correctness check, not timed)
}

const SHOW_SCRIPT: &str = "echo hostname=$(hostname) pid=$$ nofile=$(ulimit -n); cat /proc/self/cgroup; grep -E '^(Cap|NoNewPrivs)' /proc/self/status; cat /proc/mounts; ls -l /dev; ip link 2>&1 | grep -c mtu; true";

fn argv(mode: Mode) -> Vec<&'static str> {
    match mode {
        Mode::True => vec!["/bin/true"],
        Mode::Sleep => vec!["/bin/sleep", "3600"],
        Mode::Show => vec!["/bin/sh", "-c", SHOW_SCRIPT],
    }
}

fn out_file() -> Stdio {
    match std::env::var_os("SPIKE_OUT") {
        Some(p) => fs::OpenOptions::new().create(true).append(true).open(p).unwrap().into(),
        None => Stdio::null(),
    }
}

/// A started container; `stop` kills it (if still running) and removes everything it used.
struct Running {
    pid: Option<Pid>,
    rootfs: Rootfs,
    kind: &'static str,
    id: String,
    shim: Option<Pid>, // the per-container shim that owns `pid` (thin layer run through a shim)
}

fn stop(c: Running) -> R<()> {
    let mut res = Ok(());
    if let Some(shim) = c.shim {
        // the container is the shim's child: signal it, the shim reaps it, records the exit, exits
        if let Some(pid) = c.pid {
            let _ = kill(pid, Signal::SIGKILL);
        }
        wait_exit(shim)?;
    } else if let Some(pid) = c.pid {
        kill_wait(pid)?;
    }
    match c.kind {
        "runc" => {
            let errf = c.rootfs.dir.join("delete.err");
            res = run_tool("runc", &["--root", RUNC_ROOT, "delete", "-f", &c.id], &errf);
        }
        #[cfg(feature = "youki")]
        "youki" => res = youki::delete(&c.id),
        "nix" => res = cg_remove(&c.id),
        _ => {}
    }
    unmount_rootfs(&c.rootfs)?;
    res
}

/// (a) runc create + start (a shim's way: it stays subreaper and waits for the init)
fn runc_create_start(id: &str, mode: Mode) -> R<Running> {
    let rootfs = mount_rootfs(id)?;
    write_bundle(id, &rootfs, &argv(mode))?;
    let b = rootfs.dir.to_str().unwrap().to_string();
    let pidf = format!("{b}/pid");
    let errf = rootfs.dir.join("runc.err");
    let mut c = Running { pid: None, rootfs, kind: "runc", id: id.into(), shim: None };
    let r = run_tool("runc", &["--root", RUNC_ROOT, "create", "--bundle", &b, "--pid-file", &pidf, id], &errf)
        .and_then(|_| {
            c.pid = Some(read_pid(Path::new(&pidf))?);
            run_tool("runc", &["--root", RUNC_ROOT, "start", id], &errf)
        });
    if let Err(err) = r {
        let _ = stop(c);
        return Err(err);
    }
    if mode != Mode::Sleep {
        let code = wait_exit(c.pid.take().unwrap())?;
        if code != 0 {
            let _ = stop(c);
            return Err(format!("exit {code}"));
        }
    }
    Ok(c)
}

/// (a') runc run (foreground for true: waits and deletes itself; -d for sleep)
fn runc_run(id: &str, mode: Mode) -> R<Running> {
    let rootfs = mount_rootfs(id)?;
    write_bundle(id, &rootfs, &argv(mode))?;
    let b = rootfs.dir.to_str().unwrap().to_string();
    let pidf = format!("{b}/pid");
    let errf = rootfs.dir.join("runc.err");
    let mut c = Running { pid: None, rootfs, kind: "runc", id: id.into(), shim: None };
    let r = if mode != Mode::Sleep {
        run_tool("runc", &["--root", RUNC_ROOT, "run", "--bundle", &b, id], &errf)
    } else {
        run_tool("runc", &["--root", RUNC_ROOT, "run", "-d", "--bundle", &b, "--pid-file", &pidf, id], &errf)
            .and_then(|_| {
                c.pid = Some(read_pid(Path::new(&pidf))?);
                Ok(())
            })
    };
    if let Err(err) = r {
        let _ = stop(c);
        return Err(err);
    }
    if mode != Mode::Sleep {
        c.kind = "runc-run-fg"; // already deleted by runc run
    }
    Ok(c)
}

// --- (b) thin layer over nix ------------------------------------------------------------------

/// SPIKE_CG=memory,cpu,pids overrides the joined hierarchies (to measure the cost of each v1 join)
fn cg_join() -> Vec<&'static str> {
    match std::env::var("SPIKE_CG") {
        Ok(v) => CG_JOIN.iter().copied().filter(|c| v.split(',').any(|x| x == *c)).collect(),
        Err(_) => CG_JOIN.to_vec(),
    }
}

fn cg_dir(ctrl: &str, id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(ctrl).join(CG_PARENT).join(id)
}

fn wr(path: &Path, v: &str) -> R<()> {
    fs::write(path, v).map_err(e(format!("write {} = {v}", path.display())))
}

fn cg_create(id: &str) -> R<()> {
    let join = cg_join();
    for ctrl in &join {
        fs::create_dir_all(cg_dir(ctrl, id)).map_err(e(format!("mkdir cgroup {ctrl}")))?;
    }
    if join.contains(&"memory") {
        wr(&cg_dir("memory", id).join("memory.limit_in_bytes"), &MEM_LIMIT.to_string())?;
    }
    if join.contains(&"cpu") {
        let c = cg_dir("cpu", id);
        wr(&c.join("cpu.shares"), &CPU_SHARES.to_string())?;
        wr(&c.join("cpu.cfs_period_us"), &CPU_PERIOD.to_string())?;
        wr(&c.join("cpu.cfs_quota_us"), &CPU_QUOTA.to_string())?;
    }
    if join.contains(&"pids") {
        wr(&cg_dir("pids", id).join("pids.max"), &PIDS_MAX.to_string())?;
    }
    if !join.contains(&"devices") {
        return Ok(());
    }
    // runc's default device rules: deny all, then the standard character devices and pts
    let d = cg_dir("devices", id);
    wr(&d.join("devices.deny"), "a")?;
    for rule in [
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
        "c 5:2 rwm", "c 136:* rwm",
    ] {
        wr(&d.join("devices.allow"), rule)?;
    }
    Ok(())
}

fn cg_remove(id: &str) -> R<()> {
    let mut res = Ok(());
    for ctrl in CG_JOIN {
        let d = cg_dir(ctrl, id);
        if d.exists() {
            if let Err(err) = rmdir_retry(&d) {
                res = Err(err);
            }
        }
    }
    res
}

fn rmdir_retry(d: &Path) -> R<()> {
    for i in 0..50 {
        match fs::remove_dir(d) {
            Ok(()) => return Ok(()),
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) && i < 49 => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(err) => return Err(format!("rmdir {}: {err}", d.display())),
        }
    }
    unreachable!()
}

/// Everything the child needs, prepared before clone (the child only makes syscalls).
struct ChildCfg {
    cgroup_procs: Vec<CString>,
    root: CString,
    hostname: String,
    argv: Vec<CString>,
    env: Vec<CString>,
    errw: RawFd,
    devnull: RawFd,
    out: RawFd,
    trace: RawFd,
    full_setup: bool, // false: the in-process floor (namespaces + exec only)
}

fn cs(s: impl AsRef<OsStr>) -> CString {
    CString::new(s.as_ref().as_bytes()).unwrap()
}

macro_rules! sys {
    ($what:expr, $call:expr) => {{
        #[allow(unused_unsafe)]
        let r = unsafe { $call };
        if r < 0 {
            return Err(($what, nix::errno::Errno::last_raw()));
        }
        r
    }};
}

type CR = Result<(), (&'static str, i32)>;

unsafe fn mnt(src: &str, dst: &str, fstype: &str, flags: libc::c_ulong, data: &str) -> libc::c_int {
    // small stack buffers: the child never allocates
    let s = cstr_buf(src);
    let d = cstr_buf(dst);
    let t = cstr_buf(fstype);
    let o = cstr_buf(data);
    libc::mount(
        s.as_ptr() as _,
        d.as_ptr() as _,
        t.as_ptr() as _,
        flags,
        if data.is_empty() { std::ptr::null() } else { o.as_ptr() as *const libc::c_void },
    )
}

fn cstr_buf(s: &str) -> [u8; 256] {
    let mut b = [0u8; 256];
    b[..s.len()].copy_from_slice(s.as_bytes());
    b
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// phase marks, written by the child to the trace pipe (SPIKE_TRACE)
fn mark(cfg: &ChildCfg, phase: u64) {
    if cfg.trace >= 0 {
        let rec = [phase, now_ns()];
        unsafe { libc::write(cfg.trace, rec.as_ptr() as _, 16) };
    }
}

const PHASES: [&str; 9] =
    ["clone→child runs", "join cgroups", "mount proc/dev/sys/…", "mknod+symlinks+hostname", "pivot_root", "masked+ro paths", "rlimit+caps", "exec→seen by parent", "parent: overlay+cgroup create"];

fn child_setup(cfg: &ChildCfg) -> CR {
    mark(cfg, 0);
    unsafe {
        libc::dup2(cfg.devnull, 0);
        libc::dup2(cfg.out, 1);
        libc::dup2(cfg.out, 2);
        if !cfg.full_setup {
            return exec(cfg);
        }
        // 1. cgroups: "0" = this process (pid 1 here, so we cannot name ourselves by pid)
        for p in &cfg.cgroup_procs {
            let fd = sys!("open cgroup.procs", libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC));
            let w = libc::write(fd, b"0".as_ptr() as _, 1);
            libc::close(fd);
            if w < 0 {
                return Err(("join cgroup", nix::errno::Errno::last_raw()));
            }
        }
        mark(cfg, 1);
        // 2. mounts, relative to the new root
        sys!("make / rprivate", libc::mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()));
        sys!("chdir root", libc::chdir(cfg.root.as_ptr()));
        let ms = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
        for d in [c"proc", c"dev", c"sys"] {
            libc::mkdir(d.as_ptr(), 0o755);
        }
        sys!("mount proc", mnt("proc", "proc", "proc", ms, ""));
        sys!("mount dev", mnt("tmpfs", "dev", "tmpfs", libc::MS_NOSUID | libc::MS_STRICTATIME, "mode=755,size=65536k"));
        for d in [c"dev/pts", c"dev/shm", c"dev/mqueue"] {
            libc::mkdir(d.as_ptr(), 0o755);
        }
        sys!("mount devpts", mnt("devpts", "dev/pts", "devpts", libc::MS_NOSUID | libc::MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"));
        sys!("mount shm", mnt("shm", "dev/shm", "tmpfs", ms, "mode=1777,size=65536k"));
        sys!("mount mqueue", mnt("mqueue", "dev/mqueue", "mqueue", ms, ""));
        sys!("mount sysfs", mnt("sysfs", "sys", "sysfs", ms | libc::MS_RDONLY, ""));
        mark(cfg, 2);
        // device nodes (mknod works: we are root in the initial user namespace)
        let old = libc::umask(0);
        for (p, maj, min) in [
            (c"dev/null", 1, 3), (c"dev/zero", 1, 5), (c"dev/full", 1, 7), (c"dev/random", 1, 8),
            (c"dev/urandom", 1, 9), (c"dev/tty", 5, 0),
        ] {
            sys!("mknod", libc::mknod(p.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(maj, min)));
        }
        libc::umask(old);
        for (target, link) in [
            (c"/proc/self/fd", c"dev/fd"), (c"/proc/self/fd/0", c"dev/stdin"), (c"/proc/self/fd/1", c"dev/stdout"),
            (c"/proc/self/fd/2", c"dev/stderr"), (c"pts/ptmx", c"dev/ptmx"), (c"/proc/kcore", c"dev/core"),
        ] {
            sys!("symlink", libc::symlink(target.as_ptr(), link.as_ptr()));
        }
        sys!("sethostname", libc::sethostname(cfg.hostname.as_ptr() as _, cfg.hostname.len()));
        mark(cfg, 3);
        // 3. pivot_root(".", ".") then detach the old root (runc's trick: no put_old directory needed)
        sys!("pivot_root", libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int);
        sys!("umount old root", libc::umount2(c".".as_ptr(), libc::MNT_DETACH));
        sys!("chdir /", libc::chdir(c"/".as_ptr()));
        mark(cfg, 4);
        // 4. masked paths: /dev/null over files, a read-only tmpfs over directories
        for p in [
            c"/proc/acpi", c"/proc/asound", c"/proc/kcore", c"/proc/keys", c"/proc/latency_stats",
            c"/proc/timer_list", c"/proc/timer_stats", c"/proc/sched_debug", c"/sys/firmware", c"/proc/scsi",
        ] {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::stat(p.as_ptr(), &mut st) != 0 {
                continue;
            }
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                sys!("mask dir", libc::mount(c"tmpfs".as_ptr(), p.as_ptr(), c"tmpfs".as_ptr(), libc::MS_RDONLY, std::ptr::null()));
            } else {
                sys!("mask file", libc::mount(c"/dev/null".as_ptr(), p.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()));
            }
        }
        // 5. read-only paths: bind onto itself, remount read-only
        for p in [c"/proc/bus", c"/proc/fs", c"/proc/irq", c"/proc/sys", c"/proc/sysrq-trigger"] {
            if libc::access(p.as_ptr(), libc::F_OK) != 0 {
                continue;
            }
            sys!("ro bind", libc::mount(p.as_ptr(), p.as_ptr(), std::ptr::null(), libc::MS_BIND | libc::MS_REC, std::ptr::null()));
            sys!("ro remount", libc::mount(p.as_ptr(), p.as_ptr(), std::ptr::null(), libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | ms, std::ptr::null()));
        }
        mark(cfg, 5);
        // 6. rlimits (never above the host's hard limits)
        let rl = libc::rlimit { rlim_cur: NOFILE, rlim_max: NOFILE };
        sys!("setrlimit", libc::setrlimit(libc::RLIMIT_NOFILE, &rl));
        // 7. capabilities: bounding set, then capset, then ambient; no_new_privs
        const KEEP: [u32; 3] = [29 /*AUDIT_WRITE*/, 5 /*KILL*/, 10 /*NET_BIND_SERVICE*/];
        for cap in 0..=40u32 {
            if !KEEP.contains(&cap) {
                libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
            }
        }
        #[repr(C)]
        struct Hdr { version: u32, pid: i32 }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data { effective: u32, permitted: u32, inheritable: u32 }
        let mask: u32 = KEEP.iter().fold(0, |m, c| m | (1 << c));
        let hdr = Hdr { version: 0x2008_0522, pid: 0 };
        let data = [Data { effective: mask, permitted: mask, inheritable: mask }, Data { effective: 0, permitted: 0, inheritable: 0 }];
        sys!("capset", libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) as libc::c_int);
        for cap in KEEP {
            sys!("ambient", libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap as libc::c_ulong, 0, 0));
        }
        sys!("no_new_privs", libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        mark(cfg, 6);
        exec(cfg)
    }
}

unsafe fn exec(cfg: &ChildCfg) -> CR {
    let mut argv: Vec<*const libc::c_char> = cfg.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut env: Vec<*const libc::c_char> = cfg.env.iter().map(|a| a.as_ptr()).collect();
    env.push(std::ptr::null());
    libc::execve(argv[0], argv.as_ptr(), env.as_ptr());
    Err(("execve", nix::errno::Errno::last_raw()))
}

/// Clone into new namespaces, run `child_setup`, report "exec happened" through a CLOEXEC pipe.
fn nix_spawn(cfg_in: ChildCfgIn) -> R<Pid> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(e("pipe"))?;
    let devnull = fs::File::open("/dev/null").map_err(e("/dev/null"))?;
    let out = match std::env::var_os("SPIKE_OUT") {
        Some(p) => fs::OpenOptions::new().create(true).append(true).open(p).map_err(e("SPIKE_OUT"))?,
        None => fs::OpenOptions::new().write(true).open("/dev/null").map_err(e("/dev/null"))?,
    };
    let mut cfg = ChildCfg {
        cgroup_procs: cfg_in.cgroup_procs,
        root: cs(&cfg_in.root),
        hostname: cfg_in.hostname,
        argv: cfg_in.argv.iter().map(cs).collect(),
        env: vec![cs("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")],
        errw: w.as_raw_fd(),
        devnull: devnull.as_raw_fd(),
        out: out.as_raw_fd(),
        trace: -1,
        full_setup: cfg_in.full_setup,
    };
    let tracing = std::env::var_os("SPIKE_TRACE").is_some();
    let (tr, tw) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(e("pipe"))?;
    cfg.trace = if tracing { tw.as_raw_fd() } else { -1 };
    let mut stack = vec![0u8; 256 * 1024];
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWNET;
    if !cfg_in.new_net {
        flags.remove(CloneFlags::CLONE_NEWNET);
    }
    if cfg_in.no_ns {
        flags = CloneFlags::empty();
    }
    let cb = Box::new(|| {
        if let Err((what, errno)) = child_setup(&cfg) {
            let msg = format!("{what}: {}", nix::errno::Errno::from_raw(errno));
            unsafe { libc::write(cfg.errw, msg.as_ptr() as _, msg.len()) };
        }
        127
    });
    let t_clone = now_ns();
    let pid = unsafe { nix::sched::clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) }.map_err(e("clone"))?;
    drop(w);
    drop(tw);
    let mut msg = String::new();
    let mut rf = fs::File::from(OwnedFd::from(r));
    let _ = rf.read_to_string(&mut msg); // EOF = exec happened (or the child died)
    if tracing {
        let t_exec = now_ns();
        let mut buf = vec![];
        let _ = fs::File::from(OwnedFd::from(tr)).read_to_end(&mut buf);
        let mut prev = t_clone;
        TRACE.with(|t| {
            let mut t = t.borrow_mut();
            for rec in buf.chunks_exact(16) {
                let ph = u64::from_ne_bytes(rec[..8].try_into().unwrap()) as usize;
                let ts = u64::from_ne_bytes(rec[8..].try_into().unwrap());
                t[ph].push((ts - prev) as f64 / 1e6);
                prev = ts;
            }
            t[7].push((t_exec - prev) as f64 / 1e6);
        });
    }
    if !msg.is_empty() {
        let _ = wait_exit(pid);
        return Err(format!("child: {msg}"));
    }
    Ok(pid)
}

thread_local! {
    static TRACE: std::cell::RefCell<Vec<Vec<f64>>> = std::cell::RefCell::new(vec![vec![]; 9]);
}

struct ChildCfgIn {
    cgroup_procs: Vec<CString>,
    root: PathBuf,
    hostname: String,
    argv: Vec<&'static str>,
    full_setup: bool,
    new_net: bool,
    no_ns: bool,
}

fn nix_start(id: &str, mode: Mode) -> R<Running> {
    let mut c = nix_launch(id, argv(mode))?;
    if mode != Mode::Sleep {
        let code = wait_exit(c.pid.take().unwrap())?;
        if code != 0 {
            let _ = stop(c);
            return Err(format!("exit {code}"));
        }
    }
    Ok(c)
}

/// (b') the thin layer run by a per-container shim (this binary re-executed as `shim ID MODE`):
/// the shim mounts, creates the cgroup, clones the container, prints `ready PID`, then waits for it
/// and records the exit code in RUNS/ID/exit. What skiff's agent would do is only spawn + read a line.
fn shim_start(id: &str, mode: Mode) -> R<Running> {
    use std::io::BufRead;
    let exe = std::env::current_exe().map_err(e("current_exe"))?;
    let m = match mode { Mode::True => "true", Mode::Sleep => "sleep", Mode::Show => "show" };
    let mut child = Command::new(exe)
        .args(["shim", id, m])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(e("spawn shim"))?;
    let mut line = String::new();
    let _ = std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let shim = Pid::from_raw(child.id() as i32);
    let dir = Path::new(RUNS).join(id);
    let rootfs = Rootfs { merged: dir.join("rootfs"), dir };
    let mut c = Running { pid: None, rootfs, kind: "nix", id: id.into(), shim: Some(shim) };
    match line.strip_prefix("ready ").and_then(|p| p.trim().parse::<i32>().ok()) {
        Some(p) => c.pid = Some(Pid::from_raw(p)),
        None => {
            let _ = wait_exit(shim);
            let _ = cg_remove(id);
            let _ = unmount_rootfs(&c.rootfs);
            return Err(format!("shim: {}", line.trim()));
        }
    }
    if mode != Mode::Sleep {
        let code = wait_exit(shim)?;
        c.shim = None;
        c.pid = None;
        let rec = fs::read_to_string(c.rootfs.dir.join("exit")).unwrap_or_default();
        if code != 0 || rec.trim() != "0" {
            let _ = stop(c);
            return Err(format!("exit {code} (recorded {rec:?})"));
        }
    }
    Ok(c)
}

fn shim_main(id: &str, mode: &str) -> i32 {
    let _ = nix::unistd::setsid(); // own session: survives the agent, gets none of its signals
    let mode = match mode { "true" => Mode::True, "show" => Mode::Show, _ => Mode::Sleep };
    match nix_launch(id, argv(mode)) {
        Ok(c) => {
            let pid = c.pid.unwrap();
            println!("ready {pid}");
            // hand stdout back: the agent sees EOF and stops reading
            let null = fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
            unsafe { libc::dup2(null.as_raw_fd(), 1) };
            let code = wait_exit(pid).unwrap_or(255);
            let tmp = c.rootfs.dir.join("exit.tmp");
            let _ = fs::write(&tmp, code.to_string()).and_then(|_| fs::rename(&tmp, c.rootfs.dir.join("exit")));
            code
        }
        Err(err) => {
            println!("error {err}");
            1
        }
    }
}

fn nix_launch(id: &str, argv: Vec<&'static str>) -> R<Running> {
    let t0 = Instant::now();
    let rootfs = mount_rootfs(id)?;
    let mut c = Running { pid: None, rootfs, kind: "nix", id: id.into(), shim: None };
    let r = cg_create(id).and_then(|_| {
        TRACE.with(|t| t.borrow_mut()[8].push(ms(t0.elapsed())));
        nix_spawn(ChildCfgIn {
            cgroup_procs: cg_join().iter().map(|ctrl| cs(cg_dir(ctrl, id).join("cgroup.procs"))).collect(),
            root: c.rootfs.merged.clone(),
            hostname: format!("c-{id}"),
            argv,
            full_setup: true,
            new_net: true,
            no_ns: false,
        })
    });
    match r {
        Ok(pid) => c.pid = Some(pid),
        Err(err) => {
            let _ = stop(c);
            return Err(err);
        }
    }
    Ok(c)
}

// --- (c) youki's libcontainer ------------------------------------------------------------------

#[cfg(feature = "youki")]
mod youki {
    use super::*;
    use libcontainer::container::builder::ContainerBuilder;
    use libcontainer::container::Container;
    use libcontainer::syscall::syscall::SyscallType;

    pub fn start(id: &str, mode: Mode) -> R<Running> {
        let rootfs = mount_rootfs(id)?;
        write_bundle(id, &rootfs, &argv(mode))?;
        let mut c = Running { pid: None, rootfs, kind: "youki", id: id.into(), shim: None };
        let r = (|| -> R<Pid> {
            let null = || OwnedFd::from(fs::File::open("/dev/null").unwrap());
            let out = || match std::env::var_os("SPIKE_OUT") {
                Some(p) => OwnedFd::from(fs::OpenOptions::new().create(true).append(true).open(p).unwrap()),
                None => OwnedFd::from(fs::OpenOptions::new().write(true).open("/dev/null").unwrap()),
            };
            let mut ct = ContainerBuilder::new(id.to_string(), SyscallType::default())
                .with_root_path(YOUKI_ROOT)
                .map_err(e("youki root"))?
                .with_stdin(null())
                .with_stdout(out())
                .with_stderr(out())
                .as_init(&c.rootfs.dir)
                .with_systemd(false)
                .with_detach(true)
                .build()
                .map_err(e("youki build"))?;
            ct.start().map_err(e("youki start"))?;
            ct.pid().ok_or_else(|| "youki: no pid".to_string())
        })();
        match r {
            Ok(pid) => c.pid = Some(pid),
            Err(err) => {
                let _ = stop(c);
                return Err(err);
            }
        }
        if mode != Mode::Sleep {
            let code = wait_exit(c.pid.take().unwrap())?;
            if code != 0 {
                let _ = stop(c);
                return Err(format!("exit {code}"));
            }
        }
        Ok(c)
    }

    pub fn delete(id: &str) -> R<()> {
        let dir = Path::new(YOUKI_ROOT).join(id);
        if !dir.exists() {
            return Ok(());
        }
        let mut ct = Container::load(dir).map_err(e("youki load"))?;
        ct.delete(true).map_err(e("youki delete"))
    }
}

// ---------------------------------------------------------------------------------------------
// floors

fn floor_unshare() -> R<()> {
    let st = Command::new("unshare")
        .args(["--net", "--pid", "--mount", "--uts", "--ipc", "--fork", "true"])
        .stdin(Stdio::null())
        .status()
        .map_err(e("unshare"))?;
    if st.success() { Ok(()) } else { Err(format!("unshare: {st}")) }
}

fn floor_clone() -> R<()> {
    floor_clone_with(true, false)
}

fn floor_clone_nonet() -> R<()> {
    floor_clone_with(false, false)
}

fn floor_clone_nons() -> R<()> {
    floor_clone_with(false, true)
}

fn floor_clone_with(new_net: bool, no_ns: bool) -> R<()> {
    let pid = nix_spawn(ChildCfgIn {
        cgroup_procs: vec![],
        root: "/".into(),
        hostname: String::new(),
        argv: vec!["/bin/true"],
        full_setup: false,
        new_net,
        no_ns,
    })?;
    match wait_exit(pid)? {
        0 => Ok(()),
        c => Err(format!("exit {c}")),
    }
}

/// cgroup join mechanics, with clone3 (mnt,pid,ipc,uts,net) + exec /bin/true, nothing else:
/// how: 0 = no cgroup, 1 = child writes "0" to cgroup.procs (a migration), 2 = CLONE_INTO_CGROUP
/// (born in the cgroup; v2 only). v1 = memory hierarchy, v2 = the (controller-less) unified one.
fn clone3_cg(how: u8, v2: bool) -> R<()> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs { flags: u64, pidfd: u64, child_tid: u64, parent_tid: u64, exit_signal: u64, stack: u64, stack_size: u64, tls: u64, set_tid: u64, set_tid_size: u64, cgroup: u64 }
    let dir = if v2 { Path::new("/sys/fs/cgroup/unified").join(CG_PARENT).join("j") } else { cg_dir("memory", "j") };
    fs::create_dir_all(&dir).map_err(e("mkdir cg"))?;
    let procs = cs(dir.join("cgroup.procs"));
    let dfd = fs::File::open(&dir).map_err(e("open cg dir"))?;
    let ns = (libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNET) as u64;
    let mut args = CloneArgs { flags: ns, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
    if how == 2 {
        args.flags |= 0x2_0000_0000; // CLONE_INTO_CGROUP
        args.cgroup = dfd.as_raw_fd() as u64;
    }
    let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    let pid = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if pid < 0 {
        return Err(format!("clone3: {}", nix::errno::Errno::last()));
    }
    if pid == 0 {
        unsafe {
            if how == 1 {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr() as _, 1) != 1 {
                    libc::_exit(126);
                }
            }
            libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    let code = wait_exit(Pid::from_raw(pid as i32))?;
    if code != 0 {
        return Err(format!("clone3 child exit {code}"));
    }
    Ok(())
}

fn cmd_cgjoin(n: usize) -> R<()> {
    let mut all = vec![];
    for (name, how, v2) in [
        ("clone3(5 ns) + exec true, no cgroup", 0u8, false),
        ("… + child joins v1 memory cgroup (write cgroup.procs)", 1, false),
        ("… + child joins v2 cgroup (write cgroup.procs)", 1, true),
        ("… + CLONE_INTO_CGROUP v2 cgroup (born there)", 2, true),
    ] {
        let mut st = Stats { name: name.into(), start: vec![], stop: vec![] };
        for i in 0..n + 3 {
            gap();
            let t0 = Instant::now();
            clone3_cg(how, v2)?;
            if i >= 3 {
                st.start.push(ms(t0.elapsed()));
            }
        }
        all.push(st);
    }
    println!("{}", print_stats(&all));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// measurement

struct Stats {
    name: String,
    start: Vec<f64>,
    stop: Vec<f64>,
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let idx = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

type StartFn = fn(&str, Mode) -> R<Running>;

/// SPIKE_GAP_MS: idle time before each run (outside the timing), so that each start is isolated
/// ("cold": no RCU grace period in flight from the previous run) instead of back to back.
fn gap() {
    let gap: u64 = std::env::var("SPIKE_GAP_MS").ok().and_then(|g| g.parse().ok()).unwrap_or(0);
    if gap > 0 {
        std::thread::sleep(Duration::from_millis(gap));
    }
}

fn bench_container(name: &str, f: StartFn, mode: Mode, n: usize) -> R<Stats> {
    let mut st = Stats { name: name.into(), start: vec![], stop: vec![] };
    for i in 0..n + 3 {
        gap();
        let id = format!("{}-{i}", name.split_whitespace().next().unwrap().replace(['(', ')', '+', '/'], ""));
        let t0 = Instant::now();
        let c = f(&id, mode)?;
        let t1 = Instant::now();
        stop(c)?;
        let t2 = Instant::now();
        if i >= 3 {
            st.start.push(ms(t1 - t0));
            st.stop.push(ms(t2 - t1));
        }
    }
    Ok(st)
}

fn bench_floor(name: &str, f: fn() -> R<()>, n: usize) -> R<Stats> {
    let mut st = Stats { name: name.into(), start: vec![], stop: vec![] };
    for i in 0..n + 3 {
        gap();
        let t0 = Instant::now();
        f()?;
        if i >= 3 {
            st.start.push(ms(t0.elapsed()));
        }
    }
    Ok(st)
}

fn print_stats(all: &[Stats]) -> String {
    let mut out = String::from(
        "| what | n | start p50 ms | start p99 ms | start mean ms | stop/cleanup p50 ms | stop p99 ms |\n|---|---|---|---|---|---|---|\n",
    );
    for s in all {
        let mean = s.start.iter().sum::<f64>() / s.start.len() as f64;
        let (sp50, sp99) = if s.stop.is_empty() {
            ("–".into(), "–".into())
        } else {
            (format!("{:.2}", pct(&s.stop, 0.5)), format!("{:.2}", pct(&s.stop, 0.99)))
        };
        out += &format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {} | {} |\n",
            s.name,
            s.start.len(),
            pct(&s.start, 0.5),
            pct(&s.start, 0.99),
            mean,
            sp50,
            sp99
        );
    }
    out
}

fn runtimes() -> Vec<(&'static str, StartFn)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, StartFn)> = vec![
        ("runc create+start", runc_create_start),
        ("runc run", runc_run),
        ("nix (thin layer)", nix_start),
        ("nix via shim (thin layer in a re-exec'd shim)", shim_start),
    ];
    #[cfg(feature = "youki")]
    v.push(("youki libcontainer", youki::start));
    v
}

fn cmd_all(n: usize, only: Option<&str>) -> R<()> {
    let mut all = vec![];
    let want = |name: &str| only.map_or(true, |o| name.starts_with(o));
    if want("floor") {
        all.push(bench_floor("floor: unshare --net --pid --mount --uts --ipc --fork true", floor_unshare, n)?);
        all.push(bench_floor("floor: in-process clone(5 ns flags) + exec /bin/true", floor_clone, n)?);
        all.push(bench_floor("floor: in-process clone(mnt,pid,ipc,uts; no netns) + exec /bin/true", floor_clone_nonet, n)?);
        all.push(bench_floor("floor: in-process clone (no namespaces) + exec /bin/true", floor_clone_nons, n)?);
        eprint!("{}", print_stats(&all));
    }
    for (name, f) in runtimes() {
        if !want(name) {
            continue;
        }
        for mode in [Mode::True, Mode::Sleep] {
            let label = format!("{name}: {}", if mode != Mode::Sleep { "true, start→exit" } else { "sleep, start→exec'd" });
            match bench_container(&label, f, mode, n) {
                Ok(s) => {
                    eprintln!("{}", print_stats(std::slice::from_ref(&s)).lines().last().unwrap());
                    all.push(s)
                }
                Err(err) => eprintln!("{label}: FAILED: {err}"),
            }
        }
    }
    println!("{}", print_stats(&all));
    Ok(())
}

/// Where the time goes outside the container's own setup: overlay mount/umount, cgroup files.
fn cmd_phases(n: usize) -> R<()> {
    let mut all = vec![];
    for vol in [false, true] {
        if vol { std::env::set_var("SPIKE_VOLATILE", "1") } else { std::env::remove_var("SPIKE_VOLATILE") }
        let mut st = Stats { name: format!("overlay mount / umount+rm{}", if vol { " (volatile)" } else { "" }), start: vec![], stop: vec![] };
        for i in 0..n {
            let t0 = Instant::now();
            let r = mount_rootfs(&format!("ph{i}"))?;
            let t1 = Instant::now();
            unmount_rootfs(&r)?;
            st.start.push(ms(t1 - t0));
            st.stop.push(ms(t1.elapsed()));
        }
        all.push(st);
    }
    std::env::remove_var("SPIKE_VOLATILE");
    let mut st = Stats { name: "cgroup v1 create+limits (5 hierarchies) / rmdir".into(), start: vec![], stop: vec![] };
    for i in 0..n {
        let id = format!("ph{i}");
        let t0 = Instant::now();
        cg_create(&id)?;
        let t1 = Instant::now();
        cg_remove(&id)?;
        st.start.push(ms(t1 - t0));
        st.stop.push(ms(t1.elapsed()));
    }
    all.push(st);
    let mut st = Stats { name: "oci-spec config.json build+write".into(), start: vec![], stop: vec![] };
    fs::create_dir_all(RUNS).map_err(e("mkdir"))?;
    for _ in 0..n {
        let t0 = Instant::now();
        let r = Rootfs { dir: Path::new(RUNS).into(), merged: Path::new(RUNS).join("x") };
        write_bundle("x", &r, &["/bin/true"])?;
        st.start.push(ms(t0.elapsed()));
    }
    all.push(st);
    println!("{}", print_stats(&all));
    Ok(())
}

fn cmd_trace(n: usize) -> R<()> {
    std::env::set_var("SPIKE_TRACE", "1");
    let st = bench_container("nix (thin layer): sleep, start→exec'd", nix_start, Mode::Sleep, n)?;
    println!("{}", print_stats(&[st]));
    println!("| thin-layer phase | p50 ms | p99 ms |\n|---|---|---|");
    TRACE.with(|t| {
        for (i, v) in t.borrow().iter().enumerate() {
            println!("| {} | {:.3} | {:.3} |", PHASES[i], pct(v, 0.5), pct(v, 0.99));
        }
    });
    Ok(())
}

fn cmd_show() -> R<()> {
    for (name, f) in runtimes() {
        println!("===== {name}");
        let out = format!("{BASE}/show.out");
        let _ = fs::remove_file(&out);
        std::env::set_var("SPIKE_OUT", &out);
        let r = f("show", Mode::Show).and_then(stop);
        std::env::remove_var("SPIKE_OUT");
        println!("{}", fs::read_to_string(&out).unwrap_or_default());
        r?;
    }
    Ok(())
}

fn meminfo() -> std::collections::HashMap<String, i64> {
    fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.trim_end_matches(':').to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

fn rss_kb(pid: Pid) -> i64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn pss_kb(pid: Pid) -> i64 {
    fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn children_of(me: i32) -> Vec<i32> {
    let mut v = vec![];
    for ent in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<i32>() else { continue };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some(after) = stat.rsplit_once(") ") else { continue };
        if after.1.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) == Some(me) {
            v.push(pid);
        }
    }
    v
}

fn cmd_mem(n: usize) -> R<()> {
    let me = std::process::id() as i32;
    println!("| layer | containers | RSS / container | PSS / container | cgroup memory.usage / container | Slab Δ / container | KernelStack+PageTables Δ / container | MemAvailable Δ / container | other resident processes |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, f) in runtimes() {
        let m0 = meminfo();
        let mut cs = vec![];
        for i in 0..n {
            match f(&format!("mem{}-{i}", name.split_whitespace().next().unwrap()), Mode::Sleep) {
                Ok(c) => cs.push(c),
                Err(err) => {
                    eprintln!("{name}: {err}");
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let m1 = meminfo();
        let kids = children_of(me);
        let pids: Vec<i32> = cs.iter().filter_map(|c| c.pid.map(|p| p.as_raw())).collect();
        let others: Vec<i32> = kids.iter().copied().filter(|k| !pids.contains(k)).collect();
        let rss: i64 = pids.iter().map(|p| rss_kb(Pid::from_raw(*p))).sum();
        let pss: i64 = pids.iter().map(|p| pss_kb(Pid::from_raw(*p))).sum();
        let cg: i64 = cs
            .iter()
            .filter_map(|c| {
                let p = match c.kind {
                    "nix" | "runc" | "youki" => cg_dir("memory", &c.id).join("memory.usage_in_bytes"),
                    _ => return None,
                };
                fs::read_to_string(p).ok()?.trim().parse::<i64>().ok()
            })
            .sum();
        let k = cs.len().max(1) as i64;
        let others_pss: i64 = others.iter().map(|p| pss_kb(Pid::from_raw(*p))).sum();
        let others_rss: i64 = others.iter().map(|p| rss_kb(Pid::from_raw(*p))).sum();
        let d = |key: &str| (m0[key] - m1[key]) as f64 / k as f64;
        let du = |key: &str| (m1[key] - m0[key]) as f64 / k as f64;
        println!(
            "| {name} | {} | {} KiB | {} KiB | {} KiB | {:.0} KiB | {:.0} KiB | {:.0} KiB | {} processes, RSS {} KiB / PSS {} KiB per container |",
            cs.len(),
            rss / k,
            pss / k,
            cg / 1024 / k,
            du("Slab"),
            du("KernelStack") + du("PageTables"),
            d("MemAvailable"),
            others.len(),
            others_rss / k,
            others_pss / k
        );
        for c in cs {
            stop(c)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// cleanup of anything left behind (also run before and after every command)

fn cleanup() {
    let me = std::process::id() as i32;
    for k in children_of(me) {
        let _ = kill_wait(Pid::from_raw(k));
    }
    if Path::new(RUNC_ROOT).exists() {
        for ent in fs::read_dir(RUNC_ROOT).into_iter().flatten().flatten() {
            let id = ent.file_name().to_string_lossy().to_string();
            let _ = Command::new("runc").args(["--root", RUNC_ROOT, "delete", "-f", &id]).status();
        }
    }
    let _ = fs::remove_dir_all(YOUKI_ROOT);
    let _ = fs::remove_dir(RUNC_ROOT);
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut ours: Vec<&str> =
        mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| m.starts_with(RUNS)).collect();
    ours.reverse();
    for m in ours {
        let _ = umount2(m, MntFlags::MNT_DETACH);
    }
    for ent in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let parent = ent.path().join(CG_PARENT);
        if parent.is_dir() {
            for sub in fs::read_dir(&parent).into_iter().flatten().flatten() {
                if sub.path().is_dir() {
                    let _ = rmdir_retry(&sub.path());
                }
            }
            let _ = rmdir_retry(&parent);
        }
    }
    let _ = fs::remove_dir_all(RUNS);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args.get(1).map(String::as_str).unwrap_or("all");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    if !Path::new(LOWER).join("bin/busybox").exists() {
        eprintln!("unpack busybox first: python3 tests/images/mkimage.py unpack target/test-images/oci/busybox-1.36 {LOWER}");
        std::process::exit(2);
    }
    let _ = fs::create_dir_all(BASE);
    if cmd == "shim" {
        std::process::exit(shim_main(&args[2], &args[3]));
    }
    set_subreaper();
    cleanup();
    let res = std::panic::catch_unwind(|| match cmd {
        "all" => cmd_all(n, args.get(3).map(String::as_str)),
        "mem" => cmd_mem(n),
        "cleanup" => Ok(()),
        "show" => cmd_show(),
        "phases" => cmd_phases(n),
        "trace" => cmd_trace(n),
        "cgjoin" => cmd_cgjoin(n),
        "idle" => {
            // stand-in for a per-container shim at rest (measure its RSS/PSS from outside)
            std::thread::sleep(Duration::from_secs(n as u64));
            Ok(())
        }
        _ => Err(format!("unknown command {cmd}")),
    });
    cleanup();
    match res {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            eprintln!("error: {err}");
            std::process::exit(1)
        }
        Err(_) => std::process::exit(101),
    }
}
