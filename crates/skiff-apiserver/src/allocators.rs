//! Service address allocation: cluster IPs from 10.96.0.0/12 and node ports from 30000–32767.
//!
//! Each allocated value is a key in the store (`/registry/ranges/serviceips/<ip>`), claimed with a
//! create-if-absent transaction, so concurrent creates never hand out the same address, even across API server
//! replicas sharing a store. A value is released when its Service is deleted.

use crate::errors::{ApiError, ApiResult};
use bytes::Bytes;
use rand::Rng;
use skiff_store::{Compare, Op, Store, Txn};
use std::net::Ipv4Addr;

const IP_PREFIX: &str = "/registry/ranges/serviceips/";
const PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";
/// 10.96.0.0/12.
const CIDR_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const CIDR_SIZE: u32 = 1 << 20;
pub const NODE_PORTS: std::ops::RangeInclusive<u32> = 30000..=32767;
/// The API server's own Service address.
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

async fn claim(store: &dyn Store, key: String, owner: &str) -> ApiResult<bool> {
    let txn = Txn {
        compares: vec![Compare::absent(&key)],
        success: vec![Op::Put(key, Bytes::from(owner.to_string()))],
        failure: vec![],
    };
    Ok(store.txn(txn).await?.succeeded)
}

/// Claims a specific cluster IP (a Service that asks for one); `false` if it is taken.
pub async fn claim_ip(store: &dyn Store, ip: &str, owner: &str) -> ApiResult<bool> {
    claim(store, format!("{IP_PREFIX}{ip}"), owner).await
}

/// Allocates a free cluster IP, avoiding the network and broadcast addresses and the first ten hosts, which are
/// kept for well-known Services (10.96.0.1 the API server, 10.96.0.10 cluster DNS, as kubeadm does).
pub async fn allocate_ip(store: &dyn Store, owner: &str) -> ApiResult<String> {
    let start = rand::thread_rng().gen_range(11..CIDR_SIZE - 1);
    for i in 0..CIDR_SIZE {
        let offset = (start + i) % CIDR_SIZE;
        if offset < 11 || offset == CIDR_SIZE - 1 {
            continue;
        }
        let ip = Ipv4Addr::from(CIDR_BASE + offset).to_string();
        if claim_ip(store, &ip, owner).await? {
            return Ok(ip);
        }
    }
    Err(ApiError::Internal("failed to allocate a service IP: range is full".into()))
}

pub async fn claim_node_port(store: &dyn Store, port: u32, owner: &str) -> ApiResult<bool> {
    claim(store, format!("{PORT_PREFIX}{port}"), owner).await
}

pub async fn allocate_node_port(store: &dyn Store, owner: &str) -> ApiResult<u32> {
    let size = NODE_PORTS.end() - NODE_PORTS.start() + 1;
    let start = rand::thread_rng().gen_range(0..size);
    for i in 0..size {
        let port = NODE_PORTS.start() + (start + i) % size;
        if claim_node_port(store, port, owner).await? {
            return Ok(port);
        }
    }
    Err(ApiError::Internal("failed to allocate a node port: range is full".into()))
}

/// Releases whatever a deleted Service held.
pub async fn release(store: &dyn Store, ips: &[String], node_ports: &[u32]) -> ApiResult<()> {
    let mut ops: Vec<Op> =
        ips.iter().filter(|ip| *ip != "None").map(|ip| Op::Delete(format!("{IP_PREFIX}{ip}"))).collect();
    ops.extend(node_ports.iter().map(|p| Op::Delete(format!("{PORT_PREFIX}{p}"))));
    if !ops.is_empty() {
        store.txn(Txn { compares: vec![], success: ops, failure: vec![] }).await?;
    }
    Ok(())
}
