//! File syscalls: descriptors, I/O, paths, metadata.
//!
//! Files with a direct path (tmpfs pages, donated gofer fds) move data straight between the
//! file and the app's MemoryFile pages (`read_direct`/`write_direct`: one copy or host
//! pread/pwrite per contiguous run). Everything else moves through a sentry buffer: read/pread fill it from
//! the file and copy it out to the app; write/pwrite copy in first. Transfers are done in chunks of at most [`CHUNK`] bytes; a
//! read keeps going to the next chunk only after a full one, so a short read from a terminal
//! returns at once. (With the host-fd and tmpfs files of today this matches Linux; pipes and
//! sockets arrive with their own readiness rules.)

use std::sync::Arc;

use abi::Errno;
use abi::file as f;
use abi::time::{IOV_MAX, Iovec};
use vfs::OpenFile;
use vfs::waiter::EventMask;

use super::{SyscallArgs, SyscallResult, io_result, ok_usize, ok_zero};
use crate::kernel::{Task, TaskMemory};

/// Largest single transfer (MAX_RW_COUNT in include/linux/fs.h).
pub(super) const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Size of the sentry bounce buffer per step.
const CHUNK: usize = 1 << 20;

thread_local! {
    /// Each task thread's bounce buffer for read/write (up to BOUNCE_KEEP bytes, kept between
    /// calls: a zeroed allocation per call costs page faults and a memset per syscall).
    static BOUNCE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Most bytes of bounce buffer a thread keeps (larger transfers allocate as before).
const BOUNCE_KEEP: usize = 256 << 10;

/// Runs `f` with a buffer of at least `n` bytes: the thread's bounce buffer (for n up to
/// BOUNCE_KEEP), or a fresh one if that is in use further up the stack or `n` is larger.
/// Its contents are whatever was there before: callers use only what they fill.
fn with_bounce<R>(n: usize, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    if n > BOUNCE_KEEP {
        return f(&mut vec![0u8; n]);
    }
    BOUNCE.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < n {
                buf.resize(n, 0);
            }
            f(&mut buf)
        }
        Err(_) => f(&mut vec![0u8; n]),
    })
}

fn clamp_count(count: u64) -> usize {
    usize::try_from(count.min(MAX_RW_COUNT)).unwrap_or(CHUNK)
}

/// Checks that the first byte at `addr` is writable before consuming input, so a bad buffer
/// fails with EFAULT without eating data (the byte is written back unchanged).
fn probe_writable(t: &Task, addr: u64) -> Result<(), Errno> {
    let mut b = [0u8; 1];
    t.mm.copy_in(addr, &mut b)?;
    t.mm.copy_out(addr, &b)
}

/// Reads up to `count` bytes with `read_fn` (called with the chunk and the bytes done so far)
/// and copies them to `addr`.
fn read_to_user(
    t: &Task,
    file: &OpenFile,
    addr: u64,
    count: usize,
    mut read_fn: impl FnMut(&mut [u8], usize) -> abi::SysResult<usize>,
    rewind_on_fault: bool,
) -> SyscallResult {
    if count == 0 {
        return read_fn(&mut [], 0).and_then(|_| ok_usize(0));
    }
    probe_writable(t, addr)?;
    with_bounce(count.min(CHUNK), |kbuf| {
        let mut done = 0usize;
        while done < count {
            let want = (count - done).min(CHUNK);
            let Some(chunk) = kbuf.get_mut(..want) else {
                break;
            };
            let n = match read_fn(chunk, done) {
                Ok(n) => n.min(want),
                Err(e) => return io_result(done, Some(e)),
            };
            let dst = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let (c, err) =
                t.mm.copy_out_partial(dst, kbuf.get(..n).unwrap_or_default());
            done += c;
            if let Some(e) = err {
                if rewind_on_fault && c < n {
                    // Give back what the app never received (Linux advances by bytes copied).
                    let back = i64::try_from(n - c).unwrap_or(0);
                    let _ = file.seek(-back, f::SEEK_CUR);
                }
                return io_result(done, Some(e));
            }
            if n < want {
                break;
            }
        }
        ok_usize(done)
    })
}

/// Copies up to `count` bytes from `addr` and writes them with `write_fn`.
fn write_from_user(
    t: &Task,
    addr: u64,
    count: usize,
    mut write_fn: impl FnMut(&[u8], usize) -> abi::SysResult<usize>,
) -> SyscallResult {
    if count == 0 {
        return write_fn(&[], 0).and_then(|_| ok_usize(0));
    }
    with_bounce(count.min(CHUNK), |kbuf| {
        let mut done = 0usize;
        while done < count {
            let want = (count - done).min(CHUNK);
            let src = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let Some(chunk) = kbuf.get_mut(..want) else {
                break;
            };
            let (c, err) = t.mm.copy_in_partial(src, chunk);
            if c > 0 {
                match write_fn(kbuf.get(..c).unwrap_or_default(), done) {
                    Ok(n) => {
                        done += n;
                        if n < c {
                            return ok_usize(done);
                        }
                    }
                    Err(e) => return io_result(done, Some(e)),
                }
            }
            if let Some(e) = err {
                return io_result(done, Some(e));
            }
        }
        ok_usize(done)
    })
}

fn readable_file(t: &Task, fd: i32) -> abi::SysResult<Arc<OpenFile>> {
    let file = t.fds().file(fd)?;
    if file.is_path_only() || !file.is_readable() {
        return Err(Errno::EBADF);
    }
    Ok(file)
}

fn writable_file(t: &Task, fd: i32) -> abi::SysResult<Arc<OpenFile>> {
    let file = t.fds().file(fd)?;
    if file.is_path_only() || !file.is_writable() {
        return Err(Errno::EBADF);
    }
    Ok(file)
}

