//! Integration tests: real containers (run as root; skipped otherwise). A plain `main` (harness = false) so
//! that the same binary can serve as the single-threaded helper process that starts each container.
//! `cargo test -p skiff-runtime --test containers -- NAME` runs the tests whose name contains NAME.

mod common;

use std::path::Path;
use std::process::Command;

use common::{cgroup_pids, gone, mount_points, spec, ExecHelper, Fixture, Helper, Step, CGROUP_PARENT};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResources,
    Spec,
};
use skiff_runtime::{ExecSpec, RootfsSpec, Stdio, StdioTarget};

fn with_resources(mut spec: Spec, res: LinuxResources) -> Spec {
    let mut linux = spec.linux().clone().expect("linux");
    let mut r = linux.resources().clone().unwrap_or_default();
    if let Some(m) = res.memory() {
        r.set_memory(Some(*m));
    }
    if let Some(c) = res.cpu() {
        r.set_cpu(Some(c.clone()));
    }
    if let Some(p) = res.pids() {
        r.set_pids(Some(*p));
    }
    linux.set_resources(Some(r));
    spec.set_linux(Some(linux));
    spec
}

fn without_ns(mut spec: Spec, typ: LinuxNamespaceType) -> Spec {
    let mut linux = spec.linux().clone().expect("linux");
    let ns = linux.namespaces().clone().unwrap_or_default();
    linux.set_namespaces(Some(ns.into_iter().filter(|n| n.typ() != typ).collect()));
    spec.set_linux(Some(linux));
    spec
}

/// Nothing of the container is left: no mount, no cgroup dir, no state record.
fn assert_clean(f: &Fixture) {
    let target = f.target().to_string_lossy().into_owned();
    assert!(!mount_points().contains(&target), "rootfs still mounted at {target}");
    for d in f.cgroup_dirs() {
        assert!(!d.exists(), "cgroup dir {} left", d.display());
    }
    assert!(!f.state_dir().join(&f.id).exists(), "state record left");
}

fn basic() {
    let f = Fixture::new("basic");
    let script =
        "echo host=$HOSTNAME; echo hostname=$(hostname); echo pid=$$; cat /proc/self/cgroup; echo uid=$(id -u)";
    let cfg = f.config(spec(&f.id, &["sh", "-c", script]));
    let mut h = Helper::spawn(&cfg, vec![Step::Wait, Step::Destroy]);
    h.started();
    assert_eq!(h.line(), "exit 0 - 0", "stderr: {}", std::fs::read_to_string(f.err()).unwrap_or_default());
    assert_eq!(h.line(), "destroyed");
    let out = f.read_out();
    eprintln!("{out}");
    assert!(out.contains(&format!("hostname=c-{}", f.id)), "{out}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("uid=0\n"), "{out}");
    for c in ["memory", "cpu", "cpuacct", "pids", "devices"] {
        assert!(out.contains(&format!(":{c}:/{CGROUP_PARENT}/{}\n", f.id)), "{c} cgroup: {out}");
    }
    assert!(h.finish().success());
    assert_clean(&f);
}

fn exit_code() {
    let f = Fixture::new("exit");
    let mut h = Helper::spawn(&f.config(spec(&f.id, &["sh", "-c", "exit 3"])), vec![Step::Wait]);
    h.started();
    assert_eq!(h.line(), "exit 3 - 0");
}

fn signals() {
    // pid 1 of a new pid namespace ignores SIGTERM without a handler (the kernel's rule): SIGKILL is needed
    let f = Fixture::new("sig-init");
    let steps =
        vec![Step::Kill("SIGTERM".into()), Step::SleepMs(300), Step::Probe, Step::Kill("SIGKILL".into()), Step::Wait];
    let mut h = Helper::spawn(&f.config(spec(&f.id, &["sleep", "1000"])), steps);
    h.started();
    assert_eq!(h.line(), "running");
    assert_eq!(h.line(), "exit 137 SIGKILL 0");
    drop(f);
    // in the host's pid namespace, SIGTERM kills sleep
    let f = Fixture::new("sig-term");
    let s = without_ns(spec(&f.id, &["sleep", "1000"]), LinuxNamespaceType::Pid);
    let mut h = Helper::spawn(&f.config(s), vec![Step::Kill("SIGTERM".into()), Step::Wait]);
    h.started();
    assert_eq!(h.line(), "exit 143 SIGTERM 0");
}

fn oom_killed() {
    let f = Fixture::new("oom");
    let mem = LinuxMemoryBuilder::default().limit(16i64 << 20).build().expect("memory");
    let res = oci_spec::runtime::LinuxResourcesBuilder::default().memory(mem).build().expect("resources");
    // dd's 64 MiB buffer is filled by the read from /dev/zero
    let s = with_resources(spec(&f.id, &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]), res);
    let mut h = Helper::spawn(&f.config(s), vec![Step::Wait]);
    h.started();
    assert_eq!(h.line(), "exit 137 SIGKILL 1");
}

