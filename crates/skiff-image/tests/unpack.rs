//! Layer unpacking: overlay whiteout format, confinement against malicious layers, metadata, compression.
//!
//! Tar streams are built by hand with the `tar` crate (raw header fields where the builder would refuse the
//! malicious paths we need). Tests that need root privileges (device nodes, chown, whiteout devices) check
//! `geteuid()` and return early otherwise.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use skiff_image::unpack::{unpack_layer, unpack_layer_with, Compression, UnpackError, UnpackOptions, UnpackStats};
use tar::{EntryType, Header};

const MTIME: u64 = 1_600_000_000;

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Builds a tar stream entry by entry.
struct Layer {
    b: tar::Builder<Vec<u8>>,
}

impl Layer {
    fn new() -> Self {
        Layer { b: tar::Builder::new(Vec::new()) }
    }

    /// A ustar header with the raw `path` bytes (no validation, so `..` and absolute paths get through).
    fn header(path: &str, ty: EntryType, size: u64, mode: u32) -> Header {
        let mut h = Header::new_ustar();
        let p = path.as_bytes();
        assert!(p.len() <= 100, "test path too long for a ustar name field");
        h.as_old_mut().name[..p.len()].copy_from_slice(p);
        h.set_entry_type(ty);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h
    }

    fn raw(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.raw(Self::header(path, EntryType::Regular, data.len() as u64, 0o644), data)
    }

    fn file_with(&mut self, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64, mtime: u64) -> &mut Self {
        let mut h = Self::header(path, EntryType::Regular, data.len() as u64, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.raw(h, data)
    }

    fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.raw(Self::header(path, EntryType::Directory, 0, mode), b"")
    }

    fn link(&mut self, ty: EntryType, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(path, ty, 0, 0o777);
        let t = target.as_bytes();
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
        self.raw(h, b"")
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.link(EntryType::Symlink, path, target)
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.link(EntryType::Link, path, target)
    }

    fn device(&mut self, path: &str, ty: EntryType, major: u32, minor: u32, mode: u32) -> &mut Self {
        let mut h = Self::header(path, ty, 0, mode);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(h, b"")
    }

    /// A PAX extended header applying to the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            // "<len> <key>=<value>\n", where len counts itself.
            let body_len = 1 + k.len() + 1 + v.len() + 1;
            let mut len = body_len + 1;
            while len.to_string().len() + body_len != len {
                len = len.to_string().len() + body_len;
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let h = Self::header("PaxHeaders/entry", EntryType::XHeader, data.len() as u64, 0o644);
        self.raw(h, &data)
    }

