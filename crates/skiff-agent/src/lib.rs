//! The node agent (skiff's kubelet): registers its Node and renews its Lease ([`node`]), and runs the pods the
//! scheduler binds to it ([`pods`]): sandbox ([`sandbox`]: netns, IP, hostname, hosts files), images
//! ([`images`]), volumes (`skiff-volumes`), containers (an OCI spec from `skiff-containerspec`, started by a
//! per-container `skiff shim` from `skiff-shim`, on `skiff-runtime`), restarts with back-off, status and
//! events — all through the API as any client ([`skiff_client::Client`]).
//!
//! Level-triggered: each pod has a worker that compares the pod's spec with what runs (known from the files in
//! [`layout`], which outlive the agent) and converges; after an agent restart it adopts the running containers.

pub mod backoff;
pub mod events;
pub mod images;
pub mod layout;
pub mod node;
pub mod pause;
pub mod pods;
pub mod sandbox;
pub mod server;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use skiff_client::Client;

/// RFC 3339 in UTC with seconds, as Kubernetes' `metav1.Time` serializes.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[derive(Debug, Clone)]
pub struct Config {
    pub node_name: String,
    /// The agent's own directory (`DATA_DIR/agent`).
    pub dir: PathBuf,
    /// Where images live (`DATA_DIR/images`).
    pub images_dir: PathBuf,
    pub registry_mirrors: Vec<String>,
    pub pod_cidr: ipnet::Ipv4Net,
    pub bridge: String,
    pub nft_table: String,
    /// The parent of pod cgroups in every hierarchy (`skiff` → `/sys/fs/cgroup/memory/skiff/pod<uid>/<id>`).
    pub cgroup_parent: String,
    /// The `skiff` executable, run as `skiff shim` per container.
    pub shim_exe: PathBuf,
    pub node_ip: Option<Ipv4Addr>,
    /// The node server's port (the kubelet's 10250) and TLS material; `None` runs no node server.
    pub node_server: Option<(u16, server::NodeTls)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("image store: {0}")]
    Images(#[from] skiff_image::ImageError),
    #[error("pod network: {0}")]
    Net(#[from] skiff_net::NetError),
    #[error("{0}")]
    Setup(String),
}

fn net_config(cfg: &Config, layout: &layout::Layout) -> skiff_net::NetConfig {
    let mut net_cfg = skiff_net::NetConfig::new(cfg.bridge.clone(), cfg.pod_cidr, layout.net_state());
    net_cfg.nft_table = cfg.nft_table.clone();
    net_cfg
}

/// Removes everything the agent made on this machine — containers (killed), sandboxes, volumes, pod cgroups and
/// directories, the bridge and the nftables table — without the API. For uninstalling, and for tests.
pub async fn reset(cfg: &Config) -> Result<(), AgentError> {
    let layout = layout::Layout::new(&cfg.dir);
    let network = Arc::new(skiff_net::Network::setup(net_config(cfg, &layout)).await?);
    let sandboxes = sandbox::Sandboxes::new(
        layout.clone(),
        network.clone(),
        std::net::Ipv4Addr::LOCALHOST,
        String::new(),
        cfg.shim_exe.clone(),
    );
    if let Ok(rd) = std::fs::read_dir(layout.pods()) {
        for e in rd.flatten() {
            let uid = e.file_name().to_string_lossy().into_owned();
            pods::reset_pod(&layout, &sandboxes, &cfg.cgroup_parent, &uid).await;
        }
    }
    drop(sandboxes);
    network.reconcile(&[]).await?;
    match Arc::try_unwrap(network) {
        Ok(n) => n.teardown().await?,
        Err(_) => return Err(AgentError::Setup("the pod network is still in use".into())),
    }
    if let Err(e) = skiff_runtime::remove_cgroup("", &cfg.cgroup_parent) {
        tracing::warn!(cgroup = %cfg.cgroup_parent, error = %e, "removing the pods' parent cgroup");
    }
    Ok(())
}

/// Sets up the node (image store, pod network, directories) and runs the agent until the process ends. Running
/// containers are left running when it does: a restarted agent adopts them.
pub async fn run(client: Client, cfg: Config) -> Result<(), AgentError> {
    for d in [cfg.dir.clone(), layout::Layout::new(&cfg.dir).pods()] {
        std::fs::create_dir_all(&d).map_err(|e| AgentError::Setup(format!("mkdir {}: {e}", d.display())))?;
    }
    let layout = layout::Layout::new(&cfg.dir);
    let images = Arc::new(skiff_image::ImageService::open(&cfg.images_dir, &cfg.registry_mirrors)?);
    let network = Arc::new(skiff_net::Network::setup(net_config(&cfg, &layout)).await?);
    let node_ip = cfg.node_ip.unwrap_or_else(node::detect_node_ip);
    let machine = node::Machine::probe(&cfg.dir);
    let spec = node::NodeSpec {
        name: cfg.node_name.clone(),
        ip: node_ip,
        pod_cidr: cfg.pod_cidr.to_string(),
        machine: machine.clone(),
        kubelet_port: cfg.node_server.as_ref().map(|(p, _)| *p).unwrap_or(10250),
    };
    tracing::info!(node = %cfg.node_name, ip = %node_ip, cidr = %cfg.pod_cidr, "node agent starting");
    let ctx = Arc::new(pods::Ctx {
        client: client.clone(),
        node_name: cfg.node_name.clone(),
        node_ip,
        machine,
        layout: layout.clone(),
        sandboxes: sandbox::Sandboxes::new(layout, network, node_ip, cfg.node_name.clone(), cfg.shim_exe.clone()),
        images: images::Images::new(images),
        recorder: events::Recorder::new(client.clone(), cfg.node_name.clone()),
        shim_exe: cfg.shim_exe.clone(),
        cgroup_parent: cfg.cgroup_parent.clone(),
        index: Default::default(),
        start_slots: tokio::sync::Semaphore::new(
            2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        ),
    });
    if let Some((port, tls)) = &cfg.node_server {
        let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, *port));
        let serve = server::bind(ctx.clone(), addr, tls).await.map_err(|e| AgentError::Setup(e.to_string()))?;
        tokio::spawn(serve);
    }
    tokio::spawn(node::run(client, spec));
    pods::run(ctx).await;
    Ok(())
}
