//! Cells of the leases, endpoint slices, networking, RBAC, storage, scheduling, policy, autoscaling and admission
//! printers.

use serde_json::json;

use super::super::test_support::{ago, now};
use super::*;

#[test]
fn lease_prints_its_holder() {
    let lease = json!({"metadata": {"name": "skiff-scheduler", "creationTimestamp": ago(3600 * 30)},
                       "spec": {"holderIdentity": "host_1234", "leaseDurationSeconds": 15}});
    assert_eq!(lease_row(&lease, now()), vec![json!("skiff-scheduler"), json!("host_1234"), json!("30h")]);
    assert_eq!(lease_row(&json!({"metadata": {"name": "x"}}), now())[1], json!(""));
}

#[test]
fn endpoint_slice_prints_ports_and_addresses() {
    let slice = json!({"metadata": {"name": "web-abc12", "creationTimestamp": ago(20)},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "named"}, {}],
        "endpoints": [{"addresses": ["10.244.0.5"]}, {"addresses": ["10.244.0.6"]},
                      {"addresses": ["10.244.0.7"]}, {"addresses": ["10.244.0.8"]}]});
    assert_eq!(
        endpoint_slice_row(&slice, now()),
        vec![
            json!("web-abc12"),
            json!("IPv4"),
            json!("80,named,*"),
            json!("10.244.0.5,10.244.0.6,10.244.0.7 + 1 more..."),
            json!("20s"),
        ]
    );
    let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv4"});
    assert_eq!(endpoint_slice_row(&empty, now())[2..4], [json!("<unset>"), json!("<unset>")]);
}

#[test]
fn ingress_prints_class_hosts_address_and_ports() {
    let ing = json!({"metadata": {"name": "web"},
        "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                 "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"},
                           {"host": "d.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}});
    let cells = ingress_row(&ing, now());
    assert_eq!(
        cells[1..5],
        [
            json!("nginx"),
            json!("a.example.com,b.example.com,c.example.com + 2 more..."),
            json!("192.0.2.1"),
            json!("80, 443")
        ]
    );
    let bare = ingress_row(&json!({"metadata": {"name": "x"}}), now());
    assert_eq!(bare[1..5], [json!("<none>"), json!("*"), json!(""), json!("80")]);
}

#[test]
fn ingress_class_prints_parameters_reference() {
    let ic = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    let cells = ingress_class_row(&ic, now());
    assert_eq!(cells[2], json!("IngressParameters.k8s.example.com/external-lb"));
}

#[test]
fn network_policy_prints_pod_selector() {
    let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
    assert_eq!(network_policy_row(&np, now())[1], json!("<none>"));
    let np = json!({"metadata": {"name": "web"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}}});
    assert_eq!(network_policy_row(&np, now())[1], json!("app=web"));
}

#[test]
fn role_binding_prints_role_and_subjects() {
    let rb = json!({"metadata": {"name": "read"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "jane"}, {"kind": "Group", "name": "devs"},
                     {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}, {"kind": "User", "name": "bob"}]});
    assert_eq!(
        role_binding_row(&rb, now()),
        vec![
            json!("read"),
            json!("ClusterRole/view"),
            json!("<unknown>"),
            json!("jane, bob"),
            json!("devs"),
            json!("build/ci"),
        ]
    );
    assert_eq!(role_binding_columns(true)[3].description, "Users in the clusterRoleBinding");
}

#[test]
fn default_storage_class_is_marked_and_defaults_fill_in() {
    let sc = json!({"metadata": {"name": "local-path",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        storage_class_row(&sc, now())[..5],
        [
            json!("local-path (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("WaitForFirstConsumer"),
            json!(false)
        ]
    );
}

#[test]
fn priority_class_prints_value_and_default_flag() {
    let pc = json!({"metadata": {"name": "system-node-critical"}, "value": 2000001000,
                    "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"});
    assert_eq!(
        priority_class_row(&pc, now()),
        vec![
            json!("system-node-critical"),
            json!(2000001000),
            json!(false),
            json!("<unknown>"),
            json!("PreemptLowerPriority"),
        ]
    );
}

#[test]
fn pod_disruption_budget_prints_int_or_string_bounds() {
    let pdb = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": "50%"},
                     "status": {"disruptionsAllowed": 1}});
    assert_eq!(pod_disruption_budget_row(&pdb, now())[1..4], [json!("50%"), json!("N/A"), json!(1)]);
    let pdb = json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1}});
    assert_eq!(pod_disruption_budget_row(&pdb, now())[1..4], [json!("N/A"), json!("1"), json!(0)]);
}

#[test]
fn autoscaler_prints_targets_with_current_values() {
    let hpa = json!({"metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1024Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]},
        "status": {"currentReplicas": 2, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35}}}]}});
    assert_eq!(
        hpa_row(&hpa, now()),
        vec![
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 35%/80%, memory: <unknown>/1Gi + 1 more..."),
            json!("1"),
            json!(5),
            json!(2),
            json!("<unknown>"),
        ]
    );
    let none = json!({"metadata": {"name": "x"}, "spec": {"maxReplicas": 3}});
    assert_eq!(hpa_row(&none, now())[2..4], [json!("<none>"), json!("<unset>")]);
}

#[test]
fn webhook_configuration_counts_webhooks() {
    let wh = json!({"metadata": {"name": "policy"}, "webhooks": [{"name": "a"}, {"name": "b"}]});
    assert_eq!(webhook_row(&wh, now()), vec![json!("policy"), json!(2), json!("<unknown>")]);
}
