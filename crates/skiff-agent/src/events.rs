//! Events about pods, as the kubelet's recorder makes them: `source.component = kubelet`, the node as host, the
//! container as `involvedObject.fieldPath`, and repeated events folded into one with a growing `count` (the
//! client-go correlator's behaviour), so a crash-looping container does not flood the namespace.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};
use skiff_client::{q, Client};

use crate::now_rfc3339;

/// What an event is about: the pod, or one of its containers.
#[derive(Debug, Clone)]
pub struct Subject {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    /// `spec.containers{web}`, `spec.initContainers{setup}`, or empty for the pod itself.
    pub field_path: String,
}

/// What makes two events the same: (object uid, field path, type, reason, message).
type EventKey = (String, String, String, String, String);

pub struct Recorder {
    client: Client,
    node: String,
    /// event key → (event name, count)
    seen: Mutex<HashMap<EventKey, (String, u64)>>,
}

impl Recorder {
    pub fn new(client: Client, node: String) -> Recorder {
        Recorder { client, node, seen: Mutex::new(HashMap::new()) }
    }

    pub async fn normal(&self, s: &Subject, reason: &str, message: &str) {
        self.record(s, "Normal", reason, message).await
    }

    pub async fn warning(&self, s: &Subject, reason: &str, message: &str) {
        self.record(s, "Warning", reason, message).await
    }

    /// Records the event, or bumps the count of the same earlier one. Best effort, as upstream's recorder.
    pub async fn record(&self, s: &Subject, kind: &str, reason: &str, message: &str) {
        let key = (s.uid.clone(), s.field_path.clone(), kind.to_string(), reason.to_string(), message.to_string());
        let existing = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let entry = seen.get_mut(&key).map(|(name, count)| {
                *count += 1;
                (name.clone(), *count)
            });
            entry
        };
        let events = format!("/api/v1/namespaces/{}/events", q(&s.namespace));
        let now = now_rfc3339();
        if let Some((name, count)) = existing {
            let patch = json!({"count": count, "lastTimestamp": now});
            match self.client.merge_patch(&format!("{events}/{}", q(&name)), &patch).await {
                Ok(_) => return,
                Err(e) => tracing::debug!(error = %e, "updating an event; creating a new one"),
            }
        }
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let name = format!("{}.{:x}", s.name, nanos);
        let mut involved = json!({
            "apiVersion": "v1", "kind": "Pod", "namespace": s.namespace, "name": s.name, "uid": s.uid,
            "resourceVersion": s.resource_version,
        });
        if !s.field_path.is_empty() {
            involved["fieldPath"] = Value::String(s.field_path.clone());
        }
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": s.namespace},
            "involvedObject": involved,
            "reason": reason, "message": message, "type": kind,
            "source": {"component": "kubelet", "host": self.node},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": self.node,
        });
        match self.client.create(&events, &event).await {
            Ok(_) => {
                self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (name, 1));
            }
            Err(e) => tracing::debug!(error = %e, reason, "recording an event"),
        }
    }

    /// Forgets the pod's events (it is gone).
    pub fn forget(&self, uid: &str) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| k.0 != uid);
    }
}
