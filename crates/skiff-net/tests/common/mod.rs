//! Test harness: a network with its own bridge, CIDR, nftables table and state dir, removed on drop (even when
//! the test fails) by shelling out to `ip`, `umount` and `nft`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::Rng;
use skiff_net::{NetConfig, Network, Sandbox};

/// Runs a command, returning (success, stdout + stderr).
pub fn sh(args: &[&str]) -> (bool, String) {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }
        Err(e) => (false, format!("{}: {e}", args[0])),
    }
}

/// Runs a command inside the namespace at `netns`.
pub fn in_ns(netns: &Path, args: &[&str]) -> (bool, String) {
    let net = format!("--net={}", netns.display());
    let mut all = vec!["nsenter", net.as_str()];
    all.extend_from_slice(args);
    sh(&all)
}

/// One ping from the namespace, tried up to three times: under load the first packet to a sandbox made a moment
/// ago occasionally takes over a second (seen only with tests running in parallel; see the crate report).
pub fn ping_from(netns: &Path, ip: &str) -> bool {
    (0..3).any(|_| in_ns(netns, &["ping", "-c1", "-W1", ip]).0)
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn link_exists(name: &str) -> bool {
    sh(&["ip", "link", "show", "dev", name]).0
}

pub fn is_mount(path: &Path) -> bool {
    let p = path.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().any(|l| l.split(' ').nth(4) == Some(&p))
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn free_subnet() -> u8 {
    let base: u32 = rand::thread_rng().gen_range(0..250);
    let (_, addrs) = sh(&["ip", "-4", "-o", "addr"]);
    loop {
        let n = ((base + NEXT.fetch_add(1, Ordering::SeqCst)) % 250 + 1) as u8;
        if !addrs.contains(&format!("10.250.{n}.")) {
            return n;
        }
    }
}

/// A test network; dropping it removes everything it could have made.
pub struct TestNet {
    pub cfg: NetConfig,
    pub subnet: u8,
    tmp: tempfile::TempDir,
}

impl TestNet {
    pub fn new() -> TestNet {
        let tag: u32 = rand::thread_rng().gen_range(0..0xff_ffff);
        let subnet = free_subnet();
        let tmp = tempfile::tempdir().expect("tempdir");
        let cfg = NetConfig {
            bridge: format!("sk-t{tag:06x}"),
            cidr: format!("10.250.{subnet}.0/24").parse().expect("cidr"),
            state_dir: tmp.path().join("net"),
            masquerade: true,
            nft_table: format!("skiff_t{tag:06x}"),
        };
        TestNet { cfg, subnet, tmp }
    }

    pub async fn setup(&self) -> Network {
        Network::setup(self.cfg.clone()).await.expect("setup")
    }

    pub fn ip(&self, host: u8) -> String {
        format!("10.250.{}.{host}", self.subnet)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.cfg.state_dir.clone()
    }

    pub fn nft_table_exists(&self) -> bool {
        sh(&["nft", "list", "table", "ip", &self.cfg.nft_table]).0
    }

    /// Asserts the sandbox is configured as promised: lo and eth0 up, the address, the default route.
    pub fn assert_configured(&self, sb: &Sandbox) {
        let (ok, lo) = in_ns(&sb.netns_path, &["ip", "-o", "link", "show", "lo"]);
        assert!(ok && lo.contains(",UP"), "lo not up: {lo}");
        let (ok, eth0) = in_ns(&sb.netns_path, &["ip", "-o", "link", "show", "eth0"]);
        assert!(ok && eth0.contains(",UP") && eth0.contains("state UP"), "eth0 not up: {eth0}");
        let (_, addr) = in_ns(&sb.netns_path, &["ip", "-o", "-4", "addr", "show", "eth0"]);
        assert!(addr.contains(&format!("inet {}/{}", sb.ip, sb.prefix_len)), "eth0 address: {addr}");
        let (_, route) = in_ns(&sb.netns_path, &["ip", "-4", "route"]);
        assert!(route.contains(&format!("default via {} dev eth0", sb.gateway)), "routes: {route}");
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let netns_dir = self.cfg.state_dir.join("netns");
        if let Ok(entries) = std::fs::read_dir(&netns_dir) {
            for e in entries.flatten() {
                let p = e.path().display().to_string();
                sh(&["umount", "-l", &p]);
            }
        }
        let (_, ports) = sh(&["ip", "-o", "link", "show", "master", &self.cfg.bridge]);
        for line in ports.lines() {
            if let Some(name) = line.split(": ").nth(1).and_then(|n| n.split('@').next()) {
                sh(&["ip", "link", "del", name]);
            }
        }
        sh(&["ip", "link", "del", &self.cfg.bridge]);
        sh(&["nft", "delete", "table", "ip", &self.cfg.nft_table]);
        let _ = &self.tmp;
    }
}
