//! hostPath (pkg/volume/hostpath): the host's own path, bound as it is, after upstream's type check. Nothing
//! under a hostPath is ever created (except by the `*OrCreate` types) or removed by skiff.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::HostPathVolumeSource;

use crate::VolumeError;

/// What a path is, as upstream's `hostutil.GetFileType` classifies it (a FIFO counts as a file).
#[derive(Debug, PartialEq, Eq)]
enum FileType {
    Directory,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

fn file_type(path: &str) -> Option<FileType> {
    let t = fs::metadata(path).ok()?.file_type();
    Some(if t.is_dir() {
        FileType::Directory
    } else if t.is_socket() {
        FileType::Socket
    } else if t.is_char_device() {
        FileType::CharDevice
    } else if t.is_block_device() {
        FileType::BlockDevice
    } else {
        FileType::File
    })
}

/// Checks (and for `DirectoryOrCreate` / `FileOrCreate` creates) the host path; returns it.
pub(crate) fn setup(source: &HostPathVolumeSource) -> Result<PathBuf, VolumeError> {
    let path = source.path.as_str();
    if path.split('/').any(|p| p == "..") {
        return Err(VolumeError::HostPathBacksteps(path.to_string()));
    }
    let ty = source.type_.as_deref().unwrap_or("");
    let actual = file_type(path);
    let not_a = |what: &'static str| Err(VolumeError::HostPathType { path: path.to_string(), what });
    match ty {
        "" => {}
        "DirectoryOrCreate" if actual.is_none() => {
            // `mkdir -p` with 0755 (under the umask), as `hostutil.MakeDir`.
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(path)
                .map_err(|e| VolumeError::io("mkdir", path, e))?;
        }
        "DirectoryOrCreate" | "Directory" if actual != Some(FileType::Directory) => return not_a("directory"),
        "FileOrCreate" if actual.is_none() => {
            // `open(O_CREAT, 0644)`: the parent directory must already exist, as upstream.
            match OpenOptions::new().write(true).create(true).truncate(false).mode(0o644).open(path) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(VolumeError::io("open", path, e)),
            }
        }
        "FileOrCreate" | "File" if actual != Some(FileType::File) => return not_a("file"),
        "Socket" if actual != Some(FileType::Socket) => return not_a("socket file"),
        "CharDevice" if actual != Some(FileType::CharDevice) => return not_a("character device"),
        "BlockDevice" if actual != Some(FileType::BlockDevice) => return not_a("block device"),
        "DirectoryOrCreate" | "Directory" | "FileOrCreate" | "File" | "Socket" | "CharDevice" | "BlockDevice" => {}
        other => return Err(VolumeError::InvalidHostPathType(other.to_string())),
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn src(path: &std::path::Path, ty: &str) -> HostPathVolumeSource {
        HostPathVolumeSource { path: path.to_string_lossy().into_owned(), type_: Some(ty.into()) }
    }

    #[test]
    fn type_checks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("f");
        fs::write(&file, "x").expect("write");
        let dir = tmp.path();

        assert!(setup(&src(dir, "Directory")).is_ok());
        assert!(setup(&src(&file, "File")).is_ok());
        assert!(setup(&src(&tmp.path().join("missing"), "")).is_ok(), "unset type checks nothing");
        assert!(setup(&src(std::path::Path::new("/dev/null"), "CharDevice")).is_ok());

        let msg = |p: &std::path::Path, ty| setup(&src(p, ty)).expect_err(ty).to_string();
        let f = file.display();
        assert_eq!(msg(&file, "Directory"), format!("hostPath type check failed: {f} is not a directory"));
        assert_eq!(msg(dir, "File"), format!("hostPath type check failed: {} is not a file", dir.display()));
        assert_eq!(msg(&file, "Socket"), format!("hostPath type check failed: {f} is not a socket file"));
        assert_eq!(msg(&file, "CharDevice"), format!("hostPath type check failed: {f} is not a character device"));
        assert_eq!(msg(&file, "BlockDevice"), format!("hostPath type check failed: {f} is not a block device"));
        assert_eq!(msg(&file, "DirectoryOrCreate"), format!("hostPath type check failed: {f} is not a directory"));
        assert_eq!(msg(&file, "Weird"), "Weird is an invalid volume type");
        assert_eq!(msg(std::path::Path::new("/a/../b"), ""), "invalid HostPath `/a/../b`: must not contain '..'");
    }

    #[test]
    fn or_create_types_create() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path().join("a/b/c");
        assert_eq!(setup(&src(&d, "DirectoryOrCreate")).expect("mkdir -p"), d);
        assert!(d.is_dir());
        let f = tmp.path().join("a/new");
        setup(&src(&f, "FileOrCreate")).expect("create");
        assert!(f.is_file());
        assert_eq!(fs::metadata(&f).expect("meta").permissions().mode() & 0o777, 0o644 & !current_umask());
        let orphan = tmp.path().join("nope/file");
        let err = setup(&src(&orphan, "FileOrCreate")).expect_err("no parent").to_string();
        assert_eq!(err, format!("open {}: no such file or directory", orphan.display()));
    }

    fn current_umask() -> u32 {
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        nix::sys::stat::umask(old);
        old.bits()
    }
}
