//! Behaviour tests for validation: each builds an object, applies the defaults as the API server would,
//! validates it and compares the exact rendered messages.

use super::*;
use crate::defaults;
use crate::field::invalid_message;
use serde_json::json;

/// Splits `apiVersion` into group and version.
fn gv(obj: &Value) -> (String, String) {
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("v1");
    match av.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), av.to_string()),
    }
}

/// Defaults then validates `obj` (create), filling the namespace and uid the lead would set.
fn check(mut obj: Value) -> Vec<String> {
    let (g, v) = gv(&obj);
    let kind = obj["kind"].as_str().unwrap().to_string();
    if !matches!(kind.as_str(), "Namespace" | "Node" | "PersistentVolume") {
        obj["metadata"]["namespace"] = json!("default");
    }
    obj["metadata"]["uid"] = json!("0b9f3a52-1111-2222-3333-444455556666");
    defaults::apply(&g, &v, &kind, &mut obj);
    validate(&g, &v, &kind, &obj, None).iter().map(|e| e.to_string()).collect()
}

fn defaulted(mut obj: Value) -> Value {
    let (g, v) = gv(&obj);
    let kind = obj["kind"].as_str().unwrap().to_string();
    obj["metadata"]["namespace"] = json!("default");
    defaults::apply(&g, &v, &kind, &mut obj);
    obj
}

fn pod(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

fn nginx() -> Value {
    json!({"name": "nginx", "image": "nginx:1.24"})
}

#[test]
fn seed_manifests_validate_cleanly_after_defaulting() {
    let files = [
        include_str!("../../tests/validation/seed/01-nginx-pod.yaml"),
        include_str!("../../tests/validation/seed/02-app-with-sidecar.yaml"),
        include_str!("../../tests/validation/seed/03-frontend-backend.yaml"),
        include_str!("../../tests/validation/seed/04-web-app.yaml"),
        include_str!("../../tests/validation/seed/05-production-app.yaml"),
        include_str!("../../tests/validation/seed/06-nginx-deployment.yaml"),
    ];
    let mut count = 0;
    for f in files {
        for doc in serde_yaml::Deserializer::from_str(f) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            let errs = check(v.clone());
            assert!(errs.is_empty(), "{}: {errs:?}", v["metadata"]["name"]);
            count += 1;
        }
    }
    assert_eq!(count, 8);
}

