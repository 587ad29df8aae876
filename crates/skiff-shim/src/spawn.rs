//! The agent's side: starting a shim and reading its report.
//!
//! The shim runs in a session of its own (`setsid`), so signals to the agent's process group (a Ctrl-C, a
//! service manager stopping the agent) do not reach it, and its stderr goes to `DIR/shim.log`, not to the
//! agent. The agent stays its parent while it lives, so a detached thread waits for it: no zombies.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::records::{StartReport, SHIM_LOG_FILE};
use crate::ShimError;

/// The longest report line read (a runtime error message is short).
const MAX_REPORT: u64 = 64 * 1024;
/// How much of `shim.log` an error quotes.
const LOG_TAIL: u64 = 2048;

/// Runs `exe shim --bundle <bundle>` (with `DIR/config.json` already written) and returns its report once the
/// container runs or failed to start. Blocking: the agent calls it on a blocking thread.
pub fn spawn(exe: &Path, bundle: &Path) -> Result<StartReport, ShimError> {
    let log_path = bundle.join(SHIM_LOG_FILE);
    let log = OpenOptions::new().create(true).append(true).open(&log_path).map_err(ShimError::io("open", &log_path))?;
    let mut cmd = Command::new(exe);
    cmd.arg("shim").arg("--bundle").arg(bundle).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(drop).map_err(std::io::Error::from));
    }
    let mut child = cmd.spawn().map_err(|source| ShimError::Spawn { exe: exe.into(), source })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    let read = BufReader::new(stdout.take(MAX_REPORT)).read_line(&mut line);
    let pid = child.id();
    let reaper = std::thread::Builder::new().name(format!("shim-{pid}")).stack_size(64 * 1024).spawn(move || {
        let _ = child.wait();
    });
    if let Err(e) = reaper {
        tracing::warn!(pid, error = %e, "no thread to reap the shim; it will stay a zombie when it exits");
    }
    let line = line.trim();
    if read.is_err() || line.is_empty() {
        return Err(ShimError::NoReport { bundle: bundle.into(), log_tail: log_tail(&log_path) });
    }
    serde_json::from_str(line).map_err(|source| ShimError::BadReport {
        bundle: bundle.into(),
        line: line.into(),
        source,
    })
}

/// The end of the shim's log, for an error message.
fn log_tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;

    /// An executable script standing in for `skiff`.
    fn fake_shim(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("fake-skiff");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// [`spawn`], retried while another test thread's fork still holds the fresh script open for writing.
    fn spawn_fake(exe: &Path, bundle: &Path) -> Result<StartReport, ShimError> {
        for _ in 0..50 {
            match spawn(exe, bundle) {
                Err(ShimError::Spawn { source, .. }) if source.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                r => return r,
            }
        }
        spawn(exe, bundle)
    }

    #[test]
    fn a_shim_that_dies_silently_is_an_error_quoting_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let exe = fake_shim(dir.path(), "echo \"cannot read config: boom ($*)\" >&2; exit 1");
        let err = spawn_fake(&exe, dir.path()).unwrap_err();
        assert!(matches!(err, ShimError::NoReport { .. }), "{err}");
        let args = format!("shim --bundle {}", dir.path().display());
        assert!(err.to_string().contains(&format!("cannot read config: boom ({args})")), "{err}");
    }

    #[test]
    fn a_report_line_is_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let exe = fake_shim(dir.path(), "echo '{\"Failed\":{\"error\":\"nope\"}}'; sleep 0.2");
        assert_eq!(spawn_fake(&exe, dir.path()).unwrap(), StartReport::Failed { error: "nope".into() });
    }

    #[test]
    fn a_garbled_report_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let exe = fake_shim(dir.path(), "echo hello");
        let err = spawn_fake(&exe, dir.path()).unwrap_err();
        assert!(matches!(err, ShimError::BadReport { .. }), "{err}");
    }

    #[test]
    fn the_shim_runs_in_its_own_session() {
        let dir = tempfile::tempdir().unwrap();
        let body = r#"sid=$(ps -o sid= -p $$ | tr -d ' '); printf '{"Failed":{"error":"%s %s"}}\n' "$sid" "$$""#;
        let exe = fake_shim(dir.path(), body);
        let StartReport::Failed { error } = spawn_fake(&exe, dir.path()).unwrap() else { panic!("not Failed") };
        let (sid, pid) = error.split_once(' ').unwrap();
        assert_eq!(sid, pid, "session id = the shim's pid");
    }
}
