//! splice(2), tee(2) and vmsplice(2): moving bytes into, out of and between pipes.
//!
//! Built over the pipe primitives in `kernel/pipe.rs` by **copying** bytes (Linux moves page
//! references; nothing here shares or gifts pages, so SPLICE_F_MOVE and SPLICE_F_GIFT are
//! accepted hints that change nothing, as SPLICE_F_MORE is). At least one end must be a pipe
//! (EINVAL otherwise); an offset for a pipe end is ESPIPE, and so here is one for any other
//! non-seekable file (Linux lets a socket's offset through to fail later with EINVAL).
//!
//! - pipe → pipe and tee: one locked step over both pipes (`pipe::transfer`).
//! - pipe → file: the bytes are peeked, written to the file (at the offset given, or at the
//!   file position), and only what the file took is consumed; waits for the first bytes only.
//! - file → pipe: waits for room in the pipe, then reads at most that much from the file and
//!   writes it. A read from a non-seekable file (a socket, a terminal) can lose bytes if a
//!   concurrent writer fills the pipe between the two steps; a seekable file is only advanced
//!   by what the pipe took.
//!
//! Blocking: SPLICE_F_NONBLOCK or O_NONBLOCK on a pipe end makes the pipe side return EAGAIN
//! instead of waiting; waits register on the pipes' queues and end with ERESTARTSYS on a
//! signal. EPIPE raises SIGPIPE, as a write would. Shortcut: a concurrent reader of the same
//! pipe during a pipe → file splice may read bytes the splice also writes (peek, then
//! consume).

use std::sync::Arc;

use abi::Errno;
use abi::file::{self as f, SPLICE_F_ALL, SPLICE_F_NONBLOCK};
use vfs::OpenFile;
use vfs::waiter::{EventMask, WaitQueue};

use super::fs::{MAX_RW_COUNT, read_iovecs, scatter};
use super::{SyscallArgs, SyscallResult, io_result, ok_usize, ok_zero};
use crate::kernel::Task;
use crate::kernel::pipe::{PipeEnd, transfer};

/// Largest copy per step.
const CHUNK: usize = 1 << 20;

fn pipe_of(file: &OpenFile) -> Option<&PipeEnd> {
    file.ops_any()?.downcast_ref::<PipeEnd>()
}

fn raise_sigpipe(t: &Task) {
    let info =
        abi::signal::SigInfo::new(abi::signal::Signal::SIGPIPE, abi::signal::si_code::SI_USER);
    let _ = crate::kernel::signal::send(
        &t.kernel,
        &crate::kernel::signal::Target::Thread(Arc::clone(&t.shared)),
        info,
    );
}

/// SIGPIPE for an EPIPE result.
fn with_sigpipe<R>(t: &Task, r: abi::SysResult<R>) -> abi::SysResult<R> {
    if matches!(r, Err(Errno::EPIPE)) {
        raise_sigpipe(t);
    }
    r
}

/// Runs `op` until it stops answering EAGAIN, sleeping on `queues` in between, unless
/// `nonblock` (then EAGAIN stands).
fn wait_loop<R>(
    t: &Task,
    queues: &[&WaitQueue],
    nonblock: bool,
    mut op: impl FnMut() -> abi::SysResult<R>,
) -> abi::SysResult<R> {
    match op() {
        Err(Errno::EAGAIN) if !nonblock => {}
        r => return r,
    }
    let mask = EventMask::IN | EventMask::OUT;
    let _regs: Vec<_> = queues
        .iter()
        .map(|q| q.register(t.waiter(), mask))
        .collect();
    loop {
        t.prepare_wait();
        match op() {
            Err(Errno::EAGAIN) => {}
            r => return r,
        }
        t.wait(None)?;
    }
}

/// Reads a `loff_t *` offset: EINVAL if negative.
fn read_offset(t: &Task, addr: u64) -> abi::SysResult<u64> {
    let off: i64 = t.copy_in_obj(addr)?;
    u64::try_from(off).map_err(|_| Errno::EINVAL)
}

fn write_offset(t: &Task, addr: u64, off: u64) -> abi::SysResult<()> {
    t.copy_out_obj(addr, &i64::try_from(off).unwrap_or(i64::MAX))
}

