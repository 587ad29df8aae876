//! The scheduler places pods on nodes through pods/binding and explains, as upstream does, what it cannot place.

mod common;
use common::*;

fn node_manifest(name: &str, cpu: &str, memory: &str) -> String {
    format!(
        "apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
    kubernetes.io/hostname: {name}
status:
  capacity: {{cpu: \"{cpu}\", memory: {memory}, pods: \"110\"}}
  allocatable: {{cpu: \"{cpu}\", memory: {memory}, pods: \"110\"}}
"
    )
}

fn apply(s: &Server, manifest: &str) {
    let out = s.kubectl_with(&s.kubectl, &["apply", "-f", "-"], Some(manifest));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn pods_are_bound_to_a_node_that_fits_and_explained_when_none_does() {
    let s = Server::start();
    // No node yet: the pod stays Pending, and says why.
    s.ok(&["apply", "-f", seed_dir().join("01-nginx-pod.yaml").to_str().unwrap()]);
    let msg = eventually(20, "PodScheduled=False", || {
        let m = s.ok(&[
            "get",
            "pod",
            "nginx-pod",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ]);
        (!m.is_empty()).then_some(m)
    });
    assert_eq!(msg, "no nodes available to schedule pods");

    apply(&s, &node_manifest("node-1", "2", "4Gi"));
    let node = eventually(20, "nginx-pod bound", || {
        let n = s.ok(&["get", "pod", "nginx-pod", "-o", "jsonpath={.spec.nodeName}"]);
        (!n.is_empty()).then_some(n)
    });
    assert_eq!(node, "node-1");
    let cond =
        s.ok(&["get", "pod", "nginx-pod", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status}"]);
    assert_eq!(cond, "True");
    let describe = eventually(20, "the Scheduled event", || {
        let d = s.ok(&["describe", "pod", "nginx-pod"]);
        d.contains("Successfully assigned default/nginx-pod to node-1").then_some(d)
    });
    assert!(describe.contains("Normal   Scheduled") && describe.contains("default-scheduler"), "{describe}");

    // More memory than the node has: Pending, with upstream's FailedScheduling message.
    apply(
        &s,
        "apiVersion: v1
kind: Pod
metadata:
  name: greedy
spec:
  containers:
  - name: app
    image: busybox:1.36
    resources:
      requests:
        memory: 64Gi
",
    );
    let want = "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
    let describe = eventually(20, "FailedScheduling", || {
        let d = s.ok(&["describe", "pod", "greedy"]);
        d.contains(want).then_some(d)
    });
    assert!(describe.contains("Warning  FailedScheduling"), "{describe}");
    let row = s.ok(&["get", "pod", "greedy", "--no-headers"]);
    assert!(row.contains("Pending"), "{row}");

    // A node that fits appears: the scheduler retries and places it there.
    apply(&s, &node_manifest("node-big", "8", "128Gi"));
    let node = eventually(20, "greedy bound", || {
        let n = s.ok(&["get", "pod", "greedy", "-o", "jsonpath={.spec.nodeName}"]);
        (!n.is_empty()).then_some(n)
    });
    assert_eq!(node, "node-big");
    s.assert_no_panic();
}
