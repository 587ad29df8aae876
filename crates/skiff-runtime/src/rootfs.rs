//! The container's root file system in the host's mount namespace: an overlay mount (image layers as
//! lowerdirs, a writable upper) or an existing directory.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Result, RuntimeError};

/// Where the container's root comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RootfsSpec {
    /// An overlay mounted by the runtime at `target` (and unmounted by `destroy`).
    Overlay {
        /// Layer directories, the lowest (base image) first.
        lower: Vec<PathBuf>,
        /// The writable layer.
        upper: PathBuf,
        /// overlayfs's work directory (same file system as `upper`).
        work: PathBuf,
        /// The mount point.
        target: PathBuf,
        /// Mount with `volatile` (no `syncfs` of the upper file system at unmount: it saves 2–20 ms per stop;
        /// after a host crash the upper and work dirs must be thrown away, which the kernel then enforces).
        volatile: bool,
    },
    /// An existing directory used as is (bind-mounted onto itself inside the container's mount namespace).
    Dir(PathBuf),
}

impl RootfsSpec {
    /// The directory that becomes the container's `/`.
    pub fn root(&self) -> &Path {
        match self {
            RootfsSpec::Overlay { target, .. } => target,
            RootfsSpec::Dir(d) => d,
        }
    }
}

/// The overlay `lowerdir=` option: overlayfs lists the topmost layer first.
fn lowerdir(lower: &[PathBuf]) -> Result<String> {
    let mut parts = vec![];
    for l in lower.iter().rev() {
        let s = l.to_str().ok_or_else(|| RuntimeError::InvalidSpec(format!("non-UTF-8 layer path {}", l.display())))?;
        if s.contains([',', ':']) {
            return Err(RuntimeError::InvalidSpec(format!("layer path {s:?} contains ',' or ':'")));
        }
        parts.push(s);
    }
    Ok(parts.join(":"))
}

/// Mounts the rootfs (for `Overlay`; nothing to do for `Dir`).
pub fn mount_rootfs(spec: &RootfsSpec) -> Result<()> {
    let RootfsSpec::Overlay { lower, upper, work, target, volatile } = spec else {
        return Ok(());
    };
    if lower.is_empty() {
        return Err(RuntimeError::InvalidSpec("overlay without lower layers".into()));
    }
    for d in [upper, work, target] {
        std::fs::create_dir_all(d).map_err(RuntimeError::io("mkdir", d))?;
    }
    let mut opts = format!("lowerdir={},upperdir={},workdir={}", lowerdir(lower)?, upper.display(), work.display());
    if *volatile {
        opts.push_str(",volatile");
    }
    mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(opts.as_str()))
        .map_err(RuntimeError::sys(format!("mount overlay on {} ({opts})", target.display())))
}

/// Unmounts `target` (every mount stacked there); not mounted is fine.
pub fn unmount(target: &Path) -> Result<()> {
    while is_mount_point(target)? {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => break,
            Err(e) => return Err(RuntimeError::Sys { call: format!("umount {}", target.display()), errno: e }),
        }
    }
    Ok(())
}

/// Whether `path` is a mount point in this process's mount namespace (`/proc/self/mountinfo`).
pub fn is_mount_point(path: &Path) -> Result<bool> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(RuntimeError::io("read", "/proc/self/mountinfo"))?;
    let want = path.to_string_lossy();
    Ok(info.lines().any(|l| l.split(' ').nth(4).is_some_and(|mp| unescape(mp) == want)))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_order_and_escapes() {
        let l = lowerdir(&[PathBuf::from("/l/base"), PathBuf::from("/l/top")]).unwrap();
        assert_eq!(l, "/l/top:/l/base");
        assert!(lowerdir(&[PathBuf::from("/a:b")]).is_err());
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
