//! Turning a container's output into CRI records: per-stream line buffers and the appending file writer.
//!
//! Output arrives in arbitrary chunks (whatever a pipe read returned), so each stream keeps the text after its
//! last newline until the newline comes. A line may be any length; to keep the buffers and the records bounded,
//! a line longer than [`MAX_PIECE`] is written as `P` pieces of [`MAX_PIECE`] bytes and a last `F` piece (as
//! containerd does with its 16 KiB buffer).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::rotate::{self, Compressor, Rotation};
use super::{format_time, Stream};
use crate::ShimError;

/// The longest content of one record.
pub const MAX_PIECE: usize = 16 * 1024;

/// One stream's text after its last newline; splits chunks into records.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// Feeds a chunk; `emit(partial, content)` is called for every record that is now complete. Afterwards at
    /// most [`MAX_PIECE`] bytes wait for their newline.
    pub fn push(&mut self, mut data: &[u8], emit: &mut impl FnMut(bool, &[u8])) {
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                emit_line(&data[..i], emit);
            } else {
                self.pending.extend_from_slice(&data[..i]);
                emit_line(&self.pending, emit);
                self.pending.clear();
            }
            data = &data[i + 1..];
        }
        self.pending.extend_from_slice(data);
        // a piece of exactly MAX_PIECE may still be a whole line: only cut once it is certainly longer
        let mut cut = 0;
        while self.pending.len() - cut > MAX_PIECE {
            emit(true, &self.pending[cut..cut + MAX_PIECE]);
            cut += MAX_PIECE;
        }
        self.pending.drain(..cut);
    }

    /// The stream ended (or will not be read any more): text left without a newline becomes a full line.
    pub fn finish(&mut self, emit: &mut impl FnMut(bool, &[u8])) {
        if !self.pending.is_empty() {
            emit(false, &self.pending);
            self.pending.clear();
        }
    }
}

fn emit_line(mut line: &[u8], emit: &mut impl FnMut(bool, &[u8])) {
    while line.len() > MAX_PIECE {
        emit(true, &line[..MAX_PIECE]);
        line = &line[MAX_PIECE..];
    }
    emit(false, line);
}

