//! Shared pieces of the integration tests: the busybox rootfs, per-test fixtures (cleaned up on drop), specs,
//! and the helper process that starts containers (the test binary re-executed with `SKIFF_RT_HELPER` set), so
//! that every `create_and_start` runs in a fresh single-threaded process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command};
use std::sync::atomic::{AtomicU32, Ordering};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};
use skiff_runtime::{ContainerConfig, ExecSpec, RootfsSpec, Stdio, StdioTarget};

pub const CGROUP_PARENT: &str = "skiff-rt-test";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The unpacked busybox-1.36 image (built and unpacked once, then shared read-only as an overlay lowerdir).
pub fn busybox_rootfs() -> PathBuf {
    let ws = workspace();
    let dir = ws.join("target/skiff-runtime-test/busybox-rootfs");
    if dir.join("bin/busybox").exists() {
        return dir;
    }
    let st = Command::new("bash").arg("tests/images/build.sh").current_dir(&ws).status().expect("run build.sh");
    assert!(st.success(), "tests/images/build.sh failed");
    let tmp = ws.join(format!("target/skiff-runtime-test/busybox-rootfs.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let st = Command::new("python3")
        .args(["tests/images/mkimage.py", "unpack", "target/test-images/oci/busybox-1.36"])
        .arg(&tmp)
        .current_dir(&ws)
        .status()
        .expect("run mkimage.py");
    assert!(st.success(), "mkimage.py unpack failed");
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp); // another run won the race
    }
    dir
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One test's container: a unique id, a temp dir (state, overlay upper/work/target, stdio files).
/// Dropping it destroys the container (processes, cgroup, mount) and removes the dir.
pub struct Fixture {
    pub id: String,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let id = format!("{name}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
        let dir = tempfile::Builder::new().prefix("skiff-rt-").tempdir().expect("tempdir");
        Fixture { id, dir }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn target(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("stdout")
    }

    pub fn err(&self) -> PathBuf {
        self.dir.path().join("stderr")
    }

    pub fn read_out(&self) -> String {
        std::fs::read_to_string(self.out()).unwrap_or_default()
    }

    pub fn config(&self, spec: Spec) -> ContainerConfig {
        ContainerConfig {
            id: self.id.clone(),
            spec,
            rootfs: RootfsSpec::Overlay {
                lower: vec![busybox_rootfs()],
                upper: self.dir.path().join("upper"),
                work: self.dir.path().join("work"),
                target: self.target(),
                volatile: true,
            },
            state_dir: self.state_dir(),
            cgroup_parent: CGROUP_PARENT.into(),
            stdio: Stdio {
                stdin: StdioTarget::Null,
                stdout: StdioTarget::File(self.out()),
                stderr: StdioTarget::File(self.err()),
            },
        }
    }

    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        ["memory", "cpu", "cpuacct", "pids", "devices"]
            .iter()
            .map(|c| Path::new("/sys/fs/cgroup").join(c).join(CGROUP_PARENT).join(&self.id))
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Err(e) = skiff_runtime::destroy_by_id(&self.state_dir(), &self.id) {
            eprintln!("fixture {}: destroy: {e}", self.id);
        }
    }
}

/// A spec for `args`: the OCI defaults (new mount/pid/net/ipc/uts namespaces, proc/dev/devpts/shm/mqueue/sys,
/// masked and read-only paths, 3 capabilities, no_new_privs, NOFILE 1024) minus the cgroup namespace and the
/// `/sys/fs/cgroup` mount, with a writable root and hostname `c-<id>`.
pub fn spec(id: &str, args: &[&str]) -> Spec {
    let mut spec = Spec::default();
    let mut process = spec.process().clone().expect("default process");
    process.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
    spec.set_process(Some(process));
    let mut root = spec.root().clone().expect("default root");
    root.set_readonly(Some(false));
    spec.set_root(Some(root));
    spec.set_hostname(Some(format!("c-{id}")));
    let mounts = spec.mounts().clone().unwrap_or_default();
    spec.set_mounts(Some(mounts.into_iter().filter(|m| m.destination() != Path::new("/sys/fs/cgroup")).collect()));
    let mut linux = spec.linux().clone().expect("default linux");
    let ns = linux.namespaces().clone().unwrap_or_default();
    linux.set_namespaces(Some(ns.into_iter().filter(|n| n.typ() != LinuxNamespaceType::Cgroup).collect()));
    spec.set_linux(Some(linux));
    spec
}

/// What the helper process does with a container, step by step.
#[derive(Serialize, Deserialize)]
pub enum Step {
    /// Wait for exit; prints `exit CODE SIGNAL|- OOM(0|1)`.
    Wait,
    /// Print `paused` and block until a line arrives on stdin.
    Pause,
    Kill(String),
    SleepMs(u64),
    /// Prints `running` or `exited` (waitpid WNOHANG, without reaping).
    Probe,
    Destroy,
}

#[derive(Serialize, Deserialize)]
struct Job {
    id: String,
    spec: Spec,
    rootfs: RootfsSpec,
    state_dir: PathBuf,
    cgroup_parent: String,
    stdio: Stdio,
    steps: Vec<Step>,
}

/// A helper process running a container (its stdout: one line per event).
pub struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

impl Helper {
    pub fn spawn(cfg: &ContainerConfig, steps: Vec<Step>) -> Helper {
        let job = Job {
            id: cfg.id.clone(),
            spec: cfg.spec.clone(),
            rootfs: cfg.rootfs.clone(),
            state_dir: cfg.state_dir.clone(),
            cgroup_parent: cfg.cgroup_parent.clone(),
            stdio: cfg.stdio.clone(),
            steps,
        };
        let mut child = Command::new(std::env::current_exe().expect("current_exe"))
            .env("SKIFF_RT_HELPER", serde_json::to_string(&job).expect("job json"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn helper");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().expect("helper stdout"));
        Helper { child, stdin, out }
    }

    /// The next line the helper prints ("" at EOF).
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        let _ = self.out.read_line(&mut l);
        l.trim().to_string()
    }

    /// `started PID` → PID; panics with the helper's error otherwise.
    pub fn started(&mut self) -> i32 {
        let l = self.line();
        match l.strip_prefix("started ") {
            Some(p) => p.parse().expect("pid"),
            None => panic!("helper: {l}"),
        }
    }

    pub fn resume(&mut self) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s);
        }
    }

    pub fn finish(mut self) -> std::process::ExitStatus {
        self.stdin.take();
        self.child.wait().expect("wait helper")
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.stdin.take();
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The helper's side: runs when the test binary is re-executed with `SKIFF_RT_HELPER` (single-threaded).
pub fn helper_main(job: &str) -> i32 {
    use nix::sys::signal::Signal;
    let job: Job = match serde_json::from_str(job) {
        Ok(j) => j,
        Err(e) => {
            println!("error bad job: {e}");
            return 2;
        }
    };
    let cfg = ContainerConfig {
        id: job.id,
        spec: job.spec,
        rootfs: job.rootfs,
        state_dir: job.state_dir,
        cgroup_parent: job.cgroup_parent,
        stdio: job.stdio,
    };
    let out = std::io::stdout();
    let say = |s: String| {
        let mut o = out.lock();
        let _ = writeln!(o, "{s}");
        let _ = o.flush();
    };
    let c = match skiff_runtime::create_and_start(&cfg) {
        Ok(c) => c,
        Err(e) => {
            say(format!("error {e}"));
            return 1;
        }
    };
    say(format!("started {}", c.pid));
    for step in job.steps {
        match step {
            Step::Wait => match skiff_runtime::wait(&c) {
                Ok(st) => {
                    let sig = st.signal.map(|s| s.as_str().to_string()).unwrap_or_else(|| "-".into());
                    say(format!("exit {} {sig} {}", st.code, st.oom_killed as u8));
                }
                Err(e) => say(format!("error {e}")),
            },
            Step::Pause => {
                say("paused".into());
                let mut l = String::new();
                let _ = std::io::stdin().read_line(&mut l);
            }
            Step::Kill(s) => {
                let sig: Signal = s.parse().expect("signal name");
                if let Err(e) = skiff_runtime::kill(&c, sig) {
                    say(format!("error {e}"));
                }
            }
            Step::SleepMs(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            Step::Probe => {
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                // SAFETY: waitid writes into `info`
                let r = unsafe {
                    libc::waitid(libc::P_PID, c.pid as u32, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
                };
                let exited = r == 0 && unsafe { info.si_pid() } != 0;
                say(if exited { "exited".into() } else { "running".into() });
            }
            Step::Destroy => match skiff_runtime::destroy(&c) {
                Ok(()) => say("destroyed".into()),
                Err(e) => say(format!("error {e}")),
            },
        }
    }
    0
}

#[derive(Serialize, Deserialize)]
struct ExecJob {
    state_dir: PathBuf,
    id: String,
    spec: ExecSpec,
    /// With a timeout: prints `timeout` when it passes, then kills the process group.
    timeout_ms: Option<u64>,
}

/// A helper process running `skiff_runtime::exec` into a container (its stdout: one line per event):
/// `exec PID` or `error MESSAGE`, then `exit CODE SIGNAL|-` (after `timeout` when it timed out).
pub struct ExecHelper(Helper);

impl ExecHelper {
    pub fn spawn(state_dir: &Path, id: &str, spec: ExecSpec, timeout_ms: Option<u64>) -> ExecHelper {
        let job = ExecJob { state_dir: state_dir.into(), id: id.into(), spec, timeout_ms };
        let mut child = Command::new(std::env::current_exe().expect("current_exe"))
            .env("SKIFF_RT_EXEC", serde_json::to_string(&job).expect("job json"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn exec helper");
        let out = BufReader::new(child.stdout.take().expect("helper stdout"));
        ExecHelper(Helper { child, stdin: None, out })
    }

    pub fn line(&mut self) -> String {
        self.0.line()
    }

    /// `exec PID` → PID; panics with the helper's line otherwise.
    pub fn started(&mut self) -> i32 {
        let l = self.line();
        match l.strip_prefix("exec ") {
            Some(p) => p.parse().expect("pid"),
            None => panic!("exec helper: {l}"),
        }
    }
}

/// The exec helper's side (the test binary re-executed with `SKIFF_RT_EXEC`; single-threaded).
pub fn exec_helper_main(job: &str) -> i32 {
    let job: ExecJob = match serde_json::from_str(job) {
        Ok(j) => j,
        Err(e) => {
            println!("error bad job: {e}");
            return 2;
        }
    };
    let say = |s: String| {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{s}");
        let _ = o.flush();
    };
    let p = match skiff_runtime::exec(&job.state_dir, &job.id, &job.spec) {
        Ok(p) => p,
        Err(e) => {
            say(format!("error {e}"));
            return 1;
        }
    };
    say(format!("exec {}", p.pid));
    let timeout = job.timeout_ms.map(std::time::Duration::from_millis);
    let status = match skiff_runtime::wait_exec(&p, timeout) {
        Ok(Some(st)) => Ok(st),
        Ok(None) => {
            say("timeout".into());
            if let Err(e) = skiff_runtime::kill_exec(&p, nix::sys::signal::Signal::SIGKILL) {
                say(format!("error {e}"));
            }
            skiff_runtime::wait_exec(&p, None).map(|st| st.expect("no timeout"))
        }
        Err(e) => Err(e),
    };
    match status {
        Ok(st) => say(format!("exit {} {}", st.code, st.signal.map(|s| s.as_str()).unwrap_or("-"))),
        Err(e) => say(format!("error {e}")),
    }
    0
}

/// The pids in the container's memory cgroup.
pub fn cgroup_pids(id: &str) -> Vec<i32> {
    let p = Path::new("/sys/fs/cgroup/memory").join(CGROUP_PARENT).join(id).join("cgroup.procs");
    let mut pids: Vec<i32> =
        std::fs::read_to_string(p).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect();
    pids.sort();
    pids
}

/// Mount points of this mount namespace.
pub fn mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// Whether `pid` is gone or a zombie.
pub fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) == Some("Z"),
    }
}
