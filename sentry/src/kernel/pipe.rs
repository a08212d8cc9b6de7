//! Pipes (pipe(7)) and pidfds: anonymous files with readiness and wait queues.
//!
//! A pipe is a byte ring of `capacity` bytes (64 KiB by default, F_SETPIPE_SZ changes it) with
//! counts of open read and write ends. Each end is its own open file description over a
//! [`PipeEnd`]; dropping the last description of an end closes it and wakes the other side
//! (EOF for readers, EPIPE for writers). Writes of at most PIPE_BUF bytes are atomic: they go in
//! whole or wait (EAGAIN for O_NONBLOCK). The blocking loops (and SIGPIPE on EPIPE) live in the
//! syscall layer; these objects never sleep.
//!
//! splice(2), tee(2) and vmsplice(2) (`syscalls/plumbing.rs`) use the byte-level primitives
//! here ([`PipeEnd::peek`], [`PipeEnd::consume`], [`PipeEnd::write_some`], [`transfer`]):
//! they copy bytes (no page gifting or sharing), and pipe-to-pipe transfers lock both pipes
//! (in address order) so a move or tee is one step.
//!
//! Lock order: `Pipe::state` (two pipes: lower address first), then the pipe's wait queue
//! (notify runs with the state locked so a waiter cannot miss the change it was told about).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use abi::file::{O_RDONLY, O_WRONLY, Stat};
use abi::{Errno, SysResult};
use vfs::waiter::{EventMask, WaitQueue};
use vfs::{FileOps, OpenFile};

use super::task::Task;

/// PIPE_BUF (include/uapi/linux/limits.h): writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// Default capacity: 16 pages (fs/pipe.c PIPE_DEF_BUFFERS).
pub const DEFAULT_CAPACITY: usize = 65536;
/// /proc/sys/fs/pipe-max-size default.
pub const MAX_CAPACITY: usize = 1 << 20;

#[derive(Debug)]
struct PipeState {
    buf: VecDeque<u8>,
    capacity: usize,
    readers: usize,
    writers: usize,
    /// O_DIRECT "packet mode" (pipe2(2)): the lengths of the packets in `buf`, oldest first.
    packets: Option<VecDeque<usize>>,
}

