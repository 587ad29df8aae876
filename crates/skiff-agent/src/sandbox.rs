//! The pod sandbox: what the pause container holds under containerd — the network namespace (skiff-net: veth on
//! the bridge, an IP), the UTS namespace with the pod's hostname, the IPC namespace, a shared `/dev/shm`, and the
//! pod's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`. Without a pause process the UTS and IPC
//! namespaces are kept alive by bind mounts of their nsfs files, as skiff-net keeps network namespaces.
//!
//! Everything is idempotent: `ensure` adopts an intact sandbox (after an agent restart) and `remove` only
//! removes what exists.

use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::statfs::{statfs, NSFS_MAGIC, TMPFS_MAGIC};

use crate::layout::Layout;

/// The pod's `/dev/shm` size, as containerd's sandbox gives it.
const SHM_SIZE: &str = "size=65536k";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("network: {0}")]
    Net(#[from] skiff_net::NetError),
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}: {errno}")]
    Sys { op: String, errno: nix::errno::Errno },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError {
    let path = path.to_path_buf();
    move |source| SandboxError::Io { op, path, source }
}

/// What containers of the pod join or bind-mount.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The pod IP (the node's for host-network pods).
    pub ip: Ipv4Addr,
    /// `None`: the host's namespace.
    pub netns: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub hostname: String,
    pub etc_hosts: PathBuf,
    pub etc_hostname: PathBuf,
    pub resolv_conf: PathBuf,
    pub shm: Option<PathBuf>,
    /// The pod's shared pid namespace (`shareProcessNamespace`), held by a `skiff pause` process.
    pub pid: Option<PathBuf>,
}

pub struct Sandboxes {
    layout: Layout,
    network: Arc<skiff_net::Network>,
    node_ip: Ipv4Addr,
    node_name: String,
    /// The `skiff` executable (`skiff pause`).
    exe: PathBuf,
}

/// The `skiff pause` process of a pod, as recorded in `ns/pause.json`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Pause {
    pid: i32,
    /// Field 22 of /proc/PID/stat: guards against a reused pid.
    start_time: u64,
}

fn start_time(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 1..].split_whitespace().nth(19)?.parse().ok()
}

impl Pause {
    fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start_time)
    }
}

fn host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false)
}

fn host_ipc(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_ipc).unwrap_or(false)
}

/// The pod's hostname and, with a subdomain, its fully qualified name (upstream's `GeneratePodHostNameAndDomain`).
pub fn pod_hostname(pod: &Pod) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut host = spec.and_then(|s| s.hostname.clone()).filter(|h| !h.is_empty()).unwrap_or(name);
    // a pod name may be longer than a hostname can be
    host.truncate(63);
    while host.ends_with(['-', '.']) {
        host.pop();
    }
    let fqdn = spec
        .and_then(|s| s.subdomain.clone())
        .filter(|d| !d.is_empty())
        .map(|d| format!("{host}.{d}.{}.svc.cluster.local", pod.metadata.namespace.as_deref().unwrap_or("default")));
    (host, fqdn)
}

impl Sandboxes {
    pub fn new(
        layout: Layout,
        network: Arc<skiff_net::Network>,
        node_ip: Ipv4Addr,
        node_name: String,
        exe: PathBuf,
    ) -> Self {
        Sandboxes { layout, network, node_ip, node_name, exe }
    }

