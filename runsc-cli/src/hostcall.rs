//! Host calls of the CLI: kcmp(2) (which neither std nor nix wraps) and raising
//! RLIMIT_NOFILE.
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

/// Raises the soft RLIMIT_NOFILE to the hard limit (the sentry and the gofer hold host fds on
/// the guest's behalf: donated files, fids); failure only costs capacity. Returns the soft
/// limit now in force.
pub fn raise_nofile_limit() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::debug!(%e, "cannot raise RLIMIT_NOFILE");
        return usize::try_from(soft).unwrap_or(usize::MAX);
    }
    usize::try_from(hard.max(soft)).unwrap_or(usize::MAX)
}
