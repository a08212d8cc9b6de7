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

/// Closes every fd above stderr this process inherited: a caller's sockets and pipes (the
/// containerd shim passes its own) must reach neither the sentry nor the gofers it starts.
pub fn close_inherited_fds() {
    // SAFETY: close_range(2) takes only integers; nothing in this process uses fds above 2
    // yet (called first thing in main, before any file is opened or thread started).
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r == 0 {
        return;
    }
    // Hosts before Linux 5.9: close what /proc lists.
    let Ok(rd) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: as above; the directory fd itself is already closed (rd was consumed).
        unsafe { libc::close(fd) };
    }
}

/// For a test that cannot run on this host: says why (libtest has no runtime skip, so the
/// test then returns early), or, under `RVISOR_REQUIRE_CAPS=1` (the project machines, where
/// everything must run), fails, so a missing capability never counts as a pass.
#[cfg(test)]
pub fn skip_or_fail(why: &str) {
    assert!(
        std::env::var("RVISOR_REQUIRE_CAPS").as_deref() != Ok("1"),
        "RVISOR_REQUIRE_CAPS=1 but this test cannot run: {why}"
    );
    println!("skipped: {why}");
}
