//! Pseudo-terminals: devpts, the pty pairs, controlling terminals and job control.
//!
//! **Pieces.** [`ldisc`] is the line discipline (pure data). A [`Pty`] is one pair: its
//! discipline, window size, lock flag, open counts, and the session and foreground process
//! group it is the controlling terminal of (Linux keeps those in the slave's tty_struct). The
//! files are [`PtyMaster`] (from /dev/ptmx or /dev/pts/ptmx, 5:2) and [`PtySlave`] (from
//! /dev/pts/N, 136:N, or /dev/tty, 5:0, for the caller's controlling terminal); both are
//! `FileOps` that never block (EAGAIN; the syscall layer's loops sleep on the pair's two wait
//! queues). devpts is a tmpfs with DEVPTS_SUPER_MAGIC holding `ptmx` (0666) and one node per
//! live pair (0620, the opener's uid, gid 5 "tty"), removed when the master closes (as Linux
//! removes it); [`new_devpts`] makes it, `rvisor do` mounts it on /dev/pts.
//!
//! **What needs the calling task** (session, process group, credentials) runs from hooks the
//! syscall layer calls, since `FileOps` calls carry no task: [`on_open`] (a session leader
//! acquires the terminal; /dev/tty finds the caller's; the slave node gets the opener's uid),
//! [`check_read`] / [`check_write`] (SIGTTIN/SIGTTOU for background groups), and [`ioctl`]
//! (every terminal ioctl). The controlling terminal of a process is the pty whose session is
//! the process's session (Linux's signal->tty is per process but always the session's: the
//! one difference is TIOCNOTTY by a non-leader, which here detaches nobody). setsid(2) calls
//! [`session_created`] so a recycled session id cannot inherit a stale terminal.
//!
//! **Signals.** Signal characters (ISIG) are sent by whoever writes the master, after its
//! lock is released. A master's last close hangs the pair up: the slave reads EOF and writes
//! EIO, and the session leader gets SIGHUP and SIGCONT — sent from a short-lived thread,
//! since the close may run where the task tree's lock is held (exit).
//!
//! **The console** ([`console`]): a pair whose master is bridged to a host pty slave for
//! `terminal: true` containers.
//!
//! Lock order: `Kernel::tree` is never held while taking `Pty::state`; `REGISTRY` before
//! nothing else (lookups copy out what they need); `Pty::state` before the pair's wait queues
//! (notified with the state locked, as pipes do).
//!
//! A session leader's exit sends SIGHUP to its terminal's foreground group and frees the
//! terminal ([`session_leader_exited`], from the exit path).
//!
//! Shortcuts: one devpts instance per sentry process (the last one made serves /dev/ptmx);
//! VTIME is timed for read(2) only ([`timed_read`]; readv sees VTIME = 0); only N_TTY
//! exists (TIOCSETD of another is EINVAL); packet mode (TIOCPKT), TIOCEXCL's exclusivity,
//! modem lines (TIOCMGET) and line speeds (termios2's are accepted and dropped) are not
//! built; IXON swallows VSTART/VSTOP without stopping output; job-control checks run for
//! read/readv and write/writev, not splice/sendfile; a master TIOCSCTTY is EPERM (Linux
//! would make the master the terminal).

pub mod console;
pub mod ldisc;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use abi::file::{self as f, makedev};
use abi::ioctl as io;
use abi::signal::{SIG_IGN, SigInfo, Signal, si_code};
use abi::{Errno, SysResult};
use vfs::waiter::{EventMask, WaitQueue};
use vfs::{Creds, FileOps, Filesystem, Inode, InodeKind, OpenFile, UserMemory};
use zerocopy::{FromBytes, IntoBytes};

use crate::kernel::Kernel;
use crate::kernel::signal::{Target, send};
use crate::kernel::task::Task;
use crate::kernel::tree::ProcState;
use ldisc::Ldisc;

/// /dev/tty's and /dev/ptmx's major (TTYAUX_MAJOR), and their minors.
pub const TTYAUX_MAJOR: u32 = 5;
pub const TTY_MINOR: u32 = 0;
pub const PTMX_MINOR: u32 = 2;
/// The pty slaves' major (UNIX98_PTY_SLAVE_MAJOR).
pub const PTS_MAJOR: u32 = 136;
/// The "tty" group devpts gives slave nodes (docker's and runc's gid=5 mount option).
pub const TTY_GID: u32 = 5;
/// The most pairs at once (/proc/sys/kernel/pty/max's default).
pub const PTY_MAX: u32 = 4096;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state of one pair, under `Pty::state`.
#[derive(Debug)]
struct PtyState {
    ld: Ldisc,
    winsize: io::Winsize,
    /// TIOCSPTLCK: slave opens fail with EIO while set (a new pair starts locked).
    locked: bool,
    /// Open master descriptions (0 after the last close: hung up).
    masters: usize,
    /// Open slave descriptions.
    slaves: usize,
    /// The last slave closed after one was open: master reads answer EIO once drained.
    slave_closed: bool,
    /// The session this is the controlling terminal of, and its foreground process group.
    session: Option<i32>,
    pgrp: Option<i32>,
    kernel: Weak<Kernel>,
}

