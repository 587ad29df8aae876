//! The pod status matrix: each case is a pod as the kubelet reports it and the cells upstream prints for it.

use serde_json::{json, Value};

use super::super::test_support::{ago, now};
use super::*;

fn cells(pod: &Value) -> Vec<Value> {
    row(pod, now()).cells
}

/// (READY, STATUS, RESTARTS) of a pod.
fn summary(pod: &Value) -> (String, String, String) {
    let c = cells(pod);
    let s = |i: usize| c[i].as_str().unwrap().to_string();
    (s(1), s(2), s(3))
}

fn pod(spec: Value, status: Value) -> Value {
    json!({
        "metadata": {"name": "p", "namespace": "default", "creationTimestamp": ago(300)},
        "spec": spec,
        "status": status,
    })
}

fn one_container() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx:1.24"}]})
}

fn with_init() -> Value {
    json!({
        "initContainers": [{"name": "setup", "image": "busybox:1.36"}],
        "containers": [{"name": "app", "image": "nginx:1.24"}]
    })
}

fn s(ready: &str, status: &str, restarts: &str) -> (String, String, String) {
    (ready.into(), status.into(), restarts.into())
}

#[test]
fn freshly_created_pod_without_status_prints_pending() {
    let p = json!({
        "metadata": {"name": "nginx-pod", "creationTimestamp": ago(5)},
        "spec": one_container(),
        "status": {"phase": "Pending", "qosClass": "BestEffort"}
    });
    let c = cells(&p);
    assert_eq!(
        c,
        vec![
            json!("nginx-pod"),
            json!("0/1"),
            json!("Pending"),
            json!("0"),
            json!("5s"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
    assert!(row(&p, now()).conditions.is_empty());
}

#[test]
fn restarts_cell_is_a_string_as_the_column_declares() {
    let p = pod(one_container(), json!({"phase": "Pending"}));
    assert!(cells(&p)[3].is_string());
    assert_eq!(columns()[3].type_, "string");
}

#[test]
fn creating_container_shows_container_creating() {
    let p = pod(
        one_container(),
        json!({"phase": "Pending", "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
        ]}),
    );
    assert_eq!(summary(&p), s("0/1", "ContainerCreating", "0"));
}

#[test]
fn pod_with_waiting_init_container_shows_init_0_of_1() {
    let p = pod(
        with_init(),
        json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "setup", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "Init:0/1", "0"));
}

#[test]
fn running_init_container_shows_its_index() {
    let p = pod(
        json!({"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "app"}]}),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "b", "state": {"running": {"startedAt": ago(2)}}}
        ]}),
    );
    assert_eq!(summary(&p), s("0/1", "Init:1/2", "0"));
}

