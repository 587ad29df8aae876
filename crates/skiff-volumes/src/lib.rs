//! Pod volumes on the node, as kubelet's volume plugins make them: emptyDir, configMap, secret, downwardAPI,
//! projected and hostPath, plus subPath resolution and the downward API values environment variables use.
//!
//! The agent fetches what a pod's volumes refer to (configMaps, secrets, a token) from the API first and then
//! calls [`PodVolumes::setup`] synchronously (it does blocking file system work and mount syscalls: call it
//! from `spawn_blocking`). Calling it again refreshes configMap/secret/downwardAPI/projected contents: a new
//! version is published atomically only when something changed, so the agent can simply call it on every
//! sync (level-triggered). Calls for one pod must not run concurrently (as for upstream's `AtomicWriter`).
//!
//! Layout, as kubelet's (`DATA_DIR/pods/<uid>/volumes` is the root given to [`PodVolumes::new`]):
//! ```text
//! volumes/kubernetes.io~empty-dir/<name>      directory 0777, or a tmpfs (1777) for medium: Memory
//! volumes/kubernetes.io~configmap/<name>      AtomicWriter layout on disk
//! volumes/kubernetes.io~secret/<name>         AtomicWriter layout on a tmpfs
//! volumes/kubernetes.io~downward-api/<name>   AtomicWriter layout on a tmpfs
//! volumes/kubernetes.io~projected/<name>      AtomicWriter layout on a tmpfs
//! ```
//! hostPath volumes are the host path itself and are never touched by teardown.
//!
//! Every error's `Display` is kubelet's text; [`failed_mount_message`] gives the whole `FailedMount` event.

mod atomic_writer;
mod config_data;
mod downward;
mod empty_dir;
mod error;
mod host_path;
mod mount;
mod ownership;
mod subpath;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Volume};

pub use atomic_writer::{AtomicWriter, FileProjection, Payload, SetPerms};
pub use downward::{field_ref, format_map, resource_field_ref};
pub use error::{failed_mount_message, VolumeError};
pub use subpath::subpath;

use empty_dir::Medium;

/// What the agent fetched for the pod (in the pod's namespace): objects by name, absent = not found.
pub trait Objects {
    fn config_map(&self, name: &str) -> Option<&ConfigMap>;
    fn secret(&self, name: &str) -> Option<&Secret>;
    /// A token for the pod's service account, bound to the pod (a TokenRequest), for a projected
    /// `serviceAccountToken` source. The error text is shown to users as it is.
    fn service_account_token(&self, audience: Option<&str>, expiration_seconds: i64) -> Result<String, String>;
}

/// Node facts the volumes need: allocatable amounts are the defaults of unset container limits (downward
/// API) and the default size of memory-backed volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub node_name: String,
    pub allocatable_cpu_millis: i64,
    pub allocatable_memory_bytes: i64,
    pub allocatable_ephemeral_bytes: i64,
}

/// Plugin directory names under the pod's volumes directory (kubelet's escaped plugin names).
const EMPTY_DIR: &str = "kubernetes.io~empty-dir";
const CONFIG_MAP: &str = "kubernetes.io~configmap";
const SECRET: &str = "kubernetes.io~secret";
const DOWNWARD_API: &str = "kubernetes.io~downward-api";
const PROJECTED: &str = "kubernetes.io~projected";

/// The volumes of one pod.
#[derive(Debug, Clone)]
pub struct PodVolumes {
    root: PathBuf,
}

impl PodVolumes {
    /// `root` is `DATA_DIR/pods/<uid>/volumes`; it is created on first setup.
    pub fn new(root: PathBuf) -> Self {
        PodVolumes { root }
    }

