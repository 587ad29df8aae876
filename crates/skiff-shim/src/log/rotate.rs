//! Rotation of a CRI log file, the way the kubelet's container log manager does it (`pkg/kubelet/logs`), but
//! done by the shim, which writes the file: there is no runtime to ask to reopen it.
//!
//! At most `max_files` files are kept per log: the current one (`<log>`), the newest rotated one
//! (`<log>.<YYYYMMDD-hhmmss>`, left uncompressed so that a follower can finish reading it) and older rotated ones,
//! gzip-compressed (`<log>.<YYYYMMDD-hhmmss>.gz`). File names sort oldest first; pruning removes from the oldest,
//! so as not to break a reader of a newer file. A compression writes `<rotated>.tmp` and renames it to
//! `<rotated>.gz` before removing `<rotated>`, so a crash leaves a `.tmp` file or an uncompressed twin of a `.gz`
//! file; the next rotation removes both (the kubelet's "unused logs").
//!
//! Timestamps are UTC (the kubelet formats the node's local time): local time can go backwards (DST), and the
//! names must sort in rotation order.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::write::GzEncoder;

/// The kubelet's default `containerLogMaxSize` (10Mi).
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// The kubelet's default `containerLogMaxFiles`.
pub const DEFAULT_MAX_FILES: usize = 5;

/// `chrono` form of the kubelet's `timestampFormat` (Go's `20060102-150405`).
const STAMP_FORMAT: &str = "%Y%m%d-%H%M%S";
const STAMP_LEN: usize = "20060102-150405".len();
const GZ: &str = ".gz";
const TMP: &str = ".tmp";

/// When to rotate a log and how many files to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// A write that would take the current file past this many bytes goes to a new file.
    pub max_size: u64,
    /// The current file plus the rotated ones; at least 2 (the kubelet refuses fewer: with one, rotating would
    /// delete the log at once).
    pub max_files: usize,
}

impl Default for Rotation {
    fn default() -> Rotation {
        Rotation { max_size: DEFAULT_MAX_SIZE, max_files: DEFAULT_MAX_FILES }
    }
}

/// `<log>.<YYYYMMDD-hhmmss>`: the name `log` is renamed to when rotated at `at`.
pub fn rotated_path(log: &Path, at: DateTime<Utc>) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".");
    name.push(at.format(STAMP_FORMAT).to_string());
    PathBuf::from(name)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// What a file next to a log is to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rotated,
    Compressed,
    /// A compression that did not finish.
    Tmp,
}

