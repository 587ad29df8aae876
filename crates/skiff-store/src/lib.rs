//! The state store: a key-value store shaped like etcd's v3 KV API, so that the API server can run on the
//! embedded backend by default and on etcd later without changing a caller.
//!
//! The model is etcd's: every successful write transaction bumps a single cluster-wide *revision*; each key keeps
//! `create_revision`, `mod_revision` and `version`; reads may ask for the state at an older revision until it is
//! compacted away; watches replay every change from a given revision. Kubernetes' `resourceVersion` is exactly this
//! revision.
//!
//! This crate knows nothing about Kubernetes kinds: keys are opaque strings, values opaque bytes.

mod embedded;
mod types;

pub use embedded::EmbeddedStore;
pub use types::*;

use async_trait::async_trait;

/// The etcd-shaped KV contract every backend implements.
///
/// Invariants every backend keeps:
/// - a write is durable (fsynced or replicated) before `txn` returns;
/// - revisions are strictly increasing and gap-free over successful write transactions;
/// - a watch from revision R delivers, in revision order, every change with revision >= R to keys under its prefix,
///   or fails with [`StoreError::Compacted`] if R has been compacted.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads a key or a key range, at the latest revision or at `req.revision`.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError>;

    /// Atomically evaluates `compares`; runs `success` ops if all hold, else `failure` ops.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError>;

    /// Streams changes under `prefix` starting at `start_revision` (0 = changes after the current revision).
    async fn watch(&self, prefix: &str, start_revision: i64) -> Result<WatchStream, StoreError>;

    /// Forgets history before `revision`: reads and watches at older revisions then fail with `Compacted`.
    async fn compact(&self, revision: i64) -> Result<(), StoreError>;

    /// The latest committed revision.
    fn current_revision(&self) -> i64;
}

/// Convenience reads built on [`Store::range`].
#[async_trait]
pub trait StoreExt: Store {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let resp = self.range(RangeRequest::key(key)).await?;
        Ok(resp.kvs.into_iter().next())
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
