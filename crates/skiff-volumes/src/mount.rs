//! The kernel's view of mounts (`/proc/self/mountinfo`) and the two mount operations volumes need: mounting
//! a tmpfs and unmounting. Reading mountinfo rather than remembering what we mounted is what makes teardown
//! safe after a crash: whatever is mounted under a pod's directory is found again.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::VolumeError;

/// One line of mountinfo, the fields we use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MountEntry {
    pub mount_point: PathBuf,
    pub fs_type: String,
}

/// All mounts visible to this process.
pub(crate) fn mounts() -> Result<Vec<MountEntry>, VolumeError> {
    let path = "/proc/self/mountinfo";
    let text = fs::read_to_string(path).map_err(|e| VolumeError::io("open", path, e))?;
    Ok(parse_mountinfo(&text))
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`: the 5th field is the mount point,
/// the first field after `-` the file system type.
fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let mount_point = fields.get(4)?;
            let sep = fields.iter().position(|f| *f == "-")?;
            let fs_type = fields.get(sep + 1)?;
            Some(MountEntry { mount_point: PathBuf::from(unescape(mount_point)), fs_type: unescape(fs_type) })
        })
        .collect()
}

/// The kernel escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` (canonical) is itself a tmpfs mount point (the last mount there wins).
pub(crate) fn is_tmpfs_mount_point(path: &Path) -> Result<bool, VolumeError> {
    let Ok(canon) = path.canonicalize() else { return Ok(false) };
    Ok(mounts()?.iter().rev().find(|m| m.mount_point == canon).is_some_and(|m| m.fs_type == "tmpfs"))
}

/// Mounts under `root` (not `root` itself unless `include_root`), deepest first so that nested mounts come off
/// before their parents.
pub(crate) fn mounts_under(root: &Path, include_root: bool) -> Result<Vec<PathBuf>, VolumeError> {
    let mut found: Vec<PathBuf> = mounts()?
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with(root) && (include_root || p != root))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    Ok(found)
}

/// Mounts a tmpfs at `dir` as kubelet's emptyDir does: no flags, only `size=` when a limit is known (the
/// kernel default is half of RAM). The root of a fresh tmpfs is mode 1777.
pub(crate) fn mount_tmpfs(dir: &Path, size_bytes: Option<i64>) -> Result<(), VolumeError> {
    let data = size_bytes.filter(|s| *s > 0).map(|s| format!("size={s}"));
    mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::empty(), data.as_deref())
        .map_err(|e| VolumeError::io("mount", dir, e.into()))
}

/// Unmounts `dir`; a busy mount (a container still holding it) is detached lazily instead, which removes it
/// from the tree now and frees it when the last user goes.
pub(crate) fn unmount(dir: &Path) -> Result<(), VolumeError> {
    match umount2(dir, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => {
            umount2(dir, MntFlags::MNT_DETACH).map_err(|e| VolumeError::io("unmount", dir, e.into()))
        }
        Err(nix::errno::Errno::EINVAL) if !is_mount_point(dir)? => Ok(()),
        Err(e) => Err(VolumeError::io("unmount", dir, e.into())),
    }
}

fn is_mount_point(dir: &Path) -> Result<bool, VolumeError> {
    Ok(mounts()?.iter().any(|m| m.mount_point == dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_mount_point_and_type() {
        let text = "36 35 98:0 / /var/lib/a\\040b rw,noatime shared:1 - tmpfs tmpfs rw,size=1024k\n\
                    37 35 98:0 / / rw - ext4 /dev/sda1 rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m[0], MountEntry { mount_point: PathBuf::from("/var/lib/a b"), fs_type: "tmpfs".into() });
        assert_eq!(m[1].fs_type, "ext4");
    }
}
