//! The pod's status as the kubelet computes it (`generateAPIPodStatus`): container statuses from the runs,
//! the phase (`getPhase`), and the conditions with their transition times.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{json, Value};

use super::runs::Run;

/// What a container's status is made of.
pub struct ContainerView<'a> {
    pub container: &'a Container,
    pub runs: Option<&'a Vec<Run>>,
    /// Why it is not running, when the agent knows (ErrImagePull, CrashLoopBackOff, …).
    pub waiting: Option<&'a (String, String)>,
    /// The waiting reason when nothing else is known (`ContainerCreating` or `PodInitializing`).
    pub default_waiting: &'static str,
    pub sidecar: bool,
    /// The probes' verdict on the current run, if its prober runs.
    pub probe: Option<&'a super::probes::ProbeState>,
}

fn terminated(run: &Run) -> Value {
    let Some(exit) = &run.exit else { return Value::Null };
    let reason = if run.meta.start_error.is_some() {
        "StartError"
    } else if exit.oom_killed {
        "OOMKilled"
    } else if exit.code == 0 {
        "Completed"
    } else {
        "Error"
    };
    let mut t = json!({
        "exitCode": exit.code, "reason": reason,
        "startedAt": trim_time(&exit.started_at), "finishedAt": trim_time(&exit.finished_at),
        "containerID": run.container_id(),
    });
    let message = run.meta.start_error.clone().or_else(|| termination_message(run));
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        t["message"] = Value::String(m);
    }
    if run.meta.start_error.is_some() {
        t["startedAt"] = Value::String("1970-01-01T00:00:00Z".into());
    }
    t
}

/// The container's termination message: the file at `terminationMessagePath` (at most 4096 bytes), or with
/// `FallbackToLogsOnError` and a failure, the end of its log (80 lines, 2048 bytes), as the kubelet reads it.
fn termination_message(run: &Run) -> Option<String> {
    let file = std::fs::read(run.dir.join("termination-log")).ok().filter(|b| !b.is_empty());
    if let Some(mut b) = file {
        b.truncate(4096);
        return Some(String::from_utf8_lossy(&b).into_owned());
    }
    let fallback =
        std::fs::read_to_string(run.dir.join("termination-policy")).is_ok_and(|p| p == "FallbackToLogsOnError");
    if fallback && run.exit.as_ref().is_some_and(|e| e.code != 0) {
        let opts = skiff_shim::log::ReadOptions { tail: Some(80), ..Default::default() };
        let mut text = Vec::new();
        skiff_shim::log::render(&run.log, 0, &opts, &mut text).ok()?;
        let start = text.len().saturating_sub(2048);
        return Some(String::from_utf8_lossy(&text[start..]).into_owned());
    }
    None
}

/// RFC 3339 with seconds (metav1.Time) from the shim's nanosecond times.
fn trim_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| t.to_string())
}

pub fn container_status(v: &ContainerView) -> Value {
    let c = v.container;
    let runs = v.runs.map(|r| r.as_slice()).unwrap_or(&[]);
    let last = runs.last();
    let previous = if runs.len() >= 2 { runs.get(runs.len() - 2) } else { None };
    let mut s = json!({
        "name": c.name,
        "image": c.image.clone().unwrap_or_default(),
        "imageID": "",
        "ready": false,
        "restartCount": last.map(|r| r.meta.attempt).unwrap_or(0),
        "started": false,
        "state": {},
        "lastState": {},
    });
    if let Some(r) = last {
        s["image"] = Value::String(r.meta.image.clone());
        s["imageID"] = Value::String(r.meta.image_id.clone());
        s["containerID"] = Value::String(r.container_id());
    }
    let waiting = |reason: &str, message: Option<&str>| {
        let mut w = json!({"reason": reason});
        if let Some(m) = message.filter(|m| !m.is_empty()) {
            w["message"] = Value::String(m.to_string());
        }
        json!({"waiting": w})
    };
    match (v.waiting, last) {
        (Some((reason, message)), last) => {
            s["state"] = waiting(reason, Some(message));
            if let Some(r) = last.filter(|r| r.exit.is_some()) {
                s["lastState"] = json!({"terminated": terminated(r)});
            } else if let Some(p) = previous {
                s["lastState"] = json!({"terminated": terminated(p)});
            }
        }
        (None, Some(r)) if r.running() => {
            let started = r.started.as_ref().map(|st| trim_time(&st.started_at)).unwrap_or_default();
            s["state"] = json!({"running": {"startedAt": started}});
            let probe = v.probe.filter(|p| p.run_id == r.meta.id);
            let has_probes = c.readiness_probe.is_some() || c.startup_probe.is_some();
            let is_started = probe.map(|p| p.started).unwrap_or(c.startup_probe.is_none());
            s["ready"] = json!(probe.map(|p| p.ready && p.started).unwrap_or(!has_probes));
            s["started"] = json!(is_started);
            if let Some(p) = previous {
                s["lastState"] = json!({"terminated": terminated(p)});
            }
        }
        (None, Some(r)) if r.exit.is_some() => {
            s["state"] = json!({"terminated": terminated(r)});
            if let Some(p) = previous {
                s["lastState"] = json!({"terminated": terminated(p)});
            }
        }
        _ => s["state"] = waiting(v.default_waiting, None),
    }
    if v.sidecar {
        // a sidecar's readiness is reported, but only its start gates the next init container
        s["started"] = json!(s["started"] == json!(true));
    }
    s
}