    fn finish(&mut self) -> Vec<u8> {
        self.b.finish().unwrap();
        std::mem::take(self.b.get_mut())
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn unpack_plain(tar: &[u8], dest: &Path) -> UnpackStats {
    unpack_layer(tar, Compression::None, dest).unwrap()
}

fn no_sync(as_root: bool) -> UnpackOptions {
    UnpackOptions { as_root, sync: false }
}

fn lgetxattr(path: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 1024];
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(r as usize);
    Ok(buf)
}

/// Everything under `dir` (not following symlinks): relative path → (type, size, mtime, mode, content hash).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let md = fs::symlink_metadata(e.path()).unwrap();
            let content = if md.is_file() { fs::read(e.path()).unwrap() } else { Vec::new() };
            out.insert(
                e.path().strip_prefix(root).unwrap().to_path_buf(),
                format!(
                    "{:?} {} {} {:o} {} {:?}",
                    md.file_type(),
                    md.len(),
                    md.mtime(),
                    md.mode(),
                    md.nlink(),
                    content
                ),
            );
            if md.is_dir() {
                walk(root, &e.path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    v.sort();
    v
}

fn skipped_mentions(stats: &UnpackStats, path: &str) -> bool {
    stats.skipped.iter().any(|s| s.starts_with(&format!("{path}:")))
}

#[test]
fn whiteouts_and_opaque_dir_unpack_into_overlay_format() {
    if !is_root() {
        eprintln!("skipping: whiteout devices need root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let tar = Layer::new()
        .dir("etc/", 0o755)
        .file("etc/keep", b"kept")
        .file("etc/.wh..wh..opq", b"")
        .file(".wh.gone", b"")
        .file("sub/deeper/.wh.file", b"")
        .file(".wh..wh.plnk", b"")
        .file("opq-only/.wh..wh..opq", b"")
        .finish();
    let stats = unpack_plain(&tar, &dest);

    for wh in ["gone", "sub/deeper/file"] {
        let md = fs::symlink_metadata(dest.join(wh)).unwrap();
        assert!(md.file_type().is_char_device(), "{wh} is a char device");
        assert_eq!(md.rdev(), 0, "{wh} is device 0:0");
    }
    assert_eq!(lgetxattr(&dest.join("etc"), "trusted.overlay.opaque").unwrap(), b"y");
    assert_eq!(lgetxattr(&dest.join("opq-only"), "trusted.overlay.opaque").unwrap(), b"y");
    assert!(lgetxattr(&dest.join("sub"), "trusted.overlay.opaque").is_err());
    assert_eq!(fs::read(dest.join("etc/keep")).unwrap(), b"kept");
    // No `.wh.` names survive.
    assert_eq!(names(&dest), ["etc", "gone", "opq-only", "sub"]);
    assert_eq!(names(&dest.join("etc")), ["keep"]);
    assert_eq!(names(&dest.join("opq-only")), Vec::<String>::new());
    assert_eq!(stats.whiteouts, 4);
    assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
}

#[test]
fn whiteout_replaces_an_entry_of_the_same_layer() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let tar = Layer::new().file("d/x/file", b"1").file("d/.wh.x", b"").finish();
    unpack_plain(&tar, &dest);
    assert!(fs::symlink_metadata(dest.join("d/x")).unwrap().file_type().is_char_device());
}

#[test]
fn malicious_layer_cannot_touch_anything_outside_dest() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("a/b/c");
    let sentinel = base.join("sentinel");
    fs::create_dir_all(&sentinel).unwrap();
    fs::write(sentinel.join("orig"), b"original").unwrap();
    let dest = base.join("layer");
    let before = snapshot(tmp.path());
    let passwd_nlink = fs::metadata("/etc/passwd").map(|m| m.nlink()).ok();
    let pwned = format!("skiff-unpack-pwned-{}", std::process::id());
    let outside_tmp = Path::new("/tmp").join(&pwned);

    let tar = Layer::new()
        .file("../escape", b"x")
        .file("../sentinel/orig", b"overwritten")
        .file("./../../c/sentinel/new", b"x")
        .file("/etc/x", b"absolute becomes relative")
        .symlink("link", "/")
        .file(&format!("link/tmp/{pwned}"), b"x")
        .dir("link/tmp/evil-dir/", 0o755)
        .symlink("up", "../../..")
        .file("up/sentinel/pwned", b"x")
        .file("up/up/c/sentinel/pwned", b"x")
        .symlink("sneaky", "../sentinel")
        .file("sneaky/orig", b"overwritten")
        .hardlink("hl", "../../etc/passwd")
        .hardlink("hl-abs", "/etc/passwd")
        .hardlink("hl-via-link", "link/etc/passwd")
        .hardlink("hl-via-sneaky", "sneaky/orig")
        .hardlink("up/hl-under-link", "etc/x")
        .symlink("etc/x-link", "/etc/passwd")
        .hardlink("hl-to-symlink", "etc/x-link")
        .finish();
    let stats = unpack_layer_with(&tar[..], Compression::None, &dest, &no_sync(is_root())).unwrap();

    // Nothing outside dest changed.
    // (The parent's own mtime changes: that is where dest was created.)
    let mut before = before;
    before.remove(Path::new("a/b/c"));
    let mut after = snapshot(tmp.path());
    after.retain(|p, _| !p.starts_with("a/b/c/layer") && p != Path::new("a/b/c"));
    assert_eq!(before, after);
    assert_eq!(names(&base), ["layer", "sentinel"]);
    assert!(!outside_tmp.exists(), "wrote through an absolute symlink");
    assert_eq!(fs::metadata("/etc/passwd").map(|m| m.nlink()).ok(), passwd_nlink);
    assert_eq!(fs::read(sentinel.join("orig")).unwrap(), b"original");

    // What is legitimately inside dest.
    assert_eq!(fs::read(dest.join("etc/x")).unwrap(), b"absolute becomes relative");
    assert_eq!(fs::read_link(dest.join("link")).unwrap(), Path::new("/"));
    assert_eq!(fs::read_link(dest.join("up")).unwrap(), Path::new("../../.."));
    assert_eq!(fs::read_link(dest.join("sneaky")).unwrap(), Path::new("../sentinel"));
    // A hard link to a symlink inside the layer links the symlink itself.
    let hl = fs::symlink_metadata(dest.join("hl-to-symlink")).unwrap();
    assert!(hl.file_type().is_symlink());
    assert_eq!(hl.ino(), fs::symlink_metadata(dest.join("etc/x-link")).unwrap().ino());
    for refused in ["hl", "hl-abs", "hl-via-link", "hl-via-sneaky"] {
        assert!(fs::symlink_metadata(dest.join(refused)).is_err(), "{refused} must not exist");
    }

    for path in [
        "../escape",
        "../sentinel/orig",
        "./../../c/sentinel/new",
        &format!("link/tmp/{pwned}"),
        "link/tmp/evil-dir/",
        "up/sentinel/pwned",
        "up/up/c/sentinel/pwned",
        "sneaky/orig",
        "hl",
        "hl-abs",
        "hl-via-link",
        "hl-via-sneaky",
        "up/hl-under-link",
    ] {
        assert!(skipped_mentions(&stats, path), "{path} not listed in skipped: {:#?}", stats.skipped);
    }
    assert_eq!(stats.hardlinks, 1);
}

#[test]
fn device_nodes_are_created_when_root() {
    if !is_root() {
        eprintln!("skipping: device nodes need root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let tar = Layer::new()
        .device("dev/null", EntryType::Char, 1, 3, 0o666)
        .device("dev/loop0", EntryType::Block, 7, 0, 0o660)
        .device("run/fifo", EntryType::Fifo, 0, 0, 0o600)
        .finish();
    let stats = unpack_layer_with(&tar[..], Compression::None, &dest, &no_sync(true)).unwrap();
    let null = fs::symlink_metadata(dest.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let lp = fs::symlink_metadata(dest.join("dev/loop0")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), libc::makedev(7, 0));
    let fifo = fs::symlink_metadata(dest.join("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o600);
    assert_eq!(fifo.mtime(), MTIME as i64);
    assert_eq!(stats.special, 3);
    assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
}

#[test]
fn device_nodes_are_skipped_and_listed_when_not_root() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let tar = Layer::new()
        .device("dev/null", EntryType::Char, 1, 3, 0o666)
        .device("dev/sda", EntryType::Block, 8, 0, 0o660)
        .device("fifo", EntryType::Fifo, 0, 0, 0o644)
        .file_with("owned", b"x", 0o644, 1234, 5678, MTIME)
        .finish();
    let stats = unpack_layer_with(&tar[..], Compression::None, &dest, &no_sync(false)).unwrap();
    assert!(fs::symlink_metadata(dest.join("dev/null")).is_err());
    assert!(fs::symlink_metadata(dest.join("dev/sda")).is_err());
    assert!(skipped_mentions(&stats, "dev/null"), "{:?}", stats.skipped);
    assert!(skipped_mentions(&stats, "dev/sda"), "{:?}", stats.skipped);
    assert!(fs::symlink_metadata(dest.join("fifo")).unwrap().file_type().is_fifo());
    // Ownership silently left as the unpacking user.
    let md = fs::metadata(dest.join("owned")).unwrap();
    assert_eq!((md.uid(), md.gid()), unsafe { (libc::geteuid(), libc::getegid()) });
    assert_eq!(stats.skipped.len(), 2);
}

#[test]
fn modes_ownership_mtimes_and_xattrs_are_preserved() {
    let root = is_root();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    // A valid VFS_CAP_REVISION_2 blob: effective, permitted = CAP_NET_BIND_SERVICE.
    let mut cap = Vec::new();
    for word in [0x0200_0001u32, 1 << 10, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    let tar = Layer::new()
        .dir("usr/", 0o755)
        .dir("usr/bin/", 0o755)
        .pax(&[("SCHILY.xattr.security.capability", &cap), ("SCHILY.xattr.user.skiff", b"hello")])
        .file_with("usr/bin/ping", b"\x7fELF", 0o4755, 1000, 1001, MTIME + 1)
        .file_with("usr/bin/wall", b"\x7fELF", 0o2755, 0, 5, MTIME + 2)
        .pax(&[("mtime", b"1600000003.25")])
        .file("frac", b"")
        .dir("tmp/", 0o1777)
        .file("tmp/inside", b"written after tmp/ so tmp's mtime must be restored")
        .dir("shared/", 0o2775)
        .file("ro/file", b"inside a read-only dir")
        .dir("ro/", 0o555)
        .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
        .dir("forged/", 0o755)
        .finish();
    let stats = unpack_layer_with(&tar[..], Compression::None, &dest, &no_sync(root)).unwrap();

    let ping = fs::metadata(dest.join("usr/bin/ping")).unwrap();
    assert_eq!(ping.mode() & 0o7777, 0o4755);
    assert_eq!(ping.mtime(), MTIME as i64 + 1);
    let wall = fs::metadata(dest.join("usr/bin/wall")).unwrap();
    assert_eq!(wall.mode() & 0o7777, 0o2755);
    if root {
        assert_eq!((ping.uid(), ping.gid()), (1000, 1001));
        assert_eq!(wall.gid(), 5);
        // Capabilities survive the chown (set after it).
        assert_eq!(lgetxattr(&dest.join("usr/bin/ping"), "security.capability").unwrap(), cap);
    }
    match lgetxattr(&dest.join("usr/bin/ping"), "user.skiff") {
        Ok(v) => assert_eq!(v, b"hello"),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => eprintln!("user.* xattrs unsupported here: {e}"),
        Err(e) => panic!("user.skiff: {e}"),
    }
    let frac = fs::metadata(dest.join("frac")).unwrap();
    assert_eq!((frac.mtime(), frac.mtime_nsec()), (MTIME as i64 + 3, 250_000_000));
    let tmpdir = fs::metadata(dest.join("tmp")).unwrap();
    assert_eq!(tmpdir.mode() & 0o7777, 0o1777);
    assert_eq!(tmpdir.mtime(), MTIME as i64);
    assert_eq!(fs::metadata(dest.join("shared")).unwrap().mode() & 0o7777, 0o2775);
    let ro = fs::metadata(dest.join("ro")).unwrap();
    assert_eq!(ro.mode() & 0o7777, 0o555);
    assert_eq!(ro.mtime(), MTIME as i64);
    assert_eq!(fs::read(dest.join("ro/file")).unwrap(), b"inside a read-only dir");
    // Overlay-internal xattrs from the layer are refused.
    assert!(lgetxattr(&dest.join("forged"), "trusted.overlay.redirect").is_err());
    assert!(stats.skipped.iter().any(|s| s.contains("trusted.overlay.redirect")), "{:?}", stats.skipped);
    // Default root mode when the layer has no `./` entry.
    assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(stats.files, 5);
    assert_eq!(stats.dirs, 6);
}

#[test]
fn symlinks_keep_their_target_owner_and_mtime() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let mut h = Layer::header("bin/sh", EntryType::Symlink, 0, 0o777);
    h.as_old_mut().linkname[..12].copy_from_slice(b"/bin/busybox");
    h.set_uid(42);
    h.set_gid(43);
    h.set_mtime(MTIME + 7);
    let tar = Layer::new().raw(h, b"").symlink("dangling", "../nowhere/at/all").finish();
    let stats = unpack_plain(&tar, &dest);
    let md = fs::symlink_metadata(dest.join("bin/sh")).unwrap();
    assert!(md.file_type().is_symlink());
    assert_eq!(fs::read_link(dest.join("bin/sh")).unwrap(), Path::new("/bin/busybox"));
    assert_eq!(md.mtime(), MTIME as i64 + 7);
    if is_root() {
        assert_eq!((md.uid(), md.gid()), (42, 43));
    }
    assert_eq!(fs::read_link(dest.join("dangling")).unwrap(), Path::new("../nowhere/at/all"));
    assert_eq!(stats.symlinks, 2);
}

#[test]
fn root_entry_sets_layer_root_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let tar = Layer::new().dir("./", 0o750).file("./a", b"a").finish();
    unpack_plain(&tar, &dest);
    let md = fs::metadata(&dest).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o750);
    assert_eq!(md.mtime(), MTIME as i64);
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"a");
}

#[test]
fn repeated_paths_replace_except_dir_over_dir_merges() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let tar = Layer::new()
        .file("a", b"first")
        .file("a", b"second")
        .dir("d/", 0o755)
        .file("d/x", b"x")
        .dir("d/", 0o700)
        .file("f", b"file then dir")
        .dir("f/", 0o755)
        .file("g/child/grandchild", b"dir then file")
        .file("g", b"now a file")
        .symlink("s", "/target")
        .file("s", b"file replaces symlink")
        .file("t", b"symlink replaces file")
        .symlink("t", "elsewhere")
        .symlink("u", "/etc")
        .dir("u/", 0o755)
        .file("u/inside", b"a real dir replaced the symlink")
        .finish();
    let stats = unpack_plain(&tar, &dest);
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"second");
    assert_eq!(fs::read(dest.join("d/x")).unwrap(), b"x");
    assert_eq!(fs::metadata(dest.join("d")).unwrap().mode() & 0o7777, 0o700);
    assert!(fs::symlink_metadata(dest.join("f")).unwrap().is_dir());
    assert_eq!(fs::read(dest.join("g")).unwrap(), b"now a file");
    assert_eq!(fs::read(dest.join("s")).unwrap(), b"file replaces symlink");
    assert_eq!(fs::read_link(dest.join("t")).unwrap(), Path::new("elsewhere"));
    assert!(fs::symlink_metadata(dest.join("u")).unwrap().is_dir());
    assert_eq!(fs::read(dest.join("u/inside")).unwrap(), b"a real dir replaced the symlink");
    assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
}

