//! `enter_root` chroots the calling process, so it runs in a forked child.
//!
//! `harness = false` (libtest-mimic): when the host does not permit chroot (no
//! CAP_SYS_CHROOT), the trial is reported as *ignored* with the reason, never as passed; with
//! `RVISOR_REQUIRE_CAPS=1` that is a failure instead. The trial runs on the main thread with
//! `--test-threads=1` forced, so the process has no other threads at fork time (after fork(2)
//! in a multithreaded process only async-signal-safe calls are sound; the child below makes
//! only a few syscalls through nix and exits with _exit).
#![allow(clippy::tests_outside_test_module)]

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use nix::sys::stat::fstatat;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// The child's exit code when chroot(2) fails with EPERM.
const NO_CHROOT: i32 = 77;

fn enter_root_chroots_and_returns_the_new_root() -> Result<Completion, Failed> {
    let dir = tempfile::TempDir::new().map_err(|e| format!("tempdir: {e}"))?;
    std::fs::write(dir.path().join("marker"), b"x").map_err(|e| format!("marker: {e}"))?;
    let path = dir.path().to_path_buf();
    // SAFETY: fork(2) in a process with no other threads (module doc); the child makes only
    // syscalls (chroot, chdir, open, fstatat, access) and leaves with _exit, never returning
    // into the harness or running destructors.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let code = match gofer::enter_root(&path) {
                Err(gofer::GoferError::Chroot {
                    err: nix::Error::EPERM,
                    ..
                }) => NO_CHROOT,
                Err(_) => 1,
                Ok(fd) => {
                    let via_fd = fstatat(&fd, "marker", nix::fcntl::AtFlags::empty()).is_ok();
                    let via_cwd = nix::unistd::access("/marker", nix::unistd::AccessFlags::F_OK);
                    if via_fd && via_cwd.is_ok() { 0 } else { 2 }
                }
            };
            // SAFETY: _exit(2) is async-signal-safe and takes any status.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            match waitpid(child, None).map_err(|e| format!("waitpid: {e}"))? {
                WaitStatus::Exited(_, 0) => Ok(Completion::Completed),
                WaitStatus::Exited(_, NO_CHROOT) => {
                    let why = "chroot needs CAP_SYS_CHROOT, which this process lacks";
                    if std::env::var("RVISOR_REQUIRE_CAPS").as_deref() == Ok("1") {
                        return Err(format!("RVISOR_REQUIRE_CAPS=1 but {why}").into());
                    }
                    eprintln!("SKIP enter_root_chroots_and_returns_the_new_root: {why}");
                    Ok(Completion::ignored_with(why))
                }
                other => Err(format!("child failed: {other:?}").into()),
            }
        }
    }
}

fn main() {
    let mut args = Arguments::from_args();
    // One thread: the trial forks (module doc).
    args.test_threads = Some(1);
    let tests = vec![Trial::ignorable_test(
        "enter_root_chroots_and_returns_the_new_root",
        enter_root_chroots_and_returns_the_new_root,
    )];
    libtest_mimic::run(&args, tests).exit();
}
