//! The harness's own guarantees for process tests: a forked test body that blocks forever is
//! killed by [`fork_and_check_within`]'s watchdog (even if it blocks and ignores SIGALRM), and
//! its failure message says so; a body's `Err` and a body killed by a signal are reported.
//!
//! The checks run from one `#[test]` on purpose: libtest runs separate tests on parallel
//! threads, and forking while another thread may hold the malloc lock could deadlock the child.

use std::time::{Duration, Instant};

use syscall_tests::task::{fork_and_check, fork_and_check_within, ignore, sigprocmask};
use syscall_tests::{libc, syscall};

fn hung_body_is_killed_at_the_timeout() {
    let start = Instant::now();
    let out = fork_and_check_within(Duration::from_millis(300), || {
        let _ = ignore(libc::SIGALRM);
        let _ = sigprocmask(libc::SIG_SETMASK, u64::MAX);
        loop {
            let _ = syscall!(libc::SYS_pause);
        }
    });
    let msg = out.err().unwrap_or_default();
    assert!(msg.contains("still running"), "{msg}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

fn body_error_message_reaches_the_parent() {
    let out = fork_and_check(|| Err("boom from the child".to_owned()));
    assert_eq!(out.err().as_deref(), Some("boom from the child"));
}

fn body_killed_by_signal_is_a_failure_naming_it() {
    let out = fork_and_check(|| {
        let _ = syscall!(libc::SYS_kill, syscall!(libc::SYS_getpid), libc::SIGKILL);
        Ok(())
    });
    let msg = out.err().unwrap_or_default();
    assert!(msg.contains("signal 9"), "{msg}");
}

fn passing_body_is_ok() {
    assert_eq!(fork_and_check(|| Ok(())), Ok(()));
}

#[test]
fn fork_and_check_reports_and_bounds_forked_bodies() {
    passing_body_is_ok();
    body_error_message_reaches_the_parent();
    body_killed_by_signal_is_a_failure_naming_it();
    hung_body_is_killed_at_the_timeout();
}
