//! Request, response and event types of the store contract, mirroring etcd's v3 messages.

use bytes::Bytes;
use futures::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One key's value at some revision, with etcd's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created this incarnation of the key.
    pub create_revision: i64,
    /// Revision of the last write to the key.
    pub mod_revision: i64,
    /// Number of writes since creation (1 on create).
    pub version: i64,
}

#[derive(Clone, Debug, Default)]
pub struct RangeRequest {
    /// A single key, or the start of a range when `range_end` is set.
    pub key: String,
    /// Exclusive end of the range; `None` reads just `key`.
    pub range_end: Option<String>,
    /// Read at this revision; 0 means the latest.
    pub revision: i64,
    /// At most this many keys (0 = no limit); `more` tells whether keys were left out.
    pub limit: usize,
}

impl RangeRequest {
    pub fn key(key: &str) -> Self {
        RangeRequest { key: key.to_string(), ..Default::default() }
    }

    /// Every key starting with `prefix`.
    pub fn prefix(prefix: &str) -> Self {
        RangeRequest { key: prefix.to_string(), range_end: Some(prefix_end(prefix)), ..Default::default() }
    }
}

/// The smallest key greater than every key with this prefix (etcd's `clientv3.GetPrefixRangeEnd`).
///
/// Keys here are UTF-8 and our prefixes end in `/`, so bumping the last char never overflows in practice; a
/// prefix of all `char::MAX` maps to the end of the keyspace.
pub fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        if let Some(next) = char::from_u32(c as u32 + 1) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    // An empty end means "to the end of the keyspace".
    "\u{10FFFF}\u{10FFFF}".to_string()
}

#[derive(Clone, Debug, Default)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// True when `limit` cut the result short.
    pub more: bool,
    /// The revision the read was served at.
    pub revision: i64,
}

/// A condition of a transaction, on one key's bookkeeping.
#[derive(Clone, Debug)]
pub struct Compare {
    pub key: String,
    pub target: CompareTarget,
    pub result: CompareResult,
}

#[derive(Clone, Copy, Debug)]
pub enum CompareTarget {
    /// A missing key has mod revision 0.
    ModRevision(i64),
    /// A missing key has create revision 0.
    CreateRevision(i64),
    /// A missing key has version 0.
    Version(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareResult {
    Equal,
    NotEqual,
    Less,
    Greater,
}

impl Compare {
    /// "The key does not exist" — etcd's `CreateRevision(key) = 0`.
    pub fn absent(key: &str) -> Self {
        Compare { key: key.to_string(), target: CompareTarget::CreateRevision(0), result: CompareResult::Equal }
    }

    /// "The key was last modified at exactly `rev`" — optimistic concurrency.
    pub fn mod_revision_is(key: &str, rev: i64) -> Self {
        Compare { key: key.to_string(), target: CompareTarget::ModRevision(rev), result: CompareResult::Equal }
    }

    /// Evaluates the condition against the key's current state.
    pub fn holds(&self, current: Option<&KeyValue>) -> bool {
        let (actual, wanted) = match self.target {
            CompareTarget::ModRevision(r) => (current.map_or(0, |kv| kv.mod_revision), r),
            CompareTarget::CreateRevision(r) => (current.map_or(0, |kv| kv.create_revision), r),
            CompareTarget::Version(r) => (current.map_or(0, |kv| kv.version), r),
        };
        match self.result {
            CompareResult::Equal => actual == wanted,
            CompareResult::NotEqual => actual != wanted,
            CompareResult::Less => actual < wanted,
            CompareResult::Greater => actual > wanted,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Get(String),
    Put(String, Bytes),
    Delete(String),
}

#[derive(Clone, Debug, Default)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

#[derive(Clone, Debug)]
pub enum OpResponse {
    Get(Option<KeyValue>),
    /// The new value, and the previous one if the key existed.
    Put {
        kv: KeyValue,
        prev: Option<KeyValue>,
    },
    /// The deleted value, if the key existed.
    Delete {
        prev: Option<KeyValue>,
    },
}

#[derive(Clone, Debug)]
pub struct TxnResponse {
    pub succeeded: bool,
    /// The store revision after the transaction.
    pub revision: i64,
    pub responses: Vec<OpResponse>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Put,
    Delete,
}

/// One change, as a watch delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    /// For puts, the new value. For deletes, the key with the deletion revision as `mod_revision` and an empty value.
    pub kv: KeyValue,
    /// The value before this change, if the key existed.
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("required revision {requested} has been compacted (oldest available is {compacted})")]
    Compacted { requested: i64, compacted: i64 },
    #[error("required revision {requested} is a future revision (current is {current})")]
    FutureRevision { requested: i64, current: i64 },
    #[error("store I/O failed: {0}")]
    Io(String),
    #[error("store is shut down")]
    Closed,
    #[error("corrupt store record for {what}: {detail}")]
    Corrupt { what: String, detail: String },
}

/// A stream of change batches; each batch holds the events of one or more revisions, in order.
/// Ends with an error (`Compacted`) if the watcher fell behind compaction, or `None` when the store shut down.
pub struct WatchStream {
    inner: Pin<Box<dyn Stream<Item = Result<Vec<Event>, StoreError>> + Send>>,
}

impl WatchStream {
    pub fn new(s: impl Stream<Item = Result<Vec<Event>, StoreError>> + Send + 'static) -> Self {
        WatchStream { inner: Box::pin(s) }
    }
}

impl Stream for WatchStream {
    type Item = Result<Vec<Event>, StoreError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