    /// The pod's pid namespace holder: the recorded one if it still runs, else a new `skiff pause`.
    async fn ensure_pause(&self, uid: &str) -> Result<PathBuf, SandboxError> {
        let record = self.layout.ns(uid, "pause.json");
        if let Some(p) = fs::read(&record).ok().and_then(|b| serde_json::from_slice::<Pause>(&b).ok()) {
            if p.alive() {
                return Ok(PathBuf::from(format!("/proc/{}/ns/pid", p.pid)));
            }
        }
        let exe = self.exe.clone();
        let pid = tokio::task::spawn_blocking(move || -> Result<i32, SandboxError> {
            use std::io::BufRead;
            use std::os::unix::process::CommandExt;
            let mut cmd = std::process::Command::new(&exe);
            cmd.arg("pause").stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped());
            // SAFETY: setsid is async-signal-safe; its own session keeps it out of the agent's signals
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(io("spawn", &exe))?;
            let mut line = String::new();
            if let Some(out) = child.stdout.take() {
                let _ = std::io::BufReader::new(out).read_line(&mut line);
            }
            let _ = child.wait();
            line.trim().parse::<i32>().map_err(|_| SandboxError::Sys {
                op: format!("skiff pause printed {line:?}, not a pid"),
                errno: nix::errno::Errno::EIO,
            })
        })
        .await
        .map_err(|e| SandboxError::Sys { op: format!("pause thread: {e}"), errno: nix::errno::Errno::EIO })??;
        let p = Pause { pid, start_time: start_time(pid).unwrap_or(0) };
        if let Some(dir) = record.parent() {
            fs::create_dir_all(dir).map_err(io("mkdir", dir))?;
        }
        let json = serde_json::to_vec(&p)
            .map_err(|e| SandboxError::Sys { op: e.to_string(), errno: nix::errno::Errno::EIO })?;
        write_file(&record, &String::from_utf8_lossy(&json))?;
        Ok(PathBuf::from(format!("/proc/{pid}/ns/pid")))
    }

    fn remove_pause(&self, uid: &str) -> Result<(), SandboxError> {
        let record = self.layout.ns(uid, "pause.json");
        if let Some(p) = fs::read(&record).ok().and_then(|b| serde_json::from_slice::<Pause>(&b).ok()) {
            if p.alive() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        match fs::remove_file(&record) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &record)(e)),
        }
    }

    pub fn network(&self) -> &skiff_net::Network {
        &self.network
    }

    /// Creates (or adopts) the pod's sandbox.
    pub async fn ensure(&self, pod: &Pod) -> Result<Sandbox, SandboxError> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let (hostname, fqdn) = if host_network(pod) { (self.node_name.clone(), None) } else { pod_hostname(pod) };
        let set_as_fqdn = pod.spec.as_ref().and_then(|s| s.set_hostname_as_fqdn).unwrap_or(false);
        let uts_name = match (&fqdn, set_as_fqdn) {
            (Some(f), true) => f.clone(),
            _ => hostname.clone(),
        };
        let (ip, netns) = if host_network(pod) {
            (self.node_ip, None)
        } else {
            let sb = self.network.create_sandbox(&uid).await?;
            (sb.ip, Some(sb.netns_path))
        };
        let uts = if host_network(pod) { None } else { Some(self.layout.ns(&uid, "uts")) };
        let ipc = if host_ipc(pod) { None } else { Some(self.layout.ns(&uid, "ipc")) };
        if uts.is_some() || ipc.is_some() {
            let (uts, ipc, name) = (uts.clone(), ipc.clone(), uts_name.clone());
            tokio::task::spawn_blocking(move || persistent_namespaces(uts.as_deref(), ipc.as_deref(), &name))
                .await
                .map_err(|e| SandboxError::Sys { op: format!("namespace thread: {e}"), errno: nix::errno::Errno::EIO })??;
        }
        let etc = self.layout.etc(&uid, "");
        fs::create_dir_all(&etc).map_err(io("mkdir", &etc))?;
        let etc_hosts = self.layout.etc(&uid, "hosts");
        write_file(&etc_hosts, &hosts_file(pod, ip, &hostname, fqdn.as_deref()))?;
        let etc_hostname = self.layout.etc(&uid, "hostname");
        write_file(&etc_hostname, &format!("{uts_name}\n"))?;
        let resolv_conf = self.layout.etc(&uid, "resolv.conf");
        write_file(&resolv_conf, &resolv_file(pod))?;
        let shm = if host_ipc(pod) { None } else { Some(self.ensure_shm(&uid)?) };
        let share =
            pod.spec.as_ref().is_some_and(|s| s.share_process_namespace == Some(true) && s.host_pid != Some(true));
        let pid = if share { Some(self.ensure_pause(&uid).await?) } else { None };
        Ok(Sandbox { ip, netns, uts, ipc, hostname: uts_name, etc_hosts, etc_hostname, resolv_conf, shm, pid })
    }

    fn ensure_shm(&self, uid: &str) -> Result<PathBuf, SandboxError> {
        let p = self.layout.shm(uid);
        fs::create_dir_all(&p).map_err(io("mkdir", &p))?;
        if !is_fs(&p, TMPFS_MAGIC) {
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount(Some("shm"), &p, Some("tmpfs"), flags, Some(format!("mode=1777,{SHM_SIZE}").as_str()))
                .map_err(|errno| SandboxError::Sys { op: format!("mount tmpfs on {}", p.display()), errno })?;
        }
        Ok(p)
    }

    /// Removes every kernel object and file of the pod's sandbox. Idempotent.
    pub async fn remove(&self, uid: &str) -> Result<(), SandboxError> {
        if self.network.sandbox(uid)?.is_some() {
            self.network.remove_sandbox(uid).await?;
        }
        for kind in ["uts", "ipc"] {
            unmount_and_remove(&self.layout.ns(uid, kind))?;
        }
        self.remove_pause(uid)?;
        let shm = self.layout.shm(uid);
        if is_fs(&shm, TMPFS_MAGIC) {
            umount2(&shm, MntFlags::MNT_DETACH)
                .map_err(|errno| SandboxError::Sys { op: format!("umount {}", shm.display()), errno })?;
        }
        Ok(())
    }
}

