//! Server-side Table printing: the `meta.k8s.io/v1` Table columns and row cells `kubectl get` shows.
//!
//! Upstream builds these in `pkg/printers/internalversion/printers.go` (one handler per kind, registered in
//! `AddHandlers`); kinds without a handler get the apiserver's default convertor (`rest/table.go`: NAME and
//! CREATED AT). This module reproduces both from the stored JSON object, so skiff's Tables are byte-for-byte what a
//! Kubernetes 1.32 server sends.
//!
//! Two upstream facts shape the API:
//! - the server always asks the printers for the wide form (`GenerateOptions{Wide: true}` in
//!   `pkg/printers/storage`), and kubectl hides priority-1 columns itself; so [`row`] always returns every column's
//!   cell and [`columns`] every column, with `priority` telling them apart;
//! - cells keep the Go value's JSON type, which is not always the column's declared type (a ConfigMap's DATA column is
//!   declared `string` but its cell is an integer; a CronJob's SUSPEND is declared `boolean` but prints `"False"`).
//!
//! Everything reads the object as JSON and treats missing or mistyped fields as Go's zero value, so odd input prints
//! what upstream prints for an empty object and never panics.

mod apps;
mod batch;
mod core;
mod docs;
mod events;
mod format;
mod human;
mod json;
mod other;
mod pod;
mod quantity;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use human::{human_duration, short_human_duration};

/// One `meta.k8s.io/v1` TableColumnDefinition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

/// One `meta.k8s.io/v1` TableRow, without its `object` (the caller adds that, as it depends on `includeObject`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    pub cells: Vec<Value>,
    /// Upstream `TableRowCondition`s as JSON (`type`, `status`, `reason`, `message`); only pods set any.
    pub conditions: Vec<Value>,
}

impl Column {
    /// The `TableColumnDefinition` JSON; upstream serializes every field, empty `format` and zero `priority` too.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

impl Row {
    /// The `TableRow` JSON without `object`; `conditions` is omitted when empty, as upstream's `omitempty` does.
    pub fn to_json(&self) -> Value {
        let mut row = serde_json::Map::new();
        row.insert("cells".into(), Value::Array(self.cells.clone()));
        if !self.conditions.is_empty() {
            row.insert("conditions".into(), Value::Array(self.conditions.clone()));
        }
        Value::Object(row)
    }
}

/// Which printer handles a kind. Kinds map to printers by group and kind, as upstream registers handlers by Go type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printer {
    Pod,
    PodTemplate,
    ReplicationController,
    Namespace,
    ConfigMap,
    Secret,
    Event,
    EventsV1,
    Service,
    Endpoints,
    ServiceAccount,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    ResourceQuota,
    ComponentStatus,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    ControllerRevision,
    Job,
    CronJob,
    Lease,
    EndpointSlice,
    Ingress,
    IngressClass,
    NetworkPolicy,
    RoleBinding,
    ClusterRoleBinding,
    StorageClass,
    PriorityClass,
    RuntimeClass,
    PodDisruptionBudget,
    HorizontalPodAutoscaler,
    MutatingWebhookConfiguration,
    ValidatingWebhookConfiguration,
    Default,
}

fn printer_for(group: &str, kind: &str) -> Printer {
    use Printer::*;
    match (group, kind) {
        ("", "Pod") => Pod,
        ("", "PodTemplate") => PodTemplate,
        ("", "ReplicationController") => ReplicationController,
        ("", "Namespace") => Namespace,
        ("", "ConfigMap") => ConfigMap,
        ("", "Secret") => Secret,
        ("", "Event") => Event,
        ("events.k8s.io", "Event") => EventsV1,
        ("", "Service") => Service,
        ("", "Endpoints") => Endpoints,
        ("", "ServiceAccount") => ServiceAccount,
        ("", "Node") => Node,
        ("", "PersistentVolume") => PersistentVolume,
        ("", "PersistentVolumeClaim") => PersistentVolumeClaim,
        ("", "ResourceQuota") => ResourceQuota,
        ("", "ComponentStatus") => ComponentStatus,
        ("apps", "Deployment") => Deployment,
        ("apps", "ReplicaSet") => ReplicaSet,
        ("apps", "StatefulSet") => StatefulSet,
        ("apps", "DaemonSet") => DaemonSet,
        ("apps", "ControllerRevision") => ControllerRevision,
        ("batch", "Job") => Job,
        ("batch", "CronJob") => CronJob,
        ("coordination.k8s.io", "Lease") => Lease,
        ("discovery.k8s.io", "EndpointSlice") => EndpointSlice,
        ("networking.k8s.io", "Ingress") => Ingress,
        ("networking.k8s.io", "IngressClass") => IngressClass,
        ("networking.k8s.io", "NetworkPolicy") => NetworkPolicy,
        ("rbac.authorization.k8s.io", "RoleBinding") => RoleBinding,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => ClusterRoleBinding,
        ("storage.k8s.io", "StorageClass") => StorageClass,
        ("scheduling.k8s.io", "PriorityClass") => PriorityClass,
        ("node.k8s.io", "RuntimeClass") => RuntimeClass,
        ("policy", "PodDisruptionBudget") => PodDisruptionBudget,
        ("autoscaling", "HorizontalPodAutoscaler") => HorizontalPodAutoscaler,
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => MutatingWebhookConfiguration,
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => ValidatingWebhookConfiguration,
        _ => Default,
    }
}

