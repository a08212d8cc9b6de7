//! Scheduling priority: getpriority/setpriority (nice values per thread, `TaskShared::nice`),
//! sched_get_priority_max/min, sched_getscheduler and sched_getparam.
//!
//! The sandbox does not schedule its threads (the host does): nice values are kept, checked
//! and reported (getpriority, /proc/[pid]/stat fields 18 and 19) but do not change how host
//! threads run. Every thread is SCHED_OTHER with static priority 0.
//!
//! Lock order: targets are collected under the task tree lock, which is dropped before their
//! credentials are read (`fs::proc::creds_of` takes it again).

use std::sync::Arc;

use abi::Errno;
use abi::cap::CAP_SYS_NICE;
use abi::time::{
    MAX_NICE, MIN_NICE, PRIO_PGRP, PRIO_PROCESS, PRIO_USER, RLIMIT_NICE, SCHED_BATCH,
    SCHED_DEADLINE, SCHED_FIFO, SCHED_IDLE, SCHED_NORMAL, SCHED_RR,
};

use super::{SyscallArgs, SyscallResult, ok_usize, ok_zero};
use crate::kernel::{Task, TaskShared};

/// The threads `which`/`who` names (kernel/sys.c), or EINVAL for an unknown `which`.
fn targets(t: &Task, which: u32, who: i32) -> Result<Vec<Arc<TaskShared>>, Errno> {
    match which {
        PRIO_PROCESS => {
            if who == 0 {
                return Ok(vec![Arc::clone(t.shared())]);
            }
            Ok(t.kernel
                .tree()
                .tasks
                .get(&who)
                .cloned()
                .into_iter()
                .collect())
        }
        PRIO_PGRP => {
            let tree = t.kernel.tree();
            let pgid = if who == 0 {
                tree.proc(t.tgid()).map_or(0, |p| p.pgid)
            } else {
                who
            };
            Ok(tree
                .procs
                .values()
                .filter(|p| p.pgid == pgid)
                .flat_map(|p| p.threads.iter())
                .filter_map(|tid| tree.tasks.get(tid).cloned())
                .collect())
        }
        PRIO_USER => {
            let uid = if who == 0 {
                t.creds.uid
            } else {
                u32::from_ne_bytes(who.to_ne_bytes())
            };
            let all: Vec<Arc<TaskShared>> = t.kernel.tree().tasks.values().cloned().collect();
            Ok(all
                .into_iter()
                .filter(|th| {
                    if Arc::ptr_eq(th, t.shared()) {
                        return t.creds.uid == uid;
                    }
                    crate::fs::proc::creds_of(&t.kernel, th.tid()).is_some_and(|c| c.uid == uid)
                })
                .collect())
        }
        _ => Err(Errno::EINVAL),
    }
}

/// getpriority(2): the raw syscall returns `20 - nice` of the highest-priority target (1..40;
/// glibc turns it back into a nice value), ESRCH if none matched.
pub fn sys_getpriority(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let ts = targets(t, args.uint(0), args.int(1))?;
    let best = ts
        .iter()
        .map(|th| 20 - th.nice())
        .max()
        .ok_or(Errno::ESRCH)?;
    ok_usize(usize::try_from(best).unwrap_or(20))
}

/// setpriority(2): nice values are clamped to -20..=19; another user's threads need
/// CAP_SYS_NICE (EPERM), and lowering a nice value needs RLIMIT_NICE room or CAP_SYS_NICE
/// (EACCES). Like Linux, every target is tried and the last error is returned.
pub fn sys_setpriority(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let nice = args.int(2).clamp(MIN_NICE, MAX_NICE);
    let ts = targets(t, args.uint(0), args.int(1))?;
    let privileged = t.creds.has_cap(CAP_SYS_NICE);
    let mut res = Err(Errno::ESRCH);
    for th in &ts {
        let (uid, euid) = if Arc::ptr_eq(th, t.shared()) {
            (t.creds.uid, t.creds.euid)
        } else {
            crate::fs::proc::creds_of(&t.kernel, th.tid())
                .map_or((t.creds.uid, t.creds.euid), |c| (c.uid, c.euid))
        };
        if uid != t.creds.euid && euid != t.creds.euid && !privileged {
            res = Err(Errno::EPERM);
            continue;
        }
        // kernel/sched/core.c can_nice: 20 - nice must fit RLIMIT_NICE.
        let room = u64::try_from(20 - nice).unwrap_or(0) <= th.tg.rlimit_cur(RLIMIT_NICE);
        if nice < th.nice() && !room && !privileged {
            res = Err(Errno::EACCES);
            continue;
        }
        th.set_nice(nice);
        if res == Err(Errno::ESRCH) {
            res = Ok(());
        }
    }
    res?;
    ok_zero()
}

/// The priority range of a policy: (min, max); EINVAL for unknown policies.
fn priority_range(policy: i32) -> Result<(usize, usize), Errno> {
    match u32::try_from(policy).map_err(|_| Errno::EINVAL)? {
        SCHED_FIFO | SCHED_RR => Ok((1, 99)),
        SCHED_NORMAL | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok((0, 0)),
        _ => Err(Errno::EINVAL),
    }
}

/// sched_get_priority_max(2).
pub fn sys_sched_get_priority_max(_t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    ok_usize(priority_range(args.int(0))?.1)
}

/// sched_get_priority_min(2).
pub fn sys_sched_get_priority_min(_t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    ok_usize(priority_range(args.int(0))?.0)
}

/// The thread `pid` names (0: the caller) for the sched_get* calls: EINVAL if negative,
/// ESRCH if unknown.
fn sched_target(t: &Task, pid: i32) -> Result<(), Errno> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && !t.kernel.tree().tasks.contains_key(&pid) {
        return Err(Errno::ESRCH);
    }
    Ok(())
}

/// sched_getscheduler(2): every thread is SCHED_OTHER.
pub fn sys_sched_getscheduler(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    sched_target(t, args.int(0))?;
    ok_usize(SCHED_NORMAL as usize)
}

/// sched_getparam(2): static priority 0 (SCHED_OTHER).
pub fn sys_sched_getparam(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let addr = args.ptr(1);
    if addr == 0 {
        return Err(Errno::EINVAL);
    }
    sched_target(t, args.int(0))?;
    t.copy_out_obj(addr, &0i32)?;
    ok_zero()
}
