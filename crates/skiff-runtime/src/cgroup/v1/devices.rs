//! v1 `devices` controller: deny everything, allow runc's default devices, then the spec's rules in order.

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::cgroup::write;
use crate::error::Result;

/// runc's default rules: mknod of anything, null/zero/full/random/urandom/tty/console/ptmx and the pts.
pub const DEFAULT_ALLOW: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

pub(super) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    write(&dir.join("devices.deny"), "a")?;
    for r in DEFAULT_ALLOW {
        write(&dir.join("devices.allow"), r)?;
    }
    for rule in rules {
        let all = rule.typ().unwrap_or_default() == LinuxDeviceType::A;
        if !rule.allow() && all && rule.major().is_none() && rule.minor().is_none() {
            continue; // "deny all" was written first; repeating it would drop the defaults
        }
        let file = if rule.allow() { "devices.allow" } else { "devices.deny" };
        let mut text = rule.to_string();
        if rule.access().as_deref().unwrap_or("").is_empty() {
            text.push_str("rwm");
        }
        write(&dir.join(file), &text)?;
    }
    Ok(())
}
