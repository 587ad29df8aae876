//! OCI images for the node: resolving references, pulling from registries into a content-addressed store,
//! unpacking each layer once, importing tarballs, and garbage collection.
//!
//! This crate knows nothing about pods: the runtime asks it for an image's unpacked layers and config, and tells
//! `prune` which images are in use.

pub mod hosts;
mod import;
pub mod manifest;
pub mod pull;
pub mod reference;
pub mod store;
pub mod unpack;

use hosts::{ConfigError, Credentials, RegistryConfig};
use manifest::{ImageConfigFile, RuntimeConfig};
use pull::{Progress, PullError};
use reference::{Reference, ReferenceError};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use store::{ContentStore, ImageRecord, LayerRef, Records, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unpacking layer {digest}: {detail}")]
    Unpack { digest: String, detail: String },
    #[error("image \"{0}\" not found")]
    NotFound(String),
    #[error("image \"{0}\" is in use")]
    InUse(String),
    #[error("importing {path}: {detail}")]
    Import { path: PathBuf, detail: String },
}

/// One async mutex per key (blob digest, image name): what makes concurrent pulls of the same thing do the work
/// once.
#[derive(Default)]
pub(crate) struct Locks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Locks {
    pub(crate) fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key.to_string()).or_default().clone()
    }
}

/// What `prune` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneStats {
    pub blobs: usize,
    pub layers: usize,
    pub partials: usize,
}

pub struct ImageService {
    store: ContentStore,
    records_path: PathBuf,
    records: Mutex<Records>,
    registries: RegistryConfig,
    node_credentials: Credentials,
    locks: Locks,
}

impl ImageService {
    /// Opens the image store under `root` (`DATA_DIR/images`), with `registries.toml` and `auth.json` from there,
    /// plus `--registry-mirror REGISTRY=URL` flags.
    pub fn open(root: &Path, mirror_flags: &[String]) -> Result<ImageService, ImageError> {
        // reqwest is built without a default TLS provider so that the whole binary uses ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = ContentStore::open(root)?;
        let mut registries = RegistryConfig::load(&root.join("registries.toml"))?;
        for m in mirror_flags {
            registries.add_mirror_flag(m)?;
        }
        let node_credentials = Credentials::load(&root.join("auth.json"))?;
        let records_path = root.join("images.json");
        let records = Mutex::new(Records::load(&records_path)?);
        Ok(ImageService { store, records_path, records, registries, node_credentials, locks: Locks::default() })
    }

