//! Behaviour tests for defaulting: the objects a 1.32 API server returns for common inputs.

use super::*;
use serde_json::json;

fn applied(group: &str, kind: &str, mut obj: Value) -> Value {
    apply(group, "v1", kind, &mut obj);
    obj
}

#[test]
fn nginx_pod_gets_upstream_defaults() {
    let p = applied(
        "",
        "Pod",
        json!({"metadata": {"name": "nginx-pod", "namespace": "default"},
               "spec": {"containers": [{"name": "nginx", "image": "nginx:1.24", "ports": [{"containerPort": 80}]}]}}),
    );
    let spec = &p["spec"];
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["enableServiceLinks"], true);
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["serviceAccount"], "default");
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
    assert_eq!(
        spec["tolerations"],
        json!([
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
        ])
    );
    assert_eq!(p["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
}

#[test]
fn latest_or_untagged_images_pull_always() {
    for (image, policy) in [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.24", "IfNotPresent"),
        ("nginx@sha256:abcd", "IfNotPresent"),
    ] {
        let p = applied(
            "",
            "Pod",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}]}}),
        );
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], policy, "{image}");
    }
}

#[test]
fn requests_default_to_limits_and_qos_is_guaranteed() {
    let p = applied(
        "",
        "Pod",
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}}}]}}),
    );
    let r = &p["spec"]["containers"][0]["resources"];
    assert_eq!(r["limits"]["cpu"], "500m");
    assert_eq!(r["requests"], json!({"cpu": "500m", "memory": "128Mi"}));
    assert_eq!(p["status"]["qosClass"], "Guaranteed");
}

#[test]
fn probes_and_volumes_get_defaults() {
    let p = applied(
        "",
        "Pod",
        json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": "x", "livenessProbe": {"httpGet": {"port": 8080}}}],
            "volumes": [{"name": "a"}, {"name": "b", "configMap": {"name": "cm"}}, {"name": "h", "hostPath": {"path": "/x"}}]}}),
    );
    assert_eq!(
        p["spec"]["containers"][0]["livenessProbe"],
        json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(p["spec"]["volumes"][0]["emptyDir"], json!({}));
    assert_eq!(p["spec"]["volumes"][1]["configMap"]["defaultMode"], 420);
    assert_eq!(p["spec"]["volumes"][2]["hostPath"]["type"], "");
}

#[test]
fn existing_not_ready_toleration_is_kept() {
    let p = applied(
        "",
        "Pod",
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}]}}),
    );
    assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 2);
}

#[test]
fn deployment_defaults() {
    let d = applied(
        "apps",
        "Deployment",
        json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}),
    );
    let s = &d["spec"];
    assert_eq!(s["replicas"], 1);
    assert_eq!(
        s["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(s["revisionHistoryLimit"], 10);
    assert_eq!(s["progressDeadlineSeconds"], 600);
    let ps = &s["template"]["spec"];
    assert_eq!(ps["restartPolicy"], "Always");
    assert!(ps.get("enableServiceLinks").is_none(), "pod-only defaults stay off templates");
    assert!(ps.get("tolerations").is_none());
}

#[test]
fn stateful_set_and_daemon_set_defaults() {
    let s = applied(
        "apps",
        "StatefulSet",
        json!({"metadata": {"name": "s"}, "spec": {"template": {"spec": {"containers": []}}}}),
    );
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(s["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
    assert_eq!(
        s["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    let d = applied("apps", "DaemonSet", json!({"metadata": {"name": "d"}, "spec": {}}));
    assert_eq!(
        d["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
}

#[test]
fn job_gets_generated_selector_and_labels() {
    let j = applied(
        "batch",
        "Job",
        json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}}),
    );
    let s = &j["spec"];
    assert_eq!(s["completions"], 1);
    assert_eq!(s["parallelism"], 1);
    assert_eq!(s["backoffLimit"], 6);
    assert_eq!(s["completionMode"], "NonIndexed");
    assert_eq!(s["suspend"], false);
    assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(s["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}));
    let labels = json!({"job-name": "pi", "batch.kubernetes.io/job-name": "pi", "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1"});
    assert_eq!(s["template"]["metadata"]["labels"], labels);
    assert_eq!(j["metadata"]["labels"], labels);
}

#[test]
fn service_defaults() {
    let s = applied("", "Service", json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}));
    let spec = &s["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["ports"][0], json!({"port": 80, "protocol": "TCP", "targetPort": 80}));
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert!(spec.get("externalTrafficPolicy").is_none());
    let n = applied(
        "",
        "Service",
        json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
    );
    assert_eq!(n["spec"]["externalTrafficPolicy"], "Cluster");
}

#[test]
fn secret_string_data_merges_into_data() {
    let s = applied(
        "",
        "Secret",
        json!({"metadata": {"name": "s"}, "data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "z", "url": "postgres://x"}}),
    );
    assert_eq!(s["type"], "Opaque");
    assert!(s.get("stringData").is_none());
    assert_eq!(s["data"], json!({"a": "eA==", "b": "eg==", "url": "cG9zdGdyZXM6Ly94"}));
}

#[test]
fn namespace_defaults() {
    let n = applied("", "Namespace", json!({"metadata": {"name": "dev"}}));
    assert_eq!(n["metadata"]["labels"]["kubernetes.io/metadata.name"], "dev");
    assert_eq!(n["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(n["status"]["phase"], "Active");
}

#[test]
fn service_account_token_volume_is_mounted() {
    let mut p =
        applied("", "Pod", json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}));
    add_service_account_token_volume(&mut p, "abcde");
    assert_eq!(p["spec"]["volumes"][0]["name"], "kube-api-access-abcde");
    assert_eq!(
        p["spec"]["containers"][0]["volumeMounts"][0],
        json!({"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "kube-api-access-abcde", "readOnly": true})
    );
    assert!(crate::validation::validate(
        "",
        "v1",
        "Pod",
        &{
            let mut q = p.clone();
            q["metadata"]["namespace"] = json!("default");
            q
        },
        None
    )
    .is_empty());
}

#[test]
fn unknown_kinds_are_untouched() {
    let o = json!({"metadata": {"name": "x"}, "spec": {"a": 1}});
    assert_eq!(applied("example.com", "Widget", o.clone()), o);
}
