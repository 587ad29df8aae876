//! The container's standard streams.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::fcntl::{fcntl, FcntlArg};

use crate::error::{Result, RuntimeError};

/// Where one standard stream goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StdioTarget {
    /// `/dev/null`.
    #[default]
    Null,
    /// The caller's own stream of the same number.
    Inherit,
    /// A file: read for stdin; created if absent and appended to for stdout/stderr.
    File(PathBuf),
    /// A descriptor the caller owns (a pipe end, a socket…); it is duplicated, the caller keeps its copy.
    Fd(RawFd),
}

/// stdin, stdout and stderr of the container's process.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stdio {
    pub stdin: StdioTarget,
    pub stdout: StdioTarget,
    pub stderr: StdioTarget,
}

impl Stdio {
    /// All three to `/dev/null`.
    pub fn null() -> Stdio {
        Stdio::default()
    }

    /// Opens every target as a descriptor ≥ 10 (so that placing them at 0, 1, 2 in the child never clobbers one
    /// another), `CLOEXEC` in this process.
    pub(crate) fn open(&self) -> Result<[OwnedFd; 3]> {
        let one = |t: &StdioTarget, n: RawFd| -> Result<OwnedFd> {
            let file: File;
            let src: RawFd = match t {
                StdioTarget::Null => {
                    file = OpenOptions::new()
                        .read(n == 0)
                        .write(n != 0)
                        .open("/dev/null")
                        .map_err(RuntimeError::io("open", "/dev/null"))?;
                    file.as_raw_fd()
                }
                StdioTarget::Inherit => n,
                StdioTarget::File(p) => {
                    file = if n == 0 {
                        File::open(p).map_err(RuntimeError::io("open", p))?
                    } else {
                        OpenOptions::new().create(true).append(true).open(p).map_err(RuntimeError::io("open", p))?
                    };
                    file.as_raw_fd()
                }
                StdioTarget::Fd(fd) => *fd,
            };
            let fd =
                fcntl(src, FcntlArg::F_DUPFD_CLOEXEC(10)).map_err(RuntimeError::sys(format!("dup stdio fd {src}")))?;
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that only we own
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        Ok([one(&self.stdin, 0)?, one(&self.stdout, 1)?, one(&self.stderr, 2)?])
    }
}
