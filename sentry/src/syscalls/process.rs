//! Process identity and lifetime: ids, process groups and sessions, clone/fork/vfork, execve,
//! exit, wait4/waitid, arch_prctl, set_tid_address, robust lists, prctl, pidfds.
//!
//! Handlers decode arguments and call the kernel (`kernel::clone`, `kernel::exec`,
//! `kernel::wait`); the sandbox's init is pid 1 with parent 0, as in a fresh pid namespace.

use abi::Errno;
use abi::uts::{ARCH_GET_FS, ARCH_GET_GS, ARCH_SET_FS, ARCH_SET_GS};

use super::{SyscallArgs, SyscallResult, SyscallReturn, ok_i64, ok_usize, ok_zero};
use crate::kernel::clone::{CloneOpts, fork_opts, vfork_opts};
use crate::kernel::tree::ProcState;
use crate::kernel::wait::{CloneSel, WaitSel, WaitWant};
use crate::kernel::{ExitStatus, Task};

/// Lowest non-canonical user address: fs/gs bases at or above it are rejected (EPERM, as
/// do_arch_prctl_64 does for addresses >= TASK_SIZE_MAX).
pub(crate) const TASK_SIZE_MAX: u64 = 0x7fff_ffff_f000;

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

/// The process `pid` names for getpgid/getsid/setpgid (0: the caller).
fn target_pid(t: &Task, pid: i32) -> i32 {
    if pid == 0 { t.tgid() } else { pid }
}

/// getpgrp(2).
pub fn sys_getpgrp(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    let me = t.tgid();
    let pg = t.kernel.tree().proc(me).map_or(me, |p| p.pgid);
    ok_i64(i64::from(pg))
}

/// getpgid(2).
pub fn sys_getpgid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let pid = target_pid(t, args.int(0));
    let tree = t.kernel.tree();
    let p = tree
        .proc(pid)
        .filter(|p| p.state == ProcState::Alive)
        .ok_or(Errno::ESRCH)?;
    ok_i64(i64::from(p.pgid))
}

/// getsid(2).
pub fn sys_getsid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let pid = target_pid(t, args.int(0));
    let tree = t.kernel.tree();
    let p = tree
        .proc(pid)
        .filter(|p| p.state == ProcState::Alive)
        .ok_or(Errno::ESRCH)?;
    ok_i64(i64::from(p.sid))
}

/// setpgid(2): the caller or one of its children (before it exec'd — not tracked), into an
/// existing group of the same session or a new group named after itself.
pub fn sys_setpgid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (pid, pgid) = (args.int(0), args.int(1));
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let me = t.tgid();
    let pid = target_pid(t, pid);
    let pgid = if pgid == 0 { pid } else { pgid };
    let tree = &mut *t.kernel.tree();
    let my_sid = tree.proc(me).map_or(me, |p| p.sid);
    let target = tree
        .proc(pid)
        .filter(|p| p.state == ProcState::Alive)
        .ok_or(Errno::ESRCH)?;
    if pid != me && target.parent != me {
        return Err(Errno::ESRCH);
    }
    if pid != me && target.did_exec {
        return Err(Errno::EACCES);
    }
    if target.sid != my_sid {
        return Err(Errno::EPERM);
    }
    // A session leader cannot change its group.
    if target.sid == pid {
        return Err(Errno::EPERM);
    }
    if pgid != pid
        && !tree
            .procs
            .values()
            .any(|p| p.pgid == pgid && p.sid == my_sid)
    {
        return Err(Errno::EPERM);
    }
    if let Some(p) = tree.proc_mut(pid) {
        p.pgid = pgid;
    }
    ok_zero()
}

/// setsid(2): EPERM for a process group leader.
pub fn sys_setsid(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    let me = t.tgid();
    let mut tree = t.kernel.tree();
    if tree.procs.values().any(|p| p.pgid == me) {
        return Err(Errno::EPERM);
    }
    if let Some(p) = tree.proc_mut(me) {
        p.pgid = me;
        p.sid = me;
    }
    drop(tree);
    crate::tty::session_created(&t.kernel, me);
    ok_i64(i64::from(me))
}

/// exit(2): this thread only.
pub fn sys_exit(_t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    Ok(SyscallReturn::Exit(args.int(0) & 0xff))
}

/// exit_group(2).
pub fn sys_exit_group(_t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    Ok(SyscallReturn::ExitGroup(ExitStatus::Exited(
        args.int(0) & 0xff,
    )))
}