fn limits() {
    let f = Fixture::new("limits");
    let res = oci_spec::runtime::LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(64i64 << 20).build().expect("memory"))
        .cpu(LinuxCpuBuilder::default().shares(512u64).quota(50_000i64).period(100_000u64).build().expect("cpu"))
        .pids(LinuxPidsBuilder::default().limit(64i64).build().expect("pids"))
        .build()
        .expect("resources");
    let s = with_resources(spec(&f.id, &["sleep", "1000"]), res);
    let mut h = Helper::spawn(&f.config(s), vec![Step::Pause, Step::Kill("SIGKILL".into()), Step::Wait]);
    let pid = h.started();
    assert_eq!(h.line(), "paused");
    let read = |ctrl: &str, file: &str| {
        let p = Path::new("/sys/fs/cgroup").join(ctrl).join(CGROUP_PARENT).join(&f.id).join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(read("cpu", "cpu.shares"), "512");
    assert_eq!(read("pids", "pids.max"), "64");
    assert!(read("devices", "devices.list").contains("c 1:3 rwm"));
    assert_eq!(read("memory", "cgroup.procs"), pid.to_string());
    h.resume();
    assert_eq!(h.line(), "exit 137 SIGKILL 0");
}

/// A network namespace made by `ip netns add`, deleted on drop.
struct NetNs(String);

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn join_netns() {
    let f = Fixture::new("netns");
    let ns = NetNs(format!("skiff-rt-{}", std::process::id()));
    assert!(Command::new("ip").args(["netns", "add", &ns.0]).status().expect("ip").success());
    let st = Command::new("ip")
        .args(["-n", &ns.0, "link", "add", "skiffrt0", "type", "veth", "peer", "name", "skiffrt1"])
        .status()
        .expect("ip");
    assert!(st.success());
    let mut s = without_ns(spec(&f.id, &["cat", "/proc/net/dev"]), LinuxNamespaceType::Network);
    let mut linux = s.linux().clone().expect("linux");
    let mut nss = linux.namespaces().clone().unwrap_or_default();
    nss.push(
        LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Network)
            .path(format!("/var/run/netns/{}", ns.0))
            .build()
            .expect("ns"),
    );
    linux.set_namespaces(Some(nss));
    s.set_linux(Some(linux));
    let mut h = Helper::spawn(&f.config(s), vec![Step::Wait]);
    h.started();
    assert_eq!(h.line(), "exit 0 - 0");
    let out = f.read_out();
    assert!(out.contains("skiffrt0:") && out.contains("skiffrt1:"), "{out}");
}

/// An image whose `/escape` is a symlink to `/`: a mount at `/escape/tmp/…` must land inside the rootfs, not on
/// the host's `/tmp` (the kernel would follow the link from the host's root while the container is set up).
fn mount_through_image_symlink() {
    let f = Fixture::new("symlink");
    let evil = f.dir.path().join("evil-layer");
    std::fs::create_dir_all(&evil).expect("layer dir");
    std::os::unix::fs::symlink("/", evil.join("escape")).expect("symlink");
    let name = format!("skiff-securejoin-{}", std::process::id());
    let mut s = spec(&f.id, &["sh", "-c", &format!("test -d /tmp/{name} && echo inside")]);
    let mut mounts = s.mounts().clone().unwrap_or_default();
    mounts.push(
        oci_spec::runtime::MountBuilder::default()
            .destination(format!("/escape/tmp/{name}"))
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec!["nosuid".to_string(), "nodev".to_string()])
            .build()
            .expect("mount"),
    );
    s.set_mounts(Some(mounts));
    let mut cfg = f.config(s);
    if let RootfsSpec::Overlay { lower, .. } = &mut cfg.rootfs {
        lower.push(evil.clone());
    }
    let mut h = Helper::spawn(&cfg, vec![Step::Wait]);
    h.started();
    assert_eq!(h.line(), "exit 0 - 0");
    assert_eq!(f.read_out().trim(), "inside");
    assert!(!Path::new("/tmp").join(&name).exists(), "the mount escaped to the host's /tmp");
}