fn clamp_len(len: u64) -> usize {
    usize::try_from(len.min(MAX_RW_COUNT)).unwrap_or(0)
}

/// splice(2).
pub fn sys_splice(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (off_in, off_out) = (args.ptr(1), args.ptr(3));
    let len = clamp_len(args.size(4));
    let flags = args.uint(5);
    if len == 0 {
        return ok_zero();
    }
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let fin = t.fds().file(args.fd(0))?;
    let fout = t.fds().file(args.fd(2))?;
    if !fin.is_readable() || !fout.is_writable() {
        return Err(Errno::EBADF);
    }
    let nb = flags & SPLICE_F_NONBLOCK != 0;
    match (pipe_of(&fin), pipe_of(&fout)) {
        (Some(pi), Some(po)) => {
            if off_in != 0 || off_out != 0 {
                return Err(Errno::ESPIPE);
            }
            if pi.same_pipe(po) {
                return Err(Errno::EINVAL);
            }
            let nb = nb || fin.is_nonblocking() || fout.is_nonblocking();
            let r = wait_loop(t, &[pi.queue(), po.queue()], nb, || {
                transfer(pi, po, len, true)
            });
            ok_usize(with_sigpipe(t, r)?)
        }
        (Some(pi), None) => {
            if off_in != 0 {
                return Err(Errno::ESPIPE);
            }
            if fout.flags() & f::O_APPEND != 0 {
                return Err(Errno::EINVAL);
            }
            let at = if off_out == 0 {
                None
            } else {
                if fout.is_stream() {
                    return Err(Errno::ESPIPE);
                }
                Some(read_offset(t, off_out)?)
            };
            let nb = nb || fin.is_nonblocking();
            pipe_to_file(t, pi, &fout, at, off_out, len, nb)
        }
        (None, Some(po)) => {
            if off_out != 0 {
                return Err(Errno::ESPIPE);
            }
            let at = if off_in == 0 {
                None
            } else {
                if fin.is_stream() {
                    return Err(Errno::ESPIPE);
                }
                Some(read_offset(t, off_in)?)
            };
            let nb = nb || fout.is_nonblocking();
            file_to_pipe(t, &fin, po, at, off_in, len, nb)
        }
        (None, None) => Err(Errno::EINVAL),
    }
}

