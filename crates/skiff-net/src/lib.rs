//! The pod network sandbox, usable alone (it knows nothing of Kubernetes).
//!
//! A [`Network`] owns a bridge (`skiff0`, gateway = first host address of the CIDR), an nftables table with the
//! egress masquerade, and a directory of state. Each [`Sandbox`] is a named network namespace (bind-mounted at
//! `STATE_DIR/netns/<id>`) holding `lo` and `eth0`, the pod end of a veth pair whose host end is a bridge port;
//! `eth0` has an address from the file-backed allocator ([`ipam`](crate::ipam)) and a default route via the gateway.
//!
//! Crash safety: the allocator and the sandbox records live in files, written before any kernel object is made and
//! removed after all of them are gone, so [`Network::setup`] after a `kill -9` can adopt what is intact and remove
//! what is not; [`Network::reconcile`] then removes the sandboxes the caller no longer wants.
//!
//! Netlink (`rtnetlink`) does every link, address and route change; namespaces are made with `unshare` and a bind
//! mount on a short-lived thread (see [`netns`](crate::netns)); nftables is driven with the `nftables` crate.
//!
//! State directory layout:
//! ```text
//! STATE_DIR/ips/<a.b.c.d>          allocated address; content = sandbox id
//! STATE_DIR/sandboxes/<id>.json    sandbox record (a serialized Sandbox)
//! STATE_DIR/netns/<id>             netns bind mount
//! ```

mod bridge;
mod error;
mod ipam;
mod link;
mod netns;
mod network;
mod nft;
mod state;
mod veth;

use std::net::Ipv4Addr;
use std::path::PathBuf;

pub use error::NetError;
pub use network::Network;
pub use nft::{FORWARD_CHAIN, POSTROUTING_CHAIN};
pub use veth::{host_veth_name, POD_IFNAME};

/// What a [`Network`] is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Bridge name, at most 15 characters (`skiff0`).
    pub bridge: String,
    /// The pod CIDR of this node (`10.244.0.0/24`); at most /30.
    pub cidr: ipnet::Ipv4Net,
    /// Where allocations, records and namespace mounts live (`DATA_DIR/net`).
    pub state_dir: PathBuf,
    /// Whether to masquerade pod traffic leaving through another interface than the bridge.
    pub masquerade: bool,
    /// The nftables table (family `ip`) holding our chains (`skiff`).
    pub nft_table: String,
}

impl NetConfig {
    /// A config with masquerading on and the table `skiff`.
    pub fn new(bridge: impl Into<String>, cidr: ipnet::Ipv4Net, state_dir: impl Into<PathBuf>) -> Self {
        NetConfig {
            bridge: bridge.into(),
            cidr,
            state_dir: state_dir.into(),
            masquerade: true,
            nft_table: "skiff".to_string(),
        }
    }
}

/// A pod's network sandbox as recorded on disk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sandbox {
    /// The caller's id (a pod UID, say).
    pub id: String,
    /// The namespace file to pass to `setns` / `nsenter --net=`.
    pub netns_path: PathBuf,
    /// `eth0`'s address.
    pub ip: Ipv4Addr,
    /// The default gateway (the bridge's address).
    pub gateway: Ipv4Addr,
    /// The prefix length of `ip` (the CIDR's).
    pub prefix_len: u8,
    /// The host end of the veth pair.
    pub host_veth: String,
}