fn missing_binary() {
    let f = Fixture::new("nobin");
    let mut h = Helper::spawn(&f.config(spec(&f.id, &["no-such-binary", "x"])), vec![]);
    let l = h.line();
    assert_eq!(l, "error exec: \"no-such-binary\": executable file not found in $PATH");
    assert_clean(&f);
    let f = Fixture::new("nobin-abs");
    let mut h = Helper::spawn(&f.config(spec(&f.id, &["/bin/no-such-binary"])), vec![]);
    let l = h.line();
    assert!(l.starts_with("error exec: \"/bin/no-such-binary\": ENOENT"), "{l}");
    assert_clean(&f);
}

fn destroy_cleans_up() {
    // the helper stays alive (as a crashed-but-present shim would); the test destroys by id from the record
    let f = Fixture::new("destroy");
    let script = "sleep 1000 & sleep 1000";
    let mut h = Helper::spawn(&f.config(spec(&f.id, &["sh", "-c", script])), vec![Step::Pause, Step::Wait]);
    let pid = h.started();
    assert_eq!(h.line(), "paused");
    assert!(mount_points().contains(&f.target().to_string_lossy().into_owned()));
    skiff_runtime::destroy_by_id(&f.state_dir(), &f.id).expect("destroy");
    assert!(gone(pid), "container init {pid} still running");
    assert_clean(&f);
    skiff_runtime::destroy_by_id(&f.state_dir(), &f.id).expect("destroy is idempotent");
    h.resume();
    assert_eq!(h.line(), "exit 137 SIGKILL 0");
    assert!(h.finish().success());
}

/// The v2 manager on this host's (controller-less) cgroup2 at /sys/fs/cgroup/unified: create, join, list, remove.
fn v2_unified_dirs() {
    use skiff_runtime::cgroup::{v2::V2Cgroup, Cgroup};
    let root = Path::new("/sys/fs/cgroup/unified");
    if nix::sys::statfs::statfs(root).map(|s| s.filesystem_type()) != Ok(nix::sys::statfs::CGROUP2_SUPER_MAGIC) {
        eprintln!("no cgroup2 at {}: skipped", root.display());
        return;
    }
    let rel = Path::new(CGROUP_PARENT).join(format!("v2-{}", std::process::id()));
    let cg = V2Cgroup::new(root, rel);
    cg.create().expect("create");
    cg.apply(&LinuxResources::default()).expect("apply nothing");
    assert!(cg.dir().is_dir());
    assert_eq!(cg.procs_files(), vec![cg.dir().join("cgroup.procs")]);
    assert_eq!(cg.pids().expect("pids"), Vec::<i32>::new());
    assert_eq!(cg.oom_kills().expect("oom"), 0);
    cg.remove().expect("remove");
    cg.remove().expect("remove is idempotent");
    assert!(!cg.dir().exists());
    let _ = std::fs::remove_dir(root.join(CGROUP_PARENT));
}

/// An exec spec for `args` whose stdout/stderr go to `out`/`out.err` in the fixture's dir.
fn exec_spec(f: &Fixture, args: &[&str], out: &str) -> ExecSpec {
    let stdio = Stdio {
        stdin: StdioTarget::Null,
        stdout: StdioTarget::File(f.dir.path().join(out)),
        stderr: StdioTarget::File(f.dir.path().join(format!("{out}.err"))),
    };
    ExecSpec { stdio, ..ExecSpec::new(args.iter().map(|a| a.to_string()).collect()) }
}

fn read(f: &Fixture, name: &str) -> String {
    std::fs::read_to_string(f.dir.path().join(name)).unwrap_or_default()
}

