//! get and list, with selectors, paging (`limit`/`continue`), `resourceVersion` semantics and Table output.

use super::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::objects;
use crate::selectors::{FieldSelector, LabelSelector};
use ::http::Response;
use base64::Engine;
use serde_json::{json, Value};
use skiff_api::registry::Resource;

/// Selectors and paging of a list or watch request.
#[derive(Clone)]
pub struct ListOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: usize,
    pub continue_token: Option<(i64, String)>,
    pub resource_version: Option<String>,
    pub exact: bool,
}

impl ListOptions {
    pub fn from_ctx(ctx: &Ctx) -> ApiResult<Self> {
        let q = &ctx.query;
        let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?;
        let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""), ctx.resource)?;
        let limit = q.int("limit")?.unwrap_or(0).max(0) as usize;
        let resource_version = q.get("resourceVersion").filter(|s| !s.is_empty()).map(String::from);
        let continue_token = match q.get("continue").filter(|s| !s.is_empty()) {
            None => None,
            Some(tok) => {
                if resource_version.is_some() {
                    return Err(ApiError::BadRequest(
                        "specifying resource version is not allowed when using continue".into(),
                    ));
                }
                Some(decode_continue(tok)?)
            }
        };
        let exact = match q.get("resourceVersionMatch") {
            None | Some("") => false,
            Some("Exact") => true,
            Some("NotOlderThan") => false,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
            )))
            }
        };
        Ok(ListOptions { labels, fields, limit, continue_token, resource_version, exact })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj.pointer("/metadata/labels").and_then(Value::as_object)) && self.fields.matches(obj)
    }
}

fn decode_continue(tok: &str) -> ApiResult<(i64, String)> {
    let bad = || {
        ApiError::BadRequest(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into(),
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(tok)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(tok))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, start.to_string()))
}

fn encode_continue(rv: i64, start: &str) -> String {
    let v = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

pub async fn get(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let name = ctx.name()?;
    let obj = ctx.objects().get_or_404(ctx.resource, ctx.ns(), name).await?;
    Ok(respond_object(ctx, 200, &obj))
}

/// An object response, as a one-row Table when the client asked for one.
pub fn respond_object(ctx: &Ctx, code: u16, obj: &Value) -> Response<Body> {
    match http::wants_table(&ctx.headers) {
        Some(v) => {
            let rv = obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""));
            http::json(code, &table(ctx, v, std::slice::from_ref(obj), json!({"resourceVersion": rv}), true))
        }
        None => http::json(code, obj),
    }
}

/// Builds a `meta.k8s.io` Table of `items`.
pub fn table(ctx: &Ctx, version: &str, items: &[Value], metadata: Value, with_columns: bool) -> Value {
    let rows = items.iter().map(|obj| table_row(ctx, version, obj)).collect();
    table_of_rows(ctx, version, rows, metadata, with_columns)
}

/// One Table row: the cells, row conditions, and the object as `includeObject` asks (metadata by default).
pub fn table_row(ctx: &Ctx, version: &str, obj: &Value) -> Value {
    let r = ctx.resource;
    let row = skiff_api::table::row(r.group, r.kind, obj, chrono::Utc::now());
    let mut out = json!({"cells": row.cells});
    if !row.conditions.is_empty() {
        out["conditions"] = Value::Array(row.conditions);
    }
    match ctx.query.get("includeObject").unwrap_or("Metadata") {
        "None" => {}
        "Object" => out["object"] = with_type_meta(r, obj),
        _ => {
            out["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": format!("meta.k8s.io/{version}"),
                "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
            })
        }
    }
    out
}

fn table_of_rows(ctx: &Ctx, version: &str, rows: Vec<Value>, metadata: Value, with_columns: bool) -> Value {
    let r = ctx.resource;
    let mut t = json!({"kind": "Table", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": metadata});
    t["columnDefinitions"] = if with_columns {
        skiff_api::table::columns(r.group, r.kind)
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
            })
            .collect()
    } else {
        Value::Null
    };
    t["rows"] = Value::Array(rows);
    t
}

pub fn with_type_meta(r: &Resource, obj: &Value) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(r.group_version());
    o["kind"] = json!(r.kind);
    o
}

