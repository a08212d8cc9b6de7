//! poll(2), ppoll(2), select(2), pselect6(2): readiness of many descriptors, waiting on all
//! their wait queues at once (`vfs::waiter`).
//!
//! One engine (`wait_ready`) serves all four: it registers the task's waiter on every queue,
//! then loops "compute readiness → return if anything is ready or the deadline passed →
//! sleep". A signal ends the wait with EINTR when a handler runs and restarts it otherwise
//! (ERESTARTNOHAND); the temporary mask of ppoll/pselect6 stays installed until the handler
//! has run (`Task::saved_mask`). Shortcut: a restart starts the full timeout again (Linux
//! resumes with the remaining time through restart_syscall).

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::Errno;
use abi::signal::SigSet;
use abi::time::{PollFd, Timespec, Timeval};
use vfs::OpenFile;
use vfs::waiter::{EventMask, Registration};

use super::{SyscallArgs, SyscallResult, ok_usize};
use crate::kernel::Task;

/// What one descriptor waits for; `file` is None for a closed descriptor (POLLNVAL).
struct Watched {
    file: Option<Arc<OpenFile>>,
    mask: EventMask,
    /// A negative fd in poll(2)'s array: ignored (never ready, revents 0).
    ignored: bool,
}

/// Waits until one of `w` is ready or `deadline`; returns each one's events.
fn wait_ready(t: &Task, w: &[Watched], deadline: Option<Instant>) -> Result<Vec<EventMask>, Errno> {
    let compute = || -> Vec<EventMask> {
        w.iter()
            .map(|x| match &x.file {
                None if x.ignored => EventMask::empty(),
                None => EventMask::NVAL,
                Some(f) => f.readiness(x.mask) & (x.mask | EventMask::ALWAYS),
            })
            .collect()
    };
    let ready = compute();
    let is_ready = |r: &[EventMask]| r.iter().any(|e| !e.is_empty());
    if is_ready(&ready) || deadline.is_some_and(|d| d <= Instant::now()) {
        return Ok(ready);
    }
    let waiter = t.waiter();
    let _regs: Vec<Registration<'_>> = w
        .iter()
        .filter_map(|x| x.file.as_ref())
        .filter_map(|f| f.wait_queue())
        .map(|q| {
            q.register(
                Arc::clone(&waiter) as Arc<dyn vfs::waiter::Notify>,
                EventMask::all(),
            )
        })
        .collect();
    loop {
        t.prepare_wait();
        let ready = compute();
        if is_ready(&ready) {
            return Ok(ready);
        }
        match t.wait(deadline) {
            Ok(()) => {}
            Err(Errno::ETIMEDOUT) => return Ok(ready),
            Err(Errno::ERESTARTSYS) => return Err(Errno::ERESTARTNOHAND),
            Err(e) => return Err(e),
        }
    }
}

/// The instant `d` from now (far in the future if that overflows).
pub(crate) fn deadline_after(d: Duration) -> Instant {
    Instant::now()
        .checked_add(d)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(u64::from(u32::MAX)))
}

/// A millisecond timeout of poll(2)/epoll_wait(2): negative waits forever, 0 returns at once.
pub(crate) fn ms_deadline(timeout_ms: i32) -> Option<Instant> {
    let ms = u64::try_from(timeout_ms).ok()?;
    Some(deadline_after(Duration::from_millis(ms)))
}

/// A `struct timespec *` relative timeout (NULL: none); EINVAL for a bad one.
pub(crate) fn timespec_deadline(t: &Task, addr: u64) -> Result<Option<Instant>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.copy_in_obj(addr)?;
    if !ts.is_valid() {
        return Err(Errno::EINVAL);
    }
    let d = Duration::new(
        u64::try_from(ts.sec).unwrap_or(0),
        u32::try_from(ts.nsec).unwrap_or(0),
    );
    Ok(Some(deadline_after(d)))
}

