//! The agent's Node object and its Lease: registration with the machine's capacity, addresses and versions,
//! periodic status (conditions with heartbeats), and the `kube-node-lease` Lease renewed every 10 s — the
//! kubelet's two heartbeats.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use skiff_client::{q, Client, ClientError};

use crate::now_rfc3339;

/// The kubelet version skiff's node agent reports (the API level it implements).
pub const KUBELET_VERSION: &str = "v1.32.0";
pub const LEASE_DURATION_SECONDS: i64 = 40;
const LEASE_RENEW: Duration = Duration::from_secs(10);
const STATUS_EVERY: Duration = Duration::from_secs(60);
/// Pods per node, the kubelet's default `maxPods`.
pub const MAX_PODS: u64 = 110;
/// The hard eviction threshold the kubelet reserves by default (`memory.available<100Mi`).
const EVICTION_MEMORY: u64 = 100 << 20;

/// Facts about this machine that go into the Node.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpus: u64,
    pub memory_bytes: u64,
    pub ephemeral_bytes: u64,
    pub kernel: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub system_uuid: String,
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default()
}

impl Machine {
    pub fn probe(data_dir: &Path) -> Machine {
        let cpus = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1);
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        let ephemeral_bytes =
            nix::sys::statvfs::statvfs(data_dir).map(|s| s.blocks() * s.fragment_size()).unwrap_or_default();
        let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
        let os_image = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
            })
            .unwrap_or_else(|| "Linux".into());
        Machine {
            cpus,
            memory_bytes,
            ephemeral_bytes,
            kernel,
            os_image,
            machine_id: read_trim("/etc/machine-id"),
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            system_uuid: read_trim("/sys/class/dmi/id/product_uuid"),
        }
    }

    /// Allocatable = capacity minus the default hard eviction thresholds (memory 100Mi, 10% of the disk).
    pub fn allocatable_memory(&self) -> u64 {
        self.memory_bytes.saturating_sub(EVICTION_MEMORY)
    }

    pub fn allocatable_ephemeral(&self) -> u64 {
        self.ephemeral_bytes - self.ephemeral_bytes / 10
    }
}

/// The address other machines reach this one at: the source address of the default route, found without
/// sending a packet (a connected UDP socket); loopback when there is no route.
pub fn detect_node_ip() -> Ipv4Addr {
    let probe = || -> std::io::Result<Ipv4Addr> {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.connect("10.255.255.255:1")?;
        match s.local_addr()?.ip() {
            IpAddr::V4(ip) if !ip.is_unspecified() => Ok(ip),
            _ => Ok(Ipv4Addr::LOCALHOST),
        }
    };
    probe().unwrap_or(Ipv4Addr::LOCALHOST)
}

/// Everything that identifies this node in the API.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub ip: Ipv4Addr,
    pub pod_cidr: String,
    pub machine: Machine,
    pub kubelet_port: u16,
}

fn kib(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

impl NodeSpec {
    fn capacity(&self) -> Value {
        json!({
            "cpu": self.machine.cpus.to_string(),
            "memory": kib(self.machine.memory_bytes),
            "ephemeral-storage": kib(self.machine.ephemeral_bytes),
            "pods": MAX_PODS.to_string(),
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        })
    }

    fn allocatable(&self) -> Value {
        json!({
            "cpu": self.machine.cpus.to_string(),
            "memory": kib(self.machine.allocatable_memory()),
            "ephemeral-storage": self.machine.allocatable_ephemeral().to_string(),
            "pods": MAX_PODS.to_string(),
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        })
    }

    fn conditions(&self, now: &str, transition: &str) -> Value {
        let c = |typ: &str, status: &str, reason: &str, message: &str| {
            json!({"type": typ, "status": status, "reason": reason, "message": message,
                   "lastHeartbeatTime": now, "lastTransitionTime": transition})
        };
        json!([
            c("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            c("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            c("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ])
    }

    fn status(&self, now: &str, transition: &str) -> Value {
        let m = &self.machine;
        json!({
            "capacity": self.capacity(),
            "allocatable": self.allocatable(),
            "conditions": self.conditions(now, transition),
            "addresses": [
                {"type": "InternalIP", "address": self.ip.to_string()},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "nodeInfo": {
                "machineID": m.machine_id, "systemUUID": m.system_uuid, "bootID": m.boot_id,
                "kernelVersion": m.kernel, "osImage": m.os_image,
                "containerRuntimeVersion": format!("skiff://{}", env!("CARGO_PKG_VERSION")),
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": "amd64",
            },
        })
    }

    fn object(&self) -> Value {
        let now = now_rfc3339();
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                },
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]},
            "status": self.status(&now, &now),
        })
    }
}

fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{}", q(name))
}

/// Creates the Node, or brings an existing one (a restart) up to date; returns its uid.
pub async fn register(client: &Client, spec: &NodeSpec) -> Result<String, ClientError> {
    let obj = spec.object();
    let node = match client.create("/api/v1/nodes", &obj).await {
        Ok(n) => {
            tracing::info!(node = %spec.name, "registered node");
            n
        }
        Err(e) if e.is_conflict() => {
            let patch = json!({"metadata": {"labels": obj["metadata"]["labels"]}});
            client.strategic_patch(&node_path(&spec.name), &patch).await?;
            update_status(client, spec).await?
        }
        Err(e) => return Err(e),
    };
    Ok(node.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string())
}

/// Writes the node's status: capacity, addresses, versions, and the conditions with a fresh heartbeat (the
/// transition time is kept while the status stays the same).
async fn update_status(client: &Client, spec: &NodeSpec) -> Result<Value, ClientError> {
    let now = now_rfc3339();
    let current = client.get(&node_path(&spec.name)).await?;
    let ready_since = current
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready" && c["status"] == "True"))
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| now.clone());
    let patch = json!({"status": spec.status(&now, &ready_since)});
    client.strategic_patch(&format!("{}/status", node_path(&spec.name)), &patch).await
}

fn micro_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Creates or renews the node's Lease.
async fn renew_lease(client: &Client, spec: &NodeSpec, node_uid: &str) -> Result<(), ClientError> {
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{}", q(&spec.name));
    let renew = json!({"spec": {"holderIdentity": spec.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                                "renewTime": micro_now()}});
    match client.merge_patch(&path, &renew).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": spec.name, "namespace": "kube-node-lease", "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": spec.name, "uid": node_uid,
                }]},
                "spec": renew["spec"],
            });
            client.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", &lease).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Registers the node (retrying until the API takes it), then renews the lease and the status forever.
pub async fn run(client: Client, spec: NodeSpec) {
    let node_uid = loop {
        match register(&client, &spec).await {
            Ok(uid) => break uid,
            Err(e) => {
                tracing::warn!(node = %spec.name, error = %e, "registering the node; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let mut lease = tokio::time::interval(LEASE_RENEW);
    let mut status = tokio::time::interval(STATUS_EVERY);
    status.tick().await; // registration just wrote it
    loop {
        tokio::select! {
            _ = lease.tick() => {
                if let Err(e) = renew_lease(&client, &spec, &node_uid).await {
                    tracing::warn!(error = %e, "renewing the node lease");
                }
            }
            _ = status.tick() => {
                match update_status(&client, &spec).await {
                    Ok(_) => {}
                    // deleted by someone: register again, as the kubelet does
                    Err(e) if e.is_not_found() => { let _ = register(&client, &spec).await; }
                    Err(e) => tracing::warn!(error = %e, "updating the node status"),
                }
            }
        }
    }
}
