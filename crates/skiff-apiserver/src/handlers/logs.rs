//! `pods/log`: the API server checks the request against the pod (which container, is it there yet) and proxies
//! it to the node server of the pod's node (`/containerLogs/…` on the Node's InternalIP and kubelet port) over
//! TLS with the API server's kubelet-client certificate, verifying the node's certificate with the cluster CA.
//! The node's answer — text, possibly a never-ending `follow` stream, or a Status — is passed through as is.

use std::sync::Arc;

use ::http::{Response, StatusCode};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use skiff_api::registry;

use super::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::http::Body;

/// The `PodLogOptions` query parameters forwarded to the node.
const FORWARDED: &[&str] =
    &["follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes", "stream"];

fn names(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
        .collect()
}

/// Upstream's container choice (`pod.LogLocation`): the named one, or the only app container.
fn container_name(pod: &Value, requested: Option<&str>, pod_name: &str) -> ApiResult<String> {
    let app = names(pod.pointer("/spec/containers"));
    let init = names(pod.pointer("/spec/initContainers"));
    let ephemeral = names(pod.pointer("/spec/ephemeralContainers"));
    match requested.filter(|c| !c.is_empty()) {
        Some(c) => {
            if app.iter().chain(&init).chain(&ephemeral).any(|n| n == c) {
                Ok(c.to_string())
            } else {
                Err(ApiError::BadRequest(format!("container {c} is not valid for pod {pod_name}")))
            }
        }
        None if app.len() == 1 => Ok(app[0].clone()),
        None => {
            let mut m =
                format!("a container name must be specified for pod {pod_name}, choose one of: [{}]", app.join(" "));
            if !init.is_empty() {
                m.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            if !ephemeral.is_empty() {
                m.push_str(&format!(" or one of the ephemeral containers: [{}]", ephemeral.join(" ")));
            }
            Err(ApiError::BadRequest(m))
        }
    }
}

/// The kubelet's answer for a container that never ran: waiting to start, with its waiting reason.
fn check_started(pod: &Value, container: &str, pod_name: &str, previous: bool) -> ApiResult<()> {
    let statuses = ["/status/containerStatuses", "/status/initContainerStatuses", "/status/ephemeralContainerStatuses"];
    let status = statuses
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container));
    let reason = match status {
        None => "ContainerCreating".to_string(),
        Some(s) if s.get("containerID").is_some() || previous => return Ok(()),
        Some(s) => {
            s.pointer("/state/waiting/reason").and_then(Value::as_str).unwrap_or("ContainerCreating").to_string()
        }
    };
    Err(ApiError::BadRequest(format!("container \"{container}\" in pod \"{pod_name}\" is waiting to start: {reason}")))
}

fn validate(ctx: &Ctx) -> ApiResult<()> {
    for (k, what) in [("tailLines", "tailLines"), ("limitBytes", "limitBytes"), ("sinceSeconds", "sinceSeconds")] {
        if let Some(v) = ctx.query.get(k) {
            let n: i64 = v.parse().map_err(|_| ApiError::BadRequest(format!("{what}: Invalid value: \"{v}\"")))?;
            let min = if k == "tailLines" { 0 } else { 1 };
            if n < min {
                let must = if min == 0 { "must be greater than or equal to 0" } else { "must be greater than 0" };
                return Err(ApiError::Invalid {
                    group: String::new(),
                    kind: "PodLogOptions".into(),
                    name: String::new(),
                    message: format!("PodLogOptions \"\" is invalid: {what}: Invalid value: {n}: {must}"),
                    causes: vec![],
                });
            }
        }
    }
    Ok(())
}

pub async fn serve(ctx: &Ctx) -> ApiResult<Response<Body>> {
    validate(ctx)?;
    let name = ctx.name()?.to_string();
    let pod = ctx.objects().get_or_404(ctx.resource, ctx.ns(), &name).await?;
    let container = container_name(&pod, ctx.query.get("container"), &name)?;
    let previous = matches!(ctx.query.get("previous"), Some("true" | "1"));
    let node_name = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    if node_name.is_empty() {
        return Err(ApiError::BadRequest(format!("pod {name} does not have a host assigned")));
    }
    check_started(&pod, &container, &name, previous)?;
    let nodes = registry::find("", "v1", "nodes").ok_or_else(|| ApiError::Internal("nodes not registered".into()))?;
    let node = ctx.objects().get_or_404(nodes, None, node_name).await?;
    let ip = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .ok_or_else(|| ApiError::Internal(format!("node {node_name} has no InternalIP address")))?
        .to_string();
    let port = node.pointer("/status/daemonEndpoints/kubeletEndpoint/Port").and_then(Value::as_u64).unwrap_or(10250);
    let mut query: Vec<String> =
        FORWARDED.iter().filter_map(|k| ctx.query.get(k).map(|v| format!("{k}={}", skiff_client::q(v)))).collect();
    query.sort();
    let ns = ctx.ns().unwrap_or("default");
    let path = format!(
        "/containerLogs/{}/{}/{}?{}",
        skiff_client::q(ns),
        skiff_client::q(&name),
        skiff_client::q(&container),
        query.join("&")
    );
    let tls =
        ctx.server.kubelet_client.clone().ok_or_else(|| ApiError::Internal("no kubelet client credentials".into()))?;
    proxy(tls, &ip, port as u16, &path).await
}

/// One GET to a node server, its answer streamed back.
async fn proxy(tls: Arc<rustls::ClientConfig>, ip: &str, port: u16, path: &str) -> ApiResult<Response<Body>> {
    let unreachable =
        |e: &dyn std::fmt::Display| ApiError::Internal(format!("error dialing backend: dial tcp {ip}:{port}: {e}"));
    let tcp = tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::TcpStream::connect((ip, port)))
        .await
        .map_err(|_| unreachable(&"i/o timeout"))?
        .map_err(|e| unreachable(&e))?;
    let server_name = rustls::pki_types::ServerName::try_from(ip.to_string()).map_err(|e| unreachable(&e))?;
    let stream = tokio_rustls::TlsConnector::from(tls).connect(server_name, tcp).await.map_err(|e| unreachable(&e))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = ::http::Request::get(path)
        .header(::http::header::HOST, format!("{ip}:{port}"))
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(|e| unreachable(&e))?;
    let (parts, body) = resp.into_parts();
    let frames = body.into_data_stream().filter_map(|chunk| async move { chunk.ok().map(|b| Ok(Frame::data(b))) });
    let mut out = Response::new(BodyExt::boxed_unsync(StreamBody::new(frames)));
    *out.status_mut() = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Some(ct) = parts.headers.get(::http::header::CONTENT_TYPE) {
        out.headers_mut().insert(::http::header::CONTENT_TYPE, ct.clone());
    }
    Ok(out)
}