/// Column definitions for a kind (group `""` for core), every column including the `-o wide` ones (priority 1).
pub fn columns(group: &str, kind: &str) -> Vec<Column> {
    use Printer::*;
    match printer_for(group, kind) {
        Pod => pod::columns(),
        PodTemplate => core::pod_template_columns(),
        ReplicationController => core::replication_controller_columns(),
        Namespace => core::namespace_columns(),
        ConfigMap => core::config_map_columns(),
        Secret => core::secret_columns(),
        Event | EventsV1 => events::columns(),
        Service => core::service_columns(),
        Endpoints => core::endpoints_columns(),
        ServiceAccount => core::service_account_columns(),
        Node => core::node_columns(),
        PersistentVolume => core::persistent_volume_columns(),
        PersistentVolumeClaim => core::persistent_volume_claim_columns(),
        ResourceQuota => core::resource_quota_columns(),
        ComponentStatus => core::component_status_columns(),
        Deployment => apps::deployment_columns(),
        ReplicaSet => apps::replica_set_columns(),
        StatefulSet => apps::stateful_set_columns(),
        DaemonSet => apps::daemon_set_columns(),
        ControllerRevision => apps::controller_revision_columns(),
        Job => batch::job_columns(),
        CronJob => batch::cron_job_columns(),
        Lease => other::lease_columns(),
        EndpointSlice => other::endpoint_slice_columns(),
        Ingress => other::ingress_columns(),
        IngressClass => other::ingress_class_columns(),
        NetworkPolicy => other::network_policy_columns(),
        RoleBinding => other::role_binding_columns(false),
        ClusterRoleBinding => other::role_binding_columns(true),
        StorageClass => other::storage_class_columns(),
        PriorityClass => other::priority_class_columns(),
        RuntimeClass => other::runtime_class_columns(),
        PodDisruptionBudget => other::pod_disruption_budget_columns(),
        HorizontalPodAutoscaler => other::hpa_columns(),
        MutatingWebhookConfiguration | ValidatingWebhookConfiguration => other::webhook_columns(),
        Default => default_columns(),
    }
}

/// One object's row: a cell per column of [`columns`] for the same kind, wide ones included.
pub fn row(group: &str, kind: &str, obj: &Value, now: DateTime<Utc>) -> Row {
    use Printer::*;
    let cells = match printer_for(group, kind) {
        Pod => return pod::row(obj, now),
        PodTemplate => core::pod_template_row(obj),
        ReplicationController => core::replication_controller_row(obj, now),
        Namespace => core::namespace_row(obj, now),
        ConfigMap => core::config_map_row(obj, now),
        Secret => core::secret_row(obj, now),
        Event => events::core_row(obj, now),
        EventsV1 => events::events_v1_row(obj, now),
        Service => core::service_row(obj, now),
        Endpoints => core::endpoints_row(obj, now),
        ServiceAccount => core::service_account_row(obj, now),
        Node => core::node_row(obj, now),
        PersistentVolume => core::persistent_volume_row(obj, now),
        PersistentVolumeClaim => core::persistent_volume_claim_row(obj, now),
        ResourceQuota => core::resource_quota_row(obj, now),
        ComponentStatus => core::component_status_row(obj),
        Deployment => apps::deployment_row(obj, now),
        ReplicaSet => apps::replica_set_row(obj, now),
        StatefulSet => apps::stateful_set_row(obj, now),
        DaemonSet => apps::daemon_set_row(obj, now),
        ControllerRevision => apps::controller_revision_row(obj, now),
        Job => batch::job_row(obj, now),
        CronJob => batch::cron_job_row(obj, now),
        Lease => other::lease_row(obj, now),
        EndpointSlice => other::endpoint_slice_row(obj, now),
        Ingress => other::ingress_row(obj, now),
        IngressClass => other::ingress_class_row(obj, now),
        NetworkPolicy => other::network_policy_row(obj, now),
        RoleBinding | ClusterRoleBinding => other::role_binding_row(obj, now),
        StorageClass => other::storage_class_row(obj, now),
        PriorityClass => other::priority_class_row(obj, now),
        RuntimeClass => other::runtime_class_row(obj, now),
        PodDisruptionBudget => other::pod_disruption_budget_row(obj, now),
        HorizontalPodAutoscaler => other::hpa_row(obj, now),
        MutatingWebhookConfiguration | ValidatingWebhookConfiguration => other::webhook_row(obj, now),
        Default => default_row(obj),
    };
    Row { cells, conditions: Vec::new() }
}

