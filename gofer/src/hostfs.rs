//! The two host calls `nix` does not wrap in a usable form: getdents64(2) (nix has no binding
//! that exposes `d_off`, which resumable Treaddir offsets need) and fstatfs(2) (nix hides
//! `f_fsid`). Everything else the gofer does goes through `nix`'s safe wrappers.
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
