//! watch: a chunked stream of `{"type": …, "object": …}` lines, from a resourceVersion or from "now" with
//! synthetic ADDED events, with selector transitions (an object leaving the selector is DELETED), bookmarks,
//! `timeoutSeconds`, and `410 Expired` when the requested history was compacted.

use super::read::{collect, table, with_type_meta, ListOptions};
use super::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::objects;
use ::http::{HeaderValue, Response};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use rand::Rng;
use serde_json::{json, Value};
use skiff_store::EventType;
use std::time::Duration;
use tokio::sync::mpsc;

const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

pub async fn watch(ctx: Ctx) -> ApiResult<Response<Body>> {
    let opts = ListOptions::from_ctx(&ctx)?;
    let q = &ctx.query;
    let bookmarks = q.flag("allowWatchBookmarks")?;
    let send_initial = q.flag("sendInitialEvents")?;
    let timeout = match q.int("timeoutSeconds")? {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        // Upstream spreads watch lifetimes over [minRequestTimeout, 2*minRequestTimeout) to avoid herds.
        _ => Duration::from_secs(rand::thread_rng().gen_range(1800..3600)),
    };
    let rv = opts.resource_version.clone();
    let (initial, start) = match rv.as_deref() {
        None | Some("0") => (true, None),
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| ApiError::BadRequest(format!("invalid resource version: {s}")))?;
            (send_initial, Some(n))
        }
    };
    let mut initial_items = Vec::new();
    let from = if initial {
        let (items, rev, _) = collect(
            &ctx,
            &ListOptions { limit: 0, continue_token: None, resource_version: None, exact: false, ..opts.clone() },
        )
        .await?;
        initial_items = items;
        rev + 1
    } else {
        start.unwrap_or(0) + 1
    };
    let prefix = objects::prefix(ctx.resource, ctx.ns());
    let table_version = http::wants_table(&ctx.headers);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let store = ctx.objects().store.clone();
    tokio::spawn(async move {
        let line = |kind: &str, obj: &Value| -> Bytes {
            let object = match table_version {
                Some(v) => {
                    let rv = obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""));
                    table(&ctx, v, std::slice::from_ref(obj), json!({"resourceVersion": rv}), true)
                }
                None => with_type_meta(ctx.resource, obj),
            };
            let mut b = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        let bookmark = |rev: i64, end_of_initial: bool| -> Bytes {
            let mut meta = json!({"resourceVersion": rev.to_string()});
            if end_of_initial {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            let obj = json!({"kind": ctx.resource.kind, "apiVersion": ctx.resource.group_version(), "metadata": meta});
            let mut b = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        for obj in &initial_items {
            if tx.send(line("ADDED", obj)).await.is_err() {
                return;
            }
        }
        if send_initial && bookmarks {
            let _ = tx.send(bookmark(from - 1, true)).await;
        }
        let mut stream = match store.watch(&prefix, from).await {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(error_line(&watch_error(e))).await;
                return;
            }
        };
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        let mut last_rev = from - 1;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(bookmark(last_rev.max(store.current_revision()), false)).await.is_err() { return; }
                }
                batch = stream.next() => {
                    let events = match batch {
                        None => return,
                        Some(Err(e)) => { let _ = tx.send(error_line(&watch_error(e))).await; return; }
                        Some(Ok(evs)) => evs,
                    };
                    for ev in events {
                        last_rev = ev.revision();
                        let Some((kind, obj)) = translate(ctx.resource, &opts, ev) else { continue };
                        if tx.send(line(kind, &obj)).await.is_err() { return; }
                    }
                }
            }
        }
    });
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx).map(|b| Ok(Frame::data(b))));
    let mut resp = Response::new(BodyExt::boxed_unsync(body));
    resp.headers_mut().insert(::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(::http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(resp)
}

/// Store errors as a watch reports them. A watch "from resourceVersion N" starts at revision N+1, but upstream
/// names N in its message.
fn watch_error(e: skiff_store::StoreError) -> ApiError {
    match e {
        skiff_store::StoreError::Compacted { requested, compacted } => {
            ApiError::Expired(format!("too old resource version: {} ({compacted})", requested - 1))
        }
        other => ApiError::from(other),
    }
}

fn error_line(e: &ApiError) -> Bytes {
    let mut b = serde_json::to_vec(&json!({"type": "ERROR", "object": e.status()})).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// Maps a store event to a watch event under the selectors, as upstream's watch cache filtering does.
fn translate(
    r: &skiff_api::registry::Resource,
    opts: &ListOptions,
    ev: skiff_store::Event,
) -> Option<(&'static str, Value)> {
    let prev = ev.prev.as_ref().and_then(|kv| objects::decode(r, kv).ok());
    let prev_matches = prev.as_ref().is_some_and(|p| opts.matches(p));
    match ev.kind {
        EventType::Put => {
            let obj = objects::decode(r, &ev.kv).ok()?;
            let now = opts.matches(&obj);
            match (prev_matches, now) {
                (false, true) => Some(("ADDED", obj)),
                (true, true) => Some(("MODIFIED", obj)),
                (true, false) => Some(("DELETED", obj)),
                (false, false) => None,
            }
        }
        EventType::Delete => {
            let mut obj = prev?;
            if !prev_matches {
                return None;
            }
            objects::set_resource_version(&mut obj, ev.revision());
            Some(("DELETED", obj))
        }
    }
}
