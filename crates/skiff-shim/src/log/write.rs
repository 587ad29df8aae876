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

/// A CRI log file being appended to, with one [`LineBuffer`] per stream.
///
/// Each chunk's records are written with one `write` (`O_APPEND`), all stamped with the time the chunk was
/// read. A failed write loses that chunk's records but not the buffers: the caller logs it and carries on.
#[derive(Debug)]
pub struct Writer {
    file: File,
    path: PathBuf,
    buffers: [LineBuffer; 2],
    out: Vec<u8>,
}

impl Writer {
    /// Opens (creating with mode 0640) `path` for appending.
    pub fn open(path: &Path) -> Result<Writer, ShimError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(ShimError::io("open", path))?;
        Ok(Writer { file, path: path.into(), buffers: Default::default(), out: Vec::new() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a chunk of `stream`'s output read at `time`.
    pub fn write(&mut self, stream: Stream, data: &[u8], time: DateTime<Utc>) -> Result<(), ShimError> {
        let ts = format_time(time);
        let out = &mut self.out;
        self.buffers[stream.index()].push(data, &mut |partial, content| encode(out, &ts, stream, partial, content));
        self.flush()
    }

    /// `stream` ended: records what is left of its last line.
    pub fn finish(&mut self, stream: Stream, time: DateTime<Utc>) -> Result<(), ShimError> {
        let ts = format_time(time);
        let out = &mut self.out;
        self.buffers[stream.index()].finish(&mut |partial, content| encode(out, &ts, stream, partial, content));
        self.flush()
    }

    fn flush(&mut self) -> Result<(), ShimError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.file.write_all(&self.out).map_err(ShimError::io("write", &self.path));
        self.out.clear();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::parse_line;

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
}
