//! Upstream's `AtomicWriter` (pkg/volume/util/atomic_writer.go): projects a set of files into a directory so
//! that readers never see a half-updated set.
//!
//! Layout of a target directory:
//! ```text
//! ..2024_05_01_10_00_00.123456789/   the real files (mode 0755 dir)
//! ..data -> ..2024_05_01_10_00_00.123456789
//! key    -> ..data/key                 one symlink per top-level user-visible name
//! dir    -> ..data/dir                 nested paths are reached through their top-level directory
//! ```
//! An update writes a new timestamped directory, points a `..data_tmp` symlink at it and renames that over
//! `..data` (rename is atomic), then prunes top-level names no longer in the payload and the old directory.
//! Names starting with `..` are reserved for the writer. Like upstream there is no locking: the caller must
//! not write the same directory from two threads at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, DirBuilder, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{chown, Uid};

use crate::VolumeError;

const MAX_FILE_NAME_LENGTH: usize = 255;
const MAX_PATH_LENGTH: usize = 4096;
const DATA_DIR_NAME: &str = "..data";
const NEW_DATA_DIR_NAME: &str = "..data_tmp";

/// One file of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    /// Permission bits (e.g. 0o644).
    pub mode: u32,
    /// Owner to chown the file to (projected service account tokens with a common runAsUser).
    pub fs_user: Option<u32>,
}

impl FileProjection {
    pub fn new(data: impl Into<Vec<u8>>, mode: u32) -> Self {
        FileProjection { data: data.into(), mode, fs_user: None }
    }
}

/// Relative path (`key`, `dir/file`) → content.
pub type Payload = BTreeMap<String, FileProjection>;

/// A callback applied to the whole target directory after a new version is written and before it becomes
/// visible (secret/configMap volumes apply fsGroup ownership here). Gets the new timestamped dir's name.
pub type SetPerms<'a> = &'a dyn Fn(&str) -> Result<(), VolumeError>;

/// Writes payloads into one target directory.
#[derive(Debug, Clone)]
pub struct AtomicWriter {
    target_dir: PathBuf,
    log_context: String,
}

impl AtomicWriter {
    /// A writer for `target_dir`, which must exist.
    pub fn new(target_dir: impl Into<PathBuf>, log_context: impl Into<String>) -> Result<Self, VolumeError> {
        let target_dir = target_dir.into();
        fs::metadata(&target_dir).map_err(|e| VolumeError::io("stat", &target_dir, e))?;
        Ok(AtomicWriter { target_dir, log_context: log_context.into() })
    }

    /// Projects `payload` into the target directory. Returns whether a new version was written (`false`
    /// when the files on disk already have this content and nothing has to be removed).
    pub fn write(&self, payload: &Payload, set_perms: Option<SetPerms<'_>>) -> Result<bool, VolumeError> {
        // (1) validate and clean the paths.
        let payload = validate_payload(payload)?;

        // (2) the current version.
        let data_dir_path = self.target_dir.join(DATA_DIR_NAME);
        let old_ts_dir = match fs::read_link(&data_dir_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(VolumeError::io("readlink", &data_dir_path, e)),
        };
        let mut old_ts_dir = old_ts_dir.map(|t| self.target_dir.join(t));

        let mut paths_to_remove = BTreeSet::new();
        let mut should_write = true;
        if let Some(old) = &old_ts_dir {
            // (3) what the new version drops, (4) whether anything changed.
            paths_to_remove = paths_to_remove_from(&payload, old)?;
            if !should_write_payload(&payload, old)? && paths_to_remove.is_empty() {
                tracing::trace!(context = %self.log_context, "no update required for target directory");
                should_write = false;
                old_ts_dir = None;
            }
        }

        if should_write {
            // (5) a new timestamped directory, (6) the files in it, (7) ownership.
            let ts_dir = self.new_timestamp_dir()?;
            let ts_name = file_name(&ts_dir);
            let published = self.write_payload_to_dir(&payload, &ts_dir).and_then(|()| match set_perms {
                Some(f) => f(&ts_name),
                None => Ok(()),
            });
            // (8) `..data_tmp` → new dir (a leftover from a crash would make symlink fail forever), (9) rename.
            let published = published.and_then(|()| {
                let new_data_dir_path = self.target_dir.join(NEW_DATA_DIR_NAME);
                remove_if_exists(&new_data_dir_path)?;
                symlink(&ts_name, &new_data_dir_path).map_err(|e| VolumeError::io("symlink", &new_data_dir_path, e))?;
                fs::rename(&new_data_dir_path, &data_dir_path).map_err(|e| {
                    let _ = fs::remove_file(&new_data_dir_path);
                    VolumeError::io("rename", &new_data_dir_path, e)
                })
            });
            if let Err(e) = published {
                let _ = fs::remove_dir_all(&ts_dir);
                tracing::warn!(context = %self.log_context, error = %e, "writing new volume data failed");
                return Err(e);
            }
            tracing::debug!(context = %self.log_context, dir = %ts_name, "published new volume data");
        }

        // (10) user-visible symlinks (also repairs ones lost in a crash), (11) prune dropped names.
        self.create_user_visible_files(&payload)?;
        self.remove_user_visible_paths(&paths_to_remove)?;

        // (12) the previous version, and any timestamped directory a crash left behind.
        if should_write {
            if let Some(old) = old_ts_dir {
                fs::remove_dir_all(&old).map_err(|e| VolumeError::io("unlinkat", &old, e))?;
            }
            self.remove_orphaned_ts_dirs()?;
        }
        Ok(should_write)
    }

