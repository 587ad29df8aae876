//! The manifest and config shapes we read: Docker v2 schema 2 and OCI manifests, manifest lists and OCI image
//! indexes, and the image config's runtime part.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Every manifest media type we accept, in preference order.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A manifest or an index: which one it is shows in `mediaType` or in which fields are present.
#[derive(Debug, Clone, Deserialize)]
pub struct AnyManifest {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: i64,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

impl AnyManifest {
    pub fn parse(bytes: &[u8]) -> Result<AnyManifest, String> {
        let m: AnyManifest = serde_json::from_slice(bytes).map_err(|e| format!("invalid manifest JSON: {e}"))?;
        if m.schema_version != 2 {
            return Err(format!("unsupported manifest schema version {}", m.schema_version));
        }
        Ok(m)
    }

    pub fn is_index(&self) -> bool {
        matches!(self.media_type.as_deref(), Some(OCI_INDEX) | Some(DOCKER_LIST))
            || (self.config.is_none() && !self.manifests.is_empty())
    }

    /// The linux/amd64 entry of an index, as containerd's default platform matcher picks it.
    pub fn linux_amd64(&self) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == "amd64"))
    }
}

/// The part of an image config the runtime uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuntimeConfig {
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    #[serde(rename = "ExposedPorts", default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "StopSignal", default)]
    pub stop_signal: Option<String>,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfigFile {
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub config: Option<RuntimeConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_picks_linux_amd64() {
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"architecture":"arm64","os":"linux"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let m = AnyManifest::parse(idx).unwrap();
        assert!(m.is_index());
        assert_eq!(m.linux_amd64().unwrap().digest, "sha256:bb");
        let man = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:cc","size":2},"layers":[]}"#;
        assert!(!AnyManifest::parse(man).unwrap().is_index());
        assert!(AnyManifest::parse(br#"{"schemaVersion":1}"#).is_err());
    }
}