/// clone(2): x86-64 argument order is (flags, stack, parent_tid, child_tid, tls).
pub fn sys_clone(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let raw = args.ulong(0);
    let o = CloneOpts {
        flags: raw & !abi::clone::CSIGNAL,
        exit_signal: i32::try_from(raw & abi::clone::CSIGNAL).unwrap_or(0),
        stack: args.ptr(1),
        parent_tid: args.ptr(2),
        child_tid: args.ptr(3),
        tls: args.ulong(4),
        pidfd: 0,
    };
    if o.exit_signal != 0 && !abi::signal::Signal(o.exit_signal).is_valid() {
        return Err(Errno::EINVAL);
    }
    // clone(2) stores the pidfd where the parent tid would go: both at once is EINVAL.
    let f = abi::clone::CloneFlags::from_bits_truncate(o.flags);
    if f.contains(abi::clone::CloneFlags::PIDFD)
        && f.contains(abi::clone::CloneFlags::PARENT_SETTID)
    {
        return Err(Errno::EINVAL);
    }
    ok_i64(i64::from(t.do_clone(o)?))
}

/// clone3(2).
pub fn sys_clone3(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    use abi::clone::{CLONE_ARGS_SIZE_VER0, CloneArgs};
    let size = args.size(1);
    if !(CLONE_ARGS_SIZE_VER0..=4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; usize::try_from(size).map_err(|_| Errno::EINVAL)?];
    t.mm.copy_in(args.ptr(0), &mut buf)?;
    // Bytes past what we know must be zero (E2BIG otherwise), as copy_struct_from_user says.
    let known = size_of::<CloneArgs>();
    if buf
        .get(known..)
        .is_some_and(|rest| rest.iter().any(|&b| b != 0))
    {
        return Err(Errno::E2BIG);
    }
    buf.resize(known.max(buf.len()), 0);
    let ca = zerocopy::FromBytes::read_from_prefix(&buf[..])
        .map(|(v, _)| v)
        .map_err(|_| Errno::EINVAL)?;
    let ca: CloneArgs = ca;
    if ca.exit_signal > 64 || ca.set_tid != 0 || ca.set_tid_size != 0 {
        return Err(Errno::EINVAL);
    }
    // clone3(2): a thread has no exit signal.
    let f = abi::clone::CloneFlags::from_bits_truncate(ca.flags);
    if f.contains(abi::clone::CloneFlags::THREAD) && ca.exit_signal != 0 {
        return Err(Errno::EINVAL);
    }
    if (ca.stack == 0) != (ca.stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    let o = CloneOpts {
        flags: ca.flags,
        exit_signal: i32::try_from(ca.exit_signal).unwrap_or(0),
        // clone3 takes the lowest address and the size; the stack grows down from the top.
        stack: ca.stack.checked_add(ca.stack_size).ok_or(Errno::EINVAL)?,
        parent_tid: ca.parent_tid,
        child_tid: ca.child_tid,
        tls: ca.tls,
        pidfd: ca.pidfd,
    };
    ok_i64(i64::from(t.do_clone(o)?))
}

/// fork(2).
pub fn sys_fork(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.do_clone(fork_opts())?))
}

/// vfork(2).
pub fn sys_vfork(t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    ok_i64(i64::from(t.do_clone(vfork_opts())?))
}

/// execve/execveat's string arrays: at most MAX_ARG_STRINGS pointers, each string at most
/// MAX_ARG_STRLEN (E2BIG), a NULL array meaning empty.
fn copy_in_strings(t: &Task, mut addr: u64, total: &mut usize) -> abi::SysResult<Vec<Vec<u8>>> {
    let mut v = Vec::new();
    if addr == 0 {
        return Ok(v);
    }
    let limit = arg_limit(t);
    loop {
        let p: u64 = t.copy_in_obj(addr)?;
        if p == 0 {
            return Ok(v);
        }
        let s =
            t.mm.copy_in_cstring(p, crate::loader::MAX_ARG_STRLEN)
                .map_err(|e| {
                    if e == Errno::ENAMETOOLONG {
                        Errno::E2BIG
                    } else {
                        e
                    }
                })?;
        *total = total.saturating_add(s.len() + 1 + 8);
        if *total > limit {
            return Err(Errno::E2BIG);
        }
        v.push(s);
        addr = addr.checked_add(8).ok_or(Errno::EFAULT)?;
    }
}

/// The most bytes of argument and environment strings (with their pointers) execve accepts:
/// a quarter of RLIMIT_STACK, at most 3/4 of the 8 MiB default stack and at least ARG_MAX
/// (128 KiB), as fs/exec.c bprm_stack_limits computes it.
fn arg_limit(t: &Task) -> usize {
    let stack = t.rlimit_cur(abi::time::RLIMIT_STACK);
    let quarter = usize::try_from(stack / 4).unwrap_or(usize::MAX);
    // The loader builds an 8 MiB stack and caps the strings at a quarter of it.
    quarter
        .clamp(128 << 10, 6 << 20)
        .min(crate::loader::MAX_ARG_TOTAL)
}