fn is_fs(p: &Path, magic: nix::sys::statfs::FsType) -> bool {
    // statfs of a mount point reports the mounted file system; of a plain dir, its parent's
    statfs(p).map(|s| s.filesystem_type() == magic).unwrap_or(false)
}

fn unmount_and_remove(p: &Path) -> Result<(), SandboxError> {
    match umount2(p, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(errno) => return Err(SandboxError::Sys { op: format!("umount {}", p.display()), errno }),
    }
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove", p)(e)),
    }
}

/// Makes new UTS (with `hostname`) and IPC namespaces kept alive by bind mounts at the given paths, on a
/// dedicated thread that exits afterwards (namespace changes are per thread, and a pooled thread must not stay
/// in the pod's namespaces). Existing live ones are kept.
fn persistent_namespaces(uts: Option<&Path>, ipc: Option<&Path>, hostname: &str) -> Result<(), SandboxError> {
    let want: Vec<(&Path, CloneFlags, &str)> =
        [(uts, CloneFlags::CLONE_NEWUTS, "uts"), (ipc, CloneFlags::CLONE_NEWIPC, "ipc")]
            .into_iter()
            .filter_map(|(p, f, k)| p.filter(|p| !is_fs(p, NSFS_MAGIC)).map(|p| (p, f, k)))
            .collect();
    if want.is_empty() {
        return Ok(());
    }
    let owned: Vec<(PathBuf, CloneFlags, String)> =
        want.iter().map(|(p, f, k)| (p.to_path_buf(), *f, k.to_string())).collect();
    let hostname = hostname.to_string();
    let thread = std::thread::Builder::new()
        .name("skiff-sandbox-ns".into())
        .spawn(move || -> Result<(), SandboxError> {
            let mut flags = CloneFlags::empty();
            for (p, f, _) in &owned {
                if let Some(dir) = p.parent() {
                    fs::create_dir_all(dir).map_err(io("mkdir", dir))?;
                }
                fs::OpenOptions::new().write(true).create(true).truncate(false).open(p).map_err(io("create", p))?;
                flags |= *f;
            }
            unshare(flags).map_err(|errno| SandboxError::Sys { op: "unshare(uts|ipc)".into(), errno })?;
            if flags.contains(CloneFlags::CLONE_NEWUTS) {
                nix::unistd::sethostname(&hostname)
                    .map_err(|errno| SandboxError::Sys { op: format!("sethostname {hostname}"), errno })?;
            }
            for (p, _, kind) in &owned {
                let src = format!("/proc/thread-self/ns/{kind}");
                mount(Some(src.as_str()), p, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|errno| {
                    SandboxError::Sys { op: format!("bind mount {src} onto {}", p.display()), errno }
                })?;
            }
            Ok(())
        })
        .map_err(io("spawn thread for", Path::new("sandbox namespaces")))?;
    thread
        .join()
        .map_err(|_| SandboxError::Sys { op: "namespace thread panicked".into(), errno: nix::errno::Errno::EIO })?
}