#[test]
fn failed_init_container_shows_init_error() {
    let p = pod(
        with_init(),
        json!({"phase": "Pending", "initContainerStatuses": [{"name": "setup", "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "Init:Error", "0"));
}

#[test]
fn init_failure_without_reason_shows_exit_code_or_signal() {
    let code = pod(
        with_init(),
        json!({"initContainerStatuses": [{"name": "setup", "state": {"terminated": {"exitCode": 2}}}]}),
    );
    assert_eq!(summary(&code).1, "Init:ExitCode:2");
    let signal = pod(
        with_init(),
        json!({"initContainerStatuses": [{"name": "setup",
            "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
    );
    assert_eq!(summary(&signal).1, "Init:Signal:9");
}

#[test]
fn crashlooping_init_container_counts_its_restarts() {
    let p = pod(
        with_init(),
        json!({"phase": "Pending", "initContainerStatuses": [{"name": "setup", "restartCount": 4,
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(30)}},
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "Init:CrashLoopBackOff", "4 (30s ago)"));
}

#[test]
fn finished_init_with_waiting_app_shows_pod_initializing() {
    let p = pod(
        with_init(),
        json!({"phase": "Pending",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "setup", "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "PodInitializing", "0"));
}

#[test]
fn ready_running_pod_shows_running_with_wide_cells() {
    let mut p = pod(
        json!({"containers": [{"name": "app"}], "nodeName": "node-1",
               "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]}),
        json!({"phase": "Running", "podIP": "10.244.0.7", "podIPs": [{"ip": "10.244.0.7"}],
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "example.com/lb", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": ago(60)}}}]}),
    );
    p["status"]["nominatedNodeName"] = json!("node-2");
    let c = cells(&p);
    assert_eq!(summary(&p), s("1/1", "Running", "0"));
    assert_eq!(c[4], json!("5m"));
    assert_eq!(&c[5..], &[json!("10.244.0.7"), json!("node-1"), json!("node-2"), json!("1/2")]);
}

#[test]
fn pod_ip_falls_back_to_pod_ips() {
    let p = pod(one_container(), json!({"podIPs": [{"ip": "fd00::7"}, {"ip": "10.0.0.7"}]}));
    assert_eq!(cells(&p)[5], json!("fd00::7"));
}

#[test]
fn succeeded_pod_shows_completed_and_a_completed_row_condition() {
    let p = pod(
        one_container(),
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "Completed", "0"));
    assert_eq!(
        row(&p, now()).conditions,
        vec![json!({"type": "Completed", "status": "True", "reason": "Succeeded",
                    "message": "The pod has completed successfully."})]
    );
}

#[test]
fn failed_pod_shows_error_and_a_failed_row_condition() {
    let p = pod(
        one_container(),
        json!({"phase": "Failed", "containerStatuses": [{"name": "app", "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "Error", "0"));
    assert_eq!(row(&p, now()).conditions[0]["reason"], json!("Failed"));
    assert_eq!(row(&p, now()).conditions[0]["message"], json!("The pod failed."));
}

#[test]
fn crashloop_restarts_show_time_since_last() {
    let p = pod(
        one_container(),
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 3,
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(12)}},
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "CrashLoopBackOff", "3 (12s ago)"));
}

#[test]
fn restarts_without_a_last_termination_time_print_just_the_count() {
    let p = pod(
        one_container(),
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 2,
            "state": {"running": {}}}]}),
    );
    assert_eq!(summary(&p), s("1/1", "Running", "2"));
}

#[test]
fn waiting_reasons_pass_through_unchanged() {
    for reason in ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"] {
        let p = pod(
            one_container(),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app", "restartCount": 0,
                "state": {"waiting": {"reason": reason}}}]}),
        );
        assert_eq!(summary(&p).1, reason);
    }
}

#[test]
fn first_container_reason_wins_over_later_ones() {
    let p = pod(
        json!({"containers": [{"name": "a"}, {"name": "b"}]}),
        json!({"phase": "Pending", "containerStatuses": [
            {"name": "a", "state": {"waiting": {"reason": "ErrImagePull"}}},
            {"name": "b", "state": {"waiting": {"reason": "ContainerCreating"}}}
        ]}),
    );
    assert_eq!(summary(&p), s("0/2", "ErrImagePull", "0"));
}

#[test]
fn terminated_container_without_reason_shows_exit_code_or_signal() {
    let p = pod(
        one_container(),
        json!({"phase": "Running", "containerStatuses": [{"name": "app",
            "state": {"terminated": {"exitCode": 3}}}]}),
    );
    assert_eq!(summary(&p).1, "ExitCode:3");
    let p = pod(
        one_container(),
        json!({"phase": "Running", "containerStatuses": [{"name": "app",
            "state": {"terminated": {"exitCode": 143, "signal": 15}}}]}),
    );
    assert_eq!(summary(&p).1, "Signal:15");
}

#[test]
fn completed_container_beside_a_running_one_shows_running_or_not_ready() {
    let status = |ready: &str| {
        json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": ready}],
        "containerStatuses": [
            {"name": "a", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "b", "ready": true, "state": {"running": {}}}
        ]})
    };
    let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
    assert_eq!(summary(&pod(spec.clone(), status("True"))), s("1/2", "Running", "0"));
    assert_eq!(summary(&pod(spec, status("False"))), s("1/2", "NotReady", "0"));
}

#[test]
fn deleted_pod_shows_terminating_unless_finished() {
    let mut p = pod(
        one_container(),
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
            "state": {"running": {}}}]}),
    );
    p["metadata"]["deletionTimestamp"] = json!(ago(-30));
    assert_eq!(summary(&p), s("1/1", "Terminating", "0"));
    p["status"]["phase"] = json!("Succeeded");
    p["status"]["containerStatuses"][0] = json!({"name": "app",
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
    assert_eq!(summary(&p).1, "Completed");
}

#[test]
fn deleted_pod_on_lost_node_shows_unknown() {
    let mut p = pod(one_container(), json!({"phase": "Running", "reason": "NodeLost"}));
    p["metadata"]["deletionTimestamp"] = json!(ago(0));
    assert_eq!(summary(&p).1, "Unknown");
    // Not yet deleted: the reason itself shows.
    p["metadata"].as_object_mut().unwrap().remove("deletionTimestamp");
    assert_eq!(summary(&p).1, "NodeLost");
}

#[test]
fn scheduling_gated_pod_says_so() {
    let p = pod(
        one_container(),
        json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    assert_eq!(summary(&p), s("0/1", "SchedulingGated", "0"));
}

#[test]
fn started_sidecar_counts_towards_ready_and_restarts() {
    let p = pod(
        json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
               "containers": [{"name": "app"}]}),
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1,
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(90)}},
                "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 2,
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(200)}},
                "state": {"running": {}}}]}),
    );
    assert_eq!(summary(&p), s("2/2", "Running", "3 (90s ago)"));
}