#[test]
fn hard_links_inside_the_layer_share_an_inode() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let tar = Layer::new()
        .file_with("bin/busybox", b"#!busybox", 0o755, 0, 0, MTIME)
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("./usr/bin/env", "/bin/busybox")
        .hardlink("bin/self", "bin/self")
        .hardlink("missing", "bin/nothing-here")
        .hardlink("to-dir", "bin")
        .finish();
    let stats = unpack_plain(&tar, &dest);
    let ino = fs::metadata(dest.join("bin/busybox")).unwrap().ino();
    assert_eq!(fs::metadata(dest.join("bin/sh")).unwrap().ino(), ino);
    assert_eq!(fs::metadata(dest.join("usr/bin/env")).unwrap().ino(), ino);
    assert_eq!(fs::metadata(dest.join("bin/busybox")).unwrap().nlink(), 3);
    assert_eq!(stats.hardlinks, 2);
    assert!(skipped_mentions(&stats, "missing"));
    assert!(skipped_mentions(&stats, "to-dir"));
}

#[test]
fn long_names_from_gnu_and_pax_headers_are_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let long_dir = "d".repeat(120);
    let long = format!("{long_dir}/{}", "f".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_mtime(MTIME);
    b.append_data(&mut h, &long, &b"long"[..]).unwrap();
    let mut l = Layer { b };
    let pax_path = format!("{}/pax-named", "p".repeat(200));
    let tar = l.pax(&[("path", pax_path.as_bytes())]).file("short-name-ignored", b"pax").finish();
    unpack_plain(&tar, &dest);
    assert_eq!(fs::read(dest.join(&long)).unwrap(), b"long");
    assert_eq!(fs::read(dest.join(&pax_path)).unwrap(), b"pax");
    assert!(!dest.join("short-name-ignored").exists());
}

