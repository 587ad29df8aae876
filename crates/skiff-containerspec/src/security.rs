//! Privileges: capabilities (containerd's default set, the security context's add/drop, everything when
//! privileged), `no_new_privs`, and the kubelet's masked and read-only `/proc` and `/sys` paths.

use k8s_openapi::api::core::v1::Container;

/// containerd's (and Docker's) default capabilities.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines (through 5.9's `CAP_CHECKPOINT_RESTORE`), in number order. containerd uses the
/// capabilities of its own process for "all"; skiff-runtime drops those the running kernel does not know.
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

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
    pub(crate) capabilities: Vec<String>,
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
            ALL_CAPS.map(String::from).to_vec()
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
fn capabilities(add: &[String], drop: &[String]) -> Vec<String> {
    let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
    let mut set: Vec<&str> = DEFAULT_CAPS.to_vec();
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
    let dropped: Vec<&str> = drop.iter().filter(|c| !is_all(c)).filter_map(|c| known(c)).collect();
    set.retain(|c| !dropped.contains(c));
    set.into_iter().map(String::from).collect()
}

fn known(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    let found = ALL_CAPS.iter().copied().find(|c| *c == full);
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
        let mut want: Vec<&str> =
            DEFAULT_CAPS.iter().copied().filter(|c| *c != "CAP_KILL" && *c != "CAP_MKNOD").collect();
        want.extend(["CAP_NET_ADMIN", "CAP_SYS_TIME", "CAP_SYS_PTRACE"]);
        assert_eq!(caps, want);
        // dropping wins over adding the same capability
        assert_eq!(capabilities(&s(&["NET_ADMIN"]), &s(&["ALL", "NET_ADMIN"])), Vec::<String>::new());
    }

    #[test]
    fn all_in_add_or_drop() {
        assert_eq!(capabilities(&s(&["ALL"]), &[]), ALL_CAPS);
        let caps = capabilities(&s(&["all"]), &s(&["CHOWN"]));
        assert_eq!(caps.len(), ALL_CAPS.len() - 1);
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(capabilities(&s(&["NET_BIND_SERVICE"]), &s(&["ALL"])), ["CAP_NET_BIND_SERVICE"]);
        assert_eq!(capabilities(&[], &s(&["ALL"])), Vec::<String>::new());
        // unknown names are ignored
        assert_eq!(capabilities(&s(&["NOT_A_CAP"]), &[]), DEFAULT_CAPS);
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
