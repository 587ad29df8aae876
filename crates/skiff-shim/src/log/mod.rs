//! The CRI container log format: what the shim writes ([`Writer`]) and what `kubectl logs` is served from
//! ([`render`]).
//!
//! One record per line: `<time> <stream> <tag> <content>\n`, where `time` is RFC 3339 with nine fractional
//! digits in UTC, `stream` is `stdout` or `stderr`, and `tag` is `F` (the content is a whole line, its newline
//! removed) or `P` (a piece of a longer line, continued by the next records of the same stream up to an `F`).
//! It is the format of containerd and CRI-O, which kubelet reads; keeping it lets the same tools read our logs.
//! Streams interleave freely, so a reader joins pieces per stream.
//!
//! The writer rotates the file by size as the kubelet does ([`Rotation`]); readers read the current file only,
//! and a follower ([`render_from`] with the [`Cursor`] of its previous call) goes on across a rotation.

mod read;
mod rotate;
mod write;

use chrono::{DateTime, Utc};

pub use read::{render, render_from, Cursor, FileId, ReadOptions, Rendered};
pub use rotate::{rotated_path, Rotation, DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE};
pub use write::{LineBuffer, Writer, MAX_PIECE};

/// Which standard stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn parse(s: &[u8]) -> Option<Stream> {
        match s {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One record of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub time: DateTime<Utc>,
    pub stream: Stream,
    /// A `P` record: a piece of a line, continued by the next record of the same stream.
    pub partial: bool,
    /// Without the record's newline.
    pub content: &'a [u8],
}

/// Parses one record (with or without its trailing newline); `None` if it is not one.
///
/// Times are accepted with any number of fractional digits (Go's `RFC3339Nano` drops trailing zeros) and any
/// offset. As kubelet does, a tag is a `:`-separated list whose first element `P` marks a piece; anything else
/// is a full line.
pub fn parse_line(line: &[u8]) -> Option<LogLine<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = fields.next()?;
    let stream = Stream::parse(fields.next()?)?;
    let tag = fields.next()?;
    let content = fields.next().unwrap_or_default();
    let time = DateTime::parse_from_rfc3339(std::str::from_utf8(time).ok()?).ok()?.with_timezone(&Utc);
    let partial = tag.split(|&b| b == b':').next() == Some(b"P");
    Some(LogLine { time, stream, partial, content })
}

/// RFC 3339 with nine fractional digits, UTC: the time field the shim writes (`2016-10-06T00:17:09.669794202Z`),
/// and the form of `started_at`/`finished_at`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// Go's `time.RFC3339Nano` in UTC (trailing fractional zeros dropped): the prefix kubelet writes for
/// `kubectl logs --timestamps`.
pub fn format_time_go(t: DateTime<Utc>) -> String {
    let s = format_time(t);
    let Some((head, frac)) = s.trim_end_matches('Z').split_once('.') else { return s };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{head}Z")
    } else {
        format!("{head}.{frac}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses_full_and_partial_records() {
        let l = parse_line(b"2016-10-06T00:17:09.669794202Z stdout F hello world\n").unwrap();
        assert_eq!(l.time, t("2016-10-06T00:17:09.669794202Z"));
        assert_eq!((l.stream, l.partial, l.content), (Stream::Stdout, false, &b"hello world"[..]));
        let l = parse_line(b"2016-10-06T00:17:09.669794202Z stderr P  two  spaces ").unwrap();
        assert_eq!((l.stream, l.partial, l.content), (Stream::Stderr, true, &b" two  spaces "[..]));
    }

    #[test]
    fn accepts_times_without_trailing_zeros_and_with_offsets() {
        for (s, want) in [
            ("2016-10-06T00:17:09.6697942Z", "2016-10-06T00:17:09.669794200Z"),
            ("2016-10-06T00:17:09Z", "2016-10-06T00:17:09.000000000Z"),
            ("2016-10-06T02:17:09.5+02:00", "2016-10-06T00:17:09.500000000Z"),
        ] {
            let line = format!("{s} stdout F x");
            let l = parse_line(line.as_bytes()).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(format_time(l.time), want);
        }
    }

    #[test]
    fn empty_content_and_extra_tags() {
        let l = parse_line(b"2016-10-06T00:17:09Z stdout F ").unwrap();
        assert_eq!(l.content, b"");
        let l = parse_line(b"2016-10-06T00:17:09Z stdout F").unwrap();
        assert_eq!(l.content, b"");
        let l = parse_line(b"2016-10-06T00:17:09Z stdout P:x y").unwrap();
        assert!(l.partial);
        assert_eq!(l.content, b"y");
    }

    #[test]
    fn rejects_what_is_not_a_record() {
        for bad in [
            &b""[..],
            b"hello",
            b"2016-10-06T00:17:09Z stdin F x",
            b"yesterday stdout F x",
            b"2016-10-06 00:17:09 stdout F x",
            b"\xff\xfe stdout F x",
        ] {
            assert_eq!(parse_line(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn content_may_be_any_bytes() {
        let l = parse_line(b"2016-10-06T00:17:09Z stdout F \xff\x00\r").unwrap();
        assert_eq!(l.content, b"\xff\x00\r");
    }

    #[test]
    fn time_formats() {
        let at = Utc.with_ymd_and_hms(2016, 10, 6, 0, 17, 9).unwrap();
        assert_eq!(format_time(at), "2016-10-06T00:17:09.000000000Z");
        assert_eq!(format_time_go(at), "2016-10-06T00:17:09Z");
        let at = at + chrono::Duration::nanoseconds(669_794_200);
        assert_eq!(format_time(at), "2016-10-06T00:17:09.669794200Z");
        assert_eq!(format_time_go(at), "2016-10-06T00:17:09.6697942Z");
    }
}