fn sample_layer() -> Vec<u8> {
    Layer::new().dir("etc/", 0o755).file("etc/hostname", b"skiff\n").file("big", &vec![7u8; 300_000]).finish()
}

fn check_sample(dest: &Path, stats: &UnpackStats) {
    assert_eq!(fs::read(dest.join("etc/hostname")).unwrap(), b"skiff\n");
    assert_eq!(fs::read(dest.join("big")).unwrap(), vec![7u8; 300_000]);
    assert_eq!(stats.files, 2);
    assert_eq!(stats.bytes, 300_006);
}

#[test]
fn gzip_layer_unpacks_including_multi_member_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = sample_layer();
    let gz = gzip(&tar);
    assert_eq!(Compression::sniff(&gz), Compression::Gzip);
    let dest = tmp.path().join("gz");
    let stats = unpack_layer(&gz[..], Compression::Gzip, &dest).unwrap();
    check_sample(&dest, &stats);

    // The same tar split across two gzip members.
    let mut multi = gzip(&tar[..1000]);
    multi.extend(gzip(&tar[1000..]));
    let dest = tmp.path().join("multi");
    let stats = unpack_layer(&multi[..], Compression::Gzip, &dest).unwrap();
    check_sample(&dest, &stats);
}

#[test]
fn zstd_layer_unpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let zst = zstd::encode_all(&sample_layer()[..], 3).unwrap();
    assert_eq!(Compression::sniff(&zst), Compression::Zstd);
    let dest = tmp.path().join("zst");
    let stats = unpack_layer(&zst[..], Compression::Zstd, &dest).unwrap();
    check_sample(&dest, &stats);
}

