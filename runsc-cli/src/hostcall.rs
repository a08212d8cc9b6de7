//! The one host call the CLI makes that neither std nor nix wraps: kcmp(2).
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

/// kcmp(2) KCMP_FILE (include/uapi/linux/kcmp.h).
const KCMP_FILE: libc::c_int = 0;

/// Whether two descriptors of this process refer to the same open file description (so they
/// share an offset and status flags). `None` if the host cannot tell (no kcmp: CONFIG_KCMP off,
/// or a seccomp filter refuses it).
pub fn same_description(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Option<bool> {
    let pid = libc::pid_t::try_from(std::process::id()).ok()?;
    // SAFETY: kcmp(2) takes only integers (two pids, a type, two fd numbers) and touches no
    // memory of ours; both descriptors are borrowed, so they stay open for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid,
            pid,
            KCMP_FILE,
            a.as_raw_fd() as libc::c_ulong,
            b.as_raw_fd() as libc::c_ulong,
        )
    };
    match r {
        0 => Some(true),
        1 | 2 => Some(false),
        _ => None,
    }
}
