//! Printers for apps/v1: deployments, replica sets, stateful sets, daemon sets and controller revisions.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::format::{container_cells, format_label_selector, format_labels, label_selector, Selector};
use super::human::since;
use super::{age_col, col, docs, json, name_col, wide, Column, CONTAINERS_DOC, IMAGES_DOC};

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    since(json::time(obj, &["metadata", "creationTimestamp"]), now).into()
}

/// `spec.replicas`, which apps/v1 defaults to 1 on write.
fn desired_replicas(obj: &Value) -> i64 {
    json::opt_int(obj, &["spec", "replicas"]).unwrap_or(1)
}

fn template_containers(obj: &Value) -> (String, String) {
    container_cells(json::arr(obj, &["spec", "template", "spec", "containers"]))
}

pub(super) fn deployment_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Ready", "string", "Number of the pod with ready state"),
        col("Up-to-date", "string", docs::DEPLOY_STATUS_UPDATED),
        col("Available", "string", docs::DEPLOY_STATUS_AVAILABLE),
        age_col(),
        wide(col("Containers", "string", CONTAINERS_DOC)),
        wide(col("Images", "string", IMAGES_DOC)),
        wide(col("Selector", "string", docs::DEPLOY_SPEC_SELECTOR)),
    ]
}

pub(super) fn deployment_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ready = json::int(obj, &["status", "readyReplicas"]);
    let (names, images) = template_containers(obj);
    // Unlike the other workloads, deployments print the raw selector string: empty rather than <none>.
    let selector = match label_selector(json::get(obj, &["spec", "selector"])) {
        Selector::Text(t) => t,
        Selector::Invalid => "<invalid>".to_string(),
    };
    vec![
        json::name(obj).into(),
        format!("{ready}/{}", desired_replicas(obj)).into(),
        json::int(obj, &["status", "updatedReplicas"]).into(),
        json::int(obj, &["status", "availableReplicas"]).into(),
        age(obj, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

pub(super) fn replica_set_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Desired", "integer", docs::RS_SPEC_REPLICAS),
        col("Current", "integer", docs::RS_STATUS_REPLICAS),
        col("Ready", "integer", docs::RS_STATUS_READY_REPLICAS),
        age_col(),
        wide(col("Containers", "string", CONTAINERS_DOC)),
        wide(col("Images", "string", IMAGES_DOC)),
        wide(col("Selector", "string", docs::RS_SPEC_SELECTOR)),
    ]
}

pub(super) fn replica_set_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        json::name(obj).into(),
        desired_replicas(obj).into(),
        json::int(obj, &["status", "replicas"]).into(),
        json::int(obj, &["status", "readyReplicas"]).into(),
        age(obj, now),
        names.into(),
        images.into(),
        format_label_selector(json::get(obj, &["spec", "selector"])).into(),
    ]
}

pub(super) fn stateful_set_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Ready", "string", "Number of the pod with ready state"),
        age_col(),
        wide(col("Containers", "string", CONTAINERS_DOC)),
        wide(col("Images", "string", IMAGES_DOC)),
    ]
}

pub(super) fn stateful_set_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ready = json::int(obj, &["status", "readyReplicas"]);
    let (names, images) = template_containers(obj);
    vec![
        json::name(obj).into(),
        format!("{ready}/{}", desired_replicas(obj)).into(),
        age(obj, now),
        names.into(),
        images.into(),
    ]
}

pub(super) fn daemon_set_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Desired", "integer", docs::DS_STATUS_DESIRED),
        col("Current", "integer", docs::DS_STATUS_CURRENT),
        col("Ready", "integer", docs::DS_STATUS_READY),
        col("Up-to-date", "integer", docs::DS_STATUS_UPDATED),
        col("Available", "integer", docs::DS_STATUS_AVAILABLE),
        col("Node Selector", "string", docs::POD_SPEC_NODE_SELECTOR),
        age_col(),
        wide(col("Containers", "string", CONTAINERS_DOC)),
        wide(col("Images", "string", IMAGES_DOC)),
        wide(col("Selector", "string", docs::DS_SPEC_SELECTOR)),
    ]
}

pub(super) fn daemon_set_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let status = |field: &str| Value::from(json::int(obj, &["status", field]));
    let (names, images) = template_containers(obj);
    let node_selector = json::string_map(obj, &["spec", "template", "spec", "nodeSelector"]);
    vec![
        json::name(obj).into(),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        format_labels(&node_selector).into(),
        age(obj, now),
        names.into(),
        images.into(),
        format_label_selector(json::get(obj, &["spec", "selector"])).into(),
    ]
}

