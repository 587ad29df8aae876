//! Binary encoding of key records and revision-log records on disk.
//!
//! Hand-rolled because the records are tiny and fixed-shape: little-endian integers and length-prefixed bytes.
//! Decoding never trusts lengths: a truncated or corrupt record is an error, not a panic.

use crate::{Event, EventType, KeyValue, StoreError};
use bytes::Bytes;

pub fn encode_kv(kv: &KeyValue, out: &mut Vec<u8>) {
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    out.extend_from_slice(&kv.value);
}

pub fn decode_kv(key: &str, buf: &[u8]) -> Result<KeyValue, StoreError> {
    let mut r = Reader { buf, what: key };
    Ok(KeyValue {
        key: key.to_string(),
        create_revision: r.i64()?,
        mod_revision: r.i64()?,
        version: r.i64()?,
        value: Bytes::copy_from_slice(r.rest()),
    })
}

pub fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for ev in events {
        out.push(match ev.kind {
            EventType::Put => 0,
            EventType::Delete => 1,
        });
        put_bytes(&mut out, ev.kv.key.as_bytes());
        put_kv_fields(&mut out, &ev.kv);
        match &ev.prev {
            None => out.push(0),
            Some(prev) => {
                out.push(1);
                put_kv_fields(&mut out, prev);
            }
        }
    }
    out
}

pub fn decode_events(rev: u64, buf: &[u8]) -> Result<Vec<Event>, StoreError> {
    let what = format!("revision {rev}");
    let mut r = Reader { buf, what: &what };
    let mut events = Vec::new();
    while !r.buf.is_empty() {
        let kind = match r.u8()? {
            0 => EventType::Put,
            1 => EventType::Delete,
            other => return Err(r.corrupt(format!("unknown event kind {other}"))),
        };
        let key = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| r.corrupt("key is not UTF-8".into()))?;
        let kv = r.kv_fields(&key)?;
        let prev = match r.u8()? {
            0 => None,
            _ => Some(r.kv_fields(&key)?),
        };
        events.push(Event { kind, kv, prev });
    }
    Ok(events)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_kv_fields(out: &mut Vec<u8>, kv: &KeyValue) {
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    put_bytes(out, &kv.value);
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'a str,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt { what: self.what.to_string(), detail }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.buf.len() < n {
            return Err(self.corrupt(format!("truncated: wanted {n} bytes, {} left", self.buf.len())));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        self.take(u32::from_le_bytes(a) as usize)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn kv_fields(&mut self, key: &str) -> Result<KeyValue, StoreError> {
        Ok(KeyValue {
            key: key.to_string(),
            create_revision: self.i64()?,
            mod_revision: self.i64()?,
            version: self.i64()?,
            value: Bytes::copy_from_slice(self.bytes()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, rev: i64) -> KeyValue {
        KeyValue { key: key.into(), value: Bytes::from_static(b"v"), create_revision: 1, mod_revision: rev, version: 2 }
    }

    #[test]
    fn events_round_trip() {
        let evs = vec![
            Event { kind: EventType::Put, kv: kv("/a", 5), prev: Some(kv("/a", 4)) },
            Event { kind: EventType::Delete, kv: kv("/b", 5), prev: None },
        ];
        assert_eq!(decode_events(5, &encode_events(&evs)).unwrap(), evs);
    }

    #[test]
    fn truncated_record_is_an_error_not_a_panic() {
        let evs = vec![Event { kind: EventType::Put, kv: kv("/a", 5), prev: None }];
        let buf = encode_events(&evs);
        for cut in 0..buf.len() - 1 {
            assert!(decode_events(5, &buf[..cut + 1]).is_err() || cut + 1 == buf.len());
        }
    }
}
