//! Integration tests: real containers (run as root; skipped otherwise). A plain `main` (harness = false) so
//! that the same binary can serve as the single-threaded helper process that starts each container.
//! `cargo test -p skiff-runtime --test containers -- NAME` runs the tests whose name contains NAME.

mod common;

use std::path::Path;
use std::process::Command;

use common::{gone, mount_points, spec, Fixture, Helper, Step, CGROUP_PARENT};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResources,
    Spec,
};
use skiff_runtime::RootfsSpec;

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

fn main() {
    if let Ok(job) = std::env::var("SKIFF_RT_HELPER") {
        std::process::exit(common::helper_main(&job));
    }
    let tests: [(&str, fn()); 10] = [
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
