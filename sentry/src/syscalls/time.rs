//! Clocks and sleeps. CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME and their coarse and
//! alarm variants come from the sandbox's clocks (`crate::time`: the same function and
//! parameters the vDSO uses, so syscall and vDSO readings mix; they track the host's clocks,
//! as runsc's do); CLOCK_MONOTONIC_RAW and CLOCK_TAI are the host's; CPU-time clocks report
//! the sentry process's accounting. Sleeps wait on host deadlines (`crate::time` module doc:
//! "Timers and sleeps run on the host's clock").

use std::time::{Duration, Instant};

use abi::Errno;
use abi::time as tm;
use abi::time::{Timespec, Timeval};
use nix::time::{ClockId, clock_gettime};

use super::{SyscallArgs, SyscallResult, ok_i64, ok_zero};
use crate::kernel::Task;
use crate::kernel::task::RestartBlock;
use crate::time::PageClock;

/// What serves guest clock `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clock {
    /// The sandbox's clocks (`crate::time`).
    Page(PageClock),
    /// A host clock.
    Host(ClockId),
}

/// The clock serving guest clock `id`, or EINVAL.
fn clock_of(t: &Task, id: i32) -> Result<Clock, Errno> {
    match PageClock::for_sentry(id) {
        Some(c) => Ok(Clock::Page(c)),
        None => host_clock(t, id).map(Clock::Host),
    }
}

/// The current time of `clock`.
fn clock_now(t: &Task, clock: Clock) -> Result<Timespec, Errno> {
    match clock {
        Clock::Page(c) => Ok(t.kernel().clocks.now(c)),
        Clock::Host(c) => now(c),
    }
}

/// The host clock serving guest clock `id` (those `PageClock::for_sentry` does not take), or
/// EINVAL.
fn host_clock(t: &Task, id: i32) -> Result<ClockId, Errno> {
    let c = match id {
        tm::CLOCK_REALTIME | tm::CLOCK_REALTIME_ALARM => libc::CLOCK_REALTIME,
        tm::CLOCK_MONOTONIC => libc::CLOCK_MONOTONIC,
        tm::CLOCK_MONOTONIC_RAW => libc::CLOCK_MONOTONIC_RAW,
        tm::CLOCK_REALTIME_COARSE => libc::CLOCK_REALTIME_COARSE,
        tm::CLOCK_MONOTONIC_COARSE => libc::CLOCK_MONOTONIC_COARSE,
        tm::CLOCK_BOOTTIME | tm::CLOCK_BOOTTIME_ALARM => libc::CLOCK_BOOTTIME,
        tm::CLOCK_TAI => libc::CLOCK_TAI,
        tm::CLOCK_PROCESS_CPUTIME_ID => libc::CLOCK_PROCESS_CPUTIME_ID,
        tm::CLOCK_THREAD_CPUTIME_ID => libc::CLOCK_THREAD_CPUTIME_ID,
        id if id < 0 => {
            // A CPU clock of a pid/tid: ((~pid) << 3) | type (include/linux/posix-timers.h).
            // Only the caller's own process clock is served (other processes' are EINVAL).
            let pid = !(id >> 3);
            let ty = id & 3;
            if (pid != 0 && pid != t.tgid()) || ty > 2 {
                return Err(Errno::EINVAL);
            }
            libc::CLOCK_PROCESS_CPUTIME_ID
        }
        _ => return Err(Errno::EINVAL),
    };
    Ok(ClockId::from_raw(c))
}

fn now(clock: ClockId) -> Result<Timespec, Errno> {
    let ts = clock_gettime(clock).map_err(|e| {
        tracing::error!(target: "sentry::time", %e, "host clock_gettime failed");
        Errno::EINVAL
    })?;
    Ok(Timespec {
        sec: ts.tv_sec(),
        nsec: ts.tv_nsec(),
    })
}

/// clock_gettime(2). The process CPU clock is the application's CPU time as the platform
/// measures it for the address space; the thread CPU clock is still the sentry thread's own.
pub fn sys_clock_gettime(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let clock = clock_of(t, args.int(0))?;
    if clock == Clock::Host(ClockId::CLOCK_PROCESS_CPUTIME_ID)
        && let Some(cpu) = t.mm().address_space().cpu_time()
    {
        let d = cpu.user.saturating_add(cpu.system);
        let ts = Timespec {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nsec: i64::from(d.subsec_nanos()),
        };
        t.copy_out_obj(args.ptr(1), &ts)?;
        return ok_zero();
    }
    let ts = clock_now(t, clock)?;
    t.copy_out_obj(args.ptr(1), &ts)?;
    ok_zero()
}

