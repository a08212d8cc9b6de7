//! futex(2) argument decoding; the table and the waiting live in `kernel::futex`.

use std::time::{Duration, Instant};

use abi::Errno;
use abi::time::Timespec;

use super::{SyscallArgs, SyscallResult, ok_usize, ok_zero};
use crate::kernel::Task;
use crate::time::PageClock;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;

/// A count argument (`int`): negative counts act as "all" for wakes on Linux (the int is
/// compared as is; a negative nr_wake wakes nobody in futex_wake... Linux treats it as
/// unsigned-large for requeue). We follow futex_wake: `nr_wake <= 0` wakes nobody.
fn count(v: u32) -> usize {
    usize::try_from(v.cast_signed()).unwrap_or(0)
}

/// The deadline of a WAIT: relative for FUTEX_WAIT, absolute on CLOCK_MONOTONIC (or
/// CLOCK_REALTIME with the flag) for FUTEX_WAIT_BITSET.
fn deadline(t: &Task, addr: u64, absolute: bool, realtime: bool) -> Result<Option<Instant>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.copy_in_obj(addr)?;
    if !ts.is_valid() {
        return Err(Errno::EINVAL);
    }
    let want = Duration::new(
        u64::try_from(ts.sec).unwrap_or(0),
        u32::try_from(ts.nsec).unwrap_or(0),
    );
    let rel = if absolute {
        let clock = if realtime {
            PageClock::Realtime
        } else {
            PageClock::Monotonic
        };
        // The sandbox's clock (the time source rule in `crate::time`).
        want.saturating_sub(t.kernel().clocks.now_duration(clock))
    } else {
        want
    };
    Ok(Some(Instant::now().checked_add(rel).unwrap_or_else(|| {
        Instant::now() + Duration::from_secs(u64::from(u32::MAX))
    })))
}

/// futex(2).
pub fn sys_futex(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let uaddr = args.ptr(0);
    let op = args.uint(1);
    let val = args.uint(2);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    // FUTEX_CLOCK_REALTIME only goes with the absolute-timeout waits.
    if realtime && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_WAIT {
        return Err(Errno::ENOSYS);
    }
    // include/uapi/linux/futex.h: the futex word is a 4-byte aligned u32.
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT_BITSET {
                args.uint(5)
            } else {
                u32::MAX
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let d = deadline(t, args.ptr(3), cmd == FUTEX_WAIT_BITSET, realtime)?;
            match t.futex_wait(uaddr, private, val, bitset, d) {
                Ok(()) => ok_zero(),
                // A signal: restart when no handler runs, EINTR otherwise.
                Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTSYS),
                Err(e) => Err(e),
            }
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE_BITSET {
                args.uint(5)
            } else {
                u32::MAX
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            ok_usize(t.futex_wake(uaddr, private, count(val), bitset)?)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let uaddr2 = args.ptr(4);
            if !uaddr2.is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            let n_requeue = count(u32::try_from(args.ulong(3) & 0xffff_ffff).unwrap_or(0));
            if val.cast_signed() < 0 || (args.ulong(3) as u32).cast_signed() < 0 {
                return Err(Errno::EINVAL);
            }
            let cmp = (cmd == FUTEX_CMP_REQUEUE).then(|| args.uint(5));
            ok_usize(t.futex_requeue(uaddr, uaddr2, private, count(val), n_requeue, cmp)?)
        }
        FUTEX_WAKE_OP => {
            let uaddr2 = args.ptr(4);
            if !uaddr2.is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            let n2 = count(u32::try_from(args.ulong(3) & 0xffff_ffff).unwrap_or(0));
            ok_usize(t.futex_wake_op(uaddr, uaddr2, private, count(val), n2, args.uint(5))?)
        }
        _ => {
            tracing::debug!(target: "sentry::unimplemented", op, "unsupported futex operation");
            Err(Errno::ENOSYS)
        }
    }
}
