//! The per-container shim (`skiff shim --bundle DIR`) and the CRI log format.
//!
//! Like conmon or containerd-shim: one small, single-threaded process per container, so that the container's
//! init has a parent that outlives the agent. The agent writes `DIR/config.json` ([`ShimConfig`]) and calls
//! [`spawn`], which starts the shim in its own session and returns the one line it reports ([`StartReport`]).
//! The shim ([`main`], in `process.rs`) starts the container with `skiff_runtime::create_and_start` (which clones
//! the calling process — hence single-threaded), writes `DIR/started.json`, copies the container's stdout and
//! stderr into a CRI-format log file ([`log`]; rotated by size and compressed as the kubelet does, by the limits
//! of the config), and when the init exits reaps it and writes `DIR/exit.json`
//! ([`ExitRecord`]). It never destroys the container: the agent reads the exit record and the logs, then calls
//! `skiff_runtime::destroy_by_id`.
//!
//! Bundle layout (all written atomically, by rename): `config.json` (agent), `started.json` and `exit.json`
//! (shim), `shim.log` (the shim's own stderr, appended to).
//!
//! `skiff shim exec --bundle DIR [--timeout SECS] -- CMD…` ([`exec_main`]) runs a command inside the bundle's
//! running container and exits with its exit code; the agent runs it with [`exec`] (exec probes, and
//! `kubectl exec` later).
//!
//! Nothing here knows about Kubernetes objects; [`log`] knows the CRI log format that `kubectl logs` reads.

mod error;
mod exec;
pub mod log;
mod process;
mod records;
mod spawn;

pub use error::ShimError;
pub use exec::{exec, exec_main, ExecOutput, ERROR_PREFIX, EXIT_CANNOT_EXEC, EXIT_TIMED_OUT, MAX_OUTPUT};
pub use process::main;
pub use records::{
    read_config, read_exit, read_started, write_config, ExitRecord, ShimConfig, StartReport, Started, CONFIG_FILE,
    EXIT_FILE, SHIM_LOG_FILE, STARTED_FILE,
};
pub use spawn::spawn;