/// One pty pair. See the module doc.
#[derive(Debug)]
pub struct Pty {
    index: u32,
    state: Mutex<PtyState>,
    /// Readiness of the master side.
    mq: WaitQueue,
    /// Readiness of the slave side.
    sq: WaitQueue,
    /// The devpts directory holding this pair's node.
    dir: Option<Arc<dyn Inode>>,
    /// The devpts directory as a path, once an opener's root showed it: the hangup unlinks
    /// the node through the VFS so cached dentries go too.
    node: Mutex<Option<vfs::VfsPath>>,
}

/// Live pairs by index, and the devpts serving /dev/ptmx.
struct Registry {
    ptys: BTreeMap<u32, Weak<Pty>>,
    devpts: Option<Arc<dyn Inode>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    ptys: BTreeMap::new(),
    devpts: None,
});

/// A new devpts filesystem: a tmpfs with DEVPTS_SUPER_MAGIC holding `ptmx` (5:2, 0666); the
/// pairs opened through any ptmx get their nodes here.
pub fn new_devpts(mf: Arc<vfs::memfile::MemoryFile>) -> Arc<dyn Filesystem> {
    register_devices();
    let fs = vfs::tmpfs::Tmpfs::with_magic(0o755, &Creds::root(), f::DEVPTS_SUPER_MAGIC, mf);
    let root = fs.root_inode();
    if let Err(e) = root.mknod(
        b"ptmx",
        InodeKind::CharDev,
        0o666,
        makedev(TTYAUX_MAJOR, PTMX_MINOR),
        &Creds::root(),
    ) {
        tracing::error!(target: "sentry::tty", ?e, "creating devpts ptmx failed");
    }
    lock(&REGISTRY).devpts = Some(root);
    fs
}

/// Registers the ptmx and /dev/tty drivers (idempotent).
fn register_devices() {
    vfs::device::register(
        TTYAUX_MAJOR,
        PTMX_MINOR,
        Arc::new(|_flags| open_ptmx().map(|m| Box::new(m) as Box<dyn FileOps>)),
    );
    vfs::device::register(
        TTYAUX_MAJOR,
        TTY_MINOR,
        Arc::new(|_flags| Ok(Box::new(DevTty) as Box<dyn FileOps>)),
    );
}

/// Allocates a pair (the lowest free index), creates its node, and returns its master.
fn open_ptmx() -> SysResult<PtyMaster> {
    let mut reg = lock(&REGISTRY);
    reg.ptys.retain(|_, w| w.strong_count() > 0);
    let index = (0..PTY_MAX)
        .find(|i| !reg.ptys.contains_key(i))
        .ok_or(Errno::ENOSPC)?;
    let dir = reg.devpts.clone();
    let pty = Arc::new(Pty {
        index,
        state: Mutex::new(PtyState {
            ld: Ldisc::new(),
            winsize: io::Winsize::default(),
            locked: true,
            masters: 1,
            slaves: 0,
            slave_closed: false,
            session: None,
            pgrp: None,
            kernel: Weak::new(),
        }),
        mq: WaitQueue::new(),
        sq: WaitQueue::new(),
        dir,
        node: Mutex::new(None),
    });
    reg.ptys.insert(index, Arc::downgrade(&pty));
    drop(reg);
    let name = index.to_string().into_bytes();
    if let Some(d) = &pty.dir {
        let creds = Creds {
            uid: 0,
            gid: TTY_GID,
            groups: Vec::new(),
            caps: u64::MAX,
        };
        d.mknod(
            &name,
            InodeKind::CharDev,
            0o620,
            makedev(PTS_MAJOR, index),
            &creds,
        )?;
    }
    let weak = Arc::downgrade(&pty);
    vfs::device::register(
        PTS_MAJOR,
        index,
        Arc::new(move |_flags| {
            let p = weak.upgrade().ok_or(Errno::EIO)?;
            PtySlave::open(&p).map(|s| Box::new(s) as Box<dyn FileOps>)
        }),
    );
    Ok(PtyMaster { pty })
}

