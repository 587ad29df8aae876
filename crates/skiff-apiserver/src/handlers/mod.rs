//! Resource request handlers: one generic set of verbs driven by the resource registry.

pub mod admit;
pub mod delete;
pub mod logs;
pub mod read;
pub mod service;
pub mod subresources;
pub mod token;
pub mod watch;
pub mod write;

use crate::errors::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::objects::Objects;
use crate::request::{Query, ResourcePath};
use crate::ApiServer;
use ::http::{HeaderMap, Method, Response};
use bytes::Bytes;
use serde_json::Value;
use skiff_api::registry::{self, Resource};
use std::sync::Arc;

/// Everything a handler needs about one request.
#[derive(Clone)]
pub struct Ctx {
    pub server: Arc<ApiServer>,
    pub resource: &'static Resource,
    pub path: ResourcePath,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Ctx {
    pub fn objects(&self) -> &Objects {
        &self.server.objects
    }

    pub fn ns(&self) -> Option<&str> {
        if self.resource.namespaced {
            self.path.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn name(&self) -> ApiResult<&str> {
        self.path.name.as_deref().ok_or(ApiError::MethodNotAllowed)
    }

    pub fn content_type(&self) -> String {
        http::content_type(&self.headers)
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.query.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => {
                Err(ApiError::BadRequest(format!("dryRun: Unsupported value: \"{other}\": supported values: \"All\"")))
            }
        }
    }

    /// The same request, addressed to another namespace (deletecollection across namespaces).
    pub fn for_namespace(&self, ns: Option<String>) -> Ctx {
        let mut c = self.clone();
        c.path.namespace = ns;
        c
    }

    /// Upstream's NamespaceLifecycle admission: writes need an existing namespace that is not terminating.
    pub async fn check_namespace_accepts_writes(&self) -> ApiResult<()> {
        let Some(ns) = self.ns() else {
            return Err(ApiError::BadRequest("the server could not find the requested resource".into()));
        };
        let namespaces = registry::find("", "v1", "namespaces")
            .ok_or_else(|| ApiError::Internal("namespaces not registered".into()))?;
        let obj = self.objects().get(namespaces, None, ns).await?.ok_or_else(|| ApiError::namespace_not_found(ns))?;
        if obj.pointer("/metadata/deletionTimestamp").is_some()
            || obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        {
            return Err(ApiError::Forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                self.resource.qualified_resource(),
                self.path.name.clone().unwrap_or_default(),
            )));
        }
        Ok(())
    }
}

/// Serves a resource request: finds the resource, checks the verb, and dispatches.
pub async fn serve(
    server: Arc<ApiServer>,
    method: &Method,
    path: ResourcePath,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response<Body>> {
    let resource = registry::find(&path.group, &path.version, &path.resource).ok_or(ApiError::NoRoute)?;
    if !resource.namespaced && path.namespace.is_some() {
        return Err(ApiError::NoRoute);
    }
    let watching = path.watch_prefix || query.flag("watch")?;
    let ctx = Ctx { server, resource, path, query, headers, body };
    if let Some(sub) = ctx.path.subresource.clone() {
        return subresources::serve(&ctx, method, &sub).await;
    }
    let verb = match (method.as_str(), ctx.path.name.is_some(), watching) {
        ("GET", _, true) => "watch",
        ("GET", true, false) => "get",
        ("GET", false, false) => "list",
        ("POST", ..) => "create",
        ("PUT", ..) => "update",
        ("PATCH", ..) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => "",
    };
    if !resource.supports(verb) {
        return Err(ApiError::MethodNotAllowed);
    }
    match (method.as_str(), ctx.path.name.is_some(), watching) {
        ("GET", _, true) => {
            if let Some(name) = ctx.path.name.clone() {
                // `/watch/…/name` watches one object: the same as a fieldSelector on its name.
                let mut c = ctx.clone();
                c.query = c.query.with("fieldSelector", &format!("metadata.name={name}"));
                c.path.name = None;
                return watch::watch(c).await;
            }
            watch::watch(ctx).await
        }
        ("GET", true, false) => read::get(&ctx).await,
        ("GET", false, false) => read::list(&ctx).await,
        ("POST", false, _) => {
            if resource.namespaced && ctx.path.namespace.is_none() {
                return Err(ApiError::MethodNotAllowed);
            }
            write::create(&ctx).await
        }
        ("PUT", true, _) => write::update(&ctx).await,
        ("PATCH", true, _) => write::patch(&ctx).await,
        ("DELETE", true, _) => delete::delete(&ctx).await,
        ("DELETE", false, _) => delete::delete_collection(&ctx).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}
