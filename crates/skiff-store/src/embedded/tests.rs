use super::*;
use crate::{Compare, EventType, Op, OpResponse, StoreExt};
use bytes::Bytes;
use futures::StreamExt;

fn put(key: &str, v: &str) -> Txn {
    Txn { success: vec![Op::Put(key.into(), Bytes::from(v.to_string()))], ..Default::default() }
}

fn create(key: &str, v: &str) -> Txn {
    Txn {
        compares: vec![Compare::absent(key)],
        success: vec![Op::Put(key.into(), Bytes::from(v.to_string()))],
        failure: vec![Op::Get(key.into())],
    }
}

#[tokio::test]
async fn writes_get_increasing_revisions_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(s.txn(put("/a", "1")).await.unwrap().revision, 1);
    assert_eq!(s.txn(put("/a", "2")).await.unwrap().revision, 2);
    let kv = s.get("/a").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (1, 2, 2));
    assert_eq!(&kv.value[..], b"2");
}

#[tokio::test]
async fn compare_and_swap_fails_on_stale_revision() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert!(s.txn(create("/a", "1")).await.unwrap().succeeded);
    let again = s.txn(create("/a", "x")).await.unwrap();
    assert!(!again.succeeded);
    assert!(matches!(&again.responses[0], OpResponse::Get(Some(kv)) if &kv.value[..] == b"1"));
    let stale = Txn {
        compares: vec![Compare::mod_revision_is("/a", 7)],
        success: vec![Op::Delete("/a".into())],
        failure: vec![],
    };
    assert!(!s.txn(stale).await.unwrap().succeeded);
    assert_eq!(s.current_revision(), 1, "a failed transaction consumes no revision");
}

#[tokio::test]
async fn prefix_range_honours_limit_and_old_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    for k in ["/p/a", "/p/b", "/p/c", "/q/a"] {
        s.txn(put(k, "1")).await.unwrap();
    }
    let mut req = RangeRequest::prefix("/p/");
    req.limit = 2;
    let r = s.range(req).await.unwrap();
    assert_eq!(r.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/p/a", "/p/b"]);
    assert!(r.more);

    s.txn(Txn { success: vec![Op::Delete("/p/a".into())], ..Default::default() }).await.unwrap();
    s.txn(put("/p/b", "2")).await.unwrap();
    let mut old = RangeRequest::prefix("/p/");
    old.revision = 2;
    let r = s.range(old).await.unwrap();
    let got: Vec<_> = r.kvs.iter().map(|kv| (kv.key.as_str(), &kv.value[..])).collect();
    assert_eq!(got, [("/p/a", &b"1"[..]), ("/p/b", &b"1"[..])]);
}

#[tokio::test]
async fn watch_replays_history_then_follows_live_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    s.txn(put("/w/a", "1")).await.unwrap();
    s.txn(put("/other", "1")).await.unwrap();
    let mut w = s.watch("/w/", 1).await.unwrap();
    let first = w.next().await.unwrap().unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].kv.key, "/w/a");
    s.txn(Txn { success: vec![Op::Delete("/w/a".into())], ..Default::default() }).await.unwrap();
    let second = w.next().await.unwrap().unwrap();
    assert_eq!(second[0].kind, EventType::Delete);
    assert_eq!(second[0].revision(), 3);
    assert_eq!(&second[0].prev.as_ref().unwrap().value[..], b"1");
}

#[tokio::test]
async fn compacted_history_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    for i in 0..5 {
        s.txn(put("/a", &i.to_string())).await.unwrap();
    }
    s.compact(4).await.unwrap();
    assert!(matches!(s.watch("/", 2).await, Err(StoreError::Compacted { .. })));
    let mut req = RangeRequest::key("/a");
    req.revision = 3;
    assert!(matches!(s.range(req).await, Err(StoreError::Compacted { .. })));
    let mut w = s.watch("/", 4).await.unwrap();
    assert_eq!(w.next().await.unwrap().unwrap().len(), 2);
}

#[tokio::test]
async fn state_and_history_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        s.txn(put("/a", "1")).await.unwrap();
        s.txn(put("/b", "1")).await.unwrap();
        s.txn(put("/a", "2")).await.unwrap();
    }
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(s.current_revision(), 3);
    assert_eq!(s.get("/a").await.unwrap().unwrap().version, 2);
    let mut w = s.watch("/a", 1).await.unwrap();
    let evs = w.next().await.unwrap().unwrap();
    assert_eq!(evs.iter().map(|e| e.revision()).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(s.txn(put("/c", "1")).await.unwrap().revision, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_all_land_with_distinct_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.txn(create(&format!("/k/{i}"), "v")).await.unwrap().revision }));
    }
    let mut revs = Vec::new();
    for t in tasks {
        revs.push(t.await.unwrap());
    }
    revs.sort();
    revs.dedup();
    assert_eq!(revs.len(), 200);
    assert_eq!(s.range(RangeRequest::prefix("/k/")).await.unwrap().kvs.len(), 200);
}