/// Runs `op` until it stops answering EAGAIN, sleeping on the file's wait queue in between —
/// unless the description is O_NONBLOCK or the file has no queue (then EAGAIN stands). A
/// signal ends the wait with ERESTARTSYS (restart or EINTR is decided at return).
pub(crate) fn blocking<R>(
    t: &Task,
    file: &OpenFile,
    mask: EventMask,
    mut op: impl FnMut() -> abi::SysResult<R>,
) -> abi::SysResult<R> {
    match op() {
        Err(Errno::EAGAIN) if !file.is_nonblocking() => {}
        r => return r,
    }
    let Some(q) = file.wait_queue() else {
        return Err(Errno::EAGAIN);
    };
    // A socket's SO_RCVTIMEO/SO_SNDTIMEO bounds the wait (then EAGAIN), and a signal then
    // ends it with EINTR, never a restart (socket(7); net/core/sock.c sock_intr_errno).
    let timeout = crate::socket::unix::block_timeout(file, mask)
        .or_else(|| crate::socket::inet::block_timeout(file, mask));
    let deadline = timeout.and_then(|d| std::time::Instant::now().checked_add(d));
    let _reg = q.register(t.waiter(), mask);
    loop {
        t.prepare_wait();
        match op() {
            Err(Errno::EAGAIN) => {}
            r => return r,
        }
        match t.wait(deadline) {
            Ok(()) => {}
            Err(Errno::ETIMEDOUT) => return Err(Errno::EAGAIN),
            Err(Errno::ERESTARTSYS) if timeout.is_some() => return Err(Errno::EINTR),
            Err(e) => return Err(e),
        }
    }
}

/// Reads `b` from a file, blocking for the first bytes only (a stream returns what it has).
fn read_blocking(t: &Task, file: &OpenFile, b: &mut [u8], done: usize) -> abi::SysResult<usize> {
    if done == 0 {
        blocking(t, file, EventMask::IN, || file.read(b))
    } else {
        file.read(b)
    }
}

/// Writes all of `b` to a stream (blocking between partial writes unless O_NONBLOCK), or
/// once to a seekable file. EPIPE raises SIGPIPE in the writer, as pipe_write does.
pub(super) fn write_all(t: &Task, file: &OpenFile, b: &[u8]) -> abi::SysResult<usize> {
    let res = if file.is_stream() {
        let mut off = 0usize;
        let mut err = None;
        while off < b.len() {
            match blocking(t, file, EventMask::OUT, || {
                file.write(b.get(off..).unwrap_or_default())
            }) {
                Ok(n) => off += n,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
            if file.is_nonblocking() {
                break;
            }
        }
        match err {
            Some(e) if off == 0 => Err(e),
            _ => Ok(off),
        }
    } else {
        file.write(b)
    };
    if res == Err(Errno::EPIPE) {
        let info =
            abi::signal::SigInfo::new(abi::signal::Signal::SIGPIPE, abi::signal::si_code::SI_USER);
        let _ = crate::kernel::signal::send(
            &t.kernel,
            &crate::kernel::signal::Target::Thread(Arc::clone(&t.shared)),
            info,
        );
    }
    res
}

/// read(2) on a signalfd: records of the reader's own pending signals.
fn signalfd_read(t: &Task, file: &OpenFile, addr: u64, count: usize) -> Option<SyscallResult> {
    let sfd = file
        .ops_any()?
        .downcast_ref::<crate::kernel::signalfd::SignalFd>()?;
    let rec = size_of::<crate::kernel::signalfd::SignalfdSiginfo>();
    Some((|| {
        let recs = t.signalfd_read(sfd, count / rec, file.is_nonblocking())?;
        let mut bytes = Vec::with_capacity(recs.len() * rec);
        for r in &recs {
            bytes.extend_from_slice(zerocopy::IntoBytes::as_bytes(r));
        }
        t.mm.copy_out(addr, &bytes)?;
        ok_usize(bytes.len())
    })())
}

/// read(2) (`at` None) or pread(2) straight from the file into the app's memory (no sentry
/// buffer: one copy or host pread per contiguous run of MemoryFile pages), for files with a
/// direct path (tmpfs, donated gofer fds); `None` otherwise. Lock order: the description's
/// offset, then the address space.
fn read_direct(
    t: &Task,
    file: &OpenFile,
    addr: u64,
    count: usize,
    at: Option<u64>,
) -> Option<SyscallResult> {
    direct(t, addr, count, true, |io| file.read_direct(at, io))
}

/// write(2)/pwrite(2) counterpart of [`read_direct`].
fn write_direct(
    t: &Task,
    file: &OpenFile,
    addr: u64,
    count: usize,
    at: Option<u64>,
) -> Option<SyscallResult> {
    direct(t, addr, count, false, |io| file.write_direct(at, io))
}

/// The transfer loop of [`read_direct`] and [`write_direct`]: `start(io)` is the
/// `OpenFile::{read,write}_direct` call, `io` walks the app's pages in `[addr, addr+count)`.
fn direct(
    t: &Task,
    addr: u64,
    count: usize,
    to_user: bool,
    start: impl FnOnce(
        &mut dyn FnMut(&dyn vfs::FileOps, u64) -> (usize, Option<Errno>),
    ) -> Option<(usize, Option<Errno>)>,
) -> Option<SyscallResult> {
    if count == 0 {
        return None;
    }
    let mut io = |ops: &dyn vfs::FileOps, pos: u64| {
        t.mm.io_in_place(addr, count, to_user, |mf, mf_off, len, done| {
            let p = pos.checked_add(done as u64).ok_or(Errno::EINVAL)?;
            if to_user {
                ops.read_into_memfile(mf, mf_off, len, p)
            } else {
                ops.write_from_memfile(mf, mf_off, len, p)
            }
        })
    };
    let (n, err) = start(&mut io)?;
    Some(io_result(n, err))
}

/// read(2).
pub fn sys_read(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = readable_file(t, args.fd(0))?;
    if let Some(r) = signalfd_read(t, &file, args.ptr(1), clamp_count(args.size(2))) {
        return r;
    }
    let count = clamp_count(args.size(2));
    if let Some(r) = super::inet::read_write(t, &file, args.ptr(1), count, true) {
        return r;
    }
    if let Some(r) = read_direct(t, &file, args.ptr(1), count, None) {
        return r;
    }
    crate::tty::check_read(t, &file)?;
    read_to_user(
        t,
        &file,
        args.ptr(1),
        count,
        |b, done| {
            crate::tty::timed_read(t, &file, b, done)
                .unwrap_or_else(|| read_blocking(t, &file, b, done))
        },
        true,
    )
}

/// write(2).
pub fn sys_write(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = writable_file(t, args.fd(0))?;
    let count = clamp_count(args.size(2));
    if let Some(r) = super::inet::read_write(t, &file, args.ptr(1), count, false) {
        return r;
    }
    if let Some(r) = write_direct(t, &file, args.ptr(1), count, None) {
        return r;
    }
    crate::tty::check_write(t, &file)?;
    write_from_user(t, args.ptr(1), count, |b, _| write_all(t, &file, b))
}

/// pipe(2).
pub fn sys_pipe(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_pipe2(t, args.ptr(0), 0)
}

/// pipe2(2): O_CLOEXEC, O_NONBLOCK and O_DIRECT (accepted; packet mode is not implemented).
pub fn sys_pipe2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_pipe2(t, args.ptr(0), args.uint(1))
}

