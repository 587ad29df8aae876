//! Round trips: bodies encoded with the k8s-pb prost types (setting every non-pointer field, as Go's marshaller
//! does) decode to the JSON upstream would produce.

use super::*;
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::json;
use std::collections::BTreeMap;

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let u = Unknown {
        type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [MAGIC, &u.encode_to_vec()].concat()
}

fn s(v: &str) -> Option<String> {
    Some(v.into())
}

/// ObjectMeta as Go writes it for a new object: every non-pointer field, mostly zero.
fn go_meta(name: &str, namespace: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(namespace),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    }
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn decode_ok(body: &[u8], group: &str, version: &str, kind: &str) -> Value {
    decode(body, group, version, kind).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

#[test]
fn configmap_with_binary_data() {
    let cm = core::ConfigMap {
        metadata: Some(meta::ObjectMeta { labels: string_map(&[("app", "x")]), ..go_meta("x", "") }),
        immutable: None,
        data: string_map(&[("a", "b"), ("c", "")]),
        binary_data: [("bin".to_string(), vec![0u8, 1, 2, 255])].into_iter().collect(),
    };
    let v = decode_ok(&envelope("v1", "ConfigMap", cm.encode_to_vec()), "", "v1", "ConfigMap");
    assert_eq!(
        v,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "creationTimestamp": null, "labels": {"app": "x"}},
            "data": {"a": "b", "c": ""},
            "binaryData": {"bin": "AAEC/w=="},
        })
    );
}

#[test]
fn secret_data_bytes_and_pointer_bool() {
    let secret = core::Secret {
        metadata: Some(go_meta("s", "default")),
        immutable: Some(false), // *bool the client set: kept
        data: [("password".to_string(), b"hunter2".to_vec()), ("empty".to_string(), vec![])].into_iter().collect(),
        string_data: BTreeMap::new(),
        r#type: s("Opaque"),
    };
    let v = decode_ok(&envelope("v1", "Secret", secret.encode_to_vec()), "", "v1", "Secret");
    assert_eq!(
        v,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "default", "creationTimestamp": null},
            "immutable": false,
            "data": {"empty": "", "password": "aHVudGVyMg=="},
            "type": "Opaque",
        })
    );
}

fn go_container(name: &str, image: &str) -> core::Container {
    core::Container {
        name: s(name),
        image: s(image),
        working_dir: s(""),
        resources: Some(core::ResourceRequirements::default()),
        termination_message_path: s(""),
        image_pull_policy: s(""),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
        termination_message_policy: s(""),
        ..Default::default()
    }
}

fn go_pod_spec(containers: Vec<core::Container>) -> core::PodSpec {
    core::PodSpec {
        containers,
        restart_policy: s(""),
        dns_policy: s(""),
        service_account_name: s(""),
        service_account: s(""),
        node_name: s(""),
        host_network: Some(false),
        host_pid: Some(false),
        host_ipc: Some(false),
        hostname: s(""),
        subdomain: s(""),
        scheduler_name: s(""),
        priority_class_name: s(""),
        ..Default::default()
    }
}

#[test]
fn deployment_replicas_zero_and_intorstring() {
    let d = apps::Deployment {
        metadata: Some(meta::ObjectMeta { labels: string_map(&[("app", "web")]), ..go_meta("web", "") }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector { match_labels: string_map(&[("app", "web")]), ..Default::default() }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta { labels: string_map(&[("app", "web")]), ..go_meta("", "") }),
                spec: Some(go_pod_spec(vec![go_container("nginx", "nginx")])),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString { r#type: Some(0), int_val: Some(1), str_val: s("") }),
                    max_surge: Some(IntOrString { r#type: Some(1), int_val: Some(0), str_val: s("25%") }),
                }),
            }),
            min_ready_seconds: Some(0),
            paused: Some(false),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            updated_replicas: Some(0),
            ready_replicas: Some(0),
            available_replicas: Some(0),
            unavailable_replicas: Some(0),
            ..Default::default()
        }),
    };
    let v = decode_ok(&envelope("apps/v1", "Deployment", d.encode_to_vec()), "apps", "v1", "Deployment");
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]},
                },
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
            },
            "status": {},
        })
    );
}

