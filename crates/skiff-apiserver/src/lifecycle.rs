//! What the server does on its own: creating the built-in namespaces, finishing namespace deletion (the
//! `kubernetes` finalizer), and compacting old history.
//!
//! The namespace finalizer lives here rather than in a controller crate because it needs nothing but the API
//! handlers; it is level-triggered (a periodic scan of terminating namespaces), so a restart at any moment is safe.

use crate::errors::{ApiError, ApiResult};
use crate::handlers::delete::{delete_one, finish_if_finalized, DeleteOptions};
use crate::handlers::{admit, Ctx};
use crate::objects;
use crate::request::{Query, ResourcePath};
use crate::ApiServer;
use futures::StreamExt;
use serde_json::{json, Value};
use skiff_api::registry::{self, Resource, RESOURCES};
use std::sync::Arc;
use std::time::Duration;

pub const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

fn namespaces() -> ApiResult<&'static Resource> {
    registry::find("", "v1", "namespaces").ok_or_else(|| ApiError::Internal("namespaces are not registered".into()))
}

/// Creates the built-in namespaces if they are missing.
pub async fn bootstrap(server: &ApiServer) -> ApiResult<()> {
    let r = namespaces()?;
    for name in BUILTIN_NAMESPACES {
        if server.objects.get(r, None, name).await?.is_some() {
            continue;
        }
        let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}});
        admit::prepare_create_meta(r, &mut obj, None)?;
        skiff_api::strategy::prepare_for_create(r, &mut obj);
        admit::default_and_validate(r, &mut obj, None)?;
        match server.objects.create(r, None, name, &obj).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        tracing::info!(namespace = name, "created built-in namespace");
    }
    Ok(())
}

/// The `kubernetes` Service in `default` (10.96.0.1:443) and its endpoints pointing at this server, as
/// kube-apiserver's bootstrap controller and endpoint reconciler maintain them.
pub async fn kubernetes_service(server: &ApiServer) -> ApiResult<()> {
    let svc =
        registry::find("", "v1", "services").ok_or_else(|| ApiError::Internal("services are not registered".into()))?;
    let store = server.objects.store.clone();
    if server.objects.get(svc, Some("default"), "kubernetes").await?.is_none() {
        // A crash between claim and create leaves the claim behind; it is ours either way.
        crate::allocators::claim_ip(store.as_ref(), crate::allocators::KUBERNETES_SERVICE_IP, "default/kubernetes")
            .await?;
        let obj = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": crate::allocators::KUBERNETES_SERVICE_IP,
                "clusterIPs": [crate::allocators::KUBERNETES_SERVICE_IP],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                "sessionAffinity": "None",
            },
        });
        ensure(server, svc, "default", obj).await?;
    }
    let Some((ip, port)) = endpoint_address(server) else {
        tracing::warn!(
            listen = %server.config.listen,
            "the API server listens on loopback only: the kubernetes Service gets no endpoints (pods could not reach them)"
        );
        return Ok(());
    };
    let ep = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    for (group, plural, obj, field) in
        [("", "endpoints", ep, "subsets"), ("discovery.k8s.io", "endpointslices", slice, "endpoints")]
    {
        let r = registry::find(group, "v1", plural)
            .ok_or_else(|| ApiError::Internal(format!("{plural} are not registered")))?;
        match server.objects.get(r, Some("default"), "kubernetes").await? {
            None => ensure(server, r, "default", obj).await?,
            Some(current) if current.get(field) != obj.get(field) || current.get("ports") != obj.get("ports") => {
                let mut updated = current.clone();
                updated[field] = obj[field].clone();
                if let Some(p) = obj.get("ports") {
                    updated["ports"] = p.clone();
                }
                let rv = objects::resource_version(&current)?.unwrap_or(0);
                server.objects.update(r, Some("default"), "kubernetes", &updated, rv).await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The address pods should use to reach this server: the listen address, or for a wildcard listen the source
/// address of the default route. Loopback is never an endpoint (upstream validation rejects it).
fn endpoint_address(server: &ApiServer) -> Option<(String, u16)> {
    let listen = server.config.listen;
    let port = server.advertise.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(listen.port());
    let ip = if listen.ip().is_unspecified() {
        // Connecting a UDP socket sends nothing; it only asks the kernel which source address it would use.
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        sock.connect("10.255.255.255:9").ok()?;
        sock.local_addr().ok()?.ip()
    } else {
        listen.ip()
    };
    (!ip.is_loopback() && !ip.is_unspecified()).then(|| (ip.to_string(), port))
}

/// Creates an object from a manifest through the normal admission path, unless it exists.
async fn ensure(server: &ApiServer, r: &'static Resource, ns: &str, mut obj: Value) -> ApiResult<()> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    if server.objects.get(r, Some(ns), &name).await?.is_some() {
        return Ok(());
    }
    admit::prepare_create_meta(r, &mut obj, Some(ns))?;
    skiff_api::strategy::prepare_for_create(r, &mut obj);
    admit::default_and_validate(r, &mut obj, None)?;
    match server.objects.create(r, Some(ns), &name, &obj).await {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What upstream's serviceaccounts controller and root-ca-cert-publisher give every namespace: the `default`
/// ServiceAccount and the `kube-root-ca.crt` ConfigMap.
async fn ensure_namespace_defaults(server: &ApiServer, ns: &str) -> ApiResult<()> {
    let sa = registry::find("", "v1", "serviceaccounts")
        .ok_or_else(|| ApiError::Internal("serviceaccounts are not registered".into()))?;
    ensure(server, sa, ns, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}))
        .await?;
    let cm = registry::find("", "v1", "configmaps")
        .ok_or_else(|| ApiError::Internal("configmaps are not registered".into()))?;
    let ca = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
        "data": {"ca.crt": server.ca_pem},
    });
    ensure(server, cm, ns, ca).await
}

