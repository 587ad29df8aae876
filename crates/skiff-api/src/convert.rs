//! Conversion between versions that share storage. `events.k8s.io/v1` Events are stored as `core/v1` Events (as
//! upstream does), so both APIs see the same objects; the field mapping is upstream's
//! `pkg/apis/events/v1/conversion.go`.

use serde_json::{Map, Value};

/// (core/v1 field, events.k8s.io/v1 field) pairs that only change name.
const EVENT_RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn rename(obj: Value, to_events: bool, api_version: &str) -> Value {
    let Value::Object(map) = obj else { return obj };
    let mut out = Map::new();
    for (k, v) in map {
        let key = EVENT_RENAMES
            .iter()
            .find_map(|(core, ev)| match to_events {
                true if k == *core => Some(*ev),
                false if k == *ev => Some(*core),
                _ => None,
            })
            .map(String::from)
            .unwrap_or(k);
        out.insert(key, v);
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    Value::Object(out)
}

/// A stored (core/v1) object as the resource's version shows it.
pub fn from_storage(group: &str, kind: &str, obj: Value) -> Value {
    match (group, kind) {
        ("events.k8s.io", "Event") => rename(obj, true, "events.k8s.io/v1"),
        _ => obj,
    }
}

/// An object of the resource's version in its stored (core/v1) form.
pub fn to_storage(group: &str, kind: &str, obj: Value) -> Value {
    match (group, kind) {
        ("events.k8s.io", "Event") => rename(obj, false, "v1"),
        _ => obj,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_versions() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"name": "p"},
            "message": "hi", "reason": "Started", "count": 2, "reportingComponent": "kubelet"});
        let ev = from_storage("events.k8s.io", "Event", core.clone());
        assert_eq!(ev["regarding"]["name"], "p");
        assert_eq!(ev["note"], "hi");
        assert_eq!(ev["deprecatedCount"], 2);
        assert_eq!(ev["reportingController"], "kubelet");
        assert_eq!(to_storage("events.k8s.io", "Event", ev), core);
    }
}
