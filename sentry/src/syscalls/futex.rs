//! futex(2) for single-threaded processes: a WAKE finds no waiters (there is no other thread
//! that could be waiting), a WAIT whose value matches can only end by its timeout. The checks
//! are Linux's (alignment, value comparison, bitset, timeout validity), so the wait-queue based
//! implementation that threads need can replace the blocking part alone.

use std::time::Duration;

use abi::Errno;
use abi::time::Timespec;
use nix::time::{ClockId, clock_gettime};

use super::{SyscallArgs, SyscallResult, ok_zero};
use crate::kernel::Task;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;

/// futex(2).
pub fn sys_futex(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let uaddr = args.ptr(0);
    let op = args.uint(1);
    let val = args.uint(2);
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    // include/uapi/linux/futex.h: the futex word is a 4-byte aligned u32.
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if cmd == FUTEX_WAIT_BITSET && args.uint(5) == 0 {
                return Err(Errno::EINVAL);
            }
            if cmd == FUTEX_WAIT && op & FUTEX_CLOCK_REALTIME != 0 {
                return Err(Errno::ENOSYS);
            }
            let timeout_addr = args.ptr(3);
            let timeout: Option<Timespec> = if timeout_addr != 0 {
                Some(t.copy_in_obj(timeout_addr)?)
            } else {
                None
            };
            let cur: u32 = t.copy_in_obj(uaddr)?;
            if cur != val {
                return Err(Errno::EAGAIN);
            }
            let Some(ts) = timeout else {
                // Nothing can wake a lone thread; only a signal could end this wait on Linux.
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            };
            if !ts.is_valid() {
                return Err(Errno::EINVAL);
            }
            let want = Duration::new(
                u64::try_from(ts.sec).unwrap_or(0),
                u32::try_from(ts.nsec).unwrap_or(0),
            );
            let sleep = if cmd == FUTEX_WAIT {
                want // relative
            } else {
                // WAIT_BITSET takes an absolute time on CLOCK_MONOTONIC or CLOCK_REALTIME.
                let clock = if op & FUTEX_CLOCK_REALTIME != 0 {
                    ClockId::CLOCK_REALTIME
                } else {
                    ClockId::CLOCK_MONOTONIC
                };
                let now = clock_gettime(clock).map_err(|_| Errno::EINVAL)?;
                let now = Duration::new(
                    u64::try_from(now.tv_sec()).unwrap_or(0),
                    u32::try_from(now.tv_nsec()).unwrap_or(0),
                );
                want.saturating_sub(now)
            };
            std::thread::sleep(sleep);
            Err(Errno::ETIMEDOUT)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if cmd == FUTEX_WAKE_BITSET && args.uint(5) == 0 {
                return Err(Errno::EINVAL);
            }
            ok_zero()
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if cmd == FUTEX_CMP_REQUEUE {
                let cur: u32 = t.copy_in_obj(uaddr)?;
                if cur != args.uint(5) {
                    return Err(Errno::EAGAIN);
                }
            }
            ok_zero()
        }
        _ => {
            tracing::debug!(target: "sentry::unimplemented", op, "unsupported futex operation");
            Err(Errno::ENOSYS)
        }
    }
}
