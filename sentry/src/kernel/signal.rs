//! Signals, fully emulated: sending (process- and thread-directed, job-control side effects),
//! dequeueing and default actions, the x86-64 `rt_sigframe` written on the application stack
//! (with the FP/XSAVE state), `rt_sigreturn`, syscall restart, and group exit.
//!
//! Frame layout, as Linux builds it (arch/x86/kernel/signal.c get_sigframe, signal_64.c):
//! start at `rsp - 128` (the red zone) or at the top of the sigaltstack for SA_ONSTACK; reserve
//! the XSAVE image plus 4 bytes for FP_XSTATE_MAGIC2, 64-byte aligned; below it the
//! `struct rt_sigframe` (return address = `sa_restorer`, ucontext, siginfo), placed so that
//! `(rsp + 8) % 16 == 0` at handler entry, as after a `call`.
//!
//! Restart rules (decided once, in [`Task::handle_signals`], before the app runs again): a
//! syscall that returned ERESTARTSYS restarts if the handler has SA_RESTART and fails EINTR
//! otherwise; ERESTARTNOINTR always restarts; ERESTARTNOHAND and ERESTART_RESTARTBLOCK fail
//! EINTR when a handler runs. When no handler runs (nothing deliverable, an ignored signal, a
//! stop/continue), every kind restarts, ERESTART_RESTARTBLOCK through restart_syscall(2).
//!
//! Lock order: `Kernel::tree` → `ThreadGroup::sig` → `TaskShared::sig` (see kernel/mod.rs).

use std::sync::Arc;

use abi::Errno;
use abi::clone::{CLD_CONTINUED, CLD_STOPPED};
use abi::signal::{
    FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, FPX_SW_BYTES_OFFSET, RtSigframe, SA_NOCLDSTOP, SA_NODEFER,
    SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_RESTORER, SIG_DFL, SIG_IGN, SigAction, SigContext,
    SigInfo, SigSet, Signal, UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS, UContext,
};
use abi::time::{SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, StackT};
use platform::FpState;

use super::task::{RunState, Task, TaskExit, TaskShared};
use super::thread_group::{Enqueued, GroupStop, ThreadGroup};
use super::{ExitStatus, Kernel};

/// What a signal does when its action is SIG_DFL (signal(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate "and dump core": reported to the parent as killed by the signal (the
    /// sandbox writes no core files, so WCOREDUMP stays clear, as with RLIMIT_CORE=0).
    Core,
    Ignore,
    Stop,
    Continue,
}

/// signal(7)'s table of default actions.
pub fn default_action(sig: Signal) -> DefaultAction {
    match sig {
        Signal::SIGQUIT
        | Signal::SIGILL
        | Signal::SIGTRAP
        | Signal::SIGABRT
        | Signal::SIGBUS
        | Signal::SIGFPE
        | Signal::SIGSEGV
        | Signal::SIGXCPU
        | Signal::SIGXFSZ
        | Signal::SIGSYS => DefaultAction::Core,
        Signal::SIGCHLD | Signal::SIGURG | Signal::SIGWINCH => DefaultAction::Ignore,
        Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU => {
            DefaultAction::Stop
        }
        Signal::SIGCONT => DefaultAction::Continue,
        _ => DefaultAction::Terminate,
    }
}

fn is_stop_signal(sig: Signal) -> bool {
    default_action(sig) == DefaultAction::Stop
}

const STOP_SIGNALS: SigSet = SigSet(
    SigSet::of(Signal::SIGSTOP).0
        | SigSet::of(Signal::SIGTSTP).0
        | SigSet::of(Signal::SIGTTIN).0
        | SigSet::of(Signal::SIGTTOU).0,
);

/// Whether `act` would discard `sig` on arrival (explicitly ignored, or SIG_DFL with an
/// ignoring default). SIGCONT is never discarded: its job-control effect happens on sending.
fn is_ignored(act: &SigAction, sig: Signal) -> bool {
    match act.handler {
        SIG_IGN => true,
        SIG_DFL => default_action(sig) == DefaultAction::Ignore,
        _ => false,
    }
}

