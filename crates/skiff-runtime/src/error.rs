//! The one error type of the runtime: every variant names the syscall or path that failed.

use std::path::PathBuf;

use nix::errno::Errno;

/// What went wrong while creating, running or tearing down a container.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A file-system operation on a host path failed (`op` is e.g. `mkdir`, `write`, `read`).
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A syscall made by the runtime (in the calling process) failed.
    #[error("{call}: {errno}")]
    Sys { call: String, errno: Errno },
    /// A step of the container's setup (after clone, before exec) failed.
    #[error("container setup: {step}: {errno}")]
    Setup { step: String, errno: Errno },
    /// `execve` of the container's process found no executable.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    ExecutableNotFound(String),
    /// `execve` of the container's process failed for another reason.
    #[error("exec: {path:?}: {errno}")]
    Exec { path: String, errno: Errno },
    /// The OCI runtime spec asks for something this runtime does not do, or is malformed.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The container to exec into does not exist, or its init has exited.
    #[error("container {0} is not running")]
    NotRunning(String),
    /// A cgroup operation failed.
    #[error("cgroup: {0}")]
    Cgroup(String),
    /// The container's state record could not be read or written.
    #[error("state {}: {msg}", path.display())]
    State { path: PathBuf, msg: String },
}

impl RuntimeError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let path = path.into();
        move |source| RuntimeError::Io { op, path, source }
    }

    pub(crate) fn sys(call: impl Into<String>) -> impl FnOnce(Errno) -> RuntimeError {
        let call = call.into();
        move |errno| RuntimeError::Sys { call, errno }
    }
}

pub type Result<T> = std::result::Result<T, RuntimeError>;
