//! File data syscalls beyond read/write: memfd_create, fallocate, fadvise64, the positioned
//! vector calls (preadv, pwritev, preadv2, pwritev2), sendfile and copy_file_range (mincore is
//! in `mm.rs`).
//!
//! sendfile and copy_file_range move data through a sentry buffer (one read, one write per
//! step of at most [`STEP`] bytes); Linux splices page references instead, which nobody can
//! observe except by timing.

use std::sync::Arc;

use abi::Errno;
use abi::file as f;
use vfs::OpenFile;

use super::fs::{self, MAX_RW_COUNT};
use super::{SyscallArgs, SyscallResult, ok_usize, ok_zero};
use crate::kernel::Task;

/// Bytes moved per read/write pair by sendfile and copy_file_range.
const STEP: usize = 1 << 20;

/// memfd_create(2): an unlinked tmpfs file (see `vfs::tmpfs::MemfdFs`). MFD_HUGETLB is
/// EINVAL (the sandbox has no hugetlbfs).
pub fn sys_memfd_create(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(1);
    let known = f::MFD_CLOEXEC | f::MFD_ALLOW_SEALING | f::MFD_NOEXEC_SEAL | f::MFD_EXEC;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & f::MFD_EXEC != 0 && flags & f::MFD_NOEXEC_SEAL != 0 {
        return Err(Errno::EINVAL);
    }
    // The name's NUL must be within MFD_NAME_MAX_LEN + 1 bytes, else EINVAL (mm/memfd.c).
    let name = match t.mm.copy_in_cstring(args.ptr(0), f::MFD_NAME_MAX_LEN + 1) {
        Err(Errno::ENAMETOOLONG) => return Err(Errno::EINVAL),
        r => r?,
    };
    let opts = vfs::tmpfs::MemfdOpts {
        allow_sealing: flags & f::MFD_ALLOW_SEALING != 0,
        noexec_seal: flags & f::MFD_NOEXEC_SEAL != 0,
    };
    let creds = t.creds.fs_creds();
    let file = t.kernel.memfds.create(&name, opts, &creds)?;
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let fd = t
        .fds()
        .insert_from(0, file, flags & f::MFD_CLOEXEC != 0, limit)?;
    ok_usize(usize::try_from(fd).map_err(|_| Errno::EMFILE)?)
}

/// Every fallocate(2) mode bit Linux knows (FALLOC_FL_SUPPORTED_MASK, with
/// FALLOC_FL_WRITE_ZEROES = 0x80); the rest is EOPNOTSUPP.
const FALLOC_KNOWN: u32 = f::FALLOC_FL_KEEP_SIZE
    | f::FALLOC_FL_PUNCH_HOLE
    | f::FALLOC_FL_NO_HIDE_STALE
    | f::FALLOC_FL_COLLAPSE_RANGE
    | f::FALLOC_FL_ZERO_RANGE
    | f::FALLOC_FL_INSERT_RANGE
    | f::FALLOC_FL_UNSHARE_RANGE
    | 0x80;

/// fallocate(2), in vfs_fallocate's order: EINVAL for a negative offset or a length ≤ 0,
/// EOPNOTSUPP for unknown modes and a hole punch without FALLOC_FL_KEEP_SIZE, then the file
/// checks and EFBIG (`OpenFile::fallocate`). tmpfs implements
/// allocation and hole punching; other files answer EOPNOTSUPP (9P) or EROFS.
pub fn sys_fallocate(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let mode = args.uint(1);
    let off = args.long(2);
    let len = args.long(3);
    if off < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if mode & !FALLOC_KNOWN != 0
        || (mode & f::FALLOC_FL_PUNCH_HOLE != 0 && mode & f::FALLOC_FL_KEEP_SIZE == 0)
    {
        return Err(Errno::EOPNOTSUPP);
    }
    let file = t.fds().file(args.fd(0))?;
    // Both are positive here; EFBIG is decided after the file checks, as Linux does.
    file.fallocate(mode, off.unsigned_abs(), len.unsigned_abs())?;
    ok_zero()
}

/// fadvise64(2). The advice is a hint and taking no action is what Linux does for files
/// without a page cache; so after validation this returns 0 without doing anything.
pub fn sys_fadvise64(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    let len = args.long(2);
    let advice = args.int(3);
    // generic_fadvise: pipes first (ESPIPE), then a negative length or unknown advice.
    if file
        .stat()
        .is_ok_and(|st| st.mode & f::S_IFMT == f::S_IFIFO)
    {
        return Err(Errno::ESPIPE);
    }
    if len < 0 || !(f::POSIX_FADV_NORMAL..=f::POSIX_FADV_NOREUSE).contains(&advice) {
        return Err(Errno::EINVAL);
    }
    ok_zero()
}

