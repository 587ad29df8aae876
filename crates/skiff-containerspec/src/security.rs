//! Privileges: capabilities (containerd's default set, the security context's add/drop, everything when
//! privileged), `no_new_privs`, and the kubelet's masked and read-only `/proc` and `/sys` paths.

use k8s_openapi::api::core::v1::Container;
use oci_spec::runtime::Capability;

/// containerd's (and Docker's) default capabilities.
pub const DEFAULT_CAPS: [Capability; 14] = {
    use Capability::*;
    [
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
};

/// Every capability Linux defines (through 5.9's `CAP_CHECKPOINT_RESTORE`), in number order: every variant of
/// oci-spec's `Capability`, whose names and parsing are the only ones skiff has. containerd uses the capabilities
/// of its own process for "all"; skiff-runtime drops those the running kernel does not know.
pub const ALL_CAPS: [Capability; 41] = {
    use Capability::*;
    [
        Chown,
        DacOverride,
        DacReadSearch,
        Fowner,
        Fsetid,
        Kill,
        Setgid,
        Setuid,
        Setpcap,
        LinuxImmutable,
        NetBindService,
        NetBroadcast,
        NetAdmin,
        NetRaw,
        IpcLock,
        IpcOwner,
        SysModule,
        SysRawio,
        SysChroot,
        SysPtrace,
        SysPacct,
        SysAdmin,
        SysBoot,
        SysNice,
        SysResource,
        SysTime,
        SysTtyConfig,
        Mknod,
        Lease,
        AuditWrite,
        AuditControl,
        Setfcap,
        MacOverride,
        MacAdmin,
        Syslog,
        WakeAlarm,
        BlockSuspend,
        AuditRead,
        Perfmon,
        Bpf,
        CheckpointRestore,
    ]
};

/// The kubelet's default masked paths (`pkg/securitycontext`), kept in sync with moby.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// The kubelet's default read-only paths.
pub const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The container-level security settings that shape the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Privileges {
    pub(crate) privileged: bool,
    /// bounding = effective = permitted; inheritable and ambient stay empty (containerd clears them)
    pub(crate) capabilities: Vec<Capability>,
    pub(crate) no_new_privileges: bool,
    pub(crate) read_only_rootfs: bool,
    pub(crate) masked_paths: Vec<String>,
    pub(crate) readonly_paths: Vec<String>,
}

impl Privileges {
    pub(crate) fn of(container: &Container) -> Privileges {
        let sc = container.security_context.as_ref();
        let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
        let unmasked = sc.and_then(|s| s.proc_mount.as_deref()) == Some("Unmasked");
        let (masked_paths, readonly_paths) = if privileged || unmasked {
            (vec![], vec![])
        } else {
            (MASKED_PATHS.map(String::from).to_vec(), READONLY_PATHS.map(String::from).to_vec())
        };
        let capabilities = if privileged {
            ALL_CAPS.to_vec()
        } else {
            let caps = sc.and_then(|s| s.capabilities.as_ref());
            capabilities(
                caps.and_then(|c| c.add.as_deref()).unwrap_or_default(),
                caps.and_then(|c| c.drop.as_deref()).unwrap_or_default(),
            )
        };
        Privileges {
            privileged,
            capabilities,
            // the kubelet's AddNoNewPrivileges: only an explicit allowPrivilegeEscalation: false
            no_new_privileges: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
            read_only_rootfs: sc.and_then(|s| s.read_only_root_filesystem).unwrap_or(false),
            masked_paths,
            readonly_paths,
        }
    }
}

/// containerd's `WithCapabilities`: `ALL` in add gives every capability and `ALL` in drop removes every one,
/// before the individual adds and drops apply (so add `ALL` + drop `CHOWN` = all but `CAP_CHOWN`, and drop
/// `ALL` + add `NET_ADMIN` = just `CAP_NET_ADMIN`).
///
/// Names are matched case-insensitively with or without `CAP_` (containerd always prepends `CAP_`, so upstream a
/// `CAP_`-prefixed name silently matches nothing); names Linux does not define are ignored with a warning, as
/// runc does.
fn capabilities(add: &[String], drop: &[String]) -> Vec<Capability> {
    let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
    let mut set = DEFAULT_CAPS.to_vec();
    if add.iter().any(is_all) {
        set = ALL_CAPS.to_vec();
    }
    if drop.iter().any(is_all) {
        set.clear();
    }
    for c in add.iter().filter(|c| !is_all(c)) {
        if let Some(cap) = known(c) {
            if !set.contains(&cap) {
                set.push(cap);
            }
        }
    }
    let dropped: Vec<Capability> = drop.iter().filter(|c| !is_all(c)).filter_map(|c| known(c)).collect();
    set.retain(|c| !dropped.contains(c));
    set
}

fn known(name: &str) -> Option<Capability> {
    let upper = name.to_ascii_uppercase();
    // oci-spec parses the name without its prefix (`SYS_ADMIN`)
    let found = upper.strip_prefix("CAP_").unwrap_or(&upper).parse().ok();
    if found.is_none() {
        tracing::warn!(capability = name, "unknown capability ignored");
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Capabilities, SecurityContext};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn privileges(sc: SecurityContext) -> Privileges {
        Privileges::of(&Container { security_context: Some(sc), ..Default::default() })
    }

    #[test]
    fn defaults() {
        let p = Privileges::of(&Container::default());
        assert_eq!(p.capabilities, DEFAULT_CAPS);
        assert!(!p.privileged && !p.no_new_privileges && !p.read_only_rootfs);
        assert_eq!(p.masked_paths, MASKED_PATHS);
        assert_eq!(p.readonly_paths, READONLY_PATHS);
    }

    #[test]
    fn add_and_drop() {
        let caps = capabilities(&s(&["NET_ADMIN", "sys_time", "CAP_SYS_PTRACE", "CHOWN"]), &s(&["KILL", "cap_mknod"]));
        let mut want: Vec<Capability> =
            DEFAULT_CAPS.iter().copied().filter(|c| *c != Capability::Kill && *c != Capability::Mknod).collect();
        want.extend([Capability::NetAdmin, Capability::SysTime, Capability::SysPtrace]);
        assert_eq!(caps, want);
        // dropping wins over adding the same capability
        assert_eq!(capabilities(&s(&["NET_ADMIN"]), &s(&["ALL", "NET_ADMIN"])), vec![]);
    }

    #[test]
    fn all_in_add_or_drop() {
        assert_eq!(capabilities(&s(&["ALL"]), &[]), ALL_CAPS);
        let caps = capabilities(&s(&["all"]), &s(&["CHOWN"]));
        assert_eq!(caps.len(), ALL_CAPS.len() - 1);
        assert!(!caps.contains(&Capability::Chown));
        assert_eq!(capabilities(&s(&["NET_BIND_SERVICE"]), &s(&["ALL"])), [Capability::NetBindService]);
        assert_eq!(capabilities(&[], &s(&["ALL"])), vec![]);
        // unknown names are ignored, and so is a doubled prefix (containerd would prepend a third)
        assert_eq!(capabilities(&s(&["NOT_A_CAP", "CAP_CAP_KILL"]), &[]), DEFAULT_CAPS);
    }

    #[test]
    fn every_capability_is_listed_once_and_names_round_trip() {
        for (i, cap) in ALL_CAPS.iter().enumerate() {
            assert!(!ALL_CAPS[..i].contains(cap), "{cap} listed twice");
            // the spec's JSON name (serde) and the name add/drop match (strum) agree
            let json = serde_json::to_value(cap).unwrap();
            assert_eq!(json, format!("CAP_{cap}"));
            assert_eq!(known(&cap.to_string().to_ascii_lowercase()), Some(*cap));
            assert_eq!(known(json.as_str().unwrap()), Some(*cap));
        }
        for cap in ["CAP_BPF", "CAP_PERFMON", "CAP_CHECKPOINT_RESTORE"] {
            assert!(known(cap).is_some_and(|c| ALL_CAPS.contains(&c)), "{cap}");
        }
    }

    #[test]
    fn privileged_gets_everything_and_no_masks() {
        let caps = Capabilities { drop: Some(s(&["ALL"])), ..Default::default() };
        let p = privileges(SecurityContext { privileged: Some(true), capabilities: Some(caps), ..Default::default() });
        assert_eq!(p.capabilities, ALL_CAPS);
        assert!(p.masked_paths.is_empty() && p.readonly_paths.is_empty());
    }

    #[test]
    fn escalation_read_only_root_and_proc_mount() {
        let p = privileges(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            proc_mount: Some("Unmasked".into()),
            ..Default::default()
        });
        assert!(p.no_new_privileges && p.read_only_rootfs);
        assert!(p.masked_paths.is_empty() && p.readonly_paths.is_empty());
        assert!(
            !privileges(SecurityContext { allow_privilege_escalation: Some(true), ..Default::default() })
                .no_new_privileges
        );
    }
}
