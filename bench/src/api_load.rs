//! Concurrent create load against a running skiff (or any Kubernetes) API server: N objects from C workers
//! over HTTPS with the kubeconfig's client certificate; prints creates/second and latency percentiles.
//!
//!     api-load --kubeconfig /var/lib/skiff/admin.kubeconfig --count 5000 --concurrency 64 --kind configmap

use anyhow::{anyhow, Context, Result};
use base64::Engine;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    kubeconfig: String,
    #[arg(long, default_value_t = 5000)]
    count: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// configmap or pod.
    #[arg(long, default_value = "configmap")]
    kind: String,
    #[arg(long, default_value = "default")]
    namespace: String,
}

struct Kubeconfig {
    server: String,
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn load_kubeconfig(path: &str) -> Result<Kubeconfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let v: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let b64 = |s: Option<&serde_yaml::Value>| -> Result<Vec<u8>> {
        let s = s.and_then(|v| v.as_str()).ok_or_else(|| anyhow!("kubeconfig lacks embedded certificate data"))?;
        Ok(base64::engine::general_purpose::STANDARD.decode(s)?)
    };
    let cluster = &v["clusters"][0]["cluster"];
    let user = &v["users"][0]["user"];
    Ok(Kubeconfig {
        server: cluster["server"].as_str().ok_or_else(|| anyhow!("no server"))?.to_string(),
        ca: b64(cluster.get("certificate-authority-data"))?,
        cert: b64(user.get("client-certificate-data"))?,
        key: b64(user.get("client-key-data"))?,
    })
}

fn body(kind: &str, name: &str) -> String {
    match kind {
        "pod" => serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}
        }),
        _ => serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"key": "value"}
        }),
    }
    .to_string()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let kc = load_kubeconfig(&args.kubeconfig)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut kc.ca.as_slice()) {
        roots.add(c?)?;
    }
    let certs = rustls_pemfile::certs(&mut kc.cert.as_slice()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut kc.key.as_slice())?.ok_or_else(|| anyhow!("no client key"))?;
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)?;
    // Without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms to every sequential request.
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http2()
        .wrap_connector(http);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build(https);
    let plural = if args.kind == "pod" { "pods" } else { "configmaps" };
    let url = format!("{}/api/v1/namespaces/{}/{plural}", kc.server, args.namespace);
    let run = std::process::id();

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, next, kind) = (client.clone(), url.clone(), next.clone(), args.kind.clone());
        let count = args.count;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let req = hyper::Request::post(&url)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body(&kind, &format!("bench-{run}-{i}")))))?;
                let t = Instant::now();
                let resp = client.request(req).await?;
                let status = resp.status();
                let bytes = resp.into_body().collect().await?.to_bytes();
                if status.as_u16() != 201 {
                    return Err(anyhow!("create {i}: {status}: {}", String::from_utf8_lossy(&bytes)));
                }
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for w in workers {
        all.extend(w.await??);
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    println!(
        "{} {} creates, concurrency {}: {:.0} creates/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        args.kind,
        args.concurrency,
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}