/// Whether the thread has a signal it would act on now, or must exit or stop.
pub(crate) fn has_deliverable(t: &TaskShared) -> bool {
    let g = t.tg.sig();
    let ts = t.sig();
    ts.killed
        || g.exiting.is_some()
        || matches!(g.stop, GroupStop::Stopped(_))
        || ts.pending.next(ts.mask).is_some()
        || g.pending.next(ts.mask).is_some()
}

/// Makes process `tg` exit with `status`: records it and tells every member (except
/// `except`, the caller) to leave.
pub(crate) fn group_exit(tg: &ThreadGroup, status: ExitStatus, except: Option<i32>) {
    let mut g = tg.sig();
    if g.exiting.is_none() {
        g.exiting = Some(status);
    }
    g.stop = GroupStop::None;
    for m in &g.members {
        if Some(m.tid()) != except {
            m.sig().killed = true;
            m.kick();
        }
    }
}

/// SIGKILLs every process except `except` (sandbox shutdown, kill(-1, SIGKILL) by init).
pub(crate) fn kill_all(kernel: &Kernel, except: Option<i32>) {
    let tgs: Vec<Arc<ThreadGroup>> = kernel
        .tree()
        .procs
        .values()
        .filter(|p| Some(p.tg.tgid) != except)
        .map(|p| Arc::clone(&p.tg))
        .collect();
    for tg in tgs {
        group_exit(&tg, ExitStatus::Signaled(Signal::SIGKILL), None);
    }
}

/// Where a signal goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// Process-directed: any member that does not block it takes it.
    Process(Arc<ThreadGroup>),
    /// Thread-directed (tgkill, faults, SIGPIPE).
    Thread(Arc<TaskShared>),
}

/// Sends `info` (process- or thread-directed) with Linux's side effects: SIGKILL makes the
/// process exit at once; SIGCONT resumes a stopped process and discards pending stop signals;
/// a stop signal discards a pending SIGCONT; a signal the receiver ignores is discarded.
/// Returns EAGAIN when a real-time queue is full.
pub(crate) fn send(kernel: &Kernel, target: &Target, info: SigInfo) -> Result<(), Errno> {
    let sig = Signal(info.signo);
    if !sig.is_valid() {
        return Err(Errno::EINVAL);
    }
    let tg = match target {
        Target::Process(tg) => Arc::clone(tg),
        Target::Thread(t) => Arc::clone(&t.tg),
    };
    if sig == Signal::SIGKILL {
        group_exit(&tg, ExitStatus::Signaled(Signal::SIGKILL), None);
        return Ok(());
    }
    let mut continued = false;
    {
        let mut g = tg.sig();
        if g.exiting.is_some() {
            return Ok(());
        }
        if sig == Signal::SIGCONT {
            g.pending.discard(STOP_SIGNALS);
            for m in &g.members {
                m.sig().pending.discard(STOP_SIGNALS);
            }
            if let GroupStop::Stopped(_) = g.stop {
                g.stop = GroupStop::None;
                continued = true;
                for m in &g.members {
                    m.kick();
                }
            }
        } else if is_stop_signal(sig) {
            let cont = SigSet::of(Signal::SIGCONT);
            g.pending.discard(cont);
            for m in &g.members {
                m.sig().pending.discard(cont);
            }
        }
        let act = g.action(sig);
        let receiver_mask = match target {
            Target::Thread(t) => t.sig().mask,
            Target::Process(_) => g.members.first().map(|m| m.sig().mask).unwrap_or_default(),
        };
        let discard = is_ignored(&act, sig) && !receiver_mask.has(sig);
        // SIGCONT with the default action has done its work by resuming.
        let discard = discard || (sig == Signal::SIGCONT && act.handler == SIG_DFL);
        if !discard {
            let queued = match target {
                Target::Thread(t) => t.sig().pending.enqueue(info),
                Target::Process(_) => g.pending.enqueue(info),
            };
            if queued == Enqueued::Full {
                return Err(Errno::EAGAIN);
            }
            tg.signal_events.notify(vfs::waiter::EventMask::IN);
            match target {
                Target::Thread(t) => t.kick(),
                Target::Process(_) => {
                    // The first member that does not block it; if all do, it waits in the
                    // process's pending set for whoever unblocks it first.
                    if let Some(m) = g.members.iter().find(|m| !m.sig().mask.has(sig)) {
                        m.kick();
                    }
                }
            }
        }
    }
    if continued {
        report_to_parent(kernel, &tg, Report::Continued);
    }
    Ok(())
}

