//! Pods run for real: the built-in node agent runs the seed article's pods as Linux containers (images from a
//! local registry that mirrors docker.io), and the article's claims hold when checked from the host: nginx answers
//! on the pod IP, containers of a pod share its network and hostname, volumes are shared (and read-only where the
//! manifest says), init containers run first. Also: restart policies, bad input ending as pod status, clean-up
//! after deletion, and adoption of running containers by a restarted server. Runs as root.

mod common;
use common::registry::Registry;
use common::*;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

fn start() -> (Registry, Server) {
    let reg = Registry::seeded(&[]);
    let s = Server::start_with_agent(&reg.url(), &[]);
    (reg, s)
}

fn apply(s: &Server, manifest: &str) {
    let out = s.kubectl_with(&s.kubectl, &["apply", "-f", "-"], Some(manifest));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn pod_json(s: &Server, name: &str) -> Value {
    serde_json::from_str(&s.ok(&["get", "pod", name, "-o", "json"])).expect("pod json")
}

fn wait_ready(s: &Server, pods: &[&str]) {
    let mut args = vec!["wait", "--for=condition=Ready", "--timeout=120s"];
    let names: Vec<String> = pods.iter().map(|p| format!("pod/{p}")).collect();
    args.extend(names.iter().map(String::as_str));
    let out = s.kubectl(&args);
    if !out.status.success() {
        let pods = s.ok(&["get", "pods", "-o", "wide"]);
        let describe = s.ok(&["describe", "pods"]);
        panic!("pods not Ready: {}\n{pods}\n{describe}\n{}", String::from_utf8_lossy(&out.stderr), s.log());
    }
}

fn pod_ip(s: &Server, name: &str) -> String {
    s.ok(&["get", "pod", name, "-o", "jsonpath={.status.podIP}"])
}

/// The host pid of a container's init, from the shim's record in the agent's data dir.
fn container_pid(s: &Server, pod: &str, container: &str) -> i32 {
    let p = pod_json(s, pod);
    let uid = p["metadata"]["uid"].as_str().expect("uid");
    let restarts = p["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .chain(p["status"]["initContainerStatuses"].as_array())
        .flatten()
        .find(|c| c["name"] == container)
        .and_then(|c| c["restartCount"].as_u64())
        .unwrap_or(0);
    let f: PathBuf = s.dir.path().join(format!("agent/pods/{uid}/containers/{container}/{restarts}/started.json"));
    let v: Value = serde_json::from_slice(&std::fs::read(&f).expect("started.json")).expect("started json");
    v["pid"].as_i64().expect("pid") as i32
}

/// A cgroup file of the process: `v1_file` in its v1 `controller` hierarchy, else `v2_file` in its v2 cgroup.
fn cgroup_value(pid: i32, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    for l in cg.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == controller) {
            let p = format!("/sys/fs/cgroup/{ctrls}{path}/{v1_file}");
            if let Ok(v) = std::fs::read_to_string(&p) {
                return v.trim().to_string();
            }
        }
        if ctrls.is_empty() {
            if let Ok(v) = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/{v2_file}")) {
                return v.trim().to_string();
            }
        }
    }
    panic!("no {controller} cgroup for {pid}: {cg}");
}

fn ns_inode(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).expect("ns link").display().to_string()
}

/// The mount of `path` inside the process's mount namespace: (options, fs type).
fn mount_of(pid: i32, path: &str) -> Option<(String, String)> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    info.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (f.get(4) == Some(&path)).then(|| (f[5].to_string(), f.get(sep + 1).unwrap_or(&"").to_string()))
    })
}