fn write_file(p: &Path, content: &str) -> Result<(), SandboxError> {
    if fs::read_to_string(p).ok().as_deref() == Some(content) {
        return Ok(());
    }
    let tmp = p.with_extension("tmp");
    fs::write(&tmp, content).map_err(io("write", &tmp))?;
    fs::rename(&tmp, p).map_err(io("rename", p))
}

/// The kubelet's managed hosts file (`managedHostsFileContent`).
fn hosts_file(pod: &Pod, ip: Ipv4Addr, hostname: &str, fqdn: Option<&str>) -> String {
    let spec = pod.spec.as_ref();
    let mut s = String::new();
    if host_network(pod) {
        s.push_str("# Kubernetes-managed hosts file (host network).\n");
        s.push_str(&fs::read_to_string("/etc/hosts").unwrap_or_default());
    } else {
        s.push_str("# Kubernetes-managed hosts file.\n");
        s.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n");
        s.push_str("fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
        match fqdn {
            Some(f) => s.push_str(&format!("{ip}\t{f}\t{hostname}\n")),
            None => s.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    let aliases = spec.and_then(|s| s.host_aliases.as_ref()).filter(|a| !a.is_empty());
    if let Some(aliases) = aliases {
        s.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let names = a.hostnames.clone().unwrap_or_default().join("\t");
            s.push_str(&format!("{}\t{names}\n", a.ip));
        }
    }
    s
}

/// resolv.conf by dnsPolicy. skiff has no cluster DNS yet, so `ClusterFirst` falls back to the node's resolver
/// configuration, as the kubelet does when it has no cluster DNS configured; `None` uses only `dnsConfig`.
fn resolv_file(pod: &Pod) -> String {
    let spec = pod.spec.as_ref();
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let (mut servers, mut searches, mut options) = (Vec::new(), Vec::new(), Vec::new());
    if policy != "None" {
        for line in fs::read_to_string("/etc/resolv.conf").unwrap_or_default().lines() {
            let mut f = line.split_whitespace();
            match f.next() {
                Some("nameserver") => servers.extend(f.next().map(String::from)),
                Some("search") | Some("domain") => searches.extend(f.map(String::from)),
                Some("options") => options.extend(f.map(String::from)),
                _ => {}
            }
        }
    }
    if let Some(c) = spec.and_then(|s| s.dns_config.as_ref()) {
        servers.extend(c.nameservers.clone().unwrap_or_default());
        searches.extend(c.searches.clone().unwrap_or_default());
        for o in c.options.clone().unwrap_or_default() {
            let name = o.name.unwrap_or_default();
            options.retain(|x: &String| x.split(':').next() != Some(name.as_str()));
            options.push(match o.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            });
        }
    }
    servers.dedup();
    searches.dedup();
    let mut s = String::new();
    if !searches.is_empty() {
        s.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for n in servers.iter().take(3) {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("pod")
    }

    #[test]
    fn hostname_and_hosts() {
        let p = pod(serde_json::json!({"metadata": {"name": "web-0", "namespace": "ns1"},
            "spec": {"containers": [], "hostname": "web", "subdomain": "svc",
                     "hostAliases": [{"ip": "10.1.1.1", "hostnames": ["a", "b"]}]}}));
        let (h, f) = pod_hostname(&p);
        assert_eq!(h, "web");
        assert_eq!(f.as_deref(), Some("web.svc.ns1.svc.cluster.local"));
        let hosts = hosts_file(&p, Ipv4Addr::new(10, 244, 0, 5), &h, f.as_deref());
        assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"), "{hosts}");
        assert!(hosts.contains("10.244.0.5\tweb.svc.ns1.svc.cluster.local\tweb\n"), "{hosts}");
        assert!(hosts.ends_with("\n# Entries added by HostAliases.\n10.1.1.1\ta\tb\n"), "{hosts}");
        let p = pod(serde_json::json!({"metadata": {"name": "nginx-pod"}, "spec": {"containers": []}}));
        assert_eq!(pod_hostname(&p), ("nginx-pod".to_string(), None));
    }

    #[test]
    fn dns_none_uses_only_dns_config() {
        let p = pod(serde_json::json!({"metadata": {"name": "a"}, "spec": {"containers": [], "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["x.local"], "options": [{"name": "ndots", "value": "2"}]}}}));
        assert_eq!(resolv_file(&p), "search x.local\nnameserver 1.2.3.4\noptions ndots:2\n");
    }
}