/// A `sleep 1000` container as uid 1000 (gid 1000, groups 1001), cwd /tmp, FOO=bar, with a file of its own at
/// `/marker` (in the overlay's upper dir), kept running by a paused helper.
fn sleeper(f: &Fixture) -> (Helper, i32) {
    let upper = f.dir.path().join("upper");
    std::fs::create_dir_all(&upper).expect("mkdir upper");
    std::fs::write(upper.join("marker"), "container root\n").expect("marker");
    let mut s = spec(&f.id, &["sleep", "1000"]);
    let mut process = s.process().clone().expect("process");
    let mut user = process.user().clone();
    user.set_uid(1000);
    user.set_gid(1000);
    user.set_additional_gids(Some(vec![1001]));
    process.set_user(user);
    process.set_cwd("/tmp".into());
    let mut env = process.env().clone().unwrap_or_default();
    env.push("FOO=bar".into());
    process.set_env(Some(env));
    s.set_process(Some(process));
    let mut h = Helper::spawn(&f.config(s), vec![Step::Pause, Step::Kill("SIGKILL".into()), Step::Wait]);
    let pid = h.started();
    assert_eq!(h.line(), "paused");
    (h, pid)
}

fn status_field(pid: impl std::fmt::Display, field: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix(field)).unwrap_or_default().trim().to_string()
}

fn exec_joins_the_container() {
    let f = Fixture::new("exec");
    let (mut h, init) = sleeper(&f);
    let script = "echo hostname=$(hostname); echo pid=$$; echo init=$(tr '\\0' ' ' < /proc/1/cmdline); \
                  echo lowest=$(ls /proc | grep '^[0-9]*$' | sort -n | head -1); cat /proc/self/cgroup; \
                  echo uid=$(id -u) gid=$(id -g) groups=$(id -G); echo cwd=$(pwd); echo foo=$FOO; cat /marker; \
                  grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status";
    let mut e = ExecHelper::spawn(&f.state_dir(), &f.id, exec_spec(&f, &["sh", "-c", script], "out"), None);
    let pid = e.started();
    assert_eq!(e.line(), "exit 0 -", "stderr: {}", read(&f, "out.err"));
    let out = read(&f, "out");
    eprintln!("{out}");
    assert!(out.contains(&format!("hostname=c-{}\n", f.id)), "{out}");
    assert!(out.contains("pid=2\n") && out.contains("init=sleep 1000\n") && out.contains("lowest=1\n"), "{out}");
    for c in ["memory", "cpu", "cpuacct", "pids", "devices"] {
        assert!(out.contains(&format!(":{c}:/{CGROUP_PARENT}/{}\n", f.id)), "{c} cgroup: {out}");
    }
    assert!(out.contains("uid=1000 gid=1000 groups=1000 1001\n"), "{out}");
    assert!(out.contains("cwd=/tmp\n") && out.contains("foo=bar\n"), "{out}");
    assert!(out.contains("container root\n"), "the container's root is not /: {out}");
    for field in ["CapEff:", "CapBnd:", "NoNewPrivs:"] {
        let want = status_field(init, field);
        assert!(out.contains(&format!("{field}\t{want}\n")), "{field} of the init is {want}: {out}");
    }
    assert!(gone(pid));
    // overrides: another user and env
    let mut x = exec_spec(&f, &["sh", "-c", "echo $(id -u) $FOO"], "out2");
    x.env = Some(vec!["PATH=/bin".into(), "FOO=baz".into()]);
    x.user = Some(oci_spec::runtime::User::default());
    let mut e = ExecHelper::spawn(&f.state_dir(), &f.id, x, None);
    e.started();
    assert_eq!(e.line(), "exit 0 -", "stderr: {}", read(&f, "out2.err"));
    assert_eq!(read(&f, "out2"), "0 baz\n");
    assert_eq!(cgroup_pids(&f.id), vec![init], "exec'd processes left in the cgroup");
    h.resume();
    assert_eq!(h.line(), "exit 137 SIGKILL 0");
}

