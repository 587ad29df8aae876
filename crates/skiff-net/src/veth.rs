//! The veth pair of a sandbox: the host side (named from the sandbox id) is a port of the bridge, the pod side is
//! created directly inside the pod's namespace as `eth0` (one netlink request: `IFLA_NET_NS_FD` in the peer), then
//! given its address and a default route via the gateway from a netlink socket opened inside that namespace.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tracing::debug;

use crate::error::{errno, NetError};
use crate::{link, netns};

/// The pod side's name.
pub const POD_IFNAME: &str = "eth0";
/// Prefix of host-side veth names.
pub(crate) const HOST_PREFIX: &str = "vsk";

/// The host-side name for sandbox `id` on bridge `bridge`: `vsk` + 12 hex digits of a 64-bit FNV-1a hash of
/// `bridge` and `id` — 15 characters, the kernel's limit, stable across restarts.
pub fn host_veth_name(bridge: &str, id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bridge.bytes().chain([0u8]).chain(id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{HOST_PREFIX}{:012x}", h >> 16)
}

/// Creates the pair: `host` on the bridge (up, `mtu`), `eth0` (`mtu`, down) inside the namespace at `netns_path`.
/// (The kernel refuses to bring the peer up in the same request when it goes to another namespace: `ENOTCONN`.)
pub(crate) async fn create(
    handle: &Handle,
    host: &str,
    bridge_index: u32,
    mtu: u32,
    netns_path: &Path,
) -> Result<(), NetError> {
    let ns = netns::open(netns_path)?;
    let peer = LinkUnspec::new_with_name(POD_IFNAME).mtu(mtu).setns_by_fd(ns.as_raw_fd()).build();
    let msg = LinkVeth::new(host, POD_IFNAME)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .mtu(mtu)
        .controller(bridge_index)
        .up()
        .build();
    handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(NetError::netlink("add veth", format!("{host} (peer {POD_IFNAME} in {})", netns_path.display())))?;
    drop(ns);
    debug!(host, netns = %netns_path.display(), "created veth pair");
    Ok(())
}

/// Inside the pod namespace (`ns` is a handle opened there): `lo` up, `ip/prefix_len` on `eth0`, default route
/// via `gateway`.
pub(crate) async fn configure_pod(
    ns: &Handle,
    ip: Ipv4Addr,
    prefix_len: u8,
    gateway: Ipv4Addr,
) -> Result<(), NetError> {
    // `lo` is always index 1 in a fresh namespace, but look it up rather than assume.
    let lo = link::by_name(ns, "lo").await?.ok_or_else(|| NetError::LinkNotFound("lo (pod netns)".into()))?;
    if !lo.up {
        ns.link()
            .set(LinkUnspec::new_with_index(lo.index).up().build())
            .execute()
            .await
            .map_err(NetError::netlink("set up", "lo"))?;
    }
    let eth0 = link::by_name(ns, POD_IFNAME).await?.ok_or_else(|| NetError::LinkNotFound(POD_IFNAME.into()))?;
    // Address first, then up: bringing eth0 up sends the gratuitous ARP (arp_notify) for it.
    match ns.address().add(eth0.index, IpAddr::V4(ip), prefix_len).execute().await {
        Ok(()) => {}
        Err(e) if errno(&e) == Some(libc::EEXIST) => {}
        Err(e) => return Err(NetError::netlink("add address to", format!("{POD_IFNAME} {ip}/{prefix_len}"))(e)),
    }
    if !eth0.up {
        ns.link()
            .set(LinkUnspec::new_with_index(eth0.index).up().build())
            .execute()
            .await
            .map_err(NetError::netlink("set up", POD_IFNAME))?;
    }
    let route = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gateway).output_interface(eth0.index).build();
    match ns.route().add(route).execute().await {
        Ok(()) => {}
        Err(e) if errno(&e) == Some(libc::EEXIST) => {}
        Err(e) => return Err(NetError::netlink("add default route via", gateway.to_string())(e)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_fit_and_differ() {
        let a = host_veth_name("skiff0", "0b8a5f0e-6d7c-4f2e-9a55-3f1d2c4b5a69");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with(HOST_PREFIX));
        assert_eq!(a, host_veth_name("skiff0", "0b8a5f0e-6d7c-4f2e-9a55-3f1d2c4b5a69"));
        assert_ne!(a, host_veth_name("skiff1", "0b8a5f0e-6d7c-4f2e-9a55-3f1d2c4b5a69"));
        assert_ne!(a, host_veth_name("skiff0", "0b8a5f0e-6d7c-4f2e-9a55-3f1d2c4b5a6a"));
    }
}