fn do_pipe2(t: &mut Task, addr: u64, flags: u32) -> SyscallResult {
    if flags & !(f::O_CLOEXEC | f::O_NONBLOCK | f::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = crate::kernel::pipe::new_pipe(flags & (f::O_NONBLOCK | f::O_DIRECT));
    super::install_pair(t, r, w, flags & f::O_CLOEXEC != 0, addr)
}

/// The `loff_t pos` argument of pread64/pwrite64: negative is EINVAL.
fn offset_arg(args: &SyscallArgs, i: usize) -> abi::SysResult<u64> {
    u64::try_from(args.long(i)).map_err(|_| Errno::EINVAL)
}

/// pread64(2).
pub fn sys_pread64(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = readable_file(t, args.fd(0))?;
    let count = clamp_count(args.size(2));
    let off = offset_arg(args, 3)?;
    if let Some(r) = read_direct(t, &file, args.ptr(1), count, Some(off)) {
        return r;
    }
    read_to_user(
        t,
        &file,
        args.ptr(1),
        count,
        |b, done| {
            let at = off.checked_add(done as u64).ok_or(Errno::EINVAL)?;
            file.pread(b, at)
        },
        false,
    )
}

/// pwrite64(2).
pub fn sys_pwrite64(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = writable_file(t, args.fd(0))?;
    let count = clamp_count(args.size(2));
    let off = offset_arg(args, 3)?;
    if let Some(r) = write_direct(t, &file, args.ptr(1), count, Some(off)) {
        return r;
    }
    write_from_user(t, args.ptr(1), count, |b, done| {
        let at = off.checked_add(done as u64).ok_or(Errno::EINVAL)?;
        file.pwrite(b, at)
    })
}

/// Reads and validates an iovec array (readv(2): EINVAL if iovcnt is negative or above
/// IOV_MAX, or if the lengths overflow ssize_t). Total is clamped to MAX_RW_COUNT.
pub(super) fn read_iovecs(t: &Task, addr: u64, iovcnt: i32) -> abi::SysResult<(Vec<Iovec>, usize)> {
    let n = usize::try_from(iovcnt).map_err(|_| Errno::EINVAL)?;
    if n > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut iovs = Vec::with_capacity(n);
    let mut total: u64 = 0;
    for i in 0..n {
        let at = addr.checked_add((i as u64) * 16).ok_or(Errno::EFAULT)?;
        let iov: Iovec = t.copy_in_obj(at)?;
        if iov.len > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        total = total.checked_add(iov.len).ok_or(Errno::EINVAL)?;
        if total > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        iovs.push(iov);
    }
    Ok((iovs, clamp_count(total)))
}

/// readv(2): one read of the total length, scattered over the buffers.
pub fn sys_readv(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_readv(t, args, None, 0)
}

/// readv(2) (`at` None: at the file offset, which advances) and preadv/preadv2 (`at`), with
/// preadv2's RWF_* `flags` (already validated; only RWF_NOWAIT changes anything: no wait).
pub(super) fn do_readv(
    t: &mut Task,
    args: &SyscallArgs,
    at: Option<u64>,
    flags: u32,
) -> SyscallResult {
    let file = readable_file(t, args.fd(0))?;
    if at.is_none() {
        crate::tty::check_read(t, &file)?;
    }
    let (iovs, total) = read_iovecs(t, args.ptr(1), args.int(2))?;
    let mut kbuf = vec![0u8; total.min(CHUNK * 8)];
    let n = match at {
        Some(off) => file.pread(&mut kbuf, off)?,
        None if flags & f::RWF_NOWAIT != 0 => file.read(&mut kbuf)?,
        None => read_blocking(t, &file, &mut kbuf, 0)?,
    };
    scatter(t, &iovs, kbuf.get(..n).unwrap_or_default())
}

/// Copies `data` out across `iovs` in order; the count copied, or the error after partial
/// progress as [`io_result`] decides (readv's rule).
pub(super) fn scatter(t: &Task, iovs: &[Iovec], data: &[u8]) -> SyscallResult {
    let mut done = 0usize;
    for iov in iovs {
        if done >= data.len() {
            break;
        }
        let take = usize::try_from(iov.len)
            .unwrap_or(usize::MAX)
            .min(data.len() - done);
        let (c, err) =
            t.mm.copy_out_partial(iov.base, data.get(done..done + take).unwrap_or_default());
        done += c;
        if err.is_some() {
            return io_result(done, err);
        }
    }
    ok_usize(done)
}

/// writev(2): the buffers gathered, then one write.
pub fn sys_writev(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_writev(t, args, None, 0)
}

/// writev(2) (`at` None) and pwritev/pwritev2 (`at`), with pwritev2's validated RWF_* `flags`:
/// RWF_APPEND writes at the end, RWF_NOAPPEND at the offset even under O_APPEND, RWF_NOWAIT
/// does not wait for a full pipe.
pub(super) fn do_writev(
    t: &mut Task,
    args: &SyscallArgs,
    at: Option<u64>,
    flags: u32,
) -> SyscallResult {
    let file = writable_file(t, args.fd(0))?;
    if at.is_none() {
        crate::tty::check_write(t, &file)?;
    }
    let (iovs, total) = read_iovecs(t, args.ptr(1), args.int(2))?;
    let mut kbuf = Vec::with_capacity(total.min(CHUNK * 8));
    let mut fault = None;
    for iov in iovs {
        let room = total.min(CHUNK * 8) - kbuf.len();
        let take = usize::try_from(iov.len).unwrap_or(usize::MAX).min(room);
        let start = kbuf.len();
        kbuf.resize(start + take, 0);
        let (c, err) =
            t.mm.copy_in_partial(iov.base, kbuf.get_mut(start..).unwrap_or_default());
        kbuf.truncate(start + c);
        if err.is_some() {
            fault = err;
            break;
        }
    }
    if kbuf.is_empty()
        && let Some(e) = fault
    {
        return Err(e);
    }
    let append = flags & f::RWF_APPEND != 0;
    let noappend = flags & f::RWF_NOAPPEND != 0;
    let n = match at {
        _ if append || (noappend && at.is_some()) => file.write_rwf(&kbuf, at, append)?,
        Some(off) => file.pwrite(&kbuf, off)?,
        None if kbuf.is_empty() => file.write(&[])?,
        None if flags & f::RWF_NOWAIT != 0 => file.write(&kbuf)?,
        None => write_all(t, &file, &kbuf)?,
    };
    ok_usize(n)
}

/// open(2).
pub fn sys_open(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_openat(t, f::AT_FDCWD, args.ptr(0), args.uint(1), args.uint(2))
}

/// close_range(2): closes (or, with CLOSE_RANGE_CLOEXEC, marks close-on-exec) every open
/// descriptor in `[first, last]`; CLOSE_RANGE_UNSHARE first gives the caller a private copy of
/// a shared table (CLONE_FILES).
pub fn sys_close_range(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    const CLOSE_RANGE_UNSHARE: u32 = 1 << 1;
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    let (first, last, flags) = (args.uint(0), args.uint(1), args.uint(2));
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_UNSHARE != 0 && Arc::strong_count(&t.fds) > 1 {
        let copy = t.fds().clone();
        t.fds = Arc::new(std::sync::Mutex::new(copy));
    }
    let mut closed = Vec::new();
    {
        let mut fds = t.fds();
        let victims: Vec<i32> = fds
            .fds()
            .filter(|&fd| u32::try_from(fd).is_ok_and(|u| (first..=last).contains(&u)))
            .collect();
        for fd in victims {
            if flags & CLOSE_RANGE_CLOEXEC != 0 {
                fds.set_cloexec(fd, true)?;
            } else {
                closed.push(fds.remove(fd)?);
            }
        }
    }
    // Released outside the table lock: a last close may wake or block on other objects.
    drop(closed);
    ok_zero()
}

/// creat(2): open(2) with O_CREAT|O_WRONLY|O_TRUNC.
pub fn sys_creat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = f::O_CREAT | f::O_WRONLY | f::O_TRUNC;
    do_openat(t, f::AT_FDCWD, args.ptr(0), flags, args.uint(1))
}

