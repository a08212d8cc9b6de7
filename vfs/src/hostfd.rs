//! Host-fd files: the stdio fds (and a TTY) handed in by the runtime, wrapped as
//! [`OpenFile`]s without a VFS location.
//!
//! read/write go to the host fd (pread/pwrite at the description's offset when the host file
//! is seekable, plain read/write for pipes, sockets and terminals). fstat reports the host's
//! `struct stat` as-is (host device and inode numbers included, for now). On a terminal,
//! TCGETS/TCSETS*/TIOCGWINSZ/TIOCSWINSZ pass through to the host with the values copied via
//! [`UserMemory`]; TIOCGPGRP/TIOCSPGRP use a foreground process group remembered here in the
//! guest's pid space (the host's would mean nothing to the app), initially 1 (the sandbox's
//! init); TIOCSCTTY/TIOCNOTTY are accepted; FIONREAD passes through. Anything else: ENOTTY.
//!
//! Shortcut (to revisit with the sentry's wait queues): a blocking read blocks the calling
//! sentry thread in the host read(2), and a host EINTR is returned to the app as EINTR.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use abi::file::{self as f, Stat, StatFs};
use abi::ioctl::{
    FIONREAD, NCCS, TCGETS, TCSETS, TCSETSF, TCSETSW, TIOCGPGRP, TIOCGWINSZ, TIOCNOTTY,
    TIOCSCTTY, TIOCSPGRP, TIOCSWINSZ, Termios, Winsize,
};
use abi::{Errno, SysResult};
use zerocopy::{FromBytes, IntoBytes};

use crate::file::OpenFile;
use crate::inode::FileOps;
use crate::mount::lock;
use crate::UserMemory;

/// Host errno to guest errno (same numbers on the same architecture).
fn from_nix(e: nix::errno::Errno) -> Errno {
    Errno::from_raw(u16::try_from(e as i32).unwrap_or(5))
}

fn from_rustix(e: rustix::io::Errno) -> Errno {
    Errno::from_raw(u16::try_from(e.raw_os_error()).unwrap_or(5))
}

#[derive(Debug)]
struct HostFile {
    fd: OwnedFd,
    is_seekable: bool,
    is_tty: bool,
    /// Foreground process group for TIOCGPGRP/TIOCSPGRP (guest pid space).
    fg_pgrp: Mutex<i32>,
}

/// Wraps a host fd handed in by the runtime. The access mode comes from the host's
/// F_GETFL, so a read-only stdin stays read-only.
pub fn host_file(fd: OwnedFd) -> SysResult<Arc<OpenFile>> {
    let st = nix::sys::stat::fstat(&fd).map_err(from_nix)?;
    let fmt = st.st_mode & f::S_IFMT;
    let is_seekable = fmt == f::S_IFREG || fmt == f::S_IFBLK;
    let is_tty = nix::unistd::isatty(&fd).unwrap_or(false);
    let host_flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL).map_err(from_nix)?;
    let host_flags = u32::try_from(host_flags).unwrap_or(0);
    let flags = host_flags & (f::O_ACCMODE | f::O_APPEND | f::O_NONBLOCK);
    let file = HostFile { fd, is_seekable, is_tty, fg_pgrp: Mutex::new(1) };
    Ok(OpenFile::new_ops(None, Box::new(file), flags))
}

impl HostFile {
    fn termios_out(&self, mem: &dyn UserMemory, arg: u64) -> SysResult<u64> {
        let t = nix::sys::termios::tcgetattr(self.fd.as_fd()).map_err(from_nix)?;
        let raw = libc::termios::from(t);
        let mut out = Termios {
            iflag: raw.c_iflag,
            oflag: raw.c_oflag,
            cflag: raw.c_cflag,
            lflag: raw.c_lflag,
            line: raw.c_line,
            cc: [0; NCCS],
        };
        for (d, s) in out.cc.iter_mut().zip(raw.c_cc.iter()) {
            *d = *s;
        }
        mem.copy_out(arg, out.as_bytes())?;
        Ok(0)
    }

    fn termios_in(&self, mem: &dyn UserMemory, arg: u64, cmd: u32) -> SysResult<u64> {
        let mut buf = [0u8; size_of::<Termios>()];
        mem.copy_in(arg, &mut buf)?;
        let t = Termios::read_from_bytes(&buf).map_err(|_| Errno::EFAULT)?;
        // Start from the current settings so glibc-only fields (speeds) keep their values.
        let cur = nix::sys::termios::tcgetattr(self.fd.as_fd()).map_err(from_nix)?;
        let mut raw = libc::termios::from(cur);
        raw.c_iflag = t.iflag;
        raw.c_oflag = t.oflag;
        raw.c_cflag = t.cflag;
        raw.c_lflag = t.lflag;
        raw.c_line = t.line;
        for (d, s) in raw.c_cc.iter_mut().zip(t.cc.iter()) {
            *d = *s;
        }
        let when = match cmd {
            TCSETSW => nix::sys::termios::SetArg::TCSADRAIN,
            TCSETSF => nix::sys::termios::SetArg::TCSAFLUSH,
            _ => nix::sys::termios::SetArg::TCSANOW,
        };
        let new = nix::sys::termios::Termios::from(raw);
        nix::sys::termios::tcsetattr(self.fd.as_fd(), when, &new).map_err(from_nix)?;
        Ok(0)
    }
}

