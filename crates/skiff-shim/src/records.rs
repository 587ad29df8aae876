//! The files of a bundle directory, shared by the agent and the shim: what the agent asks for (`config.json`),
//! what the shim reports (`started.json`, `exit.json`, and the one [`StartReport`] line on its stdout).
//!
//! Records are written to a temporary name and renamed into place, so a reader (the agent, possibly restarted)
//! sees a whole record or none. They are not fsynced: after a machine crash the containers are gone anyway.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ShimError;

/// Written by the agent before it spawns the shim.
pub const CONFIG_FILE: &str = "config.json";
/// Written by the shim once the container's process runs.
pub const STARTED_FILE: &str = "started.json";
/// Written by the shim once the container's init has exited and been reaped.
pub const EXIT_FILE: &str = "exit.json";
/// The shim's own stderr (its tracing output), appended to by every shim of the bundle.
pub const SHIM_LOG_FILE: &str = "shim.log";

/// `DIR/config.json`, written by the agent before it spawns the shim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    /// The container to start; its `stdio` is ignored: the shim connects stdin to `/dev/null` and stdout/stderr
    /// to pipes it copies into `log_path`.
    pub container: skiff_runtime::ContainerConfig,
    /// The CRI-format log file, created if absent (mode 0640) and appended to.
    pub log_path: PathBuf,
    /// The kubelet's `containerLogMaxSize`, in bytes: a write that would take `log_path` past it goes to a new
    /// file, the old one being renamed `<log_path>.<YYYYMMDD-hhmmss>` (UTC). 0 never rotates. Absent (a config
    /// written before rotation existed): 10 MiB.
    #[serde(default = "default_log_max_size")]
    pub log_max_size: u64,
    /// The kubelet's `containerLogMaxFiles`: the current file and the rotated ones kept (older ones removed,
    /// all but the newest rotated one gzip-compressed). Below 2 counts as 2. Absent: 5.
    #[serde(default = "default_log_max_files")]
    pub log_max_files: usize,
}

fn default_log_max_size() -> u64 {
    crate::log::DEFAULT_MAX_SIZE
}

fn default_log_max_files() -> usize {
    crate::log::DEFAULT_MAX_FILES
}

impl ShimConfig {
    /// A config with the kubelet's default log rotation.
    pub fn new(container: skiff_runtime::ContainerConfig, log_path: PathBuf) -> ShimConfig {
        ShimConfig { container, log_path, log_max_size: default_log_max_size(), log_max_files: default_log_max_files() }
    }

    /// How the shim rotates `log_path`.
    pub fn log_rotation(&self) -> crate::log::Rotation {
        crate::log::Rotation { max_size: self.log_max_size, max_files: self.log_max_files }
    }
}

/// The one JSON line the shim prints on its stdout once the container runs or failed to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartReport {
    /// `started_at` is RFC 3339 with nanoseconds, UTC (`2016-10-06T00:17:09.669794202Z`).
    Started { pid: i32, started_at: String },
    /// The runtime's error text (e.g. `exec: "nope": executable file not found in $PATH`); the runtime has
    /// already removed whatever it had created.
    Failed { error: String },
}

/// `DIR/started.json`: the container's init (pid in the shim's pid namespace) and when it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub pid: i32,
    pub started_at: String,
}

/// `DIR/exit.json`, written when the container's init has exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The exit code, or 128 + the signal number when killed by a signal.
    pub code: i32,
    /// The signal that killed the init (`"SIGKILL"`), if any.
    pub signal: Option<String>,
    /// The kernel's OOM killer killed a process of the container's memory cgroup.
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
}

/// Writes `DIR/config.json` (the agent, before [`crate::spawn`]).
pub fn write_config(bundle: &Path, cfg: &ShimConfig) -> Result<(), ShimError> {
    write_atomic(&bundle.join(CONFIG_FILE), cfg)
}

/// Reads `DIR/config.json`.
pub fn read_config(bundle: &Path) -> Result<ShimConfig, ShimError> {
    let path = bundle.join(CONFIG_FILE);
    read_json(&path)?.ok_or_else(|| ShimError::Io {
        op: "read",
        path,
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}

/// `DIR/started.json`, or `None` if the shim has not (yet) started the container.
pub fn read_started(bundle: &Path) -> Result<Option<Started>, ShimError> {
    read_json(&bundle.join(STARTED_FILE))
}

/// `DIR/exit.json`, or `None` while the container runs (or if it never started).
pub fn read_exit(bundle: &Path) -> Result<Option<ExitRecord>, ShimError> {
    read_json(&bundle.join(EXIT_FILE))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ShimError> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ShimError::Io { op: "read", path: path.into(), source: e }),
    };
    serde_json::from_slice(&data).map(Some).map_err(|source| ShimError::Decode { path: path.into(), source })
}

/// Writes `value` as JSON to `path.tmp`, then renames it to `path`.
pub(crate) fn write_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), ShimError> {
    let data = serde_json::to_vec(value).expect("records serialize: plain structs of strings and numbers");
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data).map_err(ShimError::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(ShimError::io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_absent_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_exit(dir.path()).unwrap(), None);
        assert_eq!(read_started(dir.path()).unwrap(), None);
        let rec = ExitRecord {
            code: 137,
            signal: Some("SIGKILL".into()),
            oom_killed: true,
            started_at: "2016-10-06T00:17:09.669794202Z".into(),
            finished_at: "2016-10-06T00:17:10.000000000Z".into(),
        };
        write_atomic(&dir.path().join(EXIT_FILE), &rec).unwrap();
        assert_eq!(read_exit(dir.path()).unwrap(), Some(rec));
        assert!(!dir.path().join("exit.json.tmp").exists());
    }

    #[test]
    fn a_corrupt_record_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STARTED_FILE), "{").unwrap();
        let err = read_started(dir.path()).unwrap_err().to_string();
        assert!(err.contains("started.json"), "{err}");
    }

    #[test]
    fn configs_without_rotation_fields_get_the_kubelets_defaults() {
        let container = skiff_runtime::ContainerConfig {
            id: "c1".into(),
            spec: oci_spec::runtime::Spec::default(),
            rootfs: skiff_runtime::RootfsSpec::Overlay {
                lower: vec!["/l".into()],
                upper: "/u".into(),
                work: "/w".into(),
                target: "/t".into(),
                volatile: true,
            },
            state_dir: "/s".into(),
            cgroup_parent: "p".into(),
            stdio: skiff_runtime::Stdio::null(),
        };
        let cfg = ShimConfig::new(container, "/l/0.log".into());
        let mut json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(json["log_max_size"], 10 * 1024 * 1024);
        assert_eq!(json["log_max_files"], 5);
        let obj = json.as_object_mut().unwrap();
        obj.remove("log_max_size");
        obj.remove("log_max_files");
        let old: ShimConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.log_rotation(), crate::log::Rotation { max_size: 10 << 20, max_files: 5 });
    }

    #[test]
    fn start_report_is_one_json_line() {
        let r = StartReport::Started { pid: 42, started_at: "2016-10-06T00:17:09.669794202Z".into() };
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<StartReport>(&line).unwrap(), r);
    }
}
