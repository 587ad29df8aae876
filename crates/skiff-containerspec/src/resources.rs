//! cgroup limits and the OOM score: the kubelet's `calculateLinuxResources` (CPU shares from the request, CFS
//! quota from the limit, the memory limit) as containerd writes them into `linux.resources`, and
//! `GetContainerOOMScoreAdjust` by the pod's QoS class.

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{json, Map, Value};
use skiff_api::validation::{parse_quantity, Quantity};

use crate::SpecError;

const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
const SHARES_PER_CPU: i64 = 1024;
/// The CFS period the kubelet uses unless its `CPUCFSQuotaPeriod` gate changes it, in µs.
const QUOTA_PERIOD: i64 = 100_000;
/// The smallest quota the kernel accepts, in µs.
const MIN_QUOTA_PERIOD: i64 = 1000;

const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;
/// `scheduling.SystemCriticalPriority`: at or above it a pod is critical.
const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

fn quantity(c: &Container, limits: bool, name: &str) -> Result<Quantity, SpecError> {
    let r = c.resources.as_ref();
    let list = if limits { r.and_then(|r| r.limits.as_ref()) } else { r.and_then(|r| r.requests.as_ref()) };
    match list.and_then(|l| l.get(name)) {
        None => Ok(Quantity::default()),
        Some(q) => parse_quantity(&q.0)
            .map_err(|e| SpecError::Config(format!("container {}: quantity {:?}: {e}", c.name, q.0))),
    }
}

/// `v1qos.GetPodQOS`: the class recorded in the pod's status, else computed like the API server does.
pub fn qos_class(pod: &Pod) -> Result<QosClass, SpecError> {
    match pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        Some("Guaranteed") => return Ok(QosClass::Guaranteed),
        Some("Burstable") => return Ok(QosClass::Burstable),
        Some("BestEffort") => return Ok(QosClass::BestEffort),
        _ => {}
    }
    // ComputePodQOS: sums of the positive cpu/memory requests and limits of the app and init containers; every
    // container must limit both, and the sums must match
    let spec = pod.spec.as_ref();
    let containers = spec.map(|s| s.containers.iter()).into_iter().flatten();
    let init = spec.and_then(|s| s.init_containers.as_ref()).into_iter().flatten();
    let (mut requests, mut limits): ([Option<Quantity>; 2], [Option<Quantity>; 2]) = Default::default();
    let zero = Quantity::default();
    let mut guaranteed = true;
    for c in containers.chain(init) {
        let mut both_limited = true;
        for (i, name) in ["cpu", "memory"].into_iter().enumerate() {
            let req = quantity(c, false, name)?;
            if req.cmp_value(&zero).is_gt() {
                requests[i] = Some(requests[i].take().unwrap_or_default() + req);
            }
            let lim = quantity(c, true, name)?;
            if lim.cmp_value(&zero).is_gt() {
                limits[i] = Some(limits[i].take().unwrap_or_default() + lim);
            } else {
                both_limited = false;
            }
        }
        guaranteed &= both_limited;
    }
    if requests.iter().chain(&limits).all(Option::is_none) {
        return Ok(QosClass::BestEffort);
    }
    let matching = (0..2).all(|i| match (&requests[i], &limits[i]) {
        (Some(r), Some(l)) => r == l,
        (Some(_), None) => false,
        (None, l) => l.is_none(),
    });
    Ok(if guaranteed && matching { QosClass::Guaranteed } else { QosClass::Burstable })
}

/// `linux.resources` for the container.
pub(crate) fn linux_resources(c: &Container) -> Result<Value, SpecError> {
    let cpu_request = quantity(c, false, "cpu")?;
    let cpu_limit = quantity(c, true, "cpu")?;
    let memory_limit = quantity(c, true, "memory")?.value();
    // a limit without a request counts as the request, as the API server defaults it
    let shares_from = if cpu_request.is_zero() && !cpu_limit.is_zero() { &cpu_limit } else { &cpu_request };
    let mut cpu = Map::new();
    cpu.insert("shares".into(), json!(milli_cpu_to_shares(shares_from.milli_value())));
    let quota = milli_cpu_to_quota(cpu_limit.milli_value());
    if quota != 0 {
        cpu.insert("quota".into(), json!(quota));
    }
    cpu.insert("period".into(), json!(QUOTA_PERIOD));
    let mut memory = Map::new();
    if memory_limit != 0 {
        memory.insert("limit".into(), json!(memory_limit));
        // memory + swap = memory: no swap unless the kubelet's swap support says otherwise
        memory.insert("swap".into(), json!(memory_limit));
    }
    Ok(json!({"cpu": cpu, "memory": memory}))
}

