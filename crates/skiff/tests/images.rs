//! `skiff image` against real local registries (Debian's docker-registry) holding the test images built from
//! Debian packages (`tests/images/`): mirrors, shared layers, whiteouts, auth, errors, resumed pulls, imports.

mod common;
use common::registry::{ensure_images, repo_root, Registry};
use common::*;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SEED_IMAGES: &[&str] = &[
    "nginx:1.24",
    "busybox:1.36",
    "myapp:1.0",
    "myapp:2.0",
    "api-server:1.0",
    "fluent/fluent-bit:2.0",
    "nginx/nginx-prometheus-exporter:0.11",
];

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        Node { dir: tempfile::Builder::new().prefix("skiff-images-").tempdir().unwrap() }
    }

    fn image(&self, mirror: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["image", "--data-dir"])
            .arg(self.dir.path())
            .args(["--registry-mirror", &format!("docker.io={mirror}")])
            .args(args)
            .output()
            .expect("running skiff image")
    }

    fn ok(&self, mirror: &str, args: &[&str]) -> String {
        let out = self.image(mirror, args);
        assert!(out.status.success(), "skiff image {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, mirror: &str, args: &[&str]) -> String {
        let out = self.image(mirror, args);
        assert!(!out.status.success(), "skiff image {args:?} unexpectedly succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn records(&self) -> serde_json::Value {
        match std::fs::read(self.dir.path().join("images/images.json")) {
            Ok(b) => serde_json::from_slice(&b).unwrap(),
            Err(_) => serde_json::Value::Null,
        }
    }

    fn layer_dir(&self, digest: &str) -> PathBuf {
        self.dir.path().join("images/layers/sha256").join(digest.trim_start_matches("sha256:"))
    }

    fn blob_count(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("images/blobs/sha256")).unwrap().count()
    }
}

/// `images.json` of the build, keyed by `repo:tag`.
fn expected() -> serde_json::Value {
    let all: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ensure_images().join("images.json")).unwrap()).unwrap();
    let mut by_ref = serde_json::Map::new();
    for img in all["images"].as_array().unwrap() {
        by_ref.insert(img["ref"].as_str().unwrap().to_string(), img.clone());
    }
    serde_json::Value::Object(by_ref)
}

