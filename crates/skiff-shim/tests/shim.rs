//! Integration tests: real shims running real busybox containers (as root; skipped otherwise).
//!
//! A plain `main` (harness = false) because the same binary plays four parts: the test runner; the shim
//! (`<this binary> shim --bundle DIR`, which `skiff_shim::spawn` runs, exactly as it runs `skiff shim`); `shim
//! exec` (`<this binary> shim exec --bundle DIR --timeout SECS -- ARGV…`, run by `skiff_shim::exec`); and a
//! short-lived "agent" (`SKIFF_SHIM_TEST_SPAWNER=DIR`) that spawns a shim and is then killed, to show that the
//! shim outlives it. `cargo test -p skiff-shim --test shim -- NAME` runs the tests whose name contains NAME.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use skiff_runtime::{ContainerConfig, RootfsSpec};
use skiff_shim::log::{parse_line, Stream};
use skiff_shim::{ExitRecord, ShimConfig, StartReport};

const CGROUP_PARENT: &str = "skiff-shim-test";
const SPAWNER_ENV: &str = "SKIFF_SHIM_TEST_SPAWNER";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The unpacked busybox-1.36 test image (unpacked once, then shared read-only as an overlay lowerdir).
fn busybox_rootfs() -> PathBuf {
    let ws = workspace();
    let dir = ws.join("target/skiff-shim-test/busybox-rootfs");
    if dir.join("bin/busybox").exists() {
        return dir;
    }
    if !ws.join("target/test-images/oci/busybox-1.36").exists() {
        let st = Command::new("bash").arg("tests/images/build.sh").current_dir(&ws).status().expect("run build.sh");
        assert!(st.success(), "tests/images/build.sh failed");
    }
    let tmp = ws.join(format!("target/skiff-shim-test/busybox-rootfs.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let st = Command::new("python3")
        .args(["tests/images/mkimage.py", "unpack", "target/test-images/oci/busybox-1.36"])
        .arg(&tmp)
        .current_dir(&ws)
        .status()
        .expect("run mkimage.py");
    assert!(st.success(), "mkimage.py unpack failed");
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp); // another run won the race
    }
    dir
}

