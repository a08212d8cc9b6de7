//! inotify_init(2), inotify_init1(2), inotify_add_watch(2), inotify_rm_watch(2). The instance,
//! the watch registry and the event hooks live in `vfs::inotify`; read(2), poll/epoll and
//! FIONREAD reach the instance through its `FileOps` (read blocks in the generic stream loop
//! of `fs::blocking` on the instance's wait queue unless IN_NONBLOCK).
//!
//! Argument checks follow inotify_add_watch in fs/notify/inotify/inotify_user.c: EINVAL for
//! IN_MASK_ADD with IN_MASK_CREATE and for a mask without any inotify bit, EBADF, EINVAL for
//! an fd that is not an inotify instance, then the path walk (IN_DONT_FOLLOW, IN_ONLYDIR:
//! ENOTDIR) and read permission on the file (EACCES).

use std::sync::Arc;

use abi::Errno;
use abi::file::{AT_FDCWD, O_RDONLY, R_OK};
use abi::inotify::{
    ALL_INOTIFY_BITS, IN_CLOEXEC, IN_DONT_FOLLOW, IN_MASK_ADD, IN_MASK_CREATE, IN_NONBLOCK,
    IN_ONLYDIR,
};
use vfs::OpenFile;
use vfs::inotify::Inotify;

use super::{SyscallArgs, SyscallResult, ok_i64, ok_zero};
use crate::kernel::Task;

fn create(t: &Task, flags: u32) -> SyscallResult {
    if flags & !(IN_NONBLOCK | IN_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = OpenFile::new_ops(
        None,
        Box::new(Inotify::new()?),
        O_RDONLY | (flags & IN_NONBLOCK),
    );
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let fd = t
        .fds()
        .insert_from(0, file, flags & IN_CLOEXEC != 0, limit)?;
    ok_i64(i64::from(fd))
}

/// inotify_init(2): inotify_init1 with no flags.
pub fn sys_inotify_init(t: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    create(t, 0)
}

/// inotify_init1(2): IN_NONBLOCK, IN_CLOEXEC; EINVAL for other bits.
pub fn sys_inotify_init1(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    create(t, args.uint(0))
}

/// The inotify instance behind `fd`: EBADF, or EINVAL if it is another kind of file.
fn instance(t: &Task, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let file = t.fds().file(fd)?;
    if file
        .ops_any()
        .and_then(|a| a.downcast_ref::<Inotify>())
        .is_none()
    {
        return Err(Errno::EINVAL);
    }
    Ok(file)
}

fn ops(file: &OpenFile) -> Result<&Inotify, Errno> {
    file.ops_any()
        .and_then(|a| a.downcast_ref::<Inotify>())
        .ok_or(Errno::EINVAL)
}

/// inotify_add_watch(2).
pub fn sys_inotify_add_watch(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let mask = args.uint(2);
    if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
        return Err(Errno::EINVAL);
    }
    if mask & ALL_INOTIFY_BITS == 0 {
        return Err(Errno::EINVAL);
    }
    let file = instance(t, args.fd(0))?;
    let path = t.copy_in_path(args.ptr(1))?;
    let target = t.with_lookup(AT_FDCWD, &path, |l| {
        let p = l.resolve(&path, mask & IN_DONT_FOLLOW == 0)?;
        if mask & IN_ONLYDIR != 0 && !p.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        p.check_access(l.creds, R_OK)?;
        Ok(p)
    })?;
    let wd = ops(&file)?.add_watch(&target, mask)?;
    ok_i64(i64::from(wd))
}

/// inotify_rm_watch(2): EINVAL for an unknown wd.
pub fn sys_inotify_rm_watch(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = instance(t, args.fd(0))?;
    ops(&file)?.rm_watch(args.int(1))?;
    ok_zero()
}