impl Pty {
    fn st(&self) -> MutexGuard<'_, PtyState> {
        lock(&self.state)
    }

    /// The pair's index (/dev/pts/N).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Tells both sides' waiters that something changed.
    fn notify_all(&self) {
        self.mq.notify(EventMask::all());
        self.sq.notify(EventMask::all());
    }

    fn bind_kernel(&self, k: &Arc<Kernel>) {
        let mut s = self.st();
        if s.kernel.strong_count() == 0 {
            s.kernel = Arc::downgrade(k);
        }
    }

    /// Input from the master side (a master write, TIOCSTI, the console bridge): processed,
    /// then the signals it raised sent to the foreground group.
    fn input(&self, buf: &[u8]) -> SysResult<usize> {
        let (n, sigs, kernel, pgrp) = {
            let mut s = self.st();
            let (n, sigs) = s.ld.input(buf)?;
            self.notify_all();
            (n, sigs, s.kernel.upgrade(), s.pgrp)
        };
        if let (Some(k), Some(pg)) = (kernel, pgrp) {
            for sig in sigs {
                signal_pgrp(&k, pg, sig);
            }
        }
        Ok(n)
    }

    fn master_read(&self, buf: &mut [u8]) -> SysResult<usize> {
        let mut s = self.st();
        if s.ld.output_len() == 0 {
            return if s.slave_closed {
                Err(Errno::EIO)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = s.ld.read_output(buf);
        self.sq.notify(EventMask::OUT | EventMask::WRNORM);
        Ok(n)
    }

    fn slave_read(&self, buf: &mut [u8]) -> SysResult<usize> {
        let mut s = self.st();
        if s.masters == 0 && !s.ld.has_input() {
            return Ok(0);
        }
        let r = s.ld.read(buf);
        if r.is_ok() {
            self.mq.notify(EventMask::OUT | EventMask::WRNORM);
        }
        r
    }

    fn slave_write(&self, buf: &[u8]) -> SysResult<usize> {
        let mut s = self.st();
        if s.masters == 0 {
            return Err(Errno::EIO);
        }
        let n = s.ld.write(buf)?;
        self.mq.notify(EventMask::IN | EventMask::RDNORM);
        Ok(n)
    }

    fn master_events(&self, mask: EventMask) -> EventMask {
        let s = self.st();
        let mut ev = EventMask::empty();
        if s.ld.output_len() > 0 {
            ev |= EventMask::IN | EventMask::RDNORM;
        }
        if s.ld.input_room() > 0 {
            ev |= EventMask::OUT | EventMask::WRNORM;
        }
        if s.slave_closed {
            ev |= EventMask::HUP;
        }
        ev & (mask | EventMask::ALWAYS)
    }

    fn slave_events(&self, mask: EventMask) -> EventMask {
        let s = self.st();
        if s.masters == 0 {
            return (EventMask::IN
                | EventMask::OUT
                | EventMask::ERR
                | EventMask::HUP
                | EventMask::RDNORM
                | EventMask::WRNORM)
                & (mask | EventMask::ALWAYS);
        }
        let mut ev = EventMask::empty();
        if s.ld.read_ready() {
            ev |= EventMask::IN | EventMask::RDNORM;
        }
        if s.ld.output_room() >= 2 {
            ev |= EventMask::OUT | EventMask::WRNORM;
        }
        ev & (mask | EventMask::ALWAYS)
    }

    /// The last master closed: hang up (see the module doc).
    fn hangup(&self) {
        let (kernel, session) = {
            let mut s = self.st();
            s.masters = 0;
            let r = (s.kernel.upgrade(), s.session.take());
            s.pgrp = None;
            self.notify_all();
            r
        };
        let name = self.index.to_string().into_bytes();
        let node = lock(&self.node).take();
        let via_vfs = node.is_some_and(|dir| {
            let creds = Creds::root();
            let l = vfs::Lookup {
                root: &dir,
                start: &dir,
                creds: &creds,
            };
            l.unlink(&name).is_ok()
        });
        if !via_vfs && let Some(d) = &self.dir {
            let _ = d.unlink(&name);
        }
        vfs::device::register(PTS_MAJOR, self.index, Arc::new(|_| Err(Errno::EIO)));
        if let (Some(k), Some(sid)) = (kernel, session) {
            let spawned = std::thread::Builder::new()
                .name("tty-hangup".into())
                .spawn(move || {
                    let leader = {
                        let tree = k.tree();
                        tree.proc(sid)
                            .filter(|p| p.state == ProcState::Alive && p.sid == sid)
                            .map(|p| Arc::clone(&p.tg))
                    };
                    if let Some(tg) = leader {
                        for sig in [Signal::SIGHUP, Signal::SIGCONT] {
                            let info = SigInfo::new(sig, si_code::SI_KERNEL);
                            let _ = send(&k, &Target::Process(Arc::clone(&tg)), info);
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(target: "sentry::tty", %e, "no thread for the hangup signals");
            }
        }
    }
}

/// Sends `sig` to every live process of group `pgrp`.
fn signal_pgrp(k: &Kernel, pgrp: i32, sig: Signal) {
    let tgs: Vec<_> = {
        let tree = k.tree();
        tree.procs
            .values()
            .filter(|p| p.pgid == pgrp && p.state == ProcState::Alive)
            .map(|p| Arc::clone(&p.tg))
            .collect()
    };
    for tg in tgs {
        let _ = send(
            k,
            &Target::Process(tg),
            SigInfo::new(sig, si_code::SI_KERNEL),
        );
    }
}

/// The master side of a pair (a ptmx open).
#[derive(Debug)]
pub struct PtyMaster {
    pty: Arc<Pty>,
}

impl Drop for PtyMaster {
    fn drop(&mut self) {
        self.pty.hangup();
    }
}

/// The slave side of a pair (/dev/pts/N, TIOCGPTPEER, /dev/tty).
#[derive(Debug)]
pub struct PtySlave {
    pty: Arc<Pty>,
}

impl PtySlave {
    /// Opens the slave: EIO while locked or after the hangup.
    fn open(pty: &Arc<Pty>) -> SysResult<PtySlave> {
        let mut s = pty.st();
        if s.locked || s.masters == 0 {
            return Err(Errno::EIO);
        }
        s.slaves += 1;
        s.slave_closed = false;
        Ok(PtySlave {
            pty: Arc::clone(pty),
        })
    }

    /// A slave description that needs no checks (another reference to an open slave).
    fn again(pty: &Arc<Pty>) -> PtySlave {
        pty.st().slaves += 1;
        PtySlave {
            pty: Arc::clone(pty),
        }
    }
}

impl Drop for PtySlave {
    fn drop(&mut self) {
        let mut s = self.pty.st();
        s.slaves = s.slaves.saturating_sub(1);
        if s.slaves == 0 {
            s.slave_closed = true;
            self.pty.mq.notify(EventMask::all());
        }
    }
}

impl FileOps for PtyMaster {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        self.pty.master_read(buf)
    }
    fn write_at(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        self.pty.input(buf)
    }
    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        self.write_at(buf, 0).map(|n| (n, 0))
    }
    fn is_seekable(&self) -> bool {
        false
    }
    fn readiness(&self, mask: EventMask) -> EventMask {
        self.pty.master_events(mask)
    }
    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pty.mq)
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl FileOps for PtySlave {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        self.pty.slave_read(buf)
    }
    fn write_at(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        self.pty.slave_write(buf)
    }
    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        self.write_at(buf, 0).map(|n| (n, 0))
    }
    fn is_seekable(&self) -> bool {
        false
    }
    fn readiness(&self, mask: EventMask) -> EventMask {
        self.pty.slave_events(mask)
    }
    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pty.sq)
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// What /dev/tty opens as before [`on_open`] swaps in the caller's terminal.
#[derive(Debug)]
struct DevTty;

