//! Integration tests of the network sandbox; they need root (they skip otherwise) and make real bridges,
//! namespaces, veths and nftables tables, each test its own.

mod common;

use std::time::Duration;

use common::{in_ns, is_mount, is_root, link_exists, ping_from, sh, TestNet};
use skiff_net::{Network, POSTROUTING_CHAIN};

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sandboxes_reach_each_other_and_the_host() {
    require_root!();
    let t = TestNet::new();
    let net = t.setup().await;
    let a = net.create_sandbox("pod-a").await.expect("create a");
    let b = net.create_sandbox("pod-b").await.expect("create b");

    assert_ne!(a.ip, b.ip);
    for sb in [&a, &b] {
        assert!(t.cfg.cidr.contains(&sb.ip));
        assert_ne!(sb.ip, net.gateway());
        assert_eq!(sb.gateway.to_string(), t.ip(1));
        assert!(sb.host_veth.len() <= 15);
        assert!(is_mount(&sb.netns_path));
        t.assert_configured(sb);
        let (_, master) = sh(&["ip", "-o", "link", "show", "dev", &sb.host_veth]);
        assert!(master.contains(&format!("master {}", t.cfg.bridge)), "{master}");
    }
    assert!(ping_from(&a.netns_path, &b.ip.to_string()), "a cannot reach b");
    assert!(ping_from(&b.netns_path, &a.ip.to_string()), "b cannot reach a");
    assert!(ping_from(&a.netns_path, &t.ip(1)), "a cannot reach the gateway");
    assert!((0..3).any(|_| sh(&["ping", "-c1", "-W1", &a.ip.to_string()]).0), "host cannot reach a");

    // Idempotent: the same id gives the same sandbox.
    assert_eq!(net.create_sandbox("pod-a").await.expect("create a again"), a);
    assert_eq!(net.sandboxes(), vec![a.clone(), b.clone()]);

    net.remove_sandbox("pod-a").await.expect("remove a");
    net.remove_sandbox("pod-b").await.expect("remove b");
    net.teardown().await.expect("teardown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_leaves_nothing_and_frees_the_ip() {
    require_root!();
    let t = TestNet::new();
    let net = t.setup().await;
    let a = net.create_sandbox("a").await.expect("create a");
    let b = net.create_sandbox("b").await.expect("create b");

    net.remove_sandbox("a").await.expect("remove a");
    assert!(!link_exists(&a.host_veth), "veth {} left", a.host_veth);
    assert!(!is_mount(&a.netns_path), "netns still mounted");
    assert!(!a.netns_path.exists(), "netns file left");
    assert!(!t.state_dir().join("ips").join(a.ip.to_string()).exists(), "IP still allocated");
    assert!(!t.state_dir().join("sandboxes/a.json").exists(), "record left");
    assert_eq!(net.sandboxes(), vec![b.clone()]);
    net.remove_sandbox("a").await.expect("remove a twice");

    // b is untouched, and the freed address is handed out again.
    t.assert_configured(&b);
    let c = net.create_sandbox("c").await.expect("create c");
    assert_eq!(c.ip, a.ip);
    assert!(ping_from(&c.netns_path, &b.ip.to_string()), "c (reusing a's IP) cannot reach b");

    assert!(net.create_sandbox("../x").await.is_err(), "bad id accepted");

    net.remove_sandbox("b").await.expect("remove b");
    net.remove_sandbox("c").await.expect("remove c");
    let (_, ports) = sh(&["ip", "-o", "link", "show", "master", &t.cfg.bridge]);
    assert!(ports.trim().is_empty(), "ports left: {ports}");
    net.teardown().await.expect("teardown");
    assert!(!link_exists(&t.cfg.bridge));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_adopts_intact_sandboxes_and_cleans_the_rest() {
    require_root!();
    let t = TestNet::new();
    let net = t.setup().await;
    let a = net.create_sandbox("a").await.expect("create a");
    let b = net.create_sandbox("b").await.expect("create b");
    let c = net.create_sandbox("c").await.expect("create c");
    let d = net.create_sandbox("d").await.expect("create d");
    drop(net); // a "crash": nothing removed

    // Leftovers of a crash mid-create: an address with no record, a namespace file with no record,
    // and d broken (its veth is gone).
    let ips = t.state_dir().join("ips");
    std::fs::write(ips.join(t.ip(200)), "ghost").expect("orphan ip");
    std::fs::write(ips.join(t.ip(201)), "").expect("empty ip");
    std::fs::write(t.state_dir().join("netns/ghost"), "").expect("orphan netns");
    assert!(sh(&["ip", "link", "del", &d.host_veth]).0);

    let net = t.setup().await;
    assert_eq!(net.sandboxes(), vec![a.clone(), b.clone(), c.clone()], "d should have been removed as broken");
    assert!(!ips.join(t.ip(200)).exists() && !ips.join(t.ip(201)).exists(), "orphan IPs kept");
    assert!(!t.state_dir().join("netns/ghost").exists(), "orphan netns kept");
    assert!(!d.netns_path.exists() && !is_mount(&d.netns_path), "d's netns kept");

    // The caller's truth: only a and c should exist.
    let removed = net.reconcile(&["a", "c"]).await.expect("reconcile");
    assert_eq!(removed, vec!["b".to_string()]);
    assert!(!link_exists(&b.host_veth) && !is_mount(&b.netns_path) && !b.netns_path.exists());
    assert!(!ips.join(b.ip.to_string()).exists());

    // Adopted: same sandbox back, still configured and connected.
    assert_eq!(net.create_sandbox("a").await.expect("adopt a"), a);
    t.assert_configured(&a);
    t.assert_configured(&c);
    assert!(ping_from(&a.netns_path, &c.ip.to_string()));

    // A broken namespace is rebuilt by create_sandbox.
    assert!(sh(&["umount", "-l", &c.netns_path.display().to_string()]).0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c2 = net.create_sandbox("c").await.expect("rebuild c");
    t.assert_configured(&c2);
    assert!(ping_from(&c2.netns_path, &a.ip.to_string()));

    assert_eq!(net.reconcile(&[]).await.expect("reconcile all"), vec!["a".to_string(), "c".to_string()]);
    assert!(net.sandboxes().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(&ips).expect("ips").collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    net.teardown().await.expect("teardown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_removes_table_and_bridge() {
    require_root!();
    let t = TestNet::new();
    let net = t.setup().await;
    assert!(t.nft_table_exists());
    assert!(link_exists(&t.cfg.bridge));
    let (_, addr) = sh(&["ip", "-o", "-4", "addr", "show", "dev", &t.cfg.bridge]);
    assert!(addr.contains(&format!("inet {}/24", t.ip(1))), "{addr}");
    drop(net);

    // Setup is idempotent (adopts the bridge, refreshes the table without duplicating rules).
    let net = t.setup().await;
    let (_, rules) = sh(&["nft", "list", "table", "ip", &t.cfg.nft_table]);
    assert_eq!(rules.matches("masquerade").count(), 1, "{rules}");

    // With a sandbox left, the bridge stays.
    let a = net.create_sandbox("a").await.expect("create");
    net.teardown().await.expect("teardown with a sandbox");
    assert!(!t.nft_table_exists());
    assert!(link_exists(&t.cfg.bridge));

    let net = t.setup().await;
    net.remove_sandbox(&a.id).await.expect("remove");
    net.teardown().await.expect("teardown");
    assert!(!t.nft_table_exists(), "table left");
    assert!(!link_exists(&t.cfg.bridge), "bridge left");
    // Teardown of what is already gone is fine.
    Network::setup(t.cfg.clone()).await.expect("setup").teardown().await.expect("teardown again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masquerade_rule_is_installed_for_the_cidr() {
    require_root!();
    let t = TestNet::new();
    let net = t.setup().await;
    let (ok, json) = sh(&["nft", "-j", "list", "table", "ip", &t.cfg.nft_table]);
    assert!(ok, "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("nft json");
    let rules: Vec<&serde_json::Value> = doc["nftables"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["chain"] == POSTROUTING_CHAIN)
        .collect();
    assert_eq!(rules.len(), 1, "{json}");
    let expr = rules[0]["expr"].as_array().expect("expr");
    assert!(expr.iter().any(|e| e.get("masquerade").is_some()), "{json}");
    let cidr_match = expr.iter().any(|e| {
        e["match"]["left"]["payload"]["field"] == "saddr"
            && e["match"]["right"]["prefix"]["addr"] == format!("10.250.{}.0", t.subnet)
            && e["match"]["right"]["prefix"]["len"] == 24
    });
    assert!(cidr_match, "{json}");
    let oif = expr.iter().any(|e| {
        e["match"]["left"]["meta"]["key"] == "oifname"
            && e["match"]["op"] == "!="
            && e["match"]["right"] == t.cfg.bridge
    });
    assert!(oif, "{json}");
    let (_, text) = sh(&["nft", "list", "chain", "ip", &t.cfg.nft_table, skiff_net::FORWARD_CHAIN]);
    assert!(text.contains(&format!("iifname \"{}\" accept", t.cfg.bridge)), "{text}");
    drop(net);

    // masquerade: false drops the rule.
    let mut cfg = t.cfg.clone();
    cfg.masquerade = false;
    let net = Network::setup(cfg).await.expect("setup without masquerade");
    let (_, text) = sh(&["nft", "list", "table", "ip", &t.cfg.nft_table]);
    assert!(!text.contains("masquerade"), "{text}");
    net.teardown().await.expect("teardown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_get_distinct_ips() {
    require_root!();
    let t = TestNet::new();
    let net = std::sync::Arc::new(t.setup().await);
    let ids: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    let mut tasks = Vec::new();
    for id in ids.iter().cloned().chain(ids.iter().cloned()) {
        let net = net.clone();
        tasks.push(tokio::spawn(async move { net.create_sandbox(&id).await }));
    }
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.expect("join").expect("create"));
    }
    let ips: std::collections::HashSet<_> = net.sandboxes().iter().map(|s| s.ip).collect();
    assert_eq!(ips.len(), 8);
    for sb in &got {
        t.assert_configured(sb);
        assert_eq!(net.sandbox(&sb.id).expect("read").as_ref(), Some(sb), "two creates of one id disagree");
    }
    let (_, eth) = in_ns(&got[0].netns_path, &["ip", "-o", "link"]);
    assert_eq!(eth.lines().count(), 2, "{eth}");
    for id in &ids {
        net.remove_sandbox(id).await.expect("remove");
    }
    let net = std::sync::Arc::try_unwrap(net).expect("sole owner");
    net.teardown().await.expect("teardown");
}
