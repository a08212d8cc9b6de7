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
//! Blocking without blocking a task thread: the host fd is left in blocking mode (it is shared
//! with the process outside the sandbox — setting O_NONBLOCK on a terminal or pipe would leak
//! to it), so a read of a stream first asks the host whether data is there (`poll` with a zero
//! timeout) and answers EAGAIN if not; the syscall layer then sleeps on the file's wait queue.
//! One host poller thread (`poller`) watches every stream host fd edge-triggered and notifies
//! its queue when it becomes readable, writable or hung up, so the sleeping task wakes — and a
//! signal can interrupt it meanwhile. Shortcuts: if another reader outside the sandbox takes
//! the data between the poll and the read, the read blocks in the host; writes are not
//! polled (a full host pipe blocks the writing task in the host write).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use abi::file::{self as f, Stat, StatFs};
use abi::ioctl::{
    FIONREAD, NCCS, TCGETS, TCSETS, TCSETSF, TCSETSW, TIOCGPGRP, TIOCGWINSZ, TIOCNOTTY, TIOCSCTTY,
    TIOCSPGRP, TIOCSWINSZ, Termios, Winsize,
};
use abi::{Errno, SysResult};
use zerocopy::{FromBytes, IntoBytes};

use crate::UserMemory;
use crate::file::OpenFile;
use crate::inode::FileOps;
use crate::mount::lock;
use crate::waiter::{EventMask, WaitQueue};
use std::ops::Not;

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
    /// Notified by the poller when the host fd's readiness changes (streams only).
    queue: Arc<WaitQueue>,
    /// The poller's token for this fd, if it is watched.
    watch: Option<u64>,
}

impl Drop for HostFile {
    fn drop(&mut self) {
        if let Some(token) = self.watch {
            poller::unwatch(self.fd.as_fd(), token);
        }
    }
}

/// Host readiness of `fd` now (poll(2) with a zero timeout), as guest event bits.
fn host_readiness(fd: std::os::fd::BorrowedFd<'_>, mask: EventMask) -> EventMask {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut flags = PollFlags::empty();
    if mask.intersects(EventMask::IN | EventMask::RDNORM) {
        flags |= PollFlags::POLLIN;
    }
    if mask.intersects(EventMask::OUT | EventMask::WRNORM) {
        flags |= PollFlags::POLLOUT;
    }
    let mut fds = [PollFd::new(fd, flags)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(n) if n > 0 => {
            let got = fds[0].revents().unwrap_or(PollFlags::empty());
            // POLL* and EventMask bits have the same values.
            EventMask::from_bits_truncate(u32::from(got.bits().cast_unsigned()))
        }
        // A host poll failure: report "ready" so the caller's read surfaces the real error.
        Err(_) => mask,
        _ => EventMask::empty(),
    }
}

/// The host poller thread: one epoll set, edge-triggered, each fd's token naming its queue.
mod poller {
    use std::collections::HashMap;
    use std::os::fd::BorrowedFd;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

    use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

    use crate::waiter::{EventMask, WaitQueue};

    struct Poller {
        epoll: Epoll,
        queues: Mutex<HashMap<u64, Weak<WaitQueue>>>,
        next: AtomicU64,
    }

