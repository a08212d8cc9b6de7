//! The host calls `nix` does not wrap in a usable form: getdents64(2) (nix has no binding
//! that exposes `d_off`, which resumable Treaddir offsets need), fstatfs(2) (nix hides
//! `f_fsid`) and the extended-attribute calls (fgetxattr, flistxattr, fsetxattr,
//! fremovexattr, and Linux 6.13's getxattrat/listxattrat/setxattrat/removexattrat for
//! symlinks and special files: nix has none). Everything else the gofer does goes through `nix`'s safe
//! wrappers.
//!
//! The raw buffer returned by getdents64 is parsed by safe code ([`parse_dirents`]) with
//! checked bounds: a record that runs past the buffer ends parsing instead of panicking.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

use abi::Errno;

/// The host errno of the last failed libc call, as a Linux `Errno`.
fn last_errno() -> Errno {
    crate::server::nix_to_errno(nix::errno::Errno::last())
}

/// getdents64(2) into `buf`; returns the number of bytes filled (0 at end of directory).
pub(crate) fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: getdents64(fd, dirp, count) writes at most `count` bytes to `dirp`.
    // 1. `buf.as_mut_ptr()` is valid for writes of `buf.len()` bytes for the whole call: `buf`
    //    is an exclusive borrow that outlives the call.
    // 2. `fd` is a live descriptor for the duration of the call (`BorrowedFd` lifetime); a bad
    //    or non-directory fd only makes the kernel return an error.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if ret < 0 {
        return Err(last_errno());
    }
    usize::try_from(ret).map_err(|_| Errno::EIO)
}

/// One parsed `struct linux_dirent64` (include/linux/dirent.h).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostDirent {
    pub(crate) ino: u64,
    /// Opaque position of the *next* entry (lseek(2) to it to resume after this one).
    pub(crate) off: u64,
    pub(crate) ty: u8,
    pub(crate) name: Vec<u8>,
}

/// Parses getdents64 output: `d_ino[8] d_off[8] d_reclen[2] d_type[1] d_name[NUL-terminated]`,
/// each record `d_reclen` bytes long. Stops at the first malformed record.
pub(crate) fn parse_dirents(mut buf: &[u8]) -> Vec<HostDirent> {
    let mut out = Vec::new();
    while let Some(head) = buf.get(..19) {
        let ino = u64::from_ne_bytes(head[0..8].try_into().unwrap_or([0; 8]));
        let off = u64::from_ne_bytes(head[8..16].try_into().unwrap_or([0; 8]));
        let reclen = usize::from(u16::from_ne_bytes(
            head[16..18].try_into().unwrap_or([0; 2]),
        ));
        let ty = head[18];
        let Some(rec) = buf.get(..reclen) else { break };
        let Some(name_area) = rec.get(19..) else {
            break;
        };
        let name_len = name_area
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_area.len());
        out.push(HostDirent {
            ino,
            off,
            ty,
            name: name_area.get(..name_len).unwrap_or_default().to_vec(),
        });
        buf = buf.get(reclen..).unwrap_or_default();
    }
    out
}

/// fstatfs(2) on any fd, O_PATH included (allowed since Linux 3.12, open(2)).
pub(crate) fn fstatfs(fd: BorrowedFd<'_>) -> Result<p9::StatFs, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: fstatfs(fd, buf) writes one `struct statfs` to `buf`.
    // 1. `st.as_mut_ptr()` points to writable, properly aligned storage for a `libc::statfs`
    //    owned by this frame.
    // 2. `fd` is live for the call (`BorrowedFd` lifetime).
    let ret = unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) };
    if ret < 0 {
        return Err(last_errno());
    }
    // SAFETY: the call succeeded, so the kernel filled the struct; it was zero-initialised
    // before, so every byte is initialised either way (statfs is plain integers).
    let st = unsafe { st.assume_init() };
    // `f_fsid` has private fields in libc's `fsid_t`; reading it would need another unsafe
    // reinterpretation for a value no guest program relies on, so it is reported as 0.
    Ok(p9::StatFs {
        ty: u32::try_from(st.f_type).unwrap_or(0),
        bsize: u32::try_from(st.f_bsize).unwrap_or(4096),
        blocks: st.f_blocks,
        bfree: st.f_bfree,
        bavail: st.f_bavail,
        files: st.f_files,
        ffree: st.f_ffree,
        fsid: 0,
        namelen: u32::try_from(st.f_namelen).unwrap_or(255),
    })
}

/// Largest attribute value or list the gofer reads (XATTR_SIZE_MAX / XATTR_LIST_MAX).
const XATTR_MAX: usize = 65536;

/// `name` as a C string: EINVAL for an interior NUL.
fn xattr_name(name: &[u8]) -> Result<std::ffi::CString, Errno> {
    std::ffi::CString::new(name).map_err(|_| Errno::EINVAL)
}

