//! Cells of the core/v1 printers, including the seed's ConfigMap and Secret.

use serde_json::json;

use super::super::test_support::{ago, now};
use super::*;

#[test]
fn namespace_prints_its_phase() {
    let ns = json!({"metadata": {"name": "default", "creationTimestamp": ago(86400 * 3)},
                    "status": {"phase": "Active"}});
    assert_eq!(namespace_row(&ns, now()), vec![json!("default"), json!("Active"), json!("3d")]);
}

#[test]
fn seed_config_map_counts_its_keys_as_an_integer() {
    let cm = json!({"metadata": {"name": "nginx-proxy-config", "creationTimestamp": ago(2)},
                    "data": {"default.conf": "server {}\n"}, "binaryData": {"logo.png": "iVBO"}});
    assert_eq!(config_map_row(&cm, now()), vec![json!("nginx-proxy-config"), json!(2), json!("2s")]);
    assert_eq!(config_map_columns()[1].type_, "string");
}

#[test]
fn seed_secret_prints_type_and_key_count() {
    let stored = json!({"metadata": {"name": "db-credentials", "creationTimestamp": ago(7)},
                        "type": "Opaque", "data": {"url": "cG9zdGdyZXM6Ly8="}});
    assert_eq!(secret_row(&stored, now()), vec![json!("db-credentials"), json!("Opaque"), json!(1), json!("7s")]);
    // As submitted, before stringData is folded into data.
    let submitted = json!({"metadata": {"name": "db-credentials"}, "type": "Opaque",
                           "data": {"url": "eA=="}, "stringData": {"url": "x", "user": "app"}});
    assert_eq!(secret_row(&submitted, now())[2], json!(2));
}

#[test]
fn cluster_ip_service_prints_ports_and_no_external_ip() {
    let svc = json!({"metadata": {"name": "kubernetes", "creationTimestamp": ago(600)},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
    assert_eq!(
        service_row(&svc, now()),
        vec![
            json!("kubernetes"),
            json!("ClusterIP"),
            json!("10.96.0.1"),
            json!("<none>"),
            json!("443/TCP"),
            json!("10m"),
            json!("<none>"),
        ]
    );
}

#[test]
fn node_port_service_shows_node_ports_and_selector() {
    let svc = json!({"metadata": {"name": "web"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.12.4", "selector": {"app": "nginx", "tier": "fe"},
                 "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                           {"port": 53, "nodePort": 30053, "protocol": "UDP"}]}});
    let cells = service_row(&svc, now());
    assert_eq!(cells[4], json!("80:30080/TCP,53:30053/UDP"));
    assert_eq!(cells[6], json!("app=nginx,tier=fe"));
}

#[test]
fn load_balancer_service_is_pending_until_it_has_ingress() {
    let mut svc = json!({"metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20", "ports": [{"port": 80, "protocol": "TCP"}]}});
    assert_eq!(service_row(&svc, now())[3], json!("<pending>"));
    svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}]}});
    svc["spec"]["externalIPs"] = json!(["198.51.100.1"]);
    assert_eq!(service_row(&svc, now())[3], json!("203.0.113.9,lb.example.com,198.51.100.1"));
}

#[test]
fn headless_and_external_name_services() {
    let headless = json!({"metadata": {"name": "db"}, "spec": {"type": "ClusterIP", "clusterIP": "None"}});
    let cells = service_row(&headless, now());
    assert_eq!(cells[2..5], [json!("None"), json!("<none>"), json!("<none>")]);
    let ext = json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.com"}});
    let cells = service_row(&ext, now());
    assert_eq!(cells[2..4], [json!("<none>"), json!("example.com")]);
}

