//! Container probes as the kubelet's prober runs them: startup first (until it succeeds), then liveness and
//! readiness, each every `periodSeconds` after `initialDelaySeconds`, with `timeoutSeconds`, and the
//! success/failure thresholds. httpGet and tcpSocket connect from the node to the pod's IP (as the kubelet does),
//! exec runs in the container through `skiff shim exec`, grpc speaks the gRPC health protocol over HTTP/2.
//!
//! Results go into a shared [`ProbeStates`]; every change wakes the pod's worker, which turns them into
//! `started`/`ready`, the Ready condition, and a restart after a failed liveness or startup probe.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::events::Subject;
use crate::pods::Ctx;

/// What the probes of one container run say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeState {
    /// The run these results belong to.
    pub run_id: String,
    /// The startup probe has succeeded (or there is none).
    pub started: bool,
    /// The readiness probe's last verdict (true without a readiness probe, once started).
    pub ready: bool,
    /// Set when the liveness or startup probe failed `failureThreshold` times: the container must be restarted.
    pub kill: Option<String>,
}

pub type ProbeStates = Arc<Mutex<HashMap<String, ProbeState>>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// The outcome of one probe attempt: success, or failure with the kubelet's text.
type Outcome = Result<(), String>;

/// Everything a probe of one container run needs.
#[derive(Clone)]
pub struct Target {
    pub container: Container,
    pub run_id: String,
    pub pod_ip: IpAddr,
    pub bundle: PathBuf,
    pub subject: Subject,
}

fn secs(v: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(v.unwrap_or(default).max(0) as u64)
}

fn update(states: &ProbeStates, run_id: &str, wake: &Notify, f: impl FnOnce(&mut ProbeState)) {
    let mut map = states.lock().unwrap_or_else(|e| e.into_inner());
    let Some(st) = map.values_mut().find(|s| s.run_id == run_id) else { return };
    let before = st.clone();
    f(st);
    if *st != before {
        wake.notify_one();
    }
}

/// Runs the container's probes until the task is aborted (when the run exits).
pub async fn run(ctx: Arc<Ctx>, t: Target, states: ProbeStates, wake: Arc<Notify>) {
    let c = &t.container;
    {
        let mut map = states.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            c.name.clone(),
            ProbeState {
                run_id: t.run_id.clone(),
                started: c.startup_probe.is_none(),
                ready: c.readiness_probe.is_none() && c.startup_probe.is_none(),
                kill: None,
            },
        );
    }
    wake.notify_one();
    if let Some(p) = &c.startup_probe {
        if !probe_loop(&ctx, &t, p, Kind::Startup, &states, &wake).await {
            return;
        }
        update(&states, &t.run_id, &wake, |s| {
            s.started = true;
            s.ready = c.readiness_probe.is_none();
        });
    }
    let live = async {
        if let Some(p) = &c.liveness_probe {
            probe_loop(&ctx, &t, p, Kind::Liveness, &states, &wake).await;
        }
    };
    let ready = async {
        if let Some(p) = &c.readiness_probe {
            probe_loop(&ctx, &t, p, Kind::Readiness, &states, &wake).await;
        }
    };
    futures::join!(live, ready);
}

