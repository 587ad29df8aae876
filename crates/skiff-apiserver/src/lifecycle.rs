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

pub const BUILTIN_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

fn namespaces() -> ApiResult<&'static Resource> {
    registry::find("", "v1", "namespaces")
        .ok_or_else(|| ApiError::Internal("namespaces are not registered".into()))
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
        let wait = if pending {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(30)
        };
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
    for ns in page
        .items
        .iter()
        .filter(|n| n.pointer("/metadata/deletionTimestamp").is_some())
    {
        pending = true;
        let name = ns
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut remaining = 0usize;
        for r in RESOURCES.iter().filter(|r| r.namespaced) {
            let items = server.objects.list(r, Some(&name), None, 0, 0).await?.items;
            remaining += items.len();
            let ctx = ctx_for(server, r, Some(&name));
            for item in items {
                if item.pointer("/metadata/deletionTimestamp").is_some() {
                    continue;
                }
                let n = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
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
            .map(|f| {
                f.iter()
                    .filter(|x| x.as_str() != Some("kubernetes"))
                    .cloned()
                    .collect()
            })
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
    const EVERY: Duration = Duration::from_secs(300);
    let store = server.objects.store.clone();
    let mut previous = store.current_revision();
    loop {
        tokio::time::sleep(EVERY).await;
        if previous > 0 {
            if let Err(e) = store.compact(previous).await {
                tracing::warn!(error = %e, revision = previous, "compaction failed");
            }
        }
        previous = store.current_revision();
    }
}
