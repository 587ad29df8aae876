//! Pulling over the OCI distribution API: endpoint fallback (mirrors, then the registry), authentication,
//! index → linux/amd64, concurrent layer downloads that resume, digest verification, and one download per blob
//! however many pulls want it.

use crate::hosts::{Credentials, Endpoint};
use crate::manifest::{AnyManifest, Descriptor, ACCEPTED};
use crate::reference::Reference;
use crate::store::{ContentStore, StoreError};
use futures::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
use std::io::Write;
use std::time::Duration;

/// Layers fetched at once per pull.
const CONCURRENT_LAYERS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("failed to resolve reference \"{reference}\": {reference}: not found")]
    NotFound { reference: String },
    #[error("failed to authorize to {host} for \"{reference}\": 401 Unauthorized ({detail})")]
    Unauthorized { reference: String, host: String, detail: String },
    #[error("failed to pull \"{reference}\" from {host}: registry unreachable: {detail}")]
    Unreachable { reference: String, host: String, detail: String },
    #[error("failed to pull \"{reference}\" from {host}: {detail}")]
    Registry { reference: String, host: String, detail: String },
    #[error("failed to pull \"{reference}\": {detail}")]
    Manifest { reference: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Something that wants to hear how a pull goes (the CLI's progress bars).
pub trait Progress: Send + Sync {
    fn layer(&self, _digest: &str, _size: u64, _cached: bool) {}
    fn bytes(&self, _digest: &str, _n: u64) {}
    fn layer_done(&self, _digest: &str) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

/// What a pull resolved: the top-level digest, the platform manifest, and its descriptors.
pub struct Resolved {
    pub digest: String,
    pub manifest_digest: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// How long a registry may stay silent (connecting, or mid-response) before the pull fails: 30 s, or
/// `SKIFF_REGISTRY_TIMEOUT_SECS`.
fn registry_timeout() -> Duration {
    let secs = std::env::var("SKIFF_REGISTRY_TIMEOUT_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    Duration::from_secs(secs)
}

pub(crate) fn client_for(ep: &Endpoint) -> Result<Client, String> {
    let timeout = registry_timeout();
    let mut cfg = ClientConfig {
        protocol: if ep.plain_http { ClientProtocol::Http } else { ClientProtocol::Https },
        accept_invalid_certificates: ep.skip_verify,
        connect_timeout: Some(timeout.min(Duration::from_secs(10))),
        read_timeout: Some(timeout),
        platform_resolver: None,
        ..Default::default()
    };
    if let Some(ca) = &ep.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("reading CA {}: {e}", ca.display()))?;
        cfg.extra_root_certificates.push(oci_client::client::Certificate {
            encoding: oci_client::client::CertificateEncoding::Pem,
            data: pem,
        });
    }
    Ok(Client::new(cfg))
}

pub(crate) fn oci_ref(ep: &Endpoint, r: &Reference) -> oci_client::Reference {
    match &r.digest {
        Some(d) => oci_client::Reference::with_digest(ep.host.clone(), r.repository.clone(), d.clone()),
        None => oci_client::Reference::with_tag(ep.host.clone(), r.repository.clone(), r.object().to_string()),
    }
}

pub(crate) fn auth_for(ep: &Endpoint, registry: &str, creds: &Credentials) -> RegistryAuth {
    match creds.for_host(&ep.host).or_else(|| creds.for_host(registry)) {
        Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
        None => RegistryAuth::Anonymous,
    }
}

/// Maps a client error to what the user should read.
pub(crate) fn classify(reference: &Reference, host: &str, e: oci_client::errors::OciDistributionError) -> PullError {
    use oci_client::errors::OciDistributionError as E;
    let reference_s = reference.to_string();
    match e {
        E::ImageManifestNotFoundError(_) => PullError::NotFound { reference: reference_s },
        E::RegistryError { ref envelope, .. }
            if envelope.errors.iter().any(|x| {
                let code = format!("{:?}", x.code);
                code.contains("NameUnknown") || code.contains("ManifestUnknown") || code.contains("NotFound")
            }) =>
        {
            PullError::NotFound { reference: reference_s }
        }
        E::UnauthorizedError { url } => {
            PullError::Unauthorized { reference: reference_s, host: host.into(), detail: format!("at {url}") }
        }
        E::AuthenticationFailure(d) => PullError::Unauthorized { reference: reference_s, host: host.into(), detail: d },
        E::ServerError { code: 401, message, .. } => {
            PullError::Unauthorized { reference: reference_s, host: host.into(), detail: message }
        }
        E::ServerError { code: 404, .. } => PullError::NotFound { reference: reference_s },
        E::RequestError(re) if re.is_timeout() => PullError::Unreachable {
            reference: reference_s,
            host: host.into(),
            detail: format!("timed out after {}s: {}", registry_timeout().as_secs(), error_chain(&re)),
        },
        E::RequestError(re) if re.is_connect() => {
            PullError::Unreachable { reference: reference_s, host: host.into(), detail: error_chain(&re) }
        }
        other => PullError::Registry { reference: reference_s, host: host.into(), detail: other.to_string() },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Resolves `r` at one endpoint: fetches (and stores) the manifest, going through an index to linux/amd64.
pub(crate) async fn resolve(
    client: &Client,
    ep: &Endpoint,
    r: &Reference,
    auth: &RegistryAuth,
    store: &ContentStore,
) -> Result<Resolved, PullError> {
    let (digest, top) = fetch_manifest(client, ep, r, r, auth, store).await?;
    let (manifest_digest, manifest) = if top.is_index() {
        let entry = top.linux_amd64().ok_or_else(|| PullError::Manifest {
            reference: r.to_string(),
            detail: "no matching manifest for linux/amd64 in the manifest list entries".into(),
        })?;
        fetch_manifest(client, ep, &r.with_digest(&entry.digest), r, auth, store).await?
    } else {
        (digest.clone(), top)
    };
    let config = manifest.config.clone().ok_or_else(|| PullError::Manifest {
        reference: r.to_string(),
        detail: format!("manifest {manifest_digest} has no config"),
    })?;
    Ok(Resolved { digest, manifest_digest, config, layers: manifest.layers })
}

/// Fetches the manifest (or index) `at` names, checks it against `at`'s digest when pinned (a tag's pin, or an
/// index entry's), stores it, and parses it. Errors name `r`, the reference the user asked for.
async fn fetch_manifest(
    client: &Client,
    ep: &Endpoint,
    at: &Reference,
    r: &Reference,
    auth: &RegistryAuth,
    store: &ContentStore,
) -> Result<(String, AnyManifest), PullError> {
    let (bytes, digest) =
        client.pull_manifest_raw(&oci_ref(ep, at), auth, ACCEPTED).await.map_err(|e| classify(r, &ep.host, e))?;
    if let Some(pinned) = &at.digest {
        if &digest != pinned {
            return Err(PullError::Manifest {
                reference: r.to_string(),
                detail: format!("registry returned manifest {digest} for pinned digest {pinned}"),
            });
        }
    }
    store.write_blob(&digest, &bytes)?;
    let manifest =
        AnyManifest::parse(&bytes).map_err(|detail| PullError::Manifest { reference: r.to_string(), detail })?;
    Ok((digest, manifest))
}

fn oci_descriptor(d: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size as i64,
        ..Default::default()
    }
}

/// Downloads one blob into the store, resuming a partial download, verifying the digest. A blob that fails
/// verification is discarded and fetched once more from the start.
pub(crate) async fn fetch_blob(
    client: &Client,
    ep: &Endpoint,
    r: &Reference,
    desc: &Descriptor,
    store: &ContentStore,
    progress: &dyn Progress,
) -> Result<(), PullError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match fetch_once(client, ep, r, desc, store, progress).await {
            Err(PullError::Store(StoreError::DigestMismatch { .. })) if attempts < 2 => {
                tracing::warn!(digest = %desc.digest, host = %ep.host, "blob failed verification; fetching again");
                continue;
            }
            other => return other,
        }
    }
}

async fn fetch_once(
    client: &Client,
    ep: &Endpoint,
    r: &Reference,
    desc: &Descriptor,
    store: &ContentStore,
    progress: &dyn Progress,
) -> Result<(), PullError> {
    let partial = store.partial_path(&desc.digest)?;
    let mut offset = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    if offset >= desc.size && offset > 0 {
        // A complete download that was never committed (killed between write and rename).
        if store.commit_partial(&desc.digest).is_ok() {
            return Ok(());
        }
        offset = 0;
    }
    let oref = oci_ref(ep, r);
    let resp = client
        .pull_blob_stream_partial(&oref, &oci_descriptor(desc), offset, None)
        .await
        .map_err(|e| classify(r, &ep.host, e))?;
    let (sized, append) = match resp {
        oci_client::client::BlobResponse::Partial(s) => (s, offset > 0),
        oci_client::client::BlobResponse::Full(s) => (s, false),
    };
    if append {
        tracing::debug!(digest = %desc.digest, offset, "resuming a partial download");
        progress.bytes(&desc.digest, offset);
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(&partial)
        .map_err(crate::store::io("opening", &partial))?;
    let mut stream = sized.stream.map_err(|e| PullError::Registry {
        reference: r.to_string(),
        host: ep.host.clone(),
        detail: format!("reading blob {}: {e}", desc.digest),
    });
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            // oci-client verifies full downloads itself; a mismatch there is a corrupt blob, not a lost registry.
            Err(PullError::Registry { detail, .. }) if detail.contains("igest") => {
                drop(file);
                let _ = std::fs::remove_file(&partial);
                return Err(StoreError::DigestMismatch { expected: desc.digest.clone(), actual: detail }.into());
            }
            Err(e) => return Err(e),
        };
        file.write_all(&chunk).map_err(crate::store::io("writing", &partial))?;
        progress.bytes(&desc.digest, chunk.len() as u64);
    }
    file.sync_data().map_err(crate::store::io("syncing", &partial))?;
    drop(file);
    let digest = desc.digest.clone();
    let store_root = store.root().to_path_buf();
    // Hashing a large layer is CPU work: keep it off the async threads.
    tokio::task::spawn_blocking(move || ContentStore::open(&store_root)?.commit_partial(&digest))
        .await
        .map_err(|e| PullError::Manifest { reference: r.to_string(), detail: format!("verifying blob: {e}") })??;
    Ok(())
}

/// Fetches every missing blob of `descs` with bounded concurrency.
pub(crate) async fn fetch_all(
    client: &Client,
    ep: &Endpoint,
    r: &Reference,
    descs: &[Descriptor],
    store: &ContentStore,
    locks: &crate::Locks,
    progress: &dyn Progress,
) -> Result<(), PullError> {
    futures::stream::iter(descs.iter().map(Ok))
        .try_for_each_concurrent(CONCURRENT_LAYERS, |d| async move {
            let lock = locks.get(&d.digest);
            let _held = lock.lock().await;
            let cached = store.has_blob(&d.digest);
            progress.layer(&d.digest, d.size, cached);
            if !cached {
                fetch_blob(client, ep, r, d, store, progress).await?;
            }
            progress.layer_done(&d.digest);
            Ok::<_, PullError>(())
        })
        .await
}
