//! emptyDir (pkg/volume/emptydir): a directory with mode 0777, or with `medium: Memory` a tmpfs mounted on it
//! (whose root is 1777, the tmpfs default). It is also the "wrapper" under configMap (disk), secret,
//! downwardAPI and projected (memory) volumes, as in kubelet, so secrets never touch the disk.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_api::validation::parse_quantity;

use crate::{mount, ownership, NodeInfo, VolumeError};

const PERM: u32 = 0o777;

/// Where an emptyDir keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Medium {
    Disk,
    Memory,
}

impl Medium {
    pub(crate) fn parse(medium: Option<&str>) -> Result<Medium, VolumeError> {
        match medium.unwrap_or("") {
            "" => Ok(Medium::Disk),
            "Memory" => Ok(Medium::Memory),
            m if m == "HugePages" || m.starts_with("HugePages-") => {
                Err(VolumeError::Unsupported(format!("emptyDir medium {m} is not supported on this node")))
            }
            m => Err(VolumeError::UnknownMedium(m.to_string())),
        }
    }
}

/// Sets up `dir`. Idempotent: an existing directory (disk) or an existing tmpfs mount (memory) is the ready
/// state and is left alone, so neither contents nor ownership are touched again. `size_bytes` only applies to
/// memory. `fs_group` ownership is applied once, when the volume is created.
pub(crate) fn setup(
    dir: &Path,
    medium: Medium,
    size_bytes: Option<i64>,
    fs_group: Option<i64>,
) -> Result<(), VolumeError> {
    match medium {
        Medium::Disk => {
            if dir.is_dir() {
                return Ok(());
            }
            setup_dir(dir)?;
        }
        Medium::Memory => {
            if mount::is_tmpfs_mount_point(dir)? {
                return Ok(());
            }
            setup_dir(dir)?;
            tracing::debug!(dir = %dir.display(), size = ?size_bytes, "mounting tmpfs");
            mount::mount_tmpfs(dir, size_bytes)?;
        }
    }
    ownership::set_volume_ownership(dir, fs_group, false)
}

/// Parents (the pod's and the plugin's directories) 0750 as kubelet makes them, so no other user can swap a
/// volume directory for a symlink; the volume itself 0777, chmodded because the umask must not narrow what
/// every container user may write.
fn setup_dir(dir: &Path) -> Result<(), VolumeError> {
    if let Some(parent) = dir.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(|e| VolumeError::io("mkdir", parent, e))?;
    }
    match DirBuilder::new().mode(PERM).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(VolumeError::io("mkdir", dir, e)),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(PERM)).map_err(|e| VolumeError::io("chmod", dir, e))
}

/// Upstream `calculateEmptyDirMemorySize`: node allocatable memory, lowered to the pod's memory limit when it
/// has one, lowered to `sizeLimit` when that is smaller still.
pub(crate) fn memory_size(pod: &Pod, size_limit: Option<&Quantity>, node: &NodeInfo) -> i64 {
    let mut size = node.allocatable_memory_bytes;
    if let Some(limit) = pod_memory_limit(pod) {
        if limit > 0 && limit <= size {
            size = limit;
        }
    }
    if let Some(v) = size_limit.and_then(|q| parse_quantity(&q.0).ok()).map(|q| q.value()) {
        if v > 0 && v <= size {
            size = v;
        }
    }
    size
}

/// The pod cgroup's memory limit as `ResourceConfigForPod` computes it: only when every container declares
/// one; app containers and sidecars add up, a plain init container counts alone, plus the pod overhead.
fn pod_memory_limit(pod: &Pod) -> Option<i64> {
    let spec = pod.spec.as_ref()?;
    let limit = |c: &Container| -> Option<i64> {
        let q = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
        parse_quantity(&q.0).ok().map(|q| q.value()).filter(|v| *v > 0)
    };
    let mut sum: i64 = 0;
    for c in &spec.containers {
        sum = sum.saturating_add(limit(c)?);
    }
    let mut init_max: i64 = 0;
    let mut sidecars: i64 = 0;
    for c in spec.init_containers.iter().flatten() {
        let l = limit(c)?;
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars.saturating_add(l);
            init_max = init_max.max(sidecars);
        } else {
            init_max = init_max.max(sidecars.saturating_add(l));
        }
    }
    let overhead = spec.overhead.as_ref().and_then(|o| o.get("memory")).and_then(|q| parse_quantity(&q.0).ok());
    let overhead = overhead.map(|q| q.value()).unwrap_or(0);
    Some(sum.saturating_add(sidecars).max(init_max).saturating_add(overhead))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(mem: i64) -> NodeInfo {
        NodeInfo { node_name: "n".into(), allocatable_memory_bytes: mem, ..Default::default() }
    }

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("test pod is valid")
    }

    #[test]
    fn memory_size_is_the_smallest_of_node_pod_and_size_limit() {
        let no_limits = pod(serde_json::json!({"spec": {"containers": [{"name": "a"}]}}));
        assert_eq!(memory_size(&no_limits, None, &node(8 << 30)), 8 << 30);
        let limited = pod(serde_json::json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"memory": "1Gi"}}},
            {"name": "b", "resources": {"limits": {"memory": "1Gi"}}}]}}));
        assert_eq!(memory_size(&limited, None, &node(8 << 30)), 2 << 30);
        assert_eq!(memory_size(&limited, Some(&Quantity("64Mi".into())), &node(8 << 30)), 64 << 20);
        assert_eq!(memory_size(&limited, Some(&Quantity("64Gi".into())), &node(8 << 30)), 2 << 30);
    }

    #[test]
    fn media() {
        assert_eq!(Medium::parse(None).ok(), Some(Medium::Disk));
        assert_eq!(Medium::parse(Some("Memory")).ok(), Some(Medium::Memory));
        assert_eq!(Medium::parse(Some("Tape")).expect_err("unknown").to_string(), "unknown storage medium \"Tape\"");
    }
}
