//! Sandbox records on disk: `STATE_DIR/sandboxes/<id>.json`, one per sandbox that exists or is being built.
//!
//! A record is written (temporary file + rename, so it is whole or absent) right after the sandbox's IP is
//! allocated and before any kernel object is created, and removed last when the sandbox is torn down. So after a
//! crash every netns, veth and IP that skiff made has either a record naming it, or is an orphan the sweep removes.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::NetError;
use crate::Sandbox;

/// The directory of sandbox records.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    dir: PathBuf,
}

impl Records {
    pub(crate) fn open(dir: PathBuf) -> Result<Self, NetError> {
        fs::create_dir_all(&dir).map_err(NetError::io("create directory", &dir))?;
        Ok(Records { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    pub(crate) fn get(&self, id: &str) -> Result<Option<Sandbox>, NetError> {
        read(&self.path(id))
    }

    pub(crate) fn put(&self, sandbox: &Sandbox) -> Result<(), NetError> {
        let path = self.path(&sandbox.id);
        let tmp = self.dir.join(format!(".{}.json.tmp", sandbox.id));
        let bytes =
            serde_json::to_vec_pretty(sandbox).map_err(|source| NetError::State { path: path.clone(), source })?;
        fs::write(&tmp, bytes).map_err(NetError::io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(NetError::io("rename", &path))
    }

    pub(crate) fn remove(&self, id: &str) -> Result<(), NetError> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::io("remove", path)(e)),
        }
    }

    /// Every record, sorted by id. Unreadable records are skipped with a warning (they name nothing we can clean).
    pub(crate) fn list(&self) -> Result<Vec<Sandbox>, NetError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(NetError::io("read directory", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(NetError::io("read directory", &self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            match read(&entry.path()) {
                Ok(Some(s)) => out.push(s),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "skipping unreadable sandbox record"),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

fn read(path: &Path) -> Result<Option<Sandbox>, NetError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| NetError::State { path: path.to_path_buf(), source }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io("read", path)(e)),
    }
}
