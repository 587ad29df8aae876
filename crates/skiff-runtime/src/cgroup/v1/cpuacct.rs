//! v1 `cpuacct` controller: nothing to limit; joined so that usage (`cpuacct.usage`) is per container.

use std::path::Path;

use crate::error::Result;

pub(super) fn apply(_dir: &Path) -> Result<()> {
    Ok(())
}

/// CPU time used by the cgroup, in nanoseconds.
#[allow(dead_code)] // read by the node agent's stats (later)
pub(super) fn usage_ns(dir: &Path) -> Result<u64> {
    let f = dir.join("cpuacct.usage");
    let s = std::fs::read_to_string(&f).map_err(crate::error::RuntimeError::io("read", f))?;
    Ok(s.trim().parse().unwrap_or(0))
}
