//! openat2(2): open with a versioned `struct open_how` and RESOLVE_* restrictions.
//!
//! This file validates `open_how` the way fs/open.c build_open_flags does (strict flags,
//! mode only with O_CREAT/O_TMPFILE, known resolve bits, BENEATH and IN_ROOT exclusive,
//! O_PATH with only O_PATH's flags) and hands the walk to `vfs::Lookup::open_resolve`, which
//! enforces NO_XDEV, NO_MAGICLINKS, NO_SYMLINKS, BENEATH and IN_ROOT in the path walk itself.
//! RESOLVE_CACHED: every lookup here is answered from the sentry's dentry cache or one walk,
//! so it is honoured by walking normally, except that creating and truncating opens are
//! EAGAIN, as Linux says for them.

use abi::Errno;
use abi::file::{self as f, OPEN_HOW_SIZE_VER0, OpenHow};
use vfs::{Lookup, Resolve};
use zerocopy::FromBytes;

use super::{SyscallArgs, SyscallResult, ok_usize};
use crate::kernel::Task;

/// VALID_OPEN_FLAGS (include/linux/fcntl.h).
const VALID_OPEN_FLAGS: u64 = (f::O_ACCMODE
    | f::O_CREAT
    | f::O_EXCL
    | f::O_NOCTTY
    | f::O_TRUNC
    | f::O_APPEND
    | f::O_NONBLOCK
    | f::O_SYNC
    | f::O_DSYNC
    | f::O_ASYNC
    | f::O_DIRECT
    | f::O_LARGEFILE
    | f::O_DIRECTORY
    | f::O_NOFOLLOW
    | f::O_NOATIME
    | f::O_CLOEXEC
    | f::O_PATH
    | f::O_TMPFILE) as u64;

/// The flags O_PATH may come with (O_PATH_FLAGS in fs/open.c).
const O_PATH_FLAGS: u32 = f::O_DIRECTORY | f::O_NOFOLLOW | f::O_PATH | f::O_CLOEXEC;

/// The largest `open_how` accepted (PAGE_SIZE): beyond it E2BIG.
const MAX_HOW_SIZE: u64 = abi::mm::PAGE_SIZE;

/// Validates `how`: the open flags, the mode to create with, and the restrictions.
fn check_how(how: &OpenHow) -> Result<(u32, u32, Resolve), Errno> {
    if how.flags & !VALID_OPEN_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = u32::try_from(how.flags).map_err(|_| Errno::EINVAL)?;
    if how.resolve & !f::RESOLVE_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if how.resolve & f::RESOLVE_BENEATH != 0 && how.resolve & f::RESOLVE_IN_ROOT != 0 {
        return Err(Errno::EINVAL);
    }
    let creates = flags & (f::O_CREAT | f::O_TMPFILE) != 0;
    let mode = if creates {
        if how.mode & !u64::from(f::S_IALLUGO) != 0 {
            return Err(Errno::EINVAL);
        }
        u32::try_from(how.mode).map_err(|_| Errno::EINVAL)?
    } else {
        if how.mode != 0 {
            return Err(Errno::EINVAL);
        }
        0
    };
    if flags & f::O_PATH != 0 && flags & !O_PATH_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if how.resolve & f::RESOLVE_CACHED != 0 && flags & (f::O_TRUNC | f::O_CREAT | f::O_TMPFILE) != 0
    {
        return Err(Errno::EAGAIN);
    }
    Ok((flags, mode, Resolve(how.resolve)))
}

/// openat2(2).
pub fn sys_openat2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (dirfd, path_addr, how_addr, size) =
        (args.dirfd(0), args.ptr(1), args.ptr(2), args.size(3));
    if size < OPEN_HOW_SIZE_VER0 as u64 {
        return Err(Errno::EINVAL);
    }
    if size > MAX_HOW_SIZE {
        return Err(Errno::E2BIG);
    }
    // copy_struct_from_user: a larger struct is fine if what we do not know is zero.
    let mut raw = vec![0u8; usize::try_from(size).map_err(|_| Errno::E2BIG)?];
    t.mm.copy_in(how_addr, &mut raw)?;
    let (known, rest) = raw.split_at(OPEN_HOW_SIZE_VER0);
    if rest.iter().any(|b| *b != 0) {
        return Err(Errno::E2BIG);
    }
    let how = OpenHow::read_from_bytes(known).map_err(|_| Errno::EINVAL)?;
    let (flags, mode, resolve) = check_how(&how)?;
    let path = t.copy_in_path(path_addr)?;
    let mode = mode & !t.fs().umask;
    let scoped = resolve.0 & (f::RESOLVE_BENEATH | f::RESOLVE_IN_ROOT) != 0;
    let file = if scoped {
        // The scope is the dirfd (or cwd) even for an absolute path (IN_ROOT resolves it
        // there; BENEATH refuses it in the walk).
        let creds = t.creds.fs_creds();
        let (root, cwd) = {
            let fs = t.fs();
            (fs.root.clone(), fs.cwd.clone())
        };
        let start = if dirfd == f::AT_FDCWD {
            cwd
        } else {
            let file = t.fds().file(dirfd)?;
            let start = file.path().cloned().ok_or(Errno::ENOTDIR)?;
            if !start.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            start
        };
        let l = Lookup {
            root: &root,
            start: &start,
            creds: &creds,
        };
        l.open_resolve(&path, flags, mode, resolve)?
    } else {
        t.with_lookup(dirfd, &path, |l| {
            l.open_resolve(&path, flags, mode, resolve)
        })?
    };
    let file = crate::tty::on_open(t, file, flags)?;
    let cloexec = flags & f::O_CLOEXEC != 0;
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let fd = t.fds().insert_from(0, file, cloexec, limit)?;
    ok_usize(usize::try_from(fd).map_err(|_| Errno::EMFILE)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn how(flags: u32, mode: u64, resolve: u64) -> OpenHow {
        OpenHow {
            flags: u64::from(flags),
            mode,
            resolve,
        }
    }

    #[test]
    fn open_how_validation_matches_build_open_flags() {
        assert_eq!(check_how(&how(f::O_RDONLY, 0, 0)), Ok((0, 0, Resolve(0))));
        assert_eq!(check_how(&how(0, 0o644, 0)), Err(Errno::EINVAL));
        assert_eq!(
            check_how(&how(f::O_CREAT, 0o644, 0)),
            Ok((f::O_CREAT, 0o644, Resolve(0)))
        );
        assert_eq!(check_how(&how(f::O_CREAT, 0o10000, 0)), Err(Errno::EINVAL));
        assert_eq!(
            check_how(&OpenHow {
                flags: 1 << 40,
                ..OpenHow::default()
            }),
            Err(Errno::EINVAL)
        );
        assert_eq!(check_how(&how(0, 0, 0x40)), Err(Errno::EINVAL));
        assert_eq!(
            check_how(&how(0, 0, f::RESOLVE_BENEATH | f::RESOLVE_IN_ROOT)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_how(&how(f::O_PATH | f::O_RDWR, 0, 0)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_how(&how(f::O_CREAT, 0o600, f::RESOLVE_CACHED)),
            Err(Errno::EAGAIN)
        );
    }
}
