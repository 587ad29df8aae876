//! `build` end to end: the spec a pod's container gets.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, PodSpec, SecurityContext, Sysctl};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use oci_spec::runtime::{Capability, LinuxNamespaceType};

use super::*;
use crate::layers::tests::layer;

fn pod(spec: PodSpec) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            ..Default::default()
        },
        spec: Some(spec),
        ..Default::default()
    }
}

fn image() -> RuntimeConfig {
    RuntimeConfig {
        entrypoint: Some(vec!["/docker-entrypoint.sh".into()]),
        cmd: Some(vec!["nginx".into(), "-g".into(), "daemon off;".into()]),
        env: Some(vec!["PATH=/usr/local/bin:/usr/bin:/bin".into(), "NGINX_VERSION=1.27".into()]),
        working_dir: Some("/srv".into()),
        user: Some("nginx".into()),
        stop_signal: Some("SIGQUIT".into()),
        ..Default::default()
    }
}

fn inputs<'a>(pod: &'a Pod, c: &'a Container, image: &'a RuntimeConfig, layers: &'a [PathBuf]) -> Inputs<'a> {
    Inputs {
        pod,
        container: c,
        image,
        image_layers: layers,
        env: vec![EnvVar::literal("GREETING", "hi $(NAME)"), EnvVar::literal("NAME", "web")],
        service_env: vec![("KUBERNETES_SERVICE_HOST".into(), "10.96.0.1".into())],
        mounts: vec![],
        namespaces: Namespaces {
            network: Some("/run/skiff/netns/p1".into()),
            ipc: Some("/proc/42/ns/ipc".into()),
            uts: Some("/proc/42/ns/uts".into()),
            pid: None,
        },
        hostname: "web".into(),
        etc_hosts: Some("/pods/u1/etc-hosts".into()),
        etc_hostname: Some("/pods/u1/hostname".into()),
        resolv_conf: Some("/pods/u1/resolv.conf".into()),
        dev_shm: Some("/pods/u1/shm".into()),
        termination_log: Some("/pods/u1/containers/main/0".into()),
        node_memory_bytes: 8 << 30,
    }
}

fn layers(t: &Path) -> Vec<PathBuf> {
    vec![layer(
        t,
        "0",
        &[
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n"),
            ("etc/group", "root:x:0:\nnginx:x:101:nginx\nwww:x:33:nginx\n"),
        ],
    )]
}