/// openat(2).
pub fn sys_openat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_openat(t, args.dirfd(0), args.ptr(1), args.uint(2), args.uint(3))
}

fn do_openat(t: &mut Task, dirfd: i32, path_addr: u64, flags: u32, mode: u32) -> SyscallResult {
    let path = t.copy_in_path(path_addr)?;
    let mode = mode & 0o7777 & !t.fs().umask;
    let file = t.with_lookup(dirfd, &path, |l| l.open(&path, flags, mode))?;
    let file = crate::tty::on_open(t, file, flags)?;
    let cloexec = flags & f::O_CLOEXEC != 0;
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let fd = t.fds().insert_from(0, file, cloexec, limit)?;
    ok_usize(usize::try_from(fd).map_err(|_| Errno::EMFILE)?)
}

/// close(2).
pub fn sys_close(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let entry = t.fds().remove(args.fd(0))?;
    drop(entry);
    ok_zero()
}

fn stat_out(t: &Task, addr: u64, st: &f::Stat) -> SyscallResult {
    t.copy_out_obj(addr, st)?;
    ok_zero()
}

/// fstat(2). Works on O_PATH descriptors too (since Linux 3.6).
pub fn sys_fstat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let st = t.fds().file(args.fd(0))?.stat()?;
    stat_out(t, args.ptr(1), &st)
}

/// stat(2).
pub fn sys_stat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    let st = t.with_lookup(f::AT_FDCWD, &path, |l| l.resolve(&path, true)?.stat())?;
    stat_out(t, args.ptr(1), &st)
}

/// lstat(2).
pub fn sys_lstat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    let st = t.with_lookup(f::AT_FDCWD, &path, |l| l.resolve(&path, false)?.stat())?;
    stat_out(t, args.ptr(1), &st)
}

