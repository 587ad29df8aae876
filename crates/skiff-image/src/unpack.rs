//! Unpacking one OCI/Docker image layer into its own directory, in the form overlayfs uses as a lower (or upper)
//! layer.
//!
//! This is the equivalent of containerd's `archive.Apply` with the overlayfs whiteout converter:
//!
//! * regular files, directories, symlinks, hard links, FIFOs, and (as root) device nodes, with modes (including
//!   setuid/setgid/sticky), ownership, mtimes and `SCHILY.xattr.*` extended attributes;
//! * whiteouts: `dir/.wh.name` becomes a 0:0 character device `dir/name`; the opaque marker `dir/.wh..wh..opq`
//!   becomes the xattr `trusted.overlay.opaque=y` on `dir`;
//! * directory modes and mtimes are applied last, deepest first, so writing a directory's contents neither fails on
//!   a read-only directory nor bumps its mtime afterwards.
//!
//! Safety: the layer is untrusted input. Entry paths are normalised lexically (leading `/` and `./` stripped, `..`
//! that would climb above the layer root is refused), and every parent directory is reached one component at a time
//! with `openat(O_NOFOLLOW | O_DIRECTORY)` starting from a directory fd on the layer root. A symlink (or a file) in a
//! parent position is never followed: the entry is refused and listed in [`UnpackStats::skipped`]. Final components
//! are created with `O_EXCL`/`mknodat`/`symlinkat`/`linkat` (which do not follow symlinks) after removing whatever
//! the same layer put there before, so nothing is ever created or modified outside the destination. Symlink targets
//! are stored verbatim (absolute targets are normal; they are resolved inside the container later). Hard-link
//! targets are resolved the same safe way and must already exist in this layer.
//!
//! The layer is unpacked into a hidden sibling of `dest` and renamed onto `dest` (with `RENAME_NOREPLACE`) only when
//! complete, after a `syncfs`, so a crash never leaves a half-unpacked layer that looks complete; on any error the
//! temporary directory is removed.

