//! PodVolumes end to end on the real file system: each volume type, refreshes, fsGroup, tmpfs mounts and a
//! teardown that leaves nothing. Needs root (tmpfs mounts, chown).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Volume};
use k8s_openapi::ByteString;
use skiff_volumes::{failed_mount_message, NodeInfo, Objects, PodVolumes};

#[derive(Default)]
struct Fetched {
    config_maps: HashMap<String, ConfigMap>,
    secrets: HashMap<String, Secret>,
    token: Option<String>,
}

impl Objects for Fetched {
    fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        self.config_maps.get(name)
    }
    fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name)
    }
    fn service_account_token(&self, audience: Option<&str>, expiration_seconds: i64) -> Result<String, String> {
        match &self.token {
            Some(t) => Ok(format!("{t}:{}:{expiration_seconds}", audience.unwrap_or("-"))),
            None => Err("serviceaccounts \"default\" not found".into()),
        }
    }
}

/// A pod volumes root in a fresh temp dir; tears down (unmounting any tmpfs) even when a test fails.
struct Harness {
    vols: PodVolumes,
    _tmp: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let vols = PodVolumes::new(tmp.path().join("pods/uid-1/volumes"));
        Harness { vols, _tmp: tmp }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.vols.teardown();
    }
}

fn node() -> NodeInfo {
    NodeInfo {
        node_name: "node-1".into(),
        allocatable_cpu_millis: 2000,
        allocatable_memory_bytes: 4 << 30,
        allocatable_ephemeral_bytes: 50 << 30,
    }
}

fn pod(extra_spec: serde_json::Value) -> Pod {
    let mut spec = serde_json::json!({"containers": [{"name": "app",
        "resources": {"limits": {"memory": "256Mi"}}}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        s.extend(e.clone());
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-1", "labels": {"app": "web"}},
        "spec": spec,
    }))
    .expect("test pod is valid")
}

fn volume(v: serde_json::Value) -> Volume {
    serde_json::from_value(v).expect("test volume is valid")
}

fn config_map(data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap { data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()), ..Default::default() }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("exists").mode() & 0o7777
}

fn mountinfo_mentions(p: &Path) -> bool {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let needle = p.to_string_lossy().replace(' ', "\\040");
    text.lines().any(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&*needle)))
}

fn is_tmpfs(p: &Path) -> bool {
    let canon = p.canonicalize().expect("canon");
    let text = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    text.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        f.get(4).is_some_and(|m| Path::new(m) == canon)
            && f.iter().position(|x| *x == "-").and_then(|i| f.get(i + 1)) == Some(&"tmpfs")
    })
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).expect("readable").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn empty_dir_on_disk_is_a_0777_directory() {
    let h = Harness::new();
    let vol = volume(serde_json::json!({"name": "scratch", "emptyDir": {}}));
    let dir = h.vols.setup(&pod(serde_json::json!({})), &vol, &Fetched::default(), &node()).expect("setup");
    assert_eq!(dir, h.vols.root().join("kubernetes.io~empty-dir/scratch"));
    assert_eq!(mode(&dir), 0o777);
    fs::write(dir.join("kept"), "x").expect("write");
    h.vols.setup(&pod(serde_json::json!({})), &vol, &Fetched::default(), &node()).expect("again");
    assert!(dir.join("kept").exists(), "a second setup keeps the contents");
}

#[test]
fn empty_dir_with_fs_group_is_group_owned_and_setgid() {
    let h = Harness::new();
    let vol = volume(serde_json::json!({"name": "scratch", "emptyDir": {}}));
    let p = pod(serde_json::json!({"securityContext": {"fsGroup": 2345}}));
    let dir = h.vols.setup(&p, &vol, &Fetched::default(), &node()).expect("setup");
    assert_eq!(fs::metadata(&dir).expect("meta").gid(), 2345);
    assert_eq!(mode(&dir), 0o2777);
}

