//! The single writer: group commit of queued transactions.
//!
//! Every mutation goes through this thread, which is what makes revisions gap-free and lets readers use the
//! in-memory state without locks held across I/O. A batch is evaluated in order against the committed state plus
//! the batch's own earlier writes, persisted in one redb transaction (one fsync for the whole batch), and only
//! after the commit is it published to memory, to watchers, and acknowledged.

use super::{codec, io, Inner, KV, LOG, META};
use crate::{Event, EventType, KeyValue, Op, OpResponse, StoreError, Txn, TxnResponse};
use bytes::Bytes;
use redb::ReadableTable;
use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Upper bound on transactions per group commit, so one huge burst cannot delay its first writers forever.
const MAX_BATCH: usize = 1024;

pub enum Work {
    Txn(Txn),
    Compact(i64),
}

pub enum Done {
    Txn(TxnResponse),
    Compacted,
}

pub struct Request {
    pub work: Work,
    pub reply: oneshot::Sender<Result<Done, StoreError>>,
}

pub fn run(inner: Arc<Inner>, rx: Receiver<Request>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut txns = Vec::new();
        for req in batch {
            match req.work {
                Work::Compact(rev) => {
                    let _ = req.reply.send(compact(&inner, rev).map(|_| Done::Compacted));
                }
                Work::Txn(t) => txns.push((t, req.reply)),
            }
        }
        if !txns.is_empty() {
            commit_batch(&inner, txns);
        }
    }
    tracing::debug!("store writer stopped");
}

fn commit_batch(inner: &Inner, txns: Vec<(Txn, oneshot::Sender<Result<Done, StoreError>>)>) {
    // Keys written by this batch: None = deleted.
    let mut overlay: BTreeMap<String, Option<KeyValue>> = BTreeMap::new();
    let mut log: Vec<(i64, Vec<Event>)> = Vec::new();
    let mut replies = Vec::with_capacity(txns.len());
    {
        let st = inner.read_state();
        let mut rev = st.revision;
        let lookup = |overlay: &BTreeMap<String, Option<KeyValue>>, key: &str| match overlay.get(key) {
            Some(v) => v.clone(),
            None => st.kv.get(key).cloned(),
        };
        for (txn, reply) in txns {
            let ok = txn.compares.iter().all(|c| c.holds(lookup(&overlay, &c.key).as_ref()));
            let ops = if ok { txn.success } else { txn.failure };
            let next = rev + 1;
            let mut events = Vec::new();
            let mut responses = Vec::with_capacity(ops.len());
            for op in ops {
                match op {
                    Op::Get(key) => responses.push(OpResponse::Get(lookup(&overlay, &key))),
                    Op::Put(key, value) => {
                        let prev = lookup(&overlay, &key);
                        let kv = KeyValue {
                            key: key.clone(),
                            value,
                            create_revision: prev.as_ref().map_or(next, |p| p.create_revision),
                            mod_revision: next,
                            version: prev.as_ref().map_or(1, |p| p.version + 1),
                        };
                        overlay.insert(key, Some(kv.clone()));
                        events.push(Event { kind: EventType::Put, kv: kv.clone(), prev: prev.clone() });
                        responses.push(OpResponse::Put { kv, prev });
                    }
                    Op::Delete(key) => {
                        let prev = lookup(&overlay, &key);
                        if let Some(p) = &prev {
                            overlay.insert(key.clone(), None);
                            let tomb = KeyValue {
                                key,
                                value: Bytes::new(),
                                create_revision: p.create_revision,
                                mod_revision: next,
                                version: 0,
                            };
                            events.push(Event { kind: EventType::Delete, kv: tomb, prev: prev.clone() });
                        }
                        responses.push(OpResponse::Delete { prev });
                    }
                }
            }
            // As in etcd, only a transaction that changed something consumes a revision.
            if !events.is_empty() {
                rev = next;
                log.push((rev, events));
            }
            replies.push((reply, TxnResponse { succeeded: ok, revision: rev, responses }));
        }
    }

    if !log.is_empty() {
        if let Err(e) = persist(inner, &overlay, &log) {
            tracing::error!(error = %e, "store commit failed; failing the batch");
            for (reply, _) in replies {
                let _ = reply.send(Err(StoreError::Io(e.to_string())));
            }
            return;
        }
        let new_rev = log.last().map_or(0, |(r, _)| *r);
        let mut st = inner.write_state();
        for (key, v) in overlay {
            match v {
                Some(kv) => st.kv.insert(key, kv),
                None => st.kv.remove(&key),
            };
        }
        st.history.push(log.into_iter().flat_map(|(_, evs)| evs));
        st.revision = new_rev;
        drop(st);
        inner.revision.send_replace(new_rev);
    }
    for (reply, resp) in replies {
        let _ = reply.send(Ok(Done::Txn(resp)));
    }
}

fn persist(
    inner: &Inner,
    overlay: &BTreeMap<String, Option<KeyValue>>,
    log: &[(i64, Vec<Event>)],
) -> Result<(), StoreError> {
    let wtx = inner.db.begin_write().map_err(io)?;
    {
        let mut kv = wtx.open_table(KV).map_err(io)?;
        let mut buf = Vec::new();
        for (key, v) in overlay {
            match v {
                Some(rec) => {
                    buf.clear();
                    codec::encode_kv(rec, &mut buf);
                    kv.insert(key.as_str(), buf.as_slice()).map_err(io)?;
                }
                None => {
                    kv.remove(key.as_str()).map_err(io)?;
                }
            }
        }
        let mut table = wtx.open_table(LOG).map_err(io)?;
        for (rev, events) in log {
            table.insert(*rev as u64, codec::encode_events(events).as_slice()).map_err(io)?;
        }
        let mut meta = wtx.open_table(META).map_err(io)?;
        if let Some((rev, _)) = log.last() {
            meta.insert("revision", *rev as u64).map_err(io)?;
        }
    }
    // Durability::Immediate (redb's default) fsyncs before commit returns.
    wtx.commit().map_err(io)
}

fn compact(inner: &Inner, rev: i64) -> Result<(), StoreError> {
    let (current, compacted) = {
        let st = inner.read_state();
        (st.revision, st.compacted)
    };
    if rev <= compacted {
        return Ok(());
    }
    if rev > current {
        return Err(StoreError::FutureRevision { requested: rev, current });
    }
    let wtx = inner.db.begin_write().map_err(io)?;
    {
        let mut log = wtx.open_table(LOG).map_err(io)?;
        let old: Vec<u64> = log
            .range(..rev as u64)
            .map_err(io)?
            .map(|e| e.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        for k in old {
            log.remove(k).map_err(io)?;
        }
        wtx.open_table(META).map_err(io)?.insert("compacted", rev as u64).map_err(io)?;
    }
    wtx.commit().map_err(io)?;
    let mut st = inner.write_state();
    st.compacted = rev;
    st.history.drop_before(rev);
    tracing::debug!(revision = rev, "store compacted");
    Ok(())
}