/// Whether POSIX timer `id`'s signal is still queued at `target` (a timer signal is queued at
/// most once; later expirations count as overruns, kernel/time/posix-timers.c).
pub(crate) fn timer_signal_queued(target: &Target, id: i32) -> bool {
    let is_ours = |i: &SigInfo| {
        i.code == abi::signal::si_code_ext::SI_TIMER
            && u32::try_from(i.fields[0] & 0xffff_ffff).ok() == Some(id.cast_unsigned())
    };
    match target {
        Target::Thread(t) => {
            let _g = t.tg.sig();
            t.sig().pending.any(is_ours)
        }
        Target::Process(tg) => tg.sig().pending.any(is_ours),
    }
}

/// A job-control change a parent may hear about.
#[derive(Clone, Copy, Debug)]
enum Report {
    Stopped(Signal),
    Continued,
}

/// Records a stop/continue for wait(2) and sends SIGCHLD (unless the parent set SA_NOCLDSTOP).
fn report_to_parent(kernel: &Kernel, tg: &ThreadGroup, what: Report) {
    let tree = &mut *kernel.tree();
    let Some(rec) = tree.procs.get_mut(&tg.tgid) else {
        return;
    };
    let (code, status) = match what {
        Report::Stopped(s) => {
            rec.report.stopped = Some(s.0);
            rec.report.continued = false;
            (CLD_STOPPED, s.0)
        }
        Report::Continued => {
            rec.report.continued = true;
            rec.report.stopped = None;
            (CLD_CONTINUED, Signal::SIGCONT.0)
        }
    };
    let parent = rec.parent;
    let Some(prec) = tree.procs.get(&parent) else {
        return;
    };
    let ptg = Arc::clone(&prec.tg);
    let nocldstop = ptg.sig().action(Signal::SIGCHLD).flags & SA_NOCLDSTOP != 0;
    if !nocldstop {
        let mut si = SigInfo::new(Signal::SIGCHLD, code);
        si.set_chld(tg.tgid, 0, status);
        let _ = send(kernel, &Target::Process(Arc::clone(&ptg)), si);
    }
    ptg.child_events.notify(vfs::waiter::EventMask::IN);
}

/// What one dequeued signal means for the task.
enum Disposition {
    Handler(SigInfo, SigAction),
    Exit(ExitStatus),
    Stop(Signal),
    /// Ignored or continued: look for the next one.
    Nothing,
}

impl Task {
    /// Queues a synchronous signal raised by the app's own code (fault, trap, bad frame): as
    /// Linux's force_sig_info, a blocked or ignored signal is unblocked and reset to the
    /// default action, so the process dies rather than loop on the faulting instruction.
    pub(crate) fn force_signal(&mut self, info: SigInfo) {
        let sig = Signal(info.signo);
        {
            let mut g = self.shared.tg.sig();
            let act = g.action(sig);
            let mut ts = self.shared.sig();
            if act.handler == SIG_IGN || ts.mask.has(sig) {
                ts.mask = ts.mask.remove(sig);
                g.set_action(sig, SigAction::default());
            }
            ts.pending.enqueue(info);
        }
        self.recheck_signals();
    }

