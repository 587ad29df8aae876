//! Small rtnetlink helpers shared by the bridge and veth code: look a link up, read its attributes, delete it.

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::Handle;

use crate::error::{errno, NetError};

/// What we need to know about a link.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) index: u32,
    pub(crate) name: String,
    pub(crate) mtu: Option<u32>,
    pub(crate) controller: Option<u32>,
    pub(crate) kind: Option<InfoKind>,
    pub(crate) up: bool,
}

impl Link {
    fn from_message(msg: &LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mtu: None,
            controller: None,
            kind: None,
            up: msg.header.flags.contains(LinkFlags::Up),
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(m) => link.mtu = Some(*m),
                LinkAttribute::Controller(c) => link.controller = Some(*c),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            link.kind = Some(k.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// The link called `name`, or `None` if there is none.
pub(crate) async fn by_name(handle: &Handle, name: &str) -> Result<Option<Link>, NetError> {
    let mut stream = handle.link().get().match_name(name.to_string()).execute();
    match stream.try_next().await {
        Ok(Some(msg)) => Ok(Some(Link::from_message(&msg))),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(NetError::netlink("get link", name)(e)),
    }
}

/// Every link of the namespace.
pub(crate) async fn all(handle: &Handle) -> Result<Vec<Link>, NetError> {
    let msgs: Vec<LinkMessage> =
        handle.link().get().execute().try_collect().await.map_err(NetError::netlink("list links", "all"))?;
    Ok(msgs.iter().map(Link::from_message).collect())
}

/// Deletes the link called `name`; a missing link is fine. Returns whether one was deleted.
pub(crate) async fn delete_by_name(handle: &Handle, name: &str) -> Result<bool, NetError> {
    let Some(link) = by_name(handle, name).await? else { return Ok(false) };
    match handle.link().del(link.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(NetError::netlink("delete link", name)(e)),
    }
}
