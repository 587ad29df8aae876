//! The event printer (`printEvent`), shared by core/v1 and events.k8s.io/v1 Events.
//!
//! Upstream stores both API versions as one internal Event, so one printer serves both; events.k8s.io/v1 objects
//! are read through the field names conversion maps onto the internal ones (`regarding` is `involvedObject`,
//! `note` is `message`, `deprecatedCount` is `count`, ...).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::human::since;
use super::{col, docs, json, name_col, wide, Column};

pub(super) fn columns() -> Vec<Column> {
    vec![
        col("Last Seen", "string", docs::EVENT_LAST_TIMESTAMP),
        col("Type", "string", docs::EVENT_TYPE),
        col("Reason", "string", docs::EVENT_REASON),
        col("Object", "string", docs::EVENT_INVOLVED_OBJECT),
        wide(col("Subobject", "string", docs::OBJECT_REFERENCE_FIELD_PATH)),
        wide(col("Source", "string", docs::EVENT_SOURCE)),
        col("Message", "string", docs::EVENT_MESSAGE),
        wide(col("First Seen", "string", docs::EVENT_FIRST_TIMESTAMP)),
        wide(col("Count", "string", docs::EVENT_COUNT)),
        wide(name_col()),
    ]
}

/// The internal Event fields the printer reads, borrowed from either API version's JSON.
struct EventView<'a> {
    name: &'a str,
    first_timestamp: Option<DateTime<Utc>>,
    last_timestamp: Option<DateTime<Utc>>,
    event_time: Option<DateTime<Utc>>,
    count: i64,
    series: Option<(i64, Option<DateTime<Utc>>)>,
    object: &'a Value,
    event_type: &'a str,
    reason: &'a str,
    message: &'a str,
    source: &'a Value,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
}

const NULL: Value = Value::Null;

fn series(obj: &Value, key: &str) -> Option<(i64, Option<DateTime<Utc>>)> {
    let s = json::get(obj, &[key]).filter(|s| s.is_object())?;
    Some((json::int(s, &["count"]), json::time(s, &["lastObservedTime"])))
}

pub(super) fn core_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    print(
        &EventView {
            name: json::name(obj),
            first_timestamp: json::time(obj, &["firstTimestamp"]),
            last_timestamp: json::time(obj, &["lastTimestamp"]),
            event_time: json::time(obj, &["eventTime"]),
            count: json::int(obj, &["count"]),
            series: series(obj, "series"),
            object: json::get(obj, &["involvedObject"]).unwrap_or(&NULL),
            event_type: json::str(obj, &["type"]),
            reason: json::str(obj, &["reason"]),
            message: json::str(obj, &["message"]),
            source: json::get(obj, &["source"]).unwrap_or(&NULL),
            reporting_controller: json::str(obj, &["reportingComponent"]),
            reporting_instance: json::str(obj, &["reportingInstance"]),
        },
        now,
    )
}

pub(super) fn events_v1_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    print(
        &EventView {
            name: json::name(obj),
            first_timestamp: json::time(obj, &["deprecatedFirstTimestamp"]),
            last_timestamp: json::time(obj, &["deprecatedLastTimestamp"]),
            event_time: json::time(obj, &["eventTime"]),
            count: json::int(obj, &["deprecatedCount"]),
            series: series(obj, "series"),
            object: json::get(obj, &["regarding"]).unwrap_or(&NULL),
            event_type: json::str(obj, &["type"]),
            reason: json::str(obj, &["reason"]),
            message: json::str(obj, &["note"]),
            source: json::get(obj, &["deprecatedSource"]).unwrap_or(&NULL),
            reporting_controller: json::str(obj, &["reportingController"]),
            reporting_instance: json::str(obj, &["reportingInstance"]),
        },
        now,
    )
}

