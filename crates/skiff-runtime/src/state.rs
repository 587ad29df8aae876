//! The container's state record, `STATE_DIR/<id>/state.json`: written before any kernel object exists
//! (cgroup, mount, process), updated with the pid once the process runs, removed after teardown — so
//! `destroy_by_id` can always find and remove what a crashed caller left behind.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroup::Layout;
use crate::error::{Result, RuntimeError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub id: String,
    pub layout: Layout,
    pub cgroup_parent: String,
    /// The overlay mount point the runtime mounted (none for a `Dir` rootfs).
    pub mounted_rootfs: Option<PathBuf>,
    /// 0 until the process exists.
    pub pid: i32,
    /// The process's start time (field 22 of `/proc/PID/stat`), guarding against pid reuse.
    pub start_time: u64,
    /// The spec's process (user, capabilities, no_new_privs, env, cwd, rlimits, oom_score_adj): what a process
    /// exec'd into the container gets unless told otherwise. Absent from records written before exec existed.
    #[serde(default)]
    pub process: Option<oci_spec::runtime::Process>,
}

pub(crate) fn dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join(id)
}

pub(crate) fn write(state_dir: &Path, st: &State) -> Result<()> {
    let d = dir(state_dir, &st.id);
    std::fs::create_dir_all(&d).map_err(RuntimeError::io("mkdir", &d))?;
    let tmp = d.join("state.json.tmp");
    let json = serde_json::to_vec(st).map_err(|e| RuntimeError::State { path: tmp.clone(), msg: e.to_string() })?;
    std::fs::write(&tmp, json).map_err(RuntimeError::io("write", &tmp))?;
    let f = d.join("state.json");
    std::fs::rename(&tmp, &f).map_err(RuntimeError::io("rename", f))
}

pub(crate) fn read(state_dir: &Path, id: &str) -> Result<Option<State>> {
    let f = dir(state_dir, id).join("state.json");
    match std::fs::read(&f) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| RuntimeError::State { path: f, msg: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::Io { op: "read", path: f, source: e }),
    }
}

pub(crate) fn remove(state_dir: &Path, id: &str) -> Result<()> {
    let d = dir(state_dir, id);
    match std::fs::remove_dir_all(&d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::Io { op: "rm -r", path: d, source: e }),
    }
}

/// Field 22 (starttime) of `/proc/PID/stat`; `None` if the process is gone.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, t)| t)
}

/// Whether `pid` is the process that started at `start_time` and has not exited (a zombie has).
pub(crate) fn running(pid: i32, start_time: u64) -> bool {
    pid > 0 && stat(pid).is_some_and(|(state, t)| t == start_time && state != 'Z' && state != 'X')
}

/// (state, starttime): fields 3 and 22 of `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    let mut rest = s[s.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.nth(18)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_a_process_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().join("old");
        std::fs::create_dir(&d).expect("mkdir");
        let old = r#"{"id":"old","layout":"V1","cgroup_parent":"skiff","mounted_rootfs":null,"pid":7,"start_time":9}"#;
        std::fs::write(d.join("state.json"), old).expect("write");
        let st = read(dir.path(), "old").expect("read").expect("a record");
        assert_eq!((st.pid, st.start_time, st.process.is_none()), (7, 9, true));
    }

    #[test]
    fn our_own_process_is_running() {
        let me = std::process::id() as i32;
        let t = start_time(me).expect("our start time");
        assert!(running(me, t));
        assert!(!running(me, t + 1));
        assert!(!running(0, t));
    }
}