/// Stats `dirfd`+`path` honouring AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW.
fn stat_at(t: &Task, dirfd: i32, path_addr: u64, flags: u32) -> abi::SysResult<f::Stat> {
    let path = t.copy_in_path(path_addr)?;
    if path.is_empty() && flags & f::AT_EMPTY_PATH != 0 {
        if dirfd == f::AT_FDCWD {
            return t.fs().cwd.stat();
        }
        return t.fds().file(dirfd)?.stat();
    }
    let follow = flags & f::AT_SYMLINK_NOFOLLOW == 0;
    t.with_lookup(dirfd, &path, |l| l.resolve(&path, follow)?.stat())
}

/// newfstatat(2).
pub fn sys_newfstatat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(3);
    if flags & !(f::AT_SYMLINK_NOFOLLOW | f::AT_EMPTY_PATH | f::AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let st = stat_at(t, args.dirfd(0), args.ptr(1), flags)?;
    stat_out(t, args.ptr(2), &st)
}

/// statx(2): built from the same attributes as stat.
pub fn sys_statx(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(2);
    let mask = args.uint(3);
    let allowed =
        f::AT_SYMLINK_NOFOLLOW | f::AT_EMPTY_PATH | f::AT_NO_AUTOMOUNT | f::AT_STATX_SYNC_TYPE;
    if flags & !allowed != 0 || flags & f::AT_STATX_SYNC_TYPE == f::AT_STATX_SYNC_TYPE {
        return Err(Errno::EINVAL);
    }
    // statx(2): STATX__RESERVED in the mask is EINVAL.
    if mask & 0x8000_0000 != 0 {
        return Err(Errno::EINVAL);
    }
    let st = stat_at(t, args.dirfd(0), args.ptr(1), flags)?;
    let sx = statx_from_stat(&st);
    t.copy_out_obj(args.ptr(4), &sx)?;
    ok_zero()
}

/// The statx view of `st`: every basic field, with device numbers split the way
/// new_decode_dev() does (include/linux/kdev_t.h).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn statx_from_stat(st: &f::Stat) -> f::Statx {
    let major = |d: u64| ((d >> 8) & 0xfff) as u32 | ((d >> 32) as u32 & !0xfff);
    let minor = |d: u64| (d & 0xff) as u32 | ((d >> 12) as u32 & !0xff);
    let ts = |sec: i64, nsec: i64| f::StatxTimestamp {
        sec,
        nsec: nsec as u32,
        reserved: 0,
    };
    f::Statx {
        mask: f::STATX_BASIC_STATS,
        blksize: st.blksize as u32,
        nlink: st.nlink as u32,
        uid: st.uid,
        gid: st.gid,
        mode: st.mode as u16,
        ino: st.ino,
        size: st.size as u64,
        blocks: st.blocks as u64,
        atime: ts(st.atime, st.atime_nsec),
        ctime: ts(st.ctime, st.ctime_nsec),
        mtime: ts(st.mtime, st.mtime_nsec),
        rdev_major: major(st.rdev),
        rdev_minor: minor(st.rdev),
        dev_major: major(st.dev),
        dev_minor: minor(st.dev),
        ..f::Statx::default()
    }
}

/// lseek(2).
pub fn sys_lseek(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    if file.is_path_only() {
        return Err(Errno::EBADF);
    }
    let pos = file.seek(args.long(1), args.uint(2))?;
    Ok(super::SyscallReturn::Value(pos))
}

/// getdents64(2).
pub fn sys_getdents64(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    if file.is_path_only() {
        return Err(Errno::EBADF);
    }
    let count = usize::try_from(args.uint(2))
        .unwrap_or(usize::MAX)
        .min(CHUNK * 8);
    probe_writable(t, args.ptr(1))?;
    let buf = file.getdents64(count)?;
    t.mm.copy_out(args.ptr(1), &buf)?;
    ok_usize(buf.len())
}

/// readlink(2).
pub fn sys_readlink(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_readlinkat(t, f::AT_FDCWD, args.ptr(0), args.ptr(1), args.int(2))
}

/// readlinkat(2).
pub fn sys_readlinkat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_readlinkat(t, args.dirfd(0), args.ptr(1), args.ptr(2), args.int(3))
}

fn do_readlinkat(t: &mut Task, dirfd: i32, path_addr: u64, buf: u64, size: i32) -> SyscallResult {
    // readlink(2): "EINVAL bufsiz is not positive."
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .ok_or(Errno::EINVAL)?;
    let path = t.copy_in_path(path_addr)?;
    let target = t.with_lookup(dirfd, &path, |l| l.readlink(&path))?;
    let n = target.len().min(size);
    t.mm.copy_out(buf, target.get(..n).unwrap_or_default())?;
    ok_usize(n)
}

/// access(2).
pub fn sys_access(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_faccessat(t, f::AT_FDCWD, args.ptr(0), args.uint(1), 0)
}

/// faccessat(2) (no flags argument in the raw syscall).
pub fn sys_faccessat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_faccessat(t, args.dirfd(0), args.ptr(1), args.uint(2), 0)
}

/// faccessat2(2).
pub fn sys_faccessat2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_faccessat(t, args.dirfd(0), args.ptr(1), args.uint(2), args.uint(3))
}

