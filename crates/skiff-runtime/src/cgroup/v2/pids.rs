//! v2 `pids` controller: `pids.max`.

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::cgroup::write;
use crate::error::Result;

pub(super) fn apply(dir: &Path, p: &LinuxPids) -> Result<()> {
    let v = if p.limit() > 0 { p.limit().to_string() } else { "max".to_string() };
    write(&dir.join("pids.max"), &v)
}
