//! The seed manifests through the real kubectl: apply, get, describe, delete.

mod common;
use common::*;

#[test]
fn seed_manifests_apply_and_pods_stay_pending_without_a_node() {
    for minor in KUBECTL_MINORS {
        seed_manifests_with(minor);
    }
}

fn seed_manifests_with(minor: u32) {
    let mut s = Server::start();
    s.kubectl = kubectl_version(minor);
    let seed = seed_dir();
    for f in [
        "01-nginx-pod.yaml",
        "02-app-with-sidecar.yaml",
        "03-frontend-backend.yaml",
        "04-web-app.yaml",
        "05-production-app.yaml",
        "06-nginx-deployment.yaml",
    ] {
        let out = s.ok(&["apply", "-f", seed.join(f).to_str().unwrap()]);
        assert!(out.contains("created"), "{f}: {out}");
    }
    let pods = s.ok(&["get", "pods"]);
    let header = pods.lines().next().unwrap();
    assert_eq!(header.split_whitespace().collect::<Vec<_>>(), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    for (name, ready) in [
        ("nginx-pod", "0/1"),
        ("app-with-sidecar", "0/2"),
        ("frontend-backend", "0/2"),
        ("web-app", "0/2"),
        ("production-app", "0/1"),
    ] {
        let line = pods.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing from\n{pods}"));
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cells[1..4], [ready, "Pending", "0"], "{line}");
    }
    let wide = s.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().contains("IP       NODE     NOMINATED NODE   READINESS GATES"), "{wide}");

    let deploy = s.ok(&["get", "deploy"]);
    assert!(deploy.contains("nginx-deployment   0/3"), "{deploy}");

    let all = s.ok(&["get", "all"]);
    assert!(all.contains("pod/nginx-pod") && all.contains("deployment.apps/nginx-deployment"), "{all}");

    let yaml = s.ok(&["get", "pod", "nginx-pod", "-o", "yaml"]);
    for want in [
        "imagePullPolicy: IfNotPresent",
        "terminationMessagePath: /dev/termination-log",
        "dnsPolicy: ClusterFirst",
        "phase: Pending",
        "qosClass: BestEffort",
        "schedulerName: default-scheduler",
    ] {
        assert!(yaml.contains(want), "missing {want} in\n{yaml}");
    }
    let describe = s.ok(&["describe", "pod", "app-with-sidecar"]);
    assert!(describe.contains("/var/log/app from shared-logs (ro)"), "{describe}");

    for f in ["01-nginx-pod.yaml", "06-nginx-deployment.yaml"] {
        let out = s.ok(&["delete", "-f", seed.join(f).to_str().unwrap()]);
        assert!(out.contains("deleted"), "{out}");
    }
    let err = s.fails(&["get", "pod", "nginx-pod"]);
    assert!(err.contains("Error from server (NotFound): pods \"nginx-pod\" not found"), "{err}");
    s.assert_no_panic();
}

#[test]
fn kubectl_run_creates_a_labelled_pod() {
    for minor in KUBECTL_MINORS {
        let mut s = Server::start();
        s.kubectl = kubectl_version(minor);
        kubectl_run_with(&s);
    }
}

fn kubectl_run_with(s: &Server) {
    s.ok(&["run", "test-pod", "--image=nginx:1.24", "--port=80"]);
    let labels = s.ok(&[
        "get",
        "pod",
        "test-pod",
        "-o",
        "jsonpath={.metadata.labels.run} {.spec.containers[0].ports[0].containerPort}",
    ]);
    assert_eq!(labels, "test-pod 80");
}

#[test]
fn objects_and_certificates_survive_a_restart() {
    let s = Server::start();
    let out = s.kubectl_with(
        KUBECTL,
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-me\ndata:\n  a: b\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ca_before = std::fs::read(s.dir.path().join("pki/ca.crt")).unwrap();
    let serving_before = std::fs::read(s.dir.path().join("pki/serving.crt")).unwrap();
    let kubeconfig_before = std::fs::read(s.kubeconfig()).unwrap();
    let (dir, port) = s.crash();
    let s = Server::start_in(dir, port);
    assert_eq!(s.ok(&["get", "configmap", "keep-me", "-o", "jsonpath={.data.a}"]), "b");
    assert_eq!(std::fs::read(s.dir.path().join("pki/ca.crt")).unwrap(), ca_before);
    assert_eq!(std::fs::read(s.dir.path().join("pki/serving.crt")).unwrap(), serving_before);
    assert_eq!(std::fs::read(s.kubeconfig()).unwrap(), kubeconfig_before, "clients keep working unchanged");
}

#[test]
fn recorded_events_show_in_describe_through_both_event_apis() {
    let s = Server::start();
    s.ok(&["apply", "-f", seed_dir().join("01-nginx-pod.yaml").to_str().unwrap()]);
    let uid = s.ok(&["get", "pod", "nginx-pod", "-o", "jsonpath={.metadata.uid}"]);
    let now = s.ok(&["get", "pod", "nginx-pod", "-o", "jsonpath={.metadata.creationTimestamp}"]);
    // A component recording an event the core/v1 way (as the kubelet does)...
    let core = format!(
        "apiVersion: v1
kind: Event
metadata:
  name: nginx-pod.pulling
involvedObject:
  apiVersion: v1
  kind: Pod
  name: nginx-pod
  namespace: default
  uid: {uid}
reason: Pulling
message: Pulling image \"nginx:1.24\"
type: Normal
source:
  component: kubelet
firstTimestamp: {now}
lastTimestamp: {now}
count: 1
"
    );
    let out = s.kubectl_with(&s.kubectl, &["create", "-f", "-"], Some(&core));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // ...and one the events.k8s.io/v1 way (as the scheduler does).
    let modern = format!(
        "apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: nginx-pod.scheduled
eventTime: \"{}\"
reportingController: default-scheduler
reportingInstance: default-scheduler-skiff
action: Binding
reason: Scheduled
note: Successfully assigned default/nginx-pod to node-1
type: Normal
regarding:
  apiVersion: v1
  kind: Pod
  name: nginx-pod
  namespace: default
  uid: {uid}
",
        now.replace('Z', ".000000Z")
    );
    let out = s.kubectl_with(&s.kubectl, &["create", "-f", "-"], Some(&modern));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let describe = s.ok(&["describe", "pod", "nginx-pod"]);
    // Column widths depend on every event shown (the scheduler records its own), so compare words.
    let events: Vec<String> = describe
        .split("Events:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(events.iter().any(|l| l == "Type Reason Age From Message"), "{describe}");
    assert!(
        events.iter().any(|l| l.starts_with("Normal Pulling") && l.ends_with("kubelet Pulling image \"nginx:1.24\"")),
        "{describe}"
    );
    assert!(
        events.iter().any(|l| l.starts_with("Normal Scheduled")
            && l.ends_with("default-scheduler Successfully assigned default/nginx-pod to node-1")),
        "{describe}"
    );

    let listed =
        s.ok(&["get", "events.v1.events.k8s.io", "-o", "jsonpath={range .items[*]}{.reason}={.regarding.name} {end}"]);
    assert!(listed.contains("Pulling=nginx-pod") && listed.contains("Scheduled=nginx-pod"), "{listed}");
}