/// Installs the temporary mask of ppoll/pselect6/epoll_pwait (set_user_sigmask: EINVAL unless
/// `mask_size` is sizeof(sigset_t)); restored after a handler ran, or at return.
pub(crate) fn with_temp_mask<R>(
    t: &mut Task,
    mask_addr: u64,
    mask_size: u64,
    f: impl FnOnce(&mut Task) -> Result<R, Errno>,
) -> Result<R, Errno> {
    if mask_addr == 0 {
        return f(t);
    }
    if mask_size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask: SigSet = t.copy_in_obj(mask_addr)?;
    let old = t.shared.sig().mask;
    super::signal::set_mask(t, mask);
    let r = f(t);
    if matches!(r, Err(Errno::ERESTARTNOHAND)) {
        // The handler runs with `mask`; the old one comes back with its frame.
        t.saved_mask = Some(old);
    } else {
        super::signal::set_mask(t, old);
    }
    r
}

fn do_poll(t: &mut Task, addr: u64, nfds: u64, deadline: Option<Instant>) -> SyscallResult {
    if nfds > t.rlimit_cur(abi::time::RLIMIT_NOFILE) {
        return Err(Errno::EINVAL);
    }
    let n = usize::try_from(nfds).map_err(|_| Errno::EINVAL)?;
    let mut pfds = Vec::with_capacity(n.min(4096));
    for i in 0..n {
        let at = addr
            .checked_add(u64::try_from(i).unwrap_or(u64::MAX).saturating_mul(8))
            .ok_or(Errno::EFAULT)?;
        let p: PollFd = t.copy_in_obj(at)?;
        pfds.push(p);
    }
    let watched: Vec<Watched> = pfds
        .iter()
        .map(|p| Watched {
            file: if p.fd < 0 {
                None
            } else {
                t.fds().file(p.fd).ok()
            },
            mask: EventMask::from_bits_truncate(u32::from(p.events.cast_unsigned())),
            ignored: p.fd < 0,
        })
        .collect();
    let ready = wait_ready(t, &watched, deadline)?;
    let mut count = 0;
    for (i, (p, r)) in pfds.iter_mut().zip(ready).enumerate() {
        // A negative fd is ignored: revents 0.
        let r = if p.fd < 0 { EventMask::empty() } else { r };
        p.revents = i16::try_from(r.bits() & 0xffff).unwrap_or(0);
        if p.revents != 0 {
            count += 1;
        }
        let at = addr + u64::try_from(i).unwrap_or(0) * 8;
        t.copy_out_obj(at, p)?;
    }
    ok_usize(count)
}

/// poll(2).
pub fn sys_poll(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let deadline = ms_deadline(args.int(2));
    // `unsigned int nfds`: the upper half of the register is ignored.
    do_poll(t, args.ptr(0), u64::from(args.uint(1)), deadline)
}

/// ppoll(2).
pub fn sys_ppoll(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let deadline = timespec_deadline(t, args.ptr(2))?;
    let (addr, n) = (args.ptr(0), u64::from(args.uint(1)));
    with_temp_mask(t, args.ptr(3), args.size(4), |t| {
        do_poll(t, addr, n, deadline)
    })
}

const FD_SETSIZE_BITS: usize = 1024;

fn read_fdset(t: &Task, addr: u64, nfds: usize) -> Result<Option<Vec<u64>>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let words = nfds.div_ceil(64);
    let mut v = vec![0u64; words];
    for (i, w) in v.iter_mut().enumerate() {
        *w = t.copy_in_obj(addr + u64::try_from(i * 8).unwrap_or(0))?;
    }
    Ok(Some(v))
}

fn write_fdset(t: &Task, addr: u64, set: &[u64]) -> Result<(), Errno> {
    for (i, w) in set.iter().enumerate() {
        t.copy_out_obj(addr + u64::try_from(i * 8).unwrap_or(0), w)?;
    }
    Ok(())
}