fn exec_failures() {
    let f = Fixture::new("exec-fail");
    let (mut h, init) = sleeper(&f);
    let mut e = ExecHelper::spawn(&f.state_dir(), &f.id, exec_spec(&f, &["no-such-cmd", "x"], "o"), None);
    assert_eq!(e.line(), "error exec: \"no-such-cmd\": executable file not found in $PATH");
    let mut e = ExecHelper::spawn(&f.state_dir(), &f.id, exec_spec(&f, &["/bin/no-such-cmd"], "o"), None);
    let l = e.line();
    assert!(l.starts_with("error exec: \"/bin/no-such-cmd\": ENOENT"), "{l}");
    let mut x = exec_spec(&f, &["true"], "o");
    x.cwd = Some("/no/such/dir".into());
    let l = ExecHelper::spawn(&f.state_dir(), &f.id, x, None).line();
    assert!(l.starts_with("error container setup: chdir cwd (/no/such/dir): ENOENT"), "{l}");
    assert_eq!(cgroup_pids(&f.id), vec![init], "failed execs left processes in the cgroup");
    h.resume();
    assert_eq!(h.line(), "exit 137 SIGKILL 0");
    // exited (and reaped) but not destroyed yet; then destroyed
    let l = ExecHelper::spawn(&f.state_dir(), &f.id, exec_spec(&f, &["true"], "o"), None).line();
    assert_eq!(l, format!("error container {} is not running", f.id));
    skiff_runtime::destroy_by_id(&f.state_dir(), &f.id).expect("destroy");
    let l = ExecHelper::spawn(&f.state_dir(), &f.id, exec_spec(&f, &["true"], "o"), None).line();
    assert_eq!(l, format!("error container {} is not running", f.id));
}

fn exec_dies_with_the_container() {
    let f = Fixture::new("exec-destroy");
    let (mut h, init) = sleeper(&f);
    let mut e = ExecHelper::spawn(&f.state_dir(), &f.id, exec_spec(&f, &["sleep", "1000"], "o"), None);
    let pid = e.started();
    assert_eq!(cgroup_pids(&f.id), {
        let mut v = vec![init, pid];
        v.sort();
        v
    });
    let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).expect("ns link");
    assert_eq!(ns(pid), ns(init));
    skiff_runtime::destroy_by_id(&f.state_dir(), &f.id).expect("destroy");
    assert_eq!(e.line(), "exit 137 SIGKILL");
    assert!(gone(pid) && gone(init));
    assert_clean(&f);
    h.resume();
    assert_eq!(h.line(), "exit 137 SIGKILL 0");
}

fn exec_timeout_kills_the_group() {
    let f = Fixture::new("exec-timeout");
    let (mut h, init) = sleeper(&f);
    let x = exec_spec(&f, &["sh", "-c", "sleep 1000 & echo started; sleep 1000"], "o");
    let mut e = ExecHelper::spawn(&f.state_dir(), &f.id, x, Some(300));
    e.started();
    assert_eq!(e.line(), "timeout");
    assert_eq!(e.line(), "exit 137 SIGKILL");
    assert_eq!(read(&f, "o"), "started\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while cgroup_pids(&f.id) != vec![init] && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(cgroup_pids(&f.id), vec![init], "the background sleep survived");
    h.resume();
    assert_eq!(h.line(), "exit 137 SIGKILL 0");
}

fn main() {
    if let Ok(job) = std::env::var("SKIFF_RT_HELPER") {
        std::process::exit(common::helper_main(&job));
    }
    if let Ok(job) = std::env::var("SKIFF_RT_EXEC") {
        std::process::exit(common::exec_helper_main(&job));
    }
    let tests: [(&str, fn()); 14] = [
        ("basic", basic),
        ("exit_code", exit_code),
        ("signals", signals),
        ("oom_killed", oom_killed),
        ("limits", limits),
        ("join_netns", join_netns),
        ("missing_binary", missing_binary),
        ("destroy_cleans_up", destroy_cleans_up),
        ("v2_unified_dirs", v2_unified_dirs),
        ("mount_through_image_symlink", mount_through_image_symlink),
        ("exec_joins_the_container", exec_joins_the_container),
        ("exec_failures", exec_failures),
        ("exec_dies_with_the_container", exec_dies_with_the_container),
        ("exec_timeout_kills_the_group", exec_timeout_kills_the_group),
    ];
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<_> =
        tests.iter().filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str()))).collect();
    if !nix::unistd::geteuid().is_root() {
        println!("skipping {} container tests: not root", selected.len());
        return;
    }
    common::busybox_rootfs();
    let mut failed = vec![];
    for (name, t) in &selected {
        let start = std::time::Instant::now();
        let ok = std::panic::catch_unwind(t).is_ok();
        println!("test {name} ... {} ({} ms)", if ok { "ok" } else { "FAILED" }, start.elapsed().as_millis());
        if !ok {
            failed.push(*name);
        }
    }
    for c in ["memory", "cpu", "cpuacct", "pids", "devices"] {
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(c).join(CGROUP_PARENT));
    }
    println!("\n{} passed; {} failed {:?}", selected.len() - failed.len(), failed.len(), failed);
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