impl FileOps for DevTty {
    fn read_at(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        Err(Errno::ENXIO)
    }
    fn write_at(&self, _buf: &[u8], _off: u64) -> SysResult<usize> {
        Err(Errno::ENXIO)
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The pair behind a file, and whether it is the master side.
pub fn tty_of(file: &OpenFile) -> Option<(Arc<Pty>, bool)> {
    let any = file.ops_any()?;
    if let Some(m) = any.downcast_ref::<PtyMaster>() {
        return Some((Arc::clone(&m.pty), true));
    }
    any.downcast_ref::<PtySlave>()
        .map(|s| (Arc::clone(&s.pty), false))
}

/// The caller's process group, session and whether it leads the session.
fn ids(t: &Task) -> (i32, i32) {
    let tree = t.kernel.tree();
    tree.proc(t.tgid())
        .map_or((t.tgid(), t.tgid()), |p| (p.pgid, p.sid))
}

fn same_kernel(s: &PtyState, k: &Arc<Kernel>) -> bool {
    std::ptr::eq(s.kernel.as_ptr(), Arc::as_ptr(k))
}

/// The controlling terminal of session `sid`.
fn ctty_of(k: &Arc<Kernel>, sid: i32) -> Option<Arc<Pty>> {
    let ptys: Vec<Arc<Pty>> = lock(&REGISTRY)
        .ptys
        .values()
        .filter_map(Weak::upgrade)
        .collect();
    ptys.into_iter().find(|p| {
        let s = p.st();
        s.session == Some(sid) && same_kernel(&s, k)
    })
}

/// A new session `sid` exists (setsid): no terminal may still name it.
pub fn session_created(k: &Arc<Kernel>, sid: i32) {
    while let Some(p) = ctty_of(k, sid) {
        let mut s = p.st();
        s.session = None;
        s.pgrp = None;
    }
}

/// A session leader exited (disassociate_ctty on exit): its terminal's foreground group gets
/// SIGHUP and the terminal belongs to no session any more.
pub fn session_leader_exited(k: &Arc<Kernel>, sid: i32) {
    let Some(pty) = ctty_of(k, sid) else { return };
    let fg = {
        let mut s = pty.st();
        s.session = None;
        s.pgrp.take()
    };
    if let Some(fg) = fg {
        signal_pgrp(k, fg, Signal::SIGHUP);
    }
}

/// Makes `pty` the controlling terminal of the caller's session (caller checked).
fn set_ctty(pty: &Pty, sid: i32, pgid: i32) {
    let mut s = pty.st();
    s.session = Some(sid);
    s.pgrp = Some(pgid);
}

/// After an open(2) of any file: a tty opened by a session leader without a terminal and
/// without O_NOCTTY becomes its controlling terminal (never a master); /dev/tty becomes the
/// caller's terminal (ENXIO without one); a new master's node gets the opener's uid.
pub fn on_open(t: &Task, file: Arc<OpenFile>, flags: u32) -> SysResult<Arc<OpenFile>> {
    let Some(any) = file.ops_any() else {
        return Ok(file);
    };
    if any.downcast_ref::<DevTty>().is_some() {
        let (_, sid) = ids(t);
        let pty = ctty_of(&t.kernel, sid).ok_or(Errno::ENXIO)?;
        let slave = PtySlave::again(&pty);
        return Ok(OpenFile::new_ops(
            file.path().cloned(),
            Box::new(slave),
            file.flags(),
        ));
    }
    let Some((pty, master)) = tty_of(&file) else {
        return Ok(file);
    };
    pty.bind_kernel(&t.kernel);
    if master {
        let root = t.fs().root.clone();
        remember_node(&pty, &root);
        if let Some(d) = &pty.dir
            && let Ok(node) = d.lookup(pty.index.to_string().as_bytes())
        {
            let _ = node.setattr(&vfs::SetAttr {
                uid: Some(t.creds.fsuid),
                ..vfs::SetAttr::default()
            });
        }
        return Ok(file);
    }
    if flags & f::O_NOCTTY == 0 {
        let (pgid, sid) = ids(t);
        if sid == t.tgid() && ctty_of(&t.kernel, sid).is_none() && pty.st().session.is_none() {
            set_ctty(&pty, sid, pgid);
        }
    }
    Ok(file)
}

/// Whether every member of `pgrp` has its parent outside the session or in the group
/// (orphaned process group, POSIX).
fn pgrp_orphaned(k: &Kernel, pgrp: i32) -> bool {
    let tree = k.tree();
    !tree.procs.values().any(|p| {
        p.pgid == pgrp
            && p.state == ProcState::Alive
            && tree
                .proc(p.parent)
                .is_some_and(|q| q.pgid != pgrp && q.sid == p.sid)
    })
}

/// __tty_check_change: a background process of the terminal's session touching it gets
/// `sig` (its group does) and ERESTARTSYS; EIO if the signal is ignored or blocked (reads
/// only: an ignored SIGTTOU lets the write go on) or the group is orphaned.
fn job_check(t: &Task, pty: &Pty, sig: Signal) -> SysResult<()> {
    let (pgid, sid) = ids(t);
    let fg = {
        let s = pty.st();
        if s.session != Some(sid) || !same_kernel(&s, &t.kernel) {
            return Ok(());
        }
        s.pgrp
    };
    let Some(fg) = fg else { return Ok(()) };
    if fg == pgid {
        return Ok(());
    }
    let ignored = t.tg().sig().action(sig).handler == SIG_IGN || t.shared.sig().mask.has(sig);
    if ignored {
        return if sig == Signal::SIGTTIN {
            Err(Errno::EIO)
        } else {
            Ok(())
        };
    }
    if pgrp_orphaned(&t.kernel, pgid) {
        return Err(Errno::EIO);
    }
    signal_pgrp(&t.kernel, pgid, sig);
    Err(Errno::ERESTARTSYS)
}

/// Before a read(2) of a terminal slave: SIGTTIN for background groups.
pub fn check_read(t: &Task, file: &OpenFile) -> SysResult<()> {
    match tty_of(file) {
        Some((pty, false)) => job_check(t, &pty, Signal::SIGTTIN),
        _ => Ok(()),
    }
}

/// read(2) of a terminal slave in raw mode: O_NONBLOCK takes what there is (fewer than
/// VMIN too); with VTIME > 0, blocking: VMIN = 0 waits up to
/// VTIME tenths of a second for any byte (then 0); VMIN > 0 waits for the first byte, then
/// returns once VMIN bytes are there or VTIME passed without a new one (n_tty_read's
/// timers). `None` for everything else (the generic loop serves it).
pub fn timed_read(
    t: &Task,
    file: &OpenFile,
    buf: &mut [u8],
    done: usize,
) -> Option<SysResult<usize>> {
    if done != 0 || buf.is_empty() {
        return None;
    }
    let (pty, false) = tty_of(file)? else {
        return None;
    };
    let (vmin, vtime) = pty.st().ld.raw_params()?;
    if file.is_nonblocking() {
        // O_NONBLOCK takes what there is, fewer than VMIN too.
        let mut s = pty.st();
        if s.ld.readable() == 0 {
            return None;
        }
        let n = s.ld.take(buf);
        pty.mq.notify(EventMask::OUT | EventMask::WRNORM);
        return Some(Ok(n));
    }
    if vtime == 0 {
        return None;
    }
    let step = std::time::Duration::from_millis(100u64.saturating_mul(u64::from(vtime)));
    let want = vmin.min(buf.len());
    let _reg = pty.sq.register(t.waiter(), EventMask::IN);
    let later = || std::time::Instant::now().checked_add(step);
    let mut deadline = if vmin == 0 { later() } else { None };
    let mut seen = 0usize;
    loop {
        t.prepare_wait();
        {
            let mut s = pty.st();
            let avail = s.ld.readable();
            let hung = s.masters == 0;
            let timed_out = deadline.is_some_and(|d| std::time::Instant::now() >= d);
            if avail >= want.max(1) || hung || (timed_out && (avail > 0 || vmin == 0)) {
                let n = s.ld.take(buf);
                pty.mq.notify(EventMask::OUT | EventMask::WRNORM);
                return Some(Ok(n));
            }
            if vmin > 0 && avail > seen {
                // A new byte restarts the inter-byte timer.
                seen = avail;
                deadline = later();
            }
        }
        match t.wait(deadline) {
            Ok(()) | Err(Errno::ETIMEDOUT) => {}
            Err(e) => return Some(Err(e)),
        }
    }
}

/// Before a write(2) of a terminal slave: with TOSTOP, SIGTTOU for background groups.
pub fn check_write(t: &Task, file: &OpenFile) -> SysResult<()> {
    match tty_of(file) {
        Some((pty, false)) => {
            if pty.st().ld.termios.lflag & io::lflag::TOSTOP == 0 {
                return Ok(());
            }
            job_check(t, &pty, Signal::SIGTTOU)
        }
        _ => Ok(()),
    }
}

fn put<T: IntoBytes + zerocopy::Immutable>(
    mem: &dyn UserMemory,
    addr: u64,
    v: &T,
) -> SysResult<()> {
    mem.copy_out(addr, v.as_bytes())
}

fn get<T: FromBytes + IntoBytes>(mem: &dyn UserMemory, addr: u64) -> SysResult<T> {
    let mut v = T::new_zeroed();
    mem.copy_in(addr, v.as_mut_bytes())?;
    Ok(v)
}

fn int_out(mem: &dyn UserMemory, addr: u64, v: i32) -> SysResult<u64> {
    put(mem, addr, &v)?;
    Ok(0)
}

/// ioctl(2) on a terminal (`None` if `file` is not one).
pub fn ioctl(t: &Task, file: &OpenFile, cmd: u32, arg: u64) -> Option<SysResult<u64>> {
    let (pty, master) = tty_of(file)?;
    let mem = crate::kernel::task::TaskMemory(&t.mm);
    Some(do_ioctl(t, file, &pty, master, &mem, cmd, arg))
}

fn do_ioctl(
    t: &Task,
    file: &OpenFile,
    pty: &Arc<Pty>,
    master: bool,
    mem: &dyn UserMemory,
    cmd: u32,
    arg: u64,
) -> SysResult<u64> {
    let hung = !master && pty.st().masters == 0;
    if hung {
        return Err(if cmd == io::TIOCSPGRP {
            Errno::ENOTTY
        } else {
            Errno::EIO
        });
    }
    match cmd {
        io::TCGETS => {
            let tm = pty.st().ld.termios;
            put(mem, arg, &tm)?;
            Ok(0)
        }
        io::TCGETS2 => {
            let tm = io::Termios2 {
                termios: pty.st().ld.termios,
                ispeed: 38400,
                ospeed: 38400,
            };
            put(mem, arg, &tm)?;
            Ok(0)
        }
        io::TCSETS | io::TCSETSW | io::TCSETSF | io::TCSETS2 | io::TCSETSW2 | io::TCSETSF2 => {
            // termios2's speeds are accepted and not kept: a pty has no line speed.
            let tm = if matches!(cmd, io::TCSETS | io::TCSETSW | io::TCSETSF) {
                get::<io::Termios>(mem, arg)?
            } else {
                get::<io::Termios2>(mem, arg)?.termios
            };
            if !master {
                job_check(t, pty, Signal::SIGTTOU)?;
            }
            let mut s = pty.st();
            if cmd == io::TCSETSF || cmd == io::TCSETSF2 {
                s.ld.flush_input();
            }
            s.ld.set_termios(tm);
            pty.notify_all();
            Ok(0)
        }
        // Only N_TTY (0) exists.
        io::TIOCGETD => int_out(mem, arg, 0),
        io::TIOCSETD => {
            let d: i32 = get(mem, arg)?;
            if d == 0 { Ok(0) } else { Err(Errno::EINVAL) }
        }
        io::TCFLSH => {
            if !master {
                job_check(t, pty, Signal::SIGTTOU)?;
            }
            let (input, output) = match arg {
                io::TCIFLUSH => (true, false),
                io::TCOFLUSH => (false, true),
                io::TCIOFLUSH => (true, true),
                _ => return Err(Errno::EINVAL),
            };
            // The master's input is what the slave wrote, its output the slave's input.
            let (input, output) = if master {
                (output, input)
            } else {
                (input, output)
            };
            let mut s = pty.st();
            if input {
                s.ld.flush_input();
            }
            if output {
                s.ld.flush_output();
            }
            pty.notify_all();
            Ok(0)
        }
        io::TCSBRK | io::TCXONC => Ok(0),
        io::TIOCGWINSZ => {
            let ws = pty.st().winsize;
            put(mem, arg, &ws)?;
            Ok(0)
        }
        io::TIOCSWINSZ => {
            let ws: io::Winsize = get(mem, arg)?;
            set_winsize(pty, ws);
            Ok(0)
        }
        io::FIONREAD => {
            let s = pty.st();
            let n = if master {
                s.ld.output_len()
            } else {
                s.ld.readable()
            };
            int_out(mem, arg, i32::try_from(n).unwrap_or(i32::MAX))
        }
        io::TIOCOUTQ => {
            let n = if master { 0 } else { pty.st().ld.output_len() };
            int_out(mem, arg, i32::try_from(n).unwrap_or(i32::MAX))
        }
        io::TIOCSTI => {
            let (_, sid) = ids(t);
            let is_ctty = pty.st().session == Some(sid);
            let admin = t.creds.has_cap(abi::cap::CAP_SYS_ADMIN);
            if (!is_ctty || master) && !admin {
                return Err(Errno::EPERM);
            }
            if !file.is_readable() && !admin {
                return Err(Errno::EPERM);
            }
            let c: u8 = get(mem, arg)?;
            if master {
                // The master's own input: it reads back on the master (raw, no echo).
                pty.st().ld.push_output_raw(c);
                pty.mq.notify(EventMask::IN | EventMask::RDNORM);
            } else {
                pty.input(&[c])?;
            }
            Ok(0)
        }
        io::TIOCGPTN if master => int_out(mem, arg, i32::try_from(pty.index).unwrap_or(0)),
        io::TIOCGPTLCK if master => {
            let locked = pty.st().locked;
            int_out(mem, arg, i32::from(locked))
        }
        io::TIOCSPTLCK if master => {
            let v: i32 = get(mem, arg)?;
            pty.st().locked = v != 0;
            Ok(0)
        }
        io::TIOCGPTPEER if master => {
            // The flags go to the open as they are (ptm_open_peer), the int part of arg.
            let flags = (arg & 0xffff_ffff) as u32;
            let slave = open_peer(t, pty, flags)?;
            let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
            let fd = t
                .fds()
                .insert_from(0, slave, flags & f::O_CLOEXEC != 0, limit)?;
            u64::try_from(fd).map_err(|_| Errno::EMFILE)
        }
        io::TIOCSCTTY => tiocsctty(t, file, pty, master, arg),
        io::TIOCNOTTY => {
            let (_, sid) = ids(t);
            if master || pty.st().session != Some(sid) {
                return Err(Errno::ENOTTY);
            }
            if sid == t.tgid() {
                let fg = {
                    let mut s = pty.st();
                    s.session = None;
                    s.pgrp.take()
                };
                if let Some(fg) = fg {
                    signal_pgrp(&t.kernel, fg, Signal::SIGHUP);
                    signal_pgrp(&t.kernel, fg, Signal::SIGCONT);
                }
            }
            Ok(0)
        }
        io::TIOCGPGRP => {
            let (_, sid) = ids(t);
            let s = pty.st();
            if !master && s.session != Some(sid) {
                return Err(Errno::ENOTTY);
            }
            let pg = s.pgrp.unwrap_or(0);
            drop(s);
            int_out(mem, arg, pg)
        }
        io::TIOCSPGRP => {
            let (_, sid) = ids(t);
            match job_check(t, pty, Signal::SIGTTOU) {
                Err(Errno::EIO) => return Err(Errno::ENOTTY),
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            if pty.st().session != Some(sid) {
                return Err(Errno::ENOTTY);
            }
            let pg: i32 = get(mem, arg)?;
            if pg < 0 {
                return Err(Errno::EINVAL);
            }
            let pg_sid = {
                let tree = t.kernel.tree();
                tree.procs
                    .values()
                    .find(|p| p.pgid == pg && p.state == ProcState::Alive)
                    .map(|p| p.sid)
            };
            match pg_sid {
                None => Err(Errno::ESRCH),
                Some(s) if s != sid => Err(Errno::EPERM),
                Some(_) => {
                    pty.st().pgrp = Some(pg);
                    Ok(0)
                }
            }
        }
        io::TIOCGSID => {
            let (_, sid) = ids(t);
            let s = pty.st();
            if !master && s.session != Some(sid) {
                return Err(Errno::ENOTTY);
            }
            let Some(ts) = s.session else {
                return Err(Errno::ENOTTY);
            };
            drop(s);
            int_out(mem, arg, ts)
        }
        io::TIOCEXCL | io::TIOCNXCL => Ok(0),
        _ => Err(Errno::ENOTTY),
    }
}

/// TIOCSCTTY (tiocsctty): the caller must lead its session and have no terminal; a terminal
/// of another session is taken only with `arg` 1 and CAP_SYS_ADMIN.
fn tiocsctty(t: &Task, file: &OpenFile, pty: &Arc<Pty>, master: bool, arg: u64) -> SysResult<u64> {
    let (pgid, sid) = ids(t);
    if master {
        // A master is never a controlling terminal (Linux: the pair's master tty would be,
        // but nothing then routes job control to it).
        return Err(Errno::EPERM);
    }
    if pty.st().session == Some(sid) && sid == t.tgid() {
        return Ok(0);
    }
    if sid != t.tgid() || ctty_of(&t.kernel, sid).is_some() {
        return Err(Errno::EPERM);
    }
    let admin = t.creds.has_cap(abi::cap::CAP_SYS_ADMIN);
    if !file.is_readable() && !admin {
        return Err(Errno::EPERM);
    }
    let other = pty.st().session;
    if let Some(o) = other {
        let live = {
            let tree = t.kernel.tree();
            tree.procs
                .values()
                .any(|p| p.sid == o && p.state == ProcState::Alive)
        };
        if live && !(arg == 1 && admin) {
            return Err(Errno::EPERM);
        }
    }
    set_ctty(pty, sid, pgid);
    Ok(0)
}

/// A new window size: SIGWINCH to the foreground group if it changed.
pub fn set_winsize(pty: &Pty, ws: io::Winsize) {
    let (changed, kernel, pgrp) = {
        let mut s = pty.st();
        let changed = s.winsize != ws;
        s.winsize = ws;
        (changed, s.kernel.upgrade(), s.pgrp)
    };
    if changed && let (Some(k), Some(pg)) = (kernel, pgrp) {
        signal_pgrp(&k, pg, Signal::SIGWINCH);
    }
}

/// The slave's node /dev/pts/N as a path in `t`'s root, if it is there.
fn slave_path(root: &vfs::VfsPath, pty: &Pty) -> Option<vfs::VfsPath> {
    let creds = Creds::root();
    let l = vfs::Lookup {
        root,
        start: root,
        creds: &creds,
    };
    l.resolve(format!("/dev/pts/{}", pty.index).as_bytes(), false)
        .ok()
}

/// Records where the pair's node is (for the hangup's unlink).
fn remember_node(pty: &Pty, root: &vfs::VfsPath) {
    let mut n = lock(&pty.node);
    if n.is_none() {
        let creds = Creds::root();
        let l = vfs::Lookup {
            root,
            start: root,
            creds: &creds,
        };
        *n = l.resolve(b"/dev/pts", true).ok();
    }
}

/// TIOCGPTPEER: a slave description without a path lookup's permission checks.
fn open_peer(t: &Task, pty: &Arc<Pty>, flags: u32) -> SysResult<Arc<OpenFile>> {
    let slave = PtySlave::open(pty)?;
    let root = t.fs().root.clone();
    let file = OpenFile::new_ops(slave_path(&root, pty), Box::new(slave), flags | f::O_NOCTTY);
    on_open(t, file, flags)
}

/// /proc/PID/stat's tty_nr (new_encode_dev of 136:N) and tpgid for a process of session
/// `sid` (0 and -1 without a terminal).
pub fn proc_stat_tty(k: &Arc<Kernel>, sid: i32) -> (u32, i32) {
    match ctty_of(k, sid) {
        Some(p) => {
            let pg = p.st().pgrp.unwrap_or(-1);
            let minor = p.index;
            (
                (minor & 0xff) | (PTS_MAJOR << 8) | ((minor & !0xff) << 12),
                pg,
            )
        }
        None => (0, -1),
    }
}

/// Makes the terminal behind `tty` (a pty slave) the controlling terminal of session `sid`
/// with foreground group `pgid`, whoever had it: `Spawn::ctty` for init (sid = pgid = 1),
/// and the runtime's way for a process it starts as a session leader (`exec -t`). Ignored if
/// `tty` is not a pty slave.
pub fn set_session_ctty(k: &Arc<Kernel>, tty: &OpenFile, sid: i32, pgid: i32) {
    if let Some((pty, false)) = tty_of(tty) {
        pty.bind_kernel(k);
        set_ctty(&pty, sid, pgid);
    }
}
