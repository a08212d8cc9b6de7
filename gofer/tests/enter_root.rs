//! `enter_root` chroots the calling process, so it runs in a forked child. This file holds a
//! single test so the test binary has no other test threads at fork time (after fork(2) in a
//! multithreaded process only async-signal-safe calls are sound; the child below only makes
//! raw syscalls through nix and exits with _exit).
#![allow(clippy::tests_outside_test_module)]

use nix::sys::stat::fstatat;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

#[test]
fn enter_root_chroots_and_returns_the_new_root() {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(dir.path().join("marker"), b"x").unwrap();
    let path = dir.path().to_path_buf();
    // SAFETY: fork(2) in a process whose only other threads are the idle test harness's; the
    // child makes only raw syscalls (chroot, chdir, open, fstatat, access) and leaves with
    // _exit, never returning into the harness or running destructors.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = match gofer::enter_root(&path) {
                Err(gofer::GoferError::Chroot {
                    err: nix::Error::EPERM,
                    ..
                }) => 77,
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
        ForkResult::Parent { child } => match waitpid(child, None).unwrap() {
            WaitStatus::Exited(_, 0) => {}
            WaitStatus::Exited(_, 77) => eprintln!("skipped: chroot needs CAP_SYS_CHROOT"),
            other => panic!("child failed: {other:?}"),
        },
    }
}