fn do_faccessat(t: &mut Task, dirfd: i32, path_addr: u64, mode: u32, flags: u32) -> SyscallResult {
    if mode & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & !(f::AT_EACCESS | f::AT_SYMLINK_NOFOLLOW | f::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.copy_in_path(path_addr)?;
    // access(2) checks with the real ids unless AT_EACCESS, and with capabilities only if
    // the real uid is 0 (then the permitted ones), as faccessat's credential override does.
    let mut creds = t.creds.fs_creds();
    if flags & f::AT_EACCESS == 0 {
        creds.uid = t.creds.uid;
        creds.gid = t.creds.gid;
        creds.caps = if t.creds.uid == 0 {
            t.creds.cap_permitted
        } else {
            0
        };
    }
    let follow = flags & f::AT_SYMLINK_NOFOLLOW == 0;
    let target = if path.is_empty() && flags & f::AT_EMPTY_PATH != 0 {
        if dirfd == f::AT_FDCWD {
            t.fs().cwd.clone()
        } else {
            t.fds().file(dirfd)?.path().cloned().ok_or(Errno::EBADF)?
        }
    } else {
        t.with_lookup(dirfd, &path, |l| l.resolve(&path, follow))?
    };
    target.check_access(&creds, mode)?;
    ok_zero()
}

/// fcntl(2).
pub fn sys_fcntl(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let fd = args.fd(0);
    let cmd = args.uint(1);
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    match cmd {
        f::F_DUPFD | f::F_DUPFD_CLOEXEC => {
            let min = args.int(2);
            if min < 0 || u64::try_from(min).unwrap_or(u64::MAX) >= limit {
                return Err(Errno::EINVAL);
            }
            let file = t.fds().file(fd)?;
            let nfd = t
                .fds()
                .insert_from(min, file, cmd == f::F_DUPFD_CLOEXEC, limit)?;
            ok_usize(usize::try_from(nfd).map_err(|_| Errno::EMFILE)?)
        }
        f::F_GETFD => ok_usize(usize::from(t.fds().get(fd)?.cloexec)),
        f::F_SETFD => {
            t.fds().set_cloexec(fd, args.uint(2) & f::FD_CLOEXEC != 0)?;
            ok_zero()
        }
        f::F_GETFL => ok_usize(t.fds().file(fd)?.flags() as usize),
        f::F_SETFL => {
            let file = t.fds().file(fd)?;
            if file.is_path_only() {
                return Err(Errno::EBADF);
            }
            file.set_flags(args.uint(2));
            ok_zero()
        }
        f::F_GETPIPE_SZ | f::F_SETPIPE_SZ => {
            let file = t.fds().file(fd)?;
            let pipe = file
                .ops_any()
                .and_then(|a| a.downcast_ref::<crate::kernel::pipe::PipeEnd>())
                .ok_or(Errno::EBADF)?;
            if cmd == f::F_GETPIPE_SZ {
                ok_usize(pipe.capacity())
            } else {
                ok_usize(pipe.set_capacity(args.ulong(2))?)
            }
        }
        f::F_GETLK
        | f::F_SETLK
        | f::F_SETLKW
        | f::F_OFD_GETLK
        | f::F_OFD_SETLK
        | f::F_OFD_SETLKW => super::locks::fcntl_lock(t, fd, cmd, args.ulong(2)),
        f::F_SETOWN | f::F_GETOWN | f::F_SETOWN_EX | f::F_GETOWN_EX | f::F_SETSIG | f::F_GETSIG => {
            fcntl_owner(t, fd, cmd, args)
        }
        f::F_GET_SEALS => ok_usize(t.fds().file(fd)?.seals()? as usize),
        f::F_ADD_SEALS => {
            t.fds().file(fd)?.add_seals(args.uint(2))?;
            ok_zero()
        }
        _ => {
            // Validate the fd first, as Linux does (EBADF beats EINVAL).
            t.fds().get(fd)?;
            tracing::debug!(target: "sentry::unimplemented", cmd, "unsupported fcntl command");
            Err(Errno::EINVAL)
        }
    }
}

/// F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP (struct f_owner_ex's types).
const F_OWNER_TID: i32 = 0;
const F_OWNER_PID: i32 = 1;
const F_OWNER_PGRP: i32 = 2;

/// Whether the thread, process (`kind` TID/PID) or process group `id` exists (ESRCH if not).
fn owner_exists(t: &Task, kind: i32, id: i32) -> Result<(), Errno> {
    if id == 0 {
        return Ok(());
    }
    let found = match kind {
        F_OWNER_PGRP => t.kernel.tree().procs.values().any(|r| r.pgid == id),
        F_OWNER_PID => t.kernel.tree().proc(id).is_some(),
        _ => super::signal::find_thread(t, None, id).is_ok(),
    };
    if found { Ok(()) } else { Err(Errno::ESRCH) }
}

/// Records (`kind`, `id`) as the description's owner once it is known to exist.
fn set_owner(t: &Task, file: &OpenFile, kind: i32, id: i32) -> SyscallResult {
    owner_exists(t, kind, id)?;
    file.update_owner(|o| {
        o.kind = kind;
        o.id = id;
    });
    ok_zero()
}

/// fcntl F_SETOWN/F_GETOWN, F_SETOWN_EX/F_GETOWN_EX, F_SETSIG/F_GETSIG: the owner record of
/// the description (`vfs::FileOwner`). The record is kept and reported as Linux does; SIGIO
/// itself is not sent (O_ASYNC is a flag only).
fn fcntl_owner(t: &mut Task, fd: i32, cmd: u32, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(fd)?;
    match cmd {
        f::F_SETOWN => {
            let who = args.int(2);
            let (kind, id) = if who < 0 {
                (F_OWNER_PGRP, who.checked_neg().ok_or(Errno::EINVAL)?)
            } else {
                (F_OWNER_PID, who)
            };
            set_owner(t, &file, kind, id)
        }
        f::F_GETOWN => {
            let o = file.owner();
            let v = if o.kind == F_OWNER_PGRP { -o.id } else { o.id };
            super::ok_i64(i64::from(v))
        }
        f::F_SETOWN_EX => {
            let raw: [i32; 2] = t.copy_in_obj(args.ptr(2))?;
            let (kind, id) = (raw[0], raw[1]);
            if !matches!(kind, F_OWNER_TID | F_OWNER_PID | F_OWNER_PGRP) {
                return Err(Errno::EINVAL);
            }
            if id < 0 {
                return Err(Errno::EINVAL);
            }
            set_owner(t, &file, kind, id)
        }
        f::F_GETOWN_EX => {
            let o = file.owner();
            let kind = if o.id == 0 { F_OWNER_PID } else { o.kind };
            t.copy_out_obj(args.ptr(2), &[kind, o.id])?;
            ok_zero()
        }
        f::F_SETSIG => {
            let sig = args.int(2);
            if !(0..=64).contains(&sig) {
                return Err(Errno::EINVAL);
            }
            file.update_owner(|o| o.sig = sig);
            ok_zero()
        }
        _ => ok_usize(usize::try_from(file.owner().sig).unwrap_or(0)),
    }
}

/// dup(2).
pub fn sys_dup(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let fd = t.fds().insert_from(0, file, false, limit)?;
    ok_usize(usize::try_from(fd).map_err(|_| Errno::EMFILE)?)
}

/// dup2(2): same fd → returns it if valid.
pub fn sys_dup2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (old, new) = (args.fd(0), args.fd(1));
    if old == new {
        t.fds().get(old)?;
        return ok_usize(usize::try_from(new).map_err(|_| Errno::EBADF)?);
    }
    do_dup3(t, old, new, false)
}