#[test]
fn memory_empty_dir_is_a_sized_tmpfs_and_teardown_leaves_nothing() {
    let h = Harness::new();
    let vol = volume(serde_json::json!({"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}));
    let p = pod(serde_json::json!({}));
    let dir = h.vols.setup(&p, &vol, &Fetched::default(), &node()).expect("setup");
    assert!(is_tmpfs(&dir));
    assert_eq!(mode(&dir), 0o1777);
    let stat = nix::sys::statvfs::statvfs(&dir).expect("statvfs");
    assert_eq!(stat.blocks() as u64 * stat.fragment_size() as u64, 64 << 20);
    fs::write(dir.join("f"), "x").expect("write");
    // Idempotent: no second tmpfs stacked on the first.
    h.vols.setup(&p, &vol, &Fetched::default(), &node()).expect("again");
    assert!(dir.join("f").exists());

    let root = h.vols.root().canonicalize().expect("canon");
    h.vols.teardown().expect("teardown");
    assert!(!root.exists());
    assert!(!mountinfo_mentions(&root));
    h.vols.teardown().expect("teardown is idempotent");
}

#[test]
fn config_map_volume_layout_update_and_key_removal() {
    let h = Harness::new();
    let mut objects = Fetched::default();
    objects.config_maps.insert("app".into(), config_map(&[("a.conf", "one"), ("b.conf", "two")]));
    let vol = volume(serde_json::json!({"name": "config", "configMap": {"name": "app"}}));
    let p = pod(serde_json::json!({}));
    let dir = h.vols.setup(&p, &vol, &objects, &node()).expect("setup");
    assert_eq!(dir, h.vols.root().join("kubernetes.io~configmap/config"));
    assert!(!is_tmpfs(&dir), "configMaps are on disk");
    assert_eq!(mode(&dir), 0o777);
    let listing = names(&dir);
    assert_eq!(listing.len(), 4, "{listing:?}");
    assert_eq!(&listing[2..], ["a.conf", "b.conf"]);
    assert!(listing[0].starts_with("..20") && listing[1] == "..data", "{listing:?}");
    assert_eq!(fs::read_link(dir.join("a.conf")).expect("link"), Path::new("..data/a.conf"));
    assert_eq!(fs::read_to_string(dir.join("a.conf")).expect("read"), "one");
    assert_eq!(mode(&dir.join("a.conf")), 0o644);

    let first = fs::read_link(dir.join("..data")).expect("..data");
    h.vols.setup(&p, &vol, &objects, &node()).expect("unchanged");
    assert_eq!(fs::read_link(dir.join("..data")).expect("..data"), first, "no rewrite without a change");

    objects.config_maps.insert("app".into(), config_map(&[("a.conf", "uno")]));
    h.vols.setup(&p, &vol, &objects, &node()).expect("update");
    let second = fs::read_link(dir.join("..data")).expect("..data");
    assert_ne!(second, first);
    assert_eq!(fs::read_to_string(dir.join("a.conf")).expect("read"), "uno");
    assert!(fs::symlink_metadata(dir.join("b.conf")).is_err());
    assert!(!dir.join(&first).exists(), "the old version is gone");
}

#[test]
fn config_map_items_modes_nested_paths_and_binary_data() {
    let h = Harness::new();
    let mut cm = config_map(&[("a", "1"), ("b", "2")]);
    cm.binary_data = Some(BTreeMap::from([("bin".to_string(), ByteString(vec![0xff, 0]))]));
    let mut objects = Fetched::default();
    objects.config_maps.insert("app".into(), cm);
    let vol = volume(serde_json::json!({"name": "config", "configMap": {"name": "app", "defaultMode": 0o600,
        "items": [{"key": "a", "path": "nested/dir/a.txt", "mode": 0o444}, {"key": "bin", "path": "b.bin"}]}}));
    let dir = h.vols.setup(&pod(serde_json::json!({})), &vol, &objects, &node()).expect("setup");
    assert_eq!(fs::read_link(dir.join("nested")).expect("link"), Path::new("..data/nested"));
    assert_eq!(fs::read_to_string(dir.join("nested/dir/a.txt")).expect("read"), "1");
    assert_eq!(mode(&dir.join("nested/dir/a.txt")), 0o444);
    assert_eq!(fs::read(dir.join("b.bin")).expect("read"), vec![0xff, 0]);
    assert_eq!(mode(&dir.join("b.bin")), 0o600);
    assert!(!dir.join("b").exists(), "only listed items");
}

#[test]
fn missing_objects_and_keys() {
    let h = Harness::new();
    let p = pod(serde_json::json!({}));
    let objects = Fetched::default();
    let vol = volume(serde_json::json!({"name": "config", "configMap": {"name": "app"}}));
    let err = h.vols.setup(&p, &vol, &objects, &node()).expect_err("missing");
    assert_eq!(
        failed_mount_message("config", &err),
        "MountVolume.SetUp failed for volume \"config\" : configmap \"app\" not found"
    );
    assert!(!h.vols.root().join("kubernetes.io~configmap/config").exists(), "nothing created");

    let vol = volume(serde_json::json!({"name": "creds", "secret": {"secretName": "db"}}));
    assert_eq!(h.vols.setup(&p, &vol, &objects, &node()).expect_err("missing").to_string(), "secret \"db\" not found");

    let vol = volume(serde_json::json!({"name": "config", "configMap": {"name": "app", "optional": true}}));
    let dir = h.vols.setup(&p, &vol, &objects, &node()).expect("optional");
    assert_eq!(names(&dir).len(), 2, "only ..data and its directory");

    let mut objects = Fetched::default();
    objects.config_maps.insert("app".into(), config_map(&[("a", "1")]));
    let vol = volume(serde_json::json!({"name": "c2", "configMap": {"name": "app",
        "items": [{"key": "zzz", "path": "z"}]}}));
    let err = h.vols.setup(&p, &vol, &objects, &node()).expect_err("missing key");
    assert_eq!(err.to_string(), "configmap references non-existent config key: zzz");

    let vol = volume(serde_json::json!({"name": "c3", "configMap": {"name": "app",
        "items": [{"key": "a", "path": "../escape"}]}}));
    let err = h.vols.setup(&p, &vol, &objects, &node()).expect_err("bad path");
    assert_eq!(err.to_string(), "invalid path: must not contain '..': ../escape");
    assert!(!h.vols.root().join("kubernetes.io~configmap/c3").exists(), "a failed first setup is removed");
}

#[test]
fn secret_volume_is_tmpfs_with_fs_group_ownership() {
    let h = Harness::new();
    let mut objects = Fetched::default();
    objects.secrets.insert(
        "db".into(),
        Secret {
            data: Some(BTreeMap::from([("password".to_string(), ByteString(b"hunter2".to_vec()))])),
            ..Default::default()
        },
    );
    let vol = volume(serde_json::json!({"name": "creds", "secret": {"secretName": "db", "defaultMode": 0o400}}));
    let p = pod(serde_json::json!({"securityContext": {"fsGroup": 3000}}));
    let dir = h.vols.setup(&p, &vol, &objects, &node()).expect("setup");
    assert_eq!(dir, h.vols.root().join("kubernetes.io~secret/creds"));
    assert!(is_tmpfs(&dir), "secrets never touch the disk");
    assert_eq!(fs::read_to_string(dir.join("password")).expect("read"), "hunter2");
    let file = fs::metadata(dir.join("password")).expect("meta");
    assert_eq!(file.gid(), 3000);
    assert_eq!(file.mode() & 0o7777, 0o440, "group read added to 0400");
    assert_eq!(mode(&dir), 0o3777, "tmpfs root 1777 + setgid");
}

#[test]
fn downward_api_volume_renders_fields() {
    let h = Harness::new();
    let vol = volume(serde_json::json!({"name": "podinfo", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}},
        {"path": "cpu", "mode": 0o400,
            "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "1m"}}]}}));
    let dir = h.vols.setup(&pod(serde_json::json!({})), &vol, &Fetched::default(), &node()).expect("setup");
    assert_eq!(dir, h.vols.root().join("kubernetes.io~downward-api/podinfo"));
    assert_eq!(fs::read_to_string(dir.join("labels")).expect("read"), "app=\"web\"");
    assert_eq!(fs::read_to_string(dir.join("name")).expect("read"), "web");
    assert_eq!(fs::read_to_string(dir.join("mem")).expect("read"), "256");
    assert_eq!(fs::read_to_string(dir.join("cpu")).expect("read"), "2000", "node allocatable when unset");
    assert_eq!(mode(&dir.join("cpu")), 0o400);
}

#[test]
fn projected_volume_combines_sources() {
    let h = Harness::new();
    let mut objects = Fetched { token: Some("tok".into()), ..Default::default() };
    objects.config_maps.insert("ca".into(), config_map(&[("ca.crt", "CERT")]));
    let vol = volume(serde_json::json!({"name": "kube-api-access", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "audience": "api"}},
        {"configMap": {"name": "ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}));
    let p = pod(serde_json::json!({}));
    let dir = h.vols.setup(&p, &vol, &objects, &node()).expect("setup");
    assert!(is_tmpfs(&dir));
    assert_eq!(names(&dir)[2..], ["ca.crt", "namespace", "token"]);
    assert_eq!(fs::read_to_string(dir.join("token")).expect("read"), "tok:api:3600");
    assert_eq!(fs::read_to_string(dir.join("namespace")).expect("read"), "default");

    // With fsGroup the token is 0600 + group read, owned by the common runAsUser.
    let vol2 = volume(serde_json::json!({"name": "tok", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 7200}}]}}));
    let p2 = pod(serde_json::json!({"securityContext": {"fsGroup": 4000, "runAsUser": 1001}}));
    let dir2 = h.vols.setup(&p2, &vol2, &objects, &node()).expect("setup");
    let meta = fs::metadata(dir2.join("token")).expect("meta");
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (1001, 4000, 0o640));
    assert_eq!(fs::read_to_string(dir2.join("token")).expect("read"), "tok:-:7200");
}

#[test]
fn projected_failures_are_reported_together() {
    let h = Harness::new();
    let vol = volume(serde_json::json!({"name": "p", "projected": {"sources": [
        {"secret": {"name": "gone"}}, {"serviceAccountToken": {"path": "token"}},
        {"clusterTrustBundle": {"path": "b", "name": "x"}}]}}));
    let err = h.vols.setup(&pod(serde_json::json!({})), &vol, &Fetched::default(), &node()).expect_err("fails");
    assert_eq!(
        err.to_string(),
        "[secret \"gone\" not found, serviceaccounts \"default\" not found, \
         clusterTrustBundle projections are not supported on this node]"
    );
}

#[test]
fn host_path_is_returned_as_is_and_survives_teardown() {
    let h = Harness::new();
    let host = tempfile::tempdir().expect("tempdir");
    fs::write(host.path().join("data"), "keep").expect("write");
    let vol = volume(serde_json::json!({"name": "host", "hostPath": {"path": host.path(), "type": "Directory"}}));
    let dir = h.vols.setup(&pod(serde_json::json!({})), &vol, &Fetched::default(), &node()).expect("setup");
    assert_eq!(dir, PathBuf::from(host.path()));
    h.vols.teardown().expect("teardown");
    assert!(host.path().join("data").exists());
}

#[test]
fn other_volume_types_are_not_supported() {
    let h = Harness::new();
    let vol = volume(serde_json::json!({"name": "data", "persistentVolumeClaim": {"claimName": "c"}}));
    let err = h.vols.setup(&pod(serde_json::json!({})), &vol, &Fetched::default(), &node()).expect_err("pvc");
    assert_eq!(err.to_string(), "volume type persistentVolumeClaim is not supported on this node");
}

#[test]
fn subpath_into_a_config_map_key_resolves_to_the_current_file() {
    let h = Harness::new();
    let mut objects = Fetched::default();
    objects.config_maps.insert("app".into(), config_map(&[("a.conf", "one")]));
    let vol = volume(serde_json::json!({"name": "config", "configMap": {"name": "app"}}));
    let dir = h.vols.setup(&pod(serde_json::json!({})), &vol, &objects, &node()).expect("setup");
    let file = skiff_volumes::subpath(&dir, "a.conf").expect("resolves");
    assert_eq!(fs::read_to_string(&file).expect("read"), "one");
    assert!(file.parent().is_some_and(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("..20"))));
}

#[test]
fn teardown_after_a_restart_finds_nested_mounts_from_mountinfo() {
    let h = Harness::new();
    let p = pod(serde_json::json!({}));
    let mem = volume(serde_json::json!({"name": "m", "emptyDir": {"medium": "Memory"}}));
    let disk = volume(serde_json::json!({"name": "d", "emptyDir": {}}));
    let mem_dir = h.vols.setup(&p, &mem, &Fetched::default(), &node()).expect("setup");
    let disk_dir = h.vols.setup(&p, &disk, &Fetched::default(), &node()).expect("setup");
    assert_eq!(mode(&h.vols.root().join("kubernetes.io~empty-dir")), 0o750);
    // A mount nested inside another volume's mount, as a crashed agent might leave behind.
    let nested = mem_dir.join("nested");
    fs::create_dir(&nested).expect("mkdir");
    nix::mount::mount(Some("tmpfs"), &nested, Some("tmpfs"), nix::mount::MsFlags::empty(), None::<&str>)
        .expect("nested tmpfs");
    fs::write(disk_dir.join("f"), "x").expect("write");

    // A fresh PodVolumes knows nothing but the root.
    let again = PodVolumes::new(h.vols.root().to_path_buf());
    let root = again.root().canonicalize().expect("canon");
    again.teardown().expect("teardown");
    assert!(!root.exists());
    assert!(!mountinfo_mentions(&root));
}
