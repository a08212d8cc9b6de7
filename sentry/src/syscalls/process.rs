//! Process identity and lifetime: ids, exit, arch_prctl, set_tid_address, robust lists.
//!
//! While a sandbox holds one single-threaded process, its pid, tgid, pgid and sid are all the
//! init task's tid (1), and its parent pid is 0, as for init in a fresh pid namespace.

use abi::Errno;
use abi::uts::{ARCH_GET_FS, ARCH_GET_GS, ARCH_SET_FS, ARCH_SET_GS};

use super::{SyscallArgs, SyscallResult, SyscallReturn, ok_i64, ok_usize, ok_zero};
use crate::kernel::{ExitStatus, Task};

/// Lowest non-canonical user address: fs/gs bases at or above it are rejected (EPERM, as
/// do_arch_prctl_64 does for addresses >= TASK_SIZE_MAX).
const TASK_SIZE_MAX: u64 = 0x7fff_ffff_f000;

/// getpid(2).
pub fn sys_getpid(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.tgid()))
}

/// getppid(2).
pub fn sys_getppid(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.ppid()))
}

/// gettid(2).
pub fn sys_gettid(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.tid()))
}

/// getuid(2).
pub fn sys_getuid(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.creds.uid))
}

/// geteuid(2).
pub fn sys_geteuid(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.creds.euid))
}

/// getgid(2).
pub fn sys_getgid(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.creds.gid))
}

/// getegid(2).
pub fn sys_getegid(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.creds.egid))
}

/// getresuid(2).
pub fn sys_getresuid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let c = t.creds.clone();
    t.copy_out_obj(args.ptr(0), &c.uid)?;
    t.copy_out_obj(args.ptr(1), &c.euid)?;
    t.copy_out_obj(args.ptr(2), &c.suid)?;
    ok_zero()
}

/// getresgid(2).
pub fn sys_getresgid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let c = t.creds.clone();
    t.copy_out_obj(args.ptr(0), &c.gid)?;
    t.copy_out_obj(args.ptr(1), &c.egid)?;
    t.copy_out_obj(args.ptr(2), &c.sgid)?;
    ok_zero()
}

/// getgroups(2).
pub fn sys_getgroups(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let size = usize::try_from(args.int(0)).map_err(|_| Errno::EINVAL)?;
    let groups = t.creds.groups.clone();
    if size == 0 {
        return ok_usize(groups.len());
    }
    if size < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    t.mm.copy_out(args.ptr(1), &bytes)?;
    ok_usize(groups.len())
}

/// The pid argument of getpgid/getsid: 0 or our own pid; any other process does not exist.
fn self_pid(t: &Task, pid: i32) -> Result<(), Errno> {
    if pid == 0 || pid == t.tgid() {
        Ok(())
    } else {
        Err(Errno::ESRCH)
    }
}

/// getpgrp(2).
pub fn sys_getpgrp(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.tgid()))
}

/// getpgid(2).
pub fn sys_getpgid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    self_pid(t, args.int(0))?;
    ok_i64(i64::from(t.tgid()))
}

/// getsid(2).
pub fn sys_getsid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    self_pid(t, args.int(0))?;
    ok_i64(i64::from(t.tgid()))
}

/// setpgid(2): init is already the leader of its own group; making it so again succeeds.
pub fn sys_setpgid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (pid, pgid) = (args.int(0), args.int(1));
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    self_pid(t, pid)?;
    if pgid == 0 || pgid == t.tgid() {
        ok_zero()
    } else {
        // A session leader cannot change its group (setpgid(2): EPERM).
        Err(Errno::EPERM)
    }
}

/// exit(2). With one thread per process this ends the process.
pub fn sys_exit(_t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    Ok(SyscallReturn::Exit(ExitStatus::Exited(args.int(0) & 0xff)))
}

/// exit_group(2).
pub fn sys_exit_group(_t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    Ok(SyscallReturn::Exit(ExitStatus::Exited(args.int(0) & 0xff)))
}