#[test]
fn endpoints_list_three_addresses_then_count_the_rest() {
    let ep = json!({"metadata": {"name": "web"}, "subsets": [
        {"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}], "ports": [{"port": 80}, {"port": 443}]}
    ]});
    assert_eq!(endpoints_row(&ep, now())[1], json!("10.244.0.5:80,10.244.0.6:80,10.244.0.5:443 + 1 more..."));
    let none = json!({"metadata": {"name": "empty"}});
    assert_eq!(endpoints_row(&none, now())[1], json!("<none>"));
    let v6 =
        json!({"metadata": {"name": "v6"}, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
    assert_eq!(endpoints_row(&v6, now())[1], json!("[fd00::1]:80"));
}

#[test]
fn service_account_counts_secrets_as_an_integer() {
    let sa = json!({"metadata": {"name": "default", "creationTimestamp": ago(60)}});
    assert_eq!(service_account_row(&sa, now()), vec![json!("default"), json!(0), json!("60s")]);
}

#[test]
fn ready_node_prints_roles_version_and_wide_info() {
    let node = json!({
        "metadata": {"name": "skiff-node", "creationTimestamp": ago(7200),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "skiff-node"}},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "skiff-node"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "skiff://0.1.0"}
        }
    });
    assert_eq!(
        node_row(&node, now()),
        vec![
            json!("skiff-node"),
            json!("Ready"),
            json!("control-plane"),
            json!("120m"),
            json!("v1.32.0"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 12 (bookworm)"),
            json!("6.1.0-18-amd64"),
            json!("skiff://0.1.0"),
        ]
    );
}

#[test]
fn cordoned_not_ready_node_and_unknown_node() {
    let node = json!({"metadata": {"name": "n", "labels": {"kubernetes.io/role": "worker"}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    let cells = node_row(&node, now());
    assert_eq!(cells[1..3], [json!("NotReady,SchedulingDisabled"), json!("worker")]);
    let bare = node_row(&json!({"metadata": {"name": "n"}}), now());
    assert_eq!(bare[1..3], [json!("Unknown"), json!("<none>")]);
    assert_eq!(bare[7..], [json!("<unknown>"), json!("<unknown>"), json!("<unknown>")]);
}

#[test]
fn bound_persistent_volume_prints_claim_and_canonical_capacity() {
    let pv = json!({"metadata": {"name": "pv0001", "creationTimestamp": ago(30)},
        "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual",
                 "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    assert_eq!(
        persistent_volume_row(&pv, now()),
        vec![
            json!("pv0001"),
            json!("1Gi"),
            json!("RWO"),
            json!("Retain"),
            json!("Bound"),
            json!("default/data"),
            json!("manual"),
            json!("<unset>"),
            json!(""),
            json!("30s"),
            json!("Filesystem"),
        ]
    );
}

#[test]
fn pending_claim_hides_capacity_until_bound() {
    let mut pvc = json!({"metadata": {"name": "data", "creationTimestamp": ago(5)},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "standard"},
        "status": {"phase": "Pending"}});
    assert_eq!(
        persistent_volume_claim_row(&pvc, now()),
        vec![
            json!("data"),
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!("standard"),
            json!("<unset>"),
            json!("5s"),
            json!("<unset>"),
        ]
    );
    pvc["spec"]["volumeName"] = json!("pv0001");
    pvc["status"] =
        json!({"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"]});
    pvc["metadata"]["deletionTimestamp"] = json!(ago(0));
    let cells = persistent_volume_claim_row(&pvc, now());
    assert_eq!(cells[1..5], [json!("Terminating"), json!("pv0001"), json!("2Gi"), json!("RWO,ROX")]);
}

#[test]
fn beta_annotation_overrides_storage_class_name() {
    let pvc = json!({"metadata": {"name": "d", "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
                     "spec": {"storageClassName": "new"}});
    assert_eq!(persistent_volume_claim_row(&pvc, now())[5], json!("old"));
}

#[test]
fn replication_controller_and_pod_template() {
    let rc = json!({"metadata": {"name": "rc"}, "spec": {"replicas": 2, "selector": {"app": "x"},
        "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}, "status": {"replicas": 2, "readyReplicas": 2}});
    assert_eq!(
        replication_controller_row(&rc, now()),
        vec![json!("rc"), json!(2), json!(2), json!(2), json!("<unknown>"), json!("c"), json!("i"), json!("app=x")]
    );
    let pt = json!({"metadata": {"name": "pt"}, "template": {"metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}});
    assert_eq!(pod_template_row(&pt), vec![json!("pt"), json!("c"), json!("i"), json!("a=b")]);
}

#[test]
fn resource_quota_splits_requests_and_limits() {
    let rq = json!({"metadata": {"name": "q"}, "status": {
        "hard": {"pods": "10", "limits.memory": "2Gi", "requests.cpu": "1"},
        "used": {"pods": "3", "limits.memory": "512Mi"}}});
    let cells = resource_quota_row(&rq, now());
    assert_eq!(cells[1..3], [json!("pods: 3/10, requests.cpu: 0/1"), json!("limits.memory: 512Mi/2Gi")]);
}

#[test]
fn component_status_reads_the_healthy_condition() {
    let cs =
        json!({"metadata": {"name": "etcd-0"}, "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]});
    assert_eq!(component_status_row(&cs), vec![json!("etcd-0"), json!("Healthy"), json!("ok"), json!("")]);
}
