//! [`Network`]: setup of the bridge and nftables, the sandbox lifecycle, and the crash-recovery sweep.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rtnetlink::Handle;
use tracing::{debug, info, warn};

use crate::error::{errno, NetError};
use crate::ipam::Ipam;
use crate::state::Records;
use crate::{bridge, link, netns, nft, veth, NetConfig, Sandbox};

/// The node's pod network: a bridge, an nftables table and the sandboxes attached to them.
///
/// Sandbox operations on different ids run concurrently; operations on one id are serialized.
pub struct Network {
    cfg: NetConfig,
    gateway: Ipv4Addr,
    handle: Handle,
    ipam: Ipam,
    records: Records,
    netns_dir: PathBuf,
    /// One lock per sandbox id in use.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Sandbox operations hold it shared; the sweep holds it exclusively (it judges files that a concurrent
    /// create may be half-way through writing).
    sweep: tokio::sync::RwLock<()>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").field("cfg", &self.cfg).field("gateway", &self.gateway).finish_non_exhaustive()
    }
}

fn validate_config(cfg: &NetConfig) -> Result<(), NetError> {
    let b = &cfg.bridge;
    if b.is_empty() || b.len() > 15 || b.contains(['/', ' ', '\0']) || b == "." || b == ".." {
        return Err(NetError::Config(format!("bridge name {b:?} must be 1-15 characters without '/' or spaces")));
    }
    if cfg.cidr.prefix_len() > 30 {
        return Err(NetError::Config(format!("CIDR {} leaves no room for pods (at most /30)", cfg.cidr)));
    }
    let t = &cfg.nft_table;
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(NetError::Config(format!("nftables table name {t:?} must be [A-Za-z0-9_-]+")));
    }
    Ok(())
}

fn validate_id(id: &str) -> Result<(), NetError> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(NetError::InvalidId(id.to_string()))
    }
}

impl Network {
    /// Creates or adopts the bridge (gateway = first host address of the CIDR, up), enables IPv4 forwarding,
    /// installs the nftables table, and sweeps leftovers: sandboxes whose record says they exist but whose
    /// namespace or veth is gone are removed, and addresses, namespace files and veths (on our bridge) that no
    /// record names are removed. Intact sandboxes are adopted. Idempotent.
    pub async fn setup(cfg: NetConfig) -> Result<Network, NetError> {
        validate_config(&cfg)?;
        let prefix_len = cfg.cidr.prefix_len();
        let gateway = cfg.cidr.hosts().next().ok_or_else(|| NetError::Config(format!("CIDR {} is empty", cfg.cidr)))?;
        fs::create_dir_all(&cfg.state_dir).map_err(NetError::io("create directory", &cfg.state_dir))?;
        let ipam = Ipam::open(cfg.state_dir.join("ips"), cfg.cidr, gateway)?;
        let records = Records::open(cfg.state_dir.join("sandboxes"))?;
        let netns_dir = cfg.state_dir.join("netns");
        fs::create_dir_all(&netns_dir).map_err(NetError::io("create directory", &netns_dir))?;

        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetError::io("open netlink socket", "host"))?;
        tokio::spawn(conn);

        bridge::ensure(&handle, &cfg.bridge, gateway, prefix_len).await?;
        bridge::enable_forwarding()?;
        nft::install(&cfg.nft_table, cfg.cidr, &cfg.bridge, cfg.masquerade).await?;

