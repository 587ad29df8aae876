//! The node bridge: created (or adopted) with the gateway address, brought up; IPv4 forwarding switched on.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::InfoKind;
use rtnetlink::{Handle, LinkBridge, LinkUnspec};
use tracing::{debug, info};

use crate::error::{errno, NetError};
use crate::link::{self, Link};

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Makes sure the bridge `name` exists, carries `gateway/prefix_len` and is up; returns it.
pub(crate) async fn ensure(handle: &Handle, name: &str, gateway: Ipv4Addr, prefix_len: u8) -> Result<Link, NetError> {
    let bridge = match link::by_name(handle, name).await? {
        Some(l) => {
            if l.kind != Some(InfoKind::Bridge) {
                return Err(NetError::NotABridge(name.to_string()));
            }
            debug!(bridge = name, "adopting existing bridge");
            l
        }
        None => {
            match handle.link().add(LinkBridge::new(name).build()).execute().await {
                Ok(()) => info!(bridge = name, "created bridge"),
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(NetError::netlink("add bridge", name)(e)),
            }
            link::by_name(handle, name).await?.ok_or_else(|| NetError::LinkNotFound(name.to_string()))?
        }
    };

    let addrs: Vec<_> = handle
        .address()
        .get()
        .set_link_index_filter(bridge.index)
        .execute()
        .try_collect()
        .await
        .map_err(NetError::netlink("list addresses of", name))?;
    let has_gateway = addrs.iter().any(|m| {
        m.header.prefix_len == prefix_len
            && m.attributes.iter().any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(ip)) if *ip == gateway))
    });
    if !has_gateway {
        match handle.address().add(bridge.index, IpAddr::V4(gateway), prefix_len).execute().await {
            Ok(()) => info!(bridge = name, %gateway, prefix_len, "added gateway address"),
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(NetError::netlink("add address to", format!("{name} {gateway}/{prefix_len}"))(e)),
        }
    }
    if !bridge.up {
        handle
            .link()
            .set(LinkUnspec::new_with_index(bridge.index).up().build())
            .execute()
            .await
            .map_err(NetError::netlink("set up", name))?;
    }
    Ok(bridge)
}

/// Turns on IPv4 forwarding (if it is not already).
pub(crate) fn enable_forwarding() -> Result<(), NetError> {
    let current = std::fs::read_to_string(IP_FORWARD).map_err(NetError::io("read", IP_FORWARD))?;
    if current.trim() != "1" {
        std::fs::write(IP_FORWARD, "1").map_err(NetError::io("write", IP_FORWARD))?;
        info!("enabled IPv4 forwarding");
    }
    Ok(())
}

/// Deletes the bridge; a missing one is fine.
pub(crate) async fn delete(handle: &Handle, name: &str) -> Result<(), NetError> {
    if link::delete_by_name(handle, name).await? {
        info!(bridge = name, "deleted bridge");
    }
    Ok(())
}
