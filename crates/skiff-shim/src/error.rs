//! The one error type of the crate: every variant names the path, process or call that failed.

use std::path::PathBuf;

use nix::errno::Errno;

/// What went wrong in the shim, in spawning it, or in reading what it wrote.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// A file-system operation failed (`op` is e.g. `open`, `read`, `write`, `rename`).
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON record on disk (config, started, exit) does not decode.
    #[error("decode {}: {source}", path.display())]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A syscall of the shim failed.
    #[error("{call}: {errno}")]
    Sys { call: String, errno: Errno },
    /// The container could not be created or started, or waited for.
    #[error(transparent)]
    Runtime(#[from] skiff_runtime::RuntimeError),
    /// The shim process could not be started.
    #[error("spawn {}: {source}", exe.display())]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The shim exited (or closed its stdout) without reporting; `log_tail` is the end of its `shim.log`.
    #[error("shim for {} exited without a report; shim.log ends with: {log_tail}", bundle.display())]
    NoReport { bundle: PathBuf, log_tail: String },
    /// The shim's report line is not a `StartReport`.
    #[error("shim for {} sent a bad report {line:?}: {source}", bundle.display())]
    BadReport {
        bundle: PathBuf,
        line: String,
        #[source]
        source: serde_json::Error,
    },
    /// `skiff shim exec` could not run the command at all (e.g. the container is not running); `message` is
    /// its explanation.
    #[error("exec in {}: {message}", bundle.display())]
    Exec { bundle: PathBuf, message: String },
    /// Writing rendered log output to the caller's writer failed (e.g. the client went away).
    #[error("write log output: {0}")]
    Output(#[source] std::io::Error),
}

impl ShimError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ShimError {
        let path = path.into();
        move |source| ShimError::Io { op, path, source }
    }

    pub(crate) fn sys(call: impl Into<String>) -> impl FnOnce(Errno) -> ShimError {
        let call = call.into();
        move |errno| ShimError::Sys { call, errno }
    }

    /// The error is a missing file (e.g. a log file not written yet).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ShimError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}