    fn get() -> Option<&'static Poller> {
        static P: OnceLock<Option<Poller>> = OnceLock::new();
        P.get_or_init(|| {
            let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
                .map_err(|e| tracing::warn!(target: "vfs::hostfd", %e, "no host poller: epoll_create1 failed"))
                .ok()?;
            let started = std::thread::Builder::new()
                .name("host-poller".into())
                .spawn(run);
            if let Err(e) = started {
                tracing::warn!(target: "vfs::hostfd", %e, "no host poller thread");
                return None;
            }
            Some(Poller {
                epoll,
                queues: Mutex::new(HashMap::new()),
                next: AtomicU64::new(1),
            })
        })
        .as_ref()
    }

    fn run() {
        // Wait until the poller is initialised (this thread starts inside get_or_init).
        let p = loop {
            if let Some(p) = get() {
                break p;
            }
            std::thread::yield_now();
        };
        let mut events = [EpollEvent::empty(); 32];
        loop {
            let n = match p.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!(target: "vfs::hostfd", %e, "host poller failed");
                    return;
                }
            };
            for ev in events.iter().take(n) {
                let q = p
                    .queues
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&ev.data())
                    .and_then(Weak::upgrade);
                if let Some(q) = q {
                    let bits = u32::try_from(ev.events().bits()).unwrap_or(0);
                    q.notify(EventMask::from_bits_truncate(bits) | EventMask::IN | EventMask::OUT);
                }
            }
        }
    }

    /// Watches `fd` (edge-triggered input, output and hang-up); `None` when the host cannot
    /// poll it (regular files) or there is no poller — such files then never block.
    pub(super) fn watch(fd: BorrowedFd<'_>, queue: &Arc<WaitQueue>) -> Option<u64> {
        let p = get()?;
        let token = p.next.fetch_add(1, Ordering::Relaxed);
        let flags = EpollFlags::EPOLLIN
            | EpollFlags::EPOLLOUT
            | EpollFlags::EPOLLRDHUP
            | EpollFlags::EPOLLET;
        p.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, Arc::downgrade(queue));
        if p.epoll.add(fd, EpollEvent::new(flags, token)).is_err() {
            p.queues
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&token);
            return None;
        }
        Some(token)
    }

    /// Stops watching `fd`.
    pub(super) fn unwatch(fd: BorrowedFd<'_>, token: u64) {
        if let Some(p) = get() {
            let _ = p.epoll.delete(fd);
            p.queues
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&token);
        }
    }
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
    // A seekable stdio file (a redirect to a file) continues where the host offset stands.
    let start = if is_seekable {
        nix::unistd::lseek(&fd, 0, nix::unistd::Whence::SeekCur).map_err(from_nix)?
    } else {
        0
    };
    let queue = Arc::new(WaitQueue::new());
    let watch = if is_seekable {
        None
    } else {
        poller::watch(fd.as_fd(), &queue)
    };
    let file = HostFile {
        fd,
        is_seekable,
        is_tty,
        fg_pgrp: Mutex::new(1),
        queue,
        watch,
    };
    let of = OpenFile::new_ops(None, Box::new(file), flags);
    of.set_pos(u64::try_from(start).unwrap_or(0));
    Ok(of)
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
    /// The host decides (a file on disk flushes, a terminal or pipe says EINVAL).
    fn fsync(&self, datasync: bool) -> SysResult<()> {
        if datasync {
            nix::unistd::fdatasync(&self.fd).map_err(from_nix)
        } else {
            nix::unistd::fsync(&self.fd).map_err(from_nix)
        }
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        if self.is_seekable {
            let off = i64::try_from(off).map_err(|_| Errno::EINVAL)?;
            nix::sys::uio::pread(&self.fd, buf, off).map_err(from_nix)
        } else {
            // A stream: read only what is there (module doc), else EAGAIN for the waiting loop.
            if self.watch.is_some()
                && !buf.is_empty()
                && host_readiness(self.fd.as_fd(), EventMask::IN)
                    .intersects(EventMask::IN | EventMask::HUP | EventMask::ERR)
                    .not()
            {
                return Err(Errno::EAGAIN);
            }
            nix::unistd::read(&self.fd, buf).map_err(from_nix)
        }
    }

    fn readiness(&self, mask: EventMask) -> EventMask {
        if self.watch.is_none() {
            return EventMask::DEFAULT_READY & mask;
        }
        host_readiness(self.fd.as_fd(), mask)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        self.watch.map(|_| self.queue.as_ref())
    }

    fn write_at(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        if self.is_seekable {
            let off = i64::try_from(off).map_err(|_| Errno::EINVAL)?;
            nix::sys::uio::pwrite(&self.fd, buf, off).map_err(from_nix)
        } else {
            nix::unistd::write(&self.fd, buf).map_err(from_nix)
        }
    }

    fn sync_offset(&self, pos: u64) {
        if self.is_seekable
            && let Ok(pos) = i64::try_from(pos)
            && let Err(e) = nix::unistd::lseek(&self.fd, pos, nix::unistd::Whence::SeekSet)
        {
            tracing::debug!(target: "vfs::hostfd", %e, "mirroring the offset to the host fd failed");
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
                let out = Winsize {
                    row: w.ws_row,
                    col: w.ws_col,
                    xpixel: w.ws_xpixel,
                    ypixel: w.ws_ypixel,
                };
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io::{Seek, Write};

    use super::*;

    /// Guest memory as a flat buffer at address 0x1000.
    struct FakeMem(RefCell<Vec<u8>>);

    impl UserMemory for FakeMem {
        fn copy_in(&self, addr: u64, dst: &mut [u8]) -> SysResult<()> {
            let m = self.0.borrow();
            let start = usize::try_from(addr.checked_sub(0x1000).ok_or(Errno::EFAULT)?).unwrap();
            dst.copy_from_slice(m.get(start..start + dst.len()).ok_or(Errno::EFAULT)?);
            Ok(())
        }
        fn copy_out(&self, addr: u64, src: &[u8]) -> SysResult<()> {
            let mut m = self.0.borrow_mut();
            let start = usize::try_from(addr.checked_sub(0x1000).ok_or(Errno::EFAULT)?).unwrap();
            m.get_mut(start..start + src.len())
                .ok_or(Errno::EFAULT)?
                .copy_from_slice(src);
            Ok(())
        }
    }

    #[test]
    fn pipe_reads_and_writes_pass_through_and_are_not_seekable() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let rf = host_file(r).unwrap();
        let wf = host_file(w).unwrap();
        assert!(rf.is_readable() && !rf.is_writable());
        assert_eq!(wf.write(b"abc").unwrap(), 3);
        let mut b = [0u8; 8];
        assert_eq!(rf.read(&mut b).unwrap(), 3);
        assert_eq!(&b[..3], b"abc");
        assert_eq!(rf.seek(0, f::SEEK_SET).unwrap_err(), Errno::ESPIPE);
        assert_eq!(rf.pread(&mut b, 0).unwrap_err(), Errno::ESPIPE);
        assert_eq!(rf.stat().unwrap().mode & f::S_IFMT, f::S_IFIFO);
        let mem = FakeMem(RefCell::new(vec![0; 64]));
        assert_eq!(rf.ioctl(&mem, TCGETS, 0x1000).unwrap_err(), Errno::ENOTTY);
        wf.write(b"xy").unwrap();
        assert_eq!(rf.ioctl(&mem, FIONREAD, 0x1000).unwrap(), 0);
        assert_eq!(mem.0.borrow()[..4], 2i32.to_ne_bytes());
    }

    #[test]
    fn regular_host_file_uses_its_own_offset() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"0123456789").unwrap();
        tmp.seek(std::io::SeekFrom::Start(3)).unwrap();
        let file = host_file(OwnedFd::from(tmp)).unwrap();
        let mut b = [0u8; 4];
        // The description starts at the host's offset.
        assert_eq!(file.read(&mut b[..2]).unwrap(), 2);
        assert_eq!(&b[..2], b"34");
        assert_eq!(file.seek(6, f::SEEK_SET).unwrap(), 6);
        assert_eq!(file.read(&mut b).unwrap(), 4);
        assert_eq!(&b, b"6789");
        assert_eq!(file.seek(0, f::SEEK_END).unwrap(), 10);
        assert_eq!(file.stat().unwrap().size, 10);
        assert!(file.path().is_none());
    }

    #[test]
    fn tty_window_size_and_termios_pass_through() {
        let Ok(pty) = nix::pty::openpty(None, None) else {
            eprintln!("skipping: no pty available");
            return;
        };
        let tty = host_file(pty.slave).unwrap();
        let mem = FakeMem(RefCell::new(vec![0; 128]));
        let ws = Winsize {
            row: 33,
            col: 101,
            xpixel: 0,
            ypixel: 0,
        };
        mem.copy_out(0x1000, ws.as_bytes()).unwrap();
        assert_eq!(tty.ioctl(&mem, TIOCSWINSZ, 0x1000).unwrap(), 0);
        mem.0.borrow_mut().fill(0);
        assert_eq!(tty.ioctl(&mem, TIOCGWINSZ, 0x1010).unwrap(), 0);
        let got = Winsize::read_from_bytes(&mem.0.borrow()[0x10..0x18]).unwrap();
        assert_eq!(got, ws);
        assert_eq!(tty.ioctl(&mem, TCGETS, 0x1000).unwrap(), 0);
        let mut t = Termios::read_from_bytes(&mem.0.borrow()[..36]).unwrap();
        t.lflag &= !libc::ECHO;
        mem.copy_out(0x1000, t.as_bytes()).unwrap();
        assert_eq!(tty.ioctl(&mem, TCSETS, 0x1000).unwrap(), 0);
        assert_eq!(tty.ioctl(&mem, TCGETS, 0x1020).unwrap(), 0);
        let back = Termios::read_from_bytes(&mem.0.borrow()[0x20..0x20 + 36]).unwrap();
        assert_eq!(back.lflag & libc::ECHO, 0);
        mem.copy_out(0x1000, &7i32.to_ne_bytes()).unwrap();
        tty.ioctl(&mem, TIOCSPGRP, 0x1000).unwrap();
        tty.ioctl(&mem, TIOCGPGRP, 0x1004).unwrap();
        assert_eq!(mem.0.borrow()[4..8], 7i32.to_ne_bytes());
        assert_eq!(tty.ioctl(&mem, 0x5499, 0x1000).unwrap_err(), Errno::ENOTTY);
        drop(pty.master);
    }
}
