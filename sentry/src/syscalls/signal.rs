//! Signal state syscalls. Actions and masks are recorded exactly; delivery arrives with the
//! signals issue (the table marks rt_sigaction partial until then).

use abi::Errno;
use abi::signal::{SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SigAction, SigSet, Signal};
use abi::time::{MINSIGSTKSZ, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, StackT};

use super::{SyscallArgs, SyscallResult, ok_zero};
use crate::kernel::Task;

/// sizeof(sigset_t) in the kernel ABI.
const SIGSET_SIZE: u64 = 8;

/// rt_sigaction(2).
pub fn sys_rt_sigaction(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let sig = Signal(args.int(0));
    let (act_addr, oact_addr) = (args.ptr(1), args.ptr(2));
    if args.size(3) != SIGSET_SIZE || !sig.is_valid() {
        return Err(Errno::EINVAL);
    }
    let idx = usize::try_from(sig.0 - 1).map_err(|_| Errno::EINVAL)?;
    // Read the new action before writing the old one: the two may alias.
    let new: Option<SigAction> = if act_addr != 0 {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            return Err(Errno::EINVAL);
        }
        Some(t.copy_in_obj(act_addr)?)
    } else {
        None
    };
    let old = *t.signals.actions.get(idx).ok_or(Errno::EINVAL)?;
    if oact_addr != 0 {
        t.copy_out_obj(oact_addr, &old)?;
    }
    if let Some(mut a) = new {
        a.mask = SigSet(a.mask.0 & !SigSet::UNBLOCKABLE.0);
        if let Some(slot) = t.signals.actions.get_mut(idx) {
            *slot = a;
        }
    }
    ok_zero()
}

/// rt_sigprocmask(2).
pub fn sys_rt_sigprocmask(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let how = args.int(0);
    let (set_addr, oset_addr) = (args.ptr(1), args.ptr(2));
    if args.size(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = t.signals.mask;
    if set_addr != 0 {
        let set: SigSet = t.copy_in_obj(set_addr)?;
        let new = match how {
            SIG_BLOCK => old.0 | set.0,
            SIG_UNBLOCK => old.0 & !set.0,
            SIG_SETMASK => set.0,
            _ => return Err(Errno::EINVAL),
        };
        t.signals.mask = SigSet(new & !SigSet::UNBLOCKABLE.0);
    }
    if oset_addr != 0 {
        t.copy_out_obj(oset_addr, &old)?;
    }
    ok_zero()
}

/// sigaltstack(2).
pub fn sys_sigaltstack(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (ss_addr, old_addr) = (args.ptr(0), args.ptr(1));
    let new: Option<StackT> = if ss_addr != 0 {
        Some(t.copy_in_obj(ss_addr)?)
    } else {
        None
    };
    if old_addr != 0 {
        let old = t.signals.altstack;
        t.copy_out_obj(old_addr, &old)?;
    }
    if let Some(ss) = new {
        let mode = ss.flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        if mode == SS_DISABLE {
            t.signals.altstack = StackT {
                flags: SS_DISABLE,
                ..StackT::default()
            };
        } else {
            if ss.size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            t.signals.altstack = StackT {
                sp: ss.sp,
                flags: ss.flags & SS_AUTODISARM,
                _pad: 0,
                size: ss.size,
            };
        }
    }
    ok_zero()
}