#[test]
fn unstarted_sidecar_holds_the_pod_in_init() {
    let p = pod(
        json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}, {"name": "setup"}],
               "containers": [{"name": "app"}]}),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "proxy", "started": false, "state": {"running": {}}},
            {"name": "setup", "state": {"waiting": {"reason": "PodInitializing"}}}
        ]}),
    );
    assert_eq!(summary(&p), s("0/2", "Init:0/2", "0"));
}

#[test]
fn plain_init_restarts_are_dropped_once_initialized() {
    let p = pod(
        with_init(),
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "setup", "restartCount": 5,
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(100)}},
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
    );
    assert_eq!(summary(&p), s("1/1", "Running", "0"));
}

/// The seed manifests' pods as the API server stores them right after `kubectl apply` (defaulted, no status yet).
#[test]
fn seed_pods_print_pending_with_their_container_counts() {
    let seed = [
        ("nginx-pod", json!({"containers": [{"name": "nginx", "image": "nginx:1.24"}]}), "0/1"),
        (
            "app-with-sidecar",
            json!({"containers": [{"name": "application", "image": "myapp:1.0"},
                                  {"name": "log-shipper", "image": "fluent/fluent-bit:2.0"}]}),
            "0/2",
        ),
        (
            "frontend-backend",
            json!({"containers": [{"name": "api", "image": "api-server:1.0"},
                                  {"name": "nginx-proxy", "image": "nginx:1.24"}]}),
            "0/2",
        ),
        (
            "web-app",
            json!({"initContainers": [{"name": "setup", "image": "busybox:1.36"}],
                   "containers": [{"name": "web", "image": "nginx:1.24"},
                                  {"name": "metrics-exporter", "image": "nginx/nginx-prometheus-exporter:0.11"}]}),
            "0/2",
        ),
        ("production-app", json!({"containers": [{"name": "app", "image": "myapp:2.0"}]}), "0/1"),
    ];
    for (name, spec, ready) in seed {
        let p = json!({"metadata": {"name": name, "namespace": "default", "creationTimestamp": ago(1)},
                       "spec": spec, "status": {"phase": "Pending", "qosClass": "BestEffort"}});
        let c = cells(&p);
        assert_eq!(c[..5], [json!(name), json!(ready), json!("Pending"), json!("0"), json!("1s")]);
    }
}

#[test]
fn seed_web_app_while_its_init_container_runs_shows_init_0_of_1() {
    let p = json!({
        "metadata": {"name": "web-app", "creationTimestamp": ago(3)},
        "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "web"}, {"name": "metrics-exporter"}],
                 "nodeName": "skiff-node"},
        "status": {"phase": "Pending", "podIP": "10.244.0.9",
            "conditions": [{"type": "Initialized", "status": "False"}, {"type": "Ready", "status": "False"}],
            "initContainerStatuses": [{"name": "setup", "ready": false, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": ago(2)}}}],
            "containerStatuses": [
                {"name": "metrics-exporter", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}},
                {"name": "web", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}
    });
    assert_eq!(summary(&p), s("0/2", "Init:0/1", "0"));
}