/// Lists the matching objects at one revision. Returns items, the revision, and a continue token.
pub async fn collect(ctx: &Ctx, opts: &ListOptions) -> ApiResult<(Vec<Value>, i64, Option<String>)> {
    let mut items = Vec::new();
    let (revision, cont) = collect_each(ctx, opts, &mut |obj| {
        items.push(obj);
        Ok(())
    })
    .await?;
    Ok((items, revision, cont))
}

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// Hands each matching object, at one revision, to `each` — decoded one at a time, so a large list never sits
/// in memory as JSON values. Returns the revision and a continue token.
pub async fn collect_each(
    ctx: &Ctx,
    opts: &ListOptions,
    each: &mut (dyn FnMut(Value) -> ApiResult<()> + Send),
) -> ApiResult<(i64, Option<String>)> {
    let r = ctx.resource;
    let objs = ctx.objects();
    let ns = ctx.ns();
    let prefix = objects::prefix(r, ns);
    let mut revision = match (&opts.continue_token, &opts.resource_version) {
        (Some((rv, _)), _) => *rv,
        (None, Some(rv)) if opts.exact => {
            rv.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))?
        }
        (None, None) if opts.exact => {
            return Err(ApiError::BadRequest(
                "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
            ))
        }
        _ => 0,
    };
    if let (Some(name), None) = (opts.fields.exact_name(), &opts.continue_token) {
        // One key to read, whatever the namespace scope: avoid scanning.
        if ns.is_some() || !r.namespaced {
            let rev = objs.store.current_revision();
            if let Some(obj) = objs.get(r, ns, name).await?.filter(|o| opts.matches(o)) {
                each(obj)?;
            }
            return Ok((if revision == 0 { rev } else { revision }, None));
        }
    }
    let mut after: Option<String> = opts.continue_token.as_ref().map(|(_, start)| format!("{prefix}{start}"));
    let mut matched = 0usize;
    let chunk = if opts.limit == 0 { 0 } else { opts.limit.max(500) };
    loop {
        let page = objs.list_raw(r, ns, after.as_deref(), revision, chunk).await.map_err(|e| match e {
            ApiError::Expired(_) if opts.continue_token.is_some() => ApiError::Expired(CONTINUE_EXPIRED.into()),
            other => other,
        })?;
        revision = page.revision;
        let page_len = page.kvs.len();
        for (i, kv) in page.kvs.iter().enumerate() {
            let obj = objects::decode(r, kv)?;
            if !opts.matches(&obj) {
                continue;
            }
            matched += 1;
            if opts.limit > 0 && matched == opts.limit {
                let more = i + 1 < page_len || page.more;
                // The token names the last key returned, relative to the listed prefix.
                let start = kv.key.strip_prefix(&prefix).unwrap_or(&kv.key).to_string();
                each(obj)?;
                return Ok((revision, more.then(|| encode_continue(revision, &start))));
            }
            each(obj)?;
        }
        if !page.more {
            return Ok((revision, None));
        }
        after = page.kvs.last().map(|kv| kv.key.clone());
    }
}

pub async fn list(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let opts = ListOptions::from_ctx(ctx)?;
    let r = ctx.resource;
    if let Some(v) = http::wants_table(&ctx.headers) {
        let mut rows = Vec::new();
        let (revision, cont) = collect_each(ctx, &opts, &mut |obj| {
            rows.push(table_row(ctx, v, &obj));
            Ok(())
        })
        .await?;
        return Ok(http::json(200, &table_of_rows(ctx, v, rows, list_meta(revision, cont), true)));
    }
    // Items are serialized as they are decoded; only the output bytes accumulate.
    let mut items = Vec::with_capacity(4096);
    items.push(b'[');
    let (revision, cont) = collect_each(ctx, &opts, &mut |mut obj| {
        // Upstream's list items carry no type meta of their own.
        if let Some(m) = obj.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        if items.len() > 1 {
            items.push(b',');
        }
        serde_json::to_writer(&mut items, &obj).map_err(|e| ApiError::Internal(format!("encoding a list: {e}")))
    })
    .await?;
    items.push(b']');
    let head = json!({"kind": r.list_kind(), "apiVersion": r.group_version(), "metadata": list_meta(revision, cont)});
    let head = serde_json::to_vec(&head).map_err(|e| ApiError::Internal(format!("encoding a list: {e}")))?;
    // `head` is `{…}`: splice `,"items":[…]` before its closing brace.
    let mut body = Vec::with_capacity(head.len() + items.len() + 10);
    body.extend_from_slice(&head[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":");
    body.extend_from_slice(&items);
    body.push(b'}');
    let mut resp = Response::new(http::full(body));
    resp.headers_mut().insert(::http::header::CONTENT_TYPE, ::http::HeaderValue::from_static("application/json"));
    Ok(resp)
}

fn list_meta(revision: i64, cont: Option<String>) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    metadata
}
