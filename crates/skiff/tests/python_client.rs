//! The official Python client drives the server (create, list with selector, patch, watch resume, delete).

mod common;
use common::*;
use std::process::Command;

#[test]
fn python_kubernetes_client_round_trip() {
    let s = Server::start();
    let script = seed_dir().join("../python/client_roundtrip.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("KUBECONFIG", s.kubeconfig())
        .output()
        .expect("running python3 (the test command installs the kubernetes package)");
    assert!(
        out.status.success(),
        "python client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    s.assert_no_panic();
}