fn print(e: &EventView<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let first = match e.first_timestamp {
        Some(t) => since(Some(t), now),
        None => since(e.event_time, now),
    };
    let mut last = match e.last_timestamp {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = e.count;
    if let Some((series_count, observed)) = e.series {
        last = since(observed, now);
        count = series_count;
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = json::str(e.object, &["kind"]).to_lowercase();
    let target = match json::str(e.object, &["name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    vec![
        last.into(),
        e.event_type.into(),
        e.reason.into(),
        target.into(),
        json::str(e.object, &["fieldPath"]).into(),
        format_source(e).into(),
        e.message.trim().into(),
        first.into(),
        count.into(),
        e.name.into(),
    ]
}

/// `formatEventSource`: component (else reportingController), then `, host` (else reportingInstance) when set.
fn format_source(e: &EventView<'_>) -> String {
    let component = match json::str(e.source, &["component"]) {
        "" => e.reporting_controller,
        c => c,
    };
    let host = match json::str(e.source, &["host"]) {
        "" => e.reporting_instance,
        h => h,
    };
    if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{ago, now};
    use super::*;
    use serde_json::json;

    #[test]
    fn core_event_prints_last_seen_object_and_wide_cells() {
        let ev = json!({
            "metadata": {"name": "nginx-pod.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "nginx-pod", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "type": "Normal", "message": "Container image \"nginx:1.24\" already present\n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": ago(600), "lastTimestamp": ago(65), "count": 4
        });
        assert_eq!(
            core_row(&ev, now()),
            vec![
                json!("65s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/nginx-pod"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node-1"),
                json!("Container image \"nginx:1.24\" already present"),
                json!("10m"),
                json!(4),
                json!("nginx-pod.17a"),
            ]
        );
    }

    #[test]
    fn new_style_event_falls_back_to_event_time_and_counts_one() {
        let ev = json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Node"},
            "eventTime": "2025-01-01T11:59:50.123456Z",
            "reportingComponent": "skiff-scheduler", "reportingInstance": "skiff-scheduler-host",
            "reason": "Scheduled", "type": "Normal", "message": "ok"
        });
        let cells = core_row(&ev, now());
        assert_eq!(cells[0], json!("9s"));
        assert_eq!(cells[3], json!("node"));
        assert_eq!(cells[5], json!("skiff-scheduler, skiff-scheduler-host"));
        assert_eq!(cells[7], json!("9s"));
        assert_eq!(cells[8], json!(1));
    }

    #[test]
    fn series_overrides_last_seen_and_count() {
        let ev = json!({"metadata": {"name": "e"}, "firstTimestamp": ago(4000), "lastTimestamp": ago(3000),
            "count": 2, "series": {"count": 9, "lastObservedTime": "2025-01-01T11:59:00.000000Z"}});
        let cells = core_row(&ev, now());
        assert_eq!(cells[0], json!("60s"));
        assert_eq!(cells[8], json!(9));
    }

    #[test]
    fn events_v1_event_reads_regarding_and_note() {
        let ev = json!({
            "metadata": {"name": "web.1"},
            "regarding": {"kind": "Deployment", "name": "web"},
            "note": "Scaled up replica set web-5d to 3", "reason": "ScalingReplicaSet", "type": "Normal",
            "reportingController": "deployment-controller", "reportingInstance": "",
            "eventTime": "2025-01-01T11:00:00.000000Z",
            "deprecatedFirstTimestamp": ago(7200), "deprecatedLastTimestamp": ago(120), "deprecatedCount": 3
        });
        let cells = events_v1_row(&ev, now());
        assert_eq!(cells[..4], [json!("2m"), json!("Normal"), json!("ScalingReplicaSet"), json!("deployment/web")]);
        assert_eq!(cells[5], json!("deployment-controller"));
        assert_eq!(cells[6], json!("Scaled up replica set web-5d to 3"));
        assert_eq!(cells[7..], [json!("120m"), json!(3), json!("web.1")]);
    }

    #[test]
    fn event_columns_put_details_behind_wide() {
        let cols = columns();
        let shown: Vec<_> = cols.iter().filter(|c| c.priority == 0).map(|c| c.name).collect();
        assert_eq!(shown, ["Last Seen", "Type", "Reason", "Object", "Message"]);
        assert_eq!(cols[9].format, "name");
    }

    #[test]
    fn event_without_timestamps_is_unknown() {
        let cells = core_row(&json!({"metadata": {"name": "e"}}), now());
        assert_eq!(cells[0], json!("<unknown>"));
        assert_eq!(cells[7], json!("<unknown>"));
    }
}