mod sys;

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use sys::Times;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From an OCI/Docker layer media type (`application/vnd.oci.image.layer.v1.tar+gzip`, `...+zstd`, `...tar`,
    /// `application/vnd.docker.image.rootfs.diff.tar.gzip`, foreign/nondistributable variants). `None` for anything
    /// that is not a (possibly compressed) layer tarball, including encrypted layers.
    pub fn from_media_type(mt: &str) -> Option<Self> {
        let mt = mt.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let rest = mt
            .strip_prefix("application/vnd.oci.image.layer.")
            .or_else(|| mt.strip_prefix("application/vnd.docker.image.rootfs."))?;
        // The part after the prefix is e.g. `v1.tar+gzip`, `nondistributable.v1.tar`, `diff.tar.gzip`,
        // `foreign.diff.tar.gzip`.
        let known_kind =
            ["v1.", "nondistributable.v1.", "diff.", "foreign.diff."].iter().find_map(|k| rest.strip_prefix(k))?;
        match known_kind {
            "tar" => Some(Compression::None),
            "tar+gzip" | "tar.gzip" => Some(Compression::Gzip),
            "tar+zstd" | "tar.zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// By sniffing magic bytes (for docker-archive imports where the media type is unknown). Anything that is not
    /// gzip or zstd is assumed to be a plain tar.
    pub fn sniff(head: &[u8]) -> Self {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            // zstd skippable frame (magic 0x184D2A50..=0x184D2A5F, little endian)
            [b0, 0x2a, 0x4d, 0x18, ..] if b0 & 0xf0 == 0x50 => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// What an unpack did.
#[derive(Debug, Default, Clone)]
pub struct UnpackStats {
    /// Regular files written.
    pub files: u64,
    /// Directory entries (including ones merged into an existing directory and the layer root).
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Whiteout devices and opaque-directory markers applied.
    pub whiteouts: u64,
    /// FIFOs and device nodes created.
    pub special: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
    /// Entries (or parts of entries, such as an xattr) refused, as `path: reason`.
    pub skipped: Vec<String>,
}

/// Knobs for [`unpack_layer_with`]; [`unpack_layer`] uses the defaults.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Apply ownership and create device nodes. Defaults to `geteuid() == 0`. When false, ownership is silently
    /// left as the unpacking user, and device nodes (plus whiteouts/opaque markers the kernel refuses) are skipped
    /// and listed in [`UnpackStats::skipped`].
    pub as_root: bool,
    /// `syncfs` the unpacked tree before the final rename, and `fsync` the parent directory after it, so a layer
    /// that is visible at `dest` is durable. Defaults to true.
    pub sync: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions { as_root: unsafe { libc::geteuid() } == 0, sync: true }
    }
}

/// Why an unpack failed. The temporary directory has already been removed and `dest` was not created.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("unpack destination {} already exists", .0.display())]
    DestExists(PathBuf),
    /// Preparing or publishing the destination (temp dir creation, final rename, sync).
    #[error("{op} {}: {source}", path.display())]
    Setup {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The layer stream is truncated or corrupt (tar or compression). `entry` is the entry being read, if any.
    #[error("corrupt or truncated layer{}: {source}", at_entry(.entry))]
    Stream {
        entry: Option<String>,
        #[source]
        source: io::Error,
    },
    /// A filesystem operation for an entry failed. `path` is the path inside the layer the syscall `op` acted on.
    #[error("entry {entry:?}: {op} {path:?}: {source}")]
    Entry {
        entry: String,
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

fn at_entry(entry: &Option<String>) -> String {
    match entry {
        Some(e) => format!(" (at entry {e:?})"),
        None => String::new(),
    }
}

/// Unpacks a layer (already digest-verified by the caller, compressed as `compression`) into `dest`, which must not
/// exist yet. See [`unpack_layer_with`].
pub fn unpack_layer(reader: impl Read, compression: Compression, dest: &Path) -> Result<UnpackStats, UnpackError> {
    unpack_layer_with(reader, compression, dest, &UnpackOptions::default())
}

/// Unpacks a layer into `dest` (which must not exist; its parent must): the layer is written to a hidden sibling
/// temp dir that is renamed onto `dest` only when complete, so a crash never leaves a half-unpacked layer that looks
/// complete. On error nothing is left behind.
pub fn unpack_layer_with(
    reader: impl Read,
    compression: Compression,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let setup = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| UnpackError::Setup { op, path, source }
    };
    let name = dest
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "destination has no final component"))
        .map_err(setup("resolve", dest))?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if dest.symlink_metadata().is_ok() {
        return Err(UnpackError::DestExists(dest.to_path_buf()));
    }
    let parent_fd = File::open(parent).map(OwnedFd::from).map_err(setup("open", parent))?;
    let dest_c = sys::cstring(name.as_bytes()).map_err(setup("resolve", dest))?;

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let mut tmp_name = b".".to_vec();
    tmp_name.extend_from_slice(name.as_bytes());
    tmp_name.extend_from_slice(
        format!(".unpack-{}-{}-{nanos:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)).as_bytes(),
    );
    let tmp_path = parent.join(std::ffi::OsStr::from_bytes(&tmp_name));
    let tmp_c = sys::cstring(&tmp_name).map_err(setup("resolve", &tmp_path))?;

    sys::mkdir_at(parent_fd.as_fd(), &tmp_c, 0o700).map_err(setup("mkdir", &tmp_path))?;
    let mut guard = TempGuard { parent: parent_fd.as_fd(), name: &tmp_c, path: &tmp_path, armed: true };
    let root = sys::open_dir_at(parent_fd.as_fd(), &tmp_c).map_err(setup("open", &tmp_path))?;

    let mut u = Unpacker::new(root, opts.as_root);
    match compression {
        Compression::None => u.run(io::BufReader::with_capacity(128 * 1024, reader))?,
        Compression::Gzip => u.run(flate2::read::MultiGzDecoder::new(reader))?,
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::new(reader)
                .map_err(|source| UnpackError::Stream { entry: None, source })?;
            u.run(dec)?
        }
    }
    u.finish()?;
    if opts.sync {
        sys::syncfs(u.root.as_fd()).map_err(setup("syncfs", &tmp_path))?;
    }
    let stats = std::mem::take(&mut u.stats);
    drop(u);

    match sys::rename_noreplace(parent_fd.as_fd(), &tmp_c, parent_fd.as_fd(), &dest_c) {
        Ok(()) => guard.armed = false,
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) || e.raw_os_error() == Some(libc::ENOTEMPTY) => {
            return Err(UnpackError::DestExists(dest.to_path_buf()))
        }
        Err(e) => return Err(setup("rename", dest)(e)),
    }
    if opts.sync {
        sys::fsync(parent_fd.as_fd()).map_err(setup("fsync", parent))?;
    }
    tracing::debug!(
        dest = %dest.display(),
        files = stats.files,
        dirs = stats.dirs,
        bytes = stats.bytes,
        whiteouts = stats.whiteouts,
        skipped = stats.skipped.len(),
        "unpacked layer"
    );
    Ok(stats)
}