    /// The pod's volumes directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Sets up (or refreshes) one volume of `pod` and returns the host path to bind into containers.
    pub fn setup(
        &self,
        pod: &Pod,
        vol: &Volume,
        objects: &dyn Objects,
        node: &NodeInfo,
    ) -> Result<PathBuf, VolumeError> {
        let (ns, name) = (pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""));
        let uid = pod.metadata.uid.as_deref().unwrap_or("");
        let _span = tracing::debug_span!("volume", pod = %format!("{ns}/{name}"), uid, volume = %vol.name).entered();
        let fs_group = ownership::fs_group(pod);
        if let Some(hp) = &vol.host_path {
            return host_path::setup(hp);
        }
        if let Some(ed) = &vol.empty_dir {
            let medium = Medium::parse(ed.medium.as_deref())?;
            let dir = self.volume_dir(EMPTY_DIR, &vol.name)?;
            let size = (medium == Medium::Memory).then(|| empty_dir::memory_size(pod, ed.size_limit.as_ref(), node));
            empty_dir::setup(&dir, medium, size, fs_group)?;
            return Ok(dir);
        }
        // The payload is computed before anything is created: a missing configMap leaves no directory behind.
        let (plugin, medium, payload) = if let Some(cm) = &vol.config_map {
            let optional = cm.optional.unwrap_or(false);
            let obj = config_data::config_map(objects, &cm.name, optional)?;
            let mode = cm.default_mode.unwrap_or(config_data::DEFAULT_MODE);
            (CONFIG_MAP, Medium::Disk, config_data::config_map_payload(cm.items.as_deref(), &obj, mode, optional)?)
        } else if let Some(s) = &vol.secret {
            let optional = s.optional.unwrap_or(false);
            let obj = config_data::secret(objects, s.secret_name.as_deref().unwrap_or(""), optional)?;
            let mode = s.default_mode.unwrap_or(config_data::DEFAULT_MODE);
            (SECRET, Medium::Memory, config_data::secret_payload(s.items.as_deref(), &obj, mode, optional)?)
        } else if let Some(d) = &vol.downward_api {
            let mode = d.default_mode.unwrap_or(config_data::DEFAULT_MODE);
            (DOWNWARD_API, Medium::Memory, downward::payload(d.items.as_deref().unwrap_or_default(), pod, node, mode)?)
        } else if let Some(p) = &vol.projected {
            let fs_user = ownership::fs_user(pod);
            (PROJECTED, Medium::Memory, config_data::projected_payload(pod, p, objects, node, fs_user, fs_group)?)
        } else {
            return Err(VolumeError::Unsupported(format!(
                "volume type {} is not supported on this node",
                volume_type(vol)
            )));
        };
        self.write_projection(pod, vol, plugin, medium, &payload, node, fs_group)
    }

    /// Publishes a payload in a volume directory backed by the wrapped emptyDir, as kubelet's configMap,
    /// secret, downwardAPI and projected plugins do. A volume that fails on its first setup is removed again.
    #[allow(clippy::too_many_arguments)]
    fn write_projection(
        &self,
        pod: &Pod,
        vol: &Volume,
        plugin: &str,
        medium: Medium,
        payload: &Payload,
        node: &NodeInfo,
        fs_group: Option<i64>,
    ) -> Result<PathBuf, VolumeError> {
        let dir = self.volume_dir(plugin, &vol.name)?;
        let existed = dir.exists();
        let size = (medium == Medium::Memory).then(|| empty_dir::memory_size(pod, None, node));
        let result = empty_dir::setup(&dir, medium, size, fs_group).and_then(|()| {
            let context = format!(
                "pod {}/{} volume {}",
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod.metadata.name.as_deref().unwrap_or(""),
                vol.name
            );
            let writer = AtomicWriter::new(&dir, context)?;
            // The first write also creates files outside the timestamped directory: own the whole volume.
            let set_perms = |_: &str| ownership::set_volume_ownership(&dir, fs_group, true);
            writer.write(payload, Some(&set_perms))
        });
        match result {
            Ok(_) => Ok(dir),
            Err(e) => {
                if !existed {
                    if let Err(cleanup) = remove_volume_dir(&dir) {
                        tracing::warn!(dir = %dir.display(), error = %cleanup, "cleaning up a failed volume");
                    }
                }
                Err(e)
            }
        }
    }

    /// `root/<plugin>/<name>`; a name that is not a single path element is refused (the API validates volume
    /// names as DNS labels, but the path is built from input).
    fn volume_dir(&self, plugin: &str, name: &str) -> Result<PathBuf, VolumeError> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
            return Err(VolumeError::Unsupported(format!("invalid volume name {name:?}")));
        }
        Ok(self.root.join(plugin).join(name))
    }

    /// Unmounts and removes all of the pod's volumes. Idempotent and crash-safe: mounts are found in
    /// `/proc/self/mountinfo`, not remembered. Refuses to delete anything while a mount remains under the
    /// root, so a stray bind mount can never lead to deleting host data. hostPath sources are not under the
    /// root and are never touched.
    pub fn teardown(&self) -> Result<(), VolumeError> {
        let root = match self.root.canonicalize() {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(VolumeError::io("stat", &self.root, e)),
        };
        remove_volume_dir(&root)
    }
}

/// Unmounts everything at or under `dir` (deepest first), then deletes it.
fn remove_volume_dir(dir: &Path) -> Result<(), VolumeError> {
    let dir = match dir.canonicalize() {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(VolumeError::io("stat", dir, e)),
    };
    for m in mount::mounts_under(&dir, true)? {
        tracing::debug!(mount = %m.display(), "unmounting");
        mount::unmount(&m)?;
    }
    if let Some(left) = mount::mounts_under(&dir, true)?.first() {
        return Err(VolumeError::io("unmount", left, ErrorKind::ResourceBusy.into()));
    }
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(VolumeError::io("unlinkat", &dir, e)),
        _ => Ok(()),
    }
}

/// The API field name of a volume's source, for messages.
fn volume_type(vol: &Volume) -> &'static str {
    let v = vol;
    [
        (v.persistent_volume_claim.is_some(), "persistentVolumeClaim"),
        (v.ephemeral.is_some(), "ephemeral"),
        (v.csi.is_some(), "csi"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.image.is_some(), "image"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.fc.is_some(), "fc"),
        (v.rbd.is_some(), "rbd"),
        (v.cephfs.is_some(), "cephfs"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.azure_file.is_some(), "azureFile"),
        (v.cinder.is_some(), "cinder"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.storageos.is_some(), "storageos"),
        (v.quobyte.is_some(), "quobyte"),
        (v.flocker.is_some(), "flocker"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("<none>")
}
