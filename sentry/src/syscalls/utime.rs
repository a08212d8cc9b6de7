//! File timestamps: utimensat(2) (and futimens(3), which is utimensat with a NULL path),
//! utimes(2), futimesat(2) and utime(2). The permission rules live in `VfsPath::utimens`.

use abi::file as f;
use abi::time::{Timespec, Timeval};
use abi::{Errno, SysResult};
use vfs::TimeChange;

use super::fs::resolve_for_attr;
use super::{SyscallArgs, SyscallResult, ok_zero};
use crate::kernel::Task;

/// The two changes a times array at `addr` asks for (NULL: both "now").
fn timespecs(t: &Task, addr: u64) -> SysResult<(TimeChange, TimeChange)> {
    if addr == 0 {
        return Ok((TimeChange::Now, TimeChange::Now));
    }
    let ts: [Timespec; 2] = t.copy_in_obj(addr)?;
    Ok((
        TimeChange::from_timespec(ts[0])?,
        TimeChange::from_timespec(ts[1])?,
    ))
}

/// `struct timeval[2]` at `addr` (utimes, futimesat): EINVAL for microseconds out of range.
fn timevals(t: &Task, addr: u64) -> SysResult<(TimeChange, TimeChange)> {
    if addr == 0 {
        return Ok((TimeChange::Now, TimeChange::Now));
    }
    let tv: [Timeval; 2] = t.copy_in_obj(addr)?;
    let one = |v: Timeval| -> SysResult<TimeChange> {
        if !(0..1_000_000).contains(&v.usec) {
            return Err(Errno::EINVAL);
        }
        Ok(TimeChange::Set(Timespec {
            sec: v.sec,
            nsec: v.usec * 1000,
        }))
    };
    Ok((one(tv[0])?, one(tv[1])?))
}

fn apply(
    t: &Task,
    dirfd: i32,
    path: u64,
    follow: bool,
    empty_ok: bool,
    (atime, mtime): (TimeChange, TimeChange),
) -> SyscallResult {
    let p = resolve_for_attr(t, dirfd, path, follow, empty_ok)?;
    p.utimens(&t.creds.fs_creds(), atime, mtime)?;
    ok_zero()
}

/// utimensat(2). A NULL path names `dirfd` itself (futimens); AT_SYMLINK_NOFOLLOW then is
/// EINVAL, as Linux answers.
pub fn sys_utimensat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(3);
    if flags & !(f::AT_SYMLINK_NOFOLLOW | f::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let times = timespecs(t, args.ptr(2))?;
    let path = args.ptr(1);
    if path == 0 {
        if flags & f::AT_SYMLINK_NOFOLLOW != 0 {
            return Err(Errno::EINVAL);
        }
        let dirfd = args.dirfd(0);
        if dirfd == f::AT_FDCWD {
            return Err(Errno::EFAULT);
        }
        return apply(t, dirfd, 0, true, true, times);
    }
    apply(
        t,
        args.dirfd(0),
        path,
        flags & f::AT_SYMLINK_NOFOLLOW == 0,
        flags & f::AT_EMPTY_PATH != 0,
        times,
    )
}

/// utimes(2).
pub fn sys_utimes(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let times = timevals(t, args.ptr(1))?;
    apply(t, f::AT_FDCWD, args.ptr(0), true, false, times)
}

/// futimesat(2): utimes relative to a directory fd.
pub fn sys_futimesat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let times = timevals(t, args.ptr(2))?;
    apply(t, args.dirfd(0), args.ptr(1), true, false, times)
}

/// utime(2): `struct utimbuf { time_t actime, modtime; }` in whole seconds.
pub fn sys_utime(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let addr = args.ptr(1);
    let times = if addr == 0 {
        (TimeChange::Now, TimeChange::Now)
    } else {
        let b: [i64; 2] = t.copy_in_obj(addr)?;
        (
            TimeChange::Set(Timespec { sec: b[0], nsec: 0 }),
            TimeChange::Set(Timespec { sec: b[1], nsec: 0 }),
        )
    };
    apply(t, f::AT_FDCWD, args.ptr(0), true, false, times)
}
