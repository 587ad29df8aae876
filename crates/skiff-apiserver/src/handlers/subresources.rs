//! Subresources: `status` (the verbs of the main resource, restricted to status), `scale` (an
//! `autoscaling/v1` Scale view of spec.replicas), `binding` (the scheduler's pod → node assignment),
//! `finalize` (a namespace's spec.finalizers) and `token` (a ServiceAccount's TokenRequest: [`super::token`]).

use super::admit::{self, FieldValidation};
use super::read::respond_object;
use super::write::{patch_error, prepare_and_write};
use super::{read, write, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::http::{self, Body};
use ::http::{Method, Response};
use serde_json::{json, Value};
use skiff_api::patch::PatchType;

pub async fn serve(ctx: &Ctx, method: &Method, sub: &str) -> ApiResult<Response<Body>> {
    let r = ctx.resource;
    let Some(s) = r.subresource(sub) else {
        return Err(ApiError::NoRoute);
    };
    let verb = match method.as_str() {
        "GET" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "POST" => "create",
        _ => "",
    };
    if !s.verbs.contains(&verb) {
        return Err(ApiError::MethodNotAllowed);
    }
    match (sub, verb) {
        ("status", "get") => read::get(ctx).await,
        ("status", "update") => write::update(ctx).await,
        ("status", "patch") => write::patch(ctx).await,
        ("scale", "get") => {
            let obj = ctx.objects().get_or_404(r, ctx.ns(), ctx.name()?).await?;
            Ok(http::json(200, &scale_of(&obj)))
        }
        ("scale", "update" | "patch") => scale_write(ctx, verb == "patch").await,
        ("binding", "create") => bind(ctx).await,
        ("log", "get") => super::logs::serve(ctx).await,
        ("finalize", "update") => finalize(ctx).await,
        ("token", "create") => super::token::create(ctx).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The `autoscaling/v1` Scale view of a workload.
fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    let selector = obj.pointer("/spec/selector/matchLabels").and_then(Value::as_object).map(|l| {
        let mut pairs: Vec<String> = l.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
        pairs.sort();
        pairs.join(",")
    });
    let mut status = json!({"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0))});
    if let Some(sel) = selector.filter(|s| !s.is_empty()) {
        status["selector"] = json!(sel);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": status,
    })
}

async fn scale_write(ctx: &Ctx, is_patch: bool) -> ApiResult<Response<Body>> {
    let r = ctx.resource;
    let name = ctx.name()?;
    for _ in 0..8 {
        let old = ctx.objects().get_or_404(r, ctx.ns(), name).await?;
        let current = scale_of(&old);
        let wanted = if is_patch {
            let pt = PatchType::from_content_type(&ctx.content_type()).ok_or_else(|| {
                ApiError::UnsupportedMediaType(format!("unsupported patch type {}", ctx.content_type()))
            })?;
            skiff_api::patch::apply(pt, &current, &ctx.body, "autoscaling", "v1", "Scale").map_err(patch_error)?
        } else {
            serde_json::from_slice::<Value>(&ctx.body)
                .map_err(|e| ApiError::BadRequest(format!("decoding Scale: {e}")))?
        };
        let replicas = match wanted.pointer("/spec/replicas") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_i64().ok_or_else(|| ApiError::BadRequest("spec.replicas must be an integer".into()))?,
        };
        if replicas < 0 {
            let err = skiff_api::field::FieldError::invalid(
                "spec.replicas",
                json!(replicas),
                "must be greater than or equal to 0",
            );
            return Err(ApiError::Invalid {
                group: "autoscaling".into(),
                kind: "Scale".into(),
                name: name.into(),
                message: skiff_api::field::invalid_message("Scale.autoscaling", name, std::slice::from_ref(&err)),
                causes: vec![err],
            });
        }
        let precondition =
            wanted.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|s| !s.is_empty());
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(replicas);
        if let Some(rv) = precondition {
            new["metadata"]["resourceVersion"] = json!(rv);
        }
        match prepare_and_write(ctx, r, &old, &mut new, None).await {
            Ok(v) => return Ok(http::json(200, &scale_of(&v))),
            Err(ApiError::Conflict { .. }) if precondition.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::modified(r, name))
}

async fn bind(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let r = ctx.resource;
    let name = ctx.name()?;
    let binding: Value =
        serde_json::from_slice(&ctx.body).map_err(|e| ApiError::BadRequest(format!("decoding Binding: {e}")))?;
    let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or("").to_string();
    if node.is_empty() {
        return Err(ApiError::BadRequest("Binding target name is required".into()));
    }
    for _ in 0..8 {
        let old = ctx.objects().get_or_404(r, ctx.ns(), name).await?;
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::conflict(
                r,
                name,
                format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        if let Some(current) = old.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            return Err(ApiError::conflict(r, name, format!("pod {name} is already assigned to node \"{current}\"")));
        }
        let mut new = old.clone();
        new["spec"]["nodeName"] = json!(node);
        let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": admit::now_rfc3339()});
        let conds = new["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let mut conds: Vec<Value> = conds.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
        conds.push(cond);
        new["status"]["conditions"] = Value::Array(conds);
        let rv = crate::objects::resource_version(&old)?.unwrap_or(0);
        match ctx.objects().update(r, ctx.ns(), name, &new, rv).await {
            Ok(_) => {
                return Ok(http::json(
                    201,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                ))
            }
            Err(ApiError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::modified(r, name))
}

async fn finalize(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let r = ctx.resource;
    let name = ctx.name()?;
    let validation = FieldValidation::from_query(&ctx.query)?;
    let (obj, _) = admit::decode_object(r, &ctx.body, &ctx.content_type(), validation)?;
    let old = ctx.objects().get_or_404(r, None, name).await?;
    let mut new = old.clone();
    match obj.pointer("/spec/finalizers") {
        Some(f) => new["spec"]["finalizers"] = f.clone(),
        None => {
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("finalizers");
            }
        }
    }
    let rv = crate::objects::resource_version(&old)?.unwrap_or(0);
    let written = ctx.objects().update(r, None, name, &new, rv).await?;
    let after = super::delete::finish_if_finalized(ctx.objects(), r, None, &written).await?;
    Ok(respond_object(ctx, 200, &after))
}