/// Removes the temp dir unless disarmed (also on panic).
struct TempGuard<'a> {
    parent: BorrowedFd<'a>,
    name: &'a CStr,
    path: &'a Path,
    armed: bool,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = sys::remove_tree_at(self.parent, self.name) {
                tracing::warn!(path = %self.path.display(), error = %e, "removing partially unpacked layer");
            }
        }
    }
}

/// Longest entry path accepted (PATH_MAX - 1): anything longer is unusable inside a container anyway, and the bound
/// keeps directory depth (and so the recursion in tree removal) small.
const MAX_PATH_LEN: usize = 4095;

/// Shared between the stream wrapper and the unpacker: whether the underlying stream hit EOF, and how much was read.
#[derive(Default)]
struct StreamState {
    eof: Cell<bool>,
    total: Cell<u64>,
}

struct Tracked<R> {
    inner: R,
    state: Rc<StreamState>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.state.eof.set(true);
        }
        self.state.total.set(self.state.total.get() + n as u64);
        Ok(n)
    }
}

/// A path inside the layer, as normalised components (never `.`, `..` or empty; no `/` or NUL inside).
type Comps = Vec<Vec<u8>>;

fn show(comps: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&comps.join(&b'/')).into_owned()
}

/// Lexically normalises an entry path: strips leading `/` and `./`, drops `.` and empty components, resolves `..`
/// against the preceding component and refuses `..` that would climb above the layer root.
fn normalize(path: &[u8]) -> Result<Comps, &'static str> {
    if path.contains(&0) {
        return Err("path contains a NUL byte");
    }
    let mut out: Comps = Vec::new();
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path escapes the layer root with `..`");
                }
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

/// Parses a PAX time (`secs[.frac]`, possibly negative) into (seconds, nanoseconds).
fn parse_pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
    }
    if neg {
        secs = -secs;
        if nanos > 0 {
            secs -= 1;
            nanos = 1_000_000_000 - nanos;
        }
    }
    Some((secs, nanos))
}

/// A numeric header field; an empty one (all NULs/spaces, as some writers emit) reads as 0, like Go's archive/tar.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        r => r,
    }
}

/// Metadata of one entry, from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    times: Times,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Deferred directory metadata, applied after all contents are written.
struct DirMeta {
    mode: u32,
    times: Times,
}

/// A refusal reason for an entry (recorded in `skipped`, not an error).
type Refusal = String;

struct Unpacker {
    root: OwnedFd,
    as_root: bool,
    stats: UnpackStats,
    /// Most recently resolved parent directory (components, fd), to avoid walking from the root for every entry.
    cache: Option<(Comps, OwnedFd)>,
    /// Directories created or merged by entries, with the metadata to apply at the end.
    dirs: HashMap<Comps, DirMeta>,
    buf: Vec<u8>,
}

impl Unpacker {
    fn new(root: OwnedFd, as_root: bool) -> Self {
        Unpacker {
            root,
            as_root,
            stats: UnpackStats::default(),
            cache: None,
            dirs: HashMap::new(),
            buf: vec![0; 256 * 1024],
        }
    }

    fn skip(&mut self, what: &str, reason: impl std::fmt::Display) {
        tracing::debug!(entry = what, %reason, "layer entry skipped");
        self.stats.skipped.push(format!("{what}: {reason}"));
    }