#[test]
fn a_plain_container() {
    let t = tempfile::tempdir().unwrap();
    let layers = layers(t.path());
    let p = pod(PodSpec::default());
    let c = Container { name: "main".into(), ..Default::default() };
    let image = image();
    let built = build(&inputs(&p, &c, &image, &layers)).unwrap();
    assert_eq!((built.uid, built.gid, built.stop_signal.as_str()), (101, 101, "SIGQUIT"));

    let process = built.spec.process().as_ref().unwrap();
    assert_eq!(process.args().as_ref().unwrap(), &["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]);
    assert_eq!(
        process.env().as_ref().unwrap(),
        &[
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "HOSTNAME=web",
            "NGINX_VERSION=1.27",
            "KUBERNETES_SERVICE_HOST=10.96.0.1",
            "GREETING=hi $(NAME)",
            "NAME=web",
            "HOME=/var/cache/nginx",
        ]
    );
    assert_eq!(process.cwd(), Path::new("/srv"));
    assert_eq!(process.user().additional_gids().as_ref().unwrap(), &[33, 101]);
    assert_eq!(process.no_new_privileges(), Some(false));
    assert_eq!(process.oom_score_adj(), Some(1000));
    let caps = process.capabilities().as_ref().unwrap();
    assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
    assert!(caps.effective().as_ref().unwrap().contains(&Capability::NetBindService));
    assert!(caps.ambient().is_none() && caps.inheritable().is_none());
    assert!(built.spec.hostname().is_none());

    let linux = built.spec.linux().as_ref().unwrap();
    let ns: Vec<(LinuxNamespaceType, Option<PathBuf>)> =
        linux.namespaces().as_ref().unwrap().iter().map(|n| (n.typ(), n.path().clone())).collect();
    assert_eq!(
        ns,
        [
            (LinuxNamespaceType::Pid, None),
            (LinuxNamespaceType::Ipc, Some("/proc/42/ns/ipc".into())),
            (LinuxNamespaceType::Uts, Some("/proc/42/ns/uts".into())),
            (LinuxNamespaceType::Mount, None),
            (LinuxNamespaceType::Network, Some("/run/skiff/netns/p1".into())),
            (LinuxNamespaceType::Cgroup, None),
        ]
    );
    assert_eq!(linux.masked_paths().as_ref().unwrap().len(), 11);
    assert_eq!(linux.readonly_paths().as_ref().unwrap().len(), 5);
    let cpu = linux.resources().as_ref().unwrap().cpu().as_ref().unwrap();
    assert_eq!((cpu.shares(), cpu.quota(), cpu.period()), (Some(2), None, Some(100_000)));
    assert!(linux.rootfs_propagation().is_none());

    let mounts: Vec<&str> =
        built.spec.mounts().as_ref().unwrap().iter().map(|m| m.destination().to_str().unwrap()).collect();
    assert_eq!(
        mounts,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/mqueue",
            "/sys",
            "/etc/hosts",
            "/dev/termination-log",
            "/etc/hostname",
            "/etc/resolv.conf",
            "/dev/shm"
        ]
    );
    assert_eq!(built.spec.root().as_ref().unwrap().readonly(), Some(false));
}

#[test]
fn host_network_pod() {
    let t = tempfile::tempdir().unwrap();
    let layers = layers(t.path());
    let p = pod(PodSpec {
        host_network: Some(true),
        security_context: Some(PodSecurityContext {
            sysctls: Some(vec![
                Sysctl { name: "net.ipv4.ip_forward".into(), value: "1".into() },
                Sysctl { name: "kernel.shm_rmid_forced".into(), value: "1".into() },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    });
    let c = Container { name: "main".into(), command: Some(vec!["/agent".into()]), ..Default::default() };
    let image = image();
    let mut i = inputs(&p, &c, &image, &layers);
    i.namespaces.network = None;
    i.namespaces.uts = None;
    i.hostname = "node-1".into();
    let built = build(&i).unwrap();
    let linux = built.spec.linux().as_ref().unwrap();
    let types: Vec<LinuxNamespaceType> = linux.namespaces().as_ref().unwrap().iter().map(|n| n.typ()).collect();
    assert_eq!(
        types,
        [LinuxNamespaceType::Pid, LinuxNamespaceType::Ipc, LinuxNamespaceType::Mount, LinuxNamespaceType::Cgroup]
    );
    // the host's network sysctls are left alone; the pod's own IPC namespace takes its sysctl
    let sysctl = linux.sysctl().as_ref().unwrap();
    assert_eq!(sysctl.len(), 1);
    assert_eq!(sysctl["kernel.shm_rmid_forced"], "1");
    let process = built.spec.process().as_ref().unwrap();
    assert!(process.env().as_ref().unwrap().contains(&"HOSTNAME=node-1".to_string()));
    assert_eq!(process.args().as_ref().unwrap(), &["/agent"]);
    // still the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf
    let mounts: Vec<&Path> = built.spec.mounts().as_ref().unwrap().iter().map(|m| m.destination().as_path()).collect();
    assert!(mounts.contains(&Path::new("/etc/hosts")) && mounts.contains(&Path::new("/etc/resolv.conf")));
}

#[test]
fn missing_paths_without_host_namespaces_mean_new_namespaces() {
    let t = tempfile::tempdir().unwrap();
    let layers = layers(t.path());
    let p = pod(PodSpec { host_pid: Some(true), ..Default::default() });
    let c = Container { name: "main".into(), ..Default::default() };
    let image = image();
    let mut i = inputs(&p, &c, &image, &layers);
    i.namespaces = Namespaces::default();
    let built = build(&i).unwrap();
    let ns = built.spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
    let types: Vec<LinuxNamespaceType> = ns.iter().map(|n| n.typ()).collect();
    assert_eq!(
        types,
        [
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Cgroup
        ]
    );
    assert!(ns.iter().all(|n| n.path().is_none()));
}

#[test]
fn a_privileged_read_only_container() {
    let t = tempfile::tempdir().unwrap();
    let layers = layers(t.path());
    let p = pod(PodSpec::default());
    let c = Container {
        name: "main".into(),
        working_dir: Some("/work".into()),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            read_only_root_filesystem: Some(true),
            run_as_user: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let image = image();
    let built = build(&inputs(&p, &c, &image, &layers)).unwrap();
    assert_eq!((built.uid, built.gid), (0, 0));
    let process = built.spec.process().as_ref().unwrap();
    assert_eq!(process.cwd(), Path::new("/work"));
    assert_eq!(process.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().len(), 41);
    let linux = built.spec.linux().as_ref().unwrap();
    assert!(linux.masked_paths().as_ref().unwrap().is_empty());
    assert!(!linux.namespaces().as_ref().unwrap().iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup));
    assert_eq!(built.spec.root().as_ref().unwrap().readonly(), Some(true));
    let sys = built.spec.mounts().as_ref().unwrap().iter().find(|m| m.destination() == Path::new("/sys")).unwrap();
    assert!(sys.options().as_ref().unwrap().contains(&"rw".to_string()));
    let hostname =
        built.spec.mounts().as_ref().unwrap().iter().find(|m| m.destination() == Path::new("/etc/hostname")).unwrap();
    assert!(hostname.options().as_ref().unwrap().contains(&"ro".to_string()));
}

#[test]
fn errors_carry_the_kubelet_reason() {
    let t = tempfile::tempdir().unwrap();
    let layers = layers(t.path());
    let p = pod(PodSpec {
        security_context: Some(PodSecurityContext { run_as_non_root: Some(true), ..Default::default() }),
        ..Default::default()
    });
    let c = Container { name: "main".into(), ..Default::default() };
    let image = image();
    let err = build(&inputs(&p, &c, &image, &layers)).unwrap_err();
    assert!(matches!(err, SpecError::Config(m) if m.contains("non-numeric user (nginx)")));

    let p = pod(PodSpec::default());
    let image = RuntimeConfig::default();
    let err = build(&inputs(&p, &c, &image, &layers)).unwrap_err();
    assert_eq!(err, SpecError::Create(command::NO_COMMAND.into()));
}

#[test]
fn stop_signals() {
    assert_eq!(stop_signal(None), "SIGTERM");
    assert_eq!(stop_signal(Some("")), "SIGTERM");
    assert_eq!(stop_signal(Some("SIGQUIT")), "SIGQUIT");
    assert_eq!(stop_signal(Some("quit")), "SIGQUIT");
    assert_eq!(stop_signal(Some("9")), "SIGKILL");
    assert_eq!(stop_signal(Some("37")), "SIGRTMIN+3");
    assert_eq!(stop_signal(Some("SIGRTMIN+3")), "SIGRTMIN+3");
}
