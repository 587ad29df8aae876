//! Workload defaults: apps/v1 `SetDefaults_*` (Deployment, ReplicaSet, StatefulSet, DaemonSet), batch/v1
//! Job (plus the create strategy's generated selector) and CronJob, and the core ReplicationController.

use super::pod::default_pod_template;
use super::{ensure_obj, obj_mut, set_default, set_default_str};
use serde_json::{json, Map, Value};

fn spec_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    ensure_obj(obj.as_object_mut()?, "spec")
}

fn default_template(spec: &mut Map<String, Value>) {
    if let Some(t) = spec.get_mut("template") {
        default_pod_template(t);
    }
}

/// apps/v1 `SetDefaults_Deployment`.
pub(crate) fn default_deployment(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else { return };
    set_default(spec, "replicas", Value::from(1));
    if let Some(strategy) = ensure_obj(spec, "strategy") {
        set_default_str(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = ensure_obj(strategy, "rollingUpdate") {
                set_default(ru, "maxUnavailable", Value::from("25%"));
                set_default(ru, "maxSurge", Value::from("25%"));
            }
        }
    }
    set_default(spec, "revisionHistoryLimit", Value::from(10));
    set_default(spec, "progressDeadlineSeconds", Value::from(600));
    default_template(spec);
}

/// apps/v1 `SetDefaults_ReplicaSet`.
pub(crate) fn default_replica_set(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else { return };
    set_default(spec, "replicas", Value::from(1));
    default_template(spec);
}

/// apps/v1 `SetDefaults_StatefulSet` (StatefulSetAutoDeletePVC is on in 1.32).
pub(crate) fn default_stateful_set(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else { return };
    set_default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(us) = ensure_obj(spec, "updateStrategy") {
        if super::absent_or_empty(us, "type") {
            us.insert("type".into(), Value::from("RollingUpdate"));
            set_default(us, "rollingUpdate", json!({}));
        }
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = obj_mut(us, "rollingUpdate") {
                set_default(ru, "partition", Value::from(0));
            }
        }
    }
    if let Some(p) = ensure_obj(spec, "persistentVolumeClaimRetentionPolicy") {
        set_default_str(p, "whenDeleted", "Retain");
        set_default_str(p, "whenScaled", "Retain");
    }
    set_default(spec, "replicas", Value::from(1));
    set_default(spec, "revisionHistoryLimit", Value::from(10));
    default_template(spec);
    for pvc in super::each_obj_mut(spec, "volumeClaimTemplates") {
        if let Some(s) = ensure_obj(pvc, "spec") {
            set_default(s, "volumeMode", Value::from("Filesystem"));
            if let Some(r) = obj_mut(s, "resources") {
                super::default_resource_list(obj_mut(r, "requests"));
                super::default_resource_list(obj_mut(r, "limits"));
            }
        }
        if let Some(st) = ensure_obj(pvc, "status") {
            set_default_str(st, "phase", "Pending");
        }
    }
}

/// apps/v1 `SetDefaults_DaemonSet`.
pub(crate) fn default_daemon_set(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else { return };
    if let Some(us) = ensure_obj(spec, "updateStrategy") {
        set_default_str(us, "type", "RollingUpdate");
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = ensure_obj(us, "rollingUpdate") {
                set_default(ru, "maxUnavailable", Value::from(1));
                set_default(ru, "maxSurge", Value::from(0));
            }
        }
    }
    set_default(spec, "revisionHistoryLimit", Value::from(10));
    default_template(spec);
}

/// core `SetDefaults_ReplicationController`: selector and labels from the template's labels.
pub(crate) fn default_replication_controller(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    let labels = o
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .cloned();
    if let Some(labels @ Value::Object(_)) = labels {
        if let Some(spec) = ensure_obj(o, "spec") {
            if spec.get("selector").and_then(Value::as_object).map(|m| m.is_empty()).unwrap_or(true) {
                spec.insert("selector".into(), labels.clone());
            }
        }
        if let Some(md) = ensure_obj(o, "metadata") {
            if md.get("labels").and_then(Value::as_object).map(|m| m.is_empty()).unwrap_or(true) {
                md.insert("labels".into(), labels);
            }
        }
    }
    if let Some(spec) = ensure_obj(o, "spec") {
        set_default(spec, "replicas", Value::from(1));
        default_template(spec);
    }
}