/// execve(2).
pub fn sys_execve(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let path = t.copy_in_path(args.ptr(0))?;
    let mut total = 0;
    let argv = copy_in_strings(t, args.ptr(1), &mut total)?;
    let envp = copy_in_strings(t, args.ptr(2), &mut total)?;
    t.do_execve(abi::file::AT_FDCWD, path, argv, envp, false)?;
    Ok(SyscallReturn::NoReturn)
}

/// execveat(2): AT_EMPTY_PATH runs the file `dirfd` refers to; AT_SYMLINK_NOFOLLOW is
/// refused for a final symlink (ELOOP) by the path walk.
pub fn sys_execveat(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let dirfd = args.dirfd(0);
    let flags = args.uint(4);
    if flags & !(abi::file::AT_EMPTY_PATH | abi::file::AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.copy_in_path(args.ptr(1)).or_else(|e| {
        if flags & abi::file::AT_EMPTY_PATH != 0 {
            Ok(Vec::new())
        } else {
            Err(e)
        }
    })?;
    let empty = path.is_empty();
    if empty && flags & abi::file::AT_EMPTY_PATH == 0 {
        return Err(Errno::ENOENT);
    }
    let mut total = 0;
    let argv = copy_in_strings(t, args.ptr(2), &mut total)?;
    let envp = copy_in_strings(t, args.ptr(3), &mut total)?;
    t.do_execve(dirfd, path, argv, envp, empty)?;
    Ok(SyscallReturn::NoReturn)
}

/// The selector of wait4's `pid` argument.
fn wait_sel(t: &Task, pid: i32) -> WaitSel {
    match pid {
        -1 => WaitSel::Any,
        0 => {
            let me = t.tgid();
            WaitSel::Pgid(t.kernel.tree().proc(me).map_or(me, |p| p.pgid))
        }
        p if p < -1 => WaitSel::Pgid(p.wrapping_neg()),
        p => WaitSel::Pid(p),
    }
}

/// wait4(2).
pub fn sys_wait4(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    use abi::clone::{WALL, WCLONE, WCONTINUED, WNOHANG, WNOTHREAD, WUNTRACED};
    let options = args.uint(2);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    let sel = wait_sel(t, args.int(0));
    let want = WaitWant {
        exited: true,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        peek: false,
        clone_children: CloneSel::from_options(options),
    };
    let Some(r) = t.do_wait(sel, want, options & WNOHANG != 0)? else {
        return ok_zero();
    };
    if args.ptr(1) != 0 {
        t.copy_out_obj(args.ptr(1), &r.wstatus)?;
    }
    if args.ptr(3) != 0 {
        t.copy_out_obj(args.ptr(3), &r.usage.to_rusage())?;
    }
    ok_i64(i64::from(r.pid))
}

/// waitid(2).
pub fn sys_waitid(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    use abi::clone::{
        P_ALL, P_PGID, P_PID, P_PIDFD, WALL, WCLONE, WCONTINUED, WEXITED, WNOHANG, WNOTHREAD,
        WNOWAIT, WSTOPPED,
    };
    let (idtype, id) = (args.int(0), args.int(1));
    let options = args.uint(3);
    if options & !(WNOHANG | WSTOPPED | WCONTINUED | WEXITED | WNOWAIT | WNOTHREAD | WALL | WCLONE)
        != 0
        || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    let sel = match idtype {
        P_ALL => WaitSel::Any,
        P_PID if id > 0 => WaitSel::Pid(id),
        P_PGID if id > 0 => WaitSel::Pgid(id),
        P_PGID if id == 0 => wait_sel(t, 0),
        P_PIDFD => {
            let f = t.fds().file(id)?;
            let pid = f
                .ops_any()
                .and_then(|a| a.downcast_ref::<crate::kernel::pipe::PidFd>())
                .map(|p| p.tg.tgid)
                .ok_or(Errno::EBADF)?;
            WaitSel::Pid(pid)
        }
        _ => return Err(Errno::EINVAL),
    };
    let want = WaitWant {
        exited: options & WEXITED != 0,
        stopped: options & WSTOPPED != 0,
        continued: options & WCONTINUED != 0,
        peek: options & WNOWAIT != 0,
        clone_children: CloneSel::from_options(options),
    };
    let found = t.do_wait(sel, want, options & WNOHANG != 0)?;
    if args.ptr(2) != 0 {
        let mut si = abi::signal::SigInfo::default();
        if let Some(r) = found {
            si = abi::signal::SigInfo::new(abi::signal::Signal::SIGCHLD, r.code);
            si.set_chld(r.pid, 0, r.status);
        }
        t.copy_out_obj(args.ptr(2), &si)?;
    }
    if args.ptr(4) != 0 {
        let usage = found.map(|r| r.usage).unwrap_or_default();
        t.copy_out_obj(args.ptr(4), &usage.to_rusage())?;
    }
    ok_zero()
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

/// get_robust_list(2): the caller's own list (pid 0 or its tid); other threads' lists only for
/// this thread (ESRCH if none, EPERM is not reachable as everyone is root here).
pub fn sys_get_robust_list(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let pid = args.int(0);
    if pid != 0 && pid != t.tid() {
        if t.kernel.tree().tasks.contains_key(&pid) {
            // Another thread's list lives in that thread's own state.
            return Err(Errno::EPERM);
        }
        return Err(Errno::ESRCH);
    }
    let (head, len) = t.robust_list;
    t.copy_out_obj(args.ptr(1), &head)?;
    t.copy_out_obj(args.ptr(2), &len)?;
    ok_zero()
}

const PR_SET_PDEATHSIG: i32 = 1;
const PR_GET_PDEATHSIG: i32 = 2;
const PR_GET_DUMPABLE: i32 = 3;
const PR_SET_DUMPABLE: i32 = 4;
const PR_SET_NAME: i32 = 15;
const PR_GET_NAME: i32 = 16;
const PR_SET_CHILD_SUBREAPER: i32 = 36;
const PR_GET_CHILD_SUBREAPER: i32 = 37;
const PR_GET_KEEPCAPS: i32 = 7;
const PR_SET_KEEPCAPS: i32 = 8;
const PR_CAPBSET_READ: i32 = 23;
const PR_CAPBSET_DROP: i32 = 24;
const PR_GET_SECUREBITS: i32 = 27;
const PR_SET_SECUREBITS: i32 = 28;
const PR_CAP_AMBIENT: i32 = 47;
const PR_CAP_AMBIENT_IS_SET: u64 = 1;
const PR_CAP_AMBIENT_RAISE: u64 = 2;
const PR_CAP_AMBIENT_LOWER: u64 = 3;
const PR_CAP_AMBIENT_CLEAR_ALL: u64 = 4;
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
            *t.shared
                .comm
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = comm;
            ok_zero()
        }
        PR_GET_NAME => {
            let comm = *t
                .shared
                .comm
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            t.copy_out_obj(args.ptr(1), &comm)?;
            ok_zero()
        }
        PR_SET_CHILD_SUBREAPER => {
            let me = t.tgid();
            if let Some(p) = t.kernel.tree().proc_mut(me) {
                p.is_subreaper = args.ulong(1) != 0;
            }
            ok_zero()
        }
        PR_GET_CHILD_SUBREAPER => {
            let me = t.tgid();
            let v = i32::from(t.kernel.tree().proc(me).is_some_and(|p| p.is_subreaper));
            t.copy_out_obj(args.ptr(1), &v)?;
            ok_zero()
        }
        PR_GET_KEEPCAPS => ok_usize(usize::from(t.creds.keep_caps)),
        PR_SET_KEEPCAPS => match args.ulong(1) {
            0 | 1 => {
                t.creds = t.creds.set_keep_caps(args.ulong(1) == 1)?;
                crate::fs::proc::set_current(t);
                ok_zero()
            }
            _ => Err(Errno::EINVAL),
        },
        PR_GET_SECUREBITS => ok_usize(usize::try_from(t.creds.securebits()).unwrap_or(0)),
        PR_SET_SECUREBITS => {
            t.creds = t.creds.set_securebits(args.ulong(1))?;
            crate::fs::proc::set_current(t);
            ok_zero()
        }
        PR_CAP_AMBIENT => {
            // prctl(2): the unused arguments must be zero.
            if args.ulong(4) != 0 || args.ulong(3) != 0 {
                return Err(Errno::EINVAL);
            }
            let cap = args.ulong(2);
            match args.ulong(1) {
                PR_CAP_AMBIENT_IS_SET => {
                    return ok_usize(usize::from(t.creds.ambient_is_set(cap)?));
                }
                PR_CAP_AMBIENT_RAISE => t.creds = t.creds.ambient_raise(cap)?,
                PR_CAP_AMBIENT_LOWER => t.creds = t.creds.ambient_lower(cap)?,
                PR_CAP_AMBIENT_CLEAR_ALL if cap == 0 => t.creds.cap_ambient = 0,
                _ => return Err(Errno::EINVAL),
            }
            crate::fs::proc::set_current(t);
            ok_zero()
        }
        PR_CAPBSET_READ => {
            let cap = u32::try_from(args.ulong(1))
                .ok()
                .filter(|c| *c <= abi::cap::CAP_LAST_CAP)
                .ok_or(Errno::EINVAL)?;
            ok_usize(usize::from(t.creds.cap_bounding & abi::cap::bit(cap) != 0))
        }
        PR_CAPBSET_DROP => {
            t.creds = t.creds.drop_bounding(args.ulong(1))?;
            crate::fs::proc::set_current(t);
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