fn do_select(t: &mut Task, nfds: i32, addrs: [u64; 3], deadline: Option<Instant>) -> SyscallResult {
    let nfds = usize::try_from(nfds).map_err(|_| Errno::EINVAL)?;
    let nfds =
        nfds.min(FD_SETSIZE_BITS.max(
            usize::try_from(t.rlimit_cur(abi::time::RLIMIT_NOFILE)).unwrap_or(FD_SETSIZE_BITS),
        ));
    let sets = [
        read_fdset(t, addrs[0], nfds)?,
        read_fdset(t, addrs[1], nfds)?,
        read_fdset(t, addrs[2], nfds)?,
    ];
    let masks = [
        EventMask::IN | EventMask::RDNORM | EventMask::HUP | EventMask::ERR,
        EventMask::OUT | EventMask::WRNORM | EventMask::ERR,
        EventMask::PRI,
    ];
    let mut fds = Vec::new();
    let mut watched = Vec::new();
    for fd in 0..nfds {
        let (w, b) = (fd / 64, 1u64 << (fd % 64));
        let mut mask = EventMask::empty();
        for (s, m) in sets.iter().zip(masks) {
            if s.as_ref()
                .and_then(|v| v.get(w))
                .is_some_and(|x| x & b != 0)
            {
                mask |= m;
            }
        }
        if mask.is_empty() {
            continue;
        }
        let fdi = i32::try_from(fd).map_err(|_| Errno::EINVAL)?;
        // select(2): EBADF for a closed descriptor in any set.
        let file = t.fds().file(fdi)?;
        fds.push(fd);
        watched.push(Watched {
            file: Some(file),
            mask,
            ignored: false,
        });
    }
    let ready = wait_ready(t, &watched, deadline)?;
    let mut out: [Vec<u64>; 3] = std::array::from_fn(|_| vec![0u64; nfds.div_ceil(64)]);
    let mut count = 0;
    for (&fd, r) in fds.iter().zip(ready) {
        let (w, b) = (fd / 64, 1u64 << (fd % 64));
        for (k, m) in masks.iter().enumerate() {
            let asked = sets[k]
                .as_ref()
                .and_then(|v| v.get(w))
                .is_some_and(|x| x & b != 0);
            if asked && r.intersects(*m) {
                if let Some(x) = out[k].get_mut(w) {
                    *x |= b;
                }
                count += 1;
            }
        }
    }
    for k in 0..3 {
        if addrs[k] != 0 {
            write_fdset(t, addrs[k], &out[k])?;
        }
    }
    ok_usize(count)
}

/// select(2). Linux writes the time left back into the timeout.
pub fn sys_select(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let deadline = if args.ptr(4) != 0 {
        let tv: Timeval = t.copy_in_obj(args.ptr(4))?;
        if tv.sec < 0 || tv.usec < 0 || tv.usec >= 1_000_000 {
            return Err(Errno::EINVAL);
        }
        let d = Duration::new(
            u64::try_from(tv.sec).unwrap_or(0),
            u32::try_from(tv.usec).unwrap_or(0) * 1000,
        );
        Some(deadline_after(d))
    } else {
        None
    };
    let r = do_select(
        t,
        args.int(0),
        [args.ptr(1), args.ptr(2), args.ptr(3)],
        deadline,
    );
    if let Some(d) = deadline
        && args.ptr(4) != 0
        && !matches!(r, Err(Errno::EFAULT))
    {
        let left = d.saturating_duration_since(Instant::now());
        let tv = Timeval {
            sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            usec: i64::from(left.subsec_micros()),
        };
        // Failing to write the time back is ignored, as Linux's poll_select_finish does.
        let _ = t.copy_out_obj(args.ptr(4), &tv);
    }
    r
}

/// pselect6(2): the sixth argument points to `{ const sigset_t *ss; size_t ss_len; }`.
pub fn sys_pselect6(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let deadline = timespec_deadline(t, args.ptr(4))?;
    let (mask_addr, mask_size) = if args.ptr(5) != 0 {
        let v: [u64; 2] = t.copy_in_obj(args.ptr(5))?;
        (v[0], v[1])
    } else {
        (0, 8)
    };
    let nfds = args.int(0);
    let addrs = [args.ptr(1), args.ptr(2), args.ptr(3)];
    with_temp_mask(t, mask_addr, mask_size, |t| {
        do_select(t, nfds, addrs, deadline)
    })
}
