//! Patches as real clients send them (kubectl apply/edit/set image/label/scale, the Python client).

use super::*;
use serde_json::json;

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.24", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }
            }
        }
    })
}

fn smp(original: &Value, patch: Value) -> Result<Value, PatchError> {
    apply(PatchType::StrategicMerge, original, patch.to_string().as_bytes(), "apps", "v1", "Deployment")
}

#[test]
fn content_types_map_to_patch_types() {
    assert_eq!(PatchType::from_content_type("application/json-patch+json"), Some(PatchType::Json));
    assert_eq!(PatchType::from_content_type("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
    assert_eq!(PatchType::from_content_type("application/strategic-merge-patch+json"), Some(PatchType::StrategicMerge));
    assert_eq!(PatchType::from_content_type("application/apply-patch+yaml"), None);
    assert_eq!(PatchType::from_content_type("application/json"), None);
}

#[test]
fn kubectl_apply_second_apply_changes_image_replicas_and_drops_ports() {
    let patch = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":1}"}},
        "spec": {"replicas": 5, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.25", "name": "nginx", "ports": null}]}}}});
    let got = smp(&deployment(), patch).unwrap();
    assert_eq!(got["spec"]["replicas"], 5);
    let c = &got["spec"]["template"]["spec"]["containers"];
    assert_eq!(c[0]["image"], "nginx:1.25");
    assert!(c[0].get("ports").is_none());
    assert_eq!(c[0]["env"], json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]));
    assert_eq!(c[1]["name"], "sidecar");
    assert_eq!(got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"], "{\"new\":1}");
    assert_eq!(got["metadata"]["labels"], json!({"app": "web"}));
}

#[test]
fn kubectl_set_image_merges_container_by_name() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "busybox:2", "name": "sidecar"}]}}}});
    let got = smp(&deployment(), patch).unwrap();
    let c = &got["spec"]["template"]["spec"]["containers"];
    assert_eq!(c.as_array().unwrap().len(), 2);
    assert_eq!(c[0]["image"], "nginx:1.24");
    assert_eq!(c[1], json!({"name": "sidecar", "image": "busybox:2", "args": ["sleep", "3600"]}));
}

#[test]
fn kubectl_apply_adds_container_in_set_element_order() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init"}, {"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{"name": "init", "image": "alpine"}]}}}});
    let got = smp(&deployment(), patch).unwrap();
    let names: Vec<&str> = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["init", "nginx", "sidecar"]);
}

#[test]
fn kubectl_apply_deletes_container_with_patch_delete() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"$patch": "delete", "name": "sidecar"}]}}}});
    let got = smp(&deployment(), patch).unwrap();
    assert_eq!(got["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1);
}

#[test]
fn env_merges_by_name_and_null_deletes_fields() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx",
        "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}]}}}});
    let got = smp(&deployment(), patch).unwrap();
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}])
    );
}

#[test]
fn non_merging_primitive_list_is_replaced() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "args": ["sleep", "1"]}]}}}});
    let got = smp(&deployment(), patch).unwrap();
    assert_eq!(got["spec"]["template"]["spec"]["containers"][1]["args"], json!(["sleep", "1"]));
}

#[test]
fn deployment_strategy_retain_keys_clears_rolling_update() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}});
    let got = smp(&deployment(), patch).unwrap();
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn volumes_retain_keys_switch_volume_source() {
    let patch = json!({"spec": {"template": {"spec": {"volumes": [
        {"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"}, "name": "data"}]}}}});
    let got = smp(&deployment(), patch).unwrap();
    assert_eq!(got["spec"]["template"]["spec"]["volumes"], json!([{"name": "data", "configMap": {"name": "cfg"}}]));
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
    let pod = json!({"metadata": {"name": "p", "finalizers": ["a", "b"]}, "spec": {"containers": []}});
    let p = |patch: Value| apply(PatchType::StrategicMerge, &pod, patch.to_string().as_bytes(), "", "v1", "Pod");
    assert_eq!(
        p(json!({"metadata": {"finalizers": ["b", "c"]}})).unwrap()["metadata"]["finalizers"],
        json!(["a", "b", "c"])
    );
    assert_eq!(
        p(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})).unwrap()["metadata"]["finalizers"],
        json!(["b"])
    );
}