/// One probe's loop. Startup: returns true once it succeeds, false after it failed for good. Liveness: returns
/// after the failure that kills the container. Readiness: runs until aborted.
async fn probe_loop(ctx: &Ctx, t: &Target, p: &Probe, kind: Kind, states: &ProbeStates, wake: &Notify) -> bool {
    let period = secs(p.period_seconds, 10).max(Duration::from_secs(1));
    let success_threshold = p.success_threshold.unwrap_or(1).max(1);
    let failure_threshold = p.failure_threshold.unwrap_or(3).max(1);
    tokio::time::sleep(secs(p.initial_delay_seconds, 0)).await;
    let (mut successes, mut failures) = (0, 0);
    loop {
        match attempt(ctx, t, p).await {
            Ok(()) => {
                failures = 0;
                successes += 1;
                if successes >= success_threshold {
                    match kind {
                        Kind::Startup => return true,
                        Kind::Readiness => update(states, &t.run_id, wake, |s| s.ready = true),
                        Kind::Liveness => {}
                    }
                }
            }
            Err(output) => {
                successes = 0;
                failures += 1;
                let msg = format!("{} probe failed: {output}", kind.name());
                ctx.recorder.warning(&t.subject, "Unhealthy", &msg).await;
                if failures >= failure_threshold {
                    match kind {
                        Kind::Readiness => update(states, &t.run_id, wake, |s| s.ready = false),
                        Kind::Liveness | Kind::Startup => {
                            let why = format!(
                                "Container {} failed {} probe, will be restarted",
                                t.container.name,
                                kind.name().to_lowercase()
                            );
                            update(states, &t.run_id, wake, |s| s.kill = Some(why));
                            return false;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(period).await;
    }
}

/// A named or numbered port of the container.
fn resolve_port(c: &Container, port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) if (1..=65535).contains(n) => Ok(*n as u16),
        IntOrString::Int(n) => Err(format!("invalid port number: {n}")),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<u16>() {
                return Ok(n);
            }
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port as u16)
                .ok_or_else(|| format!("couldn't find port: {name} in {}", c.name))
        }
    }
}

async fn attempt(ctx: &Ctx, t: &Target, p: &Probe) -> Outcome {
    let timeout = secs(p.timeout_seconds, 1).max(Duration::from_secs(1));
    if let Some(h) = &p.http_get {
        let port = resolve_port(&t.container, &h.port)?;
        let host = h.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| t.pod_ip.to_string());
        let scheme = h.scheme.clone().unwrap_or_else(|| "HTTP".into()).to_lowercase();
        let path = h.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
        let path = if path.starts_with('/') { path } else { format!("/{path}") };
        let headers: Vec<(String, String)> =
            h.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
        let url = format!("{scheme}://{}/{}", host_port(&host, port), path.trim_start_matches('/'));
        return match tokio::time::timeout(timeout, http_get(&scheme, &host, port, &path, &headers)).await {
            Err(_) => Err(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )),
            Ok(Err(e)) => Err(format!("Get \"{url}\": {e}")),
            Ok(Ok(code)) if (200..400).contains(&code) => Ok(()),
            Ok(Ok(code)) => Err(format!("HTTP probe failed with statuscode: {code}")),
        };
    }
    if let Some(s) = &p.tcp_socket {
        let port = resolve_port(&t.container, &s.port)?;
        let host = s.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| t.pod_ip.to_string());
        let addr = host_port(&host, port);
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: connect: {}", io_text(&e))),
            Ok(Ok(_)) => Ok(()),
        };
    }
    if let Some(e) = &p.exec {
        let argv = e.command.clone().unwrap_or_default();
        let (exe, bundle) = (ctx.shim_exe.clone(), t.bundle.clone());
        let out = tokio::task::spawn_blocking(move || skiff_shim::exec(&exe, &bundle, &argv, timeout))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if out.timed_out {
            return Err(format!("command {:?} timed out", e.command.clone().unwrap_or_default().join(" ")));
        }
        if out.code == 0 {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        return Err(text.trim_end().to_string());
    }
    if let Some(g) = &p.grpc {
        let port = u16::try_from(g.port).map_err(|_| format!("invalid port number: {}", g.port))?;
        let service = g.service.clone().unwrap_or_default();
        let addr = host_port(&t.pod_ip.to_string(), port);
        return match tokio::time::timeout(timeout, grpc_health(&t.pod_ip.to_string(), port, &service)).await {
            Err(_) => Err(format!("timeout: health rpc did not complete within {}s", timeout.as_secs())),
            Ok(Err(e)) => {
                Err(format!("timeout: failed to connect service \"{addr}\" within {}s: {e}", timeout.as_secs()))
            }
            Ok(Ok(1)) => Ok(()),
            Ok(Ok(status)) => Err(format!("service unhealthy (responded with \"{}\")", serving_status(status))),
        };
    }
    Err("unknown probe type".into())
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The error text Go's net package gives for common connect failures.
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::HostUnreachable => "no route to host".into(),
        _ => e.to_string(),
    }
}

