//! Rendering a CRI log file the way `kubectl logs` shows it: pieces joined into lines, with the `tail`,
//! `since`, `timestamps`, `limit_bytes` and stream options of `PodLogOptions`.
//!
//! A follower calls [`render`] repeatedly, each time from the offset the previous call returned. So that no
//! line is cut or repeated, a call consumes only whole records (a record still being written is left), and
//! stops at the last point where no stream is in the middle of a `P`… line: lines finished after that point are
//! held back and rendered again, whole, by the next call.
//!
//! `tail` does not parse the whole file: it reads records backwards in blocks from the end until it has passed
//! enough full lines and reached a point where no wanted stream is mid-line, then renders forwards from there.
//! `since` alone scans forwards from `from` (timestamps are monotonic, but a binary search is not worth it for
//! files the agent keeps to a few MiB).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{format_time_go, parse_line, rotate, LogLine, Stream};
use crate::ShimError;

/// What to render (the `PodLogOptions` a node serves).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Only the last N lines (pieces joined count as one line; only lines of the wanted streams count).
    pub tail: Option<usize>,
    /// Only lines whose (first piece's) time is at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Prefix each line with its time (Go's RFC3339Nano, as kubelet does) and a space.
    pub timestamps: bool,
    /// Stop after this many bytes of output (the last line may be cut).
    pub limit_bytes: Option<usize>,
    /// Only this stream; `None` for both.
    pub stream: Option<Stream>,
}

/// A file, as opposed to a path: rotation renames the file a follower reads and puts a new one at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    fn of(file: &File) -> std::io::Result<FileId> {
        let m = file.metadata()?;
        Ok(FileId { dev: m.dev(), ino: m.ino() })
    }
}

/// Where a follower continues: a byte offset in a particular file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub offset: u64,
    /// The file `offset` is in; `None`: whatever file is at the path.
    pub file: Option<FileId>,
}

/// How far a [`render`] call got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Where a follower continues: just after the last record consumed…
    pub offset: u64,
    /// …in this file (which may since have been rotated away from the path).
    pub file: Option<FileId>,
    /// Bytes written to the output.
    pub bytes: usize,
    /// `limit_bytes` was reached: a follower should stop.
    pub limit_reached: bool,
}

impl Rendered {
    /// What to pass to the next [`render_from`] call.
    pub fn cursor(&self) -> Cursor {
        Cursor { offset: self.offset, file: self.file }
    }
}

/// Renders the records of `path` from byte `from` (0 for the whole file) into `out`.
///
/// Each output line ends with `\n`; a line made of `P` pieces and its `F` piece ends with one. Records that do
/// not parse are skipped (as kubelet does). A `from` past the end of the file renders nothing. Only the current
/// file is read, not the rotated ones (as the kubelet serves `kubectl logs`).
pub fn render(path: &Path, from: u64, opts: &ReadOptions, out: &mut dyn Write) -> Result<Rendered, ShimError> {
    render_from(path, Cursor { offset: from, file: None }, opts, out)
}

/// [`render`] for a follower: continues where a previous call stopped (its [`Rendered::cursor`]).
///
/// If the file the cursor is in is no longer the one at `path` (the log was rotated), the rest of it is rendered
/// first (found among the uncompressed rotated files by its inode), then any newer rotated files, then the new
/// file from its start — so nothing is lost or repeated, and a line whose pieces straddle a rotation is joined.
/// A follower more than one rotation behind may find its file compressed or removed: it then goes on at the
/// start of the oldest file it can still read.
pub fn render_from(path: &Path, from: Cursor, opts: &ReadOptions, out: &mut dyn Write) -> Result<Rendered, ShimError> {
    let file = File::open(path).map_err(ShimError::io("open", path))?;
    let id = FileId::of(&file).map_err(ShimError::io("stat", path))?;
    let (mut segments, start) = match from.file {
        // rotated since the last call: the new file is read from its start, after what is left of the others
        Some(old) if old != id => (rotated_since(path, old, from.offset), 0),
        _ => (vec![], from.offset),
    };
    let mut current = Segment { file, id, start, path: path.into() };
    if let Some(n) = opts.tail {
        current.start =
            tail_start(&mut current.file, current.start, n, opts.stream).map_err(ShimError::io("read", path))?;
    }
    let tail_cut = opts.tail.is_some() && current.start > 0;
    segments.push(current);
    let mut sink = Sink::new(out, opts);
    let mut joiner = Joiner::new(opts);
    let mut record = Vec::new();
    let mut safe = Cursor { offset: segments[0].start, file: Some(segments[0].id) };
    let mut held: Vec<Vec<u8>> = Vec::new();
    let last = segments.len() - 1;
    for (i, seg) in segments.into_iter().enumerate() {
        if i == last && tail_cut {
            // the tail starts inside the current file: nothing before it is wanted, not even a started line
            joiner = Joiner::new(opts);
            held.clear();
        }
        if joiner.idle() {
            safe = Cursor { offset: seg.start, file: Some(seg.id) };
        }
        let mut file = seg.file;
        file.seek(SeekFrom::Start(seg.start)).map_err(ShimError::io("seek", &seg.path))?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut pos = seg.start;
        loop {
            record.clear();
            let n = reader.read_until(b'\n', &mut record).map_err(ShimError::io("read", &seg.path))?;
            if n == 0 || record.last() != Some(&b'\n') {
                break; // end of file, or a record still being written: leave it for the next call
            }
            pos += n as u64;
            if let Some(rec) = parse_line(&record) {
                if let Some(line) = joiner.feed(&rec) {
                    held.push(line);
                }
            }
            if joiner.idle() {
                for line in held.drain(..) {
                    sink.line(line)?;
                }
                safe = Cursor { offset: pos, file: Some(seg.id) };
                if sink.limit_reached {
                    break;
                }
            }
        }
        if sink.limit_reached {
            break;
        }
    }
    sink.finish()?;
    Ok(Rendered { offset: safe.offset, file: safe.file, bytes: sink.written, limit_reached: sink.limit_reached })
}