#[test]
fn pdb_selector_uses_replace_strategy() {
    let pdb = json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "minAvailable": 1}});
    let patch = json!({"spec": {"selector": {"matchLabels": {"c": "d"}}}});
    let got =
        apply(PatchType::StrategicMerge, &pdb, patch.to_string().as_bytes(), "policy", "v1", "PodDisruptionBudget")
            .unwrap();
    assert_eq!(got["spec"]["selector"], json!({"matchLabels": {"c": "d"}}));
}

#[test]
fn service_ports_merge_on_port() {
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}});
    let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}]}});
    let got = apply(PatchType::StrategicMerge, &svc, patch.to_string().as_bytes(), "", "v1", "Service").unwrap();
    assert_eq!(
        got["spec"]["ports"],
        json!([{"port": 80, "targetPort": "http", "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}])
    );
}

#[test]
fn raw_extension_and_unknown_fields_merge_like_json_merge_patch() {
    let rev = json!({"data": {"spec": {"a": 1, "list": [1, 2]}}, "revision": 1});
    let patch = json!({"data": {"spec": {"b": 2, "list": [3]}}, "extra": {"x": null, "y": 1}});
    let got = apply(PatchType::StrategicMerge, &rev, patch.to_string().as_bytes(), "apps", "v1", "ControllerRevision")
        .unwrap();
    assert_eq!(got, json!({"data": {"spec": {"a": 1, "list": [3], "b": 2}}, "revision": 1, "extra": {"y": 1}}));
}

#[test]
fn strategic_merge_patch_of_custom_resource_is_unsupported_media_type() {
    let err = apply(PatchType::StrategicMerge, &json!({}), b"{}", "example.com", "v1", "Widget").unwrap_err();
    assert_eq!(err.code(), 415);
    assert_eq!(
        err.status_message(),
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
}

#[test]
fn strategic_merge_patch_body_must_be_an_object() {
    let err = smp(&deployment(), json!([1])).unwrap_err();
    assert_eq!(
        err,
        PatchError::BadRequest("json: cannot unmarshal array into Go value of type map[string]interface {}".into())
    );
    assert_eq!(smp(&deployment(), Value::Null).unwrap(), deployment());
}

#[test]
fn kubectl_label_merge_patch_sets_and_removes_labels() {
    let patch = br#"{"metadata":{"labels":{"tier":"fe","app":null}}}"#;
    let got = apply(PatchType::Merge, &deployment(), patch, "apps", "v1", "Deployment").unwrap();
    assert_eq!(got["metadata"]["labels"], json!({"tier": "fe"}));
}

#[test]
fn merge_patch_replaces_lists() {
    let patch = br#"{"spec":{"template":{"spec":{"containers":[{"name":"x","image":"y"}]}}}}"#;
    let got = apply(PatchType::Merge, &deployment(), patch, "apps", "v1", "Deployment").unwrap();
    assert_eq!(got["spec"]["template"]["spec"]["containers"], json!([{"name": "x", "image": "y"}]));
}

#[test]
fn merge_patch_rejects_non_object_bodies() {
    assert_eq!(
        apply(PatchType::Merge, &deployment(), b"null", "", "", "").unwrap_err(),
        PatchError::BadRequest("Invalid JSON Patch".into())
    );
    let err = apply(PatchType::Merge, &deployment(), b"[1]", "", "", "").unwrap_err();
    assert_eq!(
        err.status_message(),
        "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert!(apply(PatchType::Merge, &deployment(), b"{", "", "", "")
        .unwrap_err()
        .to_string()
        .starts_with("error decoding patch: "));
}

#[test]
fn kubectl_scale_json_patch_replaces_replicas() {
    let patch =
        br#"[{"op":"replace","path":"/spec/replicas","value":7},{"op":"add","path":"/metadata/labels/x","value":"y"}]"#;
    let got = apply(PatchType::Json, &deployment(), patch, "apps", "v1", "Deployment").unwrap();
    assert_eq!(got["spec"]["replicas"], 7);
    assert_eq!(got["metadata"]["labels"]["x"], "y");
}

#[test]
fn json_patch_test_failure_is_unprocessable_with_generic_message() {
    let patch =
        br#"[{"op":"test","path":"/spec/replicas","value":9},{"op":"replace","path":"/spec/replicas","value":1}]"#;
    let err = apply(PatchType::Json, &deployment(), patch, "apps", "v1", "Deployment").unwrap_err();
    assert_eq!(err.code(), 422);
    assert_eq!(err.reason(), "Invalid");
    assert_eq!(err.status_message(), "the server rejected our request due to an error in our request");
    let missing = br#"[{"op":"remove","path":"/spec/nope"}]"#;
    assert_eq!(apply(PatchType::Json, &deployment(), missing, "apps", "v1", "Deployment").unwrap_err().code(), 422);
    let bad_op = br#"[{"op":"frobnicate","path":"/spec"}]"#;
    assert_eq!(apply(PatchType::Json, &deployment(), bad_op, "apps", "v1", "Deployment").unwrap_err().code(), 422);
}

#[test]
fn json_patch_body_must_be_a_list_of_operations() {
    let err = apply(PatchType::Json, &deployment(), br#"{"op":"add"}"#, "apps", "v1", "Deployment").unwrap_err();
    assert_eq!(
        err,
        PatchError::BadRequest(
            "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp".into()
        )
    );
    assert_eq!(apply(PatchType::Json, &deployment(), b"null", "apps", "v1", "Deployment").unwrap(), deployment());
}

#[test]
fn json_patch_operation_limit_is_enforced() {
    let ops: Vec<Value> = (0..10001).map(|_| json!({"op": "test", "path": "/kind", "value": "Deployment"})).collect();
    let body = serde_json::to_vec(&ops).unwrap();
    let err = apply(PatchType::Json, &deployment(), &body, "apps", "v1", "Deployment").unwrap_err();
    assert_eq!(err.code(), 413);
    assert_eq!(
        err.status_message(),
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
}

#[test]
fn patch_body_strict_errors_find_duplicates_and_unknown_op_keys() {
    let errs =
        patch_body_strict_errors(PatchType::Json, br#"[{"op":"add","op":"add","path":"/a","value":1,"extra":1}]"#);
    assert_eq!(
        patch_body_strict_texts(PatchType::Json, &errs),
        vec![r#"json patch duplicate field "[0].op""#, r#"json patch unknown field "[0].extra""#]
    );
    let errs = patch_body_strict_errors(PatchType::StrategicMerge, br#"{"spec":{"replicas":1,"replicas":2}}"#);
    assert_eq!(patch_body_strict_texts(PatchType::StrategicMerge, &errs), vec![r#"duplicate field "spec.replicas""#]);
}

#[test]
fn strict_patch_error_matches_upstream_invalid_status() {
    let patch = br#"{"spec":{"replicas":2,"bogus":1}}"#;
    let (message, cause) = strict_patch_error(
        PatchType::StrategicMerge,
        patch,
        &json!({}),
        &[r#"unknown field "spec.bogus""#.to_string()],
    );
    assert_eq!(
        message,
        r#" "" is invalid: patch: Invalid value: "map[spec:map[bogus:1 replicas:2]]": strict decoding error: unknown field "spec.bogus""#
    );
    assert_eq!(
        cause,
        r#"Invalid value: "map[spec:map[bogus:1 replicas:2]]": strict decoding error: unknown field "spec.bogus""#
    );
}

#[test]
fn strict_json_patch_error_shows_patched_document_as_go_marshals_it() {
    let patched = json!({"b": "<x&y>", "a": 1});
    let (message, _) = strict_patch_error(PatchType::Merge, b"{}", &patched, &[r#"unknown field "b""#.to_string()]);
    assert_eq!(
        message,
        r#" "" is invalid: patch: Invalid value: "{\"a\":1,\"b\":\"\\u003cx\\u0026y\\u003e\"}": strict decoding error: unknown field "b""#
    );
}