/// The `pos_l` argument of the p*v calls. On 64-bit kernels `pos_h` shifts out entirely
/// (pos_from_hilo), so `pos_l` is the whole offset.
fn vec_offset(args: &SyscallArgs, v2: bool) -> abi::SysResult<Option<u64>> {
    match args.long(3) {
        -1 if v2 => Ok(None),
        o => u64::try_from(o).map(Some).map_err(|_| Errno::EINVAL),
    }
}

/// preadv2/pwritev2 flags Linux accepts for these files: RWF_HIPRI, DSYNC, SYNC (no-ops here:
/// no polling, data is written through), NOWAIT (reads and writes that would block fail with
/// EAGAIN), APPEND and NOAPPEND. Unknown bits (RWF_ATOMIC and RWF_DONTCACHE included, which
/// tmpfs and 9P do not support) are EOPNOTSUPP.
fn rwf_flags(args: &SyscallArgs) -> abi::SysResult<u32> {
    let flags = args.uint(5);
    let known =
        f::RWF_HIPRI | f::RWF_DSYNC | f::RWF_SYNC | f::RWF_NOWAIT | f::RWF_APPEND | f::RWF_NOAPPEND;
    if flags & !known != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(flags)
}

/// preadv(2).
pub fn sys_preadv(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let at = vec_offset(args, false)?;
    fs::do_readv(t, args, at, 0)
}

/// preadv2(2): offset -1 reads at (and advances) the file offset.
pub fn sys_preadv2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = rwf_flags(args)?;
    let at = vec_offset(args, true)?;
    fs::do_readv(t, args, at, flags)
}

/// pwritev(2).
pub fn sys_pwritev(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let at = vec_offset(args, false)?;
    fs::do_writev(t, args, at, 0)
}

/// pwritev2(2): offset -1 writes at (and advances) the file offset; RWF_APPEND appends.
pub fn sys_pwritev2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = rwf_flags(args)?;
    let at = vec_offset(args, true)?;
    fs::do_writev(t, args, at, flags)
}

/// Reads a `loff_t *` argument: EFAULT if unreadable, EINVAL if negative.
fn read_offset(t: &Task, addr: u64) -> abi::SysResult<u64> {
    let v: i64 = t.copy_in_obj(addr)?;
    u64::try_from(v).map_err(|_| Errno::EINVAL)
}

fn write_offset(t: &Task, addr: u64, off: u64) -> abi::SysResult<()> {
    t.copy_out_obj(addr, &i64::try_from(off).unwrap_or(i64::MAX))
}

/// sendfile(2): up to `count` bytes from `in_fd` (at `*offset`, which is updated, or at its
/// file offset, which advances) to `out_fd`. EINVAL if `out_fd` is O_APPEND or `in_fd` is a
/// pipe or directory, ESPIPE for an offset on a stream, EBADF for wrong access modes.
pub fn sys_sendfile(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let out = t.fds().file(args.fd(0))?;
    let inf = t.fds().file(args.fd(1))?;
    let off_ptr = args.ptr(2);
    let count = usize::try_from(args.size(3).min(MAX_RW_COUNT)).unwrap_or(STEP);
    if !inf.is_readable() || !out.is_writable() {
        return Err(Errno::EBADF);
    }
    if out.flags() & f::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    if inf.is_stream() && off_ptr != 0 {
        return Err(Errno::ESPIPE);
    }
    // The input must be a file splice can read directly: a pipe (splice's job) or a directory
    // is EINVAL.
    let in_is_fifo = inf.stat().is_ok_and(|st| st.mode & f::S_IFMT == f::S_IFIFO);
    if inf.is_dir() || in_is_fifo {
        return Err(Errno::EINVAL);
    }
    let mut pos = if off_ptr == 0 {
        None
    } else {
        Some(read_offset(t, off_ptr)?)
    };
    if count == 0 {
        return ok_zero();
    }
    let mut buf = vec![0u8; count.min(STEP)];
    let mut done = 0usize;
    let mut err = None;
    while done < count {
        let want = (count - done).min(STEP);
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        let got = match pos {
            Some(p) => inf.pread(chunk, p),
            None => inf.read(chunk),
        };
        let n = match got {
            Ok(0) => break,
            Ok(n) => n.min(want),
            Err(e) => {
                err = Some(e);
                break;
            }
        };
        let (w, werr) = match fs::write_all(t, &out, buf.get(..n).unwrap_or_default()) {
            Ok(w) => (w.min(n), None),
            Err(e) => (0, Some(e)),
        };
        done += w;
        if let Some(p) = pos.as_mut() {
            *p = p.saturating_add(w as u64);
        } else if w < n {
            // Give back to the input what the output did not take.
            let back = i64::try_from(n - w).unwrap_or(0);
            let _ = inf.seek(-back, f::SEEK_CUR);
        }
        if werr.is_some() {
            err = werr;
            break;
        }
        if w < n || n < want {
            break;
        }
    }
    if let Some(p) = pos {
        write_offset(t, off_ptr, p)?;
    }
    super::io_result(done, err)
}

