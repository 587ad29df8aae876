//! The Kubernetes API server: HTTPS with client-certificate and service-account token authentication, routing
//! of the Kubernetes URL grammar, discovery, OpenAPI, and the generic CRUD/watch handlers over the store.
//!
//! Request path: TLS accept → authenticate (client certificate, else service-account bearer token) → route
//! (health, version, discovery, OpenAPI, resources) → handler (decode → admit → store) → JSON, Table or Status
//! response.

mod allocators;
mod authn;
mod discovery;
pub mod errors;
mod handlers;
mod http;
pub mod inprocess;
mod lifecycle;
pub mod objects;
mod openapi;
pub mod pki;
mod request;
mod selectors;
mod serve;
pub mod tokens;

use objects::Objects;
use skiff_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use serve::run;

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// How often history older than the previous tick is compacted (kube-apiserver: 5 minutes).
    pub compaction_interval: std::time::Duration,
}

/// Shared state of a running API server.
pub struct ApiServer {
    pub objects: Objects,
    pub config: Config,
    /// The address clients should use (`serverAddressByClientCIDRs`, kubeconfig).
    pub advertise: String,
    /// The cluster CA, published to every namespace as the `kube-root-ca.crt` ConfigMap.
    pub ca_pem: String,
    /// Signs service-account tokens (`serviceaccounts/token`) and verifies bearer tokens.
    pub tokens: tokens::TokenSigner,
    token_cache: authn::TokenCache,
    /// TLS towards node servers (`pods/log`); `None` in servers that proxy nothing (tests).
    pub kubelet_client: Option<Arc<rustls::ClientConfig>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("certificates: {0}")]
    Pki(#[from] pki::PkiError),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Token(#[from] tokens::TokenError),
    #[error("bootstrapping: {0}")]
    Bootstrap(Box<errors::ApiError>),
}

impl From<errors::ApiError> for ServerError {
    fn from(e: errors::ApiError) -> Self {
        ServerError::Bootstrap(Box::new(e))
    }
}

impl ApiServer {
    pub fn new(
        store: Arc<dyn Store>,
        config: Config,
        advertise: String,
        ca_pem: String,
        tokens: tokens::TokenSigner,
    ) -> Self {
        ApiServer {
            objects: Objects::new(store),
            config,
            advertise,
            ca_pem,
            tokens,
            token_cache: Default::default(),
            kubelet_client: None,
        }
    }
}
