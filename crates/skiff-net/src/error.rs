//! The crate's error type: every variant names what failed (the link, the namespace, the file or the syscall).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;

/// An error from the network sandbox code.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The configuration cannot work (prefix too long, bad bridge name, ...).
    #[error("invalid network config: {0}")]
    Config(String),
    /// A sandbox id that cannot name files and links.
    #[error("invalid sandbox id {0:?}: expected 1-200 characters of [A-Za-z0-9._-], not starting with '.'")]
    InvalidId(String),
    /// A netlink request failed.
    #[error("netlink {op} {target}: {source}")]
    Netlink {
        /// What was asked (`add link`, `add address`, ...).
        op: &'static str,
        /// The link, address or namespace it was about.
        target: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// A system call failed.
    #[error("{syscall} {target}: {source}")]
    Sys {
        /// The call (`unshare(CLONE_NEWNET)`, `mount`, `setns`, ...).
        syscall: &'static str,
        /// What it was applied to.
        target: String,
        #[source]
        source: nix::errno::Errno,
    },
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation (`create`, `read`, `remove`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A state file could not be encoded or decoded.
    #[error("state file {}: {source}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// `nft` failed.
    #[error("nftables table {table}: {source}")]
    Nft {
        /// The table being changed.
        table: String,
        #[source]
        source: nftables::helper::NftablesError,
    },
    /// Every address of the pool is taken.
    #[error("no free IP address left in {0}")]
    Exhausted(Ipv4Net),
    /// A link with the bridge's name exists but is something else.
    #[error("link {0} exists but is not a bridge")]
    NotABridge(String),
    /// A link expected to exist is missing.
    #[error("link {0} not found")]
    LinkNotFound(String),
    /// An address file claims to belong to another sandbox.
    #[error("IP {ip} is owned by sandbox {owner:?}, not {id:?}")]
    IpOwner {
        /// The address.
        ip: Ipv4Addr,
        /// Who holds it.
        owner: String,
        /// Who asked.
        id: String,
    },
    /// A helper thread (the one that enters a namespace) died before answering.
    #[error("netns worker thread for {0} exited without a result")]
    Thread(String),
}

impl NetError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NetError {
        let path = path.into();
        move |source| NetError::Io { op, path, source }
    }

    pub(crate) fn netlink(op: &'static str, target: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
        let target = target.into();
        move |source| NetError::Netlink { op, target, source }
    }

    pub(crate) fn sys(syscall: &'static str, target: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> NetError {
        let target = target.into();
        move |source| NetError::Sys { syscall, target, source }
    }
}

/// The errno of a netlink error reply, if that is what `e` is.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}