impl FileOps for HostFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        if self.is_seekable {
            let off = i64::try_from(off).map_err(|_| Errno::EINVAL)?;
            nix::sys::uio::pread(&self.fd, buf, off).map_err(from_nix)
        } else {
            nix::unistd::read(&self.fd, buf).map_err(from_nix)
        }
    }

    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        if self.is_seekable {
            let off = i64::try_from(off).map_err(|_| Errno::EINVAL)?;
            nix::sys::uio::pwrite(&self.fd, buf, off).map_err(from_nix)
        } else {
            nix::unistd::write(&self.fd, buf).map_err(from_nix)
        }
    }

    fn size(&self) -> SysResult<u64> {
        let st = nix::sys::stat::fstat(&self.fd).map_err(from_nix)?;
        Ok(u64::try_from(st.st_size).unwrap_or(0))
    }

    fn is_seekable(&self) -> bool {
        self.is_seekable
    }

    fn ioctl(&self, mem: &dyn UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
        if cmd == FIONREAD && !self.is_seekable {
            let n = rustix::io::ioctl_fionread(&self.fd).map_err(from_rustix)?;
            let v = i32::try_from(n).unwrap_or(i32::MAX);
            mem.copy_out(arg, &v.to_ne_bytes())?;
            return Ok(0);
        }
        if !self.is_tty {
            return Err(Errno::ENOTTY);
        }
        match cmd {
            TCGETS => self.termios_out(mem, arg),
            TCSETS | TCSETSW | TCSETSF => self.termios_in(mem, arg, cmd),
            TIOCGWINSZ => {
                let w = rustix::termios::tcgetwinsize(&self.fd).map_err(from_rustix)?;
                let out = Winsize { row: w.ws_row, col: w.ws_col, xpixel: w.ws_xpixel, ypixel: w.ws_ypixel };
                mem.copy_out(arg, out.as_bytes())?;
                Ok(0)
            }
            TIOCSWINSZ => {
                let mut buf = [0u8; size_of::<Winsize>()];
                mem.copy_in(arg, &mut buf)?;
                let w = Winsize::read_from_bytes(&buf).map_err(|_| Errno::EFAULT)?;
                let hw = rustix::termios::Winsize {
                    ws_row: w.row,
                    ws_col: w.col,
                    ws_xpixel: w.xpixel,
                    ws_ypixel: w.ypixel,
                };
                rustix::termios::tcsetwinsize(&self.fd, hw).map_err(from_rustix)?;
                Ok(0)
            }
            TIOCGPGRP => {
                let pg = *lock(&self.fg_pgrp);
                mem.copy_out(arg, &pg.to_ne_bytes())?;
                Ok(0)
            }
            TIOCSPGRP => {
                let mut b = [0u8; 4];
                mem.copy_in(arg, &mut b)?;
                let pg = i32::from_ne_bytes(b);
                if pg < 0 {
                    return Err(Errno::EINVAL);
                }
                *lock(&self.fg_pgrp) = pg;
                Ok(0)
            }
            TIOCSCTTY | TIOCNOTTY => Ok(0),
            _ => Err(Errno::ENOTTY),
        }
    }

    fn stat(&self) -> SysResult<Stat> {
        let s = nix::sys::stat::fstat(&self.fd).map_err(from_nix)?;
        Ok(Stat {
            dev: s.st_dev,
            ino: s.st_ino,
            nlink: s.st_nlink,
            mode: s.st_mode,
            uid: s.st_uid,
            gid: s.st_gid,
            pad0: 0,
            rdev: s.st_rdev,
            size: s.st_size,
            blksize: s.st_blksize,
            blocks: s.st_blocks,
            atime: s.st_atime,
            atime_nsec: s.st_atime_nsec,
            mtime: s.st_mtime,
            mtime_nsec: s.st_mtime_nsec,
            ctime: s.st_ctime,
            ctime_nsec: s.st_ctime_nsec,
            unused: [0; 3],
        })
    }

    fn statfs(&self) -> SysResult<StatFs> {
        let s = nix::sys::statfs::fstatfs(&self.fd).map_err(from_nix)?;
        Ok(StatFs {
            ty: s.filesystem_type().0,
            bsize: s.block_size(),
            blocks: s.blocks(),
            bfree: s.blocks_free(),
            bavail: s.blocks_available(),
            files: s.files(),
            ffree: s.files_free(),
            namelen: s.maximum_name_length(),
            frsize: s.block_size(),
            ..StatFs::default()
        })
    }
}
