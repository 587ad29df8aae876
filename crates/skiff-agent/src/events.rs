//! Events about pods, as the kubelet's recorder makes them: `source.component = kubelet`, the node as host, the
//! container as `involvedObject.fieldPath`, and repeated events folded into one with a growing `count` (the
//! client-go correlator's behaviour), so a crash-looping container does not flood the namespace.

use std::collections::HashMap;

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

enum Job {
    Record { subject: Subject, kind: &'static str, reason: String, message: String, at: String },
    Forget(String),
}

/// Records events without making the caller wait: one background task writes them in order (a pod start does
/// not wait for its Pulled/Created/Started events to be stored).
pub struct Recorder {
    tx: tokio::sync::mpsc::UnboundedSender<Job>,
}

impl Recorder {
    /// Must be called inside a tokio runtime (it spawns the writer).
    pub fn new(client: Client, node: String) -> Recorder {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(writer(client, node, rx));
        Recorder { tx }
    }

    pub async fn normal(&self, s: &Subject, reason: &str, message: &str) {
        self.record(s, "Normal", reason, message).await
    }

    pub async fn warning(&self, s: &Subject, reason: &str, message: &str) {
        self.record(s, "Warning", reason, message).await
    }

    /// Queues the event (or a bump of the same earlier one's count). Best effort, as upstream's recorder.
    pub async fn record(&self, s: &Subject, kind: &'static str, reason: &str, message: &str) {
        let job = Job::Record {
            subject: s.clone(),
            kind,
            reason: reason.to_string(),
            message: message.to_string(),
            at: now_rfc3339(),
        };
        let _ = self.tx.send(job);
    }

    /// Forgets the pod's events (it is gone).
    pub fn forget(&self, uid: &str) {
        let _ = self.tx.send(Job::Forget(uid.to_string()));
    }
}

async fn writer(client: Client, node: String, mut rx: tokio::sync::mpsc::UnboundedReceiver<Job>) {
    // event key → (event name, count)
    let mut seen: HashMap<EventKey, (String, u64)> = HashMap::new();
    while let Some(job) = rx.recv().await {
        let (s, kind, reason, message, now) = match job {
            Job::Forget(uid) => {
                seen.retain(|k, _| k.0 != uid);
                continue;
            }
            Job::Record { subject, kind, reason, message, at } => (subject, kind, reason, message, at),
        };
        let key = (s.uid.clone(), s.field_path.clone(), kind.to_string(), reason.clone(), message.clone());
        let events = format!("/api/v1/namespaces/{}/events", q(&s.namespace));
        if let Some((name, count)) = seen.get_mut(&key) {
            *count += 1;
            let patch = json!({"count": *count, "lastTimestamp": now});
            match client.merge_patch(&format!("{events}/{}", q(name)), &patch).await {
                Ok(_) => continue,
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
            "source": {"component": "kubelet", "host": node},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": node,
        });
        match client.create(&events, &event).await {
            Ok(_) => {
                seen.insert(key, (name, 1));
            }
            Err(e) => tracing::debug!(error = %e, reason, "recording an event"),
        }
    }
}
