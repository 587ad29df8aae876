//! Linux capability numbers (`include/uapi/linux/capability.h`) for oci-spec's capabilities, and OCI capability
//! sets as bit masks.
//!
//! The names live in one place, oci-spec's [`Capability`] (which also parses them). The number of each is a
//! match without a wildcard, so a capability a newer oci-spec adds fails to compile here until it has its number.

use oci_spec::runtime::{Capabilities, Capability};

/// The highest capability number skiff knows (`CAP_CHECKPOINT_RESTORE`, Linux 5.9).
const LAST_KNOWN: u32 = 40;

/// The capability's number: its bit in the kernel's capability sets.
pub fn number(cap: Capability) -> u32 {
    use Capability::*;
    match cap {
        Chown => 0,
        DacOverride => 1,
        DacReadSearch => 2,
        Fowner => 3,
        Fsetid => 4,
        Kill => 5,
        Setgid => 6,
        Setuid => 7,
        Setpcap => 8,
        LinuxImmutable => 9,
        NetBindService => 10,
        NetBroadcast => 11,
        NetAdmin => 12,
        NetRaw => 13,
        IpcLock => 14,
        IpcOwner => 15,
        SysModule => 16,
        SysRawio => 17,
        SysChroot => 18,
        SysPtrace => 19,
        SysPacct => 20,
        SysAdmin => 21,
        SysBoot => 22,
        SysNice => 23,
        SysResource => 24,
        SysTime => 25,
        SysTtyConfig => 26,
        Mknod => 27,
        Lease => 28,
        AuditWrite => 29,
        AuditControl => 30,
        Setfcap => 31,
        MacOverride => 32,
        MacAdmin => 33,
        Syslog => 34,
        WakeAlarm => 35,
        BlockSuspend => 36,
        AuditRead => 37,
        Perfmon => 38,
        Bpf => 39,
        CheckpointRestore => 40,
    }
}

/// The highest capability number the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(LAST_KNOWN)
}

/// An OCI capability set as a bit mask (bit n = capability n). Capabilities the kernel does not know are dropped.
/// Never fails: every capability oci-spec can parse has a number.
pub fn mask(set: Option<&Capabilities>, last: u32) -> u64 {
    let mut m = 0u64;
    for &cap in set.into_iter().flatten() {
        match number(cap) {
            n if n <= last => m |= 1 << n,
            _ => tracing::debug!(%cap, "capability unknown to this kernel: skipped"),
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_kernel_header() {
        assert_eq!(number(Capability::Chown), 0);
        assert_eq!(number(Capability::SysAdmin), 21);
        assert_eq!(number(Capability::CheckpointRestore), LAST_KNOWN);
    }

    #[test]
    fn masks_skip_what_the_kernel_does_not_know() {
        let set: Capabilities = [Capability::Chown, Capability::NetAdmin, Capability::Bpf].into();
        assert_eq!(mask(Some(&set), LAST_KNOWN), 1 | 1 << 12 | 1 << 39);
        assert_eq!(mask(Some(&set), 37), 1 | 1 << 12);
        assert_eq!(mask(None, LAST_KNOWN), 0);
    }
}