/// The files of `log`'s rotation in its directory, sorted by name (oldest first). Only names of the exact form
/// `<log>.<stamp>[.gz|.tmp]` count, so that unrelated files next to the log are never removed.
fn siblings(log: &Path) -> std::io::Result<Vec<(PathBuf, Kind)>> {
    let (Some(dir), Some(base)) = (log.parent(), log.file_name()) else { return Ok(vec![]) };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let mut found = vec![];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.as_bytes().strip_prefix(base.as_bytes()).and_then(|r| r.strip_prefix(b".")) else {
            continue;
        };
        if rest.len() < STAMP_LEN || !is_stamp(&rest[..STAMP_LEN]) {
            continue;
        }
        let kind = match &rest[STAMP_LEN..] {
            b"" => Kind::Rotated,
            s if s == GZ.as_bytes() => Kind::Compressed,
            s if s == TMP.as_bytes() => Kind::Tmp,
            _ => continue,
        };
        found.push((dir.join(&name), kind));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn is_stamp(s: &[u8]) -> bool {
    s.iter().enumerate().all(|(i, &b)| if i == 8 { b == b'-' } else { b.is_ascii_digit() })
}

/// The uncompressed rotated files of `log`, oldest first: the ones a follower may still be reading. A file whose
/// compressed twin exists already is listed too (it is removed right after the twin is complete, and until then
/// it is whole).
pub fn uncompressed_rotated(log: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(siblings(log)?.into_iter().filter(|(_, k)| *k == Kind::Rotated).map(|(p, _)| p).collect())
}

/// After a rotation: removes leftovers of interrupted compressions and the oldest rotated files beyond
/// `max_files - 1` (the current file is the other one), and returns the rotated files that now need compressing
/// (all uncompressed ones but the newest), oldest first.
pub(super) fn tidy(log: &Path, max_files: usize) -> std::io::Result<Vec<PathBuf>> {
    let files = siblings(log)?;
    let compressed = |p: &Path| files.iter().any(|(q, k)| *k == Kind::Compressed && *q == with_suffix(p, GZ));
    let mut in_use = vec![];
    for (path, kind) in &files {
        let unused = match kind {
            Kind::Tmp => true,
            Kind::Rotated => compressed(path),
            Kind::Compressed => false,
        };
        if unused {
            remove(path)?;
        } else {
            in_use.push((path, *kind));
        }
    }
    let excess = in_use.len().saturating_sub(max_files.max(2) - 1);
    for (path, _) in &in_use[..excess] {
        remove(path)?;
    }
    let kept = &in_use[excess..];
    let older = &kept[..kept.len().saturating_sub(1)];
    Ok(older.iter().filter(|(_, k)| *k == Kind::Rotated).map(|(p, _)| p.to_path_buf()).collect())
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Bytes read from a file being compressed per `read`.
const READ: usize = 64 * 1024;

/// Compresses rotated files a bounded step at a time, so that the single-threaded shim can interleave the work
/// with copying the container's output (see `Writer::compress_step`).
#[derive(Debug, Default)]
pub(super) struct Compressor {
    queue: VecDeque<PathBuf>,
    job: Option<Job>,
}

#[derive(Debug)]
struct Job {
    src: PathBuf,
    tmp: PathBuf,
    input: File,
    output: GzEncoder<File>,
}

impl Compressor {
    pub(super) fn add(&mut self, files: Vec<PathBuf>) {
        self.queue.extend(files);
    }

    pub(super) fn busy(&self) -> bool {
        self.job.is_some() || !self.queue.is_empty()
    }

    /// Compresses about `budget` bytes of input; returns whether work remains. Failures are logged and leave the
    /// file uncompressed (the next rotation tries again): losing compression must not stop the logging.
    pub(super) fn step(&mut self, budget: usize) -> bool {
        let mut buf = vec![0; READ.min(budget.max(1))];
        let mut done = 0;
        while done < budget {
            let job = match &mut self.job {
                Some(job) => job,
                None => {
                    let Some(src) = self.queue.pop_front() else { break };
                    match Job::start(&src) {
                        Ok(job) => self.job.insert(job),
                        Err(e) => {
                            tracing::warn!(file = %src.display(), error = %e, "compress rotated log");
                            continue;
                        }
                    }
                }
            };
            let result = match job.input.read(&mut buf) {
                Ok(0) => {
                    if let Some(job) = self.job.take() {
                        let src = job.src.clone();
                        if let Err(e) = job.complete() {
                            tracing::warn!(file = %src.display(), error = %e, "compress rotated log");
                        }
                    }
                    continue;
                }
                Ok(n) => {
                    done += n;
                    job.output.write_all(&buf[..n])
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                if let Some(job) = self.job.take() {
                    tracing::warn!(file = %job.src.display(), error = %e, "compress rotated log");
                    job.abort();
                }
            }
        }
        self.busy()
    }

    /// Does all queued work now.
    pub(super) fn finish(&mut self) {
        while self.step(usize::MAX) {}
    }
}

impl Job {
    fn start(src: &Path) -> std::io::Result<Job> {
        let input = File::open(src)?;
        let tmp = with_suffix(src, TMP);
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        // gzip's default level, as the kubelet's `gzip.NewWriter`
        let output = GzEncoder::new(out, flate2::Compression::default());
        Ok(Job { src: src.into(), tmp, input, output })
    }

    /// The whole input is compressed: `.tmp` becomes `.gz`, then the uncompressed file goes.
    fn complete(self) -> std::io::Result<()> {
        let Job { src, tmp, output, .. } = self;
        let done = output.finish().and_then(|_| std::fs::rename(&tmp, with_suffix(&src, GZ)));
        if let Err(e) = done {
            let _ = remove(&tmp);
            return Err(e);
        }
        remove(&src)
    }

    fn abort(self) {
        let _ = remove(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn rotated_names_are_the_kubelets() {
        let p = rotated_path(Path::new("/var/log/pods/x/c/0.log"), at("2024-01-02T03:04:05.999999999Z"));
        assert_eq!(p, Path::new("/var/log/pods/x/c/0.log.20240102-030405"));
        // the name is the UTC time, whatever offset the time came with
        let p = rotated_path(Path::new("0.log"), at("2024-01-02T01:00:00+02:00"));
        assert_eq!(p, Path::new("0.log.20240101-230000"));
    }

    #[test]
    fn only_exact_rotation_names_are_siblings() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        for n in [
            "0.log",
            "0.log.20240102-030405",
            "0.log.20240102-030404.gz",
            "0.log.20240102-030403.tmp",
            "0.log.20240102-030406.gz.tmp",
            "0.log.2024010-0304050",
            "0.log.backup",
            "00.log.20240102-030405",
            "1.log.20240102-030405",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let got: Vec<(String, Kind)> = siblings(&log)
            .unwrap()
            .into_iter()
            .map(|(p, k)| (p.file_name().unwrap().to_string_lossy().into_owned(), k))
            .collect();
        assert_eq!(
            got,
            vec![
                ("0.log.20240102-030403.tmp".into(), Kind::Tmp),
                ("0.log.20240102-030404.gz".into(), Kind::Compressed),
                ("0.log.20240102-030405".into(), Kind::Rotated),
            ]
        );
        assert_eq!(uncompressed_rotated(&log).unwrap(), vec![dir.path().join("0.log.20240102-030405")]);
    }

    #[test]
    fn tidy_removes_leftovers_and_the_oldest_and_names_what_to_compress() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        for n in [
            "0.log",
            "0.log.20240101-000001.gz",
            "0.log.20240101-000002.gz",
            "0.log.20240101-000003",
            "0.log.20240101-000003.gz", // compressed, the original not yet removed (a crash)
            "0.log.20240101-000004",
            "0.log.20240101-000004.tmp", // an interrupted compression
            "0.log.20240101-000005",
            "unrelated",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let compress = tidy(&log, 4).unwrap();
        assert_eq!(
            names(dir.path()),
            ["0.log", "0.log.20240101-000003.gz", "0.log.20240101-000004", "0.log.20240101-000005", "unrelated"]
        );
        assert_eq!(compress, vec![dir.path().join("0.log.20240101-000004")]);
        // fewer than two files is taken as two: the newest rotated file stays
        assert!(tidy(&log, 0).unwrap().is_empty());
        assert_eq!(names(dir.path()), ["0.log", "0.log.20240101-000005", "unrelated"]);
    }

    #[test]
    fn compression_replaces_a_file_with_its_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("0.log.20240101-000001");
        let text: String = (0..10_000).map(|i| format!("2024-01-01T00:00:00.000000000Z stdout F line {i}\n")).collect();
        std::fs::write(&src, &text).unwrap();
        let mut c = Compressor::default();
        c.add(vec![src.clone(), dir.path().join("0.log.20240101-000000")]); // the second is gone: skipped
        let mut steps = 0;
        while c.step(64 * 1024) {
            steps += 1;
        }
        assert!(steps > 3, "{steps} steps: the work is split");
        assert_eq!(names(dir.path()), ["0.log.20240101-000001.gz"]);
        let mut back = String::new();
        flate2::read::GzDecoder::new(File::open(with_suffix(&src, GZ)).unwrap()).read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
    }
}
