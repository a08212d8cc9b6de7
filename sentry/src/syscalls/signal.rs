//! Signal syscalls: actions, masks, the alternate stack, sending (kill family, sigqueue,
//! pidfd_send_signal), waiting (sigsuspend, pause, sigtimedwait), pending and sigreturn. The
//! mechanics (queues, delivery, frames) are in `kernel::signal`.

use std::sync::Arc;
use std::time::Instant;

use abi::Errno;
use abi::signal::{
    SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SigAction, SigInfo, SigSet, Signal, si_code,
};
use abi::time::{MINSIGSTKSZ, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, StackT, Timespec};

use super::{SyscallArgs, SyscallResult, SyscallReturn, ok_i64, ok_zero};
use crate::kernel::signal::{Target, send};
use crate::kernel::tree::ProcState;
use crate::kernel::{Task, ThreadGroup};

/// sizeof(sigset_t) in the kernel ABI.
const SIGSET_SIZE: u64 = 8;

/// rt_sigaction(2).
pub fn sys_rt_sigaction(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let sig = Signal(args.int(0));
    let (act_addr, oact_addr) = (args.ptr(1), args.ptr(2));
    if args.size(3) != SIGSET_SIZE || !sig.is_valid() {
        return Err(Errno::EINVAL);
    }
    // Read the new action before writing the old one: the two may alias.
    let new: Option<SigAction> = if act_addr != 0 {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            return Err(Errno::EINVAL);
        }
        Some(t.copy_in_obj(act_addr)?)
    } else {
        None
    };
    let old = t.tg().sig().action(sig);
    if oact_addr != 0 {
        t.copy_out_obj(oact_addr, &old)?;
    }
    if let Some(mut a) = new {
        a.mask = a.mask.blockable();
        let mut g = t.tg().sig();
        g.set_action(sig, a);
        // Setting SIG_IGN (or SIG_DFL for a default-ignored signal) discards it where it is
        // pending (signal(7), POSIX).
        let ignored = a.handler == abi::signal::SIG_IGN
            || (a.handler == abi::signal::SIG_DFL
                && crate::kernel::signal::default_action(sig)
                    == crate::kernel::signal::DefaultAction::Ignore);
        if ignored {
            g.pending.discard(SigSet::of(sig));
            for m in &g.members {
                m.sig().pending.discard(SigSet::of(sig));
            }
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
    let set: Option<SigSet> = if set_addr != 0 {
        Some(t.copy_in_obj(set_addr)?)
    } else {
        None
    };
    let old = t.shared.sig().mask;
    if let Some(set) = set {
        let new = match how {
            SIG_BLOCK => old.0 | set.0,
            SIG_UNBLOCK => old.0 & !set.0,
            SIG_SETMASK => set.0,
            _ => return Err(Errno::EINVAL),
        };
        set_mask(t, SigSet(new));
    }
    if oset_addr != 0 {
        t.copy_out_obj(oset_addr, &old)?;
    }
    ok_zero()
}

/// Installs a new mask (SIGKILL/SIGSTOP stripped) and has the run loop look for signals it
/// unblocked.
pub(crate) fn set_mask(t: &Task, mask: SigSet) {
    {
        let _g = t.tg().sig();
        t.shared.sig().mask = mask.blockable();
    }
    t.recheck_signals();
}

/// sigaltstack(2).
pub fn sys_sigaltstack(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (ss_addr, old_addr) = (args.ptr(0), args.ptr(1));
    let new: Option<StackT> = if ss_addr != 0 {
        Some(t.copy_in_obj(ss_addr)?)
    } else {
        None
    };
    let cur = t.altstack;
    let on = cur.flags & SS_DISABLE == 0
        && t.regs.rsp > cur.sp
        && t.regs.rsp.wrapping_sub(cur.sp) <= cur.size;
    if old_addr != 0 {
        let mut old = cur;
        if on {
            old.flags = SS_ONSTACK;
        }
        t.copy_out_obj(old_addr, &old)?;
    }
    if let Some(ss) = new {
        // sigaltstack(2): EPERM while running on the alternate stack.
        if on {
            return Err(Errno::EPERM);
        }
        let mode = ss.flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        if mode == SS_DISABLE {
            t.altstack = StackT {
                flags: SS_DISABLE,
                ..StackT::default()
            };
        } else {
            if ss.size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            t.altstack = StackT {
                sp: ss.sp,
                flags: ss.flags & SS_AUTODISARM,
                _pad: 0,
                size: ss.size,
            };
        }
    }
    ok_zero()
}

/// rt_sigreturn(2).
pub fn sys_rt_sigreturn(t: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    t.sigreturn()?;
    Ok(SyscallReturn::NoReturn)
}

/// rt_sigpending(2): thread and process pending signals that are blocked... and any other
/// pending ones (the union, as Linux reports).
pub fn sys_rt_sigpending(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if args.size(1) > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = {
        let g = t.tg().sig();
        let ts = t.shared.sig();
        SigSet((g.pending.set().0 | ts.pending.set().0) & ts.mask.0)
    };
    t.copy_out_obj(args.ptr(0), &set)?;
    ok_zero()
}

/// Sleeps until a signal needs the task; always ends in EINTR through ERESTARTNOHAND (a
/// handler runs: EINTR; none does: the call restarts).
fn wait_for_signal(t: &mut Task) -> SyscallResult {
    loop {
        t.prepare_wait();
        match t.wait(None) {
            Err(Errno::ERESTARTSYS) => return Err(Errno::ERESTARTNOHAND),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
}

/// rt_sigsuspend(2): waits with the given mask installed; the old one comes back after the
/// handler (`saved_mask`).
pub fn sys_rt_sigsuspend(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if args.size(1) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask: SigSet = t.copy_in_obj(args.ptr(0))?;
    let old = t.shared.sig().mask;
    set_mask(t, mask);
    t.saved_mask = Some(old);
    wait_for_signal(t)
}

/// pause(2).
pub fn sys_pause(t: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    wait_for_signal(t)
}

/// rt_sigtimedwait(2): dequeues one of `set` (blocked or not), waiting up to the timeout.
pub fn sys_rt_sigtimedwait(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if args.size(3) != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set: SigSet = t.copy_in_obj(args.ptr(0))?;
    let set = set.blockable();
    let deadline = if args.ptr(2) != 0 {
        let ts: Timespec = t.copy_in_obj(args.ptr(2))?;
        if !ts.is_valid() {
            return Err(Errno::EINVAL);
        }
        let d = std::time::Duration::new(
            u64::try_from(ts.sec).unwrap_or(0),
            u32::try_from(ts.nsec).unwrap_or(0),
        );
        Some(Instant::now().checked_add(d).ok_or(Errno::EINVAL)?)
    } else {
        None
    };
    let others = SigSet(!set.0);
    // As Linux does, the waited-for signals are unblocked while waiting (so senders wake us)
    // and dequeued here before any handler could see them; the mask comes back afterwards.
    let old_mask = t.shared.sig().mask;
    set_mask(t, SigSet(old_mask.0 & !set.0));
    let r = sigtimedwait_loop(t, args, others, deadline);
    set_mask(t, old_mask);
    r
}

fn sigtimedwait_loop(
    t: &mut Task,
    args: &SyscallArgs,
    others: SigSet,
    deadline: Option<Instant>,
) -> SyscallResult {
    loop {
        t.prepare_wait();
        let got = {
            let mut g = t.tg().sig();
            let mut ts = t.shared.sig();
            match ts.pending.dequeue(others) {
                Some(i) => Some(i),
                None => g.pending.dequeue(others),
            }
        };
        if let Some(info) = got {
            if args.ptr(1) != 0 {
                t.copy_out_obj(args.ptr(1), &info)?;
            }
            return ok_i64(i64::from(info.signo));
        }
        match t.wait(deadline) {
            Err(Errno::ETIMEDOUT) => return Err(Errno::EAGAIN),
            Err(Errno::ERESTARTSYS) => {
                // One of ours arrived (dequeued on the next turn), or another deliverable
                // signal: EINTR if it has a handler (ERESTARTNOHAND).
                let ours = {
                    let g = t.tg().sig();
                    let ts = t.shared.sig();
                    SigSet((g.pending.set().0 | ts.pending.set().0) & !others.0).0 != 0
                };
                if !ours {
                    return Err(Errno::ERESTARTNOHAND);
                }
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
}

/// Resolves kill(2)'s `pid` into target processes.
fn kill_targets(t: &Task, pid: i32) -> Result<Vec<Arc<ThreadGroup>>, Errno> {
    let tree = t.kernel.tree();
    let alive = |p: &&crate::kernel::tree::ProcRec| p.state == ProcState::Alive;
    let v: Vec<Arc<ThreadGroup>> = match pid {
        // A zombie can still be signalled (to no effect): kill(2) succeeds until it is reaped.
        p if p > 0 => tree
            .proc(p)
            .map(|r| vec![Arc::clone(&r.tg)])
            .unwrap_or_default(),
        0 => {
            let pg = tree.proc(t.tgid()).map_or(0, |p| p.pgid);
            tree.procs
                .values()
                .filter(alive)
                .filter(|p| p.pgid == pg)
                .map(|p| Arc::clone(&p.tg))
                .collect()
        }
        -1 => tree
            .procs
            .iter()
            .filter(|(id, p)| **id != 1 && **id != t.tgid() && alive(p))
            .map(|(_, p)| Arc::clone(&p.tg))
            .collect(),
        p => {
            let pg = p.checked_neg().ok_or(Errno::ESRCH)?;
            tree.procs
                .values()
                .filter(alive)
                .filter(|r| r.pgid == pg)
                .map(|r| Arc::clone(&r.tg))
                .collect()
        }
    };
    if v.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(v)
}

fn user_info(t: &Task, sig: Signal, code: i32) -> SigInfo {
    let mut si = SigInfo::new(sig, code);
    si.set_pid_uid(t.tgid(), t.creds.uid);
    si
}

/// Whether `sig` is 0 (probe) or valid; EINVAL otherwise.
fn check_sig(sig: i32) -> Result<Option<Signal>, Errno> {
    match sig {
        0 => Ok(None),
        s if Signal(s).is_valid() => Ok(Some(Signal(s))),
        _ => Err(Errno::EINVAL),
    }
}

/// kill(2).
pub fn sys_kill(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let sig = check_sig(args.int(1))?;
    let all = kill_targets(t, args.int(0))?;
    // Permission (kill(2)): CAP_KILL, or the sender's real or effective uid is the target's
    // real or saved uid; SIGCONT may also go to any process of the sender's session. A
    // group or broadcast kill fails with EPERM only if every target refused.
    let n = all.len();
    let targets: Vec<_> = all
        .into_iter()
        .filter(|tg| may_signal(t, tg, sig))
        .collect();
    if targets.is_empty() && n > 0 {
        return Err(Errno::EPERM);
    }
    if let Some(sig) = sig {
        for tg in targets {
            // init (pid 1) ignores signals it has no handler for, except from... nobody
            // here: every sender is inside its namespace, so SIG_DFL signals to init are
            // dropped (as for a pid namespace's init), SIGKILL included.
            if tg.tgid == 1 && tg.sig().action(sig).handler == abi::signal::SIG_DFL {
                continue;
            }
            send(
                &t.kernel,
                &Target::Process(tg),
                user_info(t, sig, si_code::SI_USER),
            )?;
        }
    }
    ok_zero()
}

/// Whether `t` may send `sig` (None: the existence probe, signal 0) to process `tg`.
fn may_signal(t: &Task, tg: &ThreadGroup, sig: Option<Signal>) -> bool {
    if t.creds.has_cap(abi::cap::CAP_KILL) || tg.tgid == t.tgid() {
        return true;
    }
    let Some(target) = crate::fs::proc::creds_of(&t.kernel, tg.tgid) else {
        return true; // not started yet: it runs with its creator's credentials
    };
    let me = &t.creds;
    let ids_match = [me.uid, me.euid]
        .iter()
        .any(|u| *u == target.uid || *u == target.suid);
    if ids_match {
        return true;
    }
    sig == Some(Signal::SIGCONT) && {
        let tree = t.kernel.tree();
        tree.proc(t.tgid()).map(|p| p.sid) == tree.proc(tg.tgid).map(|p| p.sid)
    }
}

/// The live thread `tid`, optionally required to be in process `tgid`.
pub(super) fn find_thread(
    t: &Task,
    tgid: Option<i32>,
    tid: i32,
) -> Result<Arc<crate::kernel::TaskShared>, Errno> {
    if tid <= 0 || tgid.is_some_and(|g| g <= 0) {
        return Err(Errno::EINVAL);
    }
    let tree = t.kernel.tree();
    let th = tree.tasks.get(&tid).ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| th.tg.tgid != g) {
        return Err(Errno::ESRCH);
    }
    Ok(Arc::clone(th))
}

fn do_tkill(t: &Task, tgid: Option<i32>, tid: i32, sig: i32) -> SyscallResult {
    let sig = check_sig(sig)?;
    let th = find_thread(t, tgid, tid)?;
    if !may_signal(t, &th.tg, sig) {
        return Err(Errno::EPERM);
    }
    if let Some(sig) = sig {
        send(
            &t.kernel,
            &Target::Thread(th),
            user_info(t, sig, si_code::SI_TKILL),
        )?;
    }
    ok_zero()
}

/// tkill(2).
pub fn sys_tkill(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_tkill(t, None, args.int(0), args.int(1))
}

/// tgkill(2).
pub fn sys_tgkill(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_tkill(t, Some(args.int(0)), args.int(1), args.int(2))
}

/// The siginfo of rt_sigqueueinfo/rt_tgsigqueueinfo: a sender may not forge kernel codes
/// (si_code >= 0) or SI_TKILL for another process (EPERM).
fn queued_info(t: &Task, target_tgid: i32, sig: Signal, addr: u64) -> Result<SigInfo, Errno> {
    let mut info: SigInfo = t.copy_in_obj(addr)?;
    if (info.code >= 0 || info.code == si_code::SI_TKILL) && target_tgid != t.tgid() {
        return Err(Errno::EPERM);
    }
    info.signo = sig.0;
    Ok(info)
}

/// rt_sigqueueinfo(2).
pub fn sys_rt_sigqueueinfo(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let pid = args.int(0);
    let sig = check_sig(args.int(1))?;
    let targets = kill_targets(t, if pid > 0 { pid } else { i32::MIN })?;
    let Some(sig) = sig else {
        return ok_zero();
    };
    for tg in targets {
        let info = queued_info(t, tg.tgid, sig, args.ptr(2))?;
        send(&t.kernel, &Target::Process(tg), info)?;
    }
    ok_zero()
}

/// rt_tgsigqueueinfo(2).
pub fn sys_rt_tgsigqueueinfo(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (tgid, tid) = (args.int(0), args.int(1));
    let sig = check_sig(args.int(2))?;
    let th = find_thread(t, Some(tgid), tid)?;
    if let Some(sig) = sig {
        let info = queued_info(t, tgid, sig, args.ptr(3))?;
        send(&t.kernel, &Target::Thread(th), info)?;
    }
    ok_zero()
}

/// pidfd_send_signal(2).
pub fn sys_pidfd_send_signal(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    if args.uint(3) != 0 {
        return Err(Errno::EINVAL);
    }
    let f = t.fds().file(args.fd(0))?;
    let tg = f
        .ops_any()
        .and_then(|a| a.downcast_ref::<crate::kernel::pipe::PidFd>())
        .map(|p| Arc::clone(&p.tg))
        .ok_or(Errno::EBADF)?;
    let sig = check_sig(args.int(1))?;
    if tg.sig().members.is_empty() {
        return Err(Errno::ESRCH);
    }
    if let Some(sig) = sig {
        let info = if args.ptr(2) != 0 {
            queued_info(t, tg.tgid, sig, args.ptr(2))?
        } else {
            user_info(t, sig, si_code::SI_USER)
        };
        send(&t.kernel, &Target::Process(tg), info)?;
    }
    ok_zero()
}

/// pidfd_open(2).
pub fn sys_pidfd_open(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let pid = args.int(0);
    // PIDFD_NONBLOCK (O_NONBLOCK) is the only flag.
    if args.uint(1) & !abi::file::O_NONBLOCK != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    {
        let tree = t.kernel.tree();
        let p = tree.proc(pid).ok_or(Errno::ESRCH)?;
        if p.state != ProcState::Alive {
            return Err(Errno::ESRCH);
        }
    }
    let fd = crate::kernel::pipe::new_pidfd(t, pid)?;
    ok_i64(i64::from(fd))
}

/// signalfd4(2) (and signalfd(2) with flags 0): a new signalfd, or a new mask for an existing
/// one.
pub fn sys_signalfd4(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_signalfd(t, args.int(0), args.ptr(1), args.size(2), args.int(3))
}

/// signalfd(2).
pub fn sys_signalfd(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    do_signalfd(t, args.int(0), args.ptr(1), args.size(2), 0)
}

fn do_signalfd(t: &mut Task, fd: i32, mask_addr: u64, size: u64, flags: i32) -> SyscallResult {
    use crate::kernel::signalfd::SignalFd;
    let sfd_nonblock = i32::try_from(abi::file::O_NONBLOCK).unwrap_or(0);
    let sfd_cloexec = i32::try_from(abi::file::O_CLOEXEC).unwrap_or(0);
    if flags & !(sfd_nonblock | sfd_cloexec) != 0 || size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask: SigSet = t.copy_in_obj(mask_addr)?;
    let mask = mask.blockable();
    if fd != -1 {
        let f = t.fds().file(fd)?;
        let s = f
            .ops_any()
            .and_then(|a| a.downcast_ref::<SignalFd>())
            .ok_or(Errno::EINVAL)?;
        *s.mask
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mask;
        return ok_i64(i64::from(fd));
    }
    let sfd = SignalFd {
        mask: std::sync::Mutex::new(mask),
        tg: Arc::clone(t.tg()),
    };
    let status = abi::file::O_RDWR | (flags.cast_unsigned() & abi::file::O_NONBLOCK);
    let f = vfs::OpenFile::new_ops(None, Box::new(sfd), status);
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let nfd = t.fds().insert_from(0, f, flags & sfd_cloexec != 0, limit)?;
    ok_i64(i64::from(nfd))
}