#[test]
fn empty_layer_unpacks_to_an_empty_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("empty");
    let gz = gzip(&Layer::new().finish());
    let stats = unpack_layer(&gz[..], Compression::Gzip, &dest).unwrap();
    assert!(names(&dest).is_empty());
    assert_eq!(stats.files + stats.dirs, 0);
    assert_eq!(names(tmp.path()), ["empty"], "no temp dir left behind");
}

/// Asserts the unpack failed and nothing (neither dest nor a temp dir) was left in the parent.
fn assert_fails_cleanly(data: &[u8], compression: Compression) -> UnpackError {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    let err = unpack_layer(data, compression, &dest).unwrap_err();
    assert!(!dest.exists());
    assert!(names(tmp.path()).is_empty(), "leftovers: {:?}", names(tmp.path()));
    err
}

#[test]
fn truncated_gzip_fails_and_leaves_nothing_behind() {
    let gz = gzip(&sample_layer());
    for cut in [gz.len() / 2, gz.len() - 4, 10] {
        let err = assert_fails_cleanly(&gz[..cut], Compression::Gzip);
        assert!(matches!(err, UnpackError::Stream { .. }), "{err}");
    }
}

#[test]
fn truncated_zstd_fails_and_leaves_nothing_behind() {
    let zst = zstd::encode_all(&sample_layer()[..], 3).unwrap();
    let err = assert_fails_cleanly(&zst[..zst.len() - 3], Compression::Zstd);
    assert!(matches!(err, UnpackError::Stream { .. }), "{err}");
}