        let net = Network {
            cfg,
            gateway,
            handle,
            ipam,
            records,
            netns_dir,
            locks: Mutex::new(HashMap::new()),
            sweep: tokio::sync::RwLock::new(()),
        };
        {
            let _sweep = net.sweep.write().await;
            net.remove_broken().await?;
            net.sweep_orphans().await?;
        }
        info!(bridge = %net.cfg.bridge, cidr = %net.cfg.cidr, sandboxes = net.sandboxes().len(), "network ready");
        Ok(net)
    }

    /// The configuration this network was set up with.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// The bridge's address, every sandbox's default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    async fn lock(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(id.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }

    fn unlock(&self, id: &str, guard: tokio::sync::OwnedMutexGuard<()>) {
        drop(guard);
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.get(id).is_some_and(|m| Arc::strong_count(m) == 1) {
            locks.remove(id);
        }
    }

    /// The sandbox for `id`: an existing intact one is returned as is (after a restart too); a broken one is
    /// removed and made anew.
    pub async fn create_sandbox(&self, id: &str) -> Result<Sandbox, NetError> {
        validate_id(id)?;
        let _sweep = self.sweep.read().await;
        let guard = self.lock(id).await;
        let result = self.create_locked(id).await;
        self.unlock(id, guard);
        result
    }

    async fn create_locked(&self, id: &str) -> Result<Sandbox, NetError> {
        if let Some(existing) = self.records.get(id)? {
            if self.is_intact(&existing).await? {
                debug!(id, ip = %existing.ip, "sandbox exists");
                return Ok(existing);
            }
            warn!(id, "sandbox record exists but the sandbox is broken; recreating");
            self.cleanup(&existing).await?;
        }
        let ip = self.ipam.allocate(id)?;
        let sandbox = Sandbox {
            id: id.to_string(),
            netns_path: self.netns_path(id),
            ip,
            gateway: self.gateway,
            prefix_len: self.cfg.cidr.prefix_len(),
            host_veth: veth::host_veth_name(&self.cfg.bridge, id),
        };
        if let Err(e) = self.records.put(&sandbox) {
            let _ = self.ipam.release(ip, id);
            return Err(e);
        }
        match self.build(&sandbox).await {
            Ok(()) => {
                info!(id, ip = %ip, netns = %sandbox.netns_path.display(), "created sandbox");
                Ok(sandbox)
            }
            Err(e) => {
                warn!(id, error = %e, "creating sandbox failed; cleaning up");
                if let Err(c) = self.cleanup(&sandbox).await {
                    warn!(id, error = %c, "cleanup after failed create failed");
                }
                Err(e)
            }
        }
    }

    /// Makes the kernel objects of a recorded sandbox.
    async fn build(&self, sb: &Sandbox) -> Result<(), NetError> {
        let ns = netns::create(sb.netns_path.clone()).await?;
        let br = link::by_name(&self.handle, &self.cfg.bridge)
            .await?
            .ok_or_else(|| NetError::LinkNotFound(self.cfg.bridge.clone()))?;
        let mtu = br.mtu.unwrap_or(1500);
        if let Err(e) = veth::create(&self.handle, &sb.host_veth, br.index, mtu, &sb.netns_path).await {
            // A veth of that name left over from a crash: remove it and try once more.
            let exists = matches!(&e, NetError::Netlink { source, .. } if errno(source) == Some(libc::EEXIST));
            if !exists {
                return Err(e);
            }
            warn!(veth = %sb.host_veth, "removing stale veth");
            link::delete_by_name(&self.handle, &sb.host_veth).await?;
            veth::create(&self.handle, &sb.host_veth, br.index, mtu, &sb.netns_path).await?;
        }
        veth::configure_pod(&ns, sb.ip, sb.prefix_len, sb.gateway).await
    }

    /// Whether a recorded sandbox's namespace is mounted and its veth is a port of our bridge.
    async fn is_intact(&self, sb: &Sandbox) -> Result<bool, NetError> {
        if !netns::is_mounted(&sb.netns_path) {
            return Ok(false);
        }
        let Some(br) = link::by_name(&self.handle, &self.cfg.bridge).await? else { return Ok(false) };
        Ok(link::by_name(&self.handle, &sb.host_veth).await?.is_some_and(|l| l.controller == Some(br.index)))
    }

    /// Removes every piece of a sandbox, the record last.
    async fn cleanup(&self, sb: &Sandbox) -> Result<(), NetError> {
        link::delete_by_name(&self.handle, &sb.host_veth).await?;
        netns::remove(&sb.netns_path)?;
        match self.ipam.release(sb.ip, &sb.id) {
            Ok(()) => {}
            Err(NetError::IpOwner { ip, owner, .. }) => warn!(id = %sb.id, %ip, %owner, "IP held by another sandbox"),
            Err(e) => return Err(e),
        }
        self.records.remove(&sb.id)
    }

    /// Removes the sandbox `id`: its veth, namespace mount and file, address and record. Removing a sandbox that
    /// does not exist succeeds.
    pub async fn remove_sandbox(&self, id: &str) -> Result<(), NetError> {
        validate_id(id)?;
        let _sweep = self.sweep.read().await;
        let guard = self.lock(id).await;
        let result = self.remove_locked(id).await;
        self.unlock(id, guard);
        result
    }

    async fn remove_locked(&self, id: &str) -> Result<(), NetError> {
        match self.records.get(id)? {
            Some(sb) => {
                self.cleanup(&sb).await?;
                info!(id, ip = %sb.ip, "removed sandbox");
            }
            None => {
                // No record: remove whatever the id's derived names point at.
                link::delete_by_name(&self.handle, &veth::host_veth_name(&self.cfg.bridge, id)).await?;
                netns::remove(&self.netns_path(id))?;
                for (ip, owner) in self.ipam.allocations()? {
                    if owner == id {
                        self.ipam.release(ip, id)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The recorded sandboxes (read from disk), sorted by id.
    pub fn sandboxes(&self) -> Vec<Sandbox> {
        self.records.list().unwrap_or_else(|e| {
            warn!(error = %e, "cannot list sandbox records");
            Vec::new()
        })
    }

    /// The recorded sandbox `id`, if any.
    pub fn sandbox(&self, id: &str) -> Result<Option<Sandbox>, NetError> {
        validate_id(id)?;
        self.records.get(id)
    }

    /// Makes the sandboxes match `keep`: every recorded sandbox whose id is not in `keep` is removed, then
    /// leftovers no record names are swept. Sandboxes in `keep` that do not exist are not created. Returns the
    /// removed ids. Waits for running sandbox operations and holds new ones off while it runs.
    pub async fn reconcile(&self, keep: &[&str]) -> Result<Vec<String>, NetError> {
        let keep: HashSet<&str> = keep.iter().copied().collect();
        let _sweep = self.sweep.write().await;
        let mut removed = Vec::new();
        for sb in self.records.list()? {
            if !keep.contains(sb.id.as_str()) {
                self.cleanup(&sb).await?;
                info!(id = %sb.id, ip = %sb.ip, "reconcile removed sandbox");
                removed.push(sb.id);
            }
        }
        self.sweep_orphans().await?;
        Ok(removed)
    }

    /// Removes recorded sandboxes whose namespace or veth is gone (a crash mid-create, a reboot).
    async fn remove_broken(&self) -> Result<(), NetError> {
        for sb in self.records.list()? {
            if !self.is_intact(&sb).await? {
                warn!(id = %sb.id, "removing broken sandbox left from an earlier run");
                self.cleanup(&sb).await?;
            }
        }
        Ok(())
    }

    /// Removes addresses, namespace files and host veths (ports of our bridge) that no record names.
    async fn sweep_orphans(&self) -> Result<(), NetError> {
        let records = self.records.list()?;
        let ids: HashSet<&str> = records.iter().map(|s| s.id.as_str()).collect();
        let held: HashSet<(Ipv4Addr, &str)> = records.iter().map(|s| (s.ip, s.id.as_str())).collect();
        let veths: HashSet<&str> = records.iter().map(|s| s.host_veth.as_str()).collect();

        for (ip, owner) in self.ipam.allocations()? {
            if !held.contains(&(ip, owner.as_str())) {
                warn!(%ip, %owner, "releasing orphaned IP");
                self.ipam.release_any(ip)?;
            }
        }
        let entries = match fs::read_dir(&self.netns_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(NetError::io("read directory", &self.netns_dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(NetError::io("read directory", &self.netns_dir))?;
            let name = entry.file_name();
            if !name.to_str().is_some_and(|n| ids.contains(n)) {
                warn!(netns = %entry.path().display(), "removing orphaned netns");
                netns::remove(&entry.path())?;
            }
        }
        if let Some(br) = link::by_name(&self.handle, &self.cfg.bridge).await? {
            for l in link::all(&self.handle).await? {
                if l.controller == Some(br.index)
                    && l.name.starts_with(veth::HOST_PREFIX)
                    && !veths.contains(l.name.as_str())
                {
                    warn!(veth = %l.name, "removing orphaned veth");
                    link::delete_by_name(&self.handle, &l.name).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes the nftables table, and the bridge if no sandbox remains (for tests and uninstall).
    pub async fn teardown(self) -> Result<(), NetError> {
        nft::delete(&self.cfg.nft_table).await?;
        let left = self.records.list()?;
        if left.is_empty() {
            bridge::delete(&self.handle, &self.cfg.bridge).await?;
        } else {
            warn!(bridge = %self.cfg.bridge, sandboxes = left.len(), "sandboxes remain; keeping the bridge");
        }
        Ok(())
    }
}
