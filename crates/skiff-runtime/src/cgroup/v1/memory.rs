//! v1 `memory` controller: `memory.limit_in_bytes`, `memory.soft_limit_in_bytes`, `memory.memsw.limit_in_bytes`,
//! `memory.swappiness`, `memory.oom_control`; OOM kills counted by `oom_kill` in `memory.oom_control`.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroup::{read_keyed, write};
use crate::error::Result;

pub(super) fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if let Some(limit) = m.limit() {
        write(&dir.join("memory.limit_in_bytes"), &limit.to_string())?;
    }
    if let Some(r) = m.reservation() {
        write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
    }
    // OCI `swap` is memory + swap; the file is absent when the kernel does not account swap
    if let Some(s) = m.swap() {
        let f = dir.join("memory.memsw.limit_in_bytes");
        if f.exists() {
            write(&f, &s.to_string())?;
        } else {
            tracing::debug!("swap accounting unavailable: memory.swap ignored");
        }
    }
    if let Some(s) = m.swappiness() {
        if s <= 100 {
            write(&dir.join("memory.swappiness"), &s.to_string())?;
        }
    }
    if m.disable_oom_killer() == Some(true) {
        write(&dir.join("memory.oom_control"), "1")?;
    }
    Ok(())
}

/// The `oom_kill` counter of `memory.oom_control` (kernel ≥ 4.13).
pub(super) fn oom_kills(dir: &Path) -> Result<u64> {
    read_keyed(&dir.join("memory.oom_control"), "oom_kill")
}
