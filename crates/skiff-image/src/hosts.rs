//! Registry configuration per registry host, like containerd's `hosts.toml`: mirrors tried in order before the
//! registry itself, plain HTTP or skipped TLS verification for named hosts, extra CAs — and credentials in Docker's
//! `config.json` shape (the node's own file, and a pod's `imagePullSecrets`).
//!
//! ```toml
//! # DATA_DIR/images/registries.toml
//! [hosts."docker.io"]
//! mirrors = ["http://127.0.0.1:5000"]   # an http:// mirror is spoken to in plain HTTP
//! [hosts."registry.example.com"]
//! skip_verify = true
//! ca_file = "/etc/skiff/example-ca.pem"
//! ```

use crate::reference::{DEFAULT_REGISTRY, DOCKER_HUB_ENDPOINT};
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("invalid --registry-mirror {value:?}: expected REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5000")]
    Mirror { value: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Mirror endpoints (`http://host:port` or `https://host:port`), tried in order.
    #[serde(default)]
    pub mirrors: Vec<String>,
    #[serde(default)]
    pub plain_http: bool,
    #[serde(default)]
    pub skip_verify: bool,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    #[serde(default)]
    pub hosts: BTreeMap<String, HostConfig>,
}

/// One place to pull from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` as the distribution API is addressed.
    pub host: String,
    pub plain_http: bool,
    pub skip_verify: bool,
    pub ca_file: Option<PathBuf>,
    /// Whether this is a mirror (a failure falls through to the next endpoint).
    pub mirror: bool,
}

impl RegistryConfig {
    /// Reads `path` if it exists (no file means no special configuration).
    pub fn load(path: &Path) -> Result<RegistryConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryConfig::default()),
            Err(source) => return Err(ConfigError::Read { path: path.into(), source }),
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), detail: e.to_string() })
    }

    /// Adds a `--registry-mirror REGISTRY=URL` flag's mirror, ahead of the file's.
    pub fn add_mirror_flag(&mut self, flag: &str) -> Result<(), ConfigError> {
        let bad = || ConfigError::Mirror { value: flag.to_string() };
        let (registry, url) = flag.split_once('=').ok_or_else(bad)?;
        if registry.is_empty() || !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad());
        }
        self.hosts.entry(registry.to_string()).or_default().mirrors.insert(0, url.trim_end_matches('/').to_string());
        Ok(())
    }

    fn host_settings(&self, host: &str) -> HostConfig {
        self.hosts.get(host).cloned().unwrap_or_default()
    }

    /// Where to pull `registry`'s images from: its mirrors in order, then the registry itself.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let own = self.host_settings(registry);
        let mut out = Vec::new();
        for m in &own.mirrors {
            let (plain, host) = match (m.strip_prefix("http://"), m.strip_prefix("https://")) {
                (Some(h), _) => (true, h),
                (_, Some(h)) => (false, h),
                _ => continue,
            };
            let host = host.split('/').next().unwrap_or(host).to_string();
            let settings = self.host_settings(&host);
            out.push(Endpoint {
                plain_http: plain || settings.plain_http,
                skip_verify: settings.skip_verify,
                ca_file: settings.ca_file,
                host,
                mirror: true,
            });
        }
        let upstream =
            if registry == DEFAULT_REGISTRY { DOCKER_HUB_ENDPOINT.to_string() } else { registry.to_string() };
        out.push(Endpoint {
            host: upstream,
            plain_http: own.plain_http,
            skip_verify: own.skip_verify,
            ca_file: own.ca_file,
            mirror: false,
        });
        out
    }
}

/// Registry credentials in Docker's `config.json` shape (`{"auths": {"host": {"auth": base64(user:pass)}}}`),
/// which is also what a `kubernetes.io/dockerconfigjson` Secret holds.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_host: BTreeMap<String, (String, String)>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `https://index.docker.io/v1/` and friends all mean Docker Hub.
fn normalize_host(key: &str) -> String {
    let h = key.trim_start_matches("https://").trim_start_matches("http://");
    let h = h.split('/').next().unwrap_or(h);
    match h {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DEFAULT_REGISTRY.to_string(),
        other => other.to_string(),
    }
}

impl Credentials {
    pub fn from_docker_config(json: &[u8]) -> Result<Credentials, String> {
        let cfg: DockerConfig = serde_json::from_slice(json).map_err(|e| format!("not a docker config: {e}"))?;
        let mut by_host = BTreeMap::new();
        for (host, a) in cfg.auths {
            let pair = match (a.auth, a.username, a.password) {
                (Some(b64), _, _) => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|_| format!("auth for {host} is not base64"))?;
                    let s = String::from_utf8(raw).map_err(|_| format!("auth for {host} is not UTF-8"))?;
                    let (u, p) = s.split_once(':').ok_or_else(|| format!("auth for {host} is not user:password"))?;
                    (u.to_string(), p.to_string())
                }
                (None, Some(u), Some(p)) => (u, p),
                _ => continue,
            };
            by_host.insert(normalize_host(&host), pair);
        }
        Ok(Credentials { by_host })
    }

    /// Reads a Docker config file if it exists.
    pub fn load(path: &Path) -> Result<Credentials, ConfigError> {
        match std::fs::read(path) {
            Ok(b) => {
                Credentials::from_docker_config(&b).map_err(|detail| ConfigError::Parse { path: path.into(), detail })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(source) => Err(ConfigError::Read { path: path.into(), source }),
        }
    }

    /// `other`'s entries win (a pod's pull secret over the node's file).
    pub fn merged(&self, other: &Credentials) -> Credentials {
        let mut by_host = self.by_host.clone();
        by_host.extend(other.by_host.clone());
        Credentials { by_host }
    }

    /// User and password for an endpoint host (or, for a mirror, falling back to the registry's name).
    pub fn for_host(&self, host: &str) -> Option<&(String, String)> {
        self.by_host.get(&normalize_host(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_then_the_registry_itself() {
        let mut cfg: RegistryConfig = toml::from_str(
            r#"
            [hosts."docker.io"]
            mirrors = ["https://mirror.example.com"]
            [hosts."127.0.0.1:5000"]
            skip_verify = true
            "#,
        )
        .unwrap();
        cfg.add_mirror_flag("docker.io=http://127.0.0.1:5000").unwrap();
        let eps = cfg.endpoints("docker.io");
        let hosts: Vec<(&str, bool, bool)> = eps.iter().map(|e| (e.host.as_str(), e.plain_http, e.mirror)).collect();
        assert_eq!(
            hosts,
            [
                ("127.0.0.1:5000", true, true),
                ("mirror.example.com", false, true),
                ("registry-1.docker.io", false, false)
            ]
        );
        assert!(eps[0].skip_verify);
        assert!(cfg.add_mirror_flag("docker.io").is_err());
    }

    #[test]
    fn docker_config_credentials() {
        let json = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"127.0.0.1:5000":{"username":"a","password":"b"}}}"#;
        let c = Credentials::from_docker_config(json).unwrap();
        assert_eq!(c.for_host("registry-1.docker.io"), Some(&("user".into(), "pass".into())));
        assert_eq!(c.for_host("127.0.0.1:5000"), Some(&("a".into(), "b".into())));
        assert!(c.for_host("ghcr.io").is_none());
    }
}
