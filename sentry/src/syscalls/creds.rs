//! Credential syscalls: the set*id family, setgroups, capget/capset. The rules live in
//! `kernel/creds.rs`; these handlers decode arguments and store the result in the calling
//! task (credentials are per thread, as on Linux: glibc's setuid(3) applies them to every
//! thread of a process by calling the syscall in each).

use abi::Errno;
use abi::cap::{CapData, CapHeader, LINUX_CAPABILITY_VERSION_3};

use super::{SyscallArgs, SyscallResult, ok_usize, ok_zero};
use crate::kernel::creds::{NGROUPS_MAX, cap_data_count, from_cap_data, to_cap_data};
use crate::kernel::{Credentials, Task};

/// Installs new credentials and republishes them to /proc (status, capget of another task).
fn commit(t: &mut Task, n: Credentials) {
    if n != t.creds {
        t.creds = n;
        crate::fs::proc::set_current(t);
    }
}

/// setuid(2).
pub fn sys_setuid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let n = t.creds.set_uid(args.uint(0))?;
    commit(t, n);
    ok_zero()
}

/// setgid(2).
pub fn sys_setgid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let n = t.creds.set_gid(args.uint(0))?;
    commit(t, n);
    ok_zero()
}

/// setreuid(2).
pub fn sys_setreuid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let n = t.creds.set_reuid(args.uint(0), args.uint(1))?;
    commit(t, n);
    ok_zero()
}

/// setregid(2).
pub fn sys_setregid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let n = t.creds.set_regid(args.uint(0), args.uint(1))?;
    commit(t, n);
    ok_zero()
}

/// setresuid(2).
pub fn sys_setresuid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let n = t
        .creds
        .set_resuid(args.uint(0), args.uint(1), args.uint(2))?;
    commit(t, n);
    ok_zero()
}

/// setresgid(2).
pub fn sys_setresgid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let n = t
        .creds
        .set_resgid(args.uint(0), args.uint(1), args.uint(2))?;
    commit(t, n);
    ok_zero()
}

/// setfsuid(2): always returns the previous fsuid.
pub fn sys_setfsuid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (n, old) = t.creds.set_fsuid(args.uint(0));
    commit(t, n);
    ok_usize(usize::try_from(old).unwrap_or(0))
}

/// setfsgid(2): always returns the previous fsgid.
pub fn sys_setfsgid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (n, old) = t.creds.set_fsgid(args.uint(0));
    commit(t, n);
    ok_usize(usize::try_from(old).unwrap_or(0))
}

/// setgroups(2): EINVAL for a negative size or more than NGROUPS_MAX.
pub fn sys_setgroups(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let n = usize::try_from(args.int(0))
        .ok()
        .filter(|n| *n <= NGROUPS_MAX)
        .ok_or(Errno::EINVAL)?;
    if !t.creds.has_cap(abi::cap::CAP_SETGID) {
        return Err(Errno::EPERM);
    }
    let mut bytes = vec![0u8; n * 4];
    if n > 0 {
        t.mm.copy_in(args.ptr(1), &mut bytes)?;
    }
    let groups = bytes
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = t.creds.set_groups(groups)?;
    commit(t, n);
    ok_zero()
}

/// Reads the capget/capset header; an unknown version is answered with the preferred one
/// written back and EINVAL (capget(2)).
fn cap_header(t: &Task, addr: u64) -> Result<(CapHeader, usize), Errno> {
    let hdr: CapHeader = t.copy_in_obj(addr)?;
    match cap_data_count(hdr.version) {
        Some(n) => Ok((hdr, n)),
        None => {
            let fixed = CapHeader {
                version: LINUX_CAPABILITY_VERSION_3,
                ..hdr
            };
            t.copy_out_obj(addr, &fixed)?;
            Err(Errno::EINVAL)
        }
    }
}

/// capget(2): the sets of the calling thread (pid 0 or its own tid) or of another task of the
/// sandbox (ESRCH if none). A NULL data pointer just probes the version.
pub fn sys_capget(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (hdr, n) = cap_header(t, args.ptr(0))?;
    if hdr.pid < 0 {
        return Err(Errno::EINVAL);
    }
    let data_addr = args.ptr(1);
    if data_addr == 0 {
        return ok_zero();
    }
    let creds = if hdr.pid == 0 || hdr.pid == t.tid() {
        t.creds.clone()
    } else {
        crate::fs::proc::creds_of(&t.kernel, hdr.pid).ok_or(Errno::ESRCH)?
    };
    let data = to_cap_data(&creds);
    for (i, d) in data.iter().take(n).enumerate() {
        let at = data_addr
            .checked_add((i * size_of::<CapData>()) as u64)
            .ok_or(Errno::EFAULT)?;
        t.copy_out_obj(at, d)?;
    }
    ok_zero()
}

/// capset(2): only the calling thread (pid 0 or its own tid; EPERM otherwise).
pub fn sys_capset(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (hdr, n) = cap_header(t, args.ptr(0))?;
    if hdr.pid != 0 && hdr.pid != t.tid() {
        return Err(Errno::EPERM);
    }
    let mut data = [CapData::default(); 2];
    for (i, d) in data.iter_mut().take(n).enumerate() {
        let at = args
            .ptr(1)
            .checked_add((i * size_of::<CapData>()) as u64)
            .ok_or(Errno::EFAULT)?;
        *d = t.copy_in_obj(at)?;
    }
    let (e, p, i) = from_cap_data(data.get(..n).unwrap_or_default());
    // Version 1 covers capabilities 0-31 only: the upper halves stay as they are.
    let (e, p, i) = if n == 1 {
        let keep = |v: u64, old: u64| (old & !0xffff_ffff) | (v & 0xffff_ffff);
        (
            keep(e, t.creds.cap_effective),
            keep(p, t.creds.cap_permitted),
            keep(i, t.creds.cap_inheritable),
        )
    } else {
        (e, p, i)
    };
    let n = t.creds.set_caps(e, p, i)?;
    commit(t, n);
    ok_zero()
}

/// chroot(2): CAP_SYS_CHROOT (EPERM), a searchable directory (ENOTDIR, EACCES); the calling
/// task's root (shared with CLONE_FS siblings) becomes it; the working directory stays.
pub fn sys_chroot(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    let target = t.with_lookup(abi::file::AT_FDCWD, &path, |l| l.resolve(&path, true))?;
    if !target.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    target.check_access(&t.creds.fs_creds(), 1)?;
    if !t.creds.has_cap(abi::cap::CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    t.fs().root = target;
    ok_zero()
}