    /// Resolves pending signals, kills, stops and the syscall restart before the app runs
    /// again. `Some` when the task must exit.
    pub(crate) fn handle_signals(&mut self) -> Option<TaskExit> {
        loop {
            self.clear_hint();
            let d = {
                let mut g = self.shared.tg.sig();
                let mut ts = self.shared.sig();
                if ts.killed || g.exiting.is_some() {
                    let st = g.exiting.unwrap_or(ExitStatus::Signaled(Signal::SIGKILL));
                    return Some(TaskExit::Group(st));
                }
                if let GroupStop::Stopped(_) = g.stop {
                    drop(ts);
                    drop(g);
                    self.park_stopped();
                    continue;
                }
                let mask = ts.mask;
                let info = match ts.pending.dequeue(mask) {
                    Some(i) => Some(i),
                    None => g.pending.dequeue(mask),
                };
                match info {
                    None => None,
                    Some(info) => {
                        let sig = Signal(info.signo);
                        let act = g.action(sig);
                        Some(match act.handler {
                            SIG_IGN => Disposition::Nothing,
                            SIG_DFL => match default_action(sig) {
                                DefaultAction::Ignore | DefaultAction::Continue => {
                                    Disposition::Nothing
                                }
                                DefaultAction::Stop => Disposition::Stop(sig),
                                DefaultAction::Terminate | DefaultAction::Core => {
                                    Disposition::Exit(ExitStatus::Signaled(sig))
                                }
                            },
                            _ => {
                                if act.flags & SA_RESETHAND != 0 {
                                    g.set_action(sig, SigAction::default());
                                }
                                Disposition::Handler(info, act)
                            }
                        })
                    }
                }
            };
            match d {
                None => {
                    // Nothing to deliver: a pending restart restarts, and a temporary mask
                    // (sigsuspend, ppoll, epoll_pwait) that was waiting for a handler's frame
                    // comes back now (restore_saved_sigmask).
                    self.resolve_restart(None);
                    if let Some(m) = self.saved_mask.take() {
                        let _g = self.shared.tg.sig();
                        self.shared.sig().mask = m.blockable();
                    }
                    return None;
                }
                Some(Disposition::Nothing) => {}
                Some(Disposition::Exit(status)) => {
                    self.start_group_exit(status);
                    return Some(TaskExit::Group(status));
                }
                Some(Disposition::Stop(sig)) => {
                    {
                        let mut g = self.shared.tg.sig();
                        if g.exiting.is_none() {
                            g.stop = GroupStop::Stopped(sig);
                            for m in &g.members {
                                m.kick();
                            }
                        }
                    }
                    report_to_parent(&self.kernel, &self.shared.tg, Report::Stopped(sig));
                }
                Some(Disposition::Handler(info, act)) => {
                    self.resolve_restart(Some(&act));
                    if let Err(e) = self.setup_frame(&info, &act) {
                        match e {
                            FrameError::Platform(e) => {
                                self.kernel.platform_failed(&e);
                                return Some(TaskExit::Group(ExitStatus::Signaled(
                                    Signal::SIGKILL,
                                )));
                            }
                            FrameError::Fault => {
                                // Linux: a frame that cannot be written kills with SIGSEGV.
                                self.force_signal(SigInfo::new(Signal::SIGSEGV, 0x80));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Waits while the process is stopped (job control), until SIGCONT or a kill.
    fn park_stopped(&mut self) {
        self.shared.set_run_state(RunState::Stopped);
        loop {
            self.prepare_wait();
            {
                let g = self.shared.tg.sig();
                let ts = self.shared.sig();
                if ts.killed || g.exiting.is_some() || g.stop == GroupStop::None {
                    break;
                }
            }
            self.shared.waiter.wait(None);
        }
        self.shared.set_run_state(RunState::Running);
    }

    /// Applies the restart rules (module doc) to a syscall that returned ERESTART*; `act` is
    /// the handler about to run, if any.
    fn resolve_restart(&mut self, act: Option<&SigAction>) {
        let Some(r) = self.restart.take() else {
            return;
        };
        let restart = match act {
            None => true,
            Some(a) => match r.errno {
                Errno::ERESTARTSYS => a.flags & SA_RESTART != 0,
                Errno::ERESTARTNOINTR => true,
                _ => false,
            },
        };
        if restart {
            // Back over the 2-byte `syscall` instruction, with the number restored; a
            // restart block resumes through restart_syscall(2).
            self.regs.rip = self.regs.rip.wrapping_sub(2);
            self.regs.rax = if r.errno == Errno::ERESTART_RESTARTBLOCK {
                u64::try_from(abi::sysno::RESTART_SYSCALL).unwrap_or(219)
            } else {
                r.nr
            };
        } else {
            self.regs.rax = Errno::EINTR.as_syscall_return();
            // An interrupted sleep reports what was left (nanosleep(2) `rem`).
            if let Some(super::task::RestartBlock::Sleep { deadline, rem }) =
                self.restart_block.take()
                && rem != 0
            {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let ts = abi::time::Timespec {
                    sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                    nsec: i64::from(left.subsec_nanos()),
                };
                let _ = self.mm.copy_out_obj(rem, &ts);
            }
        }
    }

    /// Writes the signal frame for `info` and points the registers at the handler.
    fn setup_frame(&mut self, info: &SigInfo, act: &SigAction) -> Result<(), FrameError> {
        // x86-64 requires SA_RESTORER: without a return trampoline the kernel cannot build a
        // frame and kills with SIGSEGV (signal_64.c x64_setup_rt_frame).
        if act.flags & SA_RESTORER == 0 {
            return Err(FrameError::Fault);
        }
        let sig = Signal(info.signo);
        let fp = self.ctx.fpstate().map_err(FrameError::Platform)?;
        let alt = self.altstack;
        let alt_enabled = alt.flags & SS_DISABLE == 0 && alt.size != 0;
        let on_alt = alt_enabled && on_stack(&alt, self.regs.rsp);
        let mut sp = if act.flags & SA_ONSTACK != 0 && alt_enabled && !on_alt {
            alt.sp.checked_add(alt.size).ok_or(FrameError::Fault)?
        } else {
            self.regs.rsp.checked_sub(128).ok_or(FrameError::Fault)?
        };
        let fp_len = u64::try_from(fp.0.len()).map_err(|_| FrameError::Fault)?;
        sp = sp.checked_sub(fp_len + 4).ok_or(FrameError::Fault)? & !63;
        let fp_addr = sp;
        let frame_size = u64::try_from(size_of::<RtSigframe>()).unwrap_or(440);
        let frame_addr = (sp.checked_sub(frame_size).ok_or(FrameError::Fault)? & !15)
            .checked_sub(8)
            .ok_or(FrameError::Fault)?;

        // The handler's mask builds on the mask in force now (sigsuspend's temporary one);
        // the frame restores the one saved before it, if any.
        let cur_mask = self.shared.sig().mask;
        let old_mask = self.saved_mask.take().unwrap_or(cur_mask);
        let fp_image = signal_fp_image(&fp);
        self.mm
            .copy_out(fp_addr, &fp_image)
            .map_err(|_| FrameError::Fault)?;
        let r = &self.regs;
        let frame = RtSigframe {
            pretcode: act.restorer,
            uc: UContext {
                flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
                link: 0,
                stack: StackT {
                    sp: alt.sp,
                    flags: if !alt_enabled {
                        SS_DISABLE
                    } else if on_alt {
                        SS_ONSTACK
                    } else {
                        alt.flags & SS_AUTODISARM
                    },
                    _pad: 0,
                    size: alt.size,
                },
                mcontext: SigContext {
                    r8: r.r8,
                    r9: r.r9,
                    r10: r.r10,
                    r11: r.r11,
                    r12: r.r12,
                    r13: r.r13,
                    r14: r.r14,
                    r15: r.r15,
                    rdi: r.rdi,
                    rsi: r.rsi,
                    rbp: r.rbp,
                    rbx: r.rbx,
                    rdx: r.rdx,
                    rax: r.rax,
                    rcx: r.rcx,
                    rsp: r.rsp,
                    rip: r.rip,
                    eflags: r.eflags,
                    cs: 0x33,
                    gs: 0,
                    fs: 0,
                    ss: 0x2b,
                    err: 0,
                    trapno: trapno_for(sig),
                    oldmask: old_mask.0,
                    cr2: if sig == Signal::SIGSEGV || sig == Signal::SIGBUS {
                        info.addr()
                    } else {
                        0
                    },
                    fpstate: fp_addr,
                    reserved1: [0; 8],
                },
                sigmask: old_mask,
            },
            info: *info,
        };
        self.mm
            .copy_out_obj(frame_addr, &frame)
            .map_err(|_| FrameError::Fault)?;

        // The handler runs with the action's mask added, and the signal itself unless
        // SA_NODEFER.
        {
            let _g = self.shared.tg.sig();
            let mut ts = self.shared.sig();
            let mut m = SigSet(cur_mask.0 | act.mask.0);
            if act.flags & SA_NODEFER == 0 {
                m = m.add(sig);
            }
            ts.mask = m.blockable();
        }
        if (on_alt || (act.flags & SA_ONSTACK != 0 && alt_enabled))
            && alt.flags & SS_AUTODISARM != 0
        {
            self.altstack = StackT {
                flags: SS_DISABLE,
                ..StackT::default()
            };
        }
        let info_off = 8 + u64::try_from(size_of::<UContext>()).unwrap_or(304);
        let regs = &mut self.regs;
        regs.rip = act.handler;
        regs.rsp = frame_addr;
        regs.rdi = u64::from(sig.0.cast_unsigned());
        regs.rsi = frame_addr + info_off;
        regs.rdx = frame_addr + 8;
        regs.rax = 0;
        // The handler starts with DF and TF clear (and RF, which is not user state).
        regs.eflags &= !(0x400 | 0x100 | 0x1_0000);
        regs.cs = 0x33;
        regs.ss = 0x2b;
        // rsi/rdx point at the siginfo and ucontext for every handler, SA_SIGINFO or not, as
        // Linux sets them.
        Ok(())
    }

    /// rt_sigreturn(2): restores what `setup_frame` saved. A corrupt frame kills the process
    /// with SIGSEGV, as on Linux.
    pub(crate) fn sigreturn(&mut self) -> Result<(), Errno> {
        let frame_addr = self.regs.rsp.wrapping_sub(8);
        let Ok(frame) = self.mm.copy_in_obj::<RtSigframe>(frame_addr) else {
            self.force_signal(SigInfo::new(Signal::SIGSEGV, 0x80));
            return Ok(());
        };
        let m = &frame.uc.mcontext;
        // Only the flags user code may change (arch/x86/kernel/signal.c FIX_EFLAGS).
        const FIX_EFLAGS: u64 = 0x4_0000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1;
        let r = &mut self.regs;
        r.r8 = m.r8;
        r.r9 = m.r9;
        r.r10 = m.r10;
        r.r11 = m.r11;
        r.r12 = m.r12;
        r.r13 = m.r13;
        r.r14 = m.r14;
        r.r15 = m.r15;
        r.rdi = m.rdi;
        r.rsi = m.rsi;
        r.rbp = m.rbp;
        r.rbx = m.rbx;
        r.rdx = m.rdx;
        r.rax = m.rax;
        r.rcx = m.rcx;
        r.rsp = m.rsp;
        r.rip = m.rip;
        r.eflags = (r.eflags & !FIX_EFLAGS) | (m.eflags & FIX_EFLAGS);
        r.cs = 0x33;
        r.ss = 0x2b;
        r.orig_rax = u64::MAX;
        {
            let _g = self.shared.tg.sig();
            self.shared.sig().mask = frame.uc.sigmask.blockable();
        }
        self.recheck_signals();
        // restore_altstack: like sigaltstack(2) from the frame; errors are ignored.
        let st = frame.uc.stack;
        let mode = st.flags & !SS_AUTODISARM;
        if mode == SS_DISABLE {
            self.altstack = StackT {
                flags: SS_DISABLE,
                ..StackT::default()
            };
        } else if (mode == 0 || mode == SS_ONSTACK) && st.size >= abi::time::MINSIGSTKSZ {
            self.altstack = StackT {
                sp: st.sp,
                flags: st.flags & SS_AUTODISARM,
                _pad: 0,
                size: st.size,
            };
        }
        if m.fpstate != 0 {
            let len = match self.ctx.fpstate() {
                Ok(cur) => cur.0.len(),
                Err(e) => {
                    self.kernel.platform_failed(&e);
                    return Ok(());
                }
            };
            let mut buf = vec![0u8; len];
            let ok = self.mm.copy_in(m.fpstate, &mut buf).is_ok() && {
                clear_sw_bytes(&mut buf);
                match self.ctx.set_fpstate(&FpState(buf)) {
                    Ok(ok) => ok,
                    Err(e) => {
                        self.kernel.platform_failed(&e);
                        return Ok(());
                    }
                }
            };
            if !ok {
                self.force_signal(SigInfo::new(Signal::SIGSEGV, 0x80));
            }
        }
        Ok(())
    }
}

/// Why a frame could not be built.
#[derive(Debug)]
enum FrameError {
    /// The app's stack is unusable: SIGSEGV.
    Fault,
    Platform(platform::PlatformError),
}

/// Whether `sp` lies on the alternate stack `alt`.
fn on_stack(alt: &StackT, sp: u64) -> bool {
    sp > alt.sp && sp.wrapping_sub(alt.sp) <= alt.size
}

/// The trap number Linux records for faults (x86 vectors), 0 otherwise.
fn trapno_for(sig: Signal) -> u64 {
    match sig {
        Signal::SIGSEGV | Signal::SIGBUS => 14,
        Signal::SIGFPE => 0,
        Signal::SIGILL => 6,
        Signal::SIGTRAP => 3,
        _ => 0,
    }
}

/// The FP image as it goes into a frame: the XSAVE state with `struct _fpx_sw_bytes` filled
/// in the FXSAVE area's software-reserved bytes and FP_XSTATE_MAGIC2 after the image, so
/// programs that check for an extended frame (and our sigreturn) find it.
fn signal_fp_image(fp: &FpState) -> Vec<u8> {
    let mut img = fp.0.clone();
    let len = u32::try_from(img.len()).unwrap_or(0);
    // XSTATE_BV from the XSAVE header (offset 512), as the features present.
    let xfeatures = img
        .get(512..520)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    let mut sw = Vec::with_capacity(48);
    sw.extend_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
    sw.extend_from_slice(&(len + 4).to_le_bytes()); // extended_size
    sw.extend_from_slice(&xfeatures.to_le_bytes());
    sw.extend_from_slice(&len.to_le_bytes()); // xstate_size
    sw.resize(48, 0);
    if let Some(dst) = img.get_mut(FPX_SW_BYTES_OFFSET..FPX_SW_BYTES_OFFSET + 48) {
        dst.copy_from_slice(&sw);
    }
    img.extend_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    img
}

/// Zeroes the software-reserved bytes before handing an image back to the host (they are not
/// hardware state).
fn clear_sw_bytes(buf: &mut [u8]) {
    if let Some(dst) = buf.get_mut(FPX_SW_BYTES_OFFSET..FPX_SW_BYTES_OFFSET + 48) {
        dst.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_actions_follow_signal7() {
        assert_eq!(default_action(Signal::SIGTERM), DefaultAction::Terminate);
        assert_eq!(default_action(Signal::SIGSEGV), DefaultAction::Core);
        assert_eq!(default_action(Signal::SIGCHLD), DefaultAction::Ignore);
        assert_eq!(default_action(Signal::SIGTSTP), DefaultAction::Stop);
        assert_eq!(default_action(Signal::SIGCONT), DefaultAction::Continue);
        assert_eq!(default_action(Signal(40)), DefaultAction::Terminate);
    }

    #[test]
    fn fp_image_carries_both_magics() {
        let fp = FpState(vec![0u8; 832]);
        let img = signal_fp_image(&fp);
        assert_eq!(img.len(), 836);
        assert_eq!(&img[464..468], &FP_XSTATE_MAGIC1.to_le_bytes());
        assert_eq!(&img[832..836], &FP_XSTATE_MAGIC2.to_le_bytes());
    }

    #[test]
    fn altstack_bounds() {
        let alt = StackT {
            sp: 0x1000,
            flags: 0,
            _pad: 0,
            size: 0x1000,
        };
        assert!(on_stack(&alt, 0x1800));
        assert!(on_stack(&alt, 0x2000));
        assert!(!on_stack(&alt, 0x1000));
        assert!(!on_stack(&alt, 0x2001));
    }
}
