//! The scheduler: assigns pending pods to nodes through `pods/binding`, as kube-scheduler's default profile does
//! for the plugins skiff implements, and explains what it cannot place with upstream's FailedScheduling text.
//!
//! Level-triggered: every pass lists nodes and pods and places every pending pod; a pass runs whenever a pod or
//! node changes (and every few seconds regardless), so restarts and missed events are harmless.

mod filter;
mod resources;

use futures::StreamExt;
use serde_json::{json, Value};
use skiff_client::{q, Client, ClientError};
use std::collections::HashMap;
use std::time::Duration;

pub use filter::{explain, Failure};
pub use resources::Requests;

pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Runs forever, placing pods.
pub async fn run(client: Client) {
    loop {
        let revisions = match schedule_pending(&client).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "scheduling pass failed");
                None
            }
        };
        wait_for_change(&client, revisions).await;
    }
}

/// Returns when a pod or node changed after the pass's lists (watched from their resourceVersions, so nothing is
/// replayed), or after a resync period.
async fn wait_for_change(client: &Client, revisions: Option<(String, String)>) {
    let resync = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(resync);
    let Some((pods_rv, nodes_rv)) = revisions else {
        resync.await;
        return;
    };
    let (pods, nodes) =
        futures::join!(client.watch("/api/v1/pods", &pods_rv), client.watch("/api/v1/nodes", &nodes_rv));
    let (Ok(mut pods), Ok(mut nodes)) = (pods, nodes) else {
        resync.await;
        return;
    };
    tokio::select! {
        _ = &mut resync => {}
        _ = pods.next() => {}
        _ = nodes.next() => {}
    }
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn is_pending(pod: &Value) -> bool {
    str_at(pod, "/spec/nodeName").is_empty()
        && pod.pointer("/metadata/deletionTimestamp").is_none()
        && matches!(str_at(pod, "/spec/schedulerName"), "" | SCHEDULER_NAME)
        && pod.pointer("/spec/schedulingGates").and_then(Value::as_array).is_none_or(|g| g.is_empty())
        && !matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// One pass: place every pending pod, in creation order. Returns the resourceVersions of the pod and node lists
/// it worked from.
pub async fn schedule_pending(client: &Client) -> Result<(String, String), ClientError> {
    let (nodes, nodes_rv) = client.list("/api/v1/nodes").await?;
    let (pods, pods_rv) = client.list("/api/v1/pods").await?;
    let mut used: HashMap<String, (Requests, Vec<Value>)> = HashMap::new();
    for p in pods.iter().filter(|p| !str_at(p, "/spec/nodeName").is_empty()) {
        if matches!(str_at(p, "/status/phase"), "Succeeded" | "Failed") {
            continue;
        }
        let e = used.entry(str_at(p, "/spec/nodeName").to_string()).or_default();
        e.0.add(&Requests::of_pod(p));
        e.1.push(p.clone());
    }
    let mut pending: Vec<&Value> = pods.iter().filter(|p| is_pending(p)).collect();
    pending.sort_by_key(|p| {
        (str_at(p, "/metadata/creationTimestamp").to_string(), str_at(p, "/metadata/name").to_string())
    });
    for pod in pending {
        match filter::place(pod, &nodes, &used) {
            Ok(node) => {
                bind(client, pod, &node).await?;
                let e = used.entry(node).or_default();
                e.0.add(&Requests::of_pod(pod));
                e.1.push(pod.clone());
            }
            Err(failures) => unschedulable(client, pod, &explain(nodes.len(), &failures)).await?,
        }
    }
    Ok((pods_rv, nodes_rv))
}

fn pod_path(pod: &Value) -> String {
    format!("/api/v1/namespaces/{}/pods/{}", str_at(pod, "/metadata/namespace"), str_at(pod, "/metadata/name"))
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

async fn bind(client: &Client, pod: &Value, node: &str) -> Result<(), ClientError> {
    let (ns, name) = (str_at(pod, "/metadata/namespace"), str_at(pod, "/metadata/name"));
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": ns, "uid": str_at(pod, "/metadata/uid")},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    match client.create(&format!("{}/binding", pod_path(pod)), &binding).await {
        Ok(_) => {}
        // Bound or deleted meanwhile: the next pass sees the truth.
        Err(e) if e.is_conflict() || e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    }
    tracing::info!(pod = %format!("{ns}/{name}"), node, "scheduled");
    // Like upstream's event broadcaster, the event is written in the background: binding the next pod does not
    // wait for it.
    let (client, pod, msg) = (client.clone(), pod.clone(), format!("Successfully assigned {ns}/{name} to {node}"));
    tokio::spawn(async move {
        let _ = record_event(&client, &pod, "Normal", "Scheduled", &msg).await;
    });
    Ok(())
}

/// Marks the pod unschedulable (condition PodScheduled=False) and records a FailedScheduling event — once per
/// distinct message, so a pod that stays unschedulable does not flood events.
async fn unschedulable(client: &Client, pod: &Value, message: &str) -> Result<(), ClientError> {
    let current = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
        .and_then(|c| c.get("message"))
        .and_then(Value::as_str);
    if current == Some(message) {
        return Ok(());
    }
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
        "lastProbeTime": null, "lastTransitionTime": now(),
    }]}});
    match client.strategic_patch(&format!("{}/status", pod_path(pod)), &patch).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    }
    tracing::info!(pod = %format!("{}/{}", str_at(pod, "/metadata/namespace"), str_at(pod, "/metadata/name")), message, "unschedulable");
    record_event(client, pod, "Warning", "FailedScheduling", message).await
}

async fn record_event(
    client: &Client,
    pod: &Value,
    kind: &str,
    reason: &str,
    message: &str,
) -> Result<(), ClientError> {
    let ns = str_at(pod, "/metadata/namespace");
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{}.{:x}", str_at(pod, "/metadata/name"), nanos), "namespace": ns},
        "involvedObject": {
            "apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": str_at(pod, "/metadata/name"),
            "uid": str_at(pod, "/metadata/uid"), "resourceVersion": str_at(pod, "/metadata/resourceVersion"),
        },
        "reason": reason, "message": message, "type": kind,
        "source": {"component": SCHEDULER_NAME},
        "firstTimestamp": now(), "lastTimestamp": now(), "count": 1,
        "reportingComponent": SCHEDULER_NAME, "reportingInstance": SCHEDULER_NAME,
    });
    match client.create(&format!("/api/v1/namespaces/{}/events", q(ns)), &event).await {
        Ok(_) => Ok(()),
        // Events are best effort, as upstream's recorder is.
        Err(e) => {
            tracing::debug!(error = %e, "recording an event");
            Ok(())
        }
    }
}
