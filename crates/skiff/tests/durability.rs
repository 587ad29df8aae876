//! kill -9 in the middle of a burst of concurrent creates loses no acknowledged write.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

#[test]
fn acknowledged_creates_survive_sigkill() {
    let s = Server::start();
    let acked = s.dir.path().join("acked.txt");
    let mut burst = Command::new("python3")
        .arg(seed_dir().join("../python/create_burst.py"))
        .arg(&acked)
        .env("KUBECONFIG", s.kubeconfig())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("running python3");
    eventually(120, "300 acknowledged creates", || {
        let n = std::fs::read_to_string(&acked).unwrap_or_default().lines().count();
        (n >= 300).then_some(())
    });
    // SIGKILL while the burst is still writing.
    let (dir, port) = s.crash();
    let _ = burst.wait();
    let acked_names: BTreeSet<String> =
        std::fs::read_to_string(dir.path().join("acked.txt")).unwrap().lines().map(String::from).collect();

    let s = Server::start_in(dir, port);
    let listed = s.ok(&["get", "configmaps", "-o", "name"]);
    let present: BTreeSet<String> =
        listed.lines().filter_map(|l| l.strip_prefix("configmap/")).map(String::from).collect();
    let lost: Vec<&String> = acked_names.difference(&present).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged creates lost after kill -9: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(acked_names.len() >= 300);
}
