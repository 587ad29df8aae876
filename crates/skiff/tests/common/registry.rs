//! Local registries for image tests: Debian's docker-registry started by `tests/images/registry.sh` on a free
//! loopback port, seeded with the test images `tests/images/build.sh` made. Stopped on drop.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn images_dir() -> PathBuf {
    repo_root().join("target/test-images")
}

/// Builds the test images once per test binary (seconds when nothing changed).
pub fn ensure_images() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out =
            Command::new("bash").arg(repo_root().join("tests/images/build.sh")).output().expect("running build.sh");
        assert!(
            out.status.success(),
            "build.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        images_dir()
    })
}

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Registry {
    /// A registry holding every test image; `extra` are `registry.sh start` options (`--htpasswd u:p`, …).
    pub fn seeded(extra: &[&str]) -> Registry {
        let seed = ensure_images().join("registry-seed");
        let dir = tempfile::Builder::new().prefix("skiff-registry-").tempdir().expect("temp dir");
        let port = free_port();
        let mut args: Vec<String> = vec!["start".into(), dir.path().display().to_string(), port.to_string()];
        args.extend(extra.iter().map(|s| s.replace("{free}", &free_port().to_string())));
        args.push("--seed".into());
        args.push(seed.display().to_string());
        let out = Command::new("bash")
            .arg(repo_root().join("tests/images/registry.sh"))
            .args(&args)
            .output()
            .expect("registry.sh");
        assert!(
            out.status.success(),
            "registry.sh start failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Registry { dir, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// How many blob downloads the registry has served so far.
    pub fn blob_gets(&self) -> usize {
        self.log().lines().filter(|l| l.contains("GET /v2/") && l.contains("/blobs/sha256:")).count()
    }

    /// Pushes an image (OCI layout dir, archive or skopeo source) as `repo:tag`.
    pub fn push(&self, source: &Path, repo_tag: &str) {
        let out = Command::new("bash")
            .arg(repo_root().join("tests/images/registry.sh"))
            .args(["push", &self.dir.path().display().to_string(), &self.port.to_string()])
            .arg(source)
            .arg(repo_tag)
            .output()
            .expect("registry.sh push");
        assert!(out.status.success(), "push failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("tests/images/registry.sh"))
            .args(["stop", &self.dir.path().display().to_string()])
            .output();
    }
}
