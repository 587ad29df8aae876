//! v1 `cpu` controller: `cpu.shares`, `cpu.cfs_period_us`, `cpu.cfs_quota_us`, and the real-time budget.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroup::write;
use crate::error::Result;

pub(super) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares() {
        if s != 0 {
            write(&dir.join("cpu.shares"), &s.to_string())?;
        }
    }
    // the period first: a quota is checked against the current period
    if let Some(p) = c.period() {
        if p != 0 {
            write(&dir.join("cpu.cfs_period_us"), &p.to_string())?;
        }
    }
    if let Some(q) = c.quota() {
        if q != 0 {
            write(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
        }
    }
    if let Some(p) = c.realtime_period() {
        if p != 0 {
            write(&dir.join("cpu.rt_period_us"), &p.to_string())?;
        }
    }
    if let Some(r) = c.realtime_runtime() {
        if r != 0 {
            write(&dir.join("cpu.rt_runtime_us"), &r.to_string())?;
        }
    }
    Ok(())
}
