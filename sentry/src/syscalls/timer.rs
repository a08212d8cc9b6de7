//! Timer syscalls: setitimer/getitimer/alarm, timer_create and friends, timerfd. The timers
//! themselves run in `kernel::timer`.
//!
//! Shortcut: ITIMER_VIRTUAL and ITIMER_PROF, and POSIX timers on CPU-time clocks, count wall
//! time rather than CPU time (the sentry does not account the app's CPU time yet); the table
//! marks them partial.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::Errno;
use abi::signal::{SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD_ID, SigEvent, Signal};
use abi::time::{
    self as tm, ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL, Itimerspec, Itimerval, Timespec, Timeval,
};
use vfs::waiter::{EventMask, WaitQueue};
use vfs::{FileOps, OpenFile};

use super::{SyscallArgs, SyscallResult, ok_i64, ok_usize, ok_zero};
use crate::kernel::Task;
use crate::kernel::signal::Target;
use crate::kernel::timer::{Timer, TimerAction, TimerFdState};
use crate::time::PageClock;

fn tv_to_dur(tv: &Timeval) -> Result<Duration, Errno> {
    if tv.sec < 0 || tv.usec < 0 || tv.usec >= 1_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(
        u64::try_from(tv.sec).unwrap_or(0),
        u32::try_from(tv.usec).unwrap_or(0) * 1000,
    ))
}

fn dur_to_tv(d: Duration) -> Timeval {
    // A running timer never reports 0 (getitimer rounds up to 1 µs, as Linux does).
    let mut usec = i64::from(d.subsec_micros());
    if d.as_secs() == 0 && usec == 0 && !d.is_zero() {
        usec = 1;
    }
    Timeval {
        sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        usec,
    }
}

fn ts_to_dur(ts: &Timespec) -> Result<Duration, Errno> {
    if !ts.is_valid() {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(
        u64::try_from(ts.sec).unwrap_or(0),
        u32::try_from(ts.nsec).unwrap_or(0),
    ))
}

fn dur_to_ts(d: Duration) -> Timespec {
    Timespec {
        sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nsec: i64::from(d.subsec_nanos()),
    }
}

/// Writes a timer's (time left, interval) as `struct itimerspec`.
fn put_itimerspec(
    t: &Task,
    addr: u64,
    (left, interval): (Duration, Duration),
) -> abi::SysResult<()> {
    let v = Itimerspec {
        interval: dur_to_ts(interval),
        value: dur_to_ts(left),
    };
    t.copy_out_obj(addr, &v)
}

/// Writes a timer's (time left, interval) as `struct itimerval`.
fn put_itimerval(
    t: &Task,
    addr: u64,
    (left, interval): (Duration, Duration),
) -> abi::SysResult<()> {
    let v = Itimerval {
        interval: dur_to_tv(interval),
        value: dur_to_tv(left),
    };
    t.copy_out_obj(addr, &v)
}

fn after(d: Duration) -> Instant {
    Instant::now()
        .checked_add(d)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(u64::from(u32::MAX)))
}

/// The process's interval timer `which`, created on first use.
fn itimer(t: &Task, which: i32) -> Result<Arc<Timer>, Errno> {
    let idx = usize::try_from(which).map_err(|_| Errno::EINVAL)?;
    let signo = match which {
        ITIMER_REAL => Signal::SIGALRM,
        ITIMER_VIRTUAL => Signal::SIGVTALRM,
        ITIMER_PROF => Signal::SIGPROF,
        _ => return Err(Errno::EINVAL),
    };
    let mut timers = t.tg().timers();
    let slot = timers.itimers.get_mut(idx).ok_or(Errno::EINVAL)?;
    Ok(Arc::clone(slot.get_or_insert_with(|| {
        Timer::new(TimerAction::Signal {
            target: Target::Process(Arc::clone(t.tg())),
            signo,
            posix: None,
        })
    })))
}

/// setitimer(2).
pub fn sys_setitimer(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let which = args.int(0);
    let timer = itimer(t, which)?;
    let new: Option<Itimerval> = if args.ptr(1) != 0 {
        Some(t.copy_in_obj(args.ptr(1))?)
    } else {
        None
    };
    let (left, interval) = match new {
        Some(v) => {
            let value = tv_to_dur(&v.value)?;
            let interval = tv_to_dur(&v.interval)?;
            let deadline = (!value.is_zero()).then(|| after(value));
            timer.set(&t.kernel, deadline, interval)
        }
        None => timer.get(),
    };
    if args.ptr(2) != 0 {
        put_itimerval(t, args.ptr(2), (left, interval))?;
    }
    ok_zero()
}

/// getitimer(2).
pub fn sys_getitimer(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let timer = itimer(t, args.int(0))?;
    put_itimerval(t, args.ptr(1), timer.get())?;
    ok_zero()
}

