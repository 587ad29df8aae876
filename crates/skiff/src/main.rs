//! The `skiff` binary: parses the command line and wires the components together. No business logic lives here.

mod image_cmd;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "skiff", version, about = "Real Kubernetes pods in one binary")]
struct Cli {
    /// More logging (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Kubernetes API server with its embedded store.
    Server {
        /// Where the store, certificates and kubeconfig live.
        #[arg(long, default_value = "/var/lib/skiff", env = "SKIFF_DATA_DIR")]
        data_dir: PathBuf,
        /// Address and port of the HTTPS API.
        #[arg(long, default_value = "0.0.0.0:6443")]
        listen: SocketAddr,
        /// How often old history is compacted, e.g. `5m`, `30s` (watches older than that get 410 Gone).
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        compaction_interval: std::time::Duration,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Remove everything the node agent made on this machine: pods' containers (killed), sandboxes, volumes,
    /// cgroups, the bridge and the nftables table. Run it with the server stopped.
    Reset {
        #[arg(long, default_value = "/var/lib/skiff", env = "SKIFF_DATA_DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Holds a pod's shared pid namespace (started by the node agent; not for direct use).
    #[command(hide = true)]
    Pause,
    /// The per-container shim (started by the node agent; not for direct use).
    #[command(hide = true)]
    Shim {
        #[command(subcommand)]
        action: Option<ShimAction>,
        #[arg(long)]
        bundle: Option<PathBuf>,
    },
    /// Print the admin kubeconfig of a server's data dir.
    Kubeconfig {
        #[arg(long, default_value = "/var/lib/skiff", env = "SKIFF_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Manage the node's images: ls, pull, import, rm, prune.
    Image {
        #[arg(long, default_value = "/var/lib/skiff", env = "SKIFF_DATA_DIR")]
        data_dir: PathBuf,
        /// A registry mirror, REGISTRY=URL (e.g. docker.io=http://127.0.0.1:5000); repeatable, tried in order.
        #[arg(long = "registry-mirror")]
        registry_mirror: Vec<String>,
        #[command(subcommand)]
        command: image_cmd::ImageCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum ShimAction {
    /// Run a command inside the bundle's running container (exec probes); exits with its exit code.
    Exec {
        #[arg(long)]
        bundle: PathBuf,
        /// Seconds after which the command is killed (exit code 124).
        #[arg(long)]
        timeout: Option<f64>,
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

/// The built-in node agent's settings.
#[derive(clap::Args)]
struct AgentArgs {
    /// Run the API server, scheduler and controllers only: no node agent on this machine.
    #[arg(long)]
    no_agent: bool,
    /// The Node's name (default: the host name).
    #[arg(long, env = "SKIFF_NODE_NAME")]
    node_name: Option<String>,
    /// The address the Node reports (default: the source address of the default route).
    #[arg(long)]
    node_ip: Option<std::net::Ipv4Addr>,
    /// This node's pod CIDR.
    #[arg(long, default_value = "10.244.0.0/24")]
    pod_cidr: ipnet::Ipv4Net,
    /// The pod network's bridge.
    #[arg(long, default_value = "skiff0")]
    bridge: String,
    /// The nftables table (family ip) of the pod network.
    #[arg(long, default_value = "skiff")]
    nft_table: String,
    /// The cgroup (in every hierarchy) under which pods run.
    #[arg(long, default_value = "skiff")]
    cgroup_parent: String,
    /// A registry mirror, REGISTRY=URL (e.g. docker.io=http://127.0.0.1:5000); repeatable, tried in order.
    #[arg(long = "registry-mirror")]
    registry_mirror: Vec<String>,
    /// The node server's port (logs; the kubelet's port).
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_lowercase())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "skiff-node".into())
}

impl AgentArgs {
    fn config(&self, data_dir: &std::path::Path) -> anyhow::Result<skiff_agent::Config> {
        Ok(skiff_agent::Config {
            node_name: self.node_name.clone().unwrap_or_else(host_name),
            dir: data_dir.join("agent"),
            images_dir: data_dir.join("images"),
            registry_mirrors: self.registry_mirror.clone(),
            pod_cidr: self.pod_cidr,
            bridge: self.bridge.clone(),
            nft_table: self.nft_table.clone(),
            cgroup_parent: self.cgroup_parent.clone(),
            shim_exe: std::env::current_exe().context("finding the skiff executable for the shim")?,
            node_ip: self.node_ip,
            node_server: None,
        })
    }
}

/// `300ms`, `30s`, `5m`, `1h`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}: expected e.g. 30s or 5m"))?;
    let ms = match unit {
        "ms" => n,
        "s" | "" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(format!("invalid duration unit in {s:?}: use ms, s, m or h")),
    };
    Ok(std::time::Duration::from_millis(ms))
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "info,skiff=debug,skiff_apiserver=debug,skiff_store=debug",
        _ => "debug,skiff=trace,skiff_apiserver=trace,skiff_store=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // Before anything starts a thread: the shim clones itself into containers and must stay single-threaded.
        Command::Pause => std::process::exit(skiff_agent::pause::main()),
        Command::Shim { action: Some(ShimAction::Exec { bundle, timeout, argv }), .. } => {
            // no logging: stderr is the command's own output, which the caller captures
            let timeout = timeout.filter(|t| t.is_finite() && *t > 0.0).map(std::time::Duration::from_secs_f64);
            std::process::exit(skiff_shim::exec_main(&bundle, timeout, argv));
        }
        Command::Shim { action: None, bundle } => {
            init_tracing(cli.verbose);
            let bundle = bundle.context("--bundle is required")?;
            std::process::exit(skiff_shim::main(&bundle));
        }
        Command::Reset { data_dir, agent } => {
            init_tracing(cli.verbose);
            let cfg = agent.config(&data_dir)?;
            let rt =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
            rt.block_on(skiff_agent::reset(&cfg)).context("resetting the node")?;
            Ok(())
        }
        Command::Version => {
            println!("skiff {} (Kubernetes v1.32 API)", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Image { data_dir, registry_mirror, command } => {
            init_tracing(cli.verbose);
            image_cmd::run(data_dir, registry_mirror, command)
        }
        Command::Kubeconfig { data_dir } => {
            let path = data_dir.join("admin.kubeconfig");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("reading {} (has `skiff server --data-dir {}` run?)", path.display(), data_dir.display())
            })?;
            print!("{text}");
            Ok(())
        }
        Command::Server { data_dir, listen, compaction_interval, agent } => {
            let agent_cfg = if agent.no_agent { None } else { Some(agent.config(&data_dir)?) };
            let kubelet_port = agent.kubelet_port;
            init_tracing(cli.verbose);
            let rt =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
            rt.block_on(async move {
                let store = skiff_store::EmbeddedStore::open(&data_dir.join("store"))
                    .with_context(|| format!("opening the store in {}", data_dir.display()))?;
                let config = skiff_apiserver::Config { data_dir, listen, compaction_interval };
                skiff_apiserver::run(config, Arc::new(store), shutdown_signal(), |client, pki| {
                    tokio::spawn(skiff_scheduler::run(client.clone()));
                    if let Some(mut cfg) = agent_cfg {
                        let ip = cfg.node_ip.unwrap_or_else(skiff_agent::node::detect_node_ip);
                        cfg.node_ip = Some(ip);
                        let ips = [std::net::IpAddr::V4(ip), std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)];
                        match pki.issue_node_serving(&cfg.node_name, &ips) {
                            Ok((cert_pem, key_pem)) => {
                                let tls = skiff_agent::server::NodeTls {
                                    cert_pem,
                                    key_pem,
                                    client_ca_pem: pki.ca_pem.clone(),
                                };
                                cfg.node_server = Some((kubelet_port, tls));
                            }
                            Err(e) => tracing::error!(error = %e, "no node server: issuing its certificate"),
                        }
                        tokio::spawn(async move {
                            if let Err(e) = skiff_agent::run(client, cfg).await {
                                tracing::error!(error = %e, "the node agent stopped");
                            }
                        });
                    }
                })
                .await?;
                Ok(())
            })
        }
    }
}
