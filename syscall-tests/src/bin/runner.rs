//! The conformance runner: runs each test binary natively (the oracle), then optionally inside
//! the sandbox (`RVISOR do --platform=PLATFORM BIN --test-threads=1`), and compares the two
//! with the platform's expected-failure lists.
//!
//! ```text
//! runner --bins DIR [--rvisor PATH] [--platform ptrace] [--expected syscall-tests/expected-failures]
//!        [--timeout SECS] [--bin NAME]...
//! ```
//!
//! The last line is exactly `N passed, M failed`; the exit status is 1 when M > 0. The rules
//! (what counts as a failure) live in `syscall_tests::report`, which is unit-tested; this file
//! only spawns processes, enforces the per-binary timeout and prints.
#![deny(unsafe_code)]

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use syscall_tests::report::{
    BinReport, Results, Status, compare, mark_missing_as_crashed, parse_expected,
    parse_libtest_list, parse_libtest_output, summary_line,
};
use syscall_tests::{libc, syscall};

/// The test binaries built from `src/bin/` (everything but this runner).
#[rustfmt::skip] // one compact list: names over 8 characters would make rustfmt go vertical
const TEST_BINS: &[&str] = &[
    "fs", "mm", "process", "time", "vdso", "signal", "wait", "pipe", "poll", "timer", "thread",
    "exec", "creds", "files2", "unix", "overlay", "xattr", "inotify", "locks", "plumbing", "pty",
    "netlink", "inet", "inet_opts", "inet_msg", "inet_conn",
];

/// Binaries whose tests work on pre-existing trees (`syscall_tests::fixture`): the runner
/// makes one fresh tree per test before each run and checks that the sandbox run left the
/// host's copy unchanged.
const FIXTURE_BINS: &[&str] = &["overlay"];

/// The pseudo-test that records whether a sandbox run changed the host's fixture trees.
const FIXTURE_CHECK: &str = "host_fixture_unchanged_by_sandbox";

/// Makes a fresh fixture directory holding one tree per test name; returns it and its
/// snapshot.
fn make_fixture(names: &[String]) -> Result<(PathBuf, String), String> {
    // A plain host directory in both runs (under /var/tmp, like the staged binaries).
    let base = PathBuf::from(format!(
        "/var/tmp/rvisor-fixture-{}-{}",
        std::process::id(),
        FIXTURE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&base);
    for n in names {
        syscall_tests::fixture::populate(&base.join(n))
            .map_err(|e| format!("fixture {}: {e}", base.display()))?;
    }
    let snap = syscall_tests::fixture::snapshot(&base)
        .map_err(|e| format!("fixture snapshot {}: {e}", base.display()))?;
    Ok((base, snap))
}

static FIXTURE_SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How long the runner keeps reading a finished (or killed) binary's output: a descendant
/// that escaped the process-group kill could otherwise hold the pipe open forever.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Options {
    bins_dir: PathBuf,
    rvisor: Option<PathBuf>,
    platform: String,
    expected_dir: PathBuf,
    timeout: Duration,
    only: Vec<String>,
}

const USAGE: &str = "usage: runner --bins DIR [--rvisor PATH] [--platform ptrace] \
                     [--expected DIR] [--timeout SECS] [--bin NAME]...";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options {
        bins_dir: PathBuf::new(),
        rvisor: None,
        platform: "ptrace".to_owned(),
        expected_dir: PathBuf::from("syscall-tests/expected-failures"),
        timeout: Duration::from_secs(120),
        only: Vec::new(),
    };
    let mut have_bins = false;
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--bins" => {
                opts.bins_dir = PathBuf::from(value()?);
                have_bins = true;
            }
            "--rvisor" => opts.rvisor = Some(PathBuf::from(value()?)),
            "--platform" => opts.platform = value()?,
            "--expected" => opts.expected_dir = PathBuf::from(value()?),
            "--timeout" => {
                let v = value()?;
                let secs = v
                    .parse::<u64>()
                    .map_err(|e| format!("--timeout {v}: {e}"))?;
                opts.timeout = Duration::from_secs(secs);
            }
            "--bin" => opts.only.push(value()?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if !have_bins {
        return Err(format!("--bins is required\n{USAGE}"));
    }
    Ok(opts)
}

