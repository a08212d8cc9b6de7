//! Runs every conformance binary natively under `cargo test`: a test that fails on Linux
//! itself is a broken test (gVisor: "always check the actual Linux behavior"), and this makes
//! `cargo test --workspace` catch it without going through `run.sh`.

use std::process::Command;

use syscall_tests::report::{Status, parse_libtest_output};

fn run_natively(bin: &str, path: &str) {
    let out = Command::new(path)
        .arg("--test-threads=1")
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results = parse_libtest_output(&stdout);
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, s)| **s != Status::Passed)
        .map(|(n, _)| n)
        .collect();
    assert!(!results.is_empty(), "{bin} printed no results:\n{stdout}");
    assert!(
        failed.is_empty(),
        "{bin}: failed natively: {failed:?}\n{stdout}"
    );
    assert!(out.status.success(), "{bin} exited with {}", out.status);
}

#[test]
fn fs_passes_natively() {
    run_natively("fs", env!("CARGO_BIN_EXE_fs"));
}

#[test]
fn mm_passes_natively() {
    run_natively("mm", env!("CARGO_BIN_EXE_mm"));
}

#[test]
fn process_passes_natively() {
    run_natively("process", env!("CARGO_BIN_EXE_process"));
}

#[test]
fn time_passes_natively() {
    run_natively("time", env!("CARGO_BIN_EXE_time"));
}

#[test]
fn signal_passes_natively() {
    run_natively("signal", env!("CARGO_BIN_EXE_signal"));
}

#[test]
fn wait_passes_natively() {
    run_natively("wait", env!("CARGO_BIN_EXE_wait"));
}

#[test]
fn pipe_passes_natively() {
    run_natively("pipe", env!("CARGO_BIN_EXE_pipe"));
}

#[test]
fn poll_passes_natively() {
    run_natively("poll", env!("CARGO_BIN_EXE_poll"));
}

#[test]
fn timer_passes_natively() {
    run_natively("timer", env!("CARGO_BIN_EXE_timer"));
}

#[test]
fn thread_passes_natively() {
    run_natively("thread", env!("CARGO_BIN_EXE_thread"));
}

#[test]
fn exec_passes_natively() {
    run_natively("exec", env!("CARGO_BIN_EXE_exec"));
}

#[test]
fn vdso_passes_natively() {
    run_natively("vdso", env!("CARGO_BIN_EXE_vdso"));
}

#[test]
fn creds_passes_natively() {
    run_natively("creds", env!("CARGO_BIN_EXE_creds"));
}

#[test]
fn files2_passes_natively() {
    run_natively("files2", env!("CARGO_BIN_EXE_files2"));
}

#[test]
fn unix_passes_natively() {
    run_natively("unix", env!("CARGO_BIN_EXE_unix"));
}

#[test]
fn overlay_passes_natively() {
    run_natively("overlay", env!("CARGO_BIN_EXE_overlay"));
}

#[test]
fn xattr_passes_natively() {
    run_natively("xattr", env!("CARGO_BIN_EXE_xattr"));
}

#[test]
fn inotify_passes_natively() {
    run_natively("inotify", env!("CARGO_BIN_EXE_inotify"));
}

#[test]
fn locks_passes_natively() {
    run_natively("locks", env!("CARGO_BIN_EXE_locks"));
}

#[test]
fn plumbing_passes_natively() {
    run_natively("plumbing", env!("CARGO_BIN_EXE_plumbing"));
}

#[test]
fn pty_passes_natively() {
    run_natively("pty", env!("CARGO_BIN_EXE_pty"));
}

#[test]
fn netlink_passes_natively() {
    run_natively("netlink", env!("CARGO_BIN_EXE_netlink"));
}

#[test]
fn inet_passes_natively() {
    run_natively("inet", env!("CARGO_BIN_EXE_inet"));
}

#[test]
fn inet_opts_passes_natively() {
    run_natively("inet_opts", env!("CARGO_BIN_EXE_inet_opts"));
}

#[test]
fn inet_msg_passes_natively() {
    run_natively("inet_msg", env!("CARGO_BIN_EXE_inet_msg"));
}

#[test]
fn inet_conn_passes_natively() {
    run_natively("inet_conn", env!("CARGO_BIN_EXE_inet_conn"));
}