#[test]
fn pod_resources_ports_env_timestamps() {
    let mut c = go_container("app", "busybox");
    c.resources = Some(core::ResourceRequirements {
        limits: [
            ("cpu".to_string(), Quantity { string: s("500m") }),
            ("memory".to_string(), Quantity { string: s("128Mi") }),
        ]
        .into_iter()
        .collect(),
        requests: [("cpu".to_string(), Quantity { string: s("1") })].into_iter().collect(),
        claims: vec![],
    });
    c.ports = vec![core::ContainerPort {
        name: s(""),
        host_port: Some(0),
        container_port: Some(80),
        protocol: s("TCP"),
        host_ip: s(""),
    }];
    c.env = vec![core::EnvVar {
        name: s("PASSWORD"),
        value: s(""),
        value_from: Some(core::EnvVarSource {
            secret_key_ref: Some(core::SecretKeySelector {
                local_object_reference: Some(core::LocalObjectReference { name: s("creds") }),
                key: s("pw"),
                optional: None,
            }),
            ..Default::default()
        }),
    }];
    c.command = vec!["sh".into(), "-c".into(), "".into()];
    let mut spec = go_pod_spec(vec![c]);
    spec.termination_grace_period_seconds = Some(0); // *int64: kept
    spec.security_context = Some(core::PodSecurityContext { supplemental_groups: vec![1, 2], ..Default::default() });
    spec.volumes = vec![core::Volume {
        name: s("data"),
        volume_source: Some(core::VolumeSource {
            empty_dir: Some(core::EmptyDirVolumeSource {
                medium: s(""),
                size_limit: Some(Quantity { string: s("1Gi") }),
            }),
            ..Default::default()
        }),
    }];
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            creation_timestamp: Some(meta::Time { seconds: Some(1_700_000_000), nanos: Some(123) }),
            deletion_timestamp: Some(meta::Time { seconds: Some(0), nanos: Some(0) }),
            deletion_grace_period_seconds: Some(30),
            ..go_meta("p", "ns")
        }),
        spec: Some(spec),
        status: Some(core::PodStatus { phase: s(""), ..Default::default() }),
    };
    let v = decode_ok(&envelope("v1", "Pod", pod.encode_to_vec()), "", "v1", "Pod");
    assert_eq!(
        v,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p",
                "namespace": "ns",
                "creationTimestamp": "2023-11-14T22:13:20Z",
                "deletionTimestamp": "1970-01-01T00:00:00Z",
                "deletionGracePeriodSeconds": 30,
            },
            "spec": {
                "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
                "containers": [{
                    "name": "app",
                    "image": "busybox",
                    "command": ["sh", "-c", ""],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pw"}}}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "1"}},
                }],
                "terminationGracePeriodSeconds": 0,
                "securityContext": {"supplementalGroups": [1, 2]},
            },
            "status": {},
        })
    );
}