/// What one run of a test binary produced.
#[derive(Debug)]
struct RunOutput {
    stdout: String,
    stderr: String,
    /// `None` when the run was killed at the timeout.
    status: Option<ExitStatus>,
}

/// Runs `cmd` to completion or until `timeout`, in its own process group, which is killed at
/// the timeout and again once the command exits (so forked test children that got stuck die
/// too). stdout and stderr are drained on helper threads so a chatty child cannot block on a
/// full pipe, and whatever they collected within [`DRAIN_GRACE`] of the exit is returned.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<RunOutput, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawning {cmd:?}: {e}"))?;
    let pgid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let handle = thread::spawn(move || {
            if let Some(mut p) = pipe {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = p.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut b) = sink.lock() {
                        b.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    }
                }
            }
        });
        (buf, handle)
    };
    let (out, out_thread) = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let (err, err_thread) = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = syscall!(libc::SYS_kill, -pgid, libc::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {cmd:?}: {e}")),
        }
    };
    let _ = syscall!(libc::SYS_kill, -pgid, libc::SIGKILL);
    let grace = Instant::now() + DRAIN_GRACE;
    while !(out_thread.is_finished() && err_thread.is_finished()) && Instant::now() < grace {
        thread::sleep(Duration::from_millis(10));
    }
    let text = |b: &Arc<Mutex<Vec<u8>>>| {
        b.lock()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    Ok(RunOutput {
        stdout: text(&out),
        stderr: text(&err),
        status,
    })
}

/// The names of the tests `path` defines (`--list`), so a test the run never reached (the
/// binary hung or crashed earlier) still counts as failed instead of silently vanishing.
fn list_tests(path: &Path, timeout: Duration) -> Result<Vec<String>, String> {
    let mut cmd = Command::new(path);
    cmd.arg("--list");
    let out = run_with_timeout(cmd, timeout)?;
    Ok(parse_libtest_list(&out.stdout))
}

fn describe_status(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "killed at the timeout".to_owned(), |s| s.to_string())
}

/// The last `n` lines of `text`, indented, for diagnosing a crashed run.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines
        .get(start..)
        .unwrap_or_default()
        .iter()
        .map(|l| format!("    | {l}\n"))
        .collect()
}

