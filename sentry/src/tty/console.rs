//! The console bridge for `terminal: true` containers: a sentry pty pair whose master is
//! joined to a HOST pty slave the runtime made (its host master went to the OCI console
//! socket). The sentry slave becomes init's stdin/stdout/stderr and controlling terminal
//! ([`ConsoleHandle::ctty`], for `Spawn::ctty`), and /dev/console is made a node of it (as
//! runc bind-mounts the slave there); the host slave is put in raw mode without echo, so the
//! sentry's line discipline does all the processing.
//!
//! Two threads copy bytes: host → sentry (poll with a 150 ms timeout; each wake-up, data or
//! not, also reads the host's window size with TIOCGWINSZ and passes a change on as
//! TIOCSWINSZ would, SIGWINCH included) and sentry → host (sleeps on the master's wait
//! queue). Both end when the [`ConsoleHandle`] is dropped (the sandbox ended: the output
//! left is written out first) or when the host side goes away (EIO/EOF); the master closes
//! with the last of them, which hangs the sentry pair up.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use abi::Errno;
use abi::ioctl::Winsize;
use vfs::OpenFile;
use vfs::waiter::{EventMask, Waiter};

use super::{Pty, PtyMaster, PtySlave, open_ptmx, set_winsize, slave_path};
use crate::kernel::Kernel;

/// How often the host's window size is checked when no input arrives.
const WINSIZE_POLL: Duration = Duration::from_millis(150);

/// A running console bridge. Dropping it stops the bridge threads.
#[derive(Debug)]
pub struct ConsoleHandle {
    /// The sentry slave, opened read-write: init's stdio.
    pub slave: Arc<OpenFile>,
    pty: Arc<Pty>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ConsoleHandle {
    /// What `Spawn::ctty` takes: the slave, which init's session gets as its terminal.
    pub fn ctty(&self) -> Arc<OpenFile> {
        Arc::clone(&self.slave)
    }

    /// The sentry pair's index (/dev/pts/N inside the sandbox).
    pub fn index(&self) -> u32 {
        self.pty.index()
    }
}

impl Drop for ConsoleHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.pty.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn host_winsize(fd: &OwnedFd) -> Option<Winsize> {
    let ws = rustix::termios::tcgetwinsize(fd).ok()?;
    Some(Winsize {
        row: ws.ws_row,
        col: ws.ws_col,
        xpixel: ws.ws_xpixel,
        ypixel: ws.ws_ypixel,
    })
}

fn host_raw(fd: &OwnedFd) -> Result<(), Errno> {
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    let mut t =
        tcgetattr(fd.as_fd()).map_err(|e| Errno::from_raw(u16::try_from(e as i32).unwrap_or(5)))?;
    cfmakeraw(&mut t);
    tcsetattr(fd.as_fd(), SetArg::TCSANOW, &t)
        .map_err(|e| Errno::from_raw(u16::try_from(e as i32).unwrap_or(5)))
}

/// Bridges `host_tty` (a host pty slave) to a new sentry pair; see the module doc. ENOTTY if
/// `host_tty` is not a terminal; ENOSPC if no pair is free.
pub fn attach_console(kernel: &Arc<Kernel>, host_tty: OwnedFd) -> Result<ConsoleHandle, Errno> {
    host_raw(&host_tty)?;
    let master = open_ptmx()?;
    let pty = Arc::clone(&master.pty);
    pty.bind_kernel(kernel);
    pty.st().locked = false;
    if let Some(ws) = host_winsize(&host_tty) {
        pty.st().winsize = ws;
    }
    let slave = PtySlave::open(&pty)?;
    let root = kernel.mounts.root();
    super::remember_node(&pty, &root);
    make_dev_console(&root, &pty);
    let slave = OpenFile::new_ops(slave_path(&root, &pty), Box::new(slave), abi::file::O_RDWR);
    let host = Arc::new(host_tty);
    let master = Arc::new(master);
    let stop = Arc::new(AtomicBool::new(false));
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(|_| Errno::EAGAIN)
    };
    let t_in = {
        let (host, master, stop) = (Arc::clone(&host), Arc::clone(&master), Arc::clone(&stop));
        spawn(
            "console-in",
            Box::new(move || host_to_sentry(&host, &master, &stop)),
        )?
    };
    let t_out = {
        let (host, master, stop) = (Arc::clone(&host), Arc::clone(&master), Arc::clone(&stop));
        spawn(
            "console-out",
            Box::new(move || sentry_to_host(&host, &master, &stop)),
        )?
    };
    Ok(ConsoleHandle {
        slave,
        pty,
        stop,
        threads: vec![t_in, t_out],
    })
}

/// /dev/console as runc makes it for a terminal container: the console slave's own node
/// (runc bind-mounts the pts node there), so opening it opens the slave. Skipped without a
/// /dev or when /dev/console exists.
fn make_dev_console(root: &vfs::VfsPath, pty: &Pty) {
    let creds = vfs::Creds::root();
    let l = vfs::Lookup {
        root,
        start: root,
        creds: &creds,
    };
    let rdev = abi::file::makedev(super::PTS_MAJOR, pty.index());
    if let Err(e) = l.mknod(b"/dev/console", abi::file::S_IFCHR | 0o620, rdev) {
        tracing::debug!(target: "sentry::tty", ?e, "no /dev/console for the console");
    }
}

fn host_to_sentry(host: &OwnedFd, master: &PtyMaster, stop: &AtomicBool) {
    let mut last_ws = master.pty.st().winsize;
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [nix::poll::PollFd::new(
            host.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, 150u16).unwrap_or(0);
        if let Some(ws) = host_winsize(host)
            && ws != last_ws
        {
            last_ws = ws;
            set_winsize(&master.pty, ws);
        }
        if ready == 0 {
            continue;
        }
        let n = match nix::unistd::read(host, &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => {
                // No host master (yet, or any more): wait for it or for the stop.
                std::thread::sleep(WINSIZE_POLL);
                continue;
            }
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
            Err(_) => break,
        };
        let mut data = buf.get(..n).unwrap_or_default();
        while !data.is_empty() && !stop.load(Ordering::SeqCst) {
            match master.pty.input(data) {
                Ok(k) => data = data.get(k..).unwrap_or_default(),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

fn write_host(host: &OwnedFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(host, data) {
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return false,
        }
    }
    true
}

fn sentry_to_host(host: &OwnedFd, master: &PtyMaster, stop: &AtomicBool) {
    let waiter = Waiter::new();
    let _reg = master.pty.mq.register(
        Arc::clone(&waiter) as Arc<dyn vfs::waiter::Notify>,
        EventMask::IN,
    );
    let mut buf = vec![0u8; 16384];
    loop {
        waiter.prepare();
        let stopping = stop.load(Ordering::SeqCst);
        let n = {
            let mut s = master.pty.st();
            let n = s.ld.read_output(&mut buf);
            master.pty.sq.notify(EventMask::OUT | EventMask::WRNORM);
            n
        };
        if n > 0 {
            if !write_host(host, buf.get(..n).unwrap_or_default()) {
                return;
            }
            continue;
        }
        if stopping {
            return;
        }
        waiter.wait(Instant::now().checked_add(Duration::from_millis(200)));
    }
}