#[test]
fn service_target_port() {
    let svc = core::Service {
        metadata: Some(go_meta("svc", "")),
        spec: Some(core::ServiceSpec {
            ports: vec![
                core::ServicePort {
                    name: s("80-8080"),
                    protocol: s("TCP"),
                    port: Some(80),
                    target_port: Some(IntOrString { r#type: Some(0), int_val: Some(8080), str_val: s("") }),
                    node_port: Some(0),
                    app_protocol: None,
                },
                core::ServicePort {
                    name: s("web"),
                    protocol: s("TCP"),
                    port: Some(443),
                    target_port: Some(IntOrString { r#type: Some(1), int_val: Some(0), str_val: s("https") }),
                    node_port: Some(0),
                    app_protocol: None,
                },
            ],
            selector: string_map(&[("app", "svc")]),
            cluster_ip: s(""),
            r#type: s("ClusterIP"),
            session_affinity: s(""),
            load_balancer_ip: s(""),
            external_name: s(""),
            external_traffic_policy: s(""),
            health_check_node_port: Some(0),
            publish_not_ready_addresses: Some(false),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus { load_balancer: Some(Default::default()), conditions: vec![] }),
    };
    let v = decode_ok(&envelope("v1", "Service", svc.encode_to_vec()), "", "v1", "Service");
    assert_eq!(
        v,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc", "creationTimestamp": null},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "web", "protocol": "TCP", "port": 443, "targetPort": "https"},
                ],
                "selector": {"app": "svc"},
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        })
    );
}

#[test]
fn noomit_scalars_absent_on_the_wire_show_as_zero() {
    // ContainerPort.containerPort and Container.name have no omitempty: Go shows them even when unset
    let pod = core::Pod {
        metadata: Some(go_meta("p", "")),
        spec: Some(core::PodSpec {
            containers: vec![core::Container { ports: vec![core::ContainerPort::default()], ..Default::default() }],
            ..Default::default()
        }),
        status: None,
    };
    let v = decode_ok(&envelope("v1", "Pod", pod.encode_to_vec()), "", "v1", "Pod");
    assert_eq!(v["spec"]["containers"], json!([{"name": "", "ports": [{"containerPort": 0}]}]));
}

#[test]
fn micro_time_duration_and_raw_extension() {
    use k8s_pb::api::events::v1 as events;
    let ev = events::Event {
        metadata: Some(go_meta("e", "default")),
        event_time: Some(meta::MicroTime { seconds: Some(1_700_000_000), nanos: Some(123_456_789) }),
        reporting_controller: s("me"),
        reporting_instance: s("me-1"),
        action: s(""),
        reason: s("Created"),
        regarding: Some(core::ObjectReference { kind: s("Pod"), name: s("p"), ..Default::default() }),
        note: s(""),
        r#type: s("Normal"),
        deprecated_source: Some(core::EventSource { component: s(""), host: s("") }),
        deprecated_first_timestamp: Some(meta::Time::default()),
        deprecated_last_timestamp: Some(meta::Time::default()),
        deprecated_count: Some(0),
        ..Default::default()
    };
    let v = decode_ok(&envelope("events.k8s.io/v1", "Event", ev.encode_to_vec()), "events.k8s.io", "v1", "Event");
    assert_eq!(v["eventTime"], json!("2023-11-14T22:13:20.123456Z"));
    assert_eq!(v["regarding"], json!({"kind": "Pod", "name": "p"}));
    assert_eq!(v["deprecatedSource"], json!({}));
    assert_eq!(v["deprecatedFirstTimestamp"], Value::Null);
    assert!(v.get("deprecatedCount").is_none() && v.get("action").is_none());

    let rev = apps::ControllerRevision {
        metadata: Some(go_meta("r", "")),
        data: Some(RawExtension { raw: Some(br#"{"spec":{"x":[1,2]}}"#.to_vec()) }),
        revision: Some(3),
    };
    let v =
        decode_ok(&envelope("apps/v1", "ControllerRevision", rev.encode_to_vec()), "apps", "v1", "ControllerRevision");
    assert_eq!(v["data"], json!({"spec": {"x": [1, 2]}}));
    assert_eq!(v["revision"], json!(3));

    for (ns, want) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (1_000_000_000, "1s"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (-1_000_000_000, "-1s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ] {
        assert_eq!(go_duration(ns), want, "{ns}");
    }
}

#[test]
fn unknown_tags_are_skipped() {
    let cm =
        core::ConfigMap { metadata: Some(go_meta("x", "")), data: string_map(&[("a", "b")]), ..Default::default() };
    let mut raw = cm.encode_to_vec();
    // tag 99 varint, tag 100 bytes, tag 101 fixed32, tag 102 fixed64, tag 103 group with a field inside
    raw.extend_from_slice(&[0x98, 0x06, 0x05]);
    raw.extend_from_slice(&[0xa2, 0x06, 0x02, b'h', b'i']);
    raw.extend_from_slice(&[0xad, 0x06, 1, 2, 3, 4]);
    raw.extend_from_slice(&[0xb1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
    raw.extend_from_slice(&[0xbb, 0x06, 0x08, 0x01, 0xbc, 0x06]);
    let v = decode_ok(&envelope("v1", "ConfigMap", raw), "", "v1", "ConfigMap");
    assert_eq!(v["data"], json!({"a": "b"}));
}

#[test]
fn packed_and_unpacked_repeated_scalars() {
    // PodSecurityContext.supplementalGroups (tag 4 of PodSecurityContext): packed [7, 300]
    let sc_packed = [0x22, 0x03, 0x07, 0xac, 0x02];
    let spec = [&[0x72, sc_packed.len() as u8][..], &sc_packed].concat(); // PodSpec.securityContext = 14
    let pod = [&[0x12, spec.len() as u8][..], &spec].concat(); // Pod.spec = 2
    let v = decode_ok(&envelope("v1", "Pod", pod), "", "v1", "Pod");
    assert_eq!(v["spec"]["securityContext"]["supplementalGroups"], json!([7, 300]));
}

#[test]
fn typemeta_defaults_and_mismatch() {
    let cm = core::ConfigMap { metadata: Some(go_meta("x", "")), ..Default::default() };
    // empty typeMeta: taken from the endpoint
    let v = decode_ok(&envelope("", "", cm.encode_to_vec()), "", "v1", "ConfigMap");
    assert_eq!((v["apiVersion"].as_str(), v["kind"].as_str()), (Some("v1"), Some("ConfigMap")));
    // another served kind in the envelope: decoded as that kind, for the usual mismatch checks
    let v = decode_ok(&envelope("v1", "Secret", cm.encode_to_vec()), "", "v1", "ConfigMap");
    assert_eq!(v["kind"], json!("Secret"));
}

#[test]
fn malformed_bodies_are_errors() {
    let cm =
        core::ConfigMap { metadata: Some(go_meta("x", "")), data: string_map(&[("a", "b")]), ..Default::default() };
    let body = envelope("v1", "ConfigMap", cm.encode_to_vec());
    assert!(decode(b"{\"kind\":\"ConfigMap\"}", "", "v1", "ConfigMap").is_err());
    assert!(decode(b"", "", "v1", "ConfigMap").is_err());
    assert!(decode(&body, "", "v1", "NoSuchKind").is_ok(), "the envelope's kind wins");
    assert!(decode(&envelope("v1", "NoSuchKind", vec![]), "", "v1", "ConfigMap").is_err());
    assert!(decode(&envelope("nope/v9", "ConfigMap", vec![]), "", "v1", "ConfigMap").is_err());
    // every truncation either errors or decodes; none panics
    for n in 0..body.len() {
        let _ = decode(&body[..n], "", "v1", "ConfigMap");
    }
    // truncations inside the raw object are errors (lengths no longer fit)
    let raw_end = body.len();
    assert!(decode(&body[..raw_end - 1], "", "v1", "ConfigMap").is_err());
    // wrong wire type for a known field
    let bad = envelope("v1", "ConfigMap", vec![0x08, 0x01]); // metadata (1) as varint
    assert!(decode(&bad, "", "v1", "ConfigMap").unwrap_err().0.contains("wrong wireType"));
    // varint overflow, tag 0, bad wire type
    assert!(decode(
        &envelope("v1", "ConfigMap", vec![0x20; 1].into_iter().chain([0xff; 11]).collect()),
        "",
        "v1",
        "ConfigMap"
    )
    .is_err());
    assert!(decode(&envelope("v1", "ConfigMap", vec![0x00, 0x01]), "", "v1", "ConfigMap").is_err());
    assert!(decode(&envelope("v1", "ConfigMap", vec![0x0f]), "", "v1", "ConfigMap").is_err());
    // random bytes never panic
    let mut x = 0x1234_5678u32;
    for _ in 0..2000 {
        let len = (x % 64) as usize;
        let mut raw = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            raw.push(x as u8);
        }
        for kind in ["Pod", "Deployment", "ConfigMap"] {
            let (api_version, group) = if kind == "Deployment" { ("apps/v1", "apps") } else { ("v1", "") };
            let _ = decode(&envelope(api_version, kind, raw.clone()), group, "v1", kind);
        }
    }
}

fn len_field(tag: u32, inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(inner.len() as u64, &mut out);
    out.extend_from_slice(inner);
    out
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // CRD.spec(2).versions(7)[0].schema(4).openAPIV3Schema(1).not(28).not(28)...
    fn crd(depth: usize) -> Vec<u8> {
        let mut props = Vec::new();
        for _ in 0..depth {
            props = len_field(28, &props);
        }
        let validation = len_field(1, &props);
        let version = len_field(4, &validation);
        let spec = len_field(7, &version);
        len_field(2, &spec)
    }
    let v = decode_ok(&envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd(3)), "", "", "");
    assert_eq!(v["spec"]["versions"][0]["schema"]["openAPIV3Schema"], json!({"not": {"not": {"not": {}}}}));
    let body = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd(1_000));
    assert!(decode(&body, "", "", "").unwrap_err().0.contains("too deeply"));
    // deeply nested groups in an unknown field
    let groups: Vec<u8> = std::iter::repeat_n([0xbb, 0x06], 5000).flatten().collect();
    assert!(decode(&envelope("v1", "ConfigMap", groups), "", "v1", "ConfigMap").is_err());
}

#[test]
fn tables_are_consistent() {
    for (i, m) in tables::MSGS.iter().enumerate() {
        assert!(m.fields.windows(2).all(|w| w[0].0 < w[1].0), "{} fields unsorted", m.name);
        for f in m.fields {
            if let Ty::M(j) = f.2 {
                assert!((j as usize) < tables::MSGS.len(), "{i}");
            }
        }
    }
    assert!(tables::KINDS.windows(2).all(|w| (w[0].0, w[0].1, w[0].2) < (w[1].0, w[1].1, w[1].2)));
    for (g, v, k) in [
        ("", "v1", "ConfigMap"),
        ("", "v1", "Secret"),
        ("", "v1", "Namespace"),
        ("", "v1", "ServiceAccount"),
        ("", "v1", "Service"),
        ("apps", "v1", "Deployment"),
        ("batch", "v1", "Job"),
        ("batch", "v1", "CronJob"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
        ("policy", "v1", "Eviction"),
        ("authentication.k8s.io", "v1", "TokenRequest"),
        ("autoscaling", "v1", "Scale"),
    ] {
        assert!(lookup(g, v, k).is_some(), "{g}/{v} {k}");
    }
}

#[test]
fn max_depth_fits_a_small_stack() {
    // the deepest accepted body decodes on a 1 MiB stack (tokio's workers have 2 MiB), even unoptimized
    fn crd(depth: usize) -> Vec<u8> {
        let mut props = Vec::new();
        for _ in 0..depth {
            props = len_field(28, &props);
        }
        len_field(2, &len_field(7, &len_field(4, &len_field(1, &props))))
    }
    let body = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd(MAX_DEPTH as usize - 6));
    let ok = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || decode(&body, "", "", "").map(|_| ()))
        .unwrap()
        .join()
        .unwrap();
    assert!(ok.is_ok(), "{ok:?}");
}