/// Appends one record to `out`.
fn encode(out: &mut Vec<u8>, time: &str, stream: Stream, partial: bool, content: &[u8]) {
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// A CRI log file being appended to, with one [`LineBuffer`] per stream, rotated by size if asked to
/// ([`Writer::rotate_at`]).
///
/// Each chunk's records are written with one `write` (`O_APPEND`), all stamped with the time the chunk was
/// read — or, when the file reaches its maximum size in the middle of a chunk, with one `write` per file, split
/// between records: a record is never split across files. A failed write loses that chunk's records but not the
/// buffers: the caller logs it and carries on.
#[derive(Debug)]
pub struct Writer {
    file: File,
    path: PathBuf,
    buffers: [LineBuffer; 2],
    out: Vec<u8>,
    /// Bytes in `file` (what it held when opened plus what we wrote): rotation decides on it without a `stat`
    /// per write.
    size: u64,
    rotation: Option<Rotation>,
    /// The second (of the chunk times) in which a rotation was found impossible: not retried within it, so a
    /// persistent failure costs one attempt and one warning per second rather than per write, and two rotations
    /// in one second (same rotated name) become one.
    blocked: Option<i64>,
    compressor: Compressor,
}

/// Input compressed per [`Writer::compress_step`]: a few milliseconds of work, so the shim's loop stays
/// responsive to the container's output.
const COMPRESS_STEP: usize = 256 * 1024;

fn open_log(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().create(true).append(true).mode(0o640).custom_flags(libc::O_CLOEXEC).open(path)
}

impl Writer {
    /// Opens (creating with mode 0640) `path` for appending; it is not rotated unless [`Writer::rotate_at`].
    pub fn open(path: &Path) -> Result<Writer, ShimError> {
        let file = open_log(path).map_err(ShimError::io("open", path))?;
        let size = file.metadata().map_err(ShimError::io("stat", path))?.len();
        Ok(Writer {
            file,
            path: path.into(),
            buffers: Default::default(),
            out: Vec::new(),
            size,
            rotation: None,
            blocked: None,
            compressor: Compressor::default(),
        })
    }

    /// Rotates the file by `rotation` from now on (see [`super::rotate`]); a `max_size` of 0 never rotates.
    pub fn rotate_at(mut self, rotation: Rotation) -> Writer {
        self.rotation = Some(rotation).filter(|r| r.max_size > 0);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a chunk of `stream`'s output read at `time`.
    pub fn write(&mut self, stream: Stream, data: &[u8], time: DateTime<Utc>) -> Result<(), ShimError> {
        let ts = format_time(time);
        let out = &mut self.out;
        self.buffers[stream.index()].push(data, &mut |partial, content| encode(out, &ts, stream, partial, content));
        self.flush(time)
    }

    /// `stream` ended: records what is left of its last line.
    pub fn finish(&mut self, stream: Stream, time: DateTime<Utc>) -> Result<(), ShimError> {
        let ts = format_time(time);
        let out = &mut self.out;
        self.buffers[stream.index()].finish(&mut |partial, content| encode(out, &ts, stream, partial, content));
        self.flush(time)
    }

    /// Rotated files wait to be compressed: the caller should call [`Writer::compress_step`] soon.
    pub fn compressing(&self) -> bool {
        self.compressor.busy()
    }

    /// Does a bounded step of compressing rotated files; returns whether work remains. The shim calls it between
    /// reads of the container's output rather than compressing a whole file (up to `max_size`) while the pipes
    /// fill up.
    pub fn compress_step(&mut self) -> bool {
        self.compressor.step(COMPRESS_STEP)
    }

    /// Compresses what is left to compress (the container has exited: nothing else to do).
    pub fn finish_compression(&mut self) {
        self.compressor.finish();
    }

    fn flush(&mut self, time: DateTime<Utc>) -> Result<(), ShimError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let r = self.write_records(&out, time);
        self.out = out;
        self.out.clear();
        r
    }

    /// Writes whole records, rotating between two of them when the next would take the file past `max_size`.
    fn write_records(&mut self, mut data: &[u8], time: DateTime<Utc>) -> Result<(), ShimError> {
        while !data.is_empty() {
            let mut take = self.fitting(data);
            if take == 0 {
                if self.size == 0 {
                    // a record longer than max_size: it has to go somewhere whole
                    take = data.iter().position(|&b| b == b'\n').map_or(data.len(), |i| i + 1);
                } else if self.rotate(time) {
                    continue;
                } else {
                    // no rotation now: over the limit rather than lost
                    take = data.len();
                }
            }
            if let Err(e) = self.file.write_all(&data[..take]) {
                // after a short write only the file knows its size
                self.size = self.file.metadata().map_or(self.size, |m| m.len());
                return Err(ShimError::Io { op: "write", path: self.path.clone(), source: e });
            }
            self.size += take as u64;
            data = &data[take..];
        }
        Ok(())
    }

    /// How many bytes of whole records at the start of `data` fit into the current file.
    fn fitting(&self, data: &[u8]) -> usize {
        let Some(r) = self.rotation else { return data.len() };
        let room = r.max_size.saturating_sub(self.size);
        if data.len() as u64 <= room {
            return data.len();
        }
        // room < data.len(), so it fits in usize
        data[..room as usize].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
    }

    /// Starts a new file if possible now; false to go on with the current one.
    fn rotate(&mut self, time: DateTime<Utc>) -> bool {
        let Some(rotation) = self.rotation else { return false };
        let second = time.timestamp();
        if self.blocked == Some(second) {
            return false;
        }
        match self.try_rotate(rotation, time) {
            Ok(true) => {
                self.blocked = None;
                true
            }
            Ok(false) => {
                self.blocked = Some(second);
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "rotate the container log; writing on past its maximum size");
                self.blocked = Some(second);
                false
            }
        }
    }

    fn try_rotate(&mut self, rotation: Rotation, time: DateTime<Utc>) -> Result<bool, ShimError> {
        let target = rotate::rotated_path(&self.path, time);
        let mut gz = target.as_os_str().to_owned();
        gz.push(".gz");
        // a rotation earlier in the same second took the name: renaming would replace that file
        if target.symlink_metadata().is_ok() || Path::new(&gz).symlink_metadata().is_ok() {
            return Ok(false);
        }
        // pruning below may remove what is queued or being compressed; the queue is at most the files of the
        // previous rotation (normally one), so this is bounded by max_size — and only happens when output comes
        // faster than the steps between reads compress it, which then slows the container down, not the logging
        self.compressor.finish();
        std::fs::rename(&self.path, &target).map_err(ShimError::io("rename", &self.path))?;
        let file = match open_log(&self.path) {
            Ok(f) => f,
            Err(e) => {
                // put the file back, to carry on in it and try again later (as the kubelet does)
                if let Err(e2) = std::fs::rename(&target, &self.path) {
                    tracing::error!(error = %e2, file = %target.display(), "rename the rotated log back");
                }
                return Err(ShimError::Io { op: "open", path: self.path.clone(), source: e });
            }
        };
        self.file = file;
        self.size = 0;
        tracing::debug!(rotated = %target.display(), "rotated the container log");
        match rotate::tidy(&self.path, rotation.max_files) {
            Ok(older) => self.compressor.add(older),
            // extra files on disk, nothing lost: the next rotation tries again
            Err(e) => tracing::warn!(error = %e, "prune or compress rotated container logs"),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::parse_line;
    use crate::log::Rotation;

    fn split(chunks: &[&[u8]], finish: bool) -> Vec<(bool, Vec<u8>)> {
        let mut b = LineBuffer::default();
        let mut got = vec![];
        let mut emit = |p: bool, c: &[u8]| got.push((p, c.to_vec()));
        for c in chunks {
            b.push(c, &mut emit);
        }
        if finish {
            b.finish(&mut emit);
        }
        got
    }

    fn f(s: &[u8]) -> (bool, Vec<u8>) {
        (false, s.to_vec())
    }

    fn p(s: &[u8]) -> (bool, Vec<u8>) {
        (true, s.to_vec())
    }

    #[test]
    fn whole_lines_become_full_records() {
        assert_eq!(split(&[b"a\nbb\n\n"], false), vec![f(b"a"), f(b"bb"), f(b"")]);
    }

    #[test]
    fn lines_split_across_chunks_are_joined() {
        assert_eq!(split(&[b"he", b"llo\nwor", b"ld", b"\n"], false), vec![f(b"hello"), f(b"world")]);
    }

    #[test]
    fn text_without_newline_waits_until_finish() {
        assert_eq!(split(&[b"a\nno newline"], false), vec![f(b"a")]);
        assert_eq!(split(&[b"a\nno newline"], true), vec![f(b"a"), f(b"no newline")]);
        assert_eq!(split(&[b"a\n"], true), vec![f(b"a")], "nothing pending: no empty record");
    }

    #[test]
    fn long_lines_are_cut_into_pieces() {
        let long = vec![b'x'; 2 * MAX_PIECE + 5];
        let mut input = long.clone();
        input.push(b'\n');
        let want = vec![p(&long[..MAX_PIECE]), p(&long[MAX_PIECE..2 * MAX_PIECE]), f(&long[2 * MAX_PIECE..])];
        assert_eq!(split(&[&input], false), want);
        // the same line trickling in byte ranges gives the same records
        let chunks: Vec<&[u8]> = input.chunks(1000).collect();
        assert_eq!(split(&chunks, false), want);
    }

    #[test]
    fn a_line_of_exactly_max_piece_is_one_full_record() {
        let line = vec![b'y'; MAX_PIECE];
        assert_eq!(split(&[&line, b"\n"], false), vec![f(&line)]);
        assert_eq!(split(&[&line], true), vec![f(&line)]);
        let two = vec![b'y'; 2 * MAX_PIECE];
        assert_eq!(split(&[&two, b"\n"], false), vec![p(&two[..MAX_PIECE]), f(&two[MAX_PIECE..])]);
    }

    #[test]
    fn unterminated_long_text_is_emitted_as_pieces_before_finish() {
        let text = vec![b'z'; MAX_PIECE + 1];
        assert_eq!(split(&[&text], false), vec![p(&text[..MAX_PIECE])]);
        assert_eq!(split(&[&text], true), vec![p(&text[..MAX_PIECE]), f(b"z")]);
    }

    #[test]
    fn writer_appends_parsable_records_per_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        std::fs::write(&path, "2016-10-06T00:17:09.000000000Z stdout F earlier\n").unwrap();
        let now: DateTime<Utc> = "2024-01-02T03:04:05.000000006Z".parse().unwrap();
        let mut w = Writer::open(&path).unwrap();
        w.write(Stream::Stdout, b"out 1\nout ", now).unwrap();
        w.write(Stream::Stderr, b"err 1\n", now).unwrap();
        w.write(Stream::Stdout, b"2\n", now).unwrap();
        w.write(Stream::Stderr, b"tail", now).unwrap();
        w.finish(Stream::Stderr, now).unwrap();
        w.finish(Stream::Stdout, now).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "2016-10-06T00:17:09.000000000Z stdout F earlier\n\
             2024-01-02T03:04:05.000000006Z stdout F out 1\n\
             2024-01-02T03:04:05.000000006Z stderr F err 1\n\
             2024-01-02T03:04:05.000000006Z stdout F out 2\n\
             2024-01-02T03:04:05.000000006Z stderr F tail\n"
        );
        for l in text.lines() {
            assert!(parse_line(l.as_bytes()).is_some(), "{l}");
        }
        use std::os::unix::fs::PermissionsExt;
        let fresh = dir.path().join("new.log");
        Writer::open(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o640, 0, "mode {mode:o}");
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_164_645 + secs, 6).unwrap() // 2024-01-02T03:04:05Z
    }

    /// The files of `dir` by name, with their text (`.gz` ones decompressed).
    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let mut text = String::new();
                let f = File::open(&path).unwrap();
                if name.ends_with(".gz") {
                    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut text).unwrap();
                } else {
                    std::io::Read::read_to_string(&mut { f }, &mut text).unwrap();
                }
                (name, text)
            })
            .collect();
        v.sort();
        v
    }

    /// The contents of every record of `text`, which must consist of whole records.
    fn contents(text: &str) -> Vec<String> {
        assert!(text.is_empty() || text.ends_with('\n'), "{text:?} ends inside a record");
        text.lines().map(|l| String::from_utf8(parse_line(l.as_bytes()).unwrap().content.to_vec()).unwrap()).collect()
    }

    /// Oldest first: rotated files by name, then the current one.
    fn in_order(files: &[(String, String)], current: &str) -> Vec<(String, String)> {
        let mut v: Vec<_> = files.iter().filter(|(n, _)| n != current).cloned().collect();
        v.extend(files.iter().filter(|(n, _)| n == current).cloned());
        v
    }

    #[test]
    fn rotation_names_compresses_older_files_and_prunes_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = Writer::open(&path).unwrap().rotate_at(Rotation { max_size: 300, max_files: 4 });
        let mut written = vec![];
        for i in 0..60 {
            // three records of ~50 bytes per chunk: a chunk often straddles the limit
            let chunk = format!("line {i}a\nline {i}b\nline {i}c\n");
            w.write(Stream::Stdout, chunk.as_bytes(), at(i)).unwrap();
            written.extend(["a", "b", "c"].map(|s| format!("line {i}{s}")));
            w.compress_step();
        }
        w.finish_compression();
        let got = files(dir.path());
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(names[0], "0.log");
        // two older ones compressed, the newest rotated one not; each named after the time of its rotation
        for n in &names[1..3] {
            assert!(n.starts_with("0.log.20240102-03") && n.ends_with(".gz") && n.len() == 24, "{names:?}");
        }
        assert!(names[3].starts_with("0.log.20240102-03") && names[3].len() == 21, "{names:?}");
        let mut kept = vec![];
        for (name, text) in in_order(&got, "0.log") {
            assert!(text.len() <= 300, "{name}: {} bytes", text.len());
            kept.extend(contents(&text));
        }
        // what is kept is the end of what was written, in order, nothing repeated
        assert!(kept.len() > 10);
        assert_eq!(kept, written[written.len() - kept.len()..]);
    }

    #[test]
    fn a_chunk_is_split_between_records_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = Writer::open(&path).unwrap().rotate_at(Rotation { max_size: 400, max_files: 100 });
        let mut written = vec![];
        let mut chunk = String::new();
        for i in 0..40 {
            let line = format!("{i} {}", "x".repeat(i % 13));
            chunk.push_str(&line);
            chunk.push('\n');
            written.push(line);
        }
        // chunks cutting lines anywhere, each of at most 7 records (< 400 bytes): at most one rotation per chunk,
        // which is one per second (the rotated names)
        for (i, part) in chunk.as_bytes().chunks(20).enumerate() {
            w.write(Stream::Stderr, part, at(i as i64)).unwrap();
        }
        let mut all = vec![];
        for (name, text) in in_order(&files(dir.path()), "0.log") {
            assert!(text.len() <= 400, "{name}: {} bytes", text.len());
            all.extend(contents(&text));
        }
        assert_eq!(all, written);
    }

    #[test]
    fn rotations_within_a_second_are_deferred_not_clobbering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = Writer::open(&path).unwrap().rotate_at(Rotation { max_size: 100, max_files: 10 });
        for i in 0..6 {
            w.write(Stream::Stdout, format!("same second {i}\n").as_bytes(), at(0)).unwrap();
        }
        // one rotation at second 0; then the file grows past the limit rather than replace the rotated file
        let got = files(dir.path());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1].0, "0.log.20240102-030405");
        assert!(got[0].1.len() > 100);
        w.write(Stream::Stdout, b"next second\n", at(1)).unwrap();
        let got = files(dir.path());
        let all: Vec<String> = in_order(&got, "0.log").iter().flat_map(|(_, t)| contents(t)).collect();
        assert_eq!(all.len(), 7, "{got:?}");
        assert_eq!(got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()[2], "0.log.20240102-030406");
        assert_eq!(contents(&got[0].1), ["next second"]);
    }

    #[test]
    fn compression_waits_for_steps_and_a_record_larger_than_max_size_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = Writer::open(&path).unwrap().rotate_at(Rotation { max_size: 64, max_files: 5 });
        let big = "B".repeat(100);
        for i in 0..3 {
            w.write(Stream::Stdout, format!("{big}\n").as_bytes(), at(i)).unwrap();
        }
        // rotations at seconds 1 and 2: the older rotated file is queued, not yet compressed
        assert!(w.compressing());
        let names = |d: &Path| files(d).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(dir.path()), ["0.log", "0.log.20240102-030406", "0.log.20240102-030407"]);
        while w.compress_step() {}
        assert!(!w.compressing());
        assert_eq!(names(dir.path()), ["0.log", "0.log.20240102-030406.gz", "0.log.20240102-030407"]);
        for (_, text) in files(dir.path()) {
            assert_eq!(contents(&text), std::slice::from_ref(&big));
        }
        // max_size 0: never rotated
        let other = dir.path().join("1.log");
        let mut w = Writer::open(&other).unwrap().rotate_at(Rotation { max_size: 0, max_files: 5 });
        for i in 0..3 {
            w.write(Stream::Stdout, format!("{big}\n").as_bytes(), at(i)).unwrap();
        }
        assert_eq!(contents(&std::fs::read_to_string(&other).unwrap()).len(), 3);
        assert_eq!(names(dir.path()).len(), 4);
    }
}