fn load_expected(opts: &Options, bin: &str) -> Result<BTreeSet<String>, String> {
    let path = opts
        .expected_dir
        .join(&opts.platform)
        .join(format!("{bin}.txt"));
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_expected(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "  note: {} does not exist; no expected failures",
                path.display()
            );
            Ok(BTreeSet::new())
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Runs one binary natively and, if asked, in the sandbox; prints its section of the report.
fn run_bin(opts: &Options, bin: &str, path: &Path) -> Result<BinReport, String> {
    let mut native_cmd = Command::new(path);
    native_cmd.arg("--test-threads=1");
    let names = list_tests(path, opts.timeout)?;
    let uses_fixture = FIXTURE_BINS.contains(&bin);
    let native_fixture = if uses_fixture {
        let (dir, _) = make_fixture(&names)?;
        native_cmd.env(syscall_tests::fixture::ENV, &dir);
        Some(dir)
    } else {
        None
    };
    let native_out = run_with_timeout(native_cmd, opts.timeout)?;
    if let Some(dir) = native_fixture {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut native = parse_libtest_output(&native_out.stdout);
    if !native.is_empty() {
        mark_missing_as_crashed(&mut native, &names);
    }
    if native.is_empty() {
        return Err(format!(
            "{bin}: no test results natively ({})\n{}",
            describe_status(native_out.status),
            tail(&native_out.stderr, 10)
        ));
    }

    let sandbox: Option<Results> = match &opts.rvisor {
        None => None,
        Some(rvisor) => {
            // The binary runs as a child of a shell that is the sandbox's init, so that it is
            // not pid 1 itself: natively it is not init either, and init's special cases
            // (signals without a handler are dropped, pid 1 is "self") would otherwise differ.
            let mut cmd = Command::new(rvisor);
            cmd.arg("do")
                .arg(format!("--platform={}", opts.platform))
                .args([SANDBOX_INIT, "sh", "-c", "\"$0\" \"$@\"; exit $?"])
                .arg(path)
                .arg("--test-threads=1");
            let fixture = if uses_fixture {
                let (dir, snap) = make_fixture(&names)?;
                cmd.env(syscall_tests::fixture::ENV, &dir);
                Some((dir, snap))
            } else {
                None
            };
            let out = run_with_timeout(cmd, opts.timeout)?;
            let mut results = parse_libtest_output(&out.stdout);
            mark_missing_as_crashed(&mut results, &names);
            if let Some((dir, before)) = fixture {
                // Writes in the sandbox go to the root overlay: the host's trees must be
                // exactly as they were made.
                let after = syscall_tests::fixture::snapshot(&dir).unwrap_or_default();
                let status = if after == before {
                    Status::Passed
                } else {
                    println!("  {bin}: the sandbox run changed the host's fixture trees");
                    Status::Failed
                };
                results.insert(FIXTURE_CHECK.to_owned(), status);
                native.insert(FIXTURE_CHECK.to_owned(), Status::Passed);
                let _ = std::fs::remove_dir_all(dir);
            }
            let completed = native
                .keys()
                .all(|name| results.get(name).is_some_and(|s| s.is_finished()));
            if !completed {
                println!(
                    "  {bin} in rvisor did not report every test ({}); last stderr lines:\n{}",
                    describe_status(out.status),
                    tail(&out.stderr, 15)
                );
            }
            Some(results)
        }
    };

    let expected = if sandbox.is_some() {
        load_expected(opts, bin)?
    } else {
        BTreeSet::new()
    };
    let report = compare(&native, sandbox.as_ref(), &expected);
    print!(
        "{bin}: native {} passed, {} failed",
        report.native_passed,
        report.native_failures.len()
    );
    if sandbox.is_some() {
        print!(
            "; {}: {} passed, {} expected failures, {} unexpected failures, {} unexpected passes",
            opts.platform,
            report.sandbox_passed,
            report.expected_failures.len(),
            report.unexpected_failures.len(),
            report.unexpected_passes.len()
        );
    }
    println!();
    print!("{}", report.problems());
    Ok(report)
}

/// The init the sandboxed test binaries run under (busybox-static, installed by setup.sh).
const SANDBOX_INIT: &str = "/bin/busybox";

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let bins: Vec<String> = if opts.only.is_empty() {
        TEST_BINS.iter().map(|s| (*s).to_owned()).collect()
    } else {
        opts.only.clone()
    };

    let (mut passed, mut failed, mut expected_failures) = (0usize, 0usize, 0usize);
    for bin in &bins {
        let path = opts.bins_dir.join(bin);
        match run_bin(&opts, bin, &path) {
            Ok(report) => {
                passed += report.passed(opts.rvisor.is_some());
                failed += report.failed();
                expected_failures += report.expected_failures.len();
            }
            Err(msg) => {
                // A binary that cannot run at all is one failure, not silently zero tests.
                println!("{bin}: ERROR: {msg}");
                failed += 1;
            }
        }
    }
    if opts.rvisor.is_some() {
        println!("expected failures ({}): {expected_failures}", opts.platform);
    } else {
        println!("expected failures: none apply (native run only; set --rvisor to compare)");
    }
    println!("{}", summary_line(passed, failed));
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn parse_args_accepts_both_value_forms() {
        let o = parse_args(args(&["--bins", "d", "--platform=kvm", "--rvisor=/r"]));
        let o = o.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.bins_dir, PathBuf::from("d"));
        assert_eq!(o.platform, "kvm");
        assert_eq!(o.rvisor, Some(PathBuf::from("/r")));
        assert_eq!(o.timeout, Duration::from_secs(120));
    }

    #[test]
    fn parse_args_requires_bins() {
        let err = parse_args(args(&["--platform", "ptrace"])).err();
        assert!(err.is_some_and(|e| e.starts_with("--bins is required")));
    }

    #[test]
    fn run_with_timeout_kills_a_hung_child() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let started = Instant::now();
        let out = run_with_timeout(cmd, Duration::from_millis(200));
        assert!(out.is_ok_and(|o| o.status.is_none()));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn run_with_timeout_kills_the_whole_process_group() {
        // The shell's background child holds stdout open; killing only the shell would leave
        // the drain threads waiting for it.
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("sleep 30 & echo started; wait");
        let started = Instant::now();
        let out = run_with_timeout(cmd, Duration::from_millis(300));
        assert!(out.is_ok_and(|o| o.status.is_none() && o.stdout.contains("started")));
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "    | b\n    | c\n");
    }
}
