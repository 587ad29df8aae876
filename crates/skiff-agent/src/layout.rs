//! Where the agent keeps things on disk. Everything of one pod lives under `pods/<uid>/`, so removing a pod's
//! directory (after its kernel objects are gone) forgets it completely, and a restarted agent finds every pod it
//! ran by listing `pods/`.
//!
//! ```text
//! AGENT_DIR/pods/<uid>/pod.json                          namespace, name, uid (for clean-up of vanished pods)
//! AGENT_DIR/pods/<uid>/ns/{uts,ipc}                      the sandbox's namespaces (bind mounts)
//! AGENT_DIR/pods/<uid>/etc/{hosts,hostname,resolv.conf}  shared by the pod's containers
//! AGENT_DIR/pods/<uid>/shm                               the pod's /dev/shm (tmpfs)
//! AGENT_DIR/pods/<uid>/volumes/…                         skiff-volumes
//! AGENT_DIR/pods/<uid>/containers/<name>/<attempt>/      one run of a container: the shim's bundle
//!                                                        (config.json, started.json, exit.json, shim.log,
//!                                                        rootfs/{upper,work,merged}, termination-log)
//! AGENT_DIR/pods/<uid>/logs/<name>/<attempt>.log         CRI-format logs of that run
//! AGENT_DIR/run/                                         skiff-runtime's container state records
//! AGENT_DIR/net/                                         skiff-net's state
//! ```

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn pods(&self) -> PathBuf {
        self.root.join("pods")
    }

    pub fn pod(&self, uid: &str) -> PathBuf {
        self.pods().join(uid)
    }

    pub fn pod_record(&self, uid: &str) -> PathBuf {
        self.pod(uid).join("pod.json")
    }

    pub fn ns(&self, uid: &str, kind: &str) -> PathBuf {
        self.pod(uid).join("ns").join(kind)
    }

    pub fn etc(&self, uid: &str, file: &str) -> PathBuf {
        self.pod(uid).join("etc").join(file)
    }

    pub fn shm(&self, uid: &str) -> PathBuf {
        self.pod(uid).join("shm")
    }

    pub fn volumes(&self, uid: &str) -> PathBuf {
        self.pod(uid).join("volumes")
    }

    pub fn containers(&self, uid: &str) -> PathBuf {
        self.pod(uid).join("containers")
    }

    pub fn container_runs(&self, uid: &str, name: &str) -> PathBuf {
        self.containers(uid).join(name)
    }

    pub fn bundle(&self, uid: &str, name: &str, attempt: u32) -> PathBuf {
        self.container_runs(uid, name).join(attempt.to_string())
    }

    pub fn log(&self, uid: &str, name: &str, attempt: u32) -> PathBuf {
        self.pod(uid).join("logs").join(name).join(format!("{attempt}.log"))
    }

    pub fn runtime_state(&self) -> PathBuf {
        self.root.join("run")
    }

    pub fn net_state(&self) -> PathBuf {
        self.root.join("net")
    }
}
