//! `fsGroup` and `fsUser`: who owns a volume's files, as upstream's `volume.SetVolumeOwnership` and
//! `util.FsUserFrom` decide it. With an fsGroup every file and directory gets that group, group read (and
//! write unless the volume is read-only) and directories setgid, so files created later inherit the group.

use std::fs;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::VolumeError;

const RW_MASK: u32 = 0o660;
const RO_MASK: u32 = 0o440;
const EXEC_MASK: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// `pod.spec.securityContext.fsGroup`.
pub(crate) fn fs_group(pod: &Pod) -> Option<i64> {
    pod.spec.as_ref()?.security_context.as_ref()?.fs_group
}

/// Upstream `FsUserFrom`: the effective `runAsUser` when every init and app container has one and they all
/// agree; otherwise none. Projected service account tokens are chowned to it so a non-root container can
/// read a 0600 token.
pub(crate) fn fs_user(pod: &Pod) -> Option<i64> {
    let spec = pod.spec.as_ref()?;
    let pod_user = spec.security_context.as_ref().and_then(|s| s.run_as_user);
    let effective = |c: &Container| c.security_context.as_ref().and_then(|s| s.run_as_user).or(pod_user);
    let mut user = None;
    for c in spec.init_containers.iter().flatten().chain(spec.containers.iter()) {
        let u = effective(c)?;
        if user.is_some_and(|prev| prev != u) {
            return None;
        }
        user = Some(u);
    }
    user
}

/// Walks `dir` without following symlinks: every entry gets group `fs_group` (symlinks via lchown), and every
/// non-symlink gets group read (+write unless `read_only`); directories also get group search and setgid.
pub(crate) fn set_volume_ownership(dir: &Path, fs_group: Option<i64>, read_only: bool) -> Result<(), VolumeError> {
    let Some(gid) = fs_group else { return Ok(()) };
    let gid = u32::try_from(gid).map_err(|_| VolumeError::Unsupported(format!("invalid fsGroup {gid}")))?;
    let mask = if read_only { RO_MASK } else { RW_MASK };
    walk(dir, &mut |path, meta| {
        lchown(path, None, Some(gid)).map_err(|e| VolumeError::io("lchown", path, e))?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let mut mode = meta.mode() & 0o7777 | mask;
        if meta.is_dir() {
            mode |= SETGID | EXEC_MASK;
        }
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| VolumeError::io("chmod", path, e))
    })
}

/// Pre-order walk that never follows symlinks (like Go's `filepath.Walk`).
fn walk(path: &Path, f: &mut dyn FnMut(&Path, &fs::Metadata) -> Result<(), VolumeError>) -> Result<(), VolumeError> {
    let meta = fs::symlink_metadata(path).map_err(|e| VolumeError::io("lstat", path, e))?;
    f(path, &meta)?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(|e| VolumeError::io("open", path, e))? {
            let entry = entry.map_err(|e| VolumeError::io("readdirent", path, e))?;
            walk(&entry.path(), f)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("test pod is valid")
    }

    #[test]
    fn fs_user_is_the_common_run_as_user() {
        let p = pod(serde_json::json!({"spec": {"securityContext": {"runAsUser": 1000},
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"runAsUser": 1000}}]}}));
        assert_eq!(fs_user(&p), Some(1000));
        let p = pod(serde_json::json!({"spec": {"securityContext": {"runAsUser": 1000},
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"runAsUser": 2000}}]}}));
        assert_eq!(fs_user(&p), None);
        let p = pod(serde_json::json!({"spec": {"containers": [{"name": "a"}]}}));
        assert_eq!(fs_user(&p), None);
    }
}
