use super::*;

const T0: &str = "2024-05-01T10:00:00.000000000Z";
const T1: &str = "2024-05-01T10:00:01.500000000Z";
const T2: &str = "2024-05-01T10:00:02.000000000Z";

/// A log file of `records`, each `(time, stream, tag, content)`.
fn file(records: &[(&str, &str, &str, &str)]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for (t, s, tag, c) in records {
        writeln!(f, "{t} {s} {tag} {c}").unwrap();
    }
    f
}

fn run(path: &Path, from: u64, opts: &ReadOptions) -> (String, Rendered) {
    let mut out = Vec::new();
    let r = render(path, from, opts, &mut out).unwrap();
    assert_eq!(r.bytes, out.len());
    (String::from_utf8(out).unwrap(), r)
}

fn all(path: &Path, opts: &ReadOptions) -> String {
    run(path, 0, opts).0
}

fn opts() -> ReadOptions {
    ReadOptions::default()
}

#[test]
fn renders_lines_and_joins_pieces_per_stream() {
    let f = file(&[
        (T0, "stdout", "F", "one"),
        (T0, "stdout", "P", "tw"),
        (T0, "stderr", "F", "err"),
        (T1, "stdout", "P", "o "),
        (T1, "stdout", "F", "joined"),
        (T2, "stderr", "F", ""),
    ]);
    assert_eq!(all(f.path(), &opts()), "one\nerr\ntwo joined\n\n");
}

#[test]
fn stream_filter() {
    let f = file(&[(T0, "stdout", "F", "out"), (T0, "stderr", "P", "e"), (T0, "stderr", "F", "rr")]);
    assert_eq!(all(f.path(), &ReadOptions { stream: Some(Stream::Stdout), ..opts() }), "out\n");
    assert_eq!(all(f.path(), &ReadOptions { stream: Some(Stream::Stderr), ..opts() }), "err\n");
}

#[test]
fn timestamps_prefix_the_first_piece_time_as_kubelet_does() {
    let f = file(&[(T0, "stdout", "F", "a"), (T1, "stdout", "P", "b"), (T2, "stdout", "F", "c")]);
    assert_eq!(
        all(f.path(), &ReadOptions { timestamps: true, ..opts() }),
        "2024-05-01T10:00:00Z a\n2024-05-01T10:00:01.5Z bc\n"
    );
}

#[test]
fn since_keeps_lines_at_or_after_the_time() {
    let f = file(&[(T0, "stdout", "F", "a"), (T1, "stdout", "F", "b"), (T2, "stderr", "F", "c")]);
    let since = |s: &str| ReadOptions { since: Some(s.parse().unwrap()), ..opts() };
    assert_eq!(all(f.path(), &since(T1)), "b\nc\n");
    assert_eq!(all(f.path(), &since("2024-05-01T10:00:01.6Z")), "c\n");
    assert_eq!(all(f.path(), &since("2030-01-01T00:00:00Z")), "");
}

#[test]
fn tail_counts_joined_lines() {
    let f = file(&[
        (T0, "stdout", "F", "1"),
        (T0, "stdout", "P", "2a"),
        (T0, "stderr", "F", "3"),
        (T0, "stdout", "P", "2b"),
        (T0, "stdout", "F", "2c"),
        (T0, "stderr", "F", "4"),
    ]);
    let tail = |n| all(f.path(), &ReadOptions { tail: Some(n), ..opts() });
    assert_eq!(tail(0), "");
    assert_eq!(tail(1), "4\n");
    assert_eq!(tail(2), "2a2b2c\n4\n");
    assert_eq!(tail(3), "3\n2a2b2c\n4\n");
    assert_eq!(tail(4), "1\n3\n2a2b2c\n4\n");
    assert_eq!(tail(100), "1\n3\n2a2b2c\n4\n");
    let stdout_tail = ReadOptions { tail: Some(1), stream: Some(Stream::Stdout), ..opts() };
    assert_eq!(all(f.path(), &stdout_tail), "2a2b2c\n");
}

#[test]
fn tail_with_timestamps_and_since() {
    let f = file(&[(T0, "stdout", "F", "a"), (T1, "stdout", "F", "b"), (T2, "stdout", "F", "c")]);
    let o = ReadOptions { tail: Some(2), since: Some(T2.parse().unwrap()), timestamps: true, ..opts() };
    assert_eq!(all(f.path(), &o), "2024-05-01T10:00:02Z c\n");
}

/// A deterministic file of interleaved streams with pieces, longer than one backwards-read block.
fn big_file() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let mut seed: u64 = 0x2545F4914F6CDD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut open = [false, false];
    for i in 0..6000 {
        let r = next();
        let s = (r % 2) as usize;
        let partial = r % 5 == 0 || (open[s] && r % 3 == 0);
        open[s] = partial;
        let stream = ["stdout", "stderr"][s];
        let tag = if partial { "P" } else { "F" };
        writeln!(f, "{T0} {stream} {tag} record {i} {}", "x".repeat((r % 40) as usize)).unwrap();
    }
    f
}