/// The OCI defaults for `args`, minus the cgroup namespace and `/sys/fs/cgroup` mount, with a writable root.
fn spec(args: &[&str]) -> Spec {
    let mut spec = Spec::default();
    let mut process = spec.process().clone().expect("default process");
    process.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
    spec.set_process(Some(process));
    let mut root = spec.root().clone().expect("default root");
    root.set_readonly(Some(false));
    spec.set_root(Some(root));
    let mounts = spec.mounts().clone().unwrap_or_default();
    spec.set_mounts(Some(mounts.into_iter().filter(|m| m.destination() != Path::new("/sys/fs/cgroup")).collect()));
    let mut linux = spec.linux().clone().expect("default linux");
    let ns = linux.namespaces().clone().unwrap_or_default();
    linux.set_namespaces(Some(ns.into_iter().filter(|n| n.typ() != LinuxNamespaceType::Cgroup).collect()));
    spec.set_linux(Some(linux));
    spec
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One test's container: a bundle, state dir and overlay dirs in a temp dir. Dropping it destroys the
/// container (as the agent would, after reading the exit and the logs) and removes the dir.
struct Fixture {
    id: String,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A fixture whose bundle holds the config for `args`.
    fn new(name: &str, args: &[&str]) -> Fixture {
        let id = format!("{name}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
        let dir = tempfile::Builder::new().prefix("skiff-shim-").tempdir().expect("tempdir");
        let f = Fixture { id, dir };
        std::fs::create_dir(f.bundle()).expect("mkdir bundle");
        let container = ContainerConfig {
            id: f.id.clone(),
            spec: spec(args),
            rootfs: RootfsSpec::Overlay {
                lower: vec![busybox_rootfs()],
                upper: f.dir.path().join("upper"),
                work: f.dir.path().join("work"),
                target: f.dir.path().join("rootfs"),
                volatile: true,
            },
            state_dir: f.state_dir(),
            cgroup_parent: CGROUP_PARENT.into(),
            stdio: skiff_runtime::Stdio::null(),
        };
        skiff_shim::write_config(&f.bundle(), &ShimConfig::new(container, f.log_path())).expect("config");
        f
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("container.log")
    }

    fn spawn(&self) -> StartReport {
        skiff_shim::spawn(&std::env::current_exe().expect("current_exe"), &self.bundle()).expect("spawn shim")
    }

    fn shim_log(&self) -> String {
        std::fs::read_to_string(self.bundle().join(skiff_shim::SHIM_LOG_FILE)).unwrap_or_default()
    }

    /// The exit record, once written (panics after `secs`).
    fn exit(&self, secs: u64) -> ExitRecord {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = skiff_shim::read_exit(&self.bundle()).expect("read exit") {
                return e;
            }
            assert!(Instant::now() < deadline, "no exit.json after {secs} s; shim.log: {}", self.shim_log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log's records as (stream, tag, content).
    fn records(&self) -> Vec<(Stream, char, String)> {
        let data = std::fs::read(self.log_path()).expect("read container log");
        data.split_inclusive(|&b| b == b'\n')
            .map(|l| {
                let r = parse_line(l).unwrap_or_else(|| panic!("bad record {:?}", String::from_utf8_lossy(l)));
                let time = l.split(|&b| b == b' ').next().unwrap_or_default();
                assert_eq!(time.len(), 30, "RFC3339 with 9 digits: {}", String::from_utf8_lossy(time));
                (r.stream, if r.partial { 'P' } else { 'F' }, String::from_utf8_lossy(r.content).into_owned())
            })
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Err(e) = skiff_runtime::destroy_by_id(&self.state_dir(), &self.id) {
            eprintln!("fixture {}: destroy: {e}", self.id);
        }
    }
}

fn started(r: StartReport) -> (i32, String) {
    match r {
        StartReport::Started { pid, started_at } => (pid, started_at),
        StartReport::Failed { error } => panic!("container did not start: {error}"),
    }
}

fn out(s: &str) -> (Stream, char, String) {
    (Stream::Stdout, 'F', s.into())
}

fn err(s: &str) -> (Stream, char, String) {
    (Stream::Stderr, 'F', s.into())
}

fn logs_started_and_exit_are_recorded() {
    let script = "echo out1; echo err1 >&2; head -c 20000 /dev/zero | tr '\\0' a; echo; echo out2; \
                  printf 'no newline'; exit 3";
    let f = Fixture::new("logs", &["sh", "-c", script]);
    let (pid, started_at) = started(f.spawn());
    let rec = skiff_shim::read_started(&f.bundle()).expect("read started").expect("started.json");
    assert_eq!((rec.pid, rec.started_at.as_str()), (pid, started_at.as_str()));
    assert_eq!(started_at.len(), 30, "{started_at}");
    let exit = f.exit(10);
    assert_eq!((exit.code, exit.signal.as_deref(), exit.oom_killed), (3, None, false), "{exit:?}");
    assert_eq!(exit.started_at, started_at);
    assert!(exit.finished_at >= exit.started_at, "{exit:?}");
    let records = f.records();
    let stdout: Vec<_> = records.iter().filter(|r| r.0 == Stream::Stdout).cloned().collect();
    let long = "a".repeat(20000);
    assert_eq!(
        stdout,
        vec![
            out("out1"),
            (Stream::Stdout, 'P', long[..16384].into()),
            out(&long[16384..]),
            out("out2"),
            out("no newline")
        ]
    );
    assert_eq!(records.iter().filter(|r| r.0 == Stream::Stderr).cloned().collect::<Vec<_>>(), vec![err("err1")]);
}

fn exec_failure_is_reported() {
    let f = Fixture::new("missing", &["nope-not-here"]);
    match f.spawn() {
        StartReport::Failed { error } => assert!(error.contains("executable file not found"), "{error}"),
        r => panic!("expected Failed, got {r:?}"),
    }
    assert_eq!(skiff_shim::read_started(&f.bundle()).expect("read started"), None);
    assert_eq!(skiff_shim::read_exit(&f.bundle()).expect("read exit"), None);
    assert!(!f.state_dir().join(&f.id).exists(), "the runtime left a state record");
}

fn a_killed_container_records_the_signal() {
    let f = Fixture::new("killed", &["sleep", "30"]);
    let (pid, _) = started(f.spawn());
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill container");
    let exit = f.exit(10);
    assert_eq!((exit.code, exit.signal.as_deref()), (137, Some("SIGKILL")), "{exit:?}");
}

/// The shim's parent pid of `pid`.
fn ppid(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok()).expect("ppid")
}

fn the_shim_outlives_its_spawner_and_signals() {
    let script = "echo before; grep SigIgn /proc/self/status; sleep 1; echo after; exit 7";
    let f = Fixture::new("orphan", &["sh", "-c", script]);
    let mut spawner = Command::new(std::env::current_exe().expect("current_exe"))
        .env(SPAWNER_ENV, f.bundle())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn spawner");
    let mut line = String::new();
    BufReader::new(spawner.stdout.take().expect("stdout")).read_line(&mut line).expect("read spawner");
    let report: StartReport = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let (pid, _) = started(report);
    let shim = ppid(pid);
    spawner.kill().expect("kill spawner");
    spawner.wait().expect("wait spawner");
    std::thread::sleep(Duration::from_millis(100));
    assert!(kill(Pid::from_raw(pid), None).is_ok(), "the container died with its spawner: {}", f.shim_log());
    // what a dying agent and its terminal might send the shim (not its group: the container's init shares it)
    for sig in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT, Signal::SIGPIPE] {
        kill(Pid::from_raw(shim), sig).expect("signal the shim");
    }
    std::thread::sleep(Duration::from_millis(100));
    let alive = kill(Pid::from_raw(pid), None).is_ok() && kill(Pid::from_raw(shim), None).is_ok();
    assert!(
        alive,
        "signals to the shim's group ended it: {:?} {}",
        std::fs::read_to_string(f.log_path()),
        f.shim_log()
    );
    let exit = f.exit(15);
    assert_eq!(exit.code, 7, "{exit:?}; shim.log: {}", f.shim_log());
    let records = f.records();
    assert!(records.contains(&out("before")) && records.contains(&out("after")), "{records:?}");
    let ignored = records.iter().find_map(|r| r.2.strip_prefix("SigIgn:\t")).expect("SigIgn line");
    let ignored = u64::from_str_radix(ignored, 16).expect("SigIgn mask");
    let shim_handled = [Signal::SIGHUP, Signal::SIGINT, Signal::SIGPIPE, Signal::SIGTERM];
    for sig in shim_handled {
        assert_eq!(ignored & (1 << (sig as u64 - 1)), 0, "the container inherited an ignored {sig}: {ignored:x}");
    }
}

/// The spawner's side: spawn a shim, print its report, then wait to be killed.
fn spawner_main(bundle: &str) -> i32 {
    let exe = std::env::current_exe().expect("current_exe");
    let line = match skiff_shim::spawn(&exe, Path::new(bundle)) {
        Ok(r) => serde_json::to_string(&r).expect("report json"),
        Err(e) => serde_json::to_string(&StartReport::Failed { error: e.to_string() }).expect("report json"),
    };
    println!("{line}");
    let mut l = String::new();
    let _ = std::io::stdin().read_line(&mut l);
    0
}

fn exe() -> PathBuf {
    std::env::current_exe().expect("current_exe")
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn exec_returns_output_and_exit_code() {
    let f = Fixture::new("exec", &["sleep", "1000"]);
    started(f.spawn());
    let script = "echo out; echo err >&2; echo pid=$$; head -c 50000 /dev/zero; exit 3";
    let o = skiff_shim::exec(&exe(), &f.bundle(), &args(&["sh", "-c", script]), Duration::from_secs(10)).expect("exec");
    assert_eq!((o.code, o.timed_out), (3, false), "{o:?}");
    assert!(o.stdout.starts_with(b"out\npid=2\n"), "{:?}", String::from_utf8_lossy(&o.stdout[..20]));
    assert_eq!(o.stdout.len(), skiff_shim::MAX_OUTPUT, "output is capped");
    assert_eq!(o.stderr, b"err\n");
    // the command's failure to start is its result, as in a shell
    let o = skiff_shim::exec(&exe(), &f.bundle(), &args(&["nope-not-here"]), Duration::from_secs(10)).expect("exec");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!((o.code, stderr.trim()), (127, "exec: \"nope-not-here\": executable file not found in $PATH"));
    // what the command leaves in the background does not hold the caller
    let start = Instant::now();
    let bg = args(&["sh", "-c", "sleep 30 & echo bg"]);
    let o = skiff_shim::exec(&exe(), &f.bundle(), &bg, Duration::from_secs(10)).expect("exec");
    assert_eq!((o.code, o.stdout.as_slice()), (0, b"bg\n".as_slice()), "{o:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "waited for the background sleep: {:?}", start.elapsed());
}

fn exec_timeout_kills_the_command() {
    let f = Fixture::new("exec-timeout", &["sleep", "1000"]);
    let (pid, _) = started(f.spawn());
    let start = Instant::now();
    let cmd = args(&["sh", "-c", "echo started; sleep 100 & sleep 100"]);
    let o = skiff_shim::exec(&exe(), &f.bundle(), &cmd, Duration::from_secs(1)).expect("exec");
    let took = start.elapsed();
    assert!(o.timed_out && o.code == skiff_shim::EXIT_TIMED_OUT, "{o:?}");
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(4), "{took:?}");
    assert_eq!(o.stdout, b"started\n");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("skiff shim exec: timed out after 1s: killed"), "{stderr}");
    let c = skiff_runtime::Container::load(&f.state_dir(), &f.id).expect("load").expect("container");
    let deadline = Instant::now() + Duration::from_secs(2);
    while c.cgroup().pids().expect("pids") != vec![pid] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.cgroup().pids().expect("pids"), vec![pid], "the command's processes survived the timeout");
}

fn exec_into_a_stopped_container_is_an_error() {
    let f = Fixture::new("exec-stopped", &["true"]);
    started(f.spawn());
    assert_eq!(f.exit(10).code, 0);
    match skiff_shim::exec(&exe(), &f.bundle(), &args(&["true"]), Duration::from_secs(10)) {
        Err(e @ skiff_shim::ShimError::Exec { .. }) => {
            assert!(e.to_string().ends_with(&format!("container {} is not running", f.id)), "{e}")
        }
        r => panic!("expected an exec error, got {r:?}"),
    }
    let missing = f.dir.path().join("no-bundle");
    let err = skiff_shim::exec(&exe(), &missing, &args(&["true"]), Duration::from_secs(10)).expect_err("no bundle");
    assert!(err.to_string().contains("config.json"), "{err}");
}

/// `<this binary> shim exec --bundle DIR [--timeout SECS] -- ARGV…`, as the skiff binary parses it.
fn shim_exec_args(args: &[String]) -> Option<(PathBuf, Option<Duration>, Vec<String>)> {
    let rest = args.get(1..)?.strip_prefix(&["shim".to_string(), "exec".to_string()])?;
    let dash = rest.iter().position(|a| a == "--")?;
    let (mut bundle, mut timeout) = (None, None);
    for pair in rest[..dash].chunks(2) {
        match pair {
            [k, v] if k == "--bundle" => bundle = Some(PathBuf::from(v)),
            [k, v] if k == "--timeout" => timeout = v.parse().ok().map(Duration::from_secs_f64),
            _ => return None,
        }
    }
    Some((bundle?, timeout, rest[dash + 1..].to_vec()))
}

fn the_log_is_rotated_compressed_and_pruned() {
    // four bursts of 40 lines (~1.8 KB of records each), a second apart (rotations are at most one per second)
    let script = "for b in 1 2 3 4; do i=0; while [ $i -lt 40 ]; do echo $b-$i; i=$((i+1)); done; \
                  [ $b = 4 ] || sleep 1; done";
    let f = Fixture::new("rotate", &["sh", "-c", script]);
    let mut cfg = skiff_shim::read_config(&f.bundle()).expect("read config");
    (cfg.log_max_size, cfg.log_max_files) = (2000, 3);
    skiff_shim::write_config(&f.bundle(), &cfg).expect("write config");
    started(f.spawn());
    assert_eq!(f.exit(20).code, 0);
    // the shim compresses what is left after recording the exit: wait for the file set to settle
    let deadline = Instant::now() + Duration::from_secs(10);
    let names = loop {
        let mut names: Vec<String> = std::fs::read_dir(f.dir.path())
            .expect("read dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("container.log"))
            .collect();
        names.sort();
        if names.len() == 3 && names[1].ends_with(".gz") || Instant::now() > deadline {
            break names;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // the current file, one compressed rotated file, the newest rotated one plain; the first burst pruned
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names[1].ends_with(".gz") && !names[2].ends_with(".gz"), "{names:?}");
    let mut lines = vec![];
    for name in [&names[1], &names[2], &names[0]] {
        let file = std::fs::File::open(f.dir.path().join(name)).expect("open");
        let mut text = Vec::new();
        let mut reader: Box<dyn std::io::Read> =
            if name.ends_with(".gz") { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
        reader.read_to_end(&mut text).expect("read");
        assert!(text.len() <= 2000, "{name}: {} bytes", text.len());
        for l in text.split_inclusive(|&b| b == b'\n') {
            let r = parse_line(l).unwrap_or_else(|| panic!("{name}: bad record {:?}", String::from_utf8_lossy(l)));
            lines.push(String::from_utf8_lossy(r.content).into_owned());
        }
    }
    // what is kept is the end of the output, in order: all of the last two bursts and the end of the second
    // (rotations happen mid-burst, when the file is full), none of the first (its file was pruned)
    let all: Vec<String> = (1..=4).flat_map(|b| (0..40).map(move |i| format!("{b}-{i}"))).collect();
    assert!(lines.len() > 80 && lines.len() < 120, "{} lines kept: {lines:?}", lines.len());
    assert_eq!(lines, all[all.len() - lines.len()..]);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, shim, flag, bundle] = args.as_slice() {
        if shim == "shim" && flag == "--bundle" {
            std::process::exit(skiff_shim::main(Path::new(bundle)));
        }
    }
    if let Some((bundle, timeout, argv)) = shim_exec_args(&args) {
        std::process::exit(skiff_shim::exec_main(&bundle, timeout, argv));
    }
    if let Ok(bundle) = std::env::var(SPAWNER_ENV) {
        std::process::exit(spawner_main(&bundle));
    }
    let tests: [(&str, fn()); 8] = [
        ("logs_started_and_exit_are_recorded", logs_started_and_exit_are_recorded),
        ("the_log_is_rotated_compressed_and_pruned", the_log_is_rotated_compressed_and_pruned),
        ("exec_failure_is_reported", exec_failure_is_reported),
        ("a_killed_container_records_the_signal", a_killed_container_records_the_signal),
        ("the_shim_outlives_its_spawner_and_signals", the_shim_outlives_its_spawner_and_signals),
        ("exec_returns_output_and_exit_code", exec_returns_output_and_exit_code),
        ("exec_timeout_kills_the_command", exec_timeout_kills_the_command),
        ("exec_into_a_stopped_container_is_an_error", exec_into_a_stopped_container_is_an_error),
    ];
    let filters: Vec<String> = args.iter().skip(1).filter(|a| !a.starts_with('-')).cloned().collect();
    let selected: Vec<_> =
        tests.iter().filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str()))).collect();
    if !nix::unistd::geteuid().is_root() {
        println!("skipping {} shim tests: not root", selected.len());
        return;
    }
    busybox_rootfs();
    let mut failed = vec![];
    for (name, t) in &selected {
        let start = Instant::now();
        let ok = std::panic::catch_unwind(t).is_ok();
        println!("test {name} ... {} ({} ms)", if ok { "ok" } else { "FAILED" }, start.elapsed().as_millis());
        if !ok {
            failed.push(*name);
        }
    }
    for c in ["memory", "cpu", "cpuacct", "pids", "devices", ""] {
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(c).join(CGROUP_PARENT));
    }
    println!("\n{} passed; {} failed {:?}", selected.len() - failed.len(), failed.len(), failed);
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
