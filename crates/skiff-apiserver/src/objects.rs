//! Kubernetes objects over the key-value store: storage keys, JSON encoding, `resourceVersion` from the
//! store's revisions, and compare-and-swap writes.
//!
//! Invariant: the stored JSON never carries `metadata.resourceVersion`; it is filled in from the key's
//! `mod_revision` on every read, exactly as upstream does over etcd.

use crate::errors::{ApiError, ApiResult};
use bytes::Bytes;
use serde_json::Value;
use skiff_api::registry::Resource;
use skiff_store::{Compare, KeyValue, Op, OpResponse, RangeRequest, Store, Txn};
use std::sync::Arc;

#[derive(Clone)]
pub struct Objects {
    pub store: Arc<dyn Store>,
}

/// One page of a list.
pub struct Page {
    pub items: Vec<Value>,
    /// The key of the last item read, to continue after.
    pub last_key: Option<String>,
    pub more: bool,
    pub revision: i64,
}

/// One page of a list, still encoded.
pub struct RawPage {
    pub kvs: Vec<KeyValue>,
    pub more: bool,
    pub revision: i64,
}

pub fn prefix(r: &Resource, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if r.namespaced => format!("/registry/{}/{}/", r.storage, ns),
        _ => format!("/registry/{}/", r.storage),
    }
}

pub fn key(r: &Resource, ns: Option<&str>, name: &str) -> String {
    format!("{}{}", prefix(r, ns), name)
}

/// The stored form of an object of `r` (converted to the storage version; no resourceVersion).
pub fn encode(r: &Resource, obj: &Value) -> ApiResult<Bytes> {
    let mut obj = skiff_api::convert::to_storage(r.group, r.kind, obj.clone());
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(&obj).map(Bytes::from).map_err(|e| ApiError::Internal(format!("encoding object: {e}")))
}

/// An object of `r` from its stored form, with `resourceVersion` from the key's revision.
pub fn decode(r: &Resource, kv: &KeyValue) -> ApiResult<Value> {
    let obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("decoding stored object {}: {e}", kv.key)))?;
    let mut obj = skiff_api::convert::from_storage(r.group, r.kind, obj);
    set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

pub fn set_resource_version(obj: &mut Value, rev: i64) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(rev.to_string()));
    }
}

/// The `resourceVersion` an object carries, if any (empty means none).
pub fn resource_version(obj: &Value) -> ApiResult<Option<i64>> {
    match obj.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| ApiError::BadRequest(format!("invalid resource version: {s}"))),
    }
}

impl Objects {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Objects { store }
    }

    pub async fn get(&self, r: &Resource, ns: Option<&str>, name: &str) -> ApiResult<Option<Value>> {
        let resp = self.store.range(RangeRequest::key(&key(r, ns, name))).await?;
        resp.kvs.first().map(|kv| decode(r, kv)).transpose()
    }

    pub async fn get_or_404(&self, r: &Resource, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        self.get(r, ns, name).await?.ok_or_else(|| ApiError::not_found(r, name))
    }

    /// Creates the object; `AlreadyExists` if the name is taken.
    pub async fn create(&self, r: &Resource, ns: Option<&str>, name: &str, obj: &Value) -> ApiResult<Value> {
        let k = key(r, ns, name);
        let txn =
            Txn { compares: vec![Compare::absent(&k)], success: vec![Op::Put(k, encode(r, obj)?)], failure: vec![] };
        let resp = self.store.txn(txn).await?;
        if !resp.succeeded {
            return Err(ApiError::already_exists(r, name));
        }
        let mut out = obj.clone();
        set_resource_version(&mut out, resp.revision);
        Ok(out)
    }

    /// Replaces the object if it is still at `expected` revision; `Conflict` if it moved, `NotFound` if gone.
    pub async fn update(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        obj: &Value,
        expected: i64,
    ) -> ApiResult<Value> {
        let k = key(r, ns, name);
        let txn = Txn {
            compares: vec![Compare::mod_revision_is(&k, expected)],
            success: vec![Op::Put(k.clone(), encode(r, obj)?)],
            failure: vec![Op::Get(k)],
        };
        let resp = self.store.txn(txn).await?;
        if !resp.succeeded {
            return match resp.responses.first() {
                Some(OpResponse::Get(Some(_))) => Err(ApiError::modified(r, name)),
                _ => Err(ApiError::not_found(r, name)),
            };
        }
        let mut out = obj.clone();
        set_resource_version(&mut out, resp.revision);
        Ok(out)
    }

    /// Deletes the object if it is still at `expected` revision; returns the deleted object.
    pub async fn delete(&self, r: &Resource, ns: Option<&str>, name: &str, expected: i64) -> ApiResult<Value> {
        let k = key(r, ns, name);
        let txn = Txn {
            compares: vec![Compare::mod_revision_is(&k, expected)],
            success: vec![Op::Delete(k.clone())],
            failure: vec![Op::Get(k)],
        };
        let resp = self.store.txn(txn).await?;
        match resp.responses.into_iter().next() {
            Some(OpResponse::Delete { prev: Some(prev) }) if resp.succeeded => decode(r, &prev),
            Some(OpResponse::Get(Some(_))) => Err(ApiError::modified(r, name)),
            _ => Err(ApiError::not_found(r, name)),
        }
    }

    /// Like [`Objects::list`], but leaves the objects encoded, so that a caller can decode, filter and write
    /// out one object at a time instead of holding a whole list as JSON values.
    pub async fn list_raw(
        &self,
        r: &Resource,
        ns: Option<&str>,
        after: Option<&str>,
        revision: i64,
        limit: usize,
    ) -> ApiResult<RawPage> {
        let mut req = RangeRequest::prefix(&prefix(r, ns));
        if let Some(a) = after {
            // The smallest key after `a`.
            req.key = format!("{a}\u{0}");
        }
        req.revision = revision;
        req.limit = limit;
        let resp = self.store.range(req).await?;
        Ok(RawPage { kvs: resp.kvs, more: resp.more, revision: resp.revision })
    }

    /// Reads up to `limit` objects (0 = all) under the namespace (or all namespaces), starting after `after`,
    /// at `revision` (0 = latest).
    pub async fn list(
        &self,
        r: &Resource,
        ns: Option<&str>,
        after: Option<&str>,
        revision: i64,
        limit: usize,
    ) -> ApiResult<Page> {
        let raw = self.list_raw(r, ns, after, revision, limit).await?;
        let last_key = raw.kvs.last().map(|kv| kv.key.clone());
        let items = raw.kvs.iter().map(|kv| decode(r, kv)).collect::<ApiResult<Vec<_>>>()?;
        Ok(Page { items, last_key, more: raw.more, revision: raw.revision })
    }
}
