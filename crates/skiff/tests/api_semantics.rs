//! API semantics through kubectl: paging, selectors, server-side dry run, optimistic concurrency, namespace
//! deletion, graceful pod deletion, watch bookmarks and 410 after compaction, protobuf bodies.

mod common;
use common::*;

#[test]
fn paging_and_selectors() {
    let s = Server::start();
    for i in 0..7 {
        // `kubectl create configmap` sends protobuf.
        s.ok(&["create", "configmap", &format!("cm-{i}"), &format!("--from-literal=i={i}")]);
        s.ok(&[
            "label",
            "configmap",
            &format!("cm-{i}"),
            &format!("parity={}", if i % 2 == 0 { "even" } else { "odd" }),
        ]);
    }
    let all = s.ok(&["get", "configmaps", "-l", "parity", "--chunk-size=2", "-o", "name"]);
    assert_eq!(all.lines().count(), 7, "{all}");
    let even = s.ok(&["get", "configmaps", "-l", "parity in (even),parity!=odd", "-o", "name"]);
    assert_eq!(even.lines().count(), 4, "{even}");
    assert_eq!(s.ok(&["get", "configmap", "cm-3", "-o", "jsonpath={.data.i}"]), "3");

    s.ok(&["run", "p1", "--image=busybox:1.36"]);
    let pending = s.ok(&["get", "pods", "--field-selector", "status.phase=Pending,metadata.name=p1", "-o", "name"]);
    assert_eq!(pending.trim(), "pod/p1");
    assert!(s.ok(&["get", "pods", "--field-selector", "status.phase=Running", "-o", "name"]).is_empty());
    let err = s.fails(&["get", "pods", "--field-selector", "spec.bogus=1"]);
    assert!(err.contains("field label not supported: spec.bogus"), "{err}");
}

#[test]
fn server_dry_run_stores_nothing() {
    let s = Server::start();
    let pod = seed_dir().join("01-nginx-pod.yaml");
    let out = s.ok(&["apply", "--dry-run=server", "-f", pod.to_str().unwrap()]);
    assert!(out.contains("pod/nginx-pod created (server dry run)"), "{out}");
    let err = s.fails(&["get", "pod", "nginx-pod"]);
    assert!(err.contains("pods \"nginx-pod\" not found"), "{err}");
}

#[test]
fn stale_resource_version_conflicts() {
    let s = Server::start();
    s.ok(&["run", "c1", "--image=busybox:1.36"]);
    let stale = s.ok(&["get", "pod", "c1", "-o", "json"]);
    s.ok(&["label", "pod", "c1", "moved=on"]);
    let out = s.kubectl_with(KUBECTL, &["replace", "-f", "-"], Some(&stale));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("Operation cannot be fulfilled on pods \"c1\": the object has been modified; please apply your changes to the latest version and try again"),
        "{err}"
    );
}

#[test]
fn deleting_a_namespace_removes_its_contents() {
    let s = Server::start();
    s.ok(&["create", "namespace", "team"]);
    s.ok(&["-n", "team", "create", "configmap", "settings", "--from-literal=a=b"]);
    s.ok(&["-n", "team", "apply", "-f", seed_dir().join("06-nginx-deployment.yaml").to_str().unwrap()]);
    let out = s.ok(&["delete", "namespace", "team"]);
    assert!(out.contains("namespace \"team\" deleted"), "{out}");
    let err = s.fails(&["get", "namespace", "team"]);
    assert!(err.contains("namespaces \"team\" not found"), "{err}");
    assert!(s.ok(&["get", "configmaps,deployments", "-n", "team", "-o", "name"]).is_empty());
    // The namespace can be made again, empty.
    s.ok(&["create", "namespace", "team"]);
    let left = s.ok(&["get", "configmaps", "-n", "team", "-o", "name"]);
    assert!(!left.contains("settings"), "{left}");
}

#[test]
fn a_pod_on_a_node_terminates_gracefully() {
    let s = Server::start();
    s.ok(&["run", "g1", "--image=busybox:1.36"]);
    // What the scheduler does: bind the pod to a node through the binding subresource.
    let binding = s.dir.path().join("binding.json");
    std::fs::write(&binding, r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"g1"},"target":{"apiVersion":"v1","kind":"Node","name":"node-1"}}"#).unwrap();
    s.ok(&["create", "--raw", "/api/v1/namespaces/default/pods/g1/binding", "-f", binding.to_str().unwrap()]);
    assert_eq!(s.ok(&["get", "pod", "g1", "-o", "jsonpath={.spec.nodeName}"]), "node-1");
    let again =
        s.fails(&["create", "--raw", "/api/v1/namespaces/default/pods/g1/binding", "-f", binding.to_str().unwrap()]);
    assert!(again.contains("is already assigned to node"), "{again}");

    s.ok(&["delete", "pod", "g1", "--wait=false"]);
    let row = s.ok(&["get", "pod", "g1", "--no-headers"]);
    assert!(row.contains("Terminating"), "{row}");
    assert_eq!(s.ok(&["get", "pod", "g1", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"]), "30");
    // The node's final delete (grace period 0) removes it.
    s.ok(&["delete", "pod", "g1", "--grace-period=0", "--force"]);
    let err = s.fails(&["get", "pod", "g1"]);
    assert!(err.contains("pods \"g1\" not found"), "{err}");
}

#[test]
fn watch_sends_initial_events_and_bookmarks() {
    let s = Server::start();
    s.ok(&["create", "configmap", "w1", "--from-literal=a=b"]);
    let out = s.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
    ]);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|e| e["type"] == "ADDED" && e["object"]["metadata"]["name"] == "w1"), "{out}");
    let bookmark = lines.iter().find(|e| e["type"] == "BOOKMARK").unwrap_or_else(|| panic!("no bookmark in {out}"));
    assert_eq!(bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}

#[test]
fn watching_from_a_compacted_revision_is_expired() {
    let s = Server::start_with(&["--compaction-interval", "200ms"]);
    s.ok(&["create", "configmap", "old", "--from-literal=a=b"]);
    let out = eventually(30, "compaction of revision 1", || {
        s.ok(&[
            "create",
            "configmap",
            &format!(
                "tick-{}",
                std::process::id() as u128
                    + std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            ),
            "--from-literal=a=b",
        ]);
        let out =
            s.ok(&["get", "--raw", "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1&timeoutSeconds=1"]);
        out.contains("\"type\":\"ERROR\"").then_some(out)
    });
    let ev: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(ev["object"]["message"].as_str().unwrap().starts_with("too old resource version: 1 ("), "{ev}");
}