/// arch_prctl(2): FS/GS base. The new base reaches the CPU through the registers the platform
/// loads on the next switch.
pub fn sys_arch_prctl(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let code = args.int(0);
    let addr = args.ulong(1);
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= TASK_SIZE_MAX {
                return Err(Errno::EPERM);
            }
            if code == ARCH_SET_FS {
                t.regs.fs_base = addr;
            } else {
                t.regs.gs_base = addr;
            }
            ok_zero()
        }
        ARCH_GET_FS => {
            let v = t.regs.fs_base;
            t.copy_out_obj(addr, &v)?;
            ok_zero()
        }
        ARCH_GET_GS => {
            let v = t.regs.gs_base;
            t.copy_out_obj(addr, &v)?;
            ok_zero()
        }
        _ => Err(Errno::EINVAL),
    }
}

/// set_tid_address(2): records the clear-child-tid address; returns the tid.
pub fn sys_set_tid_address(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    t.clear_child_tid = args.ptr(0);
    ok_i64(i64::from(t.tid()))
}

/// set_robust_list(2): EINVAL unless `len` is sizeof(struct robust_list_head) (24).
pub fn sys_set_robust_list(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if args.size(1) != 24 {
        return Err(Errno::EINVAL);
    }
    t.robust_list = (args.ptr(0), args.size(1));
    ok_zero()
}

const PR_SET_PDEATHSIG: i32 = 1;
const PR_GET_PDEATHSIG: i32 = 2;
const PR_GET_DUMPABLE: i32 = 3;
const PR_SET_DUMPABLE: i32 = 4;
const PR_SET_NAME: i32 = 15;
const PR_GET_NAME: i32 = 16;
const PR_SET_NO_NEW_PRIVS: i32 = 38;
const PR_GET_NO_NEW_PRIVS: i32 = 39;

/// prctl(2): the process-attribute subset programs query at startup. Other options are EINVAL,
/// as Linux answers for options it does not know (include/uapi/linux/prctl.h).
pub fn sys_prctl(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let option = args.int(0);
    match option {
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            // The kernel copies at most 16 bytes and always NUL-terminates at 15.
            let (n, err) = t.mm.copy_in_partial(args.ptr(1), &mut name);
            if n == 0 {
                return Err(err.unwrap_or(Errno::EFAULT));
            }
            let len = name.iter().position(|&b| b == 0).unwrap_or(15).min(15);
            let mut comm = [0u8; 16];
            for (d, s) in comm.iter_mut().zip(name.iter().take(len)) {
                *d = *s;
            }
            t.comm = comm;
            ok_zero()
        }
        PR_GET_NAME => {
            let comm = t.comm;
            t.copy_out_obj(args.ptr(1), &comm)?;
            ok_zero()
        }
        PR_GET_DUMPABLE => ok_usize(usize::from(t.dumpable)),
        PR_SET_DUMPABLE => match args.ulong(1) {
            0 | 1 => {
                t.dumpable = args.ulong(1) == 1;
                ok_zero()
            }
            _ => Err(Errno::EINVAL),
        },
        PR_SET_PDEATHSIG => {
            let sig = args.ulong(1);
            if sig > 64 {
                return Err(Errno::EINVAL);
            }
            t.pdeath_signal = i32::try_from(sig).map_err(|_| Errno::EINVAL)?;
            ok_zero()
        }
        PR_GET_PDEATHSIG => {
            let sig = t.pdeath_signal;
            t.copy_out_obj(args.ptr(1), &sig)?;
            ok_zero()
        }
        PR_SET_NO_NEW_PRIVS => {
            // prctl(2): arg2 must be 1 and the unused arguments 0.
            if args.ulong(1) != 1 || args.ulong(2) != 0 || args.ulong(3) != 0 || args.ulong(4) != 0
            {
                return Err(Errno::EINVAL);
            }
            t.no_new_privs = true;
            ok_zero()
        }
        PR_GET_NO_NEW_PRIVS => {
            if args.ulong(1) != 0 || args.ulong(2) != 0 || args.ulong(3) != 0 || args.ulong(4) != 0
            {
                return Err(Errno::EINVAL);
            }
            ok_usize(usize::from(t.no_new_privs))
        }
        _ => {
            tracing::debug!(target: "sentry::unimplemented", option, "unsupported prctl option");
            Err(Errno::EINVAL)
        }
    }
}