/// clock_getres(2): 1 ns for high-resolution clocks, a tick (4 ms, CONFIG_HZ=250) for the
/// coarse ones (what the vDSO answers too). `res` may be NULL.
pub fn sys_clock_getres(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let id = args.int(0);
    let res = match clock_of(t, id)? {
        Clock::Page(c) if c.is_coarse() => Timespec {
            sec: 0,
            nsec: i64::try_from(crate::time::params::COARSE_NS).unwrap_or(0),
        },
        _ => Timespec { sec: 0, nsec: 1 },
    };
    if args.ptr(1) != 0 {
        t.copy_out_obj(args.ptr(1), &res)?;
    }
    ok_zero()
}

/// gettimeofday(2): CLOCK_REALTIME. The obsolete timezone is reported as UTC.
pub fn sys_gettimeofday(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let ts = t.kernel().clocks.now(PageClock::Realtime);
    if args.ptr(0) != 0 {
        t.copy_out_obj(
            args.ptr(0),
            &Timeval {
                sec: ts.sec,
                usec: ts.nsec / 1000,
            },
        )?;
    }
    if args.ptr(1) != 0 {
        t.copy_out_obj(args.ptr(1), &[0i32; 2])?;
    }
    ok_zero()
}

/// time(2): the seconds of CLOCK_REALTIME.
pub fn sys_time(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let ts = t.kernel().clocks.now(PageClock::Realtime);
    if args.ptr(0) != 0 {
        t.copy_out_obj(args.ptr(0), &ts.sec)?;
    }
    ok_i64(ts.sec)
}

fn duration_of(ts: &Timespec) -> Result<Duration, Errno> {
    if !ts.is_valid() {
        return Err(Errno::EINVAL);
    }
    let sec = u64::try_from(ts.sec).map_err(|_| Errno::EINVAL)?;
    let nsec = u32::try_from(ts.nsec).map_err(|_| Errno::EINVAL)?;
    Ok(Duration::new(sec, nsec))
}

/// Sleeps until `deadline`; on a signal, leaves a restart block so that restart_syscall(2)
/// resumes the same sleep when no handler runs, and `rem` gets the time left when one does
/// (kernel/time/hrtimer.c hrtimer_nanosleep).
fn sleep_restartable(t: &mut Task, deadline: Instant, rem: u64) -> SyscallResult {
    match t.sleep_until(deadline) {
        Ok(()) => ok_zero(),
        Err(Errno::ERESTARTSYS) => {
            t.restart_block = Some(RestartBlock::Sleep { deadline, rem });
            Err(Errno::ERESTART_RESTARTBLOCK)
        }
        Err(e) => Err(e),
    }
}

/// nanosleep(2).
pub fn sys_nanosleep(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let req: Timespec = t.copy_in_obj(args.ptr(0))?;
    let d = duration_of(&req)?;
    let deadline = Instant::now().checked_add(d).ok_or(Errno::EINVAL)?;
    sleep_restartable(t, deadline, args.ptr(1))
}

/// restart_syscall(2): resumes what a handler-less signal interrupted.
pub fn sys_restart_syscall(t: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    match t.restart_block.take() {
        Some(RestartBlock::Sleep { deadline, rem }) => sleep_restartable(t, deadline, rem),
        None => Err(Errno::EINTR),
    }
}

/// clock_nanosleep(2). The raw syscall returns -errno like any other; glibc's wrapper turns
/// it into a positive return value. An absolute sleep interrupted by a signal restarts as is
/// (ERESTARTNOHAND); a relative one like nanosleep. An absolute sleep on one of the sandbox's
/// clocks waits on the host until the guest clock reads the requested time (re-checked after
/// each host deadline, so it never ends early by the guest clock).
pub fn sys_clock_nanosleep(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let id = args.int(0);
    let flags = args.int(1);
    // The thread CPU clock cannot be slept on: Linux answers EOPNOTSUPP (posix-cpu-timers.c
    // thread_cpu_nsleep; the man page's EINVAL is out of date).
    if id == tm::CLOCK_THREAD_CPUTIME_ID {
        return Err(Errno::EOPNOTSUPP);
    }
    let clock = clock_of(t, id)?;
    let req: Timespec = t.copy_in_obj(args.ptr(2))?;
    let d = duration_of(&req)?;
    if flags & tm::TIMER_ABSTIME != 0 {
        loop {
            let n = clock_now(t, clock)?;
            let cur = Duration::new(
                u64::try_from(n.sec).unwrap_or(0),
                u32::try_from(n.nsec).unwrap_or(0),
            );
            if cur >= d {
                return ok_zero();
            }
            let deadline = Instant::now().checked_add(d - cur).ok_or(Errno::EINVAL)?;
            match t.sleep_until(deadline) {
                // A host clock is only read once (the CPU clocks would wait for the sentry's
                // CPU time, not the app's).
                Ok(()) if matches!(clock, Clock::Host(_)) => return ok_zero(),
                Ok(()) => {}
                Err(Errno::ERESTARTSYS) => return Err(Errno::ERESTARTNOHAND),
                Err(e) => return Err(e),
            }
        }
    }
    let deadline = Instant::now().checked_add(d).ok_or(Errno::EINVAL)?;
    sleep_restartable(t, deadline, args.ptr(3))
}
