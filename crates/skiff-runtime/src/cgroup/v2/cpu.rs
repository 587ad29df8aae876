//! v2 `cpu` controller: `cpu.weight` (from v1 shares) and `cpu.max` (`"$QUOTA $PERIOD"`).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroup::write;
use crate::error::Result;

/// runc's conversion of v1 shares (2..262144) to a v2 weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

pub(super) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares() {
        let w = shares_to_weight(s);
        if w != 0 {
            write(&dir.join("cpu.weight"), &w.to_string())?;
        }
    }
    let period = c.period().filter(|p| *p != 0);
    match (c.quota().filter(|q| *q != 0), period) {
        (Some(q), p) => {
            let q = if q < 0 { "max".to_string() } else { q.to_string() };
            write(&dir.join("cpu.max"), &format!("{q} {}", p.unwrap_or(100_000)))?;
        }
        (None, Some(p)) => write(&dir.join("cpu.max"), &format!("max {p}"))?,
        (None, None) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn weights() {
        assert_eq!(super::shares_to_weight(2), 1);
        assert_eq!(super::shares_to_weight(1024), 39);
        assert_eq!(super::shares_to_weight(262_144), 10_000);
    }
}
