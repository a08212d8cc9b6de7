//! eventfd(2): a 64-bit counter as a file, with its own wait queue.
//!
//! The rules live in [`Counter`] (pure, unit-tested): a write adds its value, blocking (EAGAIN
//! here) while the sum would pass `0xffff_ffff_ffff_fffe`; a read returns the value and resets
//! it to zero, or with EFD_SEMAPHORE returns 1 and decrements; both block (EAGAIN) while they
//! cannot proceed. [`EventFd`] is the `FileOps` over it. As with pipes, the object never
//! sleeps: the syscall layer's `blocking()` loop (fs.rs, used by read(2)/write(2)) turns EAGAIN
//! into a wait on [`FileOps::wait_queue`] unless the description is O_NONBLOCK.
//!
//! Readiness (fs/eventfd.c eventfd_poll): IN when the counter is non-zero, OUT while a write of
//! 1 would not block, ERR if the counter is at `u64::MAX` (unreachable through write(2)).
//!
//! Known gaps: lseek(2) fails with ESPIPE (Linux's noop_llseek returns 0); write(2) of zero
//! bytes returns 0 (Linux: EINVAL) because the syscall layer's stream loop never calls the file
//! for an empty buffer; no /proc/self/fdinfo "eventfd-count" line.
//!
//! Lock order: `EventFd::counter`, then the eventfd's wait queue (notify runs with the counter
//! locked, as pipes do, so a waiter cannot miss the change it was told about).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use abi::file::{O_CLOEXEC, O_NONBLOCK, O_RDWR, Stat};
use abi::{Errno, SysResult};
use vfs::waiter::{EventMask, WaitQueue};
use vfs::{FileOps, OpenFile};

/// EFD_SEMAPHORE (include/uapi/linux/eventfd.h).
pub const EFD_SEMAPHORE: u32 = 1;
/// EFD_CLOEXEC: the same bit as O_CLOEXEC.
pub const EFD_CLOEXEC: u32 = O_CLOEXEC;
/// EFD_NONBLOCK: the same bit as O_NONBLOCK.
pub const EFD_NONBLOCK: u32 = O_NONBLOCK;
/// The largest value the counter may hold (eventfd(2): "0xfffffffffffffffe").
pub const COUNTER_MAX: u64 = u64::MAX - 1;
/// Bytes a read or write transfers: one `uint64_t`.
const VALUE_SIZE: usize = 8;

/// The counter and its rules (fs/eventfd.c eventfd_read/eventfd_write), without I/O.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter(pub u64);

impl Counter {
    /// What a read returns, updating the counter; EAGAIN while it is zero.
    pub fn read(&mut self, semaphore: bool) -> SysResult<u64> {
        if self.0 == 0 {
            return Err(Errno::EAGAIN);
        }
        if semaphore {
            self.0 -= 1;
            Ok(1)
        } else {
            Ok(std::mem::take(&mut self.0))
        }
    }

    /// Adds `v`: EINVAL for `u64::MAX` (eventfd(2)), EAGAIN while the sum would pass
    /// [`COUNTER_MAX`].
    pub fn write(&mut self, v: u64) -> SysResult<()> {
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        if COUNTER_MAX - self.0 < v {
            return Err(Errno::EAGAIN);
        }
        self.0 += v;
        Ok(())
    }

    /// Current readiness (eventfd_poll).
    pub fn events(self) -> EventMask {
        let mut ev = EventMask::empty();
        if self.0 > 0 {
            ev |= EventMask::IN | EventMask::RDNORM;
        }
        if self.0 == u64::MAX {
            ev |= EventMask::ERR;
        }
        if self.0 < COUNTER_MAX {
            ev |= EventMask::OUT | EventMask::WRNORM;
        }
        ev
    }
}

/// The implementation of an eventfd file description.
#[derive(Debug)]
pub struct EventFd {
    counter: Mutex<Counter>,
    semaphore: bool,
    queue: WaitQueue,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FileOps for EventFd {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        // eventfd(2): "fails with the error EINVAL if the size of the supplied buffer is less
        // than 8 bytes".
        let dst = buf.get_mut(..VALUE_SIZE).ok_or(Errno::EINVAL)?;
        let mut c = lock(&self.counter);
        let v = c.read(self.semaphore)?;
        dst.copy_from_slice(&v.to_ne_bytes());
        self.queue.notify(EventMask::OUT | EventMask::WRNORM);
        Ok(VALUE_SIZE)
    }

    fn write_at(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        // Linux (checked natively on 6.18) accepts exactly 8 bytes: shorter and longer writes
        // fail with EINVAL.
        let bytes: [u8; VALUE_SIZE] = buf.try_into().map_err(|_| Errno::EINVAL)?;
        let mut c = lock(&self.counter);
        c.write(u64::from_ne_bytes(bytes))?;
        self.queue.notify(EventMask::IN | EventMask::RDNORM);
        Ok(VALUE_SIZE)
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(vfs::anon_inode_stat())
    }

