//! Invalid manifests (`tests/invalid/*.yaml`, each with `# expect:` lines) get upstream's status and message,
//! as the real kubectl prints them, and never make the server panic.

mod common;
use common::*;

#[test]
fn invalid_manifests_get_upstream_errors() {
    let s = Server::start();
    let dir = seed_dir().join("../invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 20, "expected at least 20 invalid manifests in {}", dir.display());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let expects: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        assert!(!expects.is_empty(), "{} has no `# expect:` line", f.display());
        let out = s.kubectl(&["create", "-f", f.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!("{}: was accepted", f.display()));
            continue;
        }
        for e in expects {
            if !stderr.contains(e) {
                failures.push(format!("{}:\n  expected: {e}\n  got:      {}", f.display(), stderr.trim()));
            }
        }
    }
    s.assert_no_panic();
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
