//! Test harness: starts the real `skiff` binary on a free loopback port with its own data dir, and runs the
//! real `kubectl` against it. Everything is torn down on drop, even when the test fails.

#![allow(dead_code)]

pub mod registry;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const KUBECTL: &str = "/usr/bin/kubectl";

/// The kubectl versions every workflow is checked with.
pub const KUBECTL_MINORS: [u32; 3] = [32, 27, 33];

pub fn kubectl_version(minor: u32) -> String {
    if minor == 32 {
        KUBECTL.to_string()
    } else {
        format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}")
    }
}

pub fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/seed")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

pub struct Server {
    /// The kubectl binary `kubectl()`, `ok()` and `fails()` run (1.32 unless a test picks another).
    pub kubectl: String,
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub cache: tempfile::TempDir,
    /// The extra `skiff server` flags it was started with (reused by restarts and `skiff reset`).
    pub flags: Vec<String>,
    /// Whether its node agent runs (then dropping it runs `skiff reset` to remove pods, network and cgroups).
    pub agent: bool,
}

/// Random lowercase hex.
pub fn rand_hex(n: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < n {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(n);
    out
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts a server with extra `skiff server` flags.
    pub fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::Builder::new().prefix("skiff-test-").tempdir().expect("temp dir");
        let mut flags: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        flags.push("--no-agent".into());
        Self::launch(dir, free_port(), flags)
    }

    /// Starts (or restarts) a server without an agent on an existing data dir.
    pub fn start_in(dir: tempfile::TempDir, port: u16) -> Server {
        Self::launch(dir, port, vec!["--no-agent".into()])
    }

    /// Starts a server with its node agent, on a bridge, pod CIDR, nftables table and cgroup parent of its own,
    /// pulling docker.io images through `mirror` (a test registry's URL).
    pub fn start_with_agent(mirror: &str, extra: &[&str]) -> Server {
        let dir = tempfile::Builder::new().prefix("skiff-test-").tempdir().expect("temp dir");
        let id = rand_hex(6);
        let octets = u32::from_str_radix(&id[..4], 16).unwrap_or(0);
        let mut flags: Vec<String> = [
            "--bridge".to_string(),
            format!("skt{id}"),
            "--nft-table".into(),
            format!("skiff_t{id}"),
            "--cgroup-parent".into(),
            format!("skiff-test-{id}"),
            "--pod-cidr".into(),
            format!("10.{}.{}.0/24", 200 + (octets >> 8) % 50, octets & 0xff),
            "--registry-mirror".into(),
            format!("docker.io={mirror}"),
            "--node-name".into(),
            "skiff-node".into(),
            "--kubelet-port".into(),
            free_port().to_string(),
        ]
        .into();
        flags.extend(extra.iter().map(|s| s.to_string()));
        Self::launch(dir, free_port(), flags)
    }

    /// SIGKILLs the server (its containers keep running) and starts it again on the same data dir and port.
    pub fn crash_and_restart(mut self) -> Server {
        self.kill();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        let flags = std::mem::take(&mut self.flags);
        self.agent = false;
        Self::launch(dir, self.port, flags)
    }

    fn launch(dir: tempfile::TempDir, port: u16, flags: Vec<String>) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("server.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["server", "-v", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(&flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning skiff server");
        let cache = tempfile::tempdir().expect("cache dir");
        let agent = !flags.iter().any(|f| f == "--no-agent");
        let s = Server { kubectl: KUBECTL.to_string(), child: Some(child), dir, port, cache, flags, agent };
        s.wait_ready();
        s
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.kubeconfig().exists() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become ready; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&self.kubectl, args, None)
    }

    /// Starts a long-running kubectl (e.g. `get -w`) whose stdout goes to a file; kill it when done.
    pub fn kubectl_background(&self, args: &[&str], out: &Path) -> Child {
        Command::new(&self.kubectl)
            .env("KUBECONFIG", self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(out).expect("watch output file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning kubectl")
    }

    pub fn kubectl_with(&self, bin: &str, args: &[&str], stdin: Option<&str>) -> Output {
        self.kubectl_env(bin, args, stdin, &[])
    }

    pub fn kubectl_env(&self, bin: &str, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(bin);
        cmd.envs(env.iter().copied());
        cmd.env("KUBECONFIG", self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running {bin}: {e}"));
        if let (Some(input), Some(mut w)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            w.write_all(input.as_bytes()).expect("writing stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl and returns stdout, failing the test with stderr if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(&self.kubectl, args)
    }

    pub fn ok_with(&self, bin: &str, args: &[&str]) -> String {
        let out = self.kubectl_with(bin, args, None);
        assert!(out.status.success(), "kubectl {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILLs the server and returns its data dir and port for a restart.
    pub fn crash(mut self) -> (tempfile::TempDir, u16) {
        self.kill();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        (dir, self.port)
    }

    pub fn assert_no_panic(&self) {
        let log = self.log();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if self.agent {
            // the agent leaves pods running when it stops (a restart adopts them): remove them and the network
            let reset_flags: Vec<&String> = self
                .flags
                .iter()
                .enumerate()
                .filter(|(i, f)| {
                    let value_of = |name: &str| *i > 0 && self.flags[*i - 1] == name;
                    ["--bridge", "--nft-table", "--cgroup-parent", "--pod-cidr"]
                        .iter()
                        .any(|n| f.as_str() == *n || value_of(n))
                })
                .map(|(_, f)| f)
                .collect();
            let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
                .arg("reset")
                .arg("--data-dir")
                .arg(self.dir.path())
                .args(reset_flags)
                .output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => eprintln!("skiff reset failed:\n{}", String::from_utf8_lossy(&o.stderr)),
                Err(e) => eprintln!("skiff reset: {e}"),
            }
        }
    }
}

/// Polls `f` until it returns Some, or panics after `secs`.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