/// splice from pipe `pi` to `fout`, at `at` (written back to `off_addr`) or at the file
/// position.
fn pipe_to_file(
    t: &Task,
    pi: &PipeEnd,
    fout: &Arc<OpenFile>,
    at: Option<u64>,
    off_addr: u64,
    len: usize,
    nb: bool,
) -> SyscallResult {
    let mut buf = vec![0u8; len.min(CHUNK)];
    let mut n = wait_loop(t, &[pi.queue()], nb, || pi.peek(&mut buf))?;
    let mut done = 0usize;
    let mut err = None;
    while n > 0 {
        let chunk = buf.get(..n).unwrap_or_default();
        let w = match at {
            Some(o) => o
                .checked_add(done as u64)
                .ok_or(Errno::EINVAL)
                .and_then(|o| fout.pwrite(chunk, o)),
            None => super::fs::write_all(t, fout, chunk),
        };
        match w {
            Ok(w) => {
                pi.consume(w);
                done += w;
                if w < n || done >= len {
                    break;
                }
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
        let want = (len - done).min(CHUNK);
        n = pi
            .peek(buf.get_mut(..want).unwrap_or_default())
            .unwrap_or_default();
    }
    if let Some(o) = at
        && done > 0
    {
        write_offset(t, off_addr, o.saturating_add(done as u64))?;
    }
    io_result(done, err)
}

/// splice from `fin` (at `at`, written back to `off_addr`, or at its position) into pipe `po`.
fn file_to_pipe(
    t: &Task,
    fin: &OpenFile,
    po: &PipeEnd,
    at: Option<u64>,
    off_addr: u64,
    len: usize,
    nb: bool,
) -> SyscallResult {
    let space = with_sigpipe(t, wait_loop(t, &[po.queue()], nb, || po.space()))?;
    let mut buf = vec![0u8; len.min(space).min(CHUNK)];
    let (n, pos) = match at {
        Some(o) => (fin.pread(&mut buf, o)?, Some(o)),
        None if !fin.is_stream() => {
            let pos = fin.seek(0, f::SEEK_CUR)?;
            (fin.pread(&mut buf, pos)?, None)
        }
        None => (
            super::fs::blocking(t, fin, EventMask::IN, || fin.read(&mut buf))?,
            None,
        ),
    };
    if n == 0 {
        return ok_zero();
    }
    let w = with_sigpipe(t, po.write_some(buf.get(..n).unwrap_or_default()))?;
    match pos {
        Some(o) => write_offset(t, off_addr, o.saturating_add(w as u64))?,
        None if !fin.is_stream() => {
            let step = i64::try_from(w).unwrap_or(i64::MAX);
            fin.seek(step, f::SEEK_CUR)?;
        }
        None => {}
    }
    ok_usize(w)
}

/// tee(2): copies up to `len` bytes from one pipe to another without consuming them.
pub fn sys_tee(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let len = clamp_len(args.size(2));
    let flags = args.uint(3);
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return ok_zero();
    }
    let fin = t.fds().file(args.fd(0))?;
    let fout = t.fds().file(args.fd(1))?;
    if !fin.is_readable() || !fout.is_writable() {
        return Err(Errno::EBADF);
    }
    let (Some(pi), Some(po)) = (pipe_of(&fin), pipe_of(&fout)) else {
        return Err(Errno::EINVAL);
    };
    if pi.same_pipe(po) {
        return Err(Errno::EINVAL);
    }
    let nb = flags & SPLICE_F_NONBLOCK != 0 || fin.is_nonblocking() || fout.is_nonblocking();
    let r = wait_loop(t, &[pi.queue(), po.queue()], nb, || {
        transfer(pi, po, len, false)
    });
    ok_usize(with_sigpipe(t, r)?)
}

/// vmsplice(2): user memory into a pipe's write end, or out of its read end (as writev and
/// readv do, but a write takes what fits without PIPE_BUF atomicity).
pub fn sys_vmsplice(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(3);
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let file = t.fds().file(args.fd(0))?;
    let to_pipe = if file.is_writable() {
        true
    } else if file.is_readable() {
        false
    } else {
        return Err(Errno::EBADF);
    };
    let nr = args.ulong(2);
    if nr > abi::time::IOV_MAX as u64 {
        return Err(Errno::EINVAL);
    }
    let (iovs, total) = read_iovecs(t, args.ptr(1), i32::try_from(nr).unwrap_or(i32::MAX))?;
    if total == 0 {
        return ok_zero();
    }
    let pipe = pipe_of(&file).ok_or(Errno::EBADF)?;
    let nb = flags & SPLICE_F_NONBLOCK != 0 || file.is_nonblocking();
    if to_pipe {
        let space = with_sigpipe(t, wait_loop(t, &[pipe.queue()], nb, || pipe.space()))?;
        let want = total.min(space).min(CHUNK);
        let mut kbuf = Vec::with_capacity(want);
        let mut fault = None;
        for iov in iovs {
            let room = want - kbuf.len();
            if room == 0 {
                break;
            }
            let take = usize::try_from(iov.len).unwrap_or(usize::MAX).min(room);
            let start = kbuf.len();
            kbuf.resize(start + take, 0);
            let (c, e) =
                t.mm.copy_in_partial(iov.base, kbuf.get_mut(start..).unwrap_or_default());
            kbuf.truncate(start + c);
            if e.is_some() {
                fault = e;
                break;
            }
        }
        if kbuf.is_empty() {
            return io_result(0, fault);
        }
        let n = with_sigpipe(t, pipe.write_some(&kbuf))?;
        ok_usize(n)
    } else {
        let mut kbuf = vec![0u8; total.min(CHUNK)];
        let n = wait_loop(t, &[pipe.queue()], nb, || file.read(&mut kbuf))?;
        scatter(t, &iovs, kbuf.get(..n).unwrap_or_default())
    }
}