    /// `..2006_01_02_15_04_05.<random>` in UTC (Go's `os.MkdirTemp` appends a random decimal u32), 0755.
    fn new_timestamp_dir(&self) -> Result<PathBuf, VolumeError> {
        let prefix = chrono::Utc::now().format("..%Y_%m_%d_%H_%M_%S.").to_string();
        for _ in 0..10_000 {
            let random = std::collections::hash_map::RandomState::new().build_hasher().finish() as u32;
            let dir = self.target_dir.join(format!("{prefix}{random}"));
            match DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    // 0755 so that group and others can traverse, regardless of the umask.
                    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
                        .map_err(|e| VolumeError::io("chmod", &dir, e))?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(VolumeError::io("mkdir", &dir, e)),
            }
        }
        Err(VolumeError::io("mkdir", &self.target_dir, ErrorKind::AlreadyExists.into()))
    }

    fn write_payload_to_dir(&self, payload: &Payload, dir: &Path) -> Result<(), VolumeError> {
        for (path, projection) in payload {
            let full = dir.join(path);
            if let Some(parent) = full.parent() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(|e| VolumeError::io("mkdir", parent, e))?;
            }
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(projection.mode)
                .open(&full)
                .map_err(|e| VolumeError::io("open", &full, e))?;
            f.write_all(&projection.data).map_err(|e| VolumeError::io("write", &full, e))?;
            // The umask applied at open; the mode asked for is what must end up on disk.
            fs::set_permissions(&full, fs::Permissions::from_mode(projection.mode))
                .map_err(|e| VolumeError::io("chmod", &full, e))?;
            if let Some(uid) = projection.fs_user {
                chown(&full, Some(Uid::from_raw(uid)), None).map_err(|e| VolumeError::io("chown", &full, e.into()))?;
            }
        }
        Ok(())
    }

    /// `key -> ..data/key` for every top-level name (`dir -> ..data/dir` for `dir/file`).
    fn create_user_visible_files(&self, payload: &Payload) -> Result<(), VolumeError> {
        for path in payload.keys() {
            let top = path.split('/').next().unwrap_or(path);
            let visible = self.target_dir.join(top);
            match fs::read_link(&visible) {
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    symlink(Path::new(DATA_DIR_NAME).join(top), &visible)
                        .map_err(|e| VolumeError::io("symlink", &visible, e))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes top-level names only: nested ones disappear with the old timestamped directory.
    fn remove_user_visible_paths(&self, paths: &BTreeSet<String>) -> Result<(), VolumeError> {
        let mut last = Ok(());
        for p in paths.iter().filter(|p| !p.contains('/')) {
            let path = self.target_dir.join(p);
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(context = %self.log_context, path = %p, error = %e, "pruning old user-visible path");
                last = Err(VolumeError::io("remove", &path, e));
            }
        }
        last
    }

    /// Timestamped directories that `..data` does not point at (a crash between steps 5 and 12).
    fn remove_orphaned_ts_dirs(&self) -> Result<(), VolumeError> {
        let current = fs::read_link(self.target_dir.join(DATA_DIR_NAME)).ok();
        let entries = fs::read_dir(&self.target_dir).map_err(|e| VolumeError::io("open", &self.target_dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            let is_ts_dir = name_str.starts_with("..") && name_str.as_bytes().get(2).is_some_and(u8::is_ascii_digit);
            if is_ts_dir && current.as_deref() != Some(Path::new(&name)) && entry.file_type().is_ok_and(|t| t.is_dir())
            {
                fs::remove_dir_all(entry.path()).map_err(|e| VolumeError::io("unlinkat", entry.path(), e))?;
            }
        }
        Ok(())
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn remove_if_exists(p: &Path) -> Result<(), VolumeError> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(VolumeError::io("remove", p, e)),
        _ => Ok(()),
    }
}

/// Validates every path and returns the payload keyed by cleaned paths (Go's `filepath.Clean`).
fn validate_payload(payload: &Payload) -> Result<Payload, VolumeError> {
    let mut clean = Payload::new();
    for (path, projection) in payload {
        validate_path(path)?;
        clean.insert(clean_path(path), projection.clone());
    }
    Ok(clean)
}

/// Upstream `validatePath`, with its messages.
pub(crate) fn validate_path(target: &str) -> Result<(), VolumeError> {
    if target.is_empty() {
        return Err(VolumeError::InvalidPath("must not be empty: \"\"".into()));
    }
    if target.starts_with('/') {
        return Err(VolumeError::InvalidPath(format!("must be relative path: {target}")));
    }
    if target.len() > MAX_PATH_LENGTH {
        return Err(VolumeError::InvalidPath(format!("must be less than or equal to {MAX_PATH_LENGTH} characters")));
    }
    let items: Vec<&str> = target.split('/').collect();
    for item in &items {
        if *item == ".." {
            return Err(VolumeError::InvalidPath(format!("must not contain '..': {target}")));
        }
        if item.len() > MAX_FILE_NAME_LENGTH {
            return Err(VolumeError::InvalidPath(format!(
                "filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            )));
        }
    }
    if items[0].starts_with("..") && items[0].len() > 2 {
        return Err(VolumeError::InvalidPath(format!("must not start with '..': {target}")));
    }
    Ok(())
}

/// `filepath.Clean` for a relative path without `..`: drops empty and `.` elements.
pub(crate) fn clean_path(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Whether any file's content differs from (or is missing in) the current version. Modes are not compared:
/// they come from the pod spec, which cannot change.
fn should_write_payload(payload: &Payload, old_ts_dir: &Path) -> Result<bool, VolumeError> {
    for (path, projection) in payload {
        let full = old_ts_dir.join(path);
        if let Err(e) = fs::symlink_metadata(&full) {
            if e.kind() == ErrorKind::NotFound {
                return Ok(true);
            }
        }
        let on_disk = fs::read(&full).map_err(|e| VolumeError::io("open", &full, e))?;
        if on_disk != projection.data {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Paths in the current version that the new payload does not have (directories of new paths are kept).
fn paths_to_remove_from(payload: &Payload, old_ts_dir: &Path) -> Result<BTreeSet<String>, VolumeError> {
    let mut current = BTreeSet::new();
    collect_paths(old_ts_dir, "", &mut current)?;
    let mut new_paths = BTreeSet::new();
    for path in payload.keys() {
        let mut sub = path.as_str();
        loop {
            new_paths.insert(sub.to_string());
            match sub.rfind('/') {
                Some(i) => sub = &sub[..i],
                None => break,
            }
        }
    }
    Ok(current.difference(&new_paths).cloned().collect())
}

fn collect_paths(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) -> Result<(), VolumeError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(VolumeError::io("open", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| VolumeError::io("readdirent", dir, e))?;
        let rel = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_paths(&entry.path(), &format!("{rel}/"), out)?;
        }
        out.insert(rel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn payload(items: &[(&str, &str)]) -> Payload {
        items.iter().map(|(k, v)| (k.to_string(), FileProjection::new(v.as_bytes(), 0o644))).collect()
    }

    fn data_target(dir: &Path) -> PathBuf {
        fs::read_link(dir.join("..data")).expect("..data is a symlink")
    }

    fn ts_dirs(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("readable")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("..2"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn first_write_lays_out_data_dir_and_symlinks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let w = AtomicWriter::new(tmp.path(), "test").expect("writer");
        assert!(w.write(&payload(&[("a", "1"), ("dir/b", "2"), ("dir/sub/c", "3")]), None).expect("write"));

        let ts = data_target(tmp.path());
        let ts = ts.to_string_lossy();
        assert!(ts.starts_with(".."), "{ts}");
        let stamp = &ts[2..ts.rfind('.').expect("a dot before the random part")];
        assert!(chrono::NaiveDateTime::parse_from_str(stamp, "%Y_%m_%d_%H_%M_%S").is_ok(), "{stamp}");
        assert_eq!(fs::metadata(tmp.path().join(&*ts)).expect("ts dir").mode() & 0o7777, 0o755);
        assert_eq!(fs::read_link(tmp.path().join("a")).expect("link"), Path::new("..data/a"));
        assert_eq!(fs::read_link(tmp.path().join("dir")).expect("link"), Path::new("..data/dir"));
        assert_eq!(fs::read_to_string(tmp.path().join("dir/sub/c")).expect("read"), "3");
        assert_eq!(fs::metadata(tmp.path().join("a")).expect("file").mode() & 0o7777, 0o644);
        assert!(!tmp.path().join("..data_tmp").exists());
    }

    #[test]
    fn unchanged_payload_is_not_rewritten() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let w = AtomicWriter::new(tmp.path(), "test").expect("writer");
        let p = payload(&[("a", "1")]);
        w.write(&p, None).expect("write");
        let before = data_target(tmp.path());
        assert!(!w.write(&p, None).expect("write"));
        assert_eq!(data_target(tmp.path()), before);
    }

    #[test]
    fn update_swaps_data_dir_removes_dropped_keys_and_old_version() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let w = AtomicWriter::new(tmp.path(), "test").expect("writer");
        w.write(&payload(&[("a", "1"), ("b", "2"), ("d/x", "3"), ("d/y", "4")]), None).expect("write");
        let before = data_target(tmp.path());

        assert!(w.write(&payload(&[("a", "changed"), ("d/x", "3")]), None).expect("write"));
        let after = data_target(tmp.path());
        assert_ne!(before, after);
        assert_eq!(ts_dirs(tmp.path()), vec![after.to_string_lossy().into_owned()]);
        assert_eq!(fs::read_to_string(tmp.path().join("a")).expect("read"), "changed");
        assert!(fs::symlink_metadata(tmp.path().join("b")).is_err(), "dropped key's symlink is removed");
        assert!(tmp.path().join("d/x").exists());
        assert!(!tmp.path().join("d/y").exists());
    }

    #[test]
    fn key_removal_alone_triggers_a_new_version() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let w = AtomicWriter::new(tmp.path(), "test").expect("writer");
        w.write(&payload(&[("a", "1"), ("b", "2")]), None).expect("write");
        let before = data_target(tmp.path());
        assert!(w.write(&payload(&[("a", "1")]), None).expect("write"));
        assert_ne!(data_target(tmp.path()), before);
        assert!(fs::symlink_metadata(tmp.path().join("b")).is_err());
        assert!(!tmp.path().join("..data/b").exists());
    }

    #[test]
    fn crash_leftovers_are_cleaned_and_missing_symlinks_repaired() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let w = AtomicWriter::new(tmp.path(), "test").expect("writer");
        w.write(&payload(&[("a", "1")]), None).expect("write");
        symlink("..2000_01_01_00_00_00.1", tmp.path().join("..data_tmp")).expect("stale link");
        fs::create_dir(tmp.path().join("..2000_01_01_00_00_00.1")).expect("orphan dir");
        fs::remove_file(tmp.path().join("a")).expect("lose symlink");

        assert!(!w.write(&payload(&[("a", "1")]), None).expect("write"));
        assert!(tmp.path().join("a").exists(), "symlink repaired without a new version");
        w.write(&payload(&[("a", "2")]), None).expect("write");
        assert_eq!(ts_dirs(tmp.path()).len(), 1);
        assert!(fs::symlink_metadata(tmp.path().join("..data_tmp")).is_err());
    }

    #[test]
    fn modes_are_exact_regardless_of_umask() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let w = AtomicWriter::new(tmp.path(), "test").expect("writer");
        let mut p = Payload::new();
        p.insert("x".into(), FileProjection::new("v", 0o777));
        p.insert("y".into(), FileProjection::new("v", 0o400));
        w.write(&p, None).expect("write");
        assert_eq!(fs::metadata(tmp.path().join("x")).expect("x").mode() & 0o7777, 0o777);
        assert_eq!(fs::metadata(tmp.path().join("y")).expect("y").mode() & 0o7777, 0o400);
    }

    #[test]
    fn invalid_paths_are_rejected_with_upstream_messages() {
        let cases = [
            ("", "invalid path: must not be empty: \"\""),
            ("/abs", "invalid path: must be relative path: /abs"),
            ("a/../b", "invalid path: must not contain '..': a/../b"),
            ("..", "invalid path: must not contain '..': .."),
            ("..x/y", "invalid path: must not start with '..': ..x/y"),
        ];
        for (path, msg) in cases {
            assert_eq!(validate_path(path).expect_err(path).to_string(), msg);
        }
        let long = "a".repeat(256);
        assert_eq!(
            validate_path(&long).expect_err("long").to_string(),
            "invalid path: filenames must be less than or equal to 255 characters"
        );
        assert!(validate_path("a/.b/c").is_ok());
        assert_eq!(clean_path("./a//b/"), "a/b");
    }
}
