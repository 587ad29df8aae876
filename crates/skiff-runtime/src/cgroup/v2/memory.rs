//! v2 `memory` controller: `memory.max`, `memory.low`, `memory.swap.max`; OOM kills from `memory.events`.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroup::{read_keyed, write};
use crate::error::Result;

fn limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

pub(super) fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if let Some(l) = m.limit() {
        write(&dir.join("memory.max"), &limit(l))?;
    }
    if let Some(r) = m.reservation() {
        write(&dir.join("memory.low"), &limit(r))?;
    }
    // OCI `swap` is memory + swap; v2's memory.swap.max is swap alone
    if let (Some(s), Some(l)) = (m.swap(), m.limit()) {
        let f = dir.join("memory.swap.max");
        if f.exists() {
            write(&f, &if s < 0 { "max".into() } else { (s - l).max(0).to_string() })?;
        }
    }
    Ok(())
}

/// `oom_kill` in `memory.events`.
pub(super) fn oom_kills(dir: &Path) -> Result<u64> {
    read_keyed(&dir.join("memory.events"), "oom_kill")
}