fn ctx_for(server: &Arc<ApiServer>, r: &'static Resource, ns: Option<&str>) -> Ctx {
    Ctx {
        server: server.clone(),
        resource: r,
        path: ResourcePath {
            group: r.group.into(),
            version: r.version.into(),
            namespace: ns.map(String::from),
            resource: r.plural.into(),
            ..Default::default()
        },
        query: Query::default(),
        headers: Default::default(),
        body: Default::default(),
    }
}

/// Deletes the contents of terminating namespaces, then releases their `kubernetes` finalizer.
pub async fn namespace_controller(server: Arc<ApiServer>) {
    let store = server.objects.store.clone();
    loop {
        let pending = match finalize_namespaces(&server).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "namespace finalization failed; retrying");
                true
            }
        };
        // While a namespace is terminating, re-check often (pods may be finishing); otherwise wait for a change.
        let wait = if pending { Duration::from_millis(500) } else { Duration::from_secs(30) };
        match store.watch("/registry/namespaces/", 0).await {
            Ok(mut w) => {
                let _ = tokio::time::timeout(wait, w.next()).await;
            }
            Err(_) => tokio::time::sleep(wait).await,
        }
    }
}

async fn finalize_namespaces(server: &Arc<ApiServer>) -> ApiResult<bool> {
    let nsr = namespaces()?;
    let page = server.objects.list(nsr, None, None, 0, 0).await?;
    let mut pending = false;
    for ns in page.items.iter().filter(|n| n.pointer("/metadata/deletionTimestamp").is_none()) {
        let name = ns.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        match ensure_namespace_defaults(server, name).await {
            // A namespace that started terminating in between refuses new content; that is fine.
            Ok(()) | Err(ApiError::Forbidden(_)) => {}
            Err(e) => {
                tracing::warn!(namespace = name, error = %e, "creating the namespace's default objects")
            }
        }
    }
    for ns in page.items.iter().filter(|n| n.pointer("/metadata/deletionTimestamp").is_some()) {
        pending = true;
        let name = ns.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let mut remaining = 0usize;
        for r in RESOURCES.iter().filter(|r| r.namespaced) {
            let items = server.objects.list(r, Some(&name), None, 0, 0).await?.items;
            remaining += items.len();
            let ctx = ctx_for(server, r, Some(&name));
            for item in items {
                if item.pointer("/metadata/deletionTimestamp").is_some() {
                    continue;
                }
                let n = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                match delete_one(&ctx, r, n, &DeleteOptions::default()).await {
                    Ok(_) | Err(ApiError::NotFound { .. }) | Err(ApiError::Conflict { .. }) => {}
                    Err(e) => {
                        tracing::warn!(namespace = %name, resource = r.plural, name = n, error = %e, "deleting namespace content")
                    }
                }
            }
        }
        if remaining > 0 {
            continue;
        }
        let mut done = ns.clone();
        let finalizers: Vec<Value> = ns
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter(|x| x.as_str() != Some("kubernetes")).cloned().collect())
            .unwrap_or_default();
        done["spec"]["finalizers"] = Value::Array(finalizers);
        let rv = objects::resource_version(ns)?.unwrap_or(0);
        match server.objects.update(nsr, None, &name, &done, rv).await {
            Ok(written) => {
                finish_if_finalized(&server.objects, nsr, None, &written).await?;
                tracing::info!(namespace = %name, "namespace finalized");
            }
            Err(ApiError::Conflict { .. }) | Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(pending)
}

/// Compacts history older than the previous tick, as kube-apiserver asks etcd to every five minutes.
pub async fn compactor(server: Arc<ApiServer>) {
    let every = server.config.compaction_interval.max(Duration::from_millis(100));
    let store = server.objects.store.clone();
    let mut previous = store.current_revision();
    loop {
        tokio::time::sleep(every).await;
        if previous > 0 {
            if let Err(e) = store.compact(previous).await {
                tracing::warn!(error = %e, revision = previous, "compaction failed");
            }
        }
        previous = store.current_revision();
    }
}