fn http_get(ip: &str, port: u16, path: &str) -> Option<String> {
    let addr = format!("{ip}:{port}").parse().ok()?;
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(c, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
}

fn nsenter(pid: i32, flags: &[&str], cmd: &[&str]) -> String {
    let out = Command::new("nsenter").arg("-t").arg(pid.to_string()).args(flags).args(cmd).output().expect("nsenter");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn seed_pods_run_as_the_article_describes() {
    require_root!();
    let (_reg, s) = start();
    let watch_out = s.dir.path().join("watch.txt");
    let mut watch = s.kubectl_background(&["get", "pods", "-w"], &watch_out);
    for f in ["01-nginx-pod.yaml", "02-app-with-sidecar.yaml", "03-frontend-backend.yaml", "04-web-app.yaml"] {
        s.ok(&["apply", "-f", seed_dir().join(f).to_str().expect("path")]);
    }
    s.ok(&["run", "test-pod", "--image=nginx:1.24", "--port=80"]);
    // The node registered itself, Ready, with its capacity, pod CIDR and a Lease renewed in kube-node-lease.
    let node: Value = serde_json::from_str(&s.ok(&["get", "node", "skiff-node", "-o", "json"])).expect("node json");
    let ready = node["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    assert_eq!(ready.map(|c| c["status"].clone()), Some(Value::from("True")), "{node}");
    for c in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        let cond = node["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|x| x["type"] == c));
        assert_eq!(cond.map(|x| x["status"].clone()), Some(Value::from("False")), "{c}: {node}");
    }
    assert!(node["status"]["capacity"]["memory"].as_str().is_some_and(|m| m.ends_with("Ki")), "{node}");
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.32.0");
    assert!(node["spec"]["podCIDR"].as_str().is_some_and(|c| c.ends_with(".0/24")), "{node}");
    let holder = eventually(20, "the node lease", || {
        let out = s.kubectl(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            "skiff-node",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(holder, "skiff-node");
    wait_ready(&s, &["nginx-pod", "app-with-sidecar", "frontend-backend", "web-app", "test-pod"]);

    // nginx answers on the pod IP, port 80, from the host.
    let nginx_ip = pod_ip(&s, "nginx-pod");
    let body = eventually(20, "nginx on the pod IP", || http_get(&nginx_ip, 80, "/"));
    assert!(body.contains("Welcome to nginx"), "{body}");
    let body = eventually(20, "test-pod's nginx", || http_get(&pod_ip(&s, "test-pod"), 80, "/"));
    assert!(body.contains("Welcome to nginx"), "{body}");

    // Sidecar: the log shipper prints what the application writes to the shared emptyDir, mounted read-only.
    let logs = eventually(30, "log-shipper output", || {
        let l = s.ok(&["logs", "app-with-sidecar", "-c", "log-shipper"]);
        l.contains("myapp 1.0 heartbeat").then_some(l)
    });
    assert!(logs.lines().any(|l| l.contains("heartbeat 1")), "{logs}");
    let shipper = container_pid(&s, "app-with-sidecar", "log-shipper");
    let (opts, _) = mount_of(shipper, "/var/log/app").expect("the log-shipper's /var/log/app mount");
    assert!(opts.split(',').any(|o| o == "ro"), "not read-only: {opts}");
    let app = container_pid(&s, "app-with-sidecar", "application");
    let (opts, _) = mount_of(app, "/var/log/app").expect("the application's /var/log/app mount");
    assert!(opts.split(',').any(|o| o == "rw"), "not writable: {opts}");

    // Frontend/backend: nginx proxies to the api server on localhost:8080, with the ConfigMap's config.
    let fb_ip = pod_ip(&s, "frontend-backend");
    let body = eventually(20, "the proxied api-server body", || http_get(&fb_ip, 80, "/"));
    assert_eq!(body.trim(), "api-server 1.0");
    let proxy = container_pid(&s, "frontend-backend", "nginx-proxy");
    let api = container_pid(&s, "frontend-backend", "api");
    let conf = std::fs::read_to_string(format!("/proc/{proxy}/root/etc/nginx/conf.d/default.conf")).expect("conf");
    assert!(conf.contains("proxy_pass http://localhost:8080;"), "{conf}");

    // Containers of one pod share the network and UTS namespaces, so the IP and the hostname.
    assert_eq!(ns_inode(proxy, "net"), ns_inode(api, "net"));
    assert_eq!(ns_inode(proxy, "uts"), ns_inode(api, "uts"));
    assert_eq!(ns_inode(proxy, "ipc"), ns_inode(api, "ipc"));
    assert_ne!(ns_inode(proxy, "pid"), ns_inode(api, "pid"), "no shareProcessNamespace: a pid namespace each");
    assert_ne!(ns_inode(proxy, "net"), ns_inode(std::process::id() as i32, "net"));
    assert_eq!(nsenter(api, &["-u"], &["hostname"]), "frontend-backend");
    assert_eq!(nsenter(proxy, &["-u"], &["hostname"]), "frontend-backend");
    let hosts = std::fs::read_to_string(format!("/proc/{api}/root/etc/hosts")).expect("hosts");
    assert!(hosts.contains(&format!("{fb_ip}\tfrontend-backend")), "{hosts}");
    // Different pods, different IPs; and they reach each other by IP.
    let mut ips: Vec<String> = ["nginx-pod", "app-with-sidecar", "frontend-backend", "web-app", "test-pod"]
        .iter()
        .map(|p| pod_ip(&s, p))
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 5, "{ips:?}");
    let from_pod = nsenter(
        container_pid(&s, "nginx-pod", "nginx"),
        &["-n"],
        &["curl", "-s", "-m", "5", &format!("http://{fb_ip}/")],
    );
    assert_eq!(from_pod, "api-server 1.0");

    // web-app: the init container ran first and for its 5 seconds; the cache emptyDir is mounted; the exporter
    // scrapes nginx over localhost and serves metrics on 9113.
    let init_logs = s.ok(&["logs", "web-app", "-c", "setup"]);
    assert_eq!(init_logs.trim(), "Initializing...");
    let p = pod_json(&s, "web-app");
    let init = &p["status"]["initContainerStatuses"][0];
    assert_eq!(init["state"]["terminated"]["reason"], "Completed", "{init}");
    let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time")).expect("rfc3339");
    let initialized = p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Initialized"))
        .expect("Initialized condition");
    let waited = t(&initialized["lastTransitionTime"]) - t(&p["status"]["startTime"]);
    assert!(waited.num_seconds() >= 5, "Initialized {waited} after the start");
    let web_started = t(&p["status"]["containerStatuses"][1]["state"]["running"]["startedAt"]);
    assert!(web_started >= t(&init["state"]["terminated"]["finishedAt"]), "{p}");
    let web = container_pid(&s, "web-app", "web");
    assert!(mount_of(web, "/var/cache/nginx").is_some(), "no emptyDir at /var/cache/nginx");
    let web_ip = pod_ip(&s, "web-app");
    let metrics =
        eventually(40, "exporter metrics", || http_get(&web_ip, 9113, "/metrics").filter(|m| m.contains("nginx_up 1")));
    assert!(metrics.contains("nginx_connections_active"), "{metrics}");

    // production-app (05): non-root user, its cgroup limits, the secret in its env, probes gating Ready.
    s.ok(&["apply", "-f", seed_dir().join("05-production-app.yaml").to_str().expect("path")]);
    wait_ready(&s, &["production-app"]);
    let prod = container_pid(&s, "production-app", "app");
    let status = std::fs::read_to_string(format!("/proc/{prod}/status")).expect("status");
    assert!(status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("1000")), "{status}");
    let environ =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{prod}/environ")).expect("environ")).into_owned();
    assert!(environ.split('\0').any(|e| e == "DATABASE_URL=postgres://app:s3cret@db.example.internal:5432/app"));
    assert_eq!(cgroup_value(prod, "memory", "memory.limit_in_bytes", "memory.max"), (512u64 << 20).to_string());
    let quota = cgroup_value(prod, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "50000" || quota.starts_with("50000 "), "{quota}");

    // The STATUS column went through upstream's values.
    let _ = watch.kill();
    let _ = watch.wait();
    let seen = std::fs::read_to_string(&watch_out).unwrap_or_default();
    for status in ["Init:0/1", "Running", "ContainerCreating"] {
        assert!(seen.contains(status), "no {status} in the watch:\n{seen}");
    }
    // describe shows upstream-like events and states.
    let d = s.ok(&["describe", "pod", "web-app"]);
    for want in [
        "Successfully assigned default/web-app to skiff-node",
        "Pulling image \"busybox:1.36\"",
        "Created container: setup",
        "Started container web",
        "State:          Running",
        "Reason:       Completed",
    ] {
        assert!(d.contains(want), "no {want:?} in:\n{d}");
    }
    s.assert_no_panic();
}

fn restart_count(p: &Value) -> u64 {
    p["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0)
}

#[test]
fn restart_policies_and_crash_loop_back_off() {
    require_root!();
    let (_reg, s) = start();
    apply(
        &s,
        "apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
  - {name: app, image: 'busybox:1.36', command: ['sh', '-c', 'echo try; exit 1']}
---
apiVersion: v1
kind: Pod
metadata: {name: never}
spec:
  restartPolicy: Never
  containers:
  - {name: app, image: 'busybox:1.36', command: ['sh', '-c', 'exit 3']}
---
apiVersion: v1
kind: Pod
metadata: {name: onfailure}
spec:
  restartPolicy: OnFailure
  containers:
  - {name: app, image: 'busybox:1.36', command: ['sh', '-c', 'echo done']}
",
    );
    // Always: restarted at once, then after 10 s, 20 s…, waiting in CrashLoopBackOff in between.
    let p = eventually(60, "crash restarted twice", || {
        let p = pod_json(&s, "crash");
        (restart_count(&p) >= 2).then_some(p)
    });
    assert_eq!(p["status"]["phase"], "Running");
    let back_off = eventually(30, "CrashLoopBackOff", || {
        let p = pod_json(&s, "crash");
        let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
        (w["reason"] == "CrashLoopBackOff").then(|| w["message"].as_str().unwrap_or("").to_string())
    });
    assert!(
        back_off.starts_with("back-off 20s restarting failed container=app pod=crash_default(")
            || back_off.starts_with("back-off 40s"),
        "{back_off}"
    );
    let p = pod_json(&s, "crash");
    assert_eq!(p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 1);
    let table = s.ok(&["get", "pod", "crash"]);
    assert!(table.contains("CrashLoopBackOff") || table.contains("Error"), "{table}");
    let d = s.ok(&["describe", "pod", "crash"]);
    assert!(d.contains("Back-off restarting failed container app in pod crash_default("), "{d}");

    // Never: Failed with the exit code; OnFailure with exit 0: Succeeded, shown as Completed.
    let p = eventually(30, "never Failed", || {
        let p = pod_json(&s, "never");
        (p["status"]["phase"] == "Failed").then_some(p)
    });
    let term = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(term["exitCode"], 3);
    assert_eq!(term["reason"], "Error");
    assert_eq!(restart_count(&p), 0);
    eventually(30, "onfailure Succeeded", || {
        (pod_json(&s, "onfailure")["status"]["phase"] == "Succeeded").then_some(())
    });
    let table = s.ok(&["get", "pod", "onfailure", "never"]);
    assert!(table.lines().any(|l| l.starts_with("onfailure") && l.contains("Completed")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("never") && l.contains("Error")), "{table}");
    assert_eq!(s.ok(&["logs", "onfailure"]).trim(), "done");
    s.assert_no_panic();
}

fn waiting_reason(s: &Server, pod: &str) -> Option<(String, String)> {
    let p = pod_json(s, pod);
    let st = &p["status"]["containerStatuses"][0];
    let w = st["state"].get("waiting")?;
    Some((w["reason"].as_str()?.to_string(), w["message"].as_str().unwrap_or("").to_string()))
}

#[test]
fn bad_input_ends_as_pod_status_and_events() {
    require_root!();
    let (_reg, s) = start();
    apply(
        &s,
        "apiVersion: v1
kind: Pod
metadata: {name: no-image}
spec:
  containers:
  - {name: app, image: 'skiff-test/does-not-exist:1'}
---
apiVersion: v1
kind: Pod
metadata: {name: no-command}
spec:
  containers:
  - {name: app, image: 'busybox:1.36', command: ['no-such-command']}
---
apiVersion: v1
kind: Pod
metadata: {name: no-configmap}
spec:
  containers:
  - name: app
    image: 'busybox:1.36'
    command: ['sleep', '3600']
    env: [{name: X, valueFrom: {configMapKeyRef: {name: later, key: k}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: wrong-hostpath}
spec:
  containers:
  - {name: app, image: 'busybox:1.36', command: ['sleep', '3600'], volumeMounts: [{name: h, mountPath: /h}]}
  volumes:
  - {name: h, hostPath: {path: /etc/hostname, type: Directory}}
",
    );
    let (reason, _) = eventually(30, "ErrImagePull", || {
        waiting_reason(&s, "no-image").filter(|(r, _)| r == "ErrImagePull" || r == "ImagePullBackOff")
    });
    assert!(reason == "ErrImagePull" || reason == "ImagePullBackOff");
    let d = s.ok(&["describe", "pod", "no-image"]);
    assert!(d.contains("Failed to pull image \"skiff-test/does-not-exist:1\""), "{d}");

    let p = eventually(30, "StartError", || {
        let p = pod_json(&s, "no-command");
        let st = &p["status"]["containerStatuses"][0];
        let t = st["lastState"].get("terminated").or_else(|| st["state"].get("terminated"))?;
        (t["reason"] == "StartError").then(|| t.clone())
    });
    assert_eq!(p["exitCode"], 128);
    assert!(p["message"].as_str().unwrap_or("").contains("executable file not found in $PATH"), "{p}");

    let (reason, message) = eventually(30, "CreateContainerConfigError", || {
        waiting_reason(&s, "no-configmap").filter(|(r, _)| r == "CreateContainerConfigError")
    });
    assert_eq!(reason, "CreateContainerConfigError");
    assert_eq!(message, "configmap \"later\" not found");
    assert!(s.ok(&["get", "pod", "no-configmap"]).contains("CreateContainerConfigError"));
    // …until the ConfigMap appears.
    s.ok(&["create", "configmap", "later", "--from-literal=k=v"]);
    wait_ready(&s, &["no-configmap"]);

    let events = eventually(30, "FailedMount", || {
        let d = s.ok(&["describe", "pod", "wrong-hostpath"]);
        d.contains("FailedMount").then_some(d)
    });
    assert!(
        events.contains(
            "MountVolume.SetUp failed for volume \"h\" : hostPath type check failed: /etc/hostname is not a directory"
        ),
        "{events}"
    );
    assert!(s.ok(&["get", "pod", "wrong-hostpath"]).contains("ContainerCreating"));
    s.assert_no_panic();
}

/// Everything on the host that names the pod: mounts under the agent's dir, netns files, the host veth,
/// cgroup directories.
fn leftovers(s: &Server, uid: &str, host_veth: &str) -> Vec<String> {
    let mut left = Vec::new();
    let data = s.dir.path().display().to_string();
    for l in std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines() {
        if l.contains(&data) && l.contains(uid) {
            left.push(format!("mount: {l}"));
        }
    }
    if s.dir.path().join(format!("agent/net/netns/{uid}")).exists() {
        left.push("netns file".into());
    }
    if std::path::Path::new(&format!("/sys/class/net/{host_veth}")).exists() {
        left.push(format!("veth {host_veth}"));
    }
    for root in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let cg = s.flags.iter().skip_while(|f| *f != "--cgroup-parent").nth(1).cloned().unwrap_or_default();
        let d = root.path().join(&cg).join(format!("pod{uid}"));
        if d.exists() {
            left.push(format!("cgroup {}", d.display()));
        }
    }
    if s.dir.path().join(format!("agent/pods/{uid}")).exists() {
        left.push("pod directory".into());
    }
    left
}

#[test]
fn deleted_pods_leave_nothing_behind_and_a_restarted_server_adopts_running_ones() {
    require_root!();
    let (_reg, s) = start();
    s.ok(&["apply", "-f", seed_dir().join("03-frontend-backend.yaml").to_str().expect("path")]);
    s.ok(&["apply", "-f", seed_dir().join("01-nginx-pod.yaml").to_str().expect("path")]);
    wait_ready(&s, &["frontend-backend", "nginx-pod"]);
    let before = pod_json(&s, "frontend-backend");
    let ids = |p: &Value| -> Vec<String> {
        p["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["containerID"].to_string())
            .collect()
    };

    // kill -9 the server (and its agent): the containers keep running and are adopted after the restart.
    let pid_before = container_pid(&s, "frontend-backend", "api");
    let s = s.crash_and_restart();
    assert!(std::path::Path::new(&format!("/proc/{pid_before}")).exists(), "the container died with the agent");
    let fb_ip = pod_ip(&s, "frontend-backend");
    let body = eventually(20, "the proxied body after the restart", || http_get(&fb_ip, 80, "/"));
    assert_eq!(body.trim(), "api-server 1.0");
    std::thread::sleep(Duration::from_secs(2));
    let after = pod_json(&s, "frontend-backend");
    assert_eq!(ids(&before), ids(&after));
    assert_eq!(after["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(after["status"]["phase"], "Running");
    assert_eq!(container_pid(&s, "frontend-backend", "api"), pid_before);

    // Deletion stops the containers (nginx handles SIGTERM) and removes every trace.
    for pod in ["frontend-backend", "nginx-pod"] {
        let p = pod_json(&s, pod);
        let uid = p["metadata"]["uid"].as_str().expect("uid").to_string();
        let sandbox: Value = serde_json::from_slice(
            &std::fs::read(s.dir.path().join(format!("agent/net/sandboxes/{uid}.json"))).expect("sandbox record"),
        )
        .expect("sandbox json");
        let veth = sandbox["host_veth"].as_str().expect("host veth").to_string();
        assert!(!leftovers(&s, &uid, &veth).is_empty(), "the checks see nothing even while the pod runs");
        let pid = container_pid(&s, pod, if pod == "nginx-pod" { "nginx" } else { "api" });
        s.ok(&["delete", "pod", pod, "--timeout=60s"]);
        assert!(s.fails(&["get", "pod", pod]).contains("NotFound"));
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "container process {pid} still runs");
        let left = leftovers(&s, &uid, &veth);
        assert!(left.is_empty(), "left behind by {pod}: {left:?}");
        let table = Command::new("nft").args(["list", "ruleset"]).output().expect("nft");
        let ip = p["status"]["podIP"].as_str().unwrap_or("none");
        assert!(!String::from_utf8_lossy(&table.stdout).contains(&format!("{ip} ")), "nft still names {ip}");
    }

    // A forced deletion removes the object at once; the agent still stops and removes everything.
    s.ok(&["run", "forced", "--image=busybox:1.36", "--", "sleep", "3600"]);
    wait_ready(&s, &["forced"]);
    let uid = pod_json(&s, "forced")["metadata"]["uid"].as_str().expect("uid").to_string();
    let pid = container_pid(&s, "forced", "forced");
    s.ok(&["delete", "pod", "forced", "--grace-period=0", "--force"]);
    eventually(30, "the forced pod's container gone", || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    let left = eventually(30, "the forced pod cleaned up", || {
        let left = leftovers(&s, &uid, "none");
        left.is_empty().then_some(left)
    });
    assert!(left.is_empty());
    s.assert_no_panic();
}

#[test]
fn kubectl_logs_options_as_upstream() {
    require_root!();
    let (_reg, s) = start();
    apply(
        &s,
        "apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  containers:
  - name: a
    image: 'busybox:1.36'
    command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; sleep 2; echo late; exec sleep 3600']
  - {name: b, image: 'busybox:1.36', command: ['sh', '-c', 'echo from-b; exec sleep 3600']}
---
apiVersion: v1
kind: Pod
metadata: {name: counter}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: 'busybox:1.36', command: ['sh', '-c', 'sleep 2; for i in 1 2 3; do echo $i; sleep 1; done']}
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - {name: c, image: 'busybox:1.36', command: ['sh', '-c', 'echo run $(cat /proc/sys/kernel/random/uuid); exit 1']}
",
    );
    wait_ready(&s, &["talker"]);
    // Two containers: kubectl defaults to the first; the API itself wants one named, as upstream says.
    let out = s.kubectl(&["logs", "talker"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Defaulted container \"a\" out of: a, b"));
    let err = s.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/talker/log"]);
    assert!(err.contains("a container name must be specified for pod talker, choose one of: [a b]"), "{err}");
    let err = s.fails(&["logs", "talker", "-c", "nope"]);
    assert!(err.contains("container nope is not valid for pod talker"), "{err}");
    let all = eventually(20, "the late line", || {
        let l = s.ok(&["logs", "talker", "-c", "a"]);
        l.contains("late").then_some(l)
    });
    assert_eq!(all, "line 1\nline 2\nline 3\nline 4\nline 5\noops\nlate\n");
    assert_eq!(s.ok(&["logs", "talker", "-c", "a", "--tail=2"]), "oops\nlate\n");
    assert_eq!(s.ok(&["logs", "talker", "-c", "a", "--limit-bytes=6"]), "line 1");
    let stamped = s.ok(&["logs", "talker", "-c", "a", "--timestamps"]);
    let late = stamped.lines().find(|l| l.ends_with(" late")).expect("a stamped late line");
    let (ts, _) = late.split_once(' ').expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{late}");
    assert_eq!(s.ok(&["logs", "talker", "-c", "a", &format!("--since-time={ts}")]), "late\n");
    assert_eq!(s.ok(&["logs", "talker", "-c", "a", "--since=1h", "--tail=1"]), "late\n");
    let both = s.ok(&["logs", "talker", "--all-containers"]);
    assert!(both.contains("line 1") && both.contains("from-b"), "{both}");
    let err = s.fails(&["logs", "talker", "-c", "a", "--previous"]);
    assert!(err.contains("previous terminated container \"a\" in pod \"talker\" not found"), "{err}");

    // -f follows until the container exits (started or not yet: the output is the same).
    eventually(60, "counter started", || {
        let id = s.ok(&["get", "pod", "counter", "-o", "jsonpath={.status.containerStatuses[0].containerID}"]);
        (!id.is_empty()).then_some(())
    });
    let followed = s.ok(&["logs", "-f", "counter"]);
    assert_eq!(followed, "1\n2\n3\n");

    // --previous shows the run before the current one.
    eventually(60, "a restart of crasher", || (restart_count(&pod_json(&s, "crasher")) >= 1).then_some(()));
    let previous = s.ok(&["logs", "crasher", "--previous"]);
    assert!(previous.starts_with("run "), "{previous}");
    s.assert_no_panic();
}

#[test]
fn probes_drive_readiness_and_restarts() {
    require_root!();
    let (_reg, s) = start();
    apply(
        &s,
        "apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - name: web
    image: 'myapp:1.0'
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1, failureThreshold: 1}
    livenessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1, failureThreshold: 2}
    startupProbe: {tcpSocket: {port: 8080}, periodSeconds: 1, failureThreshold: 30}
---
apiVersion: v1
kind: Pod
metadata: {name: never-starts}
spec:
  containers:
  - name: app
    image: 'busybox:1.36'
    command: ['sleep', '3600']
    startupProbe: {tcpSocket: {port: 9999}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: exec-probed}
spec:
  containers:
  - name: app
    image: 'busybox:1.36'
    command: ['sh', '-c', 'touch /tmp/healthy; exec sleep 3600']
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 1}
    readinessProbe: {exec: {command: [sh, -c, 'test \"$(hostname)\" = exec-probed']}, periodSeconds: 1}
",
    );
    wait_ready(&s, &["probed", "exec-probed"]);
    let st = &pod_json(&s, "probed")["status"]["containerStatuses"][0];
    assert_eq!(st["started"], true);
    assert_eq!(st["ready"], true);

    // Readiness fails: the pod stays Running but is not Ready.
    let pid = container_pid(&s, "probed", "web");
    std::fs::remove_file(format!("/proc/{pid}/root/app/www/ready")).expect("remove /app/www/ready");
    eventually(30, "not Ready", || {
        let c = s.ok(&["get", "pod", "probed", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]);
        (c == "False").then_some(())
    });
    let d = s.ok(&["describe", "pod", "probed"]);
    assert!(d.contains("Readiness probe failed: HTTP probe failed with statuscode: 404"), "{d}");
    assert_eq!(restart_count(&pod_json(&s, "probed")), 0);

    // Liveness fails: the container is restarted (with a fresh writable layer: Ready again).
    std::fs::remove_file(format!("/proc/{pid}/root/app/www/healthz")).expect("remove /app/www/healthz");
    eventually(60, "a liveness restart", || (restart_count(&pod_json(&s, "probed")) >= 1).then_some(()));
    let d = s.ok(&["describe", "pod", "probed"]);
    assert!(d.contains("Liveness probe failed: HTTP probe failed with statuscode: 404"), "{d}");
    assert!(d.contains("Container web failed liveness probe, will be restarted"), "{d}");
    wait_ready(&s, &["probed"]);

    // An exec probe runs in the container (its hostname, its files).
    let pid = container_pid(&s, "exec-probed", "app");
    std::fs::remove_file(format!("/proc/{pid}/root/tmp/healthy")).expect("remove /tmp/healthy");
    eventually(60, "an exec liveness restart", || (restart_count(&pod_json(&s, "exec-probed")) >= 1).then_some(()));
    let d = s.ok(&["describe", "pod", "exec-probed"]);
    assert!(d.contains("Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"), "{d}");

    // A startup probe that never succeeds restarts the container, and it is never started nor ready.
    eventually(60, "a startup restart", || (restart_count(&pod_json(&s, "never-starts")) >= 1).then_some(()));
    let st = &pod_json(&s, "never-starts")["status"]["containerStatuses"][0];
    assert_eq!(st["ready"], false);
    let d = s.ok(&["describe", "pod", "never-starts"]);
    assert!(d.contains("Startup probe failed: dial tcp "), "{d}");
    assert!(d.contains("connect: connection refused"), "{d}");
    s.assert_no_panic();
}

#[test]
fn volumes_env_and_scheduling_limits() {
    require_root!();
    let (_reg, s) = start();
    apply(
        &s,
        "apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {greeting: hello, other: x}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {tier: test}}
spec:
  containers:
  - name: app
    image: 'busybox:1.36'
    command: ['sh', '-c', 'echo \"$GREETING $POD_NAME $MY_IP $(cat /etc/config/greeting)\"; exec sleep 3600']
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: app-config, key: greeting}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    resources: {limits: {memory: 64Mi}}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret, readOnly: true}
    - {name: info, mountPath: /etc/podinfo}
    - {name: scratch, mountPath: /scratch}
    - {name: config, mountPath: /etc/other, subPath: other}
  volumes:
  - {name: config, configMap: {name: app-config, items: [{key: greeting, path: greeting}, {key: other, path: other}]}}
  - {name: secret, secret: {secretName: app-secret, defaultMode: 0400}}
  - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
  - {name: scratch, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: too-big}
spec:
  containers:
  - {name: app, image: 'busybox:1.36', resources: {requests: {memory: 100Ti}}}
",
    );
    wait_ready(&s, &["vols"]);
    let ip = pod_ip(&s, "vols");
    let out = eventually(20, "the greeting", || {
        let l = s.ok(&["logs", "vols"]);
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(out.trim(), format!("hello vols {ip} hello"));
    let pid = container_pid(&s, "vols", "app");
    let root = format!("/proc/{pid}/root");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.split('\0').any(|e| e == "MEM=64"), "{environ}");
    assert!(environ.split('\0').any(|e| e == "KUBERNETES_SERVICE_PORT=443"), "{environ}");
    assert_eq!(std::fs::read_to_string(format!("{root}/etc/secret/password")).expect("secret"), "s3cret");
    let (opts, _) = mount_of(pid, "/etc/secret").expect("secret mount");
    assert!(opts.split(',').any(|o| o == "ro"), "{opts}");
    assert_eq!(std::fs::read_to_string(format!("{root}/etc/podinfo/labels")).expect("labels"), "tier=\"test\"");
    let (_, fstype) = mount_of(pid, "/scratch").expect("scratch mount");
    assert_eq!(fstype, "tmpfs");
    assert_eq!(std::fs::read_to_string(format!("{root}/etc/other")).expect("subPath file"), "x");
    // The service-account token the API server's admission asked for is there, and works as a bearer token.
    let token =
        std::fs::read_to_string(format!("{root}/var/run/secrets/kubernetes.io/serviceaccount/token")).expect("token");
    assert_eq!(token.split('.').count(), 3, "{token}");
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(s.dir.path().join("pki/ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {}", token.trim())])
        .arg(format!("https://127.0.0.1:{}/api/v1/namespaces/default/pods/vols", s.port))
        .output()
        .expect("curl");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains("\"name\":\"vols\""), "{answer}");
    // A ConfigMap change reaches the volume (atomically, through the ..data link).
    s.ok(&["patch", "configmap", "app-config", "-p", "{\"data\":{\"greeting\":\"bonjour\"}}"]);
    eventually(60, "the updated configMap file", || {
        let g = std::fs::read_to_string(format!("{root}/etc/config/greeting")).ok()?;
        (g == "bonjour").then_some(())
    });
    let link = std::fs::read_link(format!("{root}/etc/config/greeting")).expect("key symlink");
    assert_eq!(link.display().to_string(), "..data/greeting");

    // More memory than the node has: Pending, with upstream's reason.
    let msg = eventually(30, "FailedScheduling", || {
        let m = s.ok(&[
            "get",
            "pod",
            "too-big",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ]);
        (!m.is_empty()).then_some(m)
    });
    assert!(msg.starts_with("0/1 nodes are available: 1 Insufficient memory."), "{msg}");
    assert!(s.ok(&["get", "pod", "too-big"]).contains("Pending"));
    s.assert_no_panic();
}

fn get_status_column(s: &Server, pod: &str) -> String {
    let line = s.ok(&["get", "pod", pod, "--no-headers"]);
    line.split_whitespace().nth(2).unwrap_or("").to_string()
}

#[test]
fn lifecycle_sidecars_init_failures_termination_and_namespaces() {
    require_root!();
    let (_reg, s) = start();
    let order = tempfile::tempdir().expect("temp dir");
    std::fs::write(order.path().join("order"), "").expect("order file");
    let manifest = format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: sidecar}}
spec:
  terminationGracePeriodSeconds: 5
  initContainers:
  - name: side
    image: 'busybox:1.36'
    restartPolicy: Always
    command: ['sh', '-c', 'trap \"echo side >> /h/order; exit 0\" TERM; echo side up; sleep 3600 & wait']
    volumeMounts: [{{name: h, mountPath: /h}}]
  - {{name: init, image: 'busybox:1.36', command: ['sh', '-c', 'echo init']}}
  containers:
  - name: app
    image: 'busybox:1.36'
    command: ['sh', '-c', 'trap \"echo app >> /h/order; exit 0\" TERM; sleep 3600 & wait']
    volumeMounts: [{{name: h, mountPath: /h}}]
  volumes:
  - {{name: h, hostPath: {{path: {dir}, type: Directory}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: init-fails}}
spec:
  initContainers: [{{name: bad, image: 'busybox:1.36', command: ['sh', '-c', 'exit 1']}}]
  containers: [{{name: app, image: 'busybox:1.36', command: ['sleep', '3600']}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: init-fails-never}}
spec:
  restartPolicy: Never
  initContainers: [{{name: bad, image: 'busybox:1.36', command: ['sh', '-c', 'exit 1']}}]
  containers: [{{name: app, image: 'busybox:1.36', command: ['sleep', '3600']}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: messages}}
spec:
  restartPolicy: Never
  containers:
  - {{name: a, image: 'busybox:1.36', command: ['sh', '-c', 'echo bye > /dev/termination-log; exit 2']}}
  - name: b
    image: 'busybox:1.36'
    terminationMessagePolicy: FallbackToLogsOnError
    command: ['sh', '-c', 'echo last words; exit 3']
---
apiVersion: v1
kind: Pod
metadata: {{name: stubborn}}
spec:
  terminationGracePeriodSeconds: 2
  containers: [{{name: a, image: 'busybox:1.36', command: ['sh', '-c', 'trap \"\" TERM; sleep 3600 & wait']}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: hostnet}}
spec:
  hostNetwork: true
  containers: [{{name: a, image: 'busybox:1.36', command: ['sleep', '3600']}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: shared-pid}}
spec:
  shareProcessNamespace: true
  containers:
  - {{name: a, image: 'busybox:1.36', command: ['sleep', '3599']}}
  - {{name: b, image: 'busybox:1.36', command: ['sh', '-c', 'sleep 1; ps; exec sleep 3600']}}
",
        dir = order.path().display()
    );
    apply(&s, &manifest);
    wait_ready(&s, &["sidecar", "stubborn", "hostnet", "shared-pid"]);

    // The sidecar started first and keeps running; the regular init container ran to completion after it.
    let p = pod_json(&s, "sidecar");
    let side = &p["status"]["initContainerStatuses"][0];
    let init = &p["status"]["initContainerStatuses"][1];
    assert!(side["state"]["running"].is_object(), "{side}");
    assert_eq!(side["started"], true);
    assert_eq!(init["state"]["terminated"]["reason"], "Completed", "{init}");
    let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time")).expect("rfc3339");
    assert!(t(&side["state"]["running"]["startedAt"]) <= t(&init["state"]["terminated"]["startedAt"]));
    assert_eq!(s.ok(&["logs", "sidecar", "-c", "side"]), "side up\n");

    // Failing init containers: Init:Error / Init:CrashLoopBackOff with restarts; Never: the pod fails.
    let seen = eventually(60, "Init:CrashLoopBackOff", || {
        let st = get_status_column(&s, "init-fails");
        (st == "Init:CrashLoopBackOff").then_some(st)
    });
    assert_eq!(seen, "Init:CrashLoopBackOff");
    assert_eq!(pod_json(&s, "init-fails")["status"]["phase"], "Pending");
    eventually(30, "init-fails-never Failed", || {
        (pod_json(&s, "init-fails-never")["status"]["phase"] == "Failed").then_some(())
    });
    assert_eq!(get_status_column(&s, "init-fails-never"), "Init:Error");

    // Termination messages: the file, or the log's end with FallbackToLogsOnError.
    let p = eventually(30, "messages Failed", || {
        let p = pod_json(&s, "messages");
        (p["status"]["phase"] == "Failed").then_some(p)
    });
    let msg = |i: usize| p["status"]["containerStatuses"][i]["state"]["terminated"]["message"].clone();
    assert_eq!(msg(0), "bye\n");
    assert_eq!(msg(1), "last words\n");

    // Host network: the node's IP and network namespace.
    let node_ip = s.ok(&["get", "node", "skiff-node", "-o", "jsonpath={.status.addresses[0].address}"]);
    assert_eq!(pod_ip(&s, "hostnet"), node_ip);
    let hostnet = container_pid(&s, "hostnet", "a");
    assert_eq!(ns_inode(hostnet, "net"), ns_inode(std::process::id() as i32, "net"));

    // A shared process namespace: one pid namespace, each container sees the other's processes.
    let (a, b) = (container_pid(&s, "shared-pid", "a"), container_pid(&s, "shared-pid", "b"));
    assert_eq!(ns_inode(a, "pid"), ns_inode(b, "pid"));
    let ps = eventually(20, "ps output", || {
        let l = s.ok(&["logs", "shared-pid", "-c", "b"]);
        l.contains("PID").then_some(l)
    });
    assert!(ps.contains("sleep 3599"), "{ps}");

    // Deletion: app containers stop before sidecars; a container ignoring SIGTERM is killed after the grace.
    s.ok(&["delete", "pod", "sidecar", "stubborn", "shared-pid", "--timeout=60s"]);
    assert_eq!(std::fs::read_to_string(order.path().join("order")).expect("order"), "app\nside\n");
    assert!(!std::path::Path::new(&format!("/proc/{a}")).exists(), "shared-pid's container survived");
    s.assert_no_panic();
}