#[test]
fn every_test_image_pulls_through_the_mirror_once_and_shares_layers() {
    let reg = Registry::seeded(&[]);
    let node = Node::new();
    for img in SEED_IMAGES {
        let out = node.ok(&reg.url(), &["pull", img]);
        assert!(
            out.contains(&format!(
                "docker.io/{}",
                if img.contains('/') { img.to_string() } else { format!("library/{img}") }
            )),
            "{out}"
        );
    }
    let ls = node.ok(&reg.url(), &["ls"]);
    assert!(ls.starts_with("REF"), "{ls}");
    let want = expected();
    for img in SEED_IMAGES {
        let repo_tag = if img.contains('/') { img.to_string() } else { format!("library/{img}") };
        let digest =
            want[&repo_tag]["digest"].as_str().unwrap_or_else(|| panic!("{repo_tag} missing from images.json: {want}"));
        let line = ls
            .lines()
            .find(|l| l.starts_with(&format!("docker.io/{repo_tag} ")))
            .unwrap_or_else(|| panic!("{repo_tag} not listed:\n{ls}"));
        assert!(line.contains(digest), "{line} should show {digest}");
        assert!(line.trim_end().ends_with("iB"), "{line} should show a size");
    }

    // Pulling again transfers no blob.
    let before = reg.blob_gets();
    for img in SEED_IMAGES {
        node.ok(&reg.url(), &["pull", img]);
    }
    assert_eq!(reg.blob_gets(), before, "a second pull downloaded blobs again");

    // myapp and api-server share their base layer: one blob, one unpacked directory.
    let records = node.records();
    let myapp = &records["images"]["docker.io/library/myapp:1.0"]["layers"][0]["digest"];
    let api = &records["images"]["docker.io/library/api-server:1.0"]["layers"][0]["digest"];
    assert_eq!(myapp, api, "the test images are built on one base layer");
    let base = myapp.as_str().unwrap();
    assert!(node.layer_dir(base).join("bin/busybox").is_file());
    let distinct: std::collections::BTreeSet<String> = records["images"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|r| r["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()))
        .collect();
    let on_disk = std::fs::read_dir(node.dir.path().join("images/layers/sha256")).unwrap().count();
    assert_eq!(on_disk, distinct.len(), "each layer is unpacked exactly once");
}

#[test]
fn a_multi_arch_index_resolves_to_linux_amd64() {
    let reg = Registry::seeded(&[]);
    let node = Node::new();
    node.ok(&reg.url(), &["pull", "busybox:multi"]);
    let rec = &node.records()["images"]["docker.io/library/busybox:multi"];
    let want = expected();
    assert_eq!(rec["manifest"], want["library/busybox:1.36"]["digest"], "amd64 entry is busybox:1.36");
    assert_eq!(rec["digest"], want["library/busybox:multi"]["digest"]);
    assert_ne!(rec["digest"], rec["manifest"], "the repo digest is the index's");
}

#[test]
fn whiteouts_and_opaque_dirs_unpack_in_overlay_form() {
    let reg = Registry::seeded(&[]);
    let node = Node::new();
    node.ok(&reg.url(), &["pull", "library/whiteout:1.0"]);
    let layers = node.records()["images"]["docker.io/library/whiteout:1.0"]["layers"].clone();
    let top = node.layer_dir(layers[2]["digest"].as_str().unwrap());
    let wh = std::fs::symlink_metadata(top.join("data/a")).expect("whiteout for /data/a");
    assert!(wh.file_type().is_char_device(), "a whiteout is a character device");
    assert_eq!(std::os::unix::fs::MetadataExt::rdev(&wh), 0, "a whiteout is device 0:0");
    let opaque = xattr(&top.join("data/dir"), "trusted.overlay.opaque");
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]), "opaque dir marker");
    assert!(top.join("data/dir/z").is_file() && top.join("data/c").is_file());
    assert!(!top.join("data/.wh.a").exists() && !top.join("data/dir/.wh..wh..opq").exists());
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let out = Command::new("getfattr").args(["--only-values", "-n", name]).arg(path).output().ok()?;
    out.status.success().then_some(out.stdout)
}

#[test]
fn basic_auth_registries_need_the_right_password() {
    let reg = Registry::seeded(&["--htpasswd", "alice:s3cret"]);
    let node = Node::new();
    let host = format!("127.0.0.1:{}", reg.port);
    // No credentials: the registry's 401 names it.
    let err = node.fails(&reg.url(), &["pull", "busybox:1.36"]);
    assert!(err.contains("401") && err.contains(&host), "{err}");
    write_auth(&node, &host, "alice", "wrong");
    let err = node.fails(&reg.url(), &["pull", "busybox:1.36"]);
    assert!(err.contains("401") && err.contains(&host), "{err}");
    write_auth(&node, &host, "alice", "s3cret");
    node.ok(&reg.url(), &["pull", "busybox:1.36"]);
}

#[test]
fn token_auth_registries_work_with_credentials() {
    let token_port = free_port();
    let realm = format!("http://127.0.0.1:{token_port}/token");
    let reg = Registry::seeded(&["--htpasswd", "alice:s3cret", "--token", &realm]);
    let node = Node::new();
    let host = format!("127.0.0.1:{}", reg.port);
    let err = node.fails(&reg.url(), &["pull", "nginx:1.24"]);
    assert!(err.contains("401") && err.contains(&host), "{err}");
    write_auth(&node, &host, "alice", "wrong");
    let err = node.fails(&reg.url(), &["pull", "nginx:1.24"]);
    assert!(err.contains("401") && err.contains(&host), "{err}");
    write_auth(&node, &host, "alice", "s3cret");
    node.ok(&reg.url(), &["pull", "nginx:1.24"]);
    let log = std::fs::read_to_string(reg.dir.path().join("token_server.log")).unwrap_or_default();
    assert!(log.contains("alice"), "the token server issued alice a token:\n{log}");
}

