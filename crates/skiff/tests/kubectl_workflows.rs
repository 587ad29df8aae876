//! The kubectl workflows of the article and of everyday use: label, annotate, scale, set image, a second apply
//! (strategic merge patch), edit, get -w, delete -f — and the same basics with kubectl 1.27 and 1.33.

mod common;
use common::*;

fn deployment(image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: {image}
        ports:
        - containerPort: 80
"
    )
}

fn jsonpath(s: &Server, what: &str, path: &str) -> String {
    s.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

#[test]
fn everyday_edits_of_a_deployment() {
    for minor in KUBECTL_MINORS {
        let mut s = Server::start();
        s.kubectl = kubectl_version(minor);
        everyday_edits_with(&s);
    }
}

fn everyday_edits_with(s: &Server) {
    let seed = seed_dir();
    let manifest = seed.join("06-nginx-deployment.yaml");
    assert!(s.ok(&["apply", "-f", manifest.to_str().unwrap()]).contains("deployment.apps/nginx-deployment created"));
    let d = "deploy/nginx-deployment";

    assert!(s.ok(&["label", d, "tier=web"]).contains("deployment.apps/nginx-deployment labeled"));
    assert_eq!(jsonpath(s, d, "{.metadata.labels.tier}"), "web");
    assert!(s
        .ok(&["annotate", d, "owner=team-a"])
        .contains("deployment.apps/nginx-deployment annotate" /* 1.27 prints "annotate" */));
    assert_eq!(jsonpath(s, d, "{.metadata.annotations.owner}"), "team-a");

    assert!(s
        .ok(&["scale", "deploy", "nginx-deployment", "--replicas=5"])
        .contains("deployment.apps/nginx-deployment scaled"));
    assert_eq!(jsonpath(s, d, "{.spec.replicas}"), "5");
    assert_eq!(jsonpath(s, d, "{.metadata.generation}"), "2");

    assert!(s.ok(&["set", "image", d, "nginx=nginx:1.25"]).contains("deployment.apps/nginx-deployment image updated"));
    assert_eq!(jsonpath(s, d, "{.spec.template.spec.containers[0].image}"), "nginx:1.25");
    assert_eq!(jsonpath(s, d, "{.metadata.generation}"), "3");

    // A second apply of a changed manifest: kubectl computes a strategic merge patch against the
    // last-applied annotation (the resources block disappears, image and replicas change).
    let changed = deployment("nginx:1.26", 2);
    let out = s.kubectl_with(&s.kubectl, &["apply", "-f", "-"], Some(&changed));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployment.apps/nginx-deployment configured"));
    assert_eq!(jsonpath(s, d, "{.spec.replicas}"), "2");
    assert_eq!(jsonpath(s, d, "{.spec.template.spec.containers[0].image}"), "nginx:1.26");
    assert_eq!(jsonpath(s, d, "{.spec.template.spec.containers[0].resources}"), "{}");
    // Labels added by `kubectl label` are not in the last-applied configuration, so apply keeps them.
    assert_eq!(jsonpath(s, d, "{.metadata.labels.tier}"), "web");

    let editor = s.dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/replicas: 2/replicas: 4/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = s.kubectl_env(&s.kubectl, &["edit", d], None, &[("EDITOR", editor.to_str().unwrap())]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployment.apps/nginx-deployment edited"));
    assert_eq!(jsonpath(s, d, "{.spec.replicas}"), "4");

    let out = s.ok(&["delete", "-f", manifest.to_str().unwrap()]);
    assert!(out.contains("deployment.apps \"nginx-deployment\" deleted"), "{out}");
    assert!(s.ok(&["get", "deploy"]).is_empty());
    s.assert_no_panic();
}

#[test]
fn get_watch_prints_events_as_they_happen() {
    for minor in KUBECTL_MINORS {
        let mut s = Server::start();
        s.kubectl = kubectl_version(minor);
        get_watch_with(&s);
    }
}

fn get_watch_with(s: &Server) {
    let out_file = s.dir.path().join("watch.out");
    let mut watch = s.kubectl_background(&["get", "pods", "-w", "--output-watch-events"], &out_file);
    // The watch starts with an empty list; wait until it is established before creating.
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.ok(&["run", "watched", "--image=busybox:1.36"]);
    s.ok(&["label", "pod", "watched", "seen=yes"]);
    s.ok(&["delete", "pod", "watched"]);
    let text = eventually(20, "watch events", || {
        let t = std::fs::read_to_string(&out_file).unwrap_or_default();
        (t.contains("ADDED") && t.contains("MODIFIED") && t.contains("DELETED")).then_some(t)
    });
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(text.lines().any(|l| l.contains("ADDED") && l.contains("watched") && l.contains("Pending")), "{text}");
}

#[test]
fn api_resources_explain_and_describe_with_every_kubectl() {
    let s = Server::start();
    let pod = seed_dir().join("02-app-with-sidecar.yaml");
    s.ok(&["apply", "-f", pod.to_str().unwrap()]);
    for minor in KUBECTL_MINORS {
        let k = kubectl_version(minor);
        let resources = s.ok_with(&k, &["api-resources"]);
        let header: Vec<&str> = resources.lines().next().unwrap_or("").split_whitespace().collect();
        assert_eq!(header, ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], "kubectl 1.{minor}");
        for want in ["deployments", "deploy", "apps/v1", "pods", "po", "endpointslices", "leases"] {
            assert!(resources.contains(want), "kubectl 1.{minor} api-resources lacks {want}:\n{resources}");
        }
        let explain = s.ok_with(&k, &["explain", "pod.spec.containers"]);
        assert!(explain.contains("KIND:") && explain.contains("Pod"), "kubectl 1.{minor}: {explain}");
        assert!(
            explain.contains("FIELD:") && explain.contains("containers") && explain.contains("<[]Container>"),
            "kubectl 1.{minor}: {explain}"
        );
        let describe = s.ok_with(&k, &["describe", "pod", "app-with-sidecar"]);
        for want in [
            "Status:           Pending",
            "application:",
            "log-shipper:",
            "/var/log/app from shared-logs (ro)",
            "EmptyDir (a temporary directory that shares a pod's lifetime)",
            "BestEffort",
        ] {
            assert!(describe.contains(want), "kubectl 1.{minor} describe lacks {want:?}:\n{describe}");
        }
    }
}