pub(super) fn controller_revision_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Controller", "string", "Controller of the object"),
        col("Revision", "string", docs::CONTROLLER_REVISION_REVISION),
        age_col(),
    ]
}

pub(super) fn controller_revision_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let controller = json::arr(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| json::bool(r, &["controller"]))
        .map_or_else(|| "<none>".to_string(), controller_name);
    vec![json::name(obj).into(), controller.into(), json::int(obj, &["revision"]).into(), age(obj, now)]
}

/// `formatResourceName` for an owner reference: `kind.group/name` lower-cased (`statefulset.apps/web`).
fn controller_name(owner: &Value) -> String {
    let api_version = json::str(owner, &["apiVersion"]);
    // "v1" has no group; "apps/v1" has group "apps".
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    let kind = json::str(owner, &["kind"]);
    let name = json::str(owner, &["name"]);
    if group.is_empty() && kind.is_empty() {
        return name.to_string();
    }
    let group_kind = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    format!("{}/{name}", group_kind.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{ago, now};
    use super::*;
    use serde_json::json;

    /// The seed's nginx-deployment as stored after apply, with a rollout half done.
    fn nginx_deployment() -> Value {
        json!({
            "metadata": {"name": "nginx-deployment", "namespace": "default", "creationTimestamp": ago(42)},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
                "template": {"metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.24"}]}}},
            "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}
        })
    }

    #[test]
    fn seed_deployment_prints_ready_over_desired_and_integer_counts() {
        assert_eq!(
            deployment_row(&nginx_deployment(), now()),
            vec![
                json!("nginx-deployment"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("42s"),
                json!("nginx"),
                json!("nginx:1.24"),
                json!("app=nginx"),
            ]
        );
    }

    #[test]
    fn new_deployment_without_status_is_zero_ready() {
        let mut d = nginx_deployment();
        d.as_object_mut().unwrap().remove("status");
        let cells = deployment_row(&d, now());
        assert_eq!(cells[1..4], [json!("0/3"), json!(0), json!(0)]);
    }

    #[test]
    fn replica_set_prints_integer_counts_and_selector() {
        let rs = json!({
            "metadata": {"name": "nginx-deployment-5d8f", "creationTimestamp": ago(3600 * 5)},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx", "pod-template-hash": "5d8f"}},
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.24"},
                                                     {"name": "exporter", "image": "exp:0.11"}]}}},
            "status": {"replicas": 3, "readyReplicas": 1}
        });
        assert_eq!(
            replica_set_row(&rs, now()),
            vec![
                json!("nginx-deployment-5d8f"),
                json!(3),
                json!(3),
                json!(1),
                json!("5h"),
                json!("nginx,exporter"),
                json!("nginx:1.24,exp:0.11"),
                json!("app=nginx,pod-template-hash=5d8f"),
            ]
        );
    }

    #[test]
    fn stateful_set_prints_ready_over_replicas() {
        let ss = json!({"metadata": {"name": "db"}, "spec": {"replicas": 2},
                        "status": {"readyReplicas": 1}});
        assert_eq!(
            stateful_set_row(&ss, now()),
            vec![json!("db"), json!("1/2"), json!("<unknown>"), json!(""), json!("")]
        );
    }

    #[test]
    fn daemon_set_prints_counts_and_node_selector() {
        let ds = json!({"metadata": {"name": "agent", "creationTimestamp": ago(90000)},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "a", "image": "a:1"}]}}},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                       "updatedNumberScheduled": 2, "numberAvailable": 1}});
        assert_eq!(
            daemon_set_row(&ds, now()),
            vec![
                json!("agent"),
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("kubernetes.io/os=linux"),
                json!("25h"),
                json!("a"),
                json!("a:1"),
                json!("app=agent"),
            ]
        );
        let bare = json!({"metadata": {"name": "x"}});
        assert_eq!(daemon_set_row(&bare, now())[6], json!("<none>"));
    }

    #[test]
    fn controller_revision_names_its_controller_with_group() {
        let cr = json!({"metadata": {"name": "web-7d9", "creationTimestamp": ago(10),
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": "other"},
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]},
            "revision": 2});
        assert_eq!(
            controller_revision_row(&cr, now()),
            vec![json!("web-7d9"), json!("statefulset.apps/web"), json!(2), json!("10s")]
        );
        let orphan = json!({"metadata": {"name": "x"}, "revision": 1});
        assert_eq!(controller_revision_row(&orphan, now())[1], json!("<none>"));
    }
}