/// Runs a "size query, then fetch" xattr call: `call(buf_ptr, len)` is fgetxattr or
/// flistxattr. Retries once if the value grew between the two calls (ERANGE).
fn xattr_fetch(mut call: impl FnMut(*mut libc::c_void, usize) -> isize) -> Result<Vec<u8>, Errno> {
    for _ in 0..2 {
        let want = call(std::ptr::null_mut(), 0);
        if want < 0 {
            return Err(last_errno());
        }
        let len = usize::try_from(want)
            .map_err(|_| Errno::EIO)?
            .min(XATTR_MAX);
        let mut buf = vec![0u8; len];
        if len == 0 {
            return Ok(buf);
        }
        let got = call(buf.as_mut_ptr().cast(), buf.len());
        if got < 0 {
            let e = last_errno();
            if e == Errno::ERANGE {
                continue;
            }
            return Err(e);
        }
        buf.truncate(usize::try_from(got).map_err(|_| Errno::EIO)?);
        return Ok(buf);
    }
    Err(Errno::ERANGE)
}

/// fgetxattr(2): the whole value of `name`.
pub(crate) fn fgetxattr(fd: BorrowedFd<'_>, name: &[u8]) -> Result<Vec<u8>, Errno> {
    let name = xattr_name(name)?;
    xattr_fetch(|ptr, len| {
        // SAFETY: fgetxattr(fd, name, value, size) writes at most `size` bytes to `value`.
        // 1. `name` is a NUL-terminated string that outlives the call.
        // 2. `ptr` is either null with `len` 0 (a size query) or `buf.as_mut_ptr()` of a live
        //    `Vec` of exactly `len` bytes, exclusively borrowed by `xattr_fetch` for the call.
        // 3. `fd` is live for the call (`BorrowedFd` lifetime).
        unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), ptr, len) }
    })
}

/// flistxattr(2): the NUL-separated names.
pub(crate) fn flistxattr(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Errno> {
    xattr_fetch(|ptr, len| {
        // SAFETY: flistxattr(fd, list, size) writes at most `size` bytes to `list`; `ptr`
        // and `len` are as in `fgetxattr` (null/0 or a live buffer of `len` bytes), and `fd`
        // is live for the call.
        unsafe { libc::flistxattr(fd.as_raw_fd(), ptr.cast(), len) }
    })
}

/// fsetxattr(2) with setxattr `flags` (XATTR_CREATE/XATTR_REPLACE).
pub(crate) fn fsetxattr(
    fd: BorrowedFd<'_>,
    name: &[u8],
    value: &[u8],
    flags: u32,
) -> Result<(), Errno> {
    let name = xattr_name(name)?;
    let flags = i32::try_from(flags).map_err(|_| Errno::EINVAL)?;
    // SAFETY: fsetxattr(fd, name, value, size, flags) only reads `size` bytes from `value`.
    // 1. `name` is a NUL-terminated string that outlives the call.
    // 2. `value.as_ptr()` is valid for reads of `value.len()` bytes (a live shared borrow).
    // 3. `fd` is live for the call (`BorrowedFd` lifetime).
    let ret = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    };
    if ret < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// fremovexattr(2).
pub(crate) fn fremovexattr(fd: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
    let name = xattr_name(name)?;
    // SAFETY: fremovexattr(fd, name) only reads the NUL-terminated `name`, which outlives the
    // call; `fd` is live for the call (`BorrowedFd` lifetime).
    let ret = unsafe { libc::fremovexattr(fd.as_raw_fd(), name.as_ptr()) };
    if ret < 0 {
        return Err(last_errno());
    }
    Ok(())
}

// The *xattrat calls of Linux 6.13 (arch/x86/entry/syscalls/syscall_64.tbl); the libc crate
// does not name them yet.
const SYS_SETXATTRAT: libc::c_long = 463;
const SYS_GETXATTRAT: libc::c_long = 464;
const SYS_LISTXATTRAT: libc::c_long = 465;
const SYS_REMOVEXATTRAT: libc::c_long = 466;

/// `struct xattr_args` (include/uapi/linux/xattr.h).
#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

/// The `(dirfd, name)` of a file that is not followed if it is a symlink, for the *xattrat
/// calls: l*xattr relative to a held directory fd. ENOSYS before Linux 6.13.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AtName<'a> {
    pub(crate) dir: BorrowedFd<'a>,
    pub(crate) name: &'a std::ffi::CStr,
}