fn write_auth(node: &Node, host: &str, user: &str, pass: &str) {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    std::fs::create_dir_all(node.dir.path().join("images")).unwrap();
    std::fs::write(
        node.dir.path().join("images/auth.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
}

#[test]
fn missing_tags_and_unreachable_registries_are_clear_errors() {
    let reg = Registry::seeded(&[]);
    let node = Node::new();
    let err = node.fails(&reg.url(), &["pull", "nginx:9.9.9"]);
    assert!(err.contains("\"docker.io/library/nginx:9.9.9\": docker.io/library/nginx:9.9.9: not found"), "{err}");
    // Nothing listens there: the mirror fails, then Docker Hub itself is unreachable (no internet) — an error,
    // not a hang.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let err = node.fails(&closed, &["pull", "busybox:1.36"]);
    assert!(err.contains("unreachable") || err.contains("error sending request"), "{err}");
}

#[test]
fn a_killed_pull_resumes_and_never_uses_a_partial_blob() {
    let reg = Registry::seeded(&[]);
    // A big layer of incompressible bytes, so the pull takes long enough to be killed in the middle.
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let mut data = vec![0u8; 96 << 20];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(rootfs.join("big.bin"), &data).unwrap();
    let layout = work.path().join("layout");
    let out = Command::new("python3")
        .arg(repo_root().join("tests/images/mkimage.py"))
        .args(["image", "--out"])
        .arg(&layout)
        .args(["--ref", "latest", "--cache"])
        .arg(work.path().join("cache"))
        .args(["--config", r#"{"Cmd":["sh"]}"#, "--layer"])
        .arg(&rootfs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    reg.push(&layout, "library/big:1.0");

    let node = Node::new();
    let ingest = node.dir.path().join("images/ingest");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["image", "--data-dir"])
        .arg(node.dir.path())
        .args(["--registry-mirror", &format!("docker.io={}", reg.url()), "pull", "big:1.0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = eventually(60, "a partial download", || {
        std::fs::read_dir(&ingest).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
            p.extension().is_some_and(|e| e == "partial")
                && std::fs::metadata(p).map(|m| m.len() > 1 << 20).unwrap_or(false)
        })
    });
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let done_by_kill = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    assert!(node.records().is_null() || node.records()["images"].get("docker.io/library/big:1.0").is_none());

    assert!(done_by_kill > 0);
    // The next pull resumes where the killed one stopped (a ranged request: 206 Partial Content).
    node.ok(&reg.url(), &["pull", "big:1.0"]);
    assert!(
        reg.log().lines().any(|l| l.contains("/blobs/sha256:") && l.contains("\" 206 ")),
        "no ranged resume in the registry log"
    );
    let rec = &node.records()["images"]["docker.io/library/big:1.0"];
    let layer = rec["layers"][0]["digest"].as_str().unwrap();
    let unpacked = std::fs::read(node.layer_dir(layer).join("big.bin")).unwrap();
    assert!(unpacked == data, "the unpacked file is exactly what was pushed");
}

#[test]
fn oci_layout_and_docker_archive_tarballs_import() {
    let images = ensure_images();
    let node = Node::new();
    let work = tempfile::tempdir().unwrap();
    let oci_tar = work.path().join("busybox-oci.tar");
    let docker_tar = work.path().join("busybox-docker.tar");
    let layout = images.join("oci/busybox-1.36");
    for (dest, extra) in [
        (format!("oci-archive:{}:docker.io/library/imported:oci", oci_tar.display()), None::<&str>),
        (format!("docker-archive:{}:imported:docker", docker_tar.display()), None),
    ] {
        let _ = extra;
        let out = Command::new("skopeo").args(["copy", &format!("oci:{}", layout.display()), &dest]).output().unwrap();
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = node.ok("http://127.0.0.1:1", &["import", oci_tar.to_str().unwrap()]);
    assert!(out.contains("docker.io/library/imported:oci"), "{out}");
    let out = node.ok("http://127.0.0.1:1", &["import", docker_tar.to_str().unwrap()]);
    assert!(out.contains("docker.io/library/imported:docker"), "{out}");
    let ls = node.ok("http://127.0.0.1:1", &["ls"]);
    assert!(ls.contains("docker.io/library/imported:oci") && ls.contains("docker.io/library/imported:docker"), "{ls}");
    for name in ["docker.io/library/imported:oci", "docker.io/library/imported:docker"] {
        let layer = node.records()["images"][name]["layers"][0]["digest"].as_str().unwrap().to_string();
        assert!(node.layer_dir(&layer).join("bin/busybox").is_file(), "{name} is unpacked and usable");
    }
    // rm + prune frees what only the removed image used.
    let blobs_before = node.blob_count();
    node.ok("http://127.0.0.1:1", &["rm", "imported:docker"]);
    let pruned = node.ok("http://127.0.0.1:1", &["prune"]);
    assert!(pruned.starts_with("Deleted"), "{pruned}");
    assert!(node.blob_count() < blobs_before);
    let layer =
        node.records()["images"]["docker.io/library/imported:oci"]["layers"][0]["digest"].as_str().unwrap().to_string();
    assert!(node.layer_dir(&layer).join("bin/busybox").is_file(), "prune keeps what remaining images use");
}

#[test]
fn a_corrupt_partial_blob_is_detected_and_fetched_again() {
    let reg = Registry::seeded(&[]);
    let node = Node::new();
    let want = expected();
    let layer = want["library/nginx:1.24"]["layers"][1].as_str().unwrap().to_string();
    // The layer's size, from a pull into another node.
    let other = Node::new();
    other.ok(&reg.url(), &["pull", "nginx:1.24"]);
    let blob_name = layer.trim_start_matches("sha256:");
    let size = std::fs::metadata(other.dir.path().join("images/blobs/sha256").join(blob_name)).unwrap().len();
    node.ok(&reg.url(), &["pull", "busybox:1.36"]); // creates the store
                                                    // A complete-looking but wrong partial download of nginx's layer (as a crash mid-write could leave).
    let partial =
        node.dir.path().join("images/ingest").join(format!("{}.partial", layer.trim_start_matches("sha256:")));
    std::fs::write(&partial, vec![0x5a; size as usize]).unwrap();
    node.ok(&reg.url(), &["pull", "nginx:1.24"]);
    let blob = node.dir.path().join("images/blobs/sha256").join(layer.trim_start_matches("sha256:"));
    let out = Command::new("sha256sum").arg(&blob).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(layer.trim_start_matches("sha256:")),
        "the stored blob is the real one"
    );
    assert!(
        node.layer_dir(&layer).join("usr/sbin/nginx").exists()
            || node.layer_dir(&layer).read_dir().unwrap().count() > 0
    );
}

#[test]
fn a_full_disk_is_a_clear_error() {
    let reg = Registry::seeded(&[]);
    let node = Node::new();
    // A 1 MiB tmpfs as the image store: nginx (5 MiB) cannot fit.
    let store = node.dir.path().join("images");
    std::fs::create_dir_all(&store).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(&store).status().unwrap();
    assert!(mounted.success(), "mounting a tmpfs (tests run as root)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(store.clone());
    let err = node.fails(&reg.url(), &["pull", "nginx:1.24"]);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains(store.to_str().unwrap()), "the error names where it failed: {err}");
}

#[test]
fn a_registry_that_stops_answering_times_out() {
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let node = Node::new();
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["image", "--data-dir"])
        .arg(node.dir.path())
        .args(["--registry-mirror", &format!("docker.io={url}"), "pull", "busybox:1.36"])
        .env("SKIFF_REGISTRY_TIMEOUT_SECS", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("registry unreachable: timed out after 2s"), "{err}");
    drop(silent);
}
