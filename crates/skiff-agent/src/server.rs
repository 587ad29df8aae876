//! The node server (the kubelet's port 10250): HTTPS with client certificates on both ends — the API server
//! proves itself with a certificate from the cluster CA, and the node's serving certificate is one too. It serves
//! `GET /containerLogs/{namespace}/{pod}/{container}` with the `PodLogOptions` query (`follow`, `previous`,
//! `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps`, `limitBytes`) from the CRI-format log files.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use skiff_shim::log::{render, render_from, ReadOptions, Stream};

use crate::pods::{self, Ctx};

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// PEM material of the node server.
#[derive(Debug, Clone)]
pub struct NodeTls {
    pub cert_pem: String,
    pub key_pem: String,
    /// Client certificates must chain to it (the cluster CA).
    pub client_ca_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

fn tls_config(tls: &NodeTls) -> Result<rustls::ServerConfig, ServeError> {
    let err = |e: &dyn std::fmt::Display| ServeError::Tls(e.to_string());
    let certs: Vec<_> =
        rustls_pemfile::certs(&mut tls.cert_pem.as_bytes()).collect::<Result<_, _>>().map_err(|e| err(&e))?;
    let key = rustls_pemfile::private_key(&mut tls.key_pem.as_bytes())
        .map_err(|e| err(&e))?
        .ok_or_else(|| ServeError::Tls("no private key".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut tls.client_ca_pem.as_bytes()) {
        roots.add(c.map_err(|e| err(&e))?).map_err(|e| err(&e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| err(&e))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| err(&e))
}

/// Binds the node server; the returned future serves until the process ends.
pub async fn bind(
    ctx: Arc<Ctx>,
    addr: SocketAddr,
    tls: &NodeTls,
) -> Result<impl std::future::Future<Output = ()>, ServeError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(tls)?));
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Listen { addr, source })?;
    Ok(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "node server accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (acceptor, ctx) = (acceptor.clone(), ctx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    tracing::debug!(%peer, "node server TLS handshake failed");
                    return;
                };
                let svc = service_fn(move |req| {
                    let ctx = ctx.clone();
                    async move { Ok::<_, Infallible>(handle(ctx, req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    })
}

fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code});
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed_unsync());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = percent_decode(v);
            (!k.is_empty()).then(|| (k.to_string(), v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let decoded: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    match (req.method(), segs.as_slice()) {
        (&http::Method::GET, ["healthz"]) => Response::new(Full::new(Bytes::from_static(b"ok")).boxed_unsync()),
        (&http::Method::GET, ["containerLogs", ns, pod, container]) => {
            let q = query(&req);
            container_logs(&ctx, ns, pod, container, &q).await
        }
        _ => status(404, "NotFound", "the server could not find the requested resource"),
    }
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

async fn container_logs(
    ctx: &Ctx,
    ns: &str,
    pod: &str,
    container: &str,
    q: &HashMap<String, String>,
) -> Response<Body> {
    let Some(uid) = ctx.pod_uid(ns, pod) else {
        return status(404, "NotFound", &format!("pod \"{pod}\" not found on this node"));
    };
    let runs = pods::container_runs(ctx, &uid, container);
    let run = if flag(q, "previous") {
        if runs.len() < 2 {
            let m = format!("previous terminated container \"{container}\" in pod \"{pod}\" not found");
            return status(400, "BadRequest", &m);
        }
        runs[runs.len() - 2].clone()
    } else {
        match runs.last() {
            Some(r) => r.clone(),
            None => {
                let m = format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating");
                return status(400, "BadRequest", &m);
            }
        }
    };
    let now = chrono::Utc::now();
    let since = match (q.get("sinceSeconds"), q.get("sinceTime")) {
        (Some(s), _) => s.parse::<i64>().ok().map(|s| now - chrono::Duration::seconds(s)),
        (None, Some(t)) => chrono::DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&chrono::Utc)),
        _ => None,
    };
    let opts = ReadOptions {
        tail: q.get("tailLines").and_then(|t| t.parse::<i64>().ok()).map(|t| t.max(0) as usize),
        since,
        timestamps: flag(q, "timestamps"),
        limit_bytes: q.get("limitBytes").and_then(|l| l.parse::<usize>().ok()),
        stream: q.get("stream").and_then(|s| match s.as_str() {
            "Stdout" => Some(Stream::Stdout),
            "Stderr" => Some(Stream::Stderr),
            _ => None,
        }),
    };
    let mut first = Vec::new();
    let rendered = match render(&run.log, 0, &opts, &mut first) {
        Ok(r) => r,
        Err(e) if e.is_not_found() => skiff_shim::log::Rendered::default(),
        Err(e) => return status(500, "InternalError", &format!("reading the log: {e}")),
    };
    let follow = flag(q, "follow") && !flag(q, "previous") && !rendered.limit_reached;
    let mut resp = if !follow {
        Response::new(Full::new(Bytes::from(first)).boxed_unsync())
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let mut run = run.clone();
        let (mut cursor, mut sent) = (rendered.cursor(), rendered.bytes);
        let limit = opts.limit_bytes;
        let opts = ReadOptions { tail: None, since: None, ..opts };
        tokio::spawn(async move {
            if tx.send(Bytes::from(first)).await.is_err() {
                return;
            }
            loop {
                run.refresh();
                let exited = run.exit.is_some();
                let mut chunk = Vec::new();
                let o = ReadOptions { limit_bytes: limit.map(|l| l.saturating_sub(sent)), ..opts.clone() };
                // the cursor names the file too: it follows the log across the shim's rotations
                match render_from(&run.log, cursor, &o, &mut chunk) {
                    Ok(r) => {
                        cursor = r.cursor();
                        sent += r.bytes;
                        if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
                            return;
                        }
                        if r.limit_reached {
                            return;
                        }
                        if exited && r.bytes == 0 {
                            return;
                        }
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(_) => return,
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let stream = tokio_stream_from(rx).map(|b| Ok::<_, Infallible>(Frame::data(b)));
        Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)))
    };
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    resp
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Bytes> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