/// getxattrat(2) with AT_SYMLINK_NOFOLLOW: the whole value of `attr`.
pub(crate) fn getxattrat(at: AtName<'_>, attr: &[u8]) -> Result<Vec<u8>, Errno> {
    let attr = xattr_name(attr)?;
    xattr_fetch(|ptr, len| {
        let mut args = XattrArgs {
            value: ptr as u64,
            size: u32::try_from(len).unwrap_or(u32::MAX),
            flags: 0,
        };
        // SAFETY: getxattrat(dfd, path, at_flags, name, args, sizeof(args)) reads `args` and
        // writes at most `args.size` bytes to `args.value`.
        // 1. `at.name` and `attr` are NUL-terminated strings that outlive the call.
        // 2. `args` is a live, properly laid out `struct xattr_args` (repr(C), 16 bytes) and
        //    its size is passed; `args.value`/`args.size` are null/0 or a live buffer of
        //    `len` bytes exclusively borrowed by `xattr_fetch` for the call (`len` fits u32:
        //    it is at most XATTR_MAX).
        // 3. `at.dir` is live for the call (`BorrowedFd` lifetime).
        let ret = unsafe {
            libc::syscall(
                SYS_GETXATTRAT,
                at.dir.as_raw_fd(),
                at.name.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
                attr.as_ptr(),
                &raw mut args,
                size_of::<XattrArgs>(),
            )
        };
        isize::try_from(ret).unwrap_or(-1)
    })
}

/// listxattrat(2) with AT_SYMLINK_NOFOLLOW: the NUL-separated names.
pub(crate) fn listxattrat(at: AtName<'_>) -> Result<Vec<u8>, Errno> {
    xattr_fetch(|ptr, len| {
        // SAFETY: listxattrat(dfd, path, at_flags, list, size) writes at most `size` bytes to
        // `list`; `ptr`/`len` are null/0 or a live buffer of `len` bytes (as in `fgetxattr`),
        // `at.name` is NUL-terminated and `at.dir` live for the call.
        let ret = unsafe {
            libc::syscall(
                SYS_LISTXATTRAT,
                at.dir.as_raw_fd(),
                at.name.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
                ptr,
                len,
            )
        };
        isize::try_from(ret).unwrap_or(-1)
    })
}

/// setxattrat(2) with AT_SYMLINK_NOFOLLOW and setxattr `flags`.
pub(crate) fn setxattrat(
    at: AtName<'_>,
    attr: &[u8],
    value: &[u8],
    flags: u32,
) -> Result<(), Errno> {
    let attr = xattr_name(attr)?;
    let args = XattrArgs {
        value: value.as_ptr() as u64,
        size: u32::try_from(value.len()).map_err(|_| Errno::E2BIG)?,
        flags,
    };
    // SAFETY: setxattrat(dfd, path, at_flags, name, args, sizeof(args)) only reads `args` and
    // `args.size` bytes at `args.value`.
    // 1. `at.name` and `attr` are NUL-terminated strings that outlive the call.
    // 2. `args` is a live `struct xattr_args` (repr(C)) whose size is passed, and its value
    //    pointer/size describe `value`, a live shared borrow.
    // 3. `at.dir` is live for the call.
    let ret = unsafe {
        libc::syscall(
            SYS_SETXATTRAT,
            at.dir.as_raw_fd(),
            at.name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            attr.as_ptr(),
            &raw const args,
            size_of::<XattrArgs>(),
        )
    };
    if ret < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// removexattrat(2) with AT_SYMLINK_NOFOLLOW.
pub(crate) fn removexattrat(at: AtName<'_>, attr: &[u8]) -> Result<(), Errno> {
    let attr = xattr_name(attr)?;
    // SAFETY: removexattrat(dfd, path, at_flags, name) only reads the NUL-terminated
    // `at.name` and `attr`, which outlive the call; `at.dir` is live for the call.
    let ret = unsafe {
        libc::syscall(
            SYS_REMOVEXATTRAT,
            at.dir.as_raw_fd(),
            at.name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            attr.as_ptr(),
        )
    };
    if ret < 0 {
        return Err(last_errno());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ino: u64, off: u64, ty: u8, name: &[u8]) -> Vec<u8> {
        let reclen = (19 + name.len() + 1).next_multiple_of(8);
        let mut r = Vec::new();
        r.extend_from_slice(&ino.to_ne_bytes());
        r.extend_from_slice(&off.to_ne_bytes());
        r.extend_from_slice(&u16::try_from(reclen).unwrap().to_ne_bytes());
        r.push(ty);
        r.extend_from_slice(name);
        r.resize(reclen, 0);
        r
    }

    #[test]
    fn parse_two_records() {
        let mut buf = record(5, 100, 4, b"dir");
        buf.extend(record(6, 200, 8, b"a-longer-file-name"));
        let got = parse_dirents(&buf);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, b"dir");
        assert_eq!((got[0].ino, got[0].off, got[0].ty), (5, 100, 4));
        assert_eq!(got[1].name, b"a-longer-file-name");
        assert_eq!(got[1].off, 200);
    }

    #[test]
    fn parse_stops_at_truncated_record() {
        let mut buf = record(5, 100, 4, b"dir");
        let second = record(6, 200, 8, b"file");
        buf.extend_from_slice(&second[..second.len() - 3]);
        assert_eq!(parse_dirents(&buf).len(), 1);
        // A zero reclen must not loop forever.
        let mut zero = record(1, 1, 1, b"x");
        zero[16] = 0;
        zero[17] = 0;
        assert_eq!(parse_dirents(&zero), Vec::new());
    }
}
