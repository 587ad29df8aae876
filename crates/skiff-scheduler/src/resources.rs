//! What a pod asks of a node: cpu (millicores), memory (bytes), one pod slot, as upstream's
//! `computePodResourceRequest` counts them: the sum over containers, or the largest init container if larger.

use serde_json::Value;
use skiff_api::validation::parse_quantity;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Requests {
    pub cpu_milli: f64,
    pub memory: f64,
    pub pods: f64,
}

fn quantity(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_str).and_then(|s| parse_quantity(s).ok()).map(|q| q.as_f64()).unwrap_or(0.0)
}

fn container(c: &Value) -> Requests {
    // Requests default to limits when only limits are set (defaulting did that already; this is belt and braces).
    let get = |res: &str| {
        c.pointer(&format!("/resources/requests/{res}")).or_else(|| c.pointer(&format!("/resources/limits/{res}")))
    };
    Requests { cpu_milli: quantity(get("cpu")) * 1000.0, memory: quantity(get("memory")), pods: 0.0 }
}

impl Requests {
    pub fn of_pod(pod: &Value) -> Requests {
        let mut sum = Requests { pods: 1.0, ..Default::default() };
        for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
            sum.add(&container(c));
        }
        // Sidecars (restartable init containers) run beside the app containers; plain init containers run alone.
        let mut init_max = Requests::default();
        for c in pod.pointer("/spec/initContainers").and_then(Value::as_array).into_iter().flatten() {
            let r = container(c);
            if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
                sum.add(&r);
            } else {
                init_max.cpu_milli = init_max.cpu_milli.max(r.cpu_milli);
                init_max.memory = init_max.memory.max(r.memory);
            }
        }
        sum.cpu_milli = sum.cpu_milli.max(init_max.cpu_milli);
        sum.memory = sum.memory.max(init_max.memory);
        sum
    }

    /// A node's allocatable resources (falling back to capacity).
    pub fn allocatable(node: &Value) -> Requests {
        let get = |res: &str| {
            node.pointer(&format!("/status/allocatable/{res}"))
                .or_else(|| node.pointer(&format!("/status/capacity/{res}")))
        };
        Requests {
            cpu_milli: quantity(get("cpu")) * 1000.0,
            memory: quantity(get("memory")),
            pods: quantity(get("pods")),
        }
    }

    pub fn add(&mut self, o: &Requests) {
        self.cpu_milli += o.cpu_milli;
        self.memory += o.memory;
        self.pods += o.pods;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_requests_sum_containers_and_take_the_largest_init_container() {
        let pod = json!({"spec": {
            "containers": [{"resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}, {"resources": {"limits": {"cpu": "1"}}}],
            "initContainers": [{"resources": {"requests": {"memory": "1Gi"}}}],
        }});
        let r = Requests::of_pod(&pod);
        assert_eq!(r.cpu_milli, 1250.0);
        assert_eq!(r.memory, 1024.0 * 1024.0 * 1024.0);
        assert_eq!(r.pods, 1.0);
    }
}
