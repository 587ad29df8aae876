//! The content-addressed store on disk, and the image records that name its contents.
//!
//! ```text
//! images/blobs/sha256/<hex>        verified blobs (manifests, configs, compressed layers)
//! images/ingest/<hex>.partial      downloads in progress (resumed from their length)
//! images/layers/sha256/<hex>/      each layer unpacked once, keyed by its blob digest
//! images/images.json               name → image record
//! ```
//! Invariants: a file under `blobs/` always matches its name's digest (written to `ingest/`, verified, then
//! renamed); a directory under `layers/` is complete (unpacked beside it and renamed); `images.json` is replaced
//! atomically. So a kill at any moment leaves only `ingest/` leftovers, which the next pull resumes or prune
//! removes.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("blob {expected} failed verification: its content hashes to {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("unsupported digest {0:?} (only sha256 is supported)")]
    UnsupportedDigest(String),
    #[error("corrupt image records in {path}: {detail}")]
    Records { path: PathBuf, detail: String },
}

pub(crate) fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}

/// The hex part of a `sha256:<hex>` digest, checked.
pub fn sha256_hex(digest: &str) -> Result<&str, StoreError> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit()) => Ok(hex),
        _ => Err(StoreError::UnsupportedDigest(digest.to_string())),
    }
}

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A layer as an image lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// What `images.json` says of one image name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The canonical reference, e.g. `docker.io/library/nginx:1.24`.
    pub name: String,
    /// The digest the name resolved to (an index's digest when pulled through one): the repo digest.
    pub digest: String,
    /// The platform manifest's digest.
    pub manifest: String,
    pub config: String,
    pub layers: Vec<LayerRef>,
    /// Compressed size: config plus layers.
    pub size: u64,
    /// RFC 3339 time the record was written.
    pub created: String,
}

#[derive(Debug)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    pub fn open(root: &Path) -> Result<ContentStore, StoreError> {
        for d in ["blobs/sha256", "ingest", "layers/sha256"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(io("creating", &p))?;
        }
        Ok(ContentStore { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root.join("blobs/sha256").join(sha256_hex(digest)?))
    }

    pub fn partial_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root.join("ingest").join(format!("{}.partial", sha256_hex(digest)?)))
    }

    pub fn layer_dir(&self, digest: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root.join("layers/sha256").join(sha256_hex(digest)?))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.is_file()).unwrap_or(false)
    }

    pub fn has_layer(&self, digest: &str) -> bool {
        self.layer_dir(digest).map(|p| p.is_dir()).unwrap_or(false)
    }

    /// Hashes the partial download for `digest`; if it is complete and right, moves it into `blobs/`. A wrong
    /// hash deletes the partial file (so the next attempt starts over) and is an error.
    pub fn commit_partial(&self, digest: &str) -> Result<(), StoreError> {
        let partial = self.partial_path(digest)?;
        let actual = hash_file(&partial)?;
        if actual != digest {
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::DigestMismatch { expected: digest.to_string(), actual });
        }
        let f = std::fs::File::open(&partial).map_err(io("opening", &partial))?;
        f.sync_all().map_err(io("syncing", &partial))?;
        let dest = self.blob_path(digest)?;
        std::fs::rename(&partial, &dest).map_err(io("renaming into", &dest))
    }

    /// Stores a small blob held in memory (manifest, config), verifying it against `digest`.
    pub fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let actual = digest_of(bytes);
        if actual != digest {
            return Err(StoreError::DigestMismatch { expected: digest.to_string(), actual });
        }
        if self.has_blob(digest) {
            return Ok(());
        }
        let partial = self.partial_path(digest)?;
        let mut f = std::fs::File::create(&partial).map_err(io("creating", &partial))?;
        f.write_all(bytes).map_err(io("writing", &partial))?;
        f.sync_all().map_err(io("syncing", &partial))?;
        let dest = self.blob_path(digest)?;
        std::fs::rename(&partial, &dest).map_err(io("renaming into", &dest))
    }

    /// Reads a whole blob, verifying it (blobs are small where this is used: manifests and configs).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest)?;
        let bytes = std::fs::read(&p).map_err(io("reading", &p))?;
        let actual = digest_of(&bytes);
        if actual != digest {
            return Err(StoreError::DigestMismatch { expected: digest.to_string(), actual });
        }
        Ok(bytes)
    }

    /// Digests of every stored blob.
    pub fn blobs(&self) -> Result<Vec<String>, StoreError> {
        list_sha256_dir(&self.root.join("blobs/sha256"))
    }

    /// Digests of every unpacked layer.
    pub fn layers(&self) -> Result<Vec<String>, StoreError> {
        list_sha256_dir(&self.root.join("layers/sha256"))
    }

    /// The store's size on disk: blobs, and unpacked layers (following no links, counting each inode once).
    pub fn disk_usage(&self) -> Result<(u64, u64), StoreError> {
        Ok((du(&self.root.join("blobs"))?, du(&self.root.join("layers"))?))
    }
}

fn list_sha256_dir(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io("listing", dir))? {
        let e = e.map_err(io("listing", dir))?;
        if let Some(name) = e.file_name().to_str() {
            if name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit()) {
                out.push(format!("sha256:{name}"));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn du(path: &Path) -> Result<u64, StoreError> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::Io { op: "stat", path: p, source: e }),
        };
        if !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        total += md.blocks() * 512;
        if md.is_dir() {
            for e in std::fs::read_dir(&p).map_err(io("listing", &p))? {
                stack.push(e.map_err(io("listing", &p))?.path());
            }
        }
    }
    Ok(total)
}

pub fn hash_file(path: &Path) -> Result<String, StoreError> {
    let mut f = std::fs::File::open(path).map_err(io("opening", path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io("reading", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// `images.json`: every image name and what it points at.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Records {
    #[serde(default)]
    pub images: BTreeMap<String, ImageRecord>,
}

impl Records {
    pub fn load(path: &Path) -> Result<Records, StoreError> {
        match std::fs::read(path) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| StoreError::Records { path: path.into(), detail: e.to_string() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Records::default()),
            Err(e) => Err(StoreError::Io { op: "reading", path: path.into(), source: e }),
        }
    }

    /// Replaces the file atomically (temp file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| StoreError::Records { path: path.into(), detail: e.to_string() })?;
        let mut f = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(&bytes).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("renaming into", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_blobs_are_verified_before_they_count() {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        let good = digest_of(b"hello");
        std::fs::write(s.partial_path(&good).unwrap(), b"hel").unwrap();
        assert!(matches!(s.commit_partial(&good), Err(StoreError::DigestMismatch { .. })));
        assert!(!s.partial_path(&good).unwrap().exists(), "a bad partial is discarded");
        std::fs::write(s.partial_path(&good).unwrap(), b"hello").unwrap();
        s.commit_partial(&good).unwrap();
        assert!(s.has_blob(&good));
        assert_eq!(s.read_blob(&good).unwrap(), b"hello");
        std::fs::write(s.blob_path(&good).unwrap(), b"tampered").unwrap();
        assert!(s.read_blob(&good).is_err(), "a corrupted blob is detected on read");
    }

    #[test]
    fn digests_are_checked() {
        assert!(sha256_hex("sha256:abc").is_err());
        assert!(sha256_hex(&format!("sha256:{}", "0".repeat(64))).is_ok());
        assert!(sha256_hex(&format!("md5:{}", "0".repeat(32))).is_err());
    }
}
