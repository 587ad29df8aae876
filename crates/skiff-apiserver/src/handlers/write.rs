//! create, update and patch — of the main resource and of the `status` subresource.

use super::admit::{self, FieldValidation};
use super::read::respond_object;
use super::{service, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::objects;
use ::http::Response;
use serde_json::Value;
use skiff_api::patch::PatchType;
use skiff_api::registry::Resource;
use skiff_api::strategy;

/// How many times a patch without a resourceVersion precondition is retried when another writer got there first.
const PATCH_RETRIES: usize = 8;

pub async fn create(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let r = ctx.resource;
    let validation = FieldValidation::from_query(&ctx.query)?;
    let (mut obj, warnings) = admit::decode_object(r, &ctx.body, &ctx.content_type(), validation)?;
    admit::prepare_create_meta(r, &mut obj, ctx.ns())?;
    if r.namespaced {
        ctx.check_namespace_accepts_writes().await?;
    }
    strategy::prepare_for_create(r, &mut obj);
    if r.group.is_empty() && r.kind == "Pod" {
        // The ServiceAccount admission plugin's projected token volume.
        let suffix = admit::generate_name("");
        skiff_api::defaults::add_service_account_token_volume(&mut obj, &suffix);
    }
    let dry_run = ctx.dry_run()?;
    let store = ctx.objects().store.clone();
    let allocates = service::is_service(r) && !dry_run;
    if allocates {
        service::allocate(store.as_ref(), r, &mut obj).await?;
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let result = match admit::default_and_validate(r, &mut obj, None) {
        Ok(()) if dry_run => Ok(obj.clone()),
        Ok(()) => ctx.objects().create(r, ctx.ns(), &name, &obj).await,
        Err(e) => Err(e),
    };
    if allocates && result.is_err() {
        // Give back what this failed create claimed.
        service::release(store.as_ref(), &obj).await?;
    }
    let created = result?;
    tracing::debug!(resource = r.plural, ns = ctx.ns().unwrap_or(""), name, "created");
    let mut resp = respond_object(ctx, 201, &created);
    http::add_warnings(&mut resp, &warnings);
    Ok(resp)
}

pub async fn update(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let r = ctx.resource;
    let name = ctx.name()?;
    let validation = FieldValidation::from_query(&ctx.query)?;
    let (mut obj, warnings) = admit::decode_object(r, &ctx.body, &ctx.content_type(), validation)?;
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n == name => {}
        Some("") | None => obj["metadata"]["name"] = Value::String(name.to_string()),
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
    }
    if r.namespaced {
        if let Some(n) = obj.pointer("/metadata/namespace").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            if Some(n) != ctx.ns() {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
        }
    }
    let old = ctx.objects().get_or_404(r, ctx.ns(), name).await?;
    let subresource = ctx.path.subresource.clone();
    let mut resp = apply_update(ctx, &old, obj, subresource.as_deref()).await?;
    http::add_warnings(&mut resp, &warnings);
    Ok(resp)
}

/// Prepares `new` against `old` for the main resource or its status, checks the resourceVersion precondition,
/// defaults, validates and writes it.
async fn apply_update(ctx: &Ctx, old: &Value, mut new: Value, subresource: Option<&str>) -> ApiResult<Response<Body>> {
    let updated = prepare_and_write(ctx, ctx.resource, old, &mut new, subresource).await?;
    Ok(respond_object(ctx, 200, &updated))
}

pub async fn prepare_and_write(
    ctx: &Ctx,
    r: &'static Resource,
    old: &Value,
    new: &mut Value,
    subresource: Option<&str>,
) -> ApiResult<Value> {
    let name = old.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let old_rv = objects::resource_version(old)?.unwrap_or(0);
    if let Some(rv) = objects::resource_version(new)? {
        if rv != old_rv {
            return Err(ApiError::modified(r, &name));
        }
    }
    admit::prepare_update_meta(new, old);
    match subresource {
        Some("status") => strategy::prepare_for_status_update(r, new, old),
        _ => strategy::prepare_for_update(r, new, old),
    }
    // An update without a resourceVersion is unconditional (upstream's AllowUnconditionalUpdate).
    objects::set_resource_version(new, old_rv);
    admit::default_and_validate(r, new, Some(old))?;
    if new == old {
        // Upstream skips no-op writes: the resourceVersion stays.
        return Ok(old.clone());
    }
    if ctx.dry_run()? {
        return Ok(new.clone());
    }
    let ns = ctx.ns();
    let written = ctx.objects().update(r, ns, &name, new, old_rv).await?;
    super::delete::finish_if_finalized(ctx.objects(), r, ns, &written).await
}

pub async fn patch(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let r = ctx.resource;
    let name = ctx.name()?;
    let ct = ctx.content_type();
    if ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor" {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (server-side apply is not supported yet; got {ct})"
        )));
    }
    let patch_type = PatchType::from_content_type(&ct).ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json".to_string(),
        )
    })?;
    let validation = FieldValidation::from_query(&ctx.query)?;
    let subresource = ctx.path.subresource.clone();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let old = ctx.objects().get_or_404(r, ctx.ns(), name).await?;
        let patched =
            skiff_api::patch::apply(patch_type, &old, &ctx.body, r.group, r.version, r.kind).map_err(patch_error)?;
        let warnings = patch_field_validation(ctx, patch_type, validation, &patched)?;
        let new = admit::check_object(r, patched)?;
        let had_precondition = patch_sets_resource_version(&ctx.body);
        let mut new = new;
        if !had_precondition {
            // The patch was computed against `old`; the write must land on exactly that revision.
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        }
        match prepare_and_write(ctx, r, &old, &mut new, subresource.as_deref()).await {
            Err(ApiError::Conflict { .. }) if !had_precondition && attempt < PATCH_RETRIES => continue,
            Err(e) => return Err(e),
            Ok(v) => {
                let mut resp = respond_object(ctx, 200, &v);
                http::add_warnings(&mut resp, &warnings);
                return Ok(resp);
            }
        }
    }
}

fn patch_sets_resource_version(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/metadata/resourceVersion").cloned())
        .is_some_and(|v| !v.is_null())
}

pub fn patch_error(e: skiff_api::patch::PatchError) -> ApiError {
    ApiError::Raw { code: e.code(), reason: e.reason(), message: e.status_message(), details: None }
}

/// Field validation of a patch: violations in the body itself and unknown fields of the patched object.
/// Strict mode answers upstream's 422 (`"" is invalid: patch: Invalid value: …`); Warn mode returns warnings.
fn patch_field_validation(
    ctx: &Ctx,
    pt: PatchType,
    validation: FieldValidation,
    patched: &Value,
) -> ApiResult<Vec<String>> {
    if validation == FieldValidation::Ignore {
        return Ok(vec![]);
    }
    let r = ctx.resource;
    let body_errors = skiff_api::patch::patch_body_strict_errors(pt, &ctx.body);
    let mut texts = skiff_api::patch::patch_body_strict_texts(pt, &body_errors);
    texts.extend(
        skiff_api::schema::unknown_fields(r.group, r.version, r.kind, patched)
            .into_iter()
            .map(|p| skiff_api::schema::StrictError::Unknown(p).to_string()),
    );
    if texts.is_empty() || validation == FieldValidation::Warn {
        return Ok(texts);
    }
    let (message, cause) = skiff_api::patch::strict_patch_error(pt, &ctx.body, patched, &texts);
    Err(ApiError::Raw {
        code: 422,
        reason: "Invalid",
        message,
        details: Some(
            serde_json::json!({"causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "patch"}]}),
        ),
    })
}
