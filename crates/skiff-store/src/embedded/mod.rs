//! The embedded backend: an MVCC key-value store on one `redb` file, with the current state and recent history
//! in memory.
//!
//! Layout of the redb file (`store.redb` in the store directory):
//! - `kv`:   key → current record (create/mod revision, version, value) — what a restart loads into memory;
//! - `log`:  revision → the events of that revision (with previous values) — history for watches and reads at an
//!   older revision, trimmed by compaction;
//! - `meta`: `revision` (latest committed) and `compacted` (oldest readable revision).
//!
//! One writer thread owns all mutation ([`writer`]): it drains every queued transaction, evaluates them in order,
//! commits them together in one fsynced redb transaction (group commit), and only then publishes them to memory
//! and acknowledges. Readers therefore only ever see durable state.

mod codec;
mod history;
mod writer;

use crate::{Event, KeyValue, RangeRequest, RangeResponse, Store, StoreError, Txn, TxnResponse, WatchStream};
use async_trait::async_trait;
use history::History;
use redb::{Database, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use tokio::sync::{oneshot, watch};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// How many revisions one watch batch may span, so a far-behind watcher catches up in bounded steps.
const WATCH_BATCH_REVISIONS: i64 = 1000;

pub struct EmbeddedStore {
    inner: Arc<Inner>,
    /// `None` only while dropping.
    writes: Option<std::sync::mpsc::Sender<writer::Request>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EmbeddedStore {
    /// Closes the queue and waits for the writer, so that the database file is released when the store is.
    fn drop(&mut self) {
        self.writes.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

struct Inner {
    db: Database,
    state: RwLock<State>,
    /// Publishes the latest committed revision; watch streams wait on it.
    revision: watch::Sender<i64>,
}

struct State {
    kv: BTreeMap<String, KeyValue>,
    history: History,
    revision: i64,
    compacted: i64,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`, loading the current state into memory.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join("store.redb");
        let db = Database::create(&path).map_err(|e| io(format!("opening {}: {e}", path.display())))?;

        // Make sure the tables exist so that read transactions can open them.
        let wtx = db.begin_write().map_err(io)?;
        {
            wtx.open_table(KV).map_err(io)?;
            wtx.open_table(LOG).map_err(io)?;
            wtx.open_table(META).map_err(io)?;
        }
        wtx.commit().map_err(io)?;

        let rtx = db.begin_read().map_err(io)?;
        let meta = rtx.open_table(META).map_err(io)?;
        let revision = meta.get("revision").map_err(io)?.map_or(0, |v| v.value() as i64);
        let compacted = meta.get("compacted").map_err(io)?.map_or(0, |v| v.value() as i64);
        let mut kv = BTreeMap::new();
        for entry in rtx.open_table(KV).map_err(io)?.iter().map_err(io)? {
            let (k, v) = entry.map_err(io)?;
            let key = k.value().to_string();
            let rec = codec::decode_kv(&key, v.value())?;
            kv.insert(key, rec);
        }
        drop(meta);
        drop(rtx);
        tracing::info!(path = %path.display(), revision, compacted, keys = kv.len(), "store opened");

        let inner = Arc::new(Inner {
            db,
            state: RwLock::new(State { kv, history: History::new(revision + 1), revision, compacted }),
            revision: watch::channel(revision).0,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let writer_inner = inner.clone();
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(writer_inner, rx))
            .map_err(|e| io(format!("spawning the store writer: {e}")))?;
        Ok(EmbeddedStore { inner, writes: Some(tx), writer: Some(writer) })
    }

    async fn submit(&self, work: writer::Work) -> Result<writer::Done, StoreError> {
        let (reply, rx) = oneshot::channel();
        let writes = self.writes.as_ref().ok_or(StoreError::Closed)?;
        writes.send(writer::Request { work, reply }).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

impl Inner {
    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock means a writer panicked mid-update; the data on disk is still the truth, and readers
        // of the in-memory copy are no worse off than the panic already made them.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Events under `prefix` with revisions in `from..=to`, from memory where possible, else from the log on disk.
    fn events_between(&self, from: i64, to: i64, prefix: &str) -> Result<Vec<Event>, StoreError> {
        let (compacted, in_memory) = {
            let st = self.read_state();
            (st.compacted, st.history.covers(from).then(|| st.history.between(from, to, prefix)))
        };
        if from < compacted {
            return Err(StoreError::Compacted { requested: from, compacted });
        }
        if let Some(evs) = in_memory {
            return Ok(evs);
        }
        let rtx = self.db.begin_read().map_err(io)?;
        let log = rtx.open_table(LOG).map_err(io)?;
        let mut out = Vec::new();
        for entry in log.range(from.max(0) as u64..=to.max(0) as u64).map_err(io)? {
            let (rev, buf) = entry.map_err(io)?;
            for ev in codec::decode_events(rev.value(), buf.value())? {
                if ev.kv.key.starts_with(prefix) {
                    out.push(ev);
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        let in_range = |k: &str| match &req.range_end {
            None => k == req.key,
            Some(end) => k >= req.key.as_str() && k < end.as_str(),
        };
        let (current, compacted, mut kvs) = {
            let st = self.inner.read_state();
            let kvs: BTreeMap<String, KeyValue> = match &req.range_end {
                None => st.kv.get(&req.key).map(|kv| (kv.key.clone(), kv.clone())).into_iter().collect(),
                Some(end) if end.as_str() > req.key.as_str() => st
                    .kv
                    .range::<str, _>((
                        std::ops::Bound::Included(req.key.as_str()),
                        std::ops::Bound::Excluded(end.as_str()),
                    ))
                    .take(if req.revision == 0 && req.limit > 0 { req.limit + 1 } else { usize::MAX })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                Some(_) => BTreeMap::new(),
            };
            (st.revision, st.compacted, kvs)
        };
        let at = if req.revision == 0 { current } else { req.revision };
        if at > current {
            return Err(StoreError::FutureRevision { requested: at, current });
        }
        if at < current {
            if at < compacted {
                return Err(StoreError::Compacted { requested: at, compacted });
            }
            // Roll the current state back by undoing, newest first, every change after `at`.
            let events = self.inner.events_between(at + 1, current, "")?;
            for ev in events.iter().rev().filter(|ev| in_range(&ev.kv.key)) {
                match &ev.prev {
                    Some(prev) => kvs.insert(prev.key.clone(), prev.clone()),
                    None => kvs.remove(&ev.kv.key),
                };
            }
        }
        let mut kvs: Vec<KeyValue> = kvs.into_values().collect();
        let more = req.limit > 0 && kvs.len() > req.limit;
        if more {
            kvs.truncate(req.limit);
        }
        Ok(RangeResponse { kvs, more, revision: at })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        match self.submit(writer::Work::Txn(txn)).await? {
            writer::Done::Txn(resp) => Ok(resp),
            writer::Done::Compacted => Err(StoreError::Io("writer answered a transaction with a compaction".into())),
        }
    }

    async fn watch(&self, prefix: &str, start_revision: i64) -> Result<WatchStream, StoreError> {
        let mut rx = self.inner.revision.subscribe();
        let (current, compacted) = {
            let st = self.inner.read_state();
            (st.revision, st.compacted)
        };
        let start = if start_revision <= 0 { current + 1 } else { start_revision };
        if start < compacted {
            return Err(StoreError::Compacted { requested: start, compacted });
        }
        rx.mark_unchanged();
        let inner = self.inner.clone();
        let prefix = prefix.to_string();
        let stream = futures::stream::unfold(Some((start, rx)), move |state| {
            let inner = inner.clone();
            let prefix = prefix.clone();
            async move {
                let (mut next, mut rx) = state?;
                loop {
                    let latest = *rx.borrow_and_update();
                    if next <= latest {
                        let to = latest.min(next + WATCH_BATCH_REVISIONS - 1);
                        match inner.events_between(next, to, &prefix) {
                            Ok(evs) => {
                                next = to + 1;
                                if !evs.is_empty() {
                                    return Some((Ok(evs), Some((next, rx))));
                                }
                                continue;
                            }
                            // After an error the stream ends: the caller must re-list.
                            Err(e) => return Some((Err(e), None)),
                        }
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            }
        });
        Ok(WatchStream::new(stream))
    }

    async fn compact(&self, revision: i64) -> Result<(), StoreError> {
        self.submit(writer::Work::Compact(revision)).await.map(|_| ())
    }

    fn current_revision(&self) -> i64 {
        self.inner.read_state().revision
    }
}

#[cfg(test)]
mod tests;
