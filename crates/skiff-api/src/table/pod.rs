//! The pod printer (`printPod`): READY counts, the computed STATUS reason and RESTARTS with time since the last one.
//!
//! STATUS is not `status.phase`: upstream starts from the phase (or `status.reason`), lets the first unfinished init
//! container override it (`Init:0/1`, `Init:CrashLoopBackOff`, ...), then lets app containers override that with
//! their waiting/terminated reasons, walking them from last to first so the first container wins. Sidecars (init
//! containers with `restartPolicy: Always`) count towards READY and RESTARTS like app containers once started.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::human::since;
use super::{age_col, col, docs, json, name_col, wide, Column, Row};

pub(super) fn columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        age_col(),
        wide(col("IP", "string", docs::POD_STATUS_POD_IP)),
        wide(col("Node", "string", docs::POD_SPEC_NODE_NAME)),
        wide(col(
            "Nominated Node",
            "string",
            docs::POD_STATUS_NOMINATED_NODE_NAME,
        )),
        wide(col(
            "Readiness Gates",
            "string",
            docs::POD_SPEC_READINESS_GATES,
        )),
    ]
}

/// `status.reason` the node lifecycle controller sets on pods of an unreachable node (`node.NodeUnreachablePodReason`).
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";

pub(super) fn row(pod: &Value, now: DateTime<Utc>) -> Row {
    let spec_init = json::arr(pod, &["spec", "initContainers"]);
    let mut total_containers = json::arr(pod, &["spec", "containers"]).len();
    let mut ready_containers = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;

    let phase = json::str(pod, &["status", "phase"]);
    let status_reason = json::str(pod, &["status", "reason"]);
    let mut reason = if status_reason.is_empty() { phase.to_string() } else { status_reason.to_string() };

    let conditions = json::arr(pod, &["status", "conditions"]);
    if conditions
        .iter()
        .any(|c| json::str(c, &["type"]) == "PodScheduled" && json::str(c, &["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }

    let row_conditions = match phase {
        "Succeeded" => vec![completed_condition("Succeeded", "The pod has completed successfully.")],
        "Failed" => vec![completed_condition("Failed", "The pod failed.")],
        _ => Vec::new(),
    };

    let is_sidecar = |name: &str| {
        spec_init.iter().any(|c| json::str(c, &["name"]) == name && json::str(c, &["restartPolicy"]) == "Always")
    };
    total_containers += spec_init.iter().filter(|c| json::str(c, &["restartPolicy"]) == "Always").count();

    let mut initializing = false;
    for (i, status) in json::arr(pod, &["status", "initContainerStatuses"]).iter().enumerate() {
        let count = json::int(status, &["restartCount"]);
        restarts += count;
        let finished = json::time(status, &["lastState", "terminated", "finishedAt"]);
        later(&mut last_restart, finished);
        let sidecar = is_sidecar(json::str(status, &["name"]));
        if sidecar {
            sidecar_restarts += count;
            later(&mut last_sidecar_restart, finished);
        }

        let terminated = state(status, "terminated");
        let waiting_reason = state(status, "waiting").map(|w| json::str(w, &["reason"]));
        if terminated.is_some_and(|t| json::int(t, &["exitCode"]) == 0) {
            continue;
        }
        if sidecar && json::bool(status, &["started"]) {
            if json::bool(status, &["ready"]) {
                ready_containers += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match json::str(t, &["reason"]) {
                "" if json::int(t, &["signal"]) != 0 => {
                    format!("Init:Signal:{}", json::int(t, &["signal"]))
                }
                "" => format!("Init:ExitCode:{}", json::int(t, &["exitCode"])),
                r => format!("Init:{r}"),
            };
        } else if let Some(w) = waiting_reason.filter(|w| !w.is_empty() && *w != "PodInitializing") {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{}/{}", i, spec_init.len());
        }
        initializing = true;
        break;
    }

    let initialized = conditions.iter().find(|c| json::str(c, &["type"]) == "Initialized");
    let initialized = initialized.is_some_and(|c| json::str(c, &["status"]) == "True");
    if !initializing || initialized {
        // Once init is over, only sidecar restarts carry over; plain init containers' restarts are history.
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for status in json::arr(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += json::int(status, &["restartCount"]);
            later(&mut last_restart, json::time(status, &["lastState", "terminated", "finishedAt"]));
            let waiting = state(status, "waiting").map_or("", |w| json::str(w, &["reason"]));
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = state(status, "terminated") {
                reason = match json::str(t, &["reason"]) {
                    "" if json::int(t, &["signal"]) != 0 => {
                        format!("Signal:{}", json::int(t, &["signal"]))
                    }
                    "" => format!("ExitCode:{}", json::int(t, &["exitCode"])),
                    r => r.to_string(),
                };
            } else if json::bool(status, &["ready"]) && state(status, "running").is_some() {
                has_running = true;
                ready_containers += 1;
            }
        }
        // A pod whose last container completed but another still runs is not "Completed".
        if reason == "Completed" && has_running {
            let ready =
                conditions.iter().any(|c| json::str(c, &["type"]) == "Ready" && json::str(c, &["status"]) == "True");
            reason = if ready { "Running" } else { "NotReady" }.to_string();
        }
    }

    if json::deleting(pod) && status_reason == NODE_UNREACHABLE_POD_REASON {
        reason = "Unknown".to_string();
    } else if json::deleting(pod) && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let cells = vec![
        json::name(pod).into(),
        format!("{ready_containers}/{total_containers}").into(),
        reason.into(),
        restarts_text.into(),
        since(json::time(pod, &["metadata", "creationTimestamp"]), now).into(),
        or_none(pod_ip(pod)).into(),
        or_none(json::str(pod, &["spec", "nodeName"])).into(),
        or_none(json::str(pod, &["status", "nominatedNodeName"])).into(),
        readiness_gates(pod, conditions).into(),
    ];
    Row { cells, conditions: row_conditions }
}

/// One of a container status's `state.waiting|running|terminated`, when set (Go checks the pointer).
fn state<'a>(status: &'a Value, which: &str) -> Option<&'a Value> {
    json::get(status, &["state", which]).filter(|v| v.is_object())
}

fn completed_condition(reason: &str, message: &str) -> Value {
    json!({"type": "Completed", "status": "True", "reason": reason, "message": message})
}

/// Keeps the later of two timestamps (Go compares against a zero time, so `None` never wins).
fn later(acc: &mut Option<DateTime<Utc>>, t: Option<DateTime<Utc>>) {
    if let Some(t) = t {
        if acc.is_none_or(|a| a < t) {
            *acc = Some(t);
        }
    }
}

/// The pod's primary IP. Upstream reads the internal `PodIPs[0]`, which v1→internal conversion fills from `podIP`
/// when that is set (it is authoritative if the two disagree).
fn pod_ip(pod: &Value) -> &str {
    let ip = json::str(pod, &["status", "podIP"]);
    if !ip.is_empty() {
        return ip;
    }
    json::arr(pod, &["status", "podIPs"]).first().map_or("", |p| json::str(p, &["ip"]))
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// READINESS GATES: how many of the pod's readiness gates have a True condition, or `<none>`.
fn readiness_gates(pod: &Value, conditions: &[Value]) -> String {
    let gates = json::arr(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let true_count = gates
        .iter()
        .filter(|g| {
            let want = json::str(g, &["conditionType"]);
            conditions
                .iter()
                .find(|c| json::str(c, &["type"]) == want)
                .is_some_and(|c| json::str(c, &["status"]) == "True")
        })
        .count();
    format!("{true_count}/{}", gates.len())
}

#[cfg(test)]
#[path = "pod_tests.rs"]
mod tests;
