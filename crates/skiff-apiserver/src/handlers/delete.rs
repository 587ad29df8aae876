//! delete and deletecollection: preconditions, graceful pod deletion, finalizers, namespace termination.

use super::read::{collect, respond_object, ListOptions};
use super::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::objects::{self, Objects};
use ::http::Response;
use serde_json::{json, Value};
use skiff_api::registry::Resource;

/// The parts of `DeleteOptions` we honour, from the body and the query.
#[derive(Default, Debug)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    fn from_ctx(ctx: &Ctx) -> ApiResult<Self> {
        let mut o = DeleteOptions::default();
        if !ctx.body.is_empty() {
            let v: Value = serde_json::from_slice(&ctx.body)
                .map_err(|e| ApiError::BadRequest(format!("decoding DeleteOptions: {e}")))?;
            o.grace_period = v.get("gracePeriodSeconds").and_then(Value::as_i64);
            o.uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from);
            o.resource_version = v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
            if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
                check_propagation(p)?;
            }
        }
        if let Some(g) = ctx.query.int("gracePeriodSeconds")? {
            o.grace_period = Some(g);
        }
        if let Some(p) = ctx.query.get("propagationPolicy") {
            check_propagation(p)?;
        }
        Ok(o)
    }
}

fn check_propagation(p: &str) -> ApiResult<()> {
    match p {
        "Background" | "Foreground" | "Orphan" => Ok(()),
        other => Err(ApiError::invalid_delete_options(format!(
            "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}

/// Upstream returns the deleted object for these, and a `Status` for everything else.
fn returns_deleted_object(r: &Resource) -> bool {
    r.group.is_empty() && matches!(r.plural, "pods" | "serviceaccounts" | "services" | "namespaces")
}

fn success_status(r: &Resource, obj: &Value) -> Value {
    let mut details = json!({"name": obj.pointer("/metadata/name").cloned().unwrap_or(json!(""))});
    if !r.group.is_empty() {
        details["group"] = json!(r.group);
    }
    details["kind"] = json!(r.plural);
    details["uid"] = obj.pointer("/metadata/uid").cloned().unwrap_or(json!(""));
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub async fn delete(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let name = ctx.name()?;
    let opts = DeleteOptions::from_ctx(ctx)?;
    let (obj, gone) = delete_one(ctx, ctx.resource, name, &opts).await?;
    let r = ctx.resource;
    if !gone || returns_deleted_object(r) {
        // Still present (graceful or finalizers pending): upstream answers 200 with the object; a finished
        // delete of a kind that returns its object answers 200 too.
        return Ok(respond_object(ctx, 200, &obj));
    }
    Ok(http::json(200, &success_status(r, &obj)))
}

/// Deletes or starts deleting one object. Returns the object and whether it is gone.
pub async fn delete_one(ctx: &Ctx, r: &'static Resource, name: &str, opts: &DeleteOptions) -> ApiResult<(Value, bool)> {
    let objs = ctx.objects();
    let ns = ctx.ns();
    let dry = ctx.dry_run()?;
    for _ in 0..8 {
        let obj = objs.get_or_404(r, ns, name).await?;
        let meta = &obj["metadata"];
        if let Some(uid) = &opts.uid {
            let actual = meta.get("uid").and_then(Value::as_str).unwrap_or("");
            if uid != actual {
                return Err(ApiError::conflict(
                    r,
                    name,
                    format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        let rv = objects::resource_version(&obj)?.unwrap_or(0);
        if let Some(want) = &opts.resource_version {
            if *want != rv.to_string() {
                return Err(ApiError::conflict(
                    r,
                    name,
                    format!(
                    "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
                ),
                ));
            }
        }
        let plan = plan(r, &obj, opts);
        if dry {
            return Ok((obj, matches!(plan, Plan::Remove)));
        }
        let result = match plan {
            Plan::Remove => match objs.delete(r, ns, name, rv).await {
                Ok(o) => {
                    if super::service::is_service(r) {
                        super::service::release(objs.store.as_ref(), &o).await?;
                    }
                    Ok((o, true))
                }
                Err(e) => Err(e),
            },
            Plan::Mark(marked) => match objs.update(r, ns, name, &marked, rv).await {
                Ok(updated) => finish_if_finalized(objs, r, ns, &updated).await.map(|o| {
                    let gone = o.pointer("/metadata/deletionTimestamp").is_none();
                    (o, gone)
                }),
                Err(e) => Err(e),
            },
            Plan::AlreadyTerminating => Ok((obj, false)),
        };
        match result {
            // Someone wrote in between; look again.
            Err(ApiError::Conflict { .. }) if opts.resource_version.is_none() => continue,
            other => return other,
        }
    }
    Err(ApiError::modified(r, name))
}

enum Plan {
    Remove,
    /// Write the object back with deletion marked (deletionTimestamp, grace period, namespace phase).
    Mark(Value),
    AlreadyTerminating,
}

fn plan(r: &Resource, obj: &Value, opts: &DeleteOptions) -> Plan {
    let meta = &obj["metadata"];
    let has_finalizers = meta.get("finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    let is_ns = r.group.is_empty() && r.plural == "namespaces";
    let ns_finalizers =
        is_ns && obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    let already = meta.get("deletionTimestamp").is_some();

    let grace = if r.group.is_empty() && r.plural == "pods" { pod_grace(obj, opts) } else { 0 };
    if already {
        let current = meta.get("deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
        // A shorter grace period may be asked for while terminating (the node agent's final delete uses 0).
        if grace < current {
            if grace == 0 && !has_finalizers {
                return Plan::Remove;
            }
            let mut marked = obj.clone();
            mark(&mut marked, grace);
            return Plan::Mark(marked);
        }
        return Plan::AlreadyTerminating;
    }
    if grace == 0 && !has_finalizers && !ns_finalizers {
        return Plan::Remove;
    }
    let mut marked = obj.clone();
    mark(&mut marked, grace);
    if is_ns {
        marked["status"]["phase"] = json!("Terminating");
    }
    Plan::Mark(marked)
}

fn mark(obj: &mut Value, grace: i64) {
    let at = chrono::Utc::now() + chrono::Duration::seconds(grace);
    obj["metadata"]["deletionTimestamp"] = json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
}

/// Upstream's pod grace period: the request's, else the pod's `terminationGracePeriodSeconds`; zero for pods
/// that never reached a node or already finished, which are deleted at once.
fn pod_grace(pod: &Value, opts: &DeleteOptions) -> i64 {
    let unbound = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").is_empty();
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    if unbound || phase == "Succeeded" || phase == "Failed" {
        return 0;
    }
    let g = opts
        .grace_period
        .or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
        .unwrap_or(30);
    // Upstream turns a negative grace period into 1 second, to stay graceful.
    if g < 0 {
        1
    } else {
        g
    }
}

/// After a write: an object marked for deletion whose finalizers are all gone (and, for pods, whose grace period
/// is over) is removed. Returns the object as it now stands.
pub async fn finish_if_finalized(objs: &Objects, r: &Resource, ns: Option<&str>, obj: &Value) -> ApiResult<Value> {
    let meta = &obj["metadata"];
    if meta.get("deletionTimestamp").is_none() {
        return Ok(obj.clone());
    }
    let has_finalizers = meta.get("finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    let ns_finalizers = r.plural == "namespaces"
        && obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    let grace = meta.get("deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
    if has_finalizers || ns_finalizers || grace > 0 {
        return Ok(obj.clone());
    }
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    let rv = objects::resource_version(obj)?.unwrap_or(0);
    match objs.delete(r, ns, name, rv).await {
        Ok(mut o) => {
            if let Some(m) = o["metadata"].as_object_mut() {
                m.remove("deletionTimestamp");
            }
            Ok(o)
        }
        Err(ApiError::NotFound { .. }) => Ok(obj.clone()),
        Err(e) => Err(e),
    }
}

pub async fn delete_collection(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let r = ctx.resource;
    let opts = ListOptions::from_ctx(ctx)?;
    let del = DeleteOptions::from_ctx(ctx)?;
    let (items, revision, _) = collect(ctx, &ListOptions { limit: 0, continue_token: None, ..opts }).await?;
    let mut out = Vec::new();
    for item in items {
        let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let item_ns = item.pointer("/metadata/namespace").and_then(Value::as_str).map(String::from);
        let sub = ctx.for_namespace(item_ns);
        match delete_one(&sub, r, &name, &del).await {
            Ok((o, _)) => out.push(o),
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(http::json(
        200,
        &json!({"kind": r.list_kind(), "apiVersion": r.group_version(), "metadata": {"resourceVersion": revision.to_string()}, "items": out}),
    ))
}
