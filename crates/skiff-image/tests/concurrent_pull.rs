//! Two pods asking for one image at once cause one pull: concurrent `ImageService::pull` calls in one process
//! download each blob once. Uses the test registry of `tests/images/` (Debian's docker-registry on loopback).

use skiff_image::hosts::Credentials;
use skiff_image::pull::NoProgress;
use skiff_image::ImageService;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Registry(tempfile::TempDir);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ =
            Command::new("bash").arg(repo().join("tests/images/registry.sh")).arg("stop").arg(self.0.path()).output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pulls_of_one_image_download_each_blob_once() {
    let out = Command::new("bash").arg(repo().join("tests/images/build.sh")).output().expect("build.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reg = Registry(tempfile::tempdir().unwrap());
    let port = free_port();
    let out = Command::new("bash")
        .arg(repo().join("tests/images/registry.sh"))
        .arg("start")
        .arg(reg.0.path())
        .arg(port.to_string())
        .arg("--seed")
        .arg(repo().join("target/test-images/registry-seed"))
        .output()
        .expect("registry.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let data = tempfile::tempdir().unwrap();
    let svc = ImageService::open(data.path(), &[format!("docker.io=http://127.0.0.1:{port}")]).unwrap();
    let creds = Credentials::default();
    // Four pulls at once: two of nginx, and two images sharing nginx's base layer.
    let (a, b, c, d) = tokio::join!(
        svc.pull("nginx:1.24", &creds, &NoProgress),
        svc.pull("nginx:1.24", &creds, &NoProgress),
        svc.pull("myapp:1.0", &creds, &NoProgress),
        svc.pull("api-server:1.0", &creds, &NoProgress),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    c.unwrap();
    d.unwrap();
    assert_eq!(a, b);

    let log = std::fs::read_to_string(reg.0.path().join("registry.log")).unwrap();
    let mut gets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
        .filter_map(|l| l.split("/blobs/").nth(1).and_then(|s| s.split(' ').next()))
        .collect();
    let total = gets.len();
    gets.sort();
    gets.dedup();
    assert_eq!(total, gets.len(), "some blob was downloaded twice: {total} downloads of {} blobs", gets.len());
    assert_eq!(svc.list().len(), 3);
}
