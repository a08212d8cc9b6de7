//! eventfd(2)/eventfd2(2) and the epoll(7) calls: epoll_create(2)/epoll_create1, epoll_ctl(2),
//! epoll_wait(2)/epoll_pwait/epoll_pwait2. The objects live in `kernel::eventfd` and
//! `kernel::epoll`; this file decodes arguments, checks them in Linux's order and runs the wait
//! loop.
//!
//! epoll_wait follows the waiter pattern of poll.rs: collect → return if anything is ready or
//! the deadline passed → register on the epoll's queue → prepare → collect → sleep. A signal
//! ends the wait with EINTR when a handler runs and restarts it otherwise (ERESTARTNOHAND);
//! epoll_pwait's temporary mask stays installed until the handler has run (`Task::saved_mask`).
//!
//! Shortcuts: a restart starts the full timeout again (as poll.rs); an EFAULT while copying the
//! events out loses them (Linux puts uncopied items back on the ready list); Linux returns EINTR
//! after a stop and SIGCONT with no handler, we restart. `with_temp_mask` and
//! `timespec_deadline` duplicate poll.rs's private helpers (to be shared when both files can be
//! edited together).

use std::time::Instant;

use abi::Errno;
use vfs::waiter::EventMask;
use zerocopy::IntoBytes;

use super::poll::{ms_deadline, timespec_deadline, with_temp_mask};
use super::{SyscallArgs, SyscallResult, ok_i64, ok_usize, ok_zero};
use crate::kernel::Task;
use crate::kernel::epoll::{
    self, EP_MAX_EVENTS, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLWAKEUP,
    EpollEvent, EpollShared, ItemConf,
};
use crate::kernel::eventfd::{EventFdOpts, new_eventfd};

/// The top of the user address space (x86-64 TASK_SIZE_MAX): access_ok's bound.
const TASK_SIZE: u64 = 0x7fff_ffff_f000;

fn install(t: &Task, file: std::sync::Arc<vfs::OpenFile>, cloexec: bool) -> SyscallResult {
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let fd = t.fds().insert_from(0, file, cloexec, limit)?;
    ok_i64(i64::from(fd))
}

/// eventfd(2): eventfd2 with no flags.
pub fn sys_eventfd(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_eventfd(t, args.uint(0), 0)
}

/// eventfd2(2).
pub fn sys_eventfd2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_eventfd(t, args.uint(0), args.uint(1))
}

fn do_eventfd(t: &Task, initval: u32, flags: u32) -> SyscallResult {
    let opts = EventFdOpts::from_flags(flags)?;
    install(t, new_eventfd(initval, opts), opts.cloexec)
}