/// An open file to render from `start`.
struct Segment {
    file: File,
    id: FileId,
    start: u64,
    /// For error messages.
    path: PathBuf,
}

/// The rotated files a follower in file `old` at `offset` has not finished, oldest first: `old` from `offset`,
/// then the newer rotated ones. Compressed files are not read (a follower is at most one rotation behind in
/// practice, and the newest rotated file is never compressed); if `old` is gone, all uncompressed rotated files
/// from their start. Errors listing or opening mean files that went away meanwhile: skipped.
fn rotated_since(path: &Path, old: FileId, offset: u64) -> Vec<Segment> {
    let files: Vec<(PathBuf, File, FileId)> = rotate::uncompressed_rotated(path)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let f = File::open(&p).ok()?;
            let id = FileId::of(&f).ok()?;
            Some((p, f, id))
        })
        .collect();
    let (from, start) = match files.iter().position(|(_, _, id)| *id == old) {
        Some(i) => (i, offset),
        // gone (compressed or pruned): files are compressed oldest first and the newest rotated one never is, so
        // the uncompressed ones all came after it
        None => (0, 0),
    };
    files
        .into_iter()
        .enumerate()
        .skip(from)
        .map(|(i, (path, file, id))| Segment { file, id, start: if i == from { start } else { 0 }, path })
        .collect()
}

/// Joins pieces per stream and renders finished lines.
struct Joiner<'o> {
    opts: &'o ReadOptions,
    /// Per stream: the first piece's time and the content so far of a line being joined.
    pending: [Option<(DateTime<Utc>, Vec<u8>)>; 2],
}

