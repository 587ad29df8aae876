//! Start latency of the runtime: `create_and_start` (overlay mount, cgroup dirs + limits, clone, setup, exec)
//! until the container's `sleep` has exec'd, then stop (SIGKILL, wait, destroy), N runs after 3 warm-ups.
//!
//!     cargo run --release -p skiff-runtime --example start_bench -- [N] [GAP_MS]
//!
//! Needs root and the unpacked busybox layer at `target/skiff-runtime-test/busybox-rootfs` (the integration
//! tests create it). GAP_MS idles before each run (isolated starts: the kernel's cgroup migration then waits
//! for an RCU grace period). This process is single-threaded, as `create_and_start` requires.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceType, LinuxPidsBuilder, Spec};
use skiff_runtime::{ContainerConfig, RootfsSpec, Stdio};

fn spec(id: &str) -> Result<Spec, Box<dyn std::error::Error>> {
    let mut spec = Spec::default();
    let mut process = spec.process().clone().ok_or("no default process")?;
    process.set_args(Some(vec!["/bin/sleep".into(), "3600".into()]));
    spec.set_process(Some(process));
    spec.set_hostname(Some(format!("c-{id}")));
    let mounts = spec.mounts().clone().unwrap_or_default();
    spec.set_mounts(Some(mounts.into_iter().filter(|m| m.destination() != Path::new("/sys/fs/cgroup")).collect()));
    let mut linux = spec.linux().clone().ok_or("no default linux")?;
    let ns = linux.namespaces().clone().unwrap_or_default();
    linux.set_namespaces(Some(ns.into_iter().filter(|n| n.typ() != LinuxNamespaceType::Cgroup).collect()));
    let mut res = linux.resources().clone().unwrap_or_default();
    res.set_memory(Some(LinuxMemoryBuilder::default().limit(128i64 << 20).build()?));
    res.set_cpu(Some(LinuxCpuBuilder::default().shares(512u64).quota(50_000i64).period(100_000u64).build()?));
    res.set_pids(Some(LinuxPidsBuilder::default().limit(1024i64).build()?));
    linux.set_resources(Some(res));
    spec.set_linux(Some(linux));
    Ok(spec)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30);
    let gap = Duration::from_millis(args.next().map(|a| a.parse()).transpose()?.unwrap_or(0));
    let lower = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/skiff-runtime-test/busybox-rootfs");
    if !lower.join("bin/busybox").exists() {
        return Err(format!("{} missing: run `cargo test -p skiff-runtime` first", lower.display()).into());
    }
    let base = PathBuf::from(format!("/tmp/skiff-rt-bench-{}", std::process::id()));
    let (mut start, mut stop) = (vec![], vec![]);
    for i in 0..n + 3 {
        let id = format!("bench-{}-{i}", std::process::id());
        let dir = base.join(&id);
        let cfg = ContainerConfig {
            id: id.clone(),
            spec: spec(&id)?,
            rootfs: RootfsSpec::Overlay {
                lower: vec![lower.clone()],
                upper: dir.join("upper"),
                work: dir.join("work"),
                target: dir.join("rootfs"),
                volatile: true,
            },
            state_dir: base.join("state"),
            cgroup_parent: "skiff-bench".into(),
            stdio: Stdio::null(),
        };
        std::thread::sleep(gap);
        let t0 = Instant::now();
        let c = skiff_runtime::create_and_start(&cfg)?;
        let t1 = Instant::now();
        skiff_runtime::kill(&c, nix::sys::signal::Signal::SIGKILL)?;
        skiff_runtime::wait(&c)?;
        skiff_runtime::destroy(&c)?;
        let t2 = Instant::now();
        std::fs::remove_dir_all(&dir)?;
        if i >= 3 {
            start.push((t1 - t0).as_secs_f64() * 1e3);
            stop.push((t2 - t1).as_secs_f64() * 1e3);
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    for c in ["memory", "cpu", "cpuacct", "pids", "devices"] {
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(c).join("skiff-bench"));
    }
    println!("{n} runs, gap {} ms", gap.as_millis());
    println!(
        "create_and_start → exec'd: p50 {:.2} ms  p90 {:.2} ms  max {:.2} ms",
        pct(&mut start, 0.5),
        pct(&mut start, 0.9),
        pct(&mut start, 1.0)
    );
    println!(
        "stop (kill, wait, destroy): p50 {:.2} ms  p90 {:.2} ms  max {:.2} ms",
        pct(&mut stop, 0.5),
        pct(&mut stop, 0.9),
        pct(&mut stop, 1.0)
    );
    Ok(())
}