/// alarm(2): returns the seconds left on the previous alarm, rounded to nearest (at least 1
/// if one was pending).
pub fn sys_alarm(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let secs = args.uint(0);
    let timer = itimer(t, ITIMER_REAL)?;
    let deadline = (secs != 0).then(|| after(Duration::from_secs(u64::from(secs))));
    let (left, _) = timer.set(&t.kernel, deadline, Duration::ZERO);
    let mut rem = left.as_secs();
    if left.subsec_micros() >= 500_000 || (rem == 0 && !left.is_zero()) {
        rem += 1;
    }
    ok_usize(usize::try_from(rem).unwrap_or(usize::MAX))
}

/// The clocks timer_create and timerfd_create accept (CPU clocks count wall time: module doc).
fn timer_clock(id: i32) -> Result<PageClock, Errno> {
    match id {
        tm::CLOCK_REALTIME | tm::CLOCK_REALTIME_ALARM | tm::CLOCK_TAI => Ok(PageClock::Realtime),
        tm::CLOCK_MONOTONIC
        | tm::CLOCK_BOOTTIME
        | tm::CLOCK_BOOTTIME_ALARM
        | tm::CLOCK_PROCESS_CPUTIME_ID
        | tm::CLOCK_THREAD_CPUTIME_ID => Ok(PageClock::Monotonic),
        _ => Err(Errno::EINVAL),
    }
}

/// A deadline from an itimerspec value, absolute on `clock` (the sandbox's clock, converted
/// to a host deadline: the time source rule in `crate::time`) or relative.
fn deadline_of(
    t: &Task,
    value: Duration,
    absolute: bool,
    clock: PageClock,
) -> Result<Option<Instant>, Errno> {
    if value.is_zero() {
        return Ok(None);
    }
    if !absolute {
        return Ok(Some(after(value)));
    }
    let now = t.kernel().clocks.now_duration(clock);
    Ok(Some(after(value.saturating_sub(now))))
}

/// The most POSIX timers one process may hold.
const MAX_POSIX_TIMERS: usize = 32768;

/// timer_create(2).
pub fn sys_timer_create(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let _clock = timer_clock(args.int(0))?;
    let ev: Option<SigEvent> = if args.ptr(1) != 0 {
        Some(t.copy_in_obj(args.ptr(1))?)
    } else {
        None
    };
    let id = {
        let timers = t.tg().timers();
        // A bound on the sentry memory one process can pin with timers (Linux bounds them
        // only by kernel memory); past it timer_create fails EAGAIN, as it does there.
        if timers.posix.len() >= MAX_POSIX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        (0..i32::MAX)
            .find(|i| !timers.posix.contains_key(i))
            .ok_or(Errno::EAGAIN)?
    };
    let action = match ev {
        None => TimerAction::Signal {
            target: Target::Process(Arc::clone(t.tg())),
            signo: Signal::SIGALRM,
            posix: Some((id, u64::from(id.cast_unsigned()))),
        },
        Some(e) => {
            let signo = Signal(e.signo);
            match e.notify {
                SIGEV_NONE => TimerAction::None,
                SIGEV_SIGNAL | SIGEV_THREAD_ID => {
                    if !signo.is_valid() {
                        return Err(Errno::EINVAL);
                    }
                    let target = if e.notify == SIGEV_THREAD_ID {
                        let th = t
                            .kernel
                            .tree()
                            .tasks
                            .get(&e.tid)
                            .filter(|th| th.tg.tgid == t.tgid())
                            .cloned()
                            .ok_or(Errno::EINVAL)?;
                        Target::Thread(th)
                    } else {
                        Target::Process(Arc::clone(t.tg()))
                    };
                    TimerAction::Signal {
                        target,
                        signo,
                        posix: Some((id, e.value)),
                    }
                }
                // SIGEV_THREAD is a libc construct (it uses SIGEV_THREAD_ID underneath).
                _ => return Err(Errno::EINVAL),
            }
        }
    };
    let timer = Timer::new(action);
    t.copy_out_obj(args.ptr(2), &id)?;
    t.tg().timers().posix.insert(id, timer);
    ok_zero()
}

fn posix_timer(t: &Task, id: i32) -> Result<Arc<Timer>, Errno> {
    t.tg().timers().posix.get(&id).cloned().ok_or(Errno::EINVAL)
}

/// timer_settime(2). Absolute times are taken on CLOCK_REALTIME for the realtime clocks and
/// CLOCK_MONOTONIC otherwise (the clock given at creation is not remembered; shortcut).
pub fn sys_timer_settime(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let timer = posix_timer(t, args.int(0))?;
    let flags = args.int(1);
    let spec: Itimerspec = t.copy_in_obj(args.ptr(2))?;
    let value = ts_to_dur(&spec.value)?;
    let interval = ts_to_dur(&spec.interval)?;
    let deadline = deadline_of(
        t,
        value,
        flags & tm::TIMER_ABSTIME != 0,
        PageClock::Realtime,
    )?;
    let (left, old_interval) = timer.set(&t.kernel, deadline, interval);
    if args.ptr(3) != 0 {
        put_itimerspec(t, args.ptr(3), (left, old_interval))?;
    }
    ok_zero()
}