/// The regular file behind `fd` for copy_file_range: EISDIR for directories, EINVAL for other
/// non-regular files.
fn regular(t: &Task, fd: i32) -> abi::SysResult<(Arc<OpenFile>, f::Stat)> {
    let file = t.fds().file(fd)?;
    if file.is_path_only() {
        return Err(Errno::EBADF);
    }
    let st = file.stat()?;
    match st.mode & f::S_IFMT {
        f::S_IFREG => Ok((file, st)),
        f::S_IFDIR => Err(Errno::EISDIR),
        _ => Err(Errno::EINVAL),
    }
}

/// copy_file_range(2) between regular files of one filesystem (EXDEV across filesystems, as
/// Linux answers when neither has a copy_file_range operation): EINVAL for flags, for
/// overlapping ranges of one file and for non-regular files; EBADF for wrong access modes or
/// an O_APPEND output.
pub fn sys_copy_file_range(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let off_in_ptr = args.ptr(1);
    let off_out_ptr = args.ptr(3);
    let len = usize::try_from(args.size(4).min(MAX_RW_COUNT)).unwrap_or(STEP);
    if args.uint(5) != 0 {
        return Err(Errno::EINVAL);
    }
    let (inf, in_st) = regular(t, args.fd(0))?;
    let (out, out_st) = regular(t, args.fd(2))?;
    if !inf.is_readable() || !out.is_writable() || out.flags() & f::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let start_in = match off_in_ptr {
        0 => inf.seek(0, f::SEEK_CUR)?,
        p => read_offset(t, p)?,
    };
    let start_out = match off_out_ptr {
        0 => out.seek(0, f::SEEK_CUR)?,
        p => read_offset(t, p)?,
    };
    let lenu = len as u64;
    if start_in
        .checked_add(lenu)
        .is_none_or(|e| i64::try_from(e).is_err())
        || start_out
            .checked_add(lenu)
            .is_none_or(|e| i64::try_from(e).is_err())
    {
        return Err(Errno::EOVERFLOW);
    }
    let same = in_st.dev == out_st.dev && in_st.ino == out_st.ino;
    if same && start_in < start_out + lenu && start_out < start_in + lenu {
        return Err(Errno::EINVAL);
    }
    if in_st.dev != out_st.dev {
        return Err(Errno::EXDEV);
    }
    if len == 0 {
        return ok_zero();
    }
    let mut buf = vec![0u8; len.min(STEP)];
    let mut done = 0usize;
    let mut err = None;
    while done < len {
        let want = (len - done).min(STEP);
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        let n = match inf.pread(chunk, start_in + done as u64) {
            Ok(0) => break,
            Ok(n) => n.min(want),
            Err(e) => {
                err = Some(e);
                break;
            }
        };
        match out.pwrite(buf.get(..n).unwrap_or_default(), start_out + done as u64) {
            Ok(w) => {
                done += w.min(n);
                if w < n {
                    break;
                }
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
        if n < want {
            break;
        }
    }
    let moved = done as u64;
    match off_in_ptr {
        0 => {
            inf.seek(
                i64::try_from(start_in + moved).unwrap_or(i64::MAX),
                f::SEEK_SET,
            )?;
        }
        p => write_offset(t, p, start_in + moved)?,
    }
    match off_out_ptr {
        0 => {
            out.seek(
                i64::try_from(start_out + moved).unwrap_or(i64::MAX),
                f::SEEK_SET,
            )?;
        }
        p => write_offset(t, p, start_out + moved)?,
    }
    super::io_result(done, err)
}