/// A GET over HTTP/1.1 (or HTTPS without verification, as the kubelet's prober); returns the status code.
async fn http_get(
    scheme: &str,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<u16, String> {
    let addr = host_port(host, port);
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: connect: {}", io_text(&e)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("user-agent") {
        req.push_str("User-Agent: kube-probe/1.32\r\n");
    }
    if !has("accept") {
        req.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut head = Vec::new();
    if scheme == "https" {
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let mut tls =
            tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await.map_err(|e| e.to_string())?;
        tls.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        read_head(&mut tls, &mut head).await?;
    } else {
        let mut tcp = tcp;
        tcp.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        read_head(&mut tcp, &mut head).await?;
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("malformed HTTP response {:?}", line.lines().next().unwrap_or("")))
}

async fn read_head(r: &mut (impl AsyncReadExt + Unpin), head: &mut Vec<u8>) -> Result<(), String> {
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 16 * 1024 {
        let n = r.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("EOF".into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

#[derive(Debug)]
struct NoVerify;

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

fn serving_status(s: u64) -> &'static str {
    match s {
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    }
}

/// `grpc.health.v1.Health/Check` over cleartext HTTP/2: the request is the protobuf message `{1: service}`, the
/// answer `{1: status}`; returns the status enum's number.
async fn grpc_health(host: &str, port: u16, service: &str) -> Result<u64, String> {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(host_port(host, port)).await.map_err(|e| io_text(&e))?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a);
        put_varint(&mut msg, service.len() as u64);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    let req = http::Request::post(format!("http://{}/grpc.health.v1.Health/Check", host_port(host, port)))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "kube-probe/1.32")
        .body(http_body_util::Full::new(bytes::Bytes::from(frame)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let collected = resp.into_body().collect().await.map_err(|e| e.to_string())?;
    let grpc_status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_string();
    if grpc_status != "0" {
        return Err(format!("rpc error: code = {grpc_status}"));
    }
    let body = collected.to_bytes();
    let payload = body.get(5..).ok_or("short gRPC response")?;
    parse_status(payload).ok_or_else(|| "malformed HealthCheckResponse".to_string())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Field 1 (varint) of a protobuf message; absent = 0 (UNKNOWN).
fn parse_status(mut b: &[u8]) -> Option<u64> {
    let varint = |b: &mut &[u8]| -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= ((byte & 0x7f) as u64) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    let mut status = 0;
    while !b.is_empty() {
        let key = varint(&mut b)?;
        match (key >> 3, key & 7) {
            (1, 0) => status = varint(&mut b)?,
            (_, 0) => {
                varint(&mut b)?;
            }
            (_, 2) => {
                let n = varint(&mut b)? as usize;
                b = b.get(n..)?;
            }
            (_, 5) => b = b.get(4..)?,
            (_, 1) => b = b.get(8..)?,
            _ => return None,
        }
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_status_decoding() {
        assert_eq!(parse_status(&[0x08, 0x01]), Some(1));
        assert_eq!(parse_status(&[]), Some(0));
        assert_eq!(parse_status(&[0x12, 0x01, b'x', 0x08, 0x02]), Some(2));
        assert_eq!(parse_status(&[0x08]), None);
    }

    #[test]
    fn named_ports() {
        let c: Container = serde_json::from_value(serde_json::json!({"name": "a",
            "ports": [{"name": "http", "containerPort": 8080}]}))
        .expect("container");
        assert_eq!(resolve_port(&c, &IntOrString::String("http".into())), Ok(8080));
        assert_eq!(resolve_port(&c, &IntOrString::Int(81)), Ok(81));
        assert!(resolve_port(&c, &IntOrString::String("nope".into())).is_err());
    }
}
