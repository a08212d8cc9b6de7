//! signalfd(2): a file that reads pending signals as `struct signalfd_siginfo` records.
//!
//! Reads are served by the syscall layer on the reading task (`Task::signalfd_read`), because
//! what is read is the *reader's* pending signals (its thread's, then its process's), limited
//! to the signalfd's mask. Readiness (poll/epoll) is computed for the process that created the
//! file: its process-wide pending set plus every member thread's (shortcut: Linux uses the
//! polling thread's pending set). The file's queue is the process's `signal_events` queue,
//! which every signal queued to the process or one of its threads notifies.

use std::sync::{Arc, Mutex, PoisonError};

use abi::signal::{SigInfo, SigSet, Signal};
use abi::{Errno, SysResult};
use vfs::FileOps;
use vfs::waiter::{EventMask, WaitQueue};
use zerocopy::{Immutable, IntoBytes};

use super::ThreadGroup;
use super::task::Task;

/// `struct signalfd_siginfo` (include/uapi/linux/signalfd.h), 128 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, IntoBytes, Immutable)]
pub struct SignalfdSiginfo {
    pub signo: u32,
    pub errno: i32,
    pub code: i32,
    pub pid: u32,
    pub uid: u32,
    pub fd: i32,
    pub tid: u32,
    pub band: u32,
    pub overrun: u32,
    pub trapno: u32,
    pub status: i32,
    pub int: i32,
    pub ptr: u64,
    pub utime: u64,
    pub stime: u64,
    pub addr: u64,
    pub addr_lsb: u16,
    pub _pad2: u16,
    pub syscall: i32,
    pub call_addr: u64,
    pub arch: u32,
    pub _pad: [u8; 28],
}
const _: () = assert!(size_of::<SignalfdSiginfo>() == 128);

/// The record for one dequeued signal, with the fields its kind defines.
pub fn to_signalfd_info(i: &SigInfo) -> SignalfdSiginfo {
    let lo = u32::try_from(i.fields[0] & 0xffff_ffff).unwrap_or(0);
    let hi = u32::try_from(i.fields[0] >> 32).unwrap_or(0);
    let mut r = SignalfdSiginfo {
        signo: i.signo.cast_unsigned(),
        errno: i.errno,
        code: i.code,
        ..SignalfdSiginfo::default()
    };
    let sig = Signal(i.signo);
    let is_fault = i.code > 0
        && matches!(
            sig,
            Signal::SIGSEGV | Signal::SIGBUS | Signal::SIGILL | Signal::SIGFPE | Signal::SIGTRAP
        );
    if is_fault {
        r.addr = i.fields[0];
    } else if i.code == abi::signal::si_code_ext::SI_TIMER {
        r.tid = lo;
        r.overrun = hi;
        r.ptr = i.fields[1];
        r.int = i32::from_ne_bytes(
            u32::try_from(i.fields[1] & 0xffff_ffff)
                .unwrap_or(0)
                .to_ne_bytes(),
        );
    } else {
        r.pid = lo;
        r.uid = hi;
        if sig == Signal::SIGCHLD && i.code > 0 {
            r.status = i32::from_ne_bytes(
                u32::try_from(i.fields[1] & 0xffff_ffff)
                    .unwrap_or(0)
                    .to_ne_bytes(),
            );
        } else {
            r.ptr = i.fields[1];
            r.int = i32::from_ne_bytes(
                u32::try_from(i.fields[1] & 0xffff_ffff)
                    .unwrap_or(0)
                    .to_ne_bytes(),
            );
        }
    }
    r
}

/// A signalfd. See the module doc.
#[derive(Debug)]
pub struct SignalFd {
    pub mask: Mutex<SigSet>,
    pub tg: Arc<ThreadGroup>,
}

impl SignalFd {
    /// The signals this file reads.
    pub fn mask(&self) -> SigSet {
        *self.mask.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FileOps for SignalFd {
    fn read_at(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        // Served by Task::signalfd_read; reaching this means a path that has no task.
        Err(Errno::EINVAL)
    }
    fn write_at(&self, _buf: &[u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    fn is_seekable(&self) -> bool {
        false
    }
    fn stat(&self) -> SysResult<abi::file::Stat> {
        Ok(vfs::anon_inode_stat())
    }
    fn readiness(&self, mask: EventMask) -> EventMask {
        let want = self.mask();
        let g = self.tg.sig();
        let mut pending = g.pending.set().0;
        for m in &g.members {
            pending |= m.sig().pending.set().0;
        }
        EventMask::readable_if(pending & want.0 != 0, mask)
    }
    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.tg.signal_events)
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl Task {
    /// read(2) on a signalfd: dequeues up to `max` records of the reader's signals in `mask`,
    /// blocking for the first unless `nonblock`.
    pub(crate) fn signalfd_read(
        &self,
        sfd: &SignalFd,
        max: usize,
        nonblock: bool,
    ) -> SysResult<Vec<SignalfdSiginfo>> {
        if max == 0 {
            return Err(Errno::EINVAL);
        }
        let _reg = (!nonblock).then(|| {
            self.tg()
                .signal_events
                .register(self.waiter(), EventMask::IN)
        });
        loop {
            self.prepare_wait();
            let others = SigSet(!sfd.mask().0);
            let mut out = Vec::new();
            {
                let mut g = self.tg().sig();
                let mut ts = self.shared.sig();
                while out.len() < max {
                    match ts
                        .pending
                        .dequeue(others)
                        .or_else(|| g.pending.dequeue(others))
                    {
                        Some(i) => out.push(to_signalfd_info(&i)),
                        None => break,
                    }
                }
            }
            if !out.is_empty() {
                return Ok(out);
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            self.wait(None)?;
        }
    }
}
