//! The container's mounts, in containerd's order: its default system mounts (`/proc`, `/dev`, `/dev/pts`,
//! `/dev/shm`, `/dev/mqueue`, `/sys`) minus those a supplied mount replaces, then the supplied bind mounts —
//! the kubelet's (volumes, `/etc/hosts`, the termination log) and containerd's pod-shared files (`/etc/hostname`,
//! `/etc/resolv.conf`, `/dev/shm`) — sorted so a parent directory is mounted before what is mounted inside it.
//!
//! Not here: containerd's `/sys/fs/cgroup` mount (skiff-runtime does not mount cgroup filesystems), `/run`
//! (containerd removes it for CRI containers), and the host-side work containerd does on sources (creating a
//! missing one, resolving symlinks, checking that a Bidirectional source is a shared mount): the agent's volume
//! layer prepares sources.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::SpecError;

/// How mounts under a volume propagate (`volumeMounts[].mountPropagation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    /// `None`: no propagation either way (`rprivate`).
    #[default]
    Private,
    /// `HostToContainer`: host mounts appear in the container (`rslave`).
    HostToContainer,
    /// `Bidirectional`: both ways (`rshared`); privileged containers only.
    Bidirectional,
}

/// One resolved volume mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The volume's name, for messages.
    pub name: String,
    /// The host path to bind (subPath already applied).
    pub source: PathBuf,
    /// `mountPath` in the container.
    pub destination: String,
    pub read_only: bool,
    /// `recursiveReadOnly: Enabled`: refused, skiff-runtime cannot make submounts read-only.
    pub recursive_read_only: bool,
    pub propagation: Propagation,
}

/// Pod-level files bind-mounted into every container.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedFiles<'a> {
    pub(crate) etc_hosts: Option<&'a Path>,
    pub(crate) etc_hostname: Option<&'a Path>,
    pub(crate) resolv_conf: Option<&'a Path>,
    pub(crate) dev_shm: Option<&'a Path>,
    /// the host file and the container path (`terminationMessagePath`)
    pub(crate) termination_log: Option<(&'a Path, &'a str)>,
}

/// The spec's `mounts` and `linux.rootfsPropagation`.
pub(crate) fn build(
    volumes: &[Mount],
    shared: &SharedFiles,
    read_only_rootfs: bool,
    privileged: bool,
) -> Result<(Vec<Value>, Option<&'static str>), SpecError> {
    // the kubelet's CRI mounts: volumes in declaration order, its /etc/hosts unless a volume is mounted there,
    // then the termination log (read-write even with a read-only root)
    let mut mounts: Vec<Mount> = volumes.to_vec();
    if let Some(hosts) = shared.etc_hosts {
        if !volumes.iter().any(|m| m.destination == "/etc/hosts") {
            mounts.push(file_mount("k8s-managed-etc-hosts", hosts, "/etc/hosts", false));
        }
    }
    if let Some((log, path)) = shared.termination_log {
        mounts.push(file_mount("termination-log", log, path, false));
    }
    // containerd's extra mounts, unless the kubelet already mounts something at that path
    let extras = [
        (shared.etc_hostname, "/etc/hostname", read_only_rootfs),
        (shared.resolv_conf, "/etc/resolv.conf", read_only_rootfs),
        (shared.dev_shm, "/dev/shm", false),
    ];
    let supplied: Vec<String> = mounts.iter().map(|m| clean(&m.destination)).collect();
    for (src, dst, ro) in extras {
        if let Some(src) = src {
            if !supplied.iter().any(|d| d == dst) {
                mounts.push(file_mount(dst, src, dst, ro));
            }
        }
    }
    // a stable sort by depth: `/data` before `/data/cache`, same-depth mounts keep their order
    mounts.sort_by_key(|m| clean(&m.destination).matches('/').count());

    let targets: Vec<String> = mounts.iter().map(|m| clean(&m.destination)).collect();
    let dev_supplied = targets.iter().any(|t| t == "/dev");
    let mut out: Vec<Value> = default_mounts(privileged)
        .into_iter()
        .filter(|m| {
            let dst = m["destination"].as_str().unwrap_or_default();
            !(targets.iter().any(|t| t == dst) || dev_supplied && dst.starts_with("/dev/"))
        })
        .collect();

    let mut rootfs_propagation = None;
    for m in &mounts {
        if m.recursive_read_only {
            return Err(SpecError::Config(format!(
                "volume {:?} requested recursive read-only mode, but it is not supported by the runtime",
                m.name
            )));
        }
        let propagation = match m.propagation {
            Propagation::Private => "rprivate",
            Propagation::HostToContainer => {
                rootfs_propagation = rootfs_propagation.or(Some("rslave"));
                "rslave"
            }
            Propagation::Bidirectional => {
                rootfs_propagation = Some("rshared");
                "rshared"
            }
        };
        out.push(json!({
            "destination": m.destination,
            "type": "bind",
            "source": m.source,
            "options": ["rbind", propagation, if m.read_only { "ro" } else { "rw" }],
        }));
    }
    Ok((out, rootfs_propagation))
}

fn file_mount(name: &str, source: &Path, destination: &str, read_only: bool) -> Mount {
    Mount {
        name: name.to_string(),
        source: source.to_path_buf(),
        destination: destination.to_string(),
        read_only,
        recursive_read_only: false,
        propagation: Propagation::Private,
    }
}

/// containerd's default mounts for a Linux container (`oci.populateDefaultUnixSpec`), without `/run`; `/sys` is
/// read-write only for privileged containers (`WithWriteableSysfs`).
fn default_mounts(privileged: bool) -> Vec<Value> {
    let sys_mode = if privileged { "rw" } else { "ro" };
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", sys_mode]}),
    ]
}