impl<'o> Joiner<'o> {
    fn new(opts: &'o ReadOptions) -> Joiner<'o> {
        Joiner { opts, pending: [None, None] }
    }

    fn idle(&self) -> bool {
        self.pending.iter().all(Option::is_none)
    }

    /// Takes a record; returns a rendered line when one is finished (and wanted).
    fn feed(&mut self, rec: &LogLine<'_>) -> Option<Vec<u8>> {
        if self.opts.stream.is_some_and(|s| s != rec.stream) {
            return None;
        }
        let slot = &mut self.pending[rec.stream.index()];
        if rec.partial {
            match slot {
                Some((_, content)) => content.extend_from_slice(rec.content),
                None => *slot = Some((rec.time, rec.content.to_vec())),
            }
            return None;
        }
        let (time, content) = match slot.take() {
            Some((time, mut content)) => {
                content.extend_from_slice(rec.content);
                (time, content)
            }
            None => (rec.time, rec.content.to_vec()),
        };
        if self.opts.since.is_some_and(|since| time < since) {
            return None;
        }
        let mut line = Vec::with_capacity(content.len() + 40);
        if self.opts.timestamps {
            line.extend_from_slice(format_time_go(time).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(&content);
        line.push(b'\n');
        Some(line)
    }
}

/// The output side: keeps the last `tail` lines until the end, counts bytes against `limit_bytes`.
struct Sink<'a> {
    out: &'a mut dyn Write,
    tail: Option<(usize, VecDeque<Vec<u8>>)>,
    limit: Option<usize>,
    written: usize,
    limit_reached: bool,
}

impl<'a> Sink<'a> {
    fn new(out: &'a mut dyn Write, opts: &ReadOptions) -> Sink<'a> {
        Sink {
            out,
            tail: opts.tail.map(|n| (n, VecDeque::new())),
            limit: opts.limit_bytes,
            written: 0,
            limit_reached: opts.limit_bytes == Some(0),
        }
    }

    fn line(&mut self, line: Vec<u8>) -> Result<(), ShimError> {
        match &mut self.tail {
            Some((n, lines)) => {
                lines.push_back(line);
                if lines.len() > *n {
                    lines.pop_front();
                }
                Ok(())
            }
            None => self.write(&line),
        }
    }

    fn finish(&mut self) -> Result<(), ShimError> {
        if let Some((_, lines)) = self.tail.take() {
            for line in lines {
                self.write(&line)?;
            }
        }
        Ok(())
    }

    fn write(&mut self, line: &[u8]) -> Result<(), ShimError> {
        if self.limit_reached {
            return Ok(());
        }
        let take = self.limit.map_or(line.len(), |l| line.len().min(l - self.written));
        self.out.write_all(&line[..take]).map_err(ShimError::Output)?;
        self.written += take;
        self.limit_reached = self.limit == Some(self.written);
        Ok(())
    }
}

/// Where to start rendering so that the output holds the last `n` full lines of the wanted streams: reads
/// records backwards from the end (ignoring a last record still being written) down to `lo`.
///
/// The start must not fall inside a `P`… line of any stream, or its pieces after the start would show as a line
/// of their own. A boundary just after an `F` record of stream `s` is clean for `s`; it is clean for the other
/// stream if that stream's nearest record before it is an `F` too (or there is none).
fn tail_start(file: &mut File, lo: u64, n: usize, stream: Option<Stream>) -> std::io::Result<u64> {
    let mut records = RevRecords::new(file, lo)?;
    let mut counted = 0;
    let mut candidate: Option<(u64, Stream)> = None;
    while let Some((start, record)) = records.next()? {
        let Some(rec) = parse_line(&record) else { continue };
        if let Some((at, s)) = candidate {
            if rec.stream != s {
                if !rec.partial {
                    return Ok(at);
                }
                candidate = None;
            }
        }
        if counted >= n && candidate.is_none() && !rec.partial {
            candidate = Some((start + record.len() as u64, rec.stream));
        }
        if !rec.partial && stream.is_none_or(|s| s == rec.stream) {
            counted += 1;
        }
    }
    Ok(candidate.map_or(lo, |(at, _)| at))
}

/// Whole records of a file, last first, read in blocks from the end.
struct RevRecords<'f> {
    file: &'f mut File,
    lo: u64,
    /// File bytes `[buf_start, buf_start + buf.len())`, ending with a record's newline (or empty).
    buf: Vec<u8>,
    buf_start: u64,
}

const BLOCK: u64 = 64 * 1024;

impl<'f> RevRecords<'f> {
    fn new(file: &'f mut File, lo: u64) -> std::io::Result<RevRecords<'f>> {
        let end = file.seek(SeekFrom::End(0))?.max(lo);
        let mut r = RevRecords { file, lo, buf: Vec::new(), buf_start: end };
        // drop a last record still being written
        loop {
            if let Some(i) = r.buf.iter().rposition(|&b| b == b'\n') {
                r.buf.truncate(i + 1);
                break;
            }
            if !r.read_block()? {
                r.buf.clear();
                break;
            }
        }
        Ok(r)
    }

    /// Prepends the block before `buf_start`; false at `lo`.
    fn read_block(&mut self) -> std::io::Result<bool> {
        if self.buf_start <= self.lo {
            return Ok(false);
        }
        let len = BLOCK.min(self.buf_start - self.lo);
        let at = self.buf_start - len;
        let mut block = vec![0; len as usize];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut block)?;
        block.extend_from_slice(&self.buf);
        self.buf = block;
        self.buf_start = at;
        Ok(true)
    }

    /// The previous record and its offset.
    fn next(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        loop {
            let body = &self.buf[..self.buf.len() - 1];
            if let Some(i) = body.iter().rposition(|&b| b == b'\n') {
                let record = self.buf.split_off(i + 1);
                return Ok(Some((self.buf_start + i as u64 + 1, record)));
            }
            if !self.read_block()? {
                return Ok(Some((self.buf_start, std::mem::take(&mut self.buf))));
            }
        }
    }
}

#[cfg(test)]
mod tests;