/// dup3(2): same fd → EINVAL; only O_CLOEXEC allowed in flags.
pub fn sys_dup3(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (old, new, flags) = (args.fd(0), args.fd(1), args.uint(2));
    if flags & !f::O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    do_dup3(t, old, new, flags & f::O_CLOEXEC != 0)
}

fn do_dup3(t: &mut Task, old: i32, new: i32, cloexec: bool) -> SyscallResult {
    let file = t.fds().file(old)?;
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let replaced = t.fds().insert_at(new, file, cloexec, limit)?;
    drop(replaced);
    ok_usize(usize::try_from(new).map_err(|_| Errno::EBADF)?)
}

/// ioctl(2): descriptor-level requests here, the rest to the file.
pub fn sys_ioctl(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let fd = args.fd(0);
    let cmd = args.uint(1);
    let arg = args.ulong(2);
    let file = t.fds().file(fd)?;
    if file.is_path_only() {
        return Err(Errno::EBADF);
    }
    match cmd {
        abi::ioctl::FIOCLEX => {
            t.fds().set_cloexec(fd, true)?;
            ok_zero()
        }
        abi::ioctl::FIONCLEX => {
            t.fds().set_cloexec(fd, false)?;
            ok_zero()
        }
        abi::ioctl::FIONBIO => {
            let on: i32 = t.copy_in_obj(arg)?;
            let fl = file.flags();
            file.set_flags(if on != 0 {
                fl | f::O_NONBLOCK
            } else {
                fl & !f::O_NONBLOCK
            });
            ok_zero()
        }
        _ => {
            if let Some(r) = crate::tty::ioctl(t, &file, cmd, arg) {
                return Ok(super::SyscallReturn::Value(r?));
            }
            let mem = TaskMemory(&t.mm);
            Ok(super::SyscallReturn::Value(file.ioctl(&mem, cmd, arg)?))
        }
    }
}

/// getcwd(2): returns the length including the NUL.
pub fn sys_getcwd(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let mut path = {
        let fs = t.fs();
        // getcwd(2): ENOENT "The current working directory has been unlinked" (d_unlinked).
        if fs.cwd.is_unlinked() {
            return Err(Errno::ENOENT);
        }
        fs.cwd.path_from(&fs.root)
    };
    path.push(0);
    if path.len() > usize::try_from(args.size(1)).unwrap_or(usize::MAX) {
        return Err(Errno::ERANGE);
    }
    t.mm.copy_out(args.ptr(0), &path)?;
    ok_usize(path.len())
}

/// chdir(2).
pub fn sys_chdir(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    let target = t.with_lookup(f::AT_FDCWD, &path, |l| l.resolve(&path, true))?;
    set_cwd(t, target)
}

/// fchdir(2).
pub fn sys_fchdir(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    let target = file.path().cloned().ok_or(Errno::ENOTDIR)?;
    set_cwd(t, target)
}

fn set_cwd(t: &mut Task, target: vfs::VfsPath) -> SyscallResult {
    if !target.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    target.check_access(&t.creds.fs_creds(), 1)?;
    t.fs().cwd = target;
    ok_zero()
}

/// mkdir(2).
pub fn sys_mkdir(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_mkdirat(t, f::AT_FDCWD, args.ptr(0), args.uint(1))
}

/// mkdirat(2).
pub fn sys_mkdirat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_mkdirat(t, args.dirfd(0), args.ptr(1), args.uint(2))
}

fn do_mkdirat(t: &mut Task, dirfd: i32, path_addr: u64, mode: u32) -> SyscallResult {
    let path = t.copy_in_path(path_addr)?;
    let mode = mode & 0o7777 & !t.fs().umask;
    t.with_lookup(dirfd, &path, |l| l.mkdir(&path, mode))?;
    ok_zero()
}

/// unlink(2).
pub fn sys_unlink(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    t.with_lookup(f::AT_FDCWD, &path, |l| l.unlink(&path))?;
    ok_zero()
}

/// rmdir(2).
pub fn sys_rmdir(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    t.with_lookup(f::AT_FDCWD, &path, |l| l.rmdir(&path))?;
    ok_zero()
}

/// unlinkat(2): AT_REMOVEDIR is the only flag.
pub fn sys_unlinkat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(2);
    if flags & !f::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.copy_in_path(args.ptr(1))?;
    if flags & f::AT_REMOVEDIR != 0 {
        t.with_lookup(args.dirfd(0), &path, |l| l.rmdir(&path))?;
    } else {
        t.with_lookup(args.dirfd(0), &path, |l| l.unlink(&path))?;
    }
    ok_zero()
}