#[test]
fn tail_reading_backwards_equals_the_end_of_a_full_render() {
    let f = big_file();
    assert!(f.as_file().metadata().unwrap().len() > 2 * BLOCK);
    for stream in [None, Some(Stream::Stdout), Some(Stream::Stderr)] {
        let full = all(f.path(), &ReadOptions { stream, ..opts() });
        let lines: Vec<&str> = full.split_inclusive('\n').collect();
        for n in [0, 1, 2, 3, 7, 100, 1500, 2500, 10_000] {
            let want: String = lines[lines.len().saturating_sub(n)..].concat();
            let got = all(f.path(), &ReadOptions { tail: Some(n), stream, ..opts() });
            assert_eq!(got, want, "tail {n} of {stream:?}");
            if n <= 100 {
                let start = tail_start(&mut File::open(f.path()).unwrap(), 0, n, stream).unwrap();
                assert!(start > 2 * BLOCK, "tail {n} read only the end of the file (from {start})");
            }
        }
    }
}

#[test]
fn limit_bytes_cuts_the_output() {
    let f = file(&[(T0, "stdout", "F", "hello"), (T0, "stdout", "F", "world")]);
    let (out, r) = run(f.path(), 0, &ReadOptions { limit_bytes: Some(8), ..opts() });
    assert_eq!(out, "hello\nwo");
    assert!(r.limit_reached);
    let (out, r) = run(f.path(), 0, &ReadOptions { limit_bytes: Some(100), ..opts() });
    assert_eq!(out, "hello\nworld\n");
    assert!(!r.limit_reached);
    let (out, r) = run(f.path(), 0, &ReadOptions { limit_bytes: Some(6), tail: Some(1), ..opts() });
    assert_eq!((out.as_str(), r.limit_reached), ("world\n", true));
}

#[test]
fn records_that_do_not_parse_are_skipped() {
    let f = file(&[(T0, "stdout", "F", "a"), ("garbage", "stdout", "F", "b"), (T0, "stdin", "F", "c")]);
    assert_eq!(all(f.path(), &opts()), "a\n");
}

#[test]
fn an_incomplete_last_record_is_not_consumed() {
    let mut f = file(&[(T0, "stdout", "F", "a")]);
    let len = f.as_file().metadata().unwrap().len();
    write!(f, "{T1} stdout F b").unwrap();
    let (out, r) = run(f.path(), 0, &opts());
    assert_eq!((out.as_str(), r.offset), ("a\n", len));
    assert_eq!(all(f.path(), &ReadOptions { tail: Some(5), ..opts() }), "a\n");
    writeln!(f).unwrap();
    let (out, _) = run(f.path(), r.offset, &opts());
    assert_eq!(out, "b\n");
}

#[test]
fn a_follower_sees_every_line_once_even_across_pieces() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let mut offset = 0;
    let mut seen = String::new();
    let mut follow = |f: &tempfile::NamedTempFile| {
        let (out, r) = run(f.path(), offset, &opts());
        offset = r.offset;
        seen.push_str(&out);
        out
    };
    writeln!(f, "{T0} stdout F one").unwrap();
    writeln!(f, "{T0} stdout P tw").unwrap();
    writeln!(f, "{T0} stderr F err").unwrap();
    // "err" is held back: the stdout line began before it and is not finished
    assert_eq!(follow(&f), "one\n");
    assert_eq!(follow(&f), "");
    writeln!(f, "{T0} stdout F o").unwrap();
    assert_eq!(follow(&f), "err\ntwo\n");
    assert_eq!(follow(&f), "");
    assert_eq!(seen, "one\nerr\ntwo\n");
    let len = f.as_file().metadata().unwrap().len();
    assert_eq!(offset, len);
}

#[test]
fn tail_then_follow_from_the_returned_offset() {
    let mut f = file(&[(T0, "stdout", "F", "a"), (T0, "stdout", "F", "b")]);
    let (out, r) = run(f.path(), 0, &ReadOptions { tail: Some(1), ..opts() });
    assert_eq!(out, "b\n");
    writeln!(f, "{T1} stdout F c").unwrap();
    assert_eq!(run(f.path(), r.offset, &ReadOptions { tail: Some(1), ..opts() }).0, "c\n");
    assert_eq!(run(f.path(), r.offset, &opts()).0, "c\n");
}

#[test]
fn from_past_the_end_renders_nothing() {
    let f = file(&[(T0, "stdout", "F", "a")]);
    let (out, r) = run(f.path(), 1000, &opts());
    assert_eq!((out.as_str(), r.offset), ("", 1000));
    let (out, _) = run(f.path(), 1000, &ReadOptions { tail: Some(3), ..opts() });
    assert_eq!(out, "");
}