/// The shared buffer of one pipe.
#[derive(Debug)]
pub struct Pipe {
    state: Mutex<PipeState>,
    queue: WaitQueue,
    ino: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pipe {
    fn new(packet_mode: bool) -> Arc<Pipe> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT_INO: AtomicU64 = AtomicU64::new(1000);
        Arc::new(Pipe {
            state: Mutex::new(PipeState {
                buf: VecDeque::new(),
                capacity: DEFAULT_CAPACITY,
                readers: 0,
                writers: 0,
                packets: packet_mode.then(VecDeque::new),
            }),
            queue: WaitQueue::new(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn events(s: &PipeState, is_reader: bool) -> EventMask {
        let mut ev = EventMask::empty();
        if is_reader {
            if !s.buf.is_empty() {
                ev |= EventMask::IN | EventMask::RDNORM;
            }
            if s.writers == 0 {
                ev |= EventMask::HUP;
            }
        } else {
            if s.capacity - s.buf.len().min(s.capacity) >= PIPE_BUF.min(s.capacity) {
                ev |= EventMask::OUT | EventMask::WRNORM;
            }
            if s.readers == 0 {
                ev |= EventMask::ERR;
            }
        }
        ev
    }
}

/// One end of a pipe (the FileOps of a pipe file description).
#[derive(Debug)]
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    is_reader: bool,
}

impl PipeEnd {
    fn new(pipe: &Arc<Pipe>, is_reader: bool) -> PipeEnd {
        {
            let mut s = lock(&pipe.state);
            if is_reader {
                s.readers += 1;
            } else {
                s.writers += 1;
            }
        }
        PipeEnd {
            pipe: Arc::clone(pipe),
            is_reader,
        }
    }

    /// F_GETPIPE_SZ.
    pub fn capacity(&self) -> usize {
        lock(&self.pipe.state).capacity
    }

    /// F_SETPIPE_SZ: rounds up to a power-of-two number of pages; EBUSY if the data would not
    /// fit, EPERM above the system maximum (the sandbox has no CAP_SYS_RESOURCE override).
    pub fn set_capacity(&self, want: u64) -> SysResult<usize> {
        let want = usize::try_from(want).map_err(|_| Errno::EINVAL)?;
        if want > MAX_CAPACITY {
            return Err(Errno::EPERM);
        }
        let pages = want.div_ceil(4096).max(1).next_power_of_two();
        let cap = pages * 4096;
        let mut s = lock(&self.pipe.state);
        if s.buf.len() > cap {
            return Err(Errno::EBUSY);
        }
        s.capacity = cap;
        self.pipe.queue.notify(Pipe::events(&s, false));
        Ok(cap)
    }
}

/// Appends `bytes` (which fit) to the buffer, as packets in packet mode.
fn push(s: &mut PipeState, bytes: impl Iterator<Item = u8>) -> usize {
    let before = s.buf.len();
    s.buf.extend(bytes);
    let n = s.buf.len() - before;
    if let Some(p) = s.packets.as_mut() {
        let mut left = n;
        while left > 0 {
            let k = left.min(PIPE_BUF);
            p.push_back(k);
            left -= k;
        }
    }
    n
}

/// Drops `n` bytes from the front of the buffer, shortening packets to match.
fn pop(s: &mut PipeState, n: usize) {
    let n = n.min(s.buf.len());
    s.buf.drain(..n);
    if let Some(p) = s.packets.as_mut() {
        let mut left = n;
        while left > 0 {
            let Some(front) = p.front_mut() else { break };
            if *front <= left {
                left -= *front;
                p.pop_front();
            } else {
                *front -= left;
                left = 0;
            }
        }
    }
}

impl PipeEnd {
    /// Whether this is the read end.
    pub fn is_read_end(&self) -> bool {
        self.is_reader
    }

    /// Whether `self` and `other` are ends of the same pipe.
    pub fn same_pipe(&self, other: &PipeEnd) -> bool {
        Arc::ptr_eq(&self.pipe, &other.pipe)
    }

    /// The pipe's wait queue.
    pub fn queue(&self) -> &WaitQueue {
        &self.pipe.queue
    }

    /// Copies up to `buf.len()` bytes from the front without consuming them: EAGAIN if empty
    /// while writers exist, 0 at end of file.
    pub fn peek(&self, buf: &mut [u8]) -> SysResult<usize> {
        let s = lock(&self.pipe.state);
        if s.buf.is_empty() {
            return if s.writers == 0 {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = buf.len().min(s.buf.len());
        for (d, b) in buf.iter_mut().zip(s.buf.iter()) {
            *d = *b;
        }
        Ok(n)
    }

    /// Drops `n` bytes that a [`PipeEnd::peek`] returned and the caller has passed on.
    pub fn consume(&self, n: usize) {
        let mut s = lock(&self.pipe.state);
        pop(&mut s, n);
        self.pipe.queue.notify(EventMask::OUT | EventMask::WRNORM);
    }

    /// Free space for a writer: EPIPE without readers, EAGAIN when full.
    pub fn space(&self) -> SysResult<usize> {
        let s = lock(&self.pipe.state);
        if s.readers == 0 {
            return Err(Errno::EPIPE);
        }
        match s.capacity.saturating_sub(s.buf.len()) {
            0 => Err(Errno::EAGAIN),
            n => Ok(n),
        }
    }

    /// Writes as much of `buf` as fits, without PIPE_BUF atomicity (splice semantics):
    /// EPIPE without readers, EAGAIN when full.
    pub fn write_some(&self, buf: &[u8]) -> SysResult<usize> {
        let mut s = lock(&self.pipe.state);
        if s.readers == 0 {
            return Err(Errno::EPIPE);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let free = s.capacity.saturating_sub(s.buf.len());
        if free == 0 {
            return Err(Errno::EAGAIN);
        }
        let n = push(&mut s, buf.iter().take(free).copied());
        self.pipe.queue.notify(EventMask::IN | EventMask::RDNORM);
        Ok(n)
    }
}

/// Moves (`consume`) or copies (tee) up to `len` bytes from the pipe of read end `src` to the
/// pipe of write end `dst`, with both locked: 0 if `src` is empty and has no writers, EAGAIN
/// if it is empty with writers, EPIPE if `dst` has no readers, EAGAIN if `dst` is full (the
/// input is checked first, as fs/splice.c does). The ends must be of different pipes.
pub fn transfer(src: &PipeEnd, dst: &PipeEnd, len: usize, consume: bool) -> SysResult<usize> {
    if src.same_pipe(dst) {
        return Err(Errno::EINVAL);
    }
    let src_first = Arc::as_ptr(&src.pipe) < Arc::as_ptr(&dst.pipe);
    let (mut a, mut b);
    let (s, d): (&mut PipeState, &mut PipeState) = if src_first {
        a = lock(&src.pipe.state);
        b = lock(&dst.pipe.state);
        (&mut a, &mut b)
    } else {
        b = lock(&dst.pipe.state);
        a = lock(&src.pipe.state);
        (&mut a, &mut b)
    };
    if s.buf.is_empty() {
        return if s.writers == 0 {
            Ok(0)
        } else {
            Err(Errno::EAGAIN)
        };
    }
    if d.readers == 0 {
        return Err(Errno::EPIPE);
    }
    let free = d.capacity.saturating_sub(d.buf.len());
    if free == 0 {
        return Err(Errno::EAGAIN);
    }
    let n = len.min(free).min(s.buf.len());
    let moved: Vec<u8> = s.buf.iter().take(n).copied().collect();
    push(d, moved.into_iter());
    dst.pipe.queue.notify(EventMask::IN | EventMask::RDNORM);
    if consume {
        pop(s, n);
        src.pipe.queue.notify(EventMask::OUT | EventMask::WRNORM);
    }
    Ok(n)
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut s = lock(&self.pipe.state);
        if self.is_reader {
            s.readers -= 1;
            if s.readers == 0 {
                self.pipe.queue.notify(EventMask::ERR | EventMask::OUT);
            }
        } else {
            s.writers -= 1;
            if s.writers == 0 {
                self.pipe.queue.notify(EventMask::HUP | EventMask::IN);
            }
        }
    }
}

impl FileOps for PipeEnd {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        let mut s = lock(&self.pipe.state);
        if buf.is_empty() {
            return Ok(0);
        }
        if s.buf.is_empty() {
            return if s.writers == 0 {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        // Packet mode: one packet per read; what does not fit the buffer is discarded.
        let (n, consume) = match s.packets.as_mut().and_then(VecDeque::pop_front) {
            Some(p) => (buf.len().min(p), p),
            None => {
                let n = buf.len().min(s.buf.len());
                (n, n)
            }
        };
        let consume = consume.min(s.buf.len());
        for (d, b) in buf.iter_mut().zip(s.buf.drain(..consume)) {
            *d = b;
        }
        self.pipe.queue.notify(EventMask::OUT | EventMask::WRNORM);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], _off: u64) -> SysResult<usize> {
        let mut s = lock(&self.pipe.state);
        if s.readers == 0 {
            return Err(Errno::EPIPE);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let free = s.capacity.saturating_sub(s.buf.len());
        // pipe(7): writes of at most PIPE_BUF bytes are atomic.
        if free == 0 || (buf.len() <= PIPE_BUF && free < buf.len()) {
            return Err(Errno::EAGAIN);
        }
        // Writes larger than PIPE_BUF become several packets.
        let n = push(&mut s, buf.iter().take(free).copied());
        self.pipe.queue.notify(EventMask::IN | EventMask::RDNORM);
        Ok(n)
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(Stat {
            mode: abi::file::S_IFIFO | 0o600,
            nlink: 1,
            ino: self.pipe.ino,
            blksize: 4096,
            dev: 12,
            ..Stat::default()
        })
    }

    fn ioctl(&self, mem: &dyn vfs::UserMemory, cmd: u32, arg: u64) -> SysResult<u64> {
        if cmd == abi::ioctl::FIONREAD {
            let n = i32::try_from(lock(&self.pipe.state).buf.len()).unwrap_or(i32::MAX);
            mem.copy_out(arg, &n.to_ne_bytes())?;
            return Ok(0);
        }
        Err(Errno::ENOTTY)
    }

    fn readiness(&self, mask: EventMask) -> EventMask {
        Pipe::events(&lock(&self.pipe.state), self.is_reader) & (mask | EventMask::ALWAYS)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pipe.queue)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A new pipe: (read end, write end) descriptions with the given status flags (O_NONBLOCK,
/// O_DIRECT).
pub fn new_pipe(flags: u32) -> (Arc<OpenFile>, Arc<OpenFile>) {
    let p = Pipe::new(flags & abi::file::O_DIRECT != 0);
    let flags = flags & !abi::file::O_DIRECT;
    let r = OpenFile::new_ops(None, Box::new(PipeEnd::new(&p, true)), O_RDONLY | flags);
    let w = OpenFile::new_ops(None, Box::new(PipeEnd::new(&p, false)), O_WRONLY | flags);
    (r, w)
}

/// A pidfd (pidfd_open(2)): readable (POLLIN) once the process has exited.
#[derive(Debug)]
pub struct PidFd {
    pub tg: Arc<super::ThreadGroup>,
}

impl FileOps for PidFd {
    fn read_at(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write_at(&self, _buf: &[u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    fn is_seekable(&self) -> bool {
        false
    }
    fn stat(&self) -> SysResult<Stat> {
        Ok(vfs::anon_inode_stat())
    }
    fn readiness(&self, mask: EventMask) -> EventMask {
        let g = self.tg.sig();
        EventMask::readable_if(g.members.is_empty(), mask)
    }
    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.tg.member_events)
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Opens a pidfd for process `pid` in `t`'s table (close-on-exec, as pidfds always are).
pub(crate) fn new_pidfd(t: &Task, pid: i32) -> SysResult<i32> {
    let tg = t
        .kernel
        .tree()
        .proc(pid)
        .map(|p| Arc::clone(&p.tg))
        .ok_or(Errno::ESRCH)?;
    let f = OpenFile::new_ops(None, Box::new(PidFd { tg }), abi::file::O_RDWR);
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    t.fds().insert_from(0, f, true, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_empty_with_writer_would_block_and_without_is_eof() {
        let (r, w) = new_pipe(0);
        let mut b = [0u8; 4];
        assert_eq!(r.read(&mut b), Err(Errno::EAGAIN));
        drop(w);
        assert_eq!(r.read(&mut b), Ok(0));
    }

    #[test]
    fn write_without_reader_is_epipe() {
        let (r, w) = new_pipe(0);
        drop(r);
        assert_eq!(w.write(b"x"), Err(Errno::EPIPE));
    }

    #[test]
    fn small_writes_are_atomic() {
        let (_r, w) = new_pipe(0);
        let big = vec![0u8; DEFAULT_CAPACITY - 100];
        assert_eq!(w.write(&big), Ok(DEFAULT_CAPACITY - 100));
        // 200 bytes do not fit in the 100 left: nothing is written.
        assert_eq!(w.write(&[1u8; 200]), Err(Errno::EAGAIN));
    }

    #[test]
    fn large_writes_are_partial() {
        let (_r, w) = new_pipe(0);
        let big = vec![0u8; DEFAULT_CAPACITY + PIPE_BUF + 1];
        assert_eq!(w.write(&big), Ok(DEFAULT_CAPACITY));
    }

    fn end(f: &OpenFile) -> &PipeEnd {
        f.ops_any()
            .and_then(|a| a.downcast_ref::<PipeEnd>())
            .expect("a pipe end")
    }

    #[test]
    fn peek_then_consume_and_transfer_between_pipes() {
        let (r1, w1) = new_pipe(0);
        let (r2, w2) = new_pipe(0);
        assert_eq!(w1.write(b"abcdef"), Ok(6));
        let mut b = [0u8; 4];
        assert_eq!(end(&r1).peek(&mut b), Ok(4));
        end(&r1).consume(2);
        // tee copies, splice moves.
        assert_eq!(transfer(end(&r1), end(&w2), 2, false), Ok(2));
        assert_eq!(transfer(end(&r1), end(&w2), 10, true), Ok(4));
        let mut out = [0u8; 8];
        assert_eq!(r2.read(&mut out), Ok(6));
        assert_eq!(&out[..6], b"cdcdef");
        assert_eq!(transfer(end(&r1), end(&w2), 1, true), Err(Errno::EAGAIN));
        drop(w1);
        assert_eq!(transfer(end(&r1), end(&w2), 1, true), Ok(0));
        assert_eq!(transfer(end(&r2), end(&w2), 1, true), Err(Errno::EINVAL));
    }

    #[test]
    fn data_round_trips_in_order() {
        let (r, w) = new_pipe(0);
        assert_eq!(w.write(b"hello"), Ok(5));
        let mut b = [0u8; 3];
        assert_eq!(r.read(&mut b), Ok(3));
        assert_eq!(&b, b"hel");
        assert_eq!(r.read(&mut b), Ok(2));
        assert_eq!(&b[..2], b"lo");
    }
}