/// epoll_create(2): "size is ignored, but must be greater than zero".
pub fn sys_epoll_create(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if args.int(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    install(t, epoll::new_epoll(), false)
}

/// epoll_create1(2): EPOLL_CLOEXEC only, EINVAL for other bits.
pub fn sys_epoll_create1(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(0);
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    install(t, epoll::new_epoll(), flags & EPOLL_CLOEXEC != 0)
}

/// epoll_ctl(2), with the checks in do_epoll_ctl's order: EFAULT (event), EBADF (either fd,
/// O_PATH included), EPERM (target cannot be polled), EINVAL (epoll on itself, epfd not an
/// epoll, EPOLLEXCLUSIVE misuse, unknown op), then ELOOP/EEXIST/ENOENT from the instance.
pub fn sys_epoll_ctl(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (epfd, op, fd, addr) = (args.int(0), args.int(1), args.int(2), args.ptr(3));
    let event: EpollEvent = if op == EPOLL_CTL_DEL {
        EpollEvent::default()
    } else {
        t.copy_in_obj(addr)?
    };
    let (epf, tf) = {
        let fds = t.fds();
        (fds.file(epfd)?, fds.file(fd)?)
    };
    if epf.is_path_only() || tf.is_path_only() {
        return Err(Errno::EBADF);
    }
    if !epoll::can_watch(&tf) {
        return Err(Errno::EPERM);
    }
    // Without CAP_BLOCK_SUSPEND Linux drops EPOLLWAKEUP silently; we never suspend anyway.
    let events = event.events & !EPOLLWAKEUP;
    let target_is_epoll = epoll::as_epoll(&tf).is_some();
    epoll::check_ctl(
        op,
        events,
        std::sync::Arc::ptr_eq(&epf, &tf),
        target_is_epoll,
    )?;
    let ep = epoll::as_epoll(&epf).ok_or(Errno::EINVAL)?;
    let conf = ItemConf::new(events, event.data);
    match op {
        EPOLL_CTL_ADD => ep.add(fd, &tf, conf)?,
        EPOLL_CTL_MOD => ep.modify(fd, &tf, conf)?,
        EPOLL_CTL_DEL => ep.delete(fd, &tf)?,
        _ => return Err(Errno::EINVAL),
    }
    ok_zero()
}

/// Collects events, sleeping on the epoll's queue until some arrive or `deadline` passes.
fn wait_events(
    t: &Task,
    ep: &EpollShared,
    max: usize,
    deadline: Option<Instant>,
) -> Result<Vec<EpollEvent>, Errno> {
    let ready = ep.collect(max);
    if !ready.is_empty() || deadline.is_some_and(|d| d <= Instant::now()) {
        return Ok(ready);
    }
    let _reg = ep.queue().register(t.waiter(), EventMask::IN);
    loop {
        t.prepare_wait();
        let ready = ep.collect(max);
        if !ready.is_empty() {
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

/// do_epoll_wait: EINVAL for maxevents outside 1..=EP_MAX_EVENTS, EFAULT for a buffer outside
/// the user address space, EBADF, EINVAL for a non-epoll fd; then waits and copies out.
fn do_epoll_wait(
    t: &Task,
    epfd: i32,
    addr: u64,
    maxevents: i32,
    deadline: Option<Instant>,
) -> SyscallResult {
    if maxevents <= 0 || maxevents > EP_MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let max = usize::try_from(maxevents).map_err(|_| Errno::EINVAL)?;
    let len = u64::try_from(max)
        .ok()
        .and_then(|n| n.checked_mul(12))
        .ok_or(Errno::EFAULT)?;
    if addr.checked_add(len).is_none_or(|end| end > TASK_SIZE) {
        return Err(Errno::EFAULT);
    }
    let file = t.fds().file(epfd)?;
    if file.is_path_only() {
        return Err(Errno::EBADF);
    }
    let ep = epoll::as_epoll(&file).ok_or(Errno::EINVAL)?;
    let events = wait_events(t, ep, max, deadline)?;
    t.mm.copy_out(addr, events.as_slice().as_bytes())?;
    ok_usize(events.len())
}

/// epoll_wait(2).
pub fn sys_epoll_wait(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let deadline = ms_deadline(args.int(3));
    do_epoll_wait(t, args.int(0), args.ptr(1), args.int(2), deadline)
}

/// epoll_pwait(2): epoll_wait with a temporary signal mask.
pub fn sys_epoll_pwait(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let deadline = ms_deadline(args.int(3));
    let (epfd, addr, max) = (args.int(0), args.ptr(1), args.int(2));
    with_temp_mask(t, args.ptr(4), args.size(5), |t| {
        do_epoll_wait(t, epfd, addr, max, deadline)
    })
}

/// epoll_pwait2(2): epoll_pwait with a `struct timespec` timeout (NULL: forever), read first.
pub fn sys_epoll_pwait2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let deadline = timespec_deadline(t, args.ptr(3))?;
    let (epfd, addr, max) = (args.int(0), args.ptr(1), args.int(2));
    with_temp_mask(t, args.ptr(4), args.size(5), |t| {
        do_epoll_wait(t, epfd, addr, max, deadline)
    })
}