fn milli_cpu_to_shares(milli: i64) -> i64 {
    if milli == 0 {
        // the kernel default for "unset" would be 1024; 2 is what zero CPU really means
        return MIN_SHARES;
    }
    (milli.saturating_mul(SHARES_PER_CPU) / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

fn milli_cpu_to_quota(milli: i64) -> i64 {
    if milli == 0 {
        return 0;
    }
    (milli.saturating_mul(QUOTA_PERIOD) / 1000).max(MIN_QUOTA_PERIOD)
}

/// `GetContainerOOMScoreAdjust`: node-critical and Guaranteed pods −997, BestEffort 1000, Burstable
/// `1000 − 1000 × memory request / node memory`, kept within 2..=999 so it stays between the other two classes;
/// a restartable init (sidecar) container scores no higher than the app container with the smallest request.
pub(crate) fn oom_score_adj(pod: &Pod, c: &Container, node_memory: u64) -> Result<i64, SpecError> {
    if is_node_critical(pod) {
        return Ok(GUARANTEED_OOM_SCORE_ADJ);
    }
    match qos_class(pod)? {
        QosClass::Guaranteed => return Ok(GUARANTEED_OOM_SCORE_ADJ),
        QosClass::BestEffort => return Ok(BEST_EFFORT_OOM_SCORE_ADJ),
        QosClass::Burstable => {}
    }
    let capacity = i128::from(node_memory.max(1));
    let score = |request: i64| (1000 - (1000 * i128::from(request)) / capacity) as i64;
    let mut adj = score(quantity(c, false, "memory")?.value());
    if is_sidecar(pod, c) {
        let regular = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
        let mut min_request: Option<i64> = None;
        for r in regular {
            let v = quantity(r, false, "memory")?.value();
            min_request = Some(min_request.map_or(v, |m| m.min(v)));
        }
        if let Some(m) = min_request {
            adj = adj.min(score(m));
        }
    }
    if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ {
        return Ok(1000 + GUARANTEED_OOM_SCORE_ADJ);
    }
    if adj == BEST_EFFORT_OOM_SCORE_ADJ {
        return Ok(adj - 1);
    }
    Ok(adj)
}

/// A restartable init container (`restartPolicy: Always`) of this pod.
fn is_sidecar(pod: &Pod, c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
        && pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .is_some_and(|i| i.iter().any(|x| x.name == c.name))
}

/// `types.IsNodeCriticalPod`: `system-node-critical` and critical (a static or mirror pod, or a priority at or
/// above system-critical).
fn is_node_critical(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    if spec.priority_class_name.as_deref() != Some("system-node-critical") {
        return false;
    }
    let annotations = pod.metadata.annotations.as_ref();
    let source = annotations.and_then(|a| a.get("kubernetes.io/config.source")).map(String::as_str);
    let static_pod = source.is_some_and(|s| s != "api");
    let mirror = annotations.is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    static_pod || mirror || spec.priority.is_some_and(|p| p >= SYSTEM_CRITICAL_PRIORITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;
    use std::collections::BTreeMap;

    const GI: u64 = 1 << 30;

    fn list(v: &[(&str, &str)]) -> Option<BTreeMap<String, Q>> {
        if v.is_empty() {
            return None;
        }
        Some(v.iter().map(|(k, q)| (k.to_string(), Q(q.to_string()))).collect())
    }

    fn container(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        Container {
            name: name.into(),
            resources: Some(ResourceRequirements {
                requests: list(requests),
                limits: list(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                init_containers: if init.is_empty() { None } else { Some(init) },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn qos_classes() {
        let full = [("cpu", "500m"), ("memory", "1Gi")];
        assert_eq!(qos_class(&pod(vec![container("a", &[], &[])], vec![])).unwrap(), QosClass::BestEffort);
        assert_eq!(qos_class(&pod(vec![container("a", &full, &full)], vec![])).unwrap(), QosClass::Guaranteed);
        // upstream compares the sums as they are: limits without requests (which the API server would have
        // defaulted) do not make a Guaranteed pod
        assert_eq!(qos_class(&pod(vec![container("a", &[], &full)], vec![])).unwrap(), QosClass::Burstable);
        let half = [("cpu", "250m"), ("memory", "1Gi")];
        assert_eq!(qos_class(&pod(vec![container("a", &half, &full)], vec![])).unwrap(), QosClass::Burstable);
        assert_eq!(
            qos_class(&pod(vec![container("a", &full, &full), container("b", &[], &[])], vec![])).unwrap(),
            QosClass::Burstable
        );
        assert_eq!(
            qos_class(&pod(vec![container("a", &full, &full)], vec![container("i", &[("cpu", "1")], &[])])).unwrap(),
            QosClass::Burstable
        );
        // zero quantities are ignored
        assert_eq!(qos_class(&pod(vec![container("a", &[("cpu", "0")], &[])], vec![])).unwrap(), QosClass::BestEffort);
        // the recorded class wins
        let mut p = pod(vec![container("a", &[], &[])], vec![]);
        p.status = Some(PodStatus { qos_class: Some("Guaranteed".into()), ..Default::default() });
        assert_eq!(qos_class(&p).unwrap(), QosClass::Guaranteed);
    }

    #[test]
    fn cpu_and_memory() {
        let c = container("a", &[("cpu", "250m"), ("memory", "64Mi")], &[("cpu", "1500m"), ("memory", "128Mi")]);
        assert_eq!(
            linux_resources(&c).unwrap(),
            json!({"cpu": {"shares": 256, "quota": 150000, "period": 100000},
                   "memory": {"limit": 134217728, "swap": 134217728}})
        );
        // best effort: minimal shares, no quota, no memory limit
        assert_eq!(
            linux_resources(&container("a", &[], &[])).unwrap(),
            json!({"cpu": {"shares": 2, "period": 100000}, "memory": {}})
        );
        // limit only: shares follow the limit; tiny values hit the minimums
        let r = linux_resources(&container("a", &[], &[("cpu", "1m")])).unwrap();
        assert_eq!(r["cpu"], json!({"shares": 2, "quota": 1000, "period": 100000}));
        let r = linux_resources(&container("a", &[], &[("cpu", "2")])).unwrap();
        assert_eq!(r["cpu"]["shares"], 2048);
        let r = linux_resources(&container("a", &[("cpu", "1000")], &[])).unwrap();
        assert_eq!(r["cpu"]["shares"], MAX_SHARES);
        // quantities round up
        let r = linux_resources(&container("a", &[("cpu", "0.1m")], &[("memory", "1.5")])).unwrap();
        assert_eq!((r["cpu"]["shares"].clone(), r["memory"]["limit"].clone()), (json!(2), json!(2)));
    }

    #[test]
    fn bad_quantity_is_a_config_error() {
        let err = linux_resources(&container("a", &[("cpu", "lots")], &[])).unwrap_err();
        assert!(matches!(err, SpecError::Config(m) if m.starts_with("container a: quantity \"lots\"")));
    }

    #[test]
    fn oom_score_adj_by_qos() {
        let full = [("cpu", "1"), ("memory", "1Gi")];
        let g = pod(vec![container("a", &full, &full)], vec![]);
        assert_eq!(oom_score_adj(&g, &g.spec.as_ref().unwrap().containers[0], 8 * GI).unwrap(), -997);
        let be = pod(vec![container("a", &[], &[])], vec![]);
        assert_eq!(oom_score_adj(&be, &be.spec.as_ref().unwrap().containers[0], 8 * GI).unwrap(), 1000);

        let burstable = |mem: &str| {
            let p = pod(vec![container("a", &[("memory", mem)], &[])], vec![]);
            let c = p.spec.as_ref().unwrap().containers[0].clone();
            oom_score_adj(&p, &c, 8 * GI).unwrap()
        };
        assert_eq!(burstable("1Gi"), 875);
        assert_eq!(burstable("4Gi"), 500);
        // never as low as a Guaranteed pod, never as high as BestEffort
        assert_eq!(burstable("8Gi"), 3);
        assert_eq!(burstable("16Gi"), 3);
        assert_eq!(burstable("1"), 999);
        // a burstable pod whose container requests no memory
        let p = pod(vec![container("a", &[("cpu", "1")], &[])], vec![]);
        assert_eq!(oom_score_adj(&p, &p.spec.as_ref().unwrap().containers[0], 8 * GI).unwrap(), 999);
    }

    #[test]
    fn sidecar_scores_no_higher_than_the_smallest_app_container() {
        let mut sidecar = container("proxy", &[("memory", "64Mi")], &[]);
        sidecar.restart_policy = Some("Always".into());
        let plain_init = container("setup", &[("memory", "64Mi")], &[]);
        let p = pod(
            vec![container("a", &[("memory", "2Gi")], &[]), container("b", &[("memory", "1Gi")], &[])],
            vec![sidecar.clone(), plain_init.clone()],
        );
        assert_eq!(oom_score_adj(&p, &sidecar, 8 * GI).unwrap(), 875);
        assert_eq!(oom_score_adj(&p, &plain_init, 8 * GI).unwrap(), 993);
    }

    #[test]
    fn node_critical_pods_are_protected() {
        let mut p = pod(vec![container("a", &[], &[])], vec![]);
        let spec = p.spec.as_mut().unwrap();
        spec.priority_class_name = Some("system-node-critical".into());
        spec.priority = Some(2_000_001_000);
        let c = spec.containers[0].clone();
        assert_eq!(oom_score_adj(&p, &c, 8 * GI).unwrap(), -997);
        p.spec.as_mut().unwrap().priority = Some(0);
        assert_eq!(oom_score_adj(&p, &c, 8 * GI).unwrap(), 1000);
    }
}
