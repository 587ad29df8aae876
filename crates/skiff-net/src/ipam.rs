//! File-backed IPv4 address allocation.
//!
//! One file per allocated address under `STATE_DIR/ips/`, named by the address (`10.244.0.7`) and holding the
//! sandbox id. A file is created with `O_CREAT|O_EXCL`, so two allocators (threads or processes) can never hand
//! out the same address, and a crash at any point leaves either no file (nothing allocated) or a file (allocated,
//! possibly with an empty owner if the crash hit between create and write — the orphan sweep releases those).
//! Releasing deletes the file. The lowest free address is handed out first, so released addresses are reused.
//! Files are not fsynced: after a power loss the namespaces holding the addresses are gone too, and the owner
//! records are swept against what the caller says should exist.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use tracing::debug;

use crate::error::NetError;

/// The allocator over one CIDR.
#[derive(Debug, Clone)]
pub(crate) struct Ipam {
    dir: PathBuf,
    cidr: Ipv4Net,
    gateway: Ipv4Addr,
}

impl Ipam {
    /// An allocator keeping its files in `dir` (created if missing); `gateway` is never handed out.
    pub(crate) fn open(dir: PathBuf, cidr: Ipv4Net, gateway: Ipv4Addr) -> Result<Self, NetError> {
        fs::create_dir_all(&dir).map_err(NetError::io("create directory", &dir))?;
        Ok(Ipam { dir, cidr, gateway })
    }

    fn path(&self, ip: Ipv4Addr) -> PathBuf {
        self.dir.join(ip.to_string())
    }

    /// Claims the lowest free address of the pool for `id`.
    pub(crate) fn allocate(&self, id: &str) -> Result<Ipv4Addr, NetError> {
        // `hosts()` skips the network and broadcast addresses for prefixes up to /30.
        for ip in self.cidr.hosts().filter(|ip| *ip != self.gateway) {
            let path = self.path(ip);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    if let Err(e) = file.write_all(id.as_bytes()) {
                        let _ = fs::remove_file(&path);
                        return Err(NetError::io("write", path)(e));
                    }
                    debug!(%ip, id, "allocated IP");
                    return Ok(ip);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(NetError::io("create", path)(e)),
            }
        }
        Err(NetError::Exhausted(self.cidr))
    }

    /// The owner recorded for `ip`, or `None` if it is free.
    pub(crate) fn owner(&self, ip: Ipv4Addr) -> Result<Option<String>, NetError> {
        read_owner(&self.path(ip))
    }

    /// Frees `ip` if `id` holds it (a no-op if it is free; an error if someone else holds it).
    pub(crate) fn release(&self, ip: Ipv4Addr, id: &str) -> Result<(), NetError> {
        match self.owner(ip)? {
            None => Ok(()),
            Some(owner) if owner == id => {
                let path = self.path(ip);
                match fs::remove_file(&path) {
                    Ok(()) => {
                        debug!(%ip, id, "released IP");
                        Ok(())
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(NetError::io("remove", path)(e)),
                }
            }
            Some(owner) => Err(NetError::IpOwner { ip, owner, id: id.to_string() }),
        }
    }

    /// Frees `ip` whoever holds it (for the orphan sweep).
    pub(crate) fn release_any(&self, ip: Ipv4Addr) -> Result<(), NetError> {
        let path = self.path(ip);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::io("remove", path)(e)),
        }
    }

    /// Every allocated address with its owner.
    pub(crate) fn allocations(&self) -> Result<Vec<(Ipv4Addr, String)>, NetError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(NetError::io("read directory", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(NetError::io("read directory", &self.dir))?;
            let Some(ip) = entry.file_name().to_str().and_then(|n| n.parse::<Ipv4Addr>().ok()) else { continue };
            if let Some(owner) = read_owner(&entry.path())? {
                out.push((ip, owner));
            }
        }
        out.sort();
        Ok(out)
    }
}

fn read_owner(path: &Path) -> Result<Option<String>, NetError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io("read", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(dir: &Path, cidr: &str) -> Ipam {
        let cidr: Ipv4Net = cidr.parse().unwrap();
        let gw = cidr.hosts().next().unwrap();
        Ipam::open(dir.join("ips"), cidr, gw).unwrap()
    }

    #[test]
    fn skips_network_gateway_broadcast_and_reuses() {
        let tmp = tempfile::tempdir().unwrap();
        let ipam = ipam(tmp.path(), "10.1.2.0/29");
        let got: Vec<_> = (0..5).map(|i| ipam.allocate(&format!("s{i}")).unwrap()).collect();
        let want: Vec<Ipv4Addr> = (2..=6).map(|n| Ipv4Addr::new(10, 1, 2, n)).collect();
        assert_eq!(got, want);
        assert!(matches!(ipam.allocate("x"), Err(NetError::Exhausted(_))));
        ipam.release(Ipv4Addr::new(10, 1, 2, 4), "s2").unwrap();
        assert_eq!(ipam.allocate("y").unwrap(), Ipv4Addr::new(10, 1, 2, 4));
        assert_eq!(ipam.owner(Ipv4Addr::new(10, 1, 2, 4)).unwrap().as_deref(), Some("y"));
    }

    #[test]
    fn release_checks_owner_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let ipam = ipam(tmp.path(), "10.1.2.0/24");
        let ip = ipam.allocate("a").unwrap();
        assert!(matches!(ipam.release(ip, "b"), Err(NetError::IpOwner { .. })));
        ipam.release(ip, "a").unwrap();
        ipam.release(ip, "a").unwrap();
        assert!(ipam.allocations().unwrap().is_empty());
    }

    #[test]
    fn survives_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let a = ipam(tmp.path(), "10.1.2.0/24").allocate("a").unwrap();
        let again = ipam(tmp.path(), "10.1.2.0/24");
        assert_eq!(again.allocations().unwrap(), vec![(a, "a".to_string())]);
        assert_ne!(again.allocate("b").unwrap(), a);
    }
}