fn is_running(s: &Value) -> bool {
    s.pointer("/state/running").is_some()
}

fn exit_code(s: &Value) -> Option<i64> {
    s.pointer("/state/terminated/exitCode").and_then(Value::as_i64)
}

fn last_exit_code(s: &Value) -> Option<i64> {
    s.pointer("/lastState/terminated/exitCode").and_then(Value::as_i64)
}

/// The kubelet's `getPhase`.
pub fn phase(pod: &Pod, init: &[(Value, bool)], app: &[Value]) -> &'static str {
    let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
    let (mut pending_init, mut failed_init) = (0, 0);
    for (s, sidecar) in init {
        if *sidecar {
            if !is_running(s) {
                pending_init += 1;
            }
            continue;
        }
        match (is_running(s), exit_code(s)) {
            (true, _) => pending_init += 1,
            (_, Some(0)) => {}
            (_, Some(_)) => failed_init += 1,
            _ => {
                if last_exit_code(s).is_some_and(|c| c != 0) {
                    failed_init += 1
                } else {
                    pending_init += 1
                }
            }
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in app {
        if is_running(s) {
            running += 1;
        } else if let Some(code) = exit_code(s) {
            stopped += 1;
            if code == 0 {
                succeeded += 1;
            }
        } else if last_exit_code(s).is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || failed_init > 0 || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        return match policy {
            "Always" => "Running",
            "OnFailure" if stopped == succeeded => "Succeeded",
            "OnFailure" => "Running",
            _ if stopped == succeeded => "Succeeded",
            _ => "Failed",
        };
    }
    "Pending"
}

/// Condition transition times, kept across status computations: a condition's time changes only when its
/// status does.
#[derive(Debug, Default)]
pub struct Transitions(HashMap<&'static str, (String, String)>);

impl Transitions {
    /// Seeds from the pod's reported conditions (after an agent restart).
    pub fn seed(&mut self, pod: &Pod) {
        for c in pod.status.iter().flat_map(|s| s.conditions.iter().flatten()) {
            let t = c.last_transition_time.as_ref().map(|t| t.0.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            if let (Some(key), Some(t)) = (known(&c.type_), t) {
                self.0.entry(key).or_insert((c.status.clone(), t));
            }
        }
    }

    pub fn condition(&mut self, typ: &'static str, ok: bool, reason: Option<&str>, message: Option<&str>) -> Value {
        let status = if ok { "True" } else { "False" };
        let entry = self.0.entry(typ).or_insert_with(|| (status.to_string(), crate::now_rfc3339()));
        if entry.0 != status {
            *entry = (status.to_string(), crate::now_rfc3339());
        }
        let mut c = json!({"type": typ, "status": status, "lastProbeTime": null, "lastTransitionTime": entry.1});
        if let Some(r) = reason {
            c["reason"] = Value::String(r.into());
        }
        if let Some(m) = message {
            c["message"] = Value::String(m.into());
        }
        c
    }
}

fn known(t: &str) -> Option<&'static str> {
    ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"].into_iter().find(|k| *k == t)
}

/// Everything of the status that the agent owns.
pub struct PodView<'a> {
    pub pod: &'a Pod,
    pub runs: &'a BTreeMap<String, Vec<Run>>,
    pub waiting: &'a HashMap<String, (String, String)>,
    pub sandbox_ready: bool,
    pub pod_ip: Option<String>,
    pub host_ip: String,
    pub start_time: &'a str,
    pub probes: &'a HashMap<String, super::probes::ProbeState>,
}

pub fn pod_status(v: &PodView, transitions: &mut Transitions) -> (Value, &'static str) {
    let spec = v.pod.spec.clone().unwrap_or_default();
    let has_init = spec.init_containers.as_ref().is_some_and(|i| !i.is_empty());
    let default_waiting = if has_init { "PodInitializing" } else { "ContainerCreating" };
    let view = |c: &'_ Container, sidecar: bool| {
        container_status(&ContainerView {
            container: c,
            runs: v.runs.get(&c.name),
            waiting: v.waiting.get(&c.name),
            default_waiting,
            sidecar,
            probe: v.probes.get(&c.name),
        })
    };
    let init: Vec<(Value, bool)> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            (view(c, sidecar), sidecar)
        })
        .collect();
    let app: Vec<Value> = spec.containers.iter().map(|c| view(c, false)).collect();
    let phase = phase(v.pod, &init, &app);
    let incomplete: Vec<&str> = init
        .iter()
        .filter(|(s, sidecar)| if *sidecar { !is_running(s) } else { exit_code(s) != Some(0) })
        .filter_map(|(s, _)| s["name"].as_str())
        .collect();
    let unready: Vec<&str> =
        app.iter().filter(|s| s["ready"] != json!(true)).filter_map(|s| s["name"].as_str()).collect();
    let initialized = incomplete.is_empty() || phase == "Succeeded";
    let mut conditions = vec![transitions.condition("PodReadyToStartContainers", v.sandbox_ready, None, None)];
    conditions.push(if initialized {
        transitions.condition("Initialized", true, None, None)
    } else {
        let m = format!("containers with incomplete status: [{}]", incomplete.join(" "));
        transitions.condition("Initialized", false, Some("ContainersNotInitialized"), Some(&m))
    });
    for typ in ["Ready", "ContainersReady"] {
        conditions.push(if phase == "Succeeded" {
            transitions.condition(typ, false, Some("PodCompleted"), None)
        } else if unready.is_empty() {
            transitions.condition(typ, true, None, None)
        } else {
            let m = format!("containers with unready status: [{}]", unready.join(" "));
            transitions.condition(typ, false, Some("ContainersNotReady"), Some(&m))
        });
    }
    if let Some(sched) = v
        .pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled").and_then(|c| serde_json::to_value(c).ok()))
    {
        conditions.push(sched);
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": v.host_ip, "hostIPs": [{"ip": v.host_ip}],
        "startTime": v.start_time,
        "containerStatuses": app,
        "qosClass": v.pod.status.as_ref().and_then(|s| s.qos_class.clone()),
    });
    if let Some(ip) = &v.pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    if !init.is_empty() {
        status["initContainerStatuses"] = Value::Array(init.into_iter().map(|(s, _)| s).collect());
    }
    (status, phase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(policy: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": policy, "containers": []}}))
            .expect("pod")
    }

    #[test]
    fn phases() {
        let run = json!({"state": {"running": {}}});
        let ok = json!({"state": {"terminated": {"exitCode": 0}}});
        let bad = json!({"state": {"terminated": {"exitCode": 1}}});
        let wait = json!({"state": {"waiting": {"reason": "ContainerCreating"}}});
        let crash =
            json!({"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1}}});
        assert_eq!(phase(&pod("Always"), &[], std::slice::from_ref(&run)), "Running");
        assert_eq!(phase(&pod("Always"), &[], std::slice::from_ref(&wait)), "Pending");
        assert_eq!(phase(&pod("Always"), &[], std::slice::from_ref(&crash)), "Running");
        assert_eq!(phase(&pod("Never"), &[], std::slice::from_ref(&bad)), "Failed");
        assert_eq!(phase(&pod("OnFailure"), &[], std::slice::from_ref(&ok)), "Succeeded");
        assert_eq!(phase(&pod("Never"), &[], &[ok.clone(), bad.clone()]), "Failed");
        assert_eq!(phase(&pod("Always"), &[(run.clone(), false)], std::slice::from_ref(&wait)), "Pending");
        assert_eq!(phase(&pod("Never"), &[(bad, false)], std::slice::from_ref(&wait)), "Failed");
        assert_eq!(phase(&pod("Always"), &[(run, true)], &[ok]), "Running");
    }
}