/// Go's `filepath.Clean` for absolute container paths.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = vec![];
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(dst: &str, ro: bool, propagation: Propagation) -> Mount {
        Mount {
            name: dst.trim_start_matches('/').replace('/', "-"),
            source: PathBuf::from(format!("/var/lib/skiff/v{dst}")),
            destination: dst.into(),
            read_only: ro,
            recursive_read_only: false,
            propagation,
        }
    }

    fn summary(mounts: &[Value]) -> Vec<String> {
        mounts
            .iter()
            .map(|m| {
                let opts: Vec<&str> = m["options"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
                format!("{} {} {}", m["destination"].as_str().unwrap(), m["type"].as_str().unwrap(), opts.join(","))
            })
            .collect()
    }

    #[test]
    fn defaults_then_sorted_binds() {
        let shared = SharedFiles {
            etc_hosts: Some(Path::new("/pod/etc-hosts")),
            etc_hostname: Some(Path::new("/pod/hostname")),
            resolv_conf: Some(Path::new("/pod/resolv.conf")),
            dev_shm: Some(Path::new("/pod/shm")),
            termination_log: Some((Path::new("/pod/c/abc"), "/dev/termination-log")),
        };
        let volumes = [
            vol("/data/cache", false, Propagation::Private),
            vol("/data", true, Propagation::Private),
            vol("/var/run/secrets/kubernetes.io/serviceaccount", true, Propagation::Private),
        ];
        let (mounts, prop) = build(&volumes, &shared, false, false).unwrap();
        assert_eq!(prop, None);
        assert_eq!(
            summary(&mounts),
            [
                "/proc proc nosuid,noexec,nodev",
                "/dev tmpfs nosuid,strictatime,mode=755,size=65536k",
                "/dev/pts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5",
                "/dev/mqueue mqueue nosuid,noexec,nodev",
                "/sys sysfs nosuid,noexec,nodev,ro",
                "/data bind rbind,rprivate,ro",
                "/data/cache bind rbind,rprivate,rw",
                "/etc/hosts bind rbind,rprivate,rw",
                "/dev/termination-log bind rbind,rprivate,rw",
                "/etc/hostname bind rbind,rprivate,rw",
                "/etc/resolv.conf bind rbind,rprivate,rw",
                "/dev/shm bind rbind,rprivate,rw",
                "/var/run/secrets/kubernetes.io/serviceaccount bind rbind,rprivate,ro",
            ]
        );
        assert_eq!(mounts[5]["source"], "/var/lib/skiff/v/data");
    }

    #[test]
    fn read_only_root_makes_pod_files_read_only_except_hosts_and_shm() {
        let shared = SharedFiles {
            etc_hosts: Some(Path::new("/h")),
            etc_hostname: Some(Path::new("/n")),
            resolv_conf: Some(Path::new("/r")),
            dev_shm: None,
            termination_log: None,
        };
        let (mounts, _) = build(&[], &shared, true, false).unwrap();
        let s = summary(&mounts);
        assert!(s.contains(&"/etc/hosts bind rbind,rprivate,rw".to_string()));
        assert!(s.contains(&"/etc/hostname bind rbind,rprivate,ro".to_string()));
        assert!(s.contains(&"/etc/resolv.conf bind rbind,rprivate,ro".to_string()));
        // no pod /dev/shm: containerd's 64 MiB tmpfs stays
        assert!(s.contains(&"/dev/shm tmpfs nosuid,noexec,nodev,mode=1777,size=65536k".to_string()));
    }

    #[test]
    fn volumes_replace_pod_files_and_defaults() {
        let shared =
            SharedFiles { etc_hosts: Some(Path::new("/h")), resolv_conf: Some(Path::new("/r")), ..Default::default() };
        let volumes = [
            vol("/etc/hosts", true, Propagation::Private),
            vol("/etc/resolv.conf/", true, Propagation::Private),
            vol("/dev", false, Propagation::Private),
        ];
        let (mounts, _) = build(&volumes, &shared, false, true).unwrap();
        assert_eq!(
            summary(&mounts),
            [
                "/proc proc nosuid,noexec,nodev",
                "/sys sysfs nosuid,noexec,nodev,rw",
                "/dev bind rbind,rprivate,rw",
                "/etc/hosts bind rbind,rprivate,ro",
                "/etc/resolv.conf/ bind rbind,rprivate,ro",
            ]
        );
    }

    #[test]
    fn propagation_sets_root_propagation() {
        let (m, p) =
            build(&[vol("/a", false, Propagation::HostToContainer)], &SharedFiles::default(), false, false).unwrap();
        assert_eq!((summary(&m).last().unwrap().as_str(), p), ("/a bind rbind,rslave,rw", Some("rslave")));
        let volumes = [vol("/a", false, Propagation::Bidirectional), vol("/b", false, Propagation::HostToContainer)];
        let (m, p) = build(&volumes, &SharedFiles::default(), false, false).unwrap();
        assert_eq!(p, Some("rshared"));
        assert_eq!(summary(&m)[6], "/a bind rbind,rshared,rw");
    }

    #[test]
    fn recursive_read_only_is_refused() {
        let mut v = vol("/a", true, Propagation::Private);
        v.recursive_read_only = true;
        assert_eq!(
            build(&[v], &SharedFiles::default(), false, false).unwrap_err(),
            SpecError::Config(
                r#"volume "a" requested recursive read-only mode, but it is not supported by the runtime"#.into()
            )
        );
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("/a//b/./c/"), "/a/b/c");
        assert_eq!(clean("/a/../b"), "/b");
        assert_eq!(clean("/"), "/");
    }
}
