//! The HTTPS listener: TLS with optional client certificates, HTTP/1.1 and HTTP/2, authentication (client
//! certificate, else a service-account bearer token: [`crate::authn`]), and the top-level routes (health, version,
//! discovery, OpenAPI); resource paths go to [`crate::handlers`].

use crate::errors::ApiError;
use crate::http::{self, Body};
use crate::pki::Pki;
use crate::request::{parse_resource_path, Query};
use crate::{authn, discovery, handlers, lifecycle, openapi, ApiServer, Config, ServerError};
use ::http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use skiff_store::Store;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// An authenticated client: from its certificate's subject (CN = user, O = groups), or the ServiceAccount of its
/// bearer token.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    /// Read by authorization, which comes with RBAC; every authenticated user is admin until then.
    #[allow(dead_code)]
    pub groups: Vec<String>,
}

fn user_from_cert(der: &CertificateDer<'_>) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok().map(String::from)).collect();
    Some(User { name, groups })
}

fn tls_config(pki: &Pki) -> Result<rustls::ServerConfig, ServerError> {
    let tls = |e: &dyn std::fmt::Display| ServerError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pki.ca_pem.as_bytes()) {
        roots.add(c.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| tls(&e))?;
    let chain: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut pki.serving_cert_pem.as_bytes()).collect::<Result<_, _>>().map_err(|e| tls(&e))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut pki.serving_key_pem.as_bytes())
        .map_err(|e| tls(&e))?
        .ok_or_else(|| ServerError::Tls("serving key PEM holds no key".into()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls(&e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The API server's TLS client towards node servers: its kubelet-client certificate, and the cluster CA to verify
/// the node's serving certificate.
fn kubelet_client_config(pki: &Pki) -> Result<rustls::ClientConfig, ServerError> {
    let tls = |e: &dyn std::fmt::Display| ServerError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pki.ca_pem.as_bytes()) {
        roots.add(c.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pki.kubelet_client_cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls(&e))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut pki.kubelet_client_key_pem.as_bytes())
        .map_err(|e| tls(&e))?
        .ok_or_else(|| ServerError::Tls("kubelet client key PEM holds no key".into()))?;
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls(&e))
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Runs the API server until `shutdown` resolves. `start_components` is called once the API is ready, with an
/// in-process client, to start what runs beside it (scheduler, controllers, node agent).
pub async fn run(
    config: Config,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()>,
    start_components: impl FnOnce(skiff_client::Client, &Pki) + Send,
) -> Result<(), ServerError> {
    let listener =
        TcpListener::bind(config.listen).await.map_err(|source| ServerError::Listen { addr: config.listen, source })?;
    let local = listener.local_addr().map_err(|source| ServerError::Listen { addr: config.listen, source })?;
    let advertise = if local.ip().is_unspecified() { format!("127.0.0.1:{}", local.port()) } else { local.to_string() };
    let mut hosts: Vec<String> = hostname().into_iter().collect();
    hosts.push(local.ip().to_string());
    let pki = Pki::load_or_create(&config.data_dir.join("pki"), &hosts)?;
    let acceptor = TlsAcceptor::from(Arc::new(tls_config(&pki)?));

    let signer = crate::tokens::TokenSigner::from_pem(&pki.sa_key_pem)?;
    let mut server = ApiServer::new(store, config.clone(), advertise.clone(), pki.ca_pem.clone(), signer);
    server.kubelet_client = Some(Arc::new(kubelet_client_config(&pki)?));
    let server = Arc::new(server);
    lifecycle::bootstrap(&server).await?;
    if let Err(e) = lifecycle::kubernetes_service(&server).await {
        tracing::warn!(error = %e, "could not create the kubernetes Service");
    }
    let kubeconfig = config.data_dir.join("admin.kubeconfig");
    Pki::write_kubeconfig(&kubeconfig, &pki.admin_kubeconfig(&format!("https://{advertise}")))?;
    let background = vec![
        tokio::spawn(lifecycle::namespace_controller(server.clone())),
        tokio::spawn(lifecycle::compactor(server.clone())),
    ];
    start_components(skiff_client::Client::new(Arc::new(crate::inprocess::InProcess { server: server.clone() })), &pki);
    tracing::info!(listen = %local, kubeconfig = %kubeconfig.display(), "API server ready");

    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let user = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(user_from_cert);
            let svc = service_fn(move |req| {
                let server = server.clone();
                let user = user.clone();
                async move { Ok::<_, Infallible>(route(server, user, req).await) }
            });
            if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    for task in background {
        task.abort();
    }
    tracing::info!("API server stopped");
    Ok(())
}

fn is_public(path: &str) -> bool {
    path == "/version"
        || ["/healthz", "/livez", "/readyz"].iter().any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

async fn route(server: Arc<ApiServer>, cert_user: Option<User>, req: Request<Incoming>) -> Response<Body> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());
    // As upstream's union authenticator: a client certificate wins; otherwise a bearer token must be valid,
    // and a request carrying a bad one is refused outright (401, even on public paths) rather than served as
    // anonymous.
    let user = match (cert_user, authn::bearer_token(req.headers())) {
        (Some(u), _) => Some(u),
        (None, None) => None,
        (None, Some(token)) => match authn::authenticate(&server, token).await {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::debug!(%method, %path, error = %e, "bearer token refused");
                return http::error(&ApiError::Unauthorized);
            }
        },
    };
    let resp = match dispatch(server, user.as_ref(), req, &path, query).await {
        Ok(r) => r,
        Err(e) => http::error(&e),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), user = user.as_ref().map(|u| u.name.as_str()).unwrap_or("system:anonymous"), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

async fn dispatch(
    server: Arc<ApiServer>,
    user: Option<&User>,
    req: Request<Incoming>,
    path: &str,
    query: Query,
) -> Result<Response<Body>, ApiError> {
    if is_public(path) {
        return Ok(match path {
            "/version" => http::json(200, &version()),
            _ => http::text(200, "ok"),
        });
    }
    if user.is_none() {
        return Err(ApiError::Forbidden(format!(
            "forbidden: User \"system:anonymous\" cannot {} path \"{path}\"",
            method_verb(req.method())
        )));
    }
    let headers = req.headers().clone();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, ["api"]) => Ok(match http::wants_aggregated_discovery(&headers) {
            Some(v) => http::json_typed(200, &discovery::aggregated(true, v), &discovery::aggregated_content_type(v)),
            None => http::json(200, &discovery::api_versions(&server.advertise)),
        }),
        (&Method::GET, ["apis"]) => Ok(match http::wants_aggregated_discovery(&headers) {
            Some(v) => http::json_typed(200, &discovery::aggregated(false, v), &discovery::aggregated_content_type(v)),
            None => http::json(200, &discovery::api_group_list()),
        }),
        (&Method::GET, ["api", v]) => {
            discovery::resource_list("", v).map(|d| http::json(200, &d)).ok_or(ApiError::NoRoute)
        }
        (&Method::GET, ["apis", g]) => discovery::api_group(g).map(|d| http::json(200, &d)).ok_or(ApiError::NoRoute),
        (&Method::GET, ["apis", g, v]) => {
            discovery::resource_list(g, v).map(|d| http::json(200, &d)).ok_or(ApiError::NoRoute)
        }
        (&Method::GET, ["openapi", ..]) => openapi::serve(path, &headers, &query),
        (_, ["api" | "apis", ..]) => {
            let rp = parse_resource_path(path).ok_or(ApiError::NoRoute)?;
            let method = req.method().clone();
            let body = match method {
                Method::POST | Method::PUT | Method::PATCH | Method::DELETE => http::read_body(req.into_body()).await?,
                _ => bytes::Bytes::new(),
            };
            handlers::serve(server, &method, rp, query, headers, body).await
        }
        _ => Ok(http::text(404, "404 page not found\n")),
    }
}

fn method_verb(m: &Method) -> &'static str {
    match *m {
        Method::GET => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "access",
    }
}

fn version() -> serde_json::Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": concat!("v1.32.0+skiff-", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "rustc",
        "platform": "linux/amd64",
    })
}
