//! flock(2) and fcntl(2)'s record-lock commands (F_GETLK/F_SETLK/F_SETLKW and the OFD
//! variants) over the lock table in `vfs::lock` (which owns the rules: owners, ranges,
//! conflicts, deadlock detection). This file decodes arguments, turns `struct flock` into a
//! byte range, and does the blocking: a waiting call registers on the file's lock queue
//! (`vfs::lock::LockWait`), retries after every change, and ends with ERESTARTSYS when a
//! signal arrives (EINTR, or a restart under SA_RESTART, as Linux's
//! wait_event_interruptible gives).

use abi::Errno;
use abi::file::{self as f, Flock};
use vfs::OpenFile;
use vfs::lock::{self, FlockType, LockType, LockWait, OFFSET_MAX, Owner, RecordLock};
use vfs::waiter::EventMask;

use super::{SyscallArgs, SyscallResult, ok_zero};
use crate::kernel::Task;

/// Retries `op` (which answers EAGAIN on a conflict) until it stops conflicting, sleeping on
/// `key`'s lock queue in between; a signal ends the wait with ERESTARTSYS.
fn wait_for_lock(
    t: &Task,
    key: lock::FileKey,
    mut op: impl FnMut(&LockWait) -> abi::SysResult<()>,
) -> abi::SysResult<()> {
    let w = LockWait::new(key);
    let _reg = w.queue().register(t.waiter(), EventMask::IN);
    loop {
        t.prepare_wait();
        match op(&w) {
            Err(Errno::EAGAIN) => {}
            r => return r,
        }
        t.wait(None)?;
    }
}

/// flock(2).
pub fn sys_flock(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    let op = args.uint(1);
    if file.is_path_only() {
        return Err(Errno::EBADF);
    }
    let ty = match op & !(f::LOCK_NB | f::LOCK_MAND) {
        f::LOCK_SH => Some(FlockType::Shared),
        f::LOCK_EX => Some(FlockType::Exclusive),
        f::LOCK_UN => None,
        _ => return Err(Errno::EINVAL),
    };
    // LOCK_MAND is obsolete: Linux (5.15+) warns and ignores the whole call.
    if op & f::LOCK_MAND != 0 {
        return ok_zero();
    }
    let key = file.lock_key()?;
    let ofd = file.lock_owner_id();
    let pid = t.tgid();
    let res = if ty.is_some() && op & f::LOCK_NB == 0 {
        wait_for_lock(t, key, |_| lock::flock(key, ofd, ty, pid))
    } else {
        lock::flock(key, ofd, ty, pid)
    };
    // flock(2): EWOULDBLOCK (== EAGAIN) when LOCK_NB finds a conflict.
    res?;
    ok_zero()
}

/// The byte range `[start, end]` a `struct flock` names, relative to `file`
/// (fs/locks.c flock_to_posix_lock): EINVAL for a bad whence or a start before 0, EOVERFLOW
/// past OFFSET_MAX.
fn lock_range(file: &OpenFile, fl: &Flock) -> abi::SysResult<(u64, u64)> {
    let base: i64 = match u32::try_from(fl.l_whence).map_err(|_| Errno::EINVAL)? {
        f::SEEK_SET => 0,
        f::SEEK_CUR => {
            let pos = file.seek(0, f::SEEK_CUR)?;
            i64::try_from(pos).map_err(|_| Errno::EOVERFLOW)?
        }
        f::SEEK_END => {
            let size = file.stat()?.size;
            size.max(0)
        }
        _ => return Err(Errno::EINVAL),
    };
    let start = base.checked_add(fl.l_start).ok_or(Errno::EOVERFLOW)?;
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    let (start, end) = match fl.l_len {
        0 => (start, i64::MAX),
        len if len > 0 => {
            if len - 1 > i64::MAX - start {
                return Err(Errno::EOVERFLOW);
            }
            (start, start + (len - 1))
        }
        len => {
            let s = start.checked_add(len).ok_or(Errno::EINVAL)?;
            if s < 0 {
                return Err(Errno::EINVAL);
            }
            (s, start - 1)
        }
    };
    let start = u64::try_from(start).map_err(|_| Errno::EINVAL)?;
    let end = u64::try_from(end).map_err(|_| Errno::EINVAL)?;
    Ok((start, end))
}

fn lock_type(l_type: i16) -> abi::SysResult<Option<LockType>> {
    match l_type {
        f::F_RDLCK => Ok(Some(LockType::Read)),
        f::F_WRLCK => Ok(Some(LockType::Write)),
        f::F_UNLCK => Ok(None),
        _ => Err(Errno::EINVAL),
    }
}

/// fcntl(2) F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW.
pub(super) fn fcntl_lock(t: &mut Task, fd: i32, cmd: u32, arg: u64) -> SyscallResult {
    let file = t.fds().file(fd)?;
    if file.is_path_only() {
        return Err(Errno::EBADF);
    }
    let mut fl: Flock = t.copy_in_obj(arg)?;
    let ofd = matches!(cmd, f::F_OFD_GETLK | f::F_OFD_SETLK | f::F_OFD_SETLKW);
    if ofd && fl.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let ty = lock_type(fl.l_type)?;
    let (start, end) = lock_range(&file, &fl)?;
    let key = file.lock_key()?;
    let (owner, pid) = if ofd {
        (Owner::Ofd(file.lock_owner_id()), 0)
    } else {
        (Owner::Posix(t.fds().posix_lock_owner()), t.tgid())
    };
    if matches!(cmd, f::F_GETLK | f::F_OFD_GETLK) {
        let Some(ty) = ty else {
            return Err(Errno::EINVAL);
        };
        let req = RecordLock {
            owner,
            ty,
            start,
            end,
            pid,
        };
        match lock::test_record(key, &req) {
            None => fl.l_type = f::F_UNLCK,
            Some(held) => {
                fl.l_type = match held.ty {
                    LockType::Read => f::F_RDLCK,
                    LockType::Write => f::F_WRLCK,
                };
                fl.l_whence = 0;
                fl.l_start = i64::try_from(held.start).unwrap_or(i64::MAX);
                fl.l_len = if held.end == OFFSET_MAX {
                    0
                } else {
                    i64::try_from(held.end - held.start + 1).unwrap_or(0)
                };
                fl.l_pid = match held.owner {
                    Owner::Posix(_) => held.pid,
                    Owner::Ofd(_) => -1,
                };
            }
        }
        t.copy_out_obj(arg, &fl)?;
        return ok_zero();
    }
    match ty {
        Some(LockType::Read) if !file.is_readable() => return Err(Errno::EBADF),
        Some(LockType::Write) if !file.is_writable() => return Err(Errno::EBADF),
        _ => {}
    }
    let wait = matches!(cmd, f::F_SETLKW | f::F_OFD_SETLKW);
    if wait && ty.is_some() {
        wait_for_lock(t, key, |w| {
            lock::set_record(key, owner, ty, start, end, pid, Some(w))
        })?;
    } else {
        lock::set_record(key, owner, ty, start, end, pid, None)?;
    }
    ok_zero()
}