#[test]
fn container_port_out_of_range_is_invalid() {
    let errs = check(pod(json!([{"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}])));
    assert_eq!(
        errs,
        vec!["spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]
    );
}

#[test]
fn missing_image_is_required() {
    let errs = check(pod(json!([{"name": "a"}])));
    assert_eq!(errs, vec!["spec.containers[0].image: Required value"]);
}

#[test]
fn missing_containers_is_required() {
    let errs = check(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}));
    assert_eq!(errs, vec!["spec.containers: Required value"]);
}

#[test]
fn missing_name_needs_name_or_generate_name() {
    let errs = check(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"containers": [nginx()]}}));
    assert_eq!(errs, vec!["metadata.name: Required value: name or generateName is required"]);
}

#[test]
fn uppercase_pod_name_is_not_a_subdomain() {
    let mut p = pod(json!([nginx()]));
    p["metadata"]["name"] = json!("Foo");
    let errs = check(p);
    assert_eq!(errs, vec!["metadata.name: Invalid value: \"Foo\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]);
}

#[test]
fn invalid_label_value_is_reported_on_the_labels_path() {
    let mut p = pod(json!([nginx()]));
    p["metadata"]["labels"] = json!({"app": "has space"});
    let errs = check(p);
    assert_eq!(errs, vec!["metadata.labels: Invalid value: \"has space\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]);
}

#[test]
fn duplicate_container_name_across_init_and_regular() {
    let mut p = pod(json!([nginx()]));
    p["spec"]["initContainers"] = json!([{"name": "nginx", "image": "busybox"}]);
    assert_eq!(check(p), vec!["spec.initContainers[0].name: Duplicate value: \"nginx\""]);
}

#[test]
fn duplicate_env_names_are_allowed() {
    let p =
        pod(json!([{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}]));
    assert!(check(p).is_empty());
}

#[test]
fn env_value_from_without_source_is_invalid() {
    let p = pod(json!([{"name": "a", "image": "x", "env": [{"name": "A", "valueFrom": {}}]}]));
    assert_eq!(check(p), vec!["spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"]);
}

#[test]
fn env_field_ref_path_must_be_supported() {
    let p = pod(
        json!([{"name": "a", "image": "x", "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}]}]),
    );
    assert_eq!(check(p), vec!["spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"metadata.labels\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\""]);
}

#[test]
fn volume_mount_must_reference_a_volume() {
    let p = pod(json!([{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]));
    assert_eq!(check(p), vec!["spec.containers[0].volumeMounts[0].name: Not found: \"data\""]);
}

#[test]
fn volume_with_two_sources_is_forbidden() {
    let mut p = pod(json!([nginx()]));
    p["spec"]["volumes"] = json!([{"name": "v", "emptyDir": {}, "configMap": {"name": "c"}}]);
    assert_eq!(check(p), vec!["spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type"]);
}

#[test]
fn duplicate_mount_path_must_be_unique() {
    let mut p = pod(
        json!([{"name": "a", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/d"}, {"name": "v", "mountPath": "/d"}]}]),
    );
    p["spec"]["volumes"] = json!([{"name": "v", "emptyDir": {}}]);
    assert_eq!(check(p), vec!["spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique"]);
}

#[test]
fn unsupported_restart_policy() {
    let mut p = pod(json!([nginx()]));
    p["spec"]["restartPolicy"] = json!("Sometimes");
    assert_eq!(check(p), vec!["spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""]);
}

#[test]
fn requests_above_limits_are_invalid() {
    let p =
        pod(json!([{"name": "a", "image": "x", "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "500m"}}}]));
    assert_eq!(check(p), vec!["spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m"]);
}

#[test]
fn negative_quantity_is_invalid() {
    let p = pod(json!([{"name": "a", "image": "x", "resources": {"limits": {"memory": "-1Gi"}}}]));
    let errs = check(p);
    assert_eq!(
        errs[0],
        "spec.containers[0].resources.limits[memory]: Invalid value: \"-1Gi\": must be greater than or equal to 0"
    );
}

#[test]
fn liveness_success_threshold_must_be_one() {
    let p =
        pod(json!([{"name": "a", "image": "x", "livenessProbe": {"tcpSocket": {"port": 80}, "successThreshold": 2}}]));
    assert_eq!(check(p), vec!["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"]);
}

#[test]
fn probe_needs_a_handler() {
    let p = pod(json!([{"name": "a", "image": "x", "readinessProbe": {"periodSeconds": 5}}]));
    assert_eq!(check(p), vec!["spec.containers[0].readinessProbe: Required value: must specify a handler type"]);
}

#[test]
fn init_container_probes_need_restart_policy_always() {
    let mut p = pod(json!([nginx()]));
    p["spec"]["initContainers"] =
        json!([{"name": "i", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}}}]);
    assert_eq!(check(p), vec!["spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"]);
    let mut p = pod(json!([nginx()]));
    p["spec"]["initContainers"] = json!([{"name": "i", "image": "x", "restartPolicy": "Always", "readinessProbe": {"exec": {"command": ["true"]}}}]);
    assert!(check(p).is_empty());
}

#[test]
fn run_as_user_must_be_non_negative() {
    let mut p = pod(json!([nginx()]));
    p["spec"]["securityContext"] = json!({"runAsUser": -1});
    assert_eq!(
        check(p),
        vec!["spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive"]
    );
}

#[test]
fn toleration_with_empty_key_needs_exists() {
    let mut p = pod(json!([nginx()]));
    p["spec"]["tolerations"] = json!([{"operator": "Equal", "value": "x"}]);
    assert_eq!(check(p), vec!["spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""]);
}

#[test]
fn pod_update_of_other_fields_is_forbidden() {
    let old = defaulted(pod(json!([nginx()])));
    let mut old = old;
    old["metadata"]["resourceVersion"] = json!("1");
    let mut new = old.clone();
    new["spec"]["hostname"] = json!("changed");
    let errs = validate("", "v1", "Pod", &new, Some(&old));
    assert_eq!(errs.len(), 1);
    let msg = errs[0].to_string();
    assert!(msg.starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"), "{msg}");
    let mut img = old.clone();
    img["spec"]["containers"][0]["image"] = json!("nginx:1.25");
    assert!(validate("", "v1", "Pod", &img, Some(&old)).is_empty());
}

#[test]
fn pod_update_may_not_add_containers() {
    let mut old = defaulted(pod(json!([nginx()])));
    old["metadata"]["resourceVersion"] = json!("1");
    let mut new = old.clone();
    new["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "b", "image": "x", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}));
    let errs: Vec<String> = validate("", "v1", "Pod", &new, Some(&old)).iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]);
}

fn deployment(selector: Value, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": selector, "template": {"metadata": {"labels": labels}, "spec": {"containers": [nginx()]}}}})
}

#[test]
fn deployment_without_selector_reports_both_errors() {
    let mut d = deployment(json!(null), json!({"app": "nginx"}));
    d["spec"].as_object_mut().unwrap().remove("selector");
    let errs = check(d);
    assert_eq!(
        errs,
        vec![
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"nginx\"}: `selector` does not match template `labels`",
        ]
    );
}

#[test]
fn deployment_selector_must_match_template() {
    let errs = check(deployment(json!({"matchLabels": {"app": "x"}}), json!({"app": "y"})));
    assert_eq!(errs, vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`"]);
}

#[test]
fn deployment_replicas_must_be_non_negative() {
    let mut d = deployment(json!({"matchLabels": {"app": "x"}}), json!({"app": "x"}));
    d["spec"]["replicas"] = json!(-1);
    assert_eq!(check(d), vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]);
}

#[test]
fn deployment_template_restart_policy_must_be_always() {
    let mut d = deployment(json!({"matchLabels": {"app": "x"}}), json!({"app": "x"}));
    d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert_eq!(
        check(d),
        vec!["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""]
    );
}

#[test]
fn deployment_selector_is_immutable() {
    let mut old = defaulted(deployment(json!({"matchLabels": {"app": "x"}}), json!({"app": "x", "v": "1"})));
    old["metadata"]["resourceVersion"] = json!("1");
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "x", "v": "1"}});
    let errs: Vec<String> =
        validate("apps", "v1", "Deployment", &new, Some(&old)).iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\", \"v\":\"1\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]);
}

#[test]
fn stateful_set_and_daemon_set_defaults_validate() {
    let ss = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
        "spec": {"serviceName": "s", "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [nginx()]}}}});
    assert!(check(ss).is_empty());
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "s"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [nginx()]}}}});
    assert!(check(ds).is_empty());
}

#[test]
fn job_template_restart_policy_always_is_unsupported() {
    let j = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}});
    assert_eq!(check(j), vec!["spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""]);
    let j = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}});
    assert!(check(j).is_empty());
}

#[test]
fn cron_job_schedule_must_have_five_fields() {
    let c = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
        "spec": {"schedule": "* * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [nginx()]}}}}}});
    assert_eq!(check(c), vec!["spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]"]);
}

#[test]
fn service_port_out_of_range_and_defaults() {
    let s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    assert!(check(s).is_empty());
    let s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 0, "targetPort": 80}]}});
    assert_eq!(check(s), vec!["spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"]);
}

#[test]
fn service_name_must_be_dns1035() {
    let s =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}});
    assert_eq!(check(s), vec!["metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]);
}

#[test]
fn service_duplicate_ports_render_go_struct() {
    let s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}});
    assert_eq!(check(s), vec!["spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"]);
}

#[test]
fn config_map_key_must_be_valid() {
    let c = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"bad key": "v"}});
    assert_eq!(check(c), vec!["data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]);
}

#[test]
fn namespace_name_must_be_a_label() {
    let n = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}});
    assert_eq!(check(n), vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]);
}

#[test]
fn namespaced_object_without_namespace_is_required() {
    let c = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let errs: Vec<String> = validate("", "v1", "ConfigMap", &c, None).iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, vec!["metadata.namespace: Required value"]);
}

#[test]
fn aggregate_message_lists_all_errors() {
    let errs = validate("", "v1", "Pod", &defaulted(pod(json!([{"name": "A"}]))), None);
    assert_eq!(
        invalid_message("Pod", "p", &errs),
        "Pod \"p\" is invalid: [spec.containers[0].name: Invalid value: \"A\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'), spec.containers[0].image: Required value]"
    );
}

#[test]
fn unknown_kinds_get_metadata_validation_only() {
    let o = json!({"metadata": {"name": "Bad_Name", "namespace": "ns"}, "spec": {"anything": 1}});
    let errs = validate("example.com", "v1", "Widget", &o, None);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].to_string().starts_with("metadata.name: Invalid value: \"Bad_Name\""));
}
