//! Importing images from tarballs, for hosts without registry access: OCI image layouts (`skopeo copy …
//! oci-archive:`, `ctr export`) and `docker save` archives.

use crate::manifest::{AnyManifest, Descriptor, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST};
use crate::reference::Reference;
use crate::store::{digest_of, hash_file, sha256_hex, ContentStore};
use serde::Deserialize;
use std::io::Read;
use std::path::{Path, PathBuf};

/// An image found in an archive, its blobs already in the store.
pub struct Imported {
    pub name: String,
    pub digest: String,
    pub manifest_digest: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// Extracts the archive (optionally gzip-compressed) into a fresh directory under `ingest`.
pub fn stage(file: &Path, ingest: &Path) -> Result<PathBuf, String> {
    let mut f = std::fs::File::open(file).map_err(|e| format!("opening: {e}"))?;
    let mut head = [0u8; 2];
    let n = f.read(&mut head).map_err(|e| format!("reading: {e}"))?;
    std::io::Seek::rewind(&mut f).map_err(|e| format!("reading: {e}"))?;
    let reader: Box<dyn Read> =
        if n == 2 && head == [0x1f, 0x8b] { Box::new(flate2::read::MultiGzDecoder::new(f)) } else { Box::new(f) };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = ingest.join(format!("import-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| format!("not a tar archive: {e}"))? {
        let mut entry = entry.map_err(|e| format!("corrupt archive: {e}"))?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        // `unpack_in` refuses paths that would land outside `dir`.
        entry.unpack_in(&dir).map_err(|e| format!("extracting: {e}"))?;
    }
    Ok(dir)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Moves a file into the store as the blob `digest`, verifying it.
fn adopt_blob(store: &ContentStore, src: &Path, digest: &str) -> Result<(), String> {
    if store.has_blob(digest) {
        return Ok(());
    }
    let partial = store.partial_path(digest).map_err(|e| e.to_string())?;
    std::fs::rename(src, &partial)
        .or_else(|_| std::fs::copy(src, &partial).map(|_| ()))
        .map_err(|e| format!("moving {}: {e}", src.display()))?;
    store.commit_partial(digest).map_err(|e| e.to_string())
}

pub fn read_images(dir: &Path, store: &ContentStore, name: Option<&str>) -> Result<Vec<Imported>, String> {
    if dir.join("oci-layout").is_file() && dir.join("index.json").is_file() {
        read_oci_layout(dir, store, name)
    } else if dir.join("manifest.json").is_file() {
        read_docker_archive(dir, store, name)
    } else {
        Err("neither an OCI image layout (oci-layout, index.json) nor a docker archive (manifest.json)".into())
    }
}

fn canonical(name: &str) -> Result<String, String> {
    Reference::parse(name).map(|r| r.to_string()).map_err(|e| e.to_string())
}

fn read_oci_layout(dir: &Path, store: &ContentStore, name: Option<&str>) -> Result<Vec<Imported>, String> {
    let index: AnyManifest = read_json(&dir.join("index.json"))?;
    let blob = |d: &str| -> Result<PathBuf, String> {
        Ok(dir.join("blobs/sha256").join(sha256_hex(d).map_err(|e| e.to_string())?))
    };
    let mut out = Vec::new();
    for desc in &index.manifests {
        let annotations = desc.annotations.clone().unwrap_or_default();
        let image_name = match (
            name,
            annotations.get("io.containerd.image.name"),
            annotations.get("org.opencontainers.image.ref.name"),
        ) {
            (Some(n), _, _) => canonical(n)?,
            (None, Some(full), _) => canonical(full)?,
            (None, None, Some(r)) if r.contains('/') || r.contains(':') => canonical(r)?,
            _ => return Err(format!("manifest {} carries no image name; pass --name", desc.digest)),
        };
        let bytes = std::fs::read(blob(&desc.digest)?).map_err(|e| format!("manifest {}: {e}", desc.digest))?;
        if digest_of(&bytes) != desc.digest {
            return Err(format!("manifest {} does not match its digest", desc.digest));
        }
        store.write_blob(&desc.digest, &bytes).map_err(|e| e.to_string())?;
        let top = AnyManifest::parse(&bytes)?;
        let (manifest_digest, manifest) = if top.is_index() {
            let entry = top.linux_amd64().ok_or("no linux/amd64 manifest in the index")?.clone();
            let mbytes = std::fs::read(blob(&entry.digest)?).map_err(|e| format!("manifest {}: {e}", entry.digest))?;
            store.write_blob(&entry.digest, &mbytes).map_err(|e| e.to_string())?;
            (entry.digest.clone(), AnyManifest::parse(&mbytes)?)
        } else {
            (desc.digest.clone(), top)
        };
        let config = manifest.config.clone().ok_or("manifest has no config")?;
        for d in std::iter::once(&config).chain(manifest.layers.iter()) {
            if !store.has_blob(&d.digest) {
                let src = blob(&d.digest)?;
                // Several images of one archive may share a blob: copy, don't move, while others may need it.
                let tmp = src.with_extension("adopt");
                std::fs::copy(&src, &tmp).map_err(|e| format!("blob {}: {e}", d.digest))?;
                adopt_blob(store, &tmp, &d.digest)?;
            }
        }
        out.push(Imported {
            name: image_name,
            digest: desc.digest.clone(),
            manifest_digest,
            config,
            layers: manifest.layers,
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct DockerArchiveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn inside(dir: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(format!("archive path {rel:?} leaves the archive"));
    }
    Ok(dir.join(p))
}

fn read_docker_archive(dir: &Path, store: &ContentStore, name: Option<&str>) -> Result<Vec<Imported>, String> {
    let entries: Vec<DockerArchiveEntry> = read_json(&dir.join("manifest.json"))?;
    let mut out = Vec::new();
    for e in entries {
        let config_bytes = std::fs::read(inside(dir, &e.config)?).map_err(|err| format!("{}: {err}", e.config))?;
        let config_digest = digest_of(&config_bytes);
        store.write_blob(&config_digest, &config_bytes).map_err(|err| err.to_string())?;
        let config = Descriptor {
            media_type: DOCKER_CONFIG.into(),
            digest: config_digest,
            size: config_bytes.len() as u64,
            platform: None,
            annotations: None,
        };
        let mut layers = Vec::new();
        for l in &e.layers {
            let path = inside(dir, l)?;
            let digest = hash_file(&path).map_err(|err| err.to_string())?;
            let size = std::fs::metadata(&path).map_err(|err| format!("{l}: {err}"))?.len();
            let mut head = [0u8; 2];
            let gz = std::fs::File::open(&path)
                .and_then(|mut f| f.read(&mut head))
                .map(|n| n == 2 && head == [0x1f, 0x8b])
                .unwrap_or(false);
            if !store.has_blob(&digest) {
                let tmp = path.with_extension("adopt");
                std::fs::copy(&path, &tmp).map_err(|err| format!("{l}: {err}"))?;
                adopt_blob(store, &tmp, &digest)?;
            }
            layers.push(Descriptor {
                media_type: if gz { DOCKER_LAYER_GZIP.into() } else { DOCKER_LAYER_TAR.into() },
                digest,
                size,
                platform: None,
                annotations: None,
            });
        }
        // A docker archive has no manifest: write the one a registry would have served.
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": config,
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|err| err.to_string())?;
        let manifest_digest = digest_of(&manifest_bytes);
        store.write_blob(&manifest_digest, &manifest_bytes).map_err(|err| err.to_string())?;
        let names: Vec<String> = match (name, &e.repo_tags) {
            (Some(n), _) => vec![canonical(n)?],
            (None, Some(tags)) if !tags.is_empty() => tags.iter().map(|t| canonical(t)).collect::<Result<_, _>>()?,
            _ => return Err(format!("image {} carries no RepoTags; pass --name", e.config)),
        };
        for n in names {
            out.push(Imported {
                name: n,
                digest: manifest_digest.clone(),
                manifest_digest: manifest_digest.clone(),
                config: config.clone(),
                layers: layers.clone(),
            });
        }
    }
    Ok(out)
}