#[test]
fn truncated_or_corrupt_tar_fails() {
    let tar = sample_layer();
    // Inside the big file's data.
    assert_fails_cleanly(&tar[..100_000], Compression::None);
    // Exactly at an entry boundary, before the end-of-archive marker (header + 512 bytes of etc/hostname + ...).
    let boundary = tar.len() - 1024 - (300_000usize.div_ceil(512) * 512) - 512;
    assert_fails_cleanly(&tar[..boundary], Compression::None);
    // Garbage.
    let err = assert_fails_cleanly(&[0x55u8; 4096], Compression::None);
    assert!(matches!(err, UnpackError::Stream { .. }), "{err}");
    // Corrupt gzip payload (flipped byte in the middle) is caught by the CRC or the inflater.
    let mut gz = gzip(&tar);
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    assert_fails_cleanly(&gz, Compression::Gzip);
}

#[test]
fn existing_dest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layer");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("mine"), b"keep").unwrap();
    let err = unpack_layer(&sample_layer()[..], Compression::None, &dest).unwrap_err();
    assert!(matches!(err, UnpackError::DestExists(_)), "{err}");
    assert_eq!(names(&dest), ["mine"]);
    assert_eq!(names(tmp.path()), ["layer"]);
}

#[test]
fn successful_unpack_leaves_only_dest_and_default_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("sha256-abc");
    unpack_layer(&sample_layer()[..], Compression::None, &dest).unwrap();
    assert_eq!(names(tmp.path()), ["sha256-abc"]);
    assert_eq!(fs::metadata(dest.join("etc")).unwrap().permissions().mode() & 0o777, 0o755);
}