/// symlink(2).
pub fn sys_symlink(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_symlinkat(t, args.ptr(0), f::AT_FDCWD, args.ptr(1))
}

/// symlinkat(2).
pub fn sys_symlinkat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_symlinkat(t, args.ptr(0), args.dirfd(1), args.ptr(2))
}

fn do_symlinkat(t: &mut Task, target_addr: u64, dirfd: i32, link_addr: u64) -> SyscallResult {
    let target = t.copy_in_path(target_addr)?;
    let link = t.copy_in_path(link_addr)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    t.with_lookup(dirfd, &link, |l| l.symlink(&target, &link))?;
    ok_zero()
}

/// rename(2).
pub fn sys_rename(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_renameat(t, f::AT_FDCWD, args.ptr(0), f::AT_FDCWD, args.ptr(1))
}

/// renameat(2).
pub fn sys_renameat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_renameat(t, args.dirfd(0), args.ptr(1), args.dirfd(2), args.ptr(3))
}

/// renameat2(2): RENAME_NOREPLACE, RENAME_EXCHANGE and RENAME_WHITEOUT (the filesystem
/// decides: tmpfs has all three, p9fs the first two; `vfs::Inode::rename2`).
pub fn sys_renameat2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = vfs::RenameFlags::from_raw(args.uint(4))?;
    do_renameat2(
        t,
        args.dirfd(0),
        args.ptr(1),
        args.dirfd(2),
        args.ptr(3),
        flags,
    )
}

fn do_renameat(
    t: &mut Task,
    olddir: i32,
    old_addr: u64,
    newdir: i32,
    new_addr: u64,
) -> SyscallResult {
    do_renameat2(
        t,
        olddir,
        old_addr,
        newdir,
        new_addr,
        vfs::RenameFlags::default(),
    )
}

fn do_renameat2(
    t: &mut Task,
    olddir: i32,
    old_addr: u64,
    newdir: i32,
    new_addr: u64,
    flags: vfs::RenameFlags,
) -> SyscallResult {
    let old = t.copy_in_path(old_addr)?;
    let new = t.copy_in_path(new_addr)?;
    t.with_lookup(olddir, &old, |lo| {
        t.with_lookup(newdir, &new, |ln| lo.rename2(&old, ln, &new, flags))
    })?;
    ok_zero()
}

/// umask(2).
pub fn sys_umask(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let old = t.fs().umask;
    t.fs().umask = args.uint(0) & 0o777;
    ok_usize(old as usize)
}

/// Resolves `path` from `dirfd` for a metadata change (AT_EMPTY_PATH: the fd itself).
pub(super) fn resolve_for_attr(
    t: &Task,
    dirfd: i32,
    addr: u64,
    follow: bool,
    empty_ok: bool,
) -> abi::SysResult<vfs::VfsPath> {
    let path = match t.copy_in_path(addr) {
        Ok(p) => p,
        Err(e) if empty_ok && addr == 0 => {
            let _ = e;
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    if path.is_empty() {
        if !empty_ok {
            return Err(Errno::ENOENT);
        }
        let file = t.fds().file(dirfd)?;
        return file.path().cloned().ok_or(Errno::EBADF);
    }
    t.with_lookup(dirfd, &path, |l| l.resolve(&path, follow))
}

/// chmod(2).
pub fn sys_chmod(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let p = resolve_for_attr(t, f::AT_FDCWD, args.ptr(0), true, false)?;
    p.chmod(&t.creds.fs_creds(), args.uint(1))?;
    ok_zero()
}

/// fchmod(2).
pub fn sys_fchmod(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    let p = file.path().cloned().ok_or(Errno::EBADF)?;
    p.chmod(&t.creds.fs_creds(), args.uint(1))?;
    ok_zero()
}

/// fchmodat(2) (no flags: AT_SYMLINK_NOFOLLOW is not supported by the syscall, only by
/// fchmodat2).
pub fn sys_fchmodat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let p = resolve_for_attr(t, args.dirfd(0), args.ptr(1), true, false)?;
    p.chmod(&t.creds.fs_creds(), args.uint(2))?;
    ok_zero()
}

fn chown_ids(args: &SyscallArgs, i: usize) -> (Option<u32>, Option<u32>) {
    let id = |v: u32| (v != u32::MAX).then_some(v);
    (id(args.uint(i)), id(args.uint(i + 1)))
}

/// chown(2).
pub fn sys_chown(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let p = resolve_for_attr(t, f::AT_FDCWD, args.ptr(0), true, false)?;
    let (u, g) = chown_ids(args, 1);
    p.chown(&t.creds.fs_creds(), u, g)?;
    ok_zero()
}

/// lchown(2).
pub fn sys_lchown(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let p = resolve_for_attr(t, f::AT_FDCWD, args.ptr(0), false, false)?;
    let (u, g) = chown_ids(args, 1);
    p.chown(&t.creds.fs_creds(), u, g)?;
    ok_zero()
}

/// fchown(2).
pub fn sys_fchown(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let file = t.fds().file(args.fd(0))?;
    let p = file.path().cloned().ok_or(Errno::EBADF)?;
    let (u, g) = chown_ids(args, 1);
    p.chown(&t.creds.fs_creds(), u, g)?;
    ok_zero()
}

/// fchownat(2): AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH.
pub fn sys_fchownat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(4);
    if flags & !(f::AT_SYMLINK_NOFOLLOW | f::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = resolve_for_attr(
        t,
        args.dirfd(0),
        args.ptr(1),
        flags & f::AT_SYMLINK_NOFOLLOW == 0,
        flags & f::AT_EMPTY_PATH != 0,
    )?;
    let (u, g) = chown_ids(args, 2);
    p.chown(&t.creds.fs_creds(), u, g)?;
    ok_zero()
}