/// batch/v1 `SetDefaults_Job` fields (shared with nothing else: a CronJob's job template is not defaulted).
fn default_job_spec_fields(spec: &mut Map<String, Value>) {
    if super::absent(spec, "completions") && super::absent(spec, "parallelism") {
        spec.insert("completions".into(), Value::from(1));
        spec.insert("parallelism".into(), Value::from(1));
    }
    set_default(spec, "parallelism", Value::from(1));
    if super::absent(spec, "backoffLimit") {
        let v = if super::absent(spec, "backoffLimitPerIndex") { 6 } else { i32::MAX as i64 };
        spec.insert("backoffLimit".into(), Value::from(v));
    }
    set_default(spec, "completionMode", Value::from("NonIndexed"));
    set_default(spec, "suspend", Value::from(false));
    if let Some(pfp) = obj_mut(spec, "podFailurePolicy") {
        for rule in super::each_obj_mut(pfp, "rules") {
            for pattern in super::each_obj_mut(rule, "onPodConditions") {
                set_default_str(pattern, "status", "True");
            }
        }
    }
    if super::absent(spec, "podReplacementPolicy") {
        let v = if super::absent(spec, "podFailurePolicy") { "TerminatingOrFailed" } else { "Failed" };
        spec.insert("podReplacementPolicy".into(), Value::from(v));
    }
}

/// Job: declarative defaults, the strategy's generated selector and template labels (when
/// `manualSelector` is not true and the uid is known), then metadata labels from the template.
pub(crate) fn default_job(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    let name = o.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
    let uid = o.get("metadata").and_then(|m| m.get("uid")).and_then(Value::as_str).unwrap_or("").to_string();
    let Some(spec) = ensure_obj(o, "spec") else {
        return;
    };
    default_job_spec_fields(spec);
    default_template(spec);
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && !uid.is_empty() {
        if let Some(labels) = spec
            .get_mut("template")
            .and_then(Value::as_object_mut)
            .and_then(|t| ensure_obj(t, "metadata"))
            .and_then(|m| ensure_obj(m, "labels"))
        {
            for (k, v) in [
                ("job-name", &name),
                ("batch.kubernetes.io/job-name", &name),
                ("controller-uid", &uid),
                ("batch.kubernetes.io/controller-uid", &uid),
            ] {
                if !labels.contains_key(k) {
                    labels.insert(k.into(), Value::from(v.as_str()));
                }
            }
        }
        if let Some(ml) = ensure_obj(spec, "selector").and_then(|s| ensure_obj(s, "matchLabels")) {
            if !ml.contains_key("batch.kubernetes.io/controller-uid") {
                ml.insert("batch.kubernetes.io/controller-uid".into(), Value::from(uid.as_str()));
            }
        }
    }
    let tpl_labels = spec.get("template").and_then(|t| t.get("metadata")).and_then(|m| m.get("labels")).cloned();
    if let (Some(l @ Value::Object(_)), Some(md)) = (tpl_labels, ensure_obj(o, "metadata")) {
        if md.get("labels").and_then(Value::as_object).map(|m| m.is_empty()).unwrap_or(true) {
            md.insert("labels".into(), l);
        }
    }
}

/// batch/v1 `SetDefaults_CronJob` and the job template's pod template.
pub(crate) fn default_cron_job(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else { return };
    set_default_str(spec, "concurrencyPolicy", "Allow");
    set_default(spec, "suspend", Value::from(false));
    set_default(spec, "successfulJobsHistoryLimit", Value::from(3));
    set_default(spec, "failedJobsHistoryLimit", Value::from(1));
    if let Some(js) = obj_mut(spec, "jobTemplate").and_then(|jt| obj_mut(jt, "spec")) {
        default_template(js);
    }
}