#[test]
fn a_missing_file_is_a_not_found_error() {
    let err = render(Path::new("/nonexistent/skiff.log"), 0, &opts(), &mut Vec::new()).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("/nonexistent/skiff.log"), "{err}");
}

#[test]
fn what_the_writer_writes_renders_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    let mut w = crate::log::Writer::open(&path).unwrap();
    let now = Utc::now();
    let long = "L".repeat(crate::log::MAX_PIECE * 2 + 10);
    w.write(Stream::Stdout, format!("short\n{long}\npart").as_bytes(), now).unwrap();
    w.write(Stream::Stderr, b"oops\n", now).unwrap();
    w.finish(Stream::Stdout, now).unwrap();
    assert_eq!(all(&path, &opts()), format!("short\n{long}\noops\npart\n"));
    assert_eq!(all(&path, &ReadOptions { tail: Some(3), ..opts() }), format!("{long}\noops\npart\n"));
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_164_645 + secs, 0).unwrap()
}

fn follow(path: &Path, cursor: &mut Cursor, out: &mut String) {
    let mut buf = Vec::new();
    let r = render_from(path, *cursor, &opts(), &mut buf).unwrap();
    assert_eq!(r.bytes, buf.len());
    *cursor = r.cursor();
    out.push_str(std::str::from_utf8(&buf).unwrap());
}

#[test]
fn a_follower_goes_on_across_rotations_without_losing_or_repeating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    let rotation = crate::log::Rotation { max_size: 300, max_files: 3 };
    let mut w = crate::log::Writer::open(&path).unwrap().rotate_at(rotation);
    let (mut cursor, mut got, mut want) = (Cursor::default(), String::new(), String::new());
    for i in 0..60 {
        let chunk = format!("line {i}a\nline {i}b\n");
        w.write(Stream::Stdout, chunk.as_bytes(), at(i)).unwrap();
        want.push_str(&chunk);
        while w.compress_step() {}
        // every other write: the follower is sometimes a rotation behind (not two: that file is compressed)
        if i % 2 == 1 {
            follow(&path, &mut cursor, &mut got);
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    assert_eq!(got, want);
    // the cursor is at the end of the current file: nothing more, nothing again
    follow(&path, &mut cursor, &mut got);
    assert_eq!(got, want);
    assert_eq!(cursor.offset, std::fs::metadata(&path).unwrap().len());
}

#[test]
fn a_line_whose_pieces_straddle_a_rotation_is_joined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    let rotation = crate::log::Rotation { max_size: 17_000, max_files: 5 };
    let mut w = crate::log::Writer::open(&path).unwrap().rotate_at(rotation);
    let long = "L".repeat(crate::log::MAX_PIECE + 3000);
    let (mut cursor, mut got) = (Cursor::default(), String::new());
    // one P piece of stdout, and a stderr line finished while stdout is mid-line
    w.write(Stream::Stdout, &long.as_bytes()[..crate::log::MAX_PIECE + 1000], at(0)).unwrap();
    w.write(Stream::Stderr, b"err\n", at(0)).unwrap();
    follow(&path, &mut cursor, &mut got);
    assert_eq!(got, "", "held until the stdout line is whole");
    // the F piece does not fit: a new file
    w.write(Stream::Stdout, format!("{}\nafter\n", &long[crate::log::MAX_PIECE + 1000..]).as_bytes(), at(1)).unwrap();
    assert!(dir.path().join("c.log.20240102-030406").exists());
    follow(&path, &mut cursor, &mut got);
    assert_eq!(got, format!("err\n{long}\nafter\n"));
    follow(&path, &mut cursor, &mut got);
    assert_eq!(got, format!("err\n{long}\nafter\n"));
}

#[test]
fn a_follower_whose_file_is_gone_starts_at_the_oldest_readable_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    let rotated = dir.path().join("c.log.20240102-030405");
    std::fs::write(&rotated, format!("{T0} stdout F r1\n{T0} stdout F r2\n")).unwrap();
    std::fs::write(dir.path().join("c.log.20240102-030404.gz"), "not read").unwrap();
    std::fs::write(&path, format!("{T1} stdout F c1\n")).unwrap();
    // in the rotated file, after r1: the rest of it, then the current file
    let id = FileId::of(&File::open(&rotated).unwrap()).unwrap();
    let r1_len = format!("{T0} stdout F r1\n").len() as u64;
    let mut got = String::new();
    follow(&path, &mut Cursor { offset: r1_len, file: Some(id) }, &mut got);
    assert_eq!(got, "r2\nc1\n");
    // in a file that is no longer there (compressed): every uncompressed file from its start
    let mut got = String::new();
    let mut cursor = Cursor { offset: 7, file: Some(FileId { dev: u64::MAX, ino: u64::MAX }) };
    follow(&path, &mut cursor, &mut got);
    assert_eq!(got, "r1\nr2\nc1\n");
    assert_eq!(cursor.file, Some(FileId::of(&File::open(&path).unwrap()).unwrap()));
}
