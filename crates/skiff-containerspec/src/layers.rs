//! Reading a file of the image's root filesystem straight from its unpacked layers, as overlayfs would show it:
//! the topmost layer holding the path wins; a whiteout (a 0/0 character device) or an opaque directory
//! (`trusted.overlay.opaque=y`) hides everything below it; symlinks are resolved inside the image, never on the host.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// Symlink hops before giving up (the kernel's limit).
const MAX_HOPS: usize = 40;

/// The host path of the file the merged image shows at `path` (absolute inside the image), or `None` when no
/// layer has it, a higher layer hides it, or it is not a regular file.
pub(crate) fn find_file(layers: &[PathBuf], path: &str) -> io::Result<Option<PathBuf>> {
    let mut comps = normalize(&[], path);
    for _ in 0..MAX_HOPS {
        match lookup(layers, &comps)? {
            Lookup::Found(p) => return Ok(Some(p)),
            Lookup::Absent => return Ok(None),
            Lookup::Redirect(next) => comps = next,
        }
    }
    Err(io::Error::other(format!("too many levels of symbolic links resolving {path}")))
}

enum Lookup {
    Found(PathBuf),
    Absent,
    /// a symlink on the way: the path to look up instead
    Redirect(Vec<String>),
}

fn lookup(layers: &[PathBuf], comps: &[String]) -> io::Result<Lookup> {
    if comps.is_empty() {
        return Ok(Lookup::Absent);
    }
    'layers: for layer in layers.iter().rev() {
        let mut cur = layer.clone();
        // an opaque directory on the way hides lower layers' contents beneath it
        let mut opaque = false;
        for (i, comp) in comps.iter().enumerate() {
            cur.push(comp);
            let md = match std::fs::symlink_metadata(&cur) {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if opaque {
                        return Ok(Lookup::Absent);
                    }
                    continue 'layers;
                }
                Err(e) => return Err(e),
            };
            let last = i + 1 == comps.len();
            let ft = md.file_type();
            if ft.is_char_device() && md.rdev() == 0 {
                return Ok(Lookup::Absent); // whiteout
            }
            if ft.is_symlink() {
                let target = std::fs::read_link(&cur)?;
                let mut next = normalize(&comps[..i], &target.to_string_lossy());
                next.extend(comps[i + 1..].iter().cloned());
                return Ok(Lookup::Redirect(normalize(&[], &next.join("/"))));
            }
            if last {
                return Ok(if ft.is_file() { Lookup::Found(cur) } else { Lookup::Absent });
            }
            if !ft.is_dir() {
                return Ok(Lookup::Absent);
            }
            opaque |= is_opaque(&cur);
        }
    }
    Ok(Lookup::Absent)
}

/// `path` made absolute against `base` (a directory's components) and cleaned lexically; `..` stops at `/`.
fn normalize(base: &[String], path: &str) -> Vec<String> {
    let mut out: Vec<String> = if path.starts_with('/') { vec![] } else { base.to_vec() };
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn is_opaque(dir: &Path) -> bool {
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else { return false };
    let mut buf = [0u8; 2];
    // SAFETY: both strings are NUL-terminated and live across the call; buf's length is passed
    let n =
        unsafe { libc::lgetxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    n == 1 && buf[0] == b'y'
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes `files` (path → content) into a new layer directory.
    pub(crate) fn layer(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (p, content) in files {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, content).unwrap();
        }
        dir
    }

    #[test]
    fn topmost_layer_wins() {
        let t = tempfile::tempdir().unwrap();
        let low = layer(t.path(), "0", &[("etc/passwd", "low"), ("etc/group", "g")]);
        let high = layer(t.path(), "1", &[("etc/passwd", "high")]);
        let layers = [low.clone(), high.clone()];
        assert_eq!(find_file(&layers, "/etc/passwd").unwrap(), Some(high.join("etc/passwd")));
        assert_eq!(find_file(&layers, "/etc/group").unwrap(), Some(low.join("etc/group")));
        assert_eq!(find_file(&layers, "/etc/shadow").unwrap(), None);
    }

    #[test]
    fn symlinks_resolve_inside_the_image() {
        let t = tempfile::tempdir().unwrap();
        let low = layer(t.path(), "0", &[("usr/lib/passwd", "real")]);
        std::fs::create_dir_all(low.join("etc")).unwrap();
        // absolute: must not read the host's /usr/lib/passwd
        std::os::unix::fs::symlink("/usr/lib/passwd", low.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../usr/lib/passwd", low.join("etc/group")).unwrap();
        let layers = [low.clone()];
        assert_eq!(find_file(&layers, "/etc/passwd").unwrap(), Some(low.join("usr/lib/passwd")));
        assert_eq!(find_file(&layers, "/etc/group").unwrap(), Some(low.join("usr/lib/passwd")));
        std::os::unix::fs::symlink("/etc/loop", low.join("etc/loop")).unwrap();
        assert!(find_file(&layers, "/etc/loop").is_err());
    }
}