/// timer_gettime(2).
pub fn sys_timer_gettime(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let timer = posix_timer(t, args.int(0))?;
    put_itimerspec(t, args.ptr(1), timer.get())?;
    ok_zero()
}

/// timer_getoverrun(2).
pub fn sys_timer_getoverrun(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let timer = posix_timer(t, args.int(0))?;
    ok_i64(i64::from(timer.overrun()))
}

/// timer_delete(2).
pub fn sys_timer_delete(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let timer = t
        .tg()
        .timers()
        .posix
        .remove(&args.int(0))
        .ok_or(Errno::EINVAL)?;
    timer.set(&t.kernel, None, Duration::ZERO);
    ok_zero()
}

/// A timerfd (timerfd_create(2)).
#[derive(Debug)]
pub struct TimerFd {
    timer: Arc<Timer>,
    state: Arc<TimerFdState>,
    clock: PageClock,
}

impl FileOps for TimerFd {
    fn read_at(&self, buf: &mut [u8], _off: u64) -> abi::SysResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        self.timer.catch_up();
        let mut c = self
            .state
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *c == 0 {
            return Err(Errno::EAGAIN);
        }
        if let Some(dst) = buf.get_mut(..8) {
            dst.copy_from_slice(&c.to_ne_bytes());
        }
        *c = 0;
        Ok(8)
    }
    fn write_at(&self, _buf: &[u8], _off: u64) -> abi::SysResult<usize> {
        Err(Errno::EINVAL)
    }
    fn is_seekable(&self) -> bool {
        false
    }
    fn stat(&self) -> abi::SysResult<abi::file::Stat> {
        Ok(vfs::anon_inode_stat())
    }
    fn readiness(&self, mask: EventMask) -> EventMask {
        self.timer.catch_up();
        let c = *self
            .state
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        EventMask::readable_if(c > 0, mask)
    }
    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.state.queue)
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// timerfd_create(2).
pub fn sys_timerfd_create(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let id = args.int(0);
    let flags = args.uint(1);
    let clock = match id {
        tm::CLOCK_REALTIME | tm::CLOCK_REALTIME_ALARM => PageClock::Realtime,
        tm::CLOCK_MONOTONIC => PageClock::Monotonic,
        tm::CLOCK_BOOTTIME | tm::CLOCK_BOOTTIME_ALARM => PageClock::Boottime,
        _ => return Err(Errno::EINVAL),
    };
    if flags & !(abi::file::O_CLOEXEC | abi::file::O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let state = Arc::new(TimerFdState::default());
    let timer = Timer::new(TimerAction::Count(Arc::clone(&state)));
    let f = OpenFile::new_ops(
        None,
        Box::new(TimerFd {
            timer,
            state,
            clock,
        }),
        abi::file::O_RDWR | (flags & abi::file::O_NONBLOCK),
    );
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let fd = t
        .fds()
        .insert_from(0, f, flags & abi::file::O_CLOEXEC != 0, limit)?;
    ok_i64(i64::from(fd))
}

fn timerfd(t: &Task, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let f = t.fds().file(fd)?;
    if f.ops_any()
        .and_then(|a| a.downcast_ref::<TimerFd>())
        .is_none()
    {
        return Err(Errno::EINVAL);
    }
    Ok(f)
}

/// timerfd_settime(2).
pub fn sys_timerfd_settime(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let f = timerfd(t, args.fd(0))?;
    let Some(tf) = f.ops_any().and_then(|a| a.downcast_ref::<TimerFd>()) else {
        return Err(Errno::EINVAL);
    };
    let flags = args.int(1);
    if flags & !(tm::TFD_TIMER_ABSTIME | tm::TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let spec: Itimerspec = t.copy_in_obj(args.ptr(2))?;
    let value = ts_to_dur(&spec.value)?;
    let interval = ts_to_dur(&spec.interval)?;
    let deadline = deadline_of(t, value, flags & tm::TFD_TIMER_ABSTIME != 0, tf.clock)?;
    *tf.state
        .count
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = 0;
    let (left, old_interval) = tf.timer.set(&t.kernel, deadline, interval);
    if args.ptr(3) != 0 {
        put_itimerspec(t, args.ptr(3), (left, old_interval))?;
    }
    ok_zero()
}

/// timerfd_gettime(2).
pub fn sys_timerfd_gettime(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let f = timerfd(t, args.fd(0))?;
    let Some(tf) = f.ops_any().and_then(|a| a.downcast_ref::<TimerFd>()) else {
        return Err(Errno::EINVAL);
    };
    put_itimerspec(t, args.ptr(1), tf.timer.get())?;
    ok_zero()
}