    pub fn store(&self) -> &ContentStore {
        &self.store
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save_record(&self, rec: ImageRecord) -> Result<(), ImageError> {
        let mut records = self.records();
        records.images.insert(rec.name.clone(), rec);
        records.save(&self.records_path)?;
        Ok(())
    }

    /// Pulls `reference` (with extra credentials, e.g. a pod's pull secrets), unpacking its layers. Blobs and
    /// layers already present are not fetched again; concurrent pulls of one image do the work once.
    pub async fn pull(
        &self,
        reference: &str,
        credentials: &Credentials,
        progress: &dyn Progress,
    ) -> Result<ImageRecord, ImageError> {
        let r = Reference::parse(reference)?;
        let name = r.to_string();
        let lock = self.locks.get(&format!("image:{name}"));
        let _held = lock.lock().await;
        let creds = self.node_credentials.merged(credentials);
        let endpoints = self.registries.endpoints(&r.registry);
        let mut last_err: Option<PullError> = None;
        for ep in &endpoints {
            let client = match pull::client_for(ep) {
                Ok(c) => c,
                Err(detail) => {
                    last_err = Some(PullError::Registry { reference: name.clone(), host: ep.host.clone(), detail });
                    continue;
                }
            };
            let auth = pull::auth_for(ep, &r.registry, &creds);
            let result = async {
                let resolved = pull::resolve(&client, ep, &r, &auth, &self.store).await?;
                let mut blobs = vec![resolved.config.clone()];
                blobs.extend(resolved.layers.iter().cloned());
                pull::fetch_all(&client, ep, &r, &blobs, &self.store, &self.locks, progress).await?;
                Ok::<_, PullError>(resolved)
            }
            .await;
            match result {
                Ok(resolved) => {
                    tracing::info!(image = %name, endpoint = %ep.host, digest = %resolved.digest, "pulled");
                    self.unpack_all(&resolved.layers).await?;
                    let rec =
                        record(&name, &resolved.digest, &resolved.manifest_digest, &resolved.config, &resolved.layers);
                    self.save_record(rec.clone())?;
                    return Ok(rec);
                }
                // A mirror that fails is skipped; the registry itself is the last word.
                Err(e) if ep.mirror => {
                    tracing::warn!(image = %name, mirror = %ep.host, error = %e, "mirror failed; trying the next endpoint");
                    last_err = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last_err.map(ImageError::from).unwrap_or_else(|| ImageError::NotFound(name)))
    }

    /// Unpacks every layer not unpacked yet, each exactly once.
    pub(crate) async fn unpack_all(&self, layers: &[manifest::Descriptor]) -> Result<(), ImageError> {
        let jobs = layers.iter().map(|l| async move {
            let lock = self.locks.get(&format!("unpack:{}", l.digest));
            let _held = lock.lock().await;
            if self.store.has_layer(&l.digest) {
                return Ok(());
            }
            let blob = self.store.blob_path(&l.digest)?;
            let dest = self.store.layer_dir(&l.digest)?;
            let media_type = l.media_type.clone();
            let digest = l.digest.clone();
            tokio::task::spawn_blocking(move || unpack_blob(&blob, &media_type, &dest, &digest))
                .await
                .map_err(|e| ImageError::Unpack { digest: l.digest.clone(), detail: e.to_string() })?
        });
        futures::future::try_join_all(jobs).await?;
        Ok(())
    }

    /// Every image record, by name.
    pub fn list(&self) -> Vec<ImageRecord> {
        self.records().images.values().cloned().collect()
    }

    /// The record for a reference (any spelling: `nginx:1.24` finds `docker.io/library/nginx:1.24`).
    pub fn get(&self, reference: &str) -> Result<ImageRecord, ImageError> {
        let name = Reference::parse(reference)?.to_string();
        self.records().images.get(&name).cloned().ok_or(ImageError::NotFound(name))
    }

    /// The image's runtime config (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, StopSignal).
    pub fn config(&self, rec: &ImageRecord) -> Result<RuntimeConfig, ImageError> {
        let bytes = self.store.read_blob(&rec.config)?;
        let path = self.store.blob_path(&rec.config)?;
        let cfg: ImageConfigFile = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Store(StoreError::Records { path, detail: e.to_string() }))?;
        Ok(cfg.config.unwrap_or_default())
    }

    /// The unpacked layer directories, lowest first (the order overlayfs stacks them).
    pub fn layer_dirs(&self, rec: &ImageRecord) -> Result<Vec<PathBuf>, ImageError> {
        rec.layers.iter().map(|l| Ok(self.store.layer_dir(&l.digest)?)).collect()
    }

    /// Removes an image name (its content goes at the next prune). Refused while `in_use` names it.
    pub fn remove(&self, reference: &str, in_use: &[String]) -> Result<ImageRecord, ImageError> {
        let name = Reference::parse(reference)?.to_string();
        if in_use.iter().any(|u| Reference::parse(u).map(|r| r.to_string()) == Ok(name.clone())) {
            return Err(ImageError::InUse(name));
        }
        let mut records = self.records();
        let rec = records.images.remove(&name).ok_or_else(|| ImageError::NotFound(name.clone()))?;
        records.save(&self.records_path)?;
        Ok(rec)
    }

    /// Deletes blobs and unpacked layers no image record references, and abandoned partial downloads.
    /// Images in use are never touched: they have records (and `remove` refuses them).
    pub fn prune(&self) -> Result<PruneStats, ImageError> {
        let records = self.records();
        let mut keep: BTreeSet<String> = BTreeSet::new();
        for rec in records.images.values() {
            keep.insert(rec.digest.clone());
            keep.insert(rec.manifest.clone());
            keep.insert(rec.config.clone());
            keep.extend(rec.layers.iter().map(|l| l.digest.clone()));
        }
        // Hold the records lock throughout: a pull saving a record waits, so nothing it needs disappears.
        let mut stats = PruneStats::default();
        for d in self.store.blobs()? {
            if !keep.contains(&d) {
                let p = self.store.blob_path(&d)?;
                std::fs::remove_file(&p).map_err(store::io("removing", &p))?;
                stats.blobs += 1;
            }
        }
        for d in self.store.layers()? {
            if !keep.contains(&d) {
                let p = self.store.layer_dir(&d)?;
                std::fs::remove_dir_all(&p).map_err(store::io("removing", &p))?;
                stats.layers += 1;
            }
        }
        let ingest = self.store.root().join("ingest");
        for e in std::fs::read_dir(&ingest).map_err(store::io("listing", &ingest))? {
            let p = e.map_err(store::io("listing", &ingest))?.path();
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            stats.partials += 1;
        }
        drop(records);
        Ok(stats)
    }

    /// Imports an OCI layout or `docker save` tarball; returns the images it named.
    pub async fn import(&self, file: &Path, name: Option<&str>) -> Result<Vec<ImageRecord>, ImageError> {
        let staged = {
            let (src, ingest) = (file.to_path_buf(), self.store.root().join("ingest"));
            tokio::task::spawn_blocking(move || import::stage(&src, &ingest))
                .await
                .map_err(|e| ImageError::Import { path: file.into(), detail: e.to_string() })?
                .map_err(|detail| ImageError::Import { path: file.into(), detail })?
        };
        let images = import::read_images(&staged, &self.store, name)
            .map_err(|detail| ImageError::Import { path: file.into(), detail })?;
        let mut out = Vec::new();
        for img in images {
            self.unpack_all(&img.layers).await?;
            let rec = record(&img.name, &img.digest, &img.manifest_digest, &img.config, &img.layers);
            self.save_record(rec.clone())?;
            out.push(rec);
        }
        let _ = std::fs::remove_dir_all(&staged);
        Ok(out)
    }
}

fn record(
    name: &str,
    digest: &str,
    manifest: &str,
    config: &manifest::Descriptor,
    layers: &[manifest::Descriptor],
) -> ImageRecord {
    ImageRecord {
        name: name.to_string(),
        digest: digest.to_string(),
        manifest: manifest.to_string(),
        config: config.digest.clone(),
        layers: layers
            .iter()
            .map(|l| LayerRef { digest: l.digest.clone(), size: l.size, media_type: l.media_type.clone() })
            .collect(),
        size: config.size + layers.iter().map(|l| l.size).sum::<u64>(),
        created: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

/// Unpacks one verified blob into its layer directory.
fn unpack_blob(blob: &Path, media_type: &str, dest: &Path, digest: &str) -> Result<(), ImageError> {
    let f = std::fs::File::open(blob).map_err(store::io("opening", blob))?;
    let compression = match unpack::Compression::from_media_type(media_type) {
        Some(c) => c,
        None => {
            let mut head = [0u8; 8];
            let n = std::io::Read::read(&mut &f, &mut head).map_err(store::io("reading", blob))?;
            let c = unpack::Compression::sniff(&head[..n]);
            std::io::Seek::rewind(&mut &f).map_err(store::io("reading", blob))?;
            c
        }
    };
    let stats = match unpack::unpack_layer(std::io::BufReader::new(f), compression, dest) {
        Ok(s) => s,
        // Another process unpacked the same layer first: it is complete (it was renamed into place).
        Err(unpack::UnpackError::DestExists(_)) => return Ok(()),
        Err(e) => return Err(ImageError::Unpack { digest: digest.to_string(), detail: e.to_string() }),
    };
    tracing::debug!(layer = digest, files = stats.files, bytes = stats.bytes, "unpacked");
    Ok(())
}
