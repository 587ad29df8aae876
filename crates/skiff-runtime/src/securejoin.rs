//! Resolving a path inside the container's root as the container would see it, without ever leaving the root:
//! runc's `securejoin`. A mount destination like `/var/log/app` may cross symlinks the image made (say
//! `/var/log -> /host-logs`, or `-> ../../..`); the kernel would follow them from the host's point of view, so the
//! mount could land outside the rootfs. Here symlinks are followed with the root as `/`: absolute targets restart
//! at the root and `..` stops there.

use crate::error::{Result, RuntimeError};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Like the kernel's own limit on symlink hops (MAXSYMLINKS is 40).
const MAX_LINKS: usize = 40;

fn push_components(out: &mut VecDeque<OsString>, p: &Path, front: bool) {
    let comps: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    if front {
        for c in comps.into_iter().rev() {
            out.push_front(c);
        }
    } else {
        out.extend(comps);
    }
}

/// `unsafe_path` resolved inside `root`, relative to it (`""` is the root itself). Components that do not exist
/// yet are taken as they are (the caller creates them).
pub(crate) fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut pending = VecDeque::new();
    push_components(&mut pending, unsafe_path, false);
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(RuntimeError::InvalidSpec(format!(
                        "{}: too many levels of symbolic links inside the rootfs",
                        unsafe_path.display()
                    )));
                }
                let target = std::fs::read_link(&candidate)
                    .map_err(|e| RuntimeError::InvalidSpec(format!("reading symlink {}: {e}", candidate.display())))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                push_components(&mut pending, &target, true);
            }
            _ => resolved.push(c),
        }
    }
    Ok(resolved.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root_and_never_leave_it() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        symlink("/etc", r.join("abs")).unwrap();
        symlink("../../../..", r.join("up")).unwrap();
        symlink("etc", r.join("rel")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        let j = |p: &str| secure_join(r, Path::new(p)).unwrap();
        assert_eq!(j("/abs/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(j("/up/tmp/x"), PathBuf::from("tmp/x"));
        assert_eq!(j("/rel/new/dir"), PathBuf::from("etc/new/dir"));
        assert_eq!(j("/../../x"), PathBuf::from("x"));
        assert_eq!(j("/var/log/app"), PathBuf::from("var/log/app"));
        assert_eq!(j("/"), PathBuf::from(""));
        assert!(secure_join(r, Path::new("/loop1/x")).is_err());
    }
}
