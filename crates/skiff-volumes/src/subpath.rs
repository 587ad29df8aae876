//! `volumeMounts[].subPath`: a path inside a volume, resolved the way kubelet does before bind-mounting it.
//!
//! Symlinks inside the volume are followed (a subPath into a configMap volume goes through `key -> ..data/key`),
//! but the result must stay inside the volume; `..` elements are refused outright. Missing directories are
//! created one at a time, never through a symlink, with the volume root's permission bits (what
//! `SafeMakeDir` does), so a container cannot make kubelet create directories elsewhere on the host.
//!
//! Kubelet shows users only `failed to prepare subPath for volumeMount "m" of container "c"`; the detailed
//! text of these errors is for logs.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::VolumeError;

/// Linux's limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// Resolves `sub_path` inside `volume_path` and returns the canonical host path to bind; missing directories
/// are created.
pub fn subpath(volume_path: &Path, sub_path: &str) -> Result<PathBuf, VolumeError> {
    if sub_path.split('/').any(|p| p == "..") {
        return Err(VolumeError::SubPath(format!("unable to provision SubPath `{sub_path}`: must not contain '..'")));
    }
    let base = volume_path.canonicalize().map_err(|e| {
        VolumeError::SubPath(format!("error resolving symlinks in {:?}: {}", volume_path.display().to_string(), e))
    })?;
    let perm = fs::metadata(&base).map_err(|e| VolumeError::io("stat", &base, e))?.mode() & 0o777;
    let outside = |p: &Path| {
        VolumeError::SubPath(format!(
            "subpath {:?} not within volume path {:?}",
            p.display().to_string(),
            base.display().to_string()
        ))
    };

    // Components still to walk, last one on top; symlink targets are pushed back onto it.
    let mut pending: Vec<String> = split(sub_path).into_iter().rev().collect();
    let mut cur = base.clone();
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        if comp == ".." {
            // Only symlink targets bring `..` here; the final check decides whether we left the volume.
            cur.pop();
            continue;
        }
        let next = cur.join(&comp);
        match fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(VolumeError::SubPath(format!(
                        "error resolving symlinks in {:?}: too many levels of symbolic links",
                        sub_path
                    )));
                }
                let target = fs::read_link(&next).map_err(|e| VolumeError::io("readlink", &next, e))?;
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                pending.extend(split(&target.to_string_lossy()).into_iter().rev());
            }
            Ok(_) => cur = next,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Create only inside the volume and only under a real directory.
                if !cur.starts_with(&base) {
                    return Err(outside(&cur));
                }
                make_dir(&next, perm)?;
                cur = next;
            }
            Err(e) => return Err(VolumeError::io("lstat", &next, e)),
        }
    }
    if !cur.starts_with(&base) {
        return Err(outside(&cur));
    }
    Ok(cur)
}

/// `mkdir` one level (parent exists and is a directory, not a symlink) with the volume's permission bits,
/// regardless of the umask; then make sure what is there is a real directory.
fn make_dir(path: &Path, perm: u32) -> Result<(), VolumeError> {
    match DirBuilder::new().mode(perm).create(path) {
        Ok(()) => fs::set_permissions(path, fs::Permissions::from_mode(perm))
            .map_err(|e| VolumeError::io("chmod", path, e))?,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(VolumeError::io("mkdir", path, e)),
    }
    let meta = fs::symlink_metadata(path).map_err(|e| VolumeError::io("lstat", path, e))?;
    if !meta.is_dir() {
        return Err(VolumeError::SubPath(format!("{} is not a directory", path.display())));
    }
    Ok(())
}

/// Path elements without empty and `.` ones (a leading `/` is ignored, as Go's `filepath.Join` does).
fn split(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn existing_and_missing_paths_resolve_inside() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let vol = tmp.path().join("vol");
        fs::create_dir(&vol).expect("mkdir");
        fs::set_permissions(&vol, fs::Permissions::from_mode(0o777)).expect("chmod");
        let base = vol.canonicalize().expect("canon");

        let p = subpath(&vol, "a/b").expect("created");
        assert_eq!(p, base.join("a/b"));
        assert!(p.is_dir());
        assert_eq!(fs::metadata(base.join("a")).expect("a").mode() & 0o777, 0o777, "created with the volume's mode");
        assert_eq!(subpath(&vol, "./a//b/").expect("same"), base.join("a/b"));
        assert_eq!(subpath(&vol, "").expect("root"), base);
    }

    #[test]
    fn symlinks_inside_the_volume_are_followed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let vol = tmp.path().join("vol");
        fs::create_dir_all(vol.join("..2024_01_01_00_00_00.1")).expect("mkdir");
        fs::write(vol.join("..2024_01_01_00_00_00.1/key"), "v").expect("write");
        symlink("..2024_01_01_00_00_00.1", vol.join("..data")).expect("link");
        symlink("..data/key", vol.join("key")).expect("link");
        let base = vol.canonicalize().expect("canon");
        assert_eq!(subpath(&vol, "key").expect("resolves"), base.join("..2024_01_01_00_00_00.1/key"));
    }

    #[test]
    fn escapes_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let vol = tmp.path().join("vol");
        let outside = tmp.path().join("outside");
        fs::create_dir(&vol).expect("mkdir");
        fs::create_dir(&outside).expect("mkdir");
        symlink(&outside, vol.join("abs")).expect("link");
        symlink("../outside", vol.join("rel")).expect("link");
        symlink("/etc/passwd", vol.join("passwd")).expect("link");

        let err = subpath(&vol, "../outside").expect_err("dotdot").to_string();
        assert_eq!(err, "unable to provision SubPath `../outside`: must not contain '..'");
        for sub in ["abs", "rel", "passwd", "abs/new", "rel/new/deeper"] {
            let err = subpath(&vol, sub).expect_err(sub).to_string();
            assert!(err.contains("not within volume path"), "{sub}: {err}");
        }
        assert!(!outside.join("new").exists(), "nothing was created outside the volume");
    }
}