    fn readiness(&self, mask: EventMask) -> EventMask {
        lock(&self.counter).events() & (mask | EventMask::ALWAYS)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.queue)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Options of a new eventfd, decoded from eventfd2(2)'s flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventFdOpts {
    pub semaphore: bool,
    pub nonblocking: bool,
    pub cloexec: bool,
}

impl EventFdOpts {
    /// Decodes eventfd2 flags: EINVAL for any bit other than EFD_SEMAPHORE, EFD_CLOEXEC and
    /// EFD_NONBLOCK (fs/eventfd.c do_eventfd).
    pub fn from_flags(flags: u32) -> SysResult<EventFdOpts> {
        if flags & !(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(EventFdOpts {
            semaphore: flags & EFD_SEMAPHORE != 0,
            nonblocking: flags & EFD_NONBLOCK != 0,
            cloexec: flags & EFD_CLOEXEC != 0,
        })
    }
}

/// A new eventfd description with counter `initval` (read-write, as Linux opens it).
pub fn new_eventfd(initval: u32, opts: EventFdOpts) -> Arc<OpenFile> {
    let ops = EventFd {
        counter: Mutex::new(Counter(u64::from(initval))),
        semaphore: opts.semaphore,
        queue: WaitQueue::new(),
    };
    let status = if opts.nonblocking { O_NONBLOCK } else { 0 };
    OpenFile::new_ops(None, Box::new(ops), O_RDWR | status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_returns_value_and_resets() {
        let mut c = Counter(5);
        assert_eq!(c.read(false), Ok(5));
        assert_eq!(c, Counter(0));
        assert_eq!(c.read(false), Err(Errno::EAGAIN));
    }

    #[test]
    fn semaphore_read_returns_one_and_decrements() {
        let mut c = Counter(2);
        assert_eq!(c.read(true), Ok(1));
        assert_eq!(c.read(true), Ok(1));
        assert_eq!(c.read(true), Err(Errno::EAGAIN));
    }

    #[test]
    fn write_of_all_ones_is_einval() {
        let mut c = Counter(0);
        assert_eq!(c.write(u64::MAX), Err(Errno::EINVAL));
        assert_eq!(c, Counter(0));
    }

    #[test]
    fn write_past_max_would_block_and_changes_nothing() {
        let mut c = Counter(0);
        assert_eq!(c.write(COUNTER_MAX), Ok(()));
        assert_eq!(c.write(1), Err(Errno::EAGAIN));
        assert_eq!(c, Counter(COUNTER_MAX));
        // A write of zero always fits.
        assert_eq!(c.write(0), Ok(()));
    }

    #[test]
    fn readiness_follows_the_counter() {
        assert_eq!(Counter(0).events(), EventMask::OUT | EventMask::WRNORM);
        assert_eq!(
            Counter(1).events(),
            EventMask::IN | EventMask::RDNORM | EventMask::OUT | EventMask::WRNORM
        );
        assert_eq!(
            Counter(COUNTER_MAX).events(),
            EventMask::IN | EventMask::RDNORM
        );
        assert_eq!(
            Counter(COUNTER_MAX - 1).events() & EventMask::OUT,
            EventMask::OUT
        );
    }

    #[test]
    fn flags_outside_the_three_are_einval() {
        assert_eq!(EventFdOpts::from_flags(2), Err(Errno::EINVAL));
        let o = EventFdOpts::from_flags(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
        assert_eq!(
            o,
            Ok(EventFdOpts {
                semaphore: true,
                nonblocking: true,
                cloexec: true
            })
        );
    }

    #[test]
    fn file_reads_need_eight_bytes_and_writes_exactly_eight() {
        let f = new_eventfd(3, EventFdOpts::default());
        assert_eq!(f.read(&mut [0u8; 4]), Err(Errno::EINVAL));
        assert_eq!(f.write(&[0u8; 16]), Err(Errno::EINVAL));
        let mut b = [0u8; 16];
        assert_eq!(f.read(&mut b), Ok(8));
        assert_eq!(u64::from_ne_bytes(b[..8].try_into().unwrap()), 3);
        assert_eq!(f.read(&mut b), Err(Errno::EAGAIN));
        assert_eq!(f.write(&7u64.to_ne_bytes()), Ok(8));
        assert_eq!(f.readiness(EventMask::IN), EventMask::IN);
    }

    #[test]
    fn read_and_write_notify_the_queue() {
        use vfs::waiter::{Waiter, WakeReason};
        let f = new_eventfd(0, EventFdOpts::default());
        let w = Waiter::new();
        let q = f.wait_queue().expect("eventfd has a queue");
        let _r = q.register(w.clone(), EventMask::IN);
        w.prepare();
        assert_eq!(f.write(&1u64.to_ne_bytes()), Ok(8));
        assert_eq!(w.wait(None), WakeReason::Notified);
    }
}