/// Builds a column definition; `format` is only ever `"name"` or empty upstream.
const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column { name, type_, format: "", description, priority: 0 }
}

/// The same column, shown only with `-o wide`.
const fn wide(mut c: Column) -> Column {
    c.priority = 1;
    c
}

/// The NAME column every printer starts with (`Format: "name"` lets kubectl print `kind/name`).
const fn name_col() -> Column {
    Column { name: "Name", type_: "string", format: "name", description: docs::META_NAME, priority: 0 }
}

/// The AGE column: creationTimestamp rendered as a human duration.
const fn age_col() -> Column {
    col("Age", "string", docs::META_CREATION_TIMESTAMP)
}

/// The wide CONTAINERS/IMAGES pair workload printers share (`layoutContainerCells`).
const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";

/// `rest.DefaultTableConvertor`: NAME and CREATED AT (a `date` column holding RFC 3339 UTC).
fn default_columns() -> Vec<Column> {
    vec![name_col(), col("Created At", "date", docs::META_CREATION_TIMESTAMP)]
}

fn default_row(obj: &Value) -> Vec<Value> {
    // Go formats a zero metav1.Time as year 1 rather than omitting it.
    let created = json::time(obj, &["metadata", "creationTimestamp"])
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![json::name(obj).into(), created.into()]
}

#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, TimeZone, Utc};

    /// A fixed "now" so AGE cells are predictable.
    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap()
    }

    /// `now()` minus `secs`, as the RFC 3339 text the API stores.
    pub fn ago(secs: i64) -> String {
        (now() - chrono::Duration::seconds(secs)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_without_a_printer_get_name_and_created_at() {
        let cols = columns("rbac.authorization.k8s.io", "Role");
        let names: Vec<_> = cols.iter().map(|c| (c.name, c.type_, c.format)).collect();
        assert_eq!(names, vec![("Name", "string", "name"), ("Created At", "date", "")]);
        let obj = json!({"metadata": {"name": "reader", "creationTimestamp": "2024-03-04T05:06:07Z"}});
        assert_eq!(
            row("rbac.authorization.k8s.io", "Role", &obj, now()).cells,
            vec![json!("reader"), json!("2024-03-04T05:06:07Z")]
        );
    }

    #[test]
    fn every_printer_fills_one_cell_per_column_even_for_an_empty_object() {
        let kinds = [
            ("", "Pod"),
            ("", "PodTemplate"),
            ("", "ReplicationController"),
            ("", "Namespace"),
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("", "Service"),
            ("", "Endpoints"),
            ("", "ServiceAccount"),
            ("", "Node"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("", "ResourceQuota"),
            ("", "ComponentStatus"),
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ControllerRevision"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("coordination.k8s.io", "Lease"),
            ("discovery.k8s.io", "EndpointSlice"),
            ("networking.k8s.io", "Ingress"),
            ("networking.k8s.io", "IngressClass"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("storage.k8s.io", "StorageClass"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("node.k8s.io", "RuntimeClass"),
            ("policy", "PodDisruptionBudget"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
            ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
            ("example.com", "Widget"),
        ];
        let odd_inputs = [
            json!({}),
            json!(null),
            json!("a string"),
            json!({"metadata": 5, "spec": [], "status": "x"}),
            json!({"metadata": {"name": 7, "creationTimestamp": "yesterday", "labels": []},
                   "spec": {"containers": {}, "ports": [1, null]}, "status": {"conditions": [null]}}),
        ];
        for (group, kind) in kinds {
            let width = columns(group, kind).len();
            for obj in &odd_inputs {
                let r = row(group, kind, obj, now());
                assert_eq!(r.cells.len(), width, "{group}/{kind} on {obj}");
            }
        }
    }

    #[test]
    fn json_forms_match_upstream_field_names() {
        let c = columns("", "Pod");
        assert_eq!(c[5].to_json()["priority"], json!(1));
        assert_eq!(c[1].to_json()["format"], json!(""));
        assert_eq!(c[0].to_json()["type"], json!("string"));
        let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
        assert!(row("", "Pod", &pending, now()).to_json().get("conditions").is_none());
        let done = json!({"metadata": {"name": "p"}, "status": {"phase": "Succeeded"}});
        assert_eq!(row("", "Pod", &done, now()).to_json()["conditions"][0]["type"], json!("Completed"));
    }

    #[test]
    fn columns_have_descriptions_and_only_name_columns_have_a_format() {
        for (group, kind) in [("", "Pod"), ("", "Event"), ("apps", "Deployment"), ("", "Node")] {
            for c in columns(group, kind) {
                assert!(!c.description.is_empty(), "{kind} {}", c.name);
                assert!(c.format.is_empty() || c.format == "name");
            }
        }
    }
}