    fn run<R: Read>(&mut self, reader: R) -> Result<(), UnpackError> {
        let state = Rc::new(StreamState::default());
        let mut archive = tar::Archive::new(Tracked { inner: reader, state: state.clone() });
        let mut last: Option<String> = None;
        let stream_err = |last: &Option<String>, source| UnpackError::Stream {
            entry: last.as_ref().map(|l| format!("after {l}")),
            source,
        };
        let entries = archive.entries().map_err(|e| stream_err(&None, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| stream_err(&last, e))?;
            let shown = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            self.entry(&mut entry, &shown, &state)?;
            last = Some(shown);
        }
        // The tar reader stops at the first zero block (end-of-archive marker), or at EOF. A non-empty stream that
        // ends without the marker was cut at an entry boundary.
        if state.eof.get() && state.total.get() > 0 {
            return Err(stream_err(
                &last,
                io::Error::new(io::ErrorKind::UnexpectedEof, "layer ends without the tar end-of-archive marker"),
            ));
        }
        // Drain the rest (record padding) so the decompressor verifies its trailer/checksum.
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(|e| stream_err(&last, e))?;
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        shown: &str,
        state: &StreamState,
    ) -> Result<(), UnpackError> {
        let stream = |source| UnpackError::Stream { entry: Some(shown.to_string()), source };
        let header = entry.header().clone();
        let mut kind = header.entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw_path = entry.path_bytes().into_owned();
        // Old (V7) tar: a "regular file" whose name ends in `/` is a directory.
        if header.as_bytes()[156] == 0 && raw_path.ends_with(b"/") {
            kind = tar::EntryType::Directory;
        }
        let comps = match normalize(&raw_path) {
            Ok(c) => c,
            Err(reason) => {
                self.skip(shown, reason);
                return Ok(());
            }
        };
        let joined_len = comps.iter().map(|c| c.len() + 1).sum::<usize>();
        if joined_len > MAX_PATH_LEN + 1 {
            return Err(self.entry_err(
                shown,
                "validate",
                &comps,
                io::Error::new(io::ErrorKind::InvalidInput, "path longer than PATH_MAX"),
            ));
        }

        let old = header.as_old();
        let mode = numeric(header.mode().map(u64::from), &old.mode).map_err(stream)? as u32 & 0o7777;
        let id =
            |v: u64| u32::try_from(v).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "uid/gid out of range"));
        let uid = numeric(header.uid(), &old.uid).and_then(id).map_err(stream)?;
        let gid = numeric(header.gid(), &old.gid).and_then(id).map_err(stream)?;
        let mtime = (i64::try_from(numeric(header.mtime(), &old.mtime).map_err(stream)?).unwrap_or(i64::MAX), 0);
        let mut meta = Meta { mode, uid, gid, times: Times { atime: mtime, mtime }, xattrs: Vec::new() };
        let mut atime = None;
        if let Some(exts) = entry.pax_extensions().map_err(stream)? {
            for ext in exts {
                let ext = ext.map_err(stream)?;
                let (key, value) = (ext.key_bytes(), ext.value_bytes());
                if let Some(xname) = key.strip_prefix(b"SCHILY.xattr.") {
                    meta.xattrs.push((xname.to_vec(), value.to_vec()));
                } else if key == b"mtime" {
                    if let Some(t) = parse_pax_time(value) {
                        meta.times.mtime = t;
                    }
                } else if key == b"atime" {
                    atime = parse_pax_time(value);
                }
            }
        }
        meta.times.atime = atime.unwrap_or(meta.times.mtime);

        let Some((name, parent)) = comps.split_last() else {
            // The layer root itself (`./`).
            if kind.is_dir() {
                return self.root_dir(shown, meta);
            }
            self.skip(shown, "non-directory entry for the layer root");
            return Ok(());
        };
        if name.starts_with(b".wh.") {
            return self.whiteout(shown, parent, name);
        }
        let name_c = match sys::cstring(name) {
            Ok(c) => c,
            Err(e) => {
                self.skip(shown, e);
                return Ok(());
            }
        };

        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                let Some(dir) = self.parent_dir(shown, parent, true)? else { return Ok(()) };
                self.clear_slot(shown, dir.as_fd(), &name_c, &comps, false)?;
                let mut f = sys::create_file_at(dir.as_fd(), &name_c, 0o600)
                    .map_err(|e| self.entry_err(shown, "create", &comps, e))?;
                let written = self.copy_data(entry, &mut f, shown, &comps)?;
                let expected = if kind == T::GNUSparse { header.size() } else { header.entry_size() };
                if state.eof.get() || expected.ok().is_some_and(|n| n != written) {
                    return Err(stream(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "layer ends inside a file's contents",
                    )));
                }
                self.stats.files += 1;
                self.stats.bytes += written;
                self.apply_fd(shown, &comps, f.as_fd(), &meta, true)?;
                self.apply_xattrs(shown, &meta, |x, v| sys::fsetxattr(f.as_fd(), x, v));
                sys::futimens(f.as_fd(), meta.times).map_err(|e| self.entry_err(shown, "futimens", &comps, e))?;
            }
            T::Directory => {
                let Some(dir) = self.parent_dir(shown, parent, true)? else { return Ok(()) };
                let merge = self.clear_slot(shown, dir.as_fd(), &name_c, &comps, true)?;
                if !merge {
                    sys::mkdir_at(dir.as_fd(), &name_c, 0o700)
                        .map_err(|e| self.entry_err(shown, "mkdir", &comps, e))?;
                }
                let fd =
                    sys::open_dir_at(dir.as_fd(), &name_c).map_err(|e| self.entry_err(shown, "open", &comps, e))?;
                self.apply_fd(shown, &comps, fd.as_fd(), &meta, false)?;
                self.apply_xattrs(shown, &meta, |x, v| sys::fsetxattr(fd.as_fd(), x, v));
                self.dirs.insert(comps.clone(), DirMeta { mode: meta.mode, times: meta.times });
                self.stats.dirs += 1;
                self.cache = Some((comps.clone(), fd));
            }
            T::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                if target.is_empty() {
                    self.skip(shown, "symlink without a target");
                    return Ok(());
                }
                let target = match sys::cstring(&target) {
                    Ok(t) => t,
                    Err(e) => {
                        self.skip(shown, e);
                        return Ok(());
                    }
                };
                let Some(dir) = self.parent_dir(shown, parent, true)? else { return Ok(()) };
                self.clear_slot(shown, dir.as_fd(), &name_c, &comps, false)?;
                sys::symlink_at(&target, dir.as_fd(), &name_c)
                    .map_err(|e| self.entry_err(shown, "symlink", &comps, e))?;
                self.apply_at(shown, &comps, dir.as_fd(), &name_c, &meta, false)?;
                self.stats.symlinks += 1;
            }
            T::Link => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                self.hardlink(shown, &comps, &name_c, &target)?;
            }
            T::Fifo | T::Char | T::Block => {
                let (fmt, what) = match kind {
                    T::Fifo => (libc::S_IFIFO, "fifo"),
                    T::Char => (libc::S_IFCHR, "character device"),
                    _ => (libc::S_IFBLK, "block device"),
                };
                let major = header.device_major().map_err(stream)?.unwrap_or(0);
                let minor = header.device_minor().map_err(stream)?.unwrap_or(0);
                if kind != T::Fifo && !self.as_root {
                    self.skip(shown, format_args!("{what} {major}:{minor} not created: not running as root"));
                    return Ok(());
                }
                let Some(dir) = self.parent_dir(shown, parent, true)? else { return Ok(()) };
                self.clear_slot(shown, dir.as_fd(), &name_c, &comps, false)?;
                let dev = if kind == T::Fifo { 0 } else { libc::makedev(major, minor) };
                if let Err(e) = sys::mknod_at(dir.as_fd(), &name_c, fmt | mode, dev) {
                    if !self.as_root && e.raw_os_error() == Some(libc::EPERM) {
                        self.skip(shown, format_args!("{what} not created: {e}"));
                        return Ok(());
                    }
                    return Err(self.entry_err(shown, "mknod", &comps, e));
                }
                self.apply_at(shown, &comps, dir.as_fd(), &name_c, &meta, true)?;
                self.stats.special += 1;
            }
            other => self.skip(shown, format_args!("unsupported tar entry type {:?}", other.as_byte() as char)),
        }
        Ok(())
    }

    fn entry_err(&self, entry: &str, op: &'static str, comps: &[Vec<u8>], source: io::Error) -> UnpackError {
        UnpackError::Entry { entry: entry.to_string(), op, path: show(comps), source }
    }

    /// Copies an entry's contents into `f`, returning the number of bytes.
    fn copy_data(
        &mut self,
        src: &mut impl Read,
        f: &mut File,
        shown: &str,
        comps: &[Vec<u8>],
    ) -> Result<u64, UnpackError> {
        let mut total = 0u64;
        loop {
            let n = match src.read(&mut self.buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(UnpackError::Stream { entry: Some(shown.to_string()), source }),
            };
            f.write_all(&self.buf[..n]).map_err(|e| self.entry_err(shown, "write", comps, e))?;
            total += n as u64;
        }
    }

    /// Resolves (and with `create`, creates as 0755 directories) the directory `comps` component by component,
    /// never following a symlink. `Ok(None)` means the entry was refused and recorded.
    fn parent_dir(&mut self, shown: &str, comps: &[Vec<u8>], create: bool) -> Result<Option<OwnedFd>, UnpackError> {
        match self.walk(comps, create) {
            Ok(Ok(fd)) => Ok(Some(fd)),
            Ok(Err(reason)) => {
                self.skip(shown, reason);
                Ok(None)
            }
            Err((op, at, e)) => Err(self.entry_err(shown, op, &comps[..at], e)),
        }
    }

    /// The walk itself: `Ok(Err(reason))` for a refusal, `Err((op, depth, error))` for a syscall failure.
    #[allow(clippy::type_complexity)]
    fn walk(
        &mut self,
        comps: &[Vec<u8>],
        create: bool,
    ) -> Result<Result<OwnedFd, Refusal>, (&'static str, usize, io::Error)> {
        let (start, base) = match &self.cache {
            Some((cached, fd)) if comps.starts_with(cached) => (cached.len(), fd),
            _ => (0, &self.root),
        };
        let mut cur = base.try_clone().map_err(|e| ("dup", start, e))?;
        for (i, c) in comps.iter().enumerate().skip(start) {
            let c = sys::cstring(c).map_err(|e| ("open", i + 1, e))?;
            let next = match sys::open_dir_at(cur.as_fd(), &c) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                    match sys::mkdir_at(cur.as_fd(), &c, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => return Err(("mkdir", i + 1, e)),
                    }
                    let fd = sys::open_dir_at(cur.as_fd(), &c).map_err(|e| ("open", i + 1, e))?;
                    sys::fchmod(fd.as_fd(), 0o755).map_err(|e| ("fchmod", i + 1, e))?;
                    fd
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    return Ok(Err(format!("{} does not exist in this layer", show(&comps[..=i]))));
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR) | Some(libc::ELOOP)) => {
                    return Ok(Err(format!(
                        "{} is not a directory (a symlink or file); refusing to go through it",
                        show(&comps[..=i])
                    )));
                }
                Err(e) => return Err(("open", i + 1, e)),
            };
            cur = next;
        }
        if comps.len() > start || self.cache.is_none() {
            // Remember the deepest directory reached for the next entry (usually a sibling).
            if let Ok(dup) = cur.try_clone() {
                self.cache = Some((comps.to_vec(), dup));
            }
        }
        Ok(Ok(cur))
    }

    /// Makes room for a new entry `name` in `dir`: removes whatever is there, except that a directory replacing a
    /// directory merges (returns true).
    fn clear_slot(
        &mut self,
        shown: &str,
        dir: BorrowedFd<'_>,
        name: &CStr,
        comps: &[Vec<u8>],
        new_is_dir: bool,
    ) -> Result<bool, UnpackError> {
        let st = sys::lstat_at(dir, name).map_err(|e| self.entry_err(shown, "lstat", comps, e))?;
        let Some(st) = st else { return Ok(false) };
        let was_dir = sys::is_dir(&st);
        if was_dir && new_is_dir {
            return Ok(true);
        }
        if was_dir {
            sys::remove_tree_at(dir, name).map_err(|e| self.entry_err(shown, "remove", comps, e))?;
            // Cached fds and deferred metadata under the removed tree are stale now.
            self.cache = None;
            self.dirs.retain(|k, _| !k.starts_with(comps));
        } else {
            sys::unlink_at(dir, name, false).map_err(|e| self.entry_err(shown, "unlink", comps, e))?;
        }
        Ok(false)
    }

    /// Ownership and mode through an fd (regular files, directories). Directory modes are deferred (`chmod` false).
    fn apply_fd(
        &self,
        shown: &str,
        comps: &[Vec<u8>],
        fd: BorrowedFd<'_>,
        meta: &Meta,
        chmod: bool,
    ) -> Result<(), UnpackError> {
        // chown first: it clears setuid/setgid bits and file capabilities, which are set afterwards.
        if self.as_root {
            sys::fchown(fd, meta.uid, meta.gid).map_err(|e| self.entry_err(shown, "fchown", comps, e))?;
        }
        if chmod {
            sys::fchmod(fd, meta.mode).map_err(|e| self.entry_err(shown, "fchmod", comps, e))?;
        }
        Ok(())
    }

    /// Ownership, mode (unless a symlink), xattrs and times by name, for entries that are not opened (symlinks,
    /// FIFOs, devices).
    fn apply_at(
        &mut self,
        shown: &str,
        comps: &[Vec<u8>],
        dir: BorrowedFd<'_>,
        name: &CStr,
        meta: &Meta,
        chmod: bool,
    ) -> Result<(), UnpackError> {
        if self.as_root {
            sys::lchown_at(dir, name, meta.uid, meta.gid).map_err(|e| self.entry_err(shown, "lchown", comps, e))?;
        }
        if chmod {
            // Only called for a FIFO or device node just created by mknodat in a directory only we write to.
            sys::chmod_at(dir, name, meta.mode).map_err(|e| self.entry_err(shown, "chmod", comps, e))?;
        }
        self.apply_xattrs(shown, meta, |x, v| sys::lsetxattr_at(dir, name, x, v));
        sys::lutimens_at(dir, name, meta.times).map_err(|e| self.entry_err(shown, "utimensat", comps, e))
    }

    /// Sets the entry's PAX xattrs; those the kernel refuses are recorded in `skipped`, never fatal. Overlay's own
    /// `trusted.overlay.*` / `user.overlay.*` attributes are never taken from a layer: they would let an image forge
    /// opaque dirs, redirects or metacopy files.
    fn apply_xattrs(&mut self, shown: &str, meta: &Meta, mut set: impl FnMut(&CStr, &[u8]) -> io::Result<()>) {
        for (xname, value) in &meta.xattrs {
            let label = String::from_utf8_lossy(xname);
            if xname.starts_with(b"trusted.overlay.") || xname.starts_with(b"user.overlay.") {
                self.skip(shown, format_args!("xattr {label} not applied: overlayfs-internal attribute"));
                continue;
            }
            let res = sys::cstring(xname).and_then(|x| set(&x, value));
            if let Err(e) = res {
                self.skip(shown, format_args!("xattr {label} not applied: {e}"));
            }
        }
    }

    /// A `./` entry: metadata for the layer root.
    fn root_dir(&mut self, shown: &str, meta: Meta) -> Result<(), UnpackError> {
        let root = self.root.try_clone().map_err(|e| self.entry_err(shown, "dup", &[], e))?;
        self.apply_fd(shown, &[], root.as_fd(), &meta, false)?;
        self.apply_xattrs(shown, &meta, |x, v| sys::fsetxattr(root.as_fd(), x, v));
        self.dirs.insert(Vec::new(), DirMeta { mode: meta.mode, times: meta.times });
        self.stats.dirs += 1;
        Ok(())
    }

    /// `.wh.name` → whiteout device `name`; `.wh..wh..opq` → opaque xattr on the parent; other `.wh..wh.*` ignored.
    fn whiteout(&mut self, shown: &str, parent: &[Vec<u8>], name: &[u8]) -> Result<(), UnpackError> {
        if name == b".wh..wh..opq" {
            let Some(dir) = self.parent_dir(shown, parent, true)? else { return Ok(()) };
            match sys::fsetxattr(dir.as_fd(), c"trusted.overlay.opaque", b"y") {
                Ok(()) => self.stats.whiteouts += 1,
                Err(e) if !self.as_root => self.skip(shown, format_args!("opaque marker not applied: {e}")),
                Err(e) => return Err(self.entry_err(shown, "setxattr trusted.overlay.opaque", parent, e)),
            }
            return Ok(());
        }
        if name.starts_with(b".wh..wh.") {
            return Ok(()); // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): meaningless for overlayfs
        }
        let real = &name[4..];
        if real.is_empty() || real == b"." || real == b".." {
            self.skip(shown, "invalid whiteout name");
            return Ok(());
        }
        let Ok(real_c) = sys::cstring(real) else {
            self.skip(shown, "invalid whiteout name");
            return Ok(());
        };
        let mut comps = parent.to_vec();
        comps.push(real.to_vec());
        let Some(dir) = self.parent_dir(shown, parent, true)? else { return Ok(()) };
        self.clear_slot(shown, dir.as_fd(), &real_c, &comps, false)?;
        match sys::mknod_at(dir.as_fd(), &real_c, libc::S_IFCHR, libc::makedev(0, 0)) {
            Ok(()) => self.stats.whiteouts += 1,
            Err(e) if !self.as_root => self.skip(shown, format_args!("whiteout device not created: {e}")),
            Err(e) => return Err(self.entry_err(shown, "mknod whiteout", &comps, e)),
        }
        Ok(())
    }

    fn hardlink(&mut self, shown: &str, comps: &[Vec<u8>], name: &CStr, target: &[u8]) -> Result<(), UnpackError> {
        let tcomps = match normalize(target) {
            Ok(t) => t,
            Err(reason) => {
                self.skip(shown, format_args!("hard link target: {reason}"));
                return Ok(());
            }
        };
        let Some((tname, tparent)) = tcomps.split_last() else {
            self.skip(shown, "hard link to the layer root");
            return Ok(());
        };
        if tcomps == comps {
            return Ok(()); // a link to itself: already there
        }
        let tname_c = match sys::cstring(tname) {
            Ok(c) => c,
            Err(e) => {
                self.skip(shown, e);
                return Ok(());
            }
        };
        let tdir = match self.walk(tparent, false) {
            Ok(Ok(fd)) => fd,
            Ok(Err(reason)) => {
                self.skip(shown, format_args!("hard link target: {reason}"));
                return Ok(());
            }
            Err((op, at, e)) => return Err(self.entry_err(shown, op, &tparent[..at], e)),
        };
        match sys::lstat_at(tdir.as_fd(), &tname_c).map_err(|e| self.entry_err(shown, "lstat", &tcomps, e))? {
            None => {
                self.skip(shown, format_args!("hard link target {} does not exist in this layer", show(&tcomps)));
                return Ok(());
            }
            Some(st) if sys::is_dir(&st) => {
                self.skip(shown, format_args!("hard link target {} is a directory", show(&tcomps)));
                return Ok(());
            }
            Some(_) => {}
        }
        let Some((_, parent)) = comps.split_last() else {
            self.skip(shown, "hard link at the layer root");
            return Ok(());
        };
        let Some(dir) = self.parent_dir(shown, parent, true)? else { return Ok(()) };
        self.clear_slot(shown, dir.as_fd(), name, comps, false)?;
        match sys::link_at(tdir.as_fd(), &tname_c, dir.as_fd(), name) {
            Ok(()) => self.stats.hardlinks += 1,
            // The target went away with the slot we cleared (e.g. it lived inside a directory this entry replaced).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EPERM) | Some(libc::EMLINK)) => {
                self.skip(shown, format_args!("hard link to {} not created: {e}", show(&tcomps)));
            }
            Err(e) => return Err(self.entry_err(shown, "link", comps, e)),
        }
        Ok(())
    }

    /// Applies deferred directory modes and times, deepest first, then the root's.
    fn finish(&mut self) -> Result<(), UnpackError> {
        self.cache = None;
        let mut dirs: Vec<(Comps, DirMeta)> = self.dirs.drain().collect();
        dirs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let mut root_done = false;
        for (comps, meta) in dirs {
            let shown = show(&comps);
            let fd = match self.walk(&comps, false) {
                Ok(Ok(fd)) => fd,
                Ok(Err(_)) => continue, // replaced by a non-directory later in the layer
                Err((op, at, e)) => return Err(self.entry_err(&shown, op, &comps[..at], e)),
            };
            sys::fchmod(fd.as_fd(), meta.mode).map_err(|e| self.entry_err(&shown, "fchmod", &comps, e))?;
            sys::futimens(fd.as_fd(), meta.times).map_err(|e| self.entry_err(&shown, "futimens", &comps, e))?;
            root_done |= comps.is_empty();
        }
        if !root_done {
            sys::fchmod(self.root.as_fd(), 0o755).map_err(|e| self.entry_err("", "fchmod", &[], e))?;
        }
        self.cache = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_map_to_compression() {
        use Compression::*;
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Some(None)),
            ("application/vnd.oci.image.layer.v1.tar+gzip", Some(Gzip)),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Some(Zstd)),
            ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Some(Gzip)),
            ("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Some(Zstd)),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", Some(Gzip)),
            ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Some(Gzip)),
            ("application/vnd.docker.image.rootfs.diff.tar", Some(None)),
            ("application/vnd.oci.image.layer.v1.tar+gzip+encrypted", Option::None),
            ("application/vnd.oci.image.config.v1+json", Option::None),
            ("", Option::None),
        ];
        for (mt, want) in cases {
            assert_eq!(Compression::from_media_type(mt), want, "{mt}");
        }
    }

    #[test]
    fn sniff_recognises_magic_bytes() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(Compression::sniff(b"etc/\0\0\0"), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
        assert_eq!(Compression::sniff(&[0x1f]), Compression::None);
    }

    #[test]
    fn normalize_strips_roots_and_refuses_escapes() {
        let n = |p: &str| normalize(p.as_bytes()).map(|c| show(&c));
        assert_eq!(n("./a/b").unwrap(), "a/b");
        assert_eq!(n("/etc/x").unwrap(), "etc/x");
        assert_eq!(n("a//./b/").unwrap(), "a/b");
        assert_eq!(n("a/../b").unwrap(), "b");
        assert_eq!(n("./").unwrap(), "");
        assert!(n("../escape").is_err());
        assert!(n("a/../../b").is_err());
        assert!(n("/../x").is_err());
        assert!(normalize(b"a\0b").is_err());
    }

    #[test]
    fn pax_times_parse_with_fractions_and_signs() {
        assert_eq!(parse_pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(parse_pax_time(b"1700000000.5"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(parse_pax_time(b"1.123456789123"), Some((1, 123_456_789)));
        assert_eq!(parse_pax_time(b"-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_pax_time(b"x"), None);
        assert_eq!(parse_pax_time(b""), None);
    }
}
