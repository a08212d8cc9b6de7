//! Path and file syscalls that POSIX shared memory needs: link(2)/linkat(2) (glibc's
//! sem_open(3) creates the semaphore under a temporary name in /dev/shm and links it into
//! place), truncate(2)/ftruncate(2) (shm_open(3) then ftruncate sizes the object) and
//! statfs(2)/fstatfs(2) (Python's multiprocessing heap statvfs-es /dev/shm), over the VFS;
//! also mknod(2)/mknodat(2) (fifos, sockets, and device nodes with CAP_MKNOD).
//!
//! A file of its own, not `fs.rs`, only to keep out of a file another change is reworking;
//! these belong with the other path syscalls and can move there.

use abi::Errno;
use abi::file as f;

use super::{SyscallArgs, SyscallResult, ok_zero};
use crate::kernel::Task;

/// link(2).
pub fn sys_link(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_linkat(t, f::AT_FDCWD, args.ptr(0), f::AT_FDCWD, args.ptr(1), 0)
}

/// linkat(2), with `AT_EMPTY_PATH` (linking an fd's file, CAP_DAC_READ_SEARCH only).
pub fn sys_linkat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_linkat(
        t,
        args.dirfd(0),
        args.ptr(1),
        args.dirfd(2),
        args.ptr(3),
        args.uint(4),
    )
}

fn do_linkat(
    t: &mut Task,
    olddir: i32,
    old_addr: u64,
    newdir: i32,
    new_addr: u64,
    flags: u32,
) -> SyscallResult {
    // linkat(2): EINVAL for flags other than AT_SYMLINK_FOLLOW and AT_EMPTY_PATH.
    if flags & !(f::AT_SYMLINK_FOLLOW | f::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let old = t.copy_in_path(old_addr)?;
    let new = t.copy_in_path(new_addr)?;
    if new.is_empty() {
        return Err(Errno::ENOENT);
    }
    if old.is_empty() {
        // linkat(2): AT_EMPTY_PATH links the file `olddir` refers to, for a caller with
        // CAP_DAC_READ_SEARCH; without it (or without the flag) the empty path is ENOENT.
        if flags & f::AT_EMPTY_PATH == 0
            || !t.creds.fs_creds().has_cap(abi::cap::CAP_DAC_READ_SEARCH)
        {
            return Err(Errno::ENOENT);
        }
        let src = t.fds().file(olddir)?.path().cloned().ok_or(Errno::ENOENT)?;
        t.with_lookup(newdir, &new, |ln| ln.link_path(&src, &new))?;
        return ok_zero();
    }
    // linkat(2): "By default, linkat() does not dereference oldpath if it is a symbolic link".
    let follow = flags & f::AT_SYMLINK_FOLLOW != 0;
    t.with_lookup(olddir, &old, |lo| {
        t.with_lookup(newdir, &new, |ln| lo.link(&old, ln, &new, follow))
    })?;
    ok_zero()
}

/// mknod(2).
pub fn sys_mknod(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_mknodat(t, f::AT_FDCWD, args.ptr(0), args.uint(1), args.uint(2))
}

/// mknodat(2).
pub fn sys_mknodat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_mknodat(t, args.dirfd(0), args.ptr(1), args.uint(2), args.uint(3))
}

/// `unsigned int dev` of mknod(2) (the kernel's new_decode_dev) as a 64-bit `dev_t`.
fn decode_dev(dev: u32) -> u64 {
    let major = (dev & 0xfff00) >> 8;
    let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    f::makedev(major, minor)
}

fn do_mknodat(t: &mut Task, dirfd: i32, path_addr: u64, mode: u32, dev: u32) -> SyscallResult {
    let path = t.copy_in_path(path_addr)?;
    // The umask applies to the permission bits (fs/namei.c do_mknodat, without ACLs).
    let umask = t.fs().umask;
    let mode = (mode & f::S_IFMT) | (mode & f::S_IALLUGO & !umask);
    t.with_lookup(dirfd, &path, |l| l.mknod(&path, mode, decode_dev(dev)))?;
    ok_zero()
}

/// truncate(2).
pub fn sys_truncate(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    // `off_t length`: negative is EINVAL (truncate(2)).
    let len = u64::try_from(args.long(1)).map_err(|_| Errno::EINVAL)?;
    let target = t.with_lookup(f::AT_FDCWD, &path, |l| {
        l.truncate(&path, len)?;
        l.resolve(&path, true)
    })?;
    t.file_truncated(crate::kernel::task::inode_key(target.inode()), len)?;
    ok_zero()
}

/// ftruncate(2): EINVAL unless open for writing on a regular file (`OpenFile::truncate`).
pub fn sys_ftruncate(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    let len = u64::try_from(args.long(1)).map_err(|_| Errno::EINVAL)?;
    file.truncate(len)?;
    if let Some(p) = file.path() {
        t.file_truncated(crate::kernel::task::inode_key(p.inode()), len)?;
    }
    ok_zero()
}

/// statfs(2).
pub fn sys_statfs(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    let st = t.with_lookup(f::AT_FDCWD, &path, |l| l.resolve(&path, true)?.statfs())?;
    t.copy_out_obj(args.ptr(1), &st)?;
    ok_zero()
}

/// fstatfs(2).
pub fn sys_fstatfs(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let st = t.fds().file(args.fd(0))?.statfs()?;
    t.copy_out_obj(args.ptr(1), &st)?;
    ok_zero()
}

/// fsync(2).
pub fn sys_fsync(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    t.fds().file(args.fd(0))?.fsync(false)?;
    ok_zero()
}

/// fdatasync(2).
pub fn sys_fdatasync(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    t.fds().file(args.fd(0))?.fsync(true)?;
    ok_zero()
}

/// sync(2): the sandbox's own filesystems keep data in memory (tmpfs) or write it through to
/// the host at once (donated gofer fds, Twrite), so there is nothing buffered in the sentry;
/// the host's page cache is the host's business (a guest must not make the whole host flush).
pub fn sys_sync(_t: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    ok_zero()
}

/// syncfs(2): flushes the file `fd` names (the other files of its filesystem are flushed by
/// their own fsync, see sync(2)).
pub fn sys_syncfs(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    t.fds().file(args.fd(0))?.fsync(false)?;
    ok_zero()
}

/// sync_file_range(2): argument checks as Linux (negative offset or length, or unknown
/// flags: EINVAL), then a data flush of the whole file when any flag asks for writing.
pub fn sys_sync_file_range(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    const VALID: u32 = 0x1 | 0x2 | 0x4; // WAIT_BEFORE | WRITE | WAIT_AFTER
    let (off, len, flags) = (args.long(1), args.long(2), args.uint(3));
    if flags & !VALID != 0 || off < 0 || len < 0 || off.checked_add(len).is_none() {
        return Err(Errno::EINVAL);
    }
    let file = t.fds().file(args.fd(0))?;
    if file.is_path_only() {
        return Err(Errno::EBADF);
    }
    if file.is_stream() {
        return Err(Errno::ESPIPE);
    }
    if flags != 0 {
        file.fsync(true)?;
    }
    ok_zero()
}
