//! The one error type of the crate. Its `Display` is exactly the text kubelet puts after
//! `MountVolume.SetUp failed for volume "NAME" : ` in a `FailedMount` event, so the agent can show users the
//! messages they know from real clusters (`configmap "app" not found`).

use std::io;
use std::path::PathBuf;

/// Why a volume could not be set up or torn down.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The configMap/secret named by the volume does not exist (kubelet's watch-based manager says
    /// `configmap "NAME" not found` / `secret "NAME" not found`).
    #[error("{kind} \"{name}\" not found")]
    NotFound { kind: &'static str, name: String },
    /// An `items` entry names a key the configMap does not have.
    #[error("configmap references non-existent config key: {0}")]
    MissingConfigMapKey(String),
    /// An `items` entry names a key the secret does not have.
    #[error("references non-existent secret key: {0}")]
    MissingSecretKey(String),
    /// A file path of a projection is not acceptable (upstream `AtomicWriter.validatePath`).
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A downward API `fieldRef` could not be resolved (upstream `fieldpath` / kubelet messages).
    #[error("{0}")]
    FieldRef(String),
    /// A downward API `resourceFieldRef` could not be resolved.
    #[error("{0}")]
    ResourceFieldRef(String),
    /// The service account token for a projected volume could not be obtained.
    #[error("{0}")]
    ServiceAccountToken(String),
    /// `hostPath.path` contains a `..` element.
    #[error("invalid HostPath `{0}`: must not contain '..'")]
    HostPathBacksteps(String),
    /// The host path exists but is not what `hostPath.type` asks for.
    #[error("hostPath type check failed: {path} is not a {what}")]
    HostPathType { path: String, what: &'static str },
    /// `hostPath.type` is not one of the known types.
    #[error("{0} is an invalid volume type")]
    InvalidHostPathType(String),
    /// `emptyDir.medium` is not one skiff knows.
    #[error("unknown storage medium \"{0}\"")]
    UnknownMedium(String),
    /// A subPath is unusable (kubelet logs these details; the agent shows users a generic message).
    #[error("{0}")]
    SubPath(String),
    /// A volume type, medium or projection source this node does not implement.
    #[error("{0}")]
    Unsupported(String),
    /// A file system operation failed; printed like Go's `*os.PathError` (`mkdir /x: permission denied`).
    #[error("{op} {}: {}", .path.display(), go_errno_text(.source))]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    /// Several independent failures (projected and downward API volumes collect all of them), printed like
    /// upstream's `utilerrors.NewAggregate`.
    #[error("{}", aggregate_text(.0))]
    Aggregate(Vec<VolumeError>),
}

impl VolumeError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        VolumeError::Io { op, path: path.into(), source }
    }

    /// Collapses a list of errors the way `utilerrors.NewAggregate(errs)` does: none → `Ok`, one → itself.
    pub(crate) fn aggregate(mut errs: Vec<VolumeError>) -> Result<(), VolumeError> {
        match errs.len() {
            0 => Ok(()),
            1 => Err(errs.remove(0)),
            _ => Err(VolumeError::Aggregate(errs)),
        }
    }
}

/// The whole message of kubelet's `FailedMount` event (and of the `ContainerCreating` waiting message) for a
/// volume whose setup failed.
pub fn failed_mount_message(volume_name: &str, err: &VolumeError) -> String {
    format!("MountVolume.SetUp failed for volume \"{volume_name}\" : {err}")
}

/// Go's `syscall.Errno.Error()` texts are glibc's `strerror` with a lower-case first letter
/// (`no such file or directory`); Rust's `io::Error` adds ` (os error 2)` and capitalises.
fn go_errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let desc = nix::errno::Errno::from_raw(code).desc();
            let mut chars = desc.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => desc.to_string(),
            }
        }
        None => e.to_string(),
    }
}

/// `[a, b]` with duplicate messages dropped, as `aggregate.Error()` prints.
fn aggregate_text(errs: &[VolumeError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        let msg = e.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    if seen.len() == 1 {
        return seen.remove(0);
    }
    format!("[{}]", seen.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_kubelet() {
        let e = VolumeError::NotFound { kind: "configmap", name: "app".into() };
        assert_eq!(
            failed_mount_message("config", &e),
            "MountVolume.SetUp failed for volume \"config\" : configmap \"app\" not found"
        );
        let io = VolumeError::io("mkdir", "/x/y", io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(io.to_string(), "mkdir /x/y: no such file or directory");
    }

    #[test]
    fn aggregate_prints_a_bracketed_deduplicated_list() {
        let errs = vec![
            VolumeError::NotFound { kind: "secret", name: "a".into() },
            VolumeError::NotFound { kind: "secret", name: "a".into() },
            VolumeError::MissingConfigMapKey("k".into()),
        ];
        assert_eq!(
            VolumeError::Aggregate(errs).to_string(),
            "[secret \"a\" not found, configmap references non-existent config key: k]"
        );
        assert!(VolumeError::aggregate(vec![]).is_ok());
    }
}
