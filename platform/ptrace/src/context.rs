//! Running application code in a stub thread: [`PtraceContext`] (attach, switch, FP state)
//! and the [`PtraceInterrupter`].
//!
//! A context is one worker thread of the stub process (`thread`). It is created unattached
//! and `Send`; the host thread that will run it calls `attach` (or just `switch`), which makes
//! it the stub thread's tracer (PTRACE_SEIZE + PTRACE_INTERRUPT). From then on only that host
//! thread may use the context, and it must drop it too: dropping parks the stub thread and
//! detaches it, so a later `new_context` reuses it. A context dropped on another thread
//! cannot be detached (ptrace only listens to the tracer); its stub thread is then retired
//! and never reused.
//!
//! One switch is four host calls: PTRACE_SETREGS, PTRACE_SYSEMU, waitpid, PTRACE_GETREGS
//! (plus PTRACE_GETSIGINFO on signal stops only, PTRACE_GET_SYSCALL_INFO on syscalls that do
//! not look like `syscall`, and affinity calls when the CPU placement changes, see `thread`).
//! Measured with `examples/switch_bench.rs` (release, 2-CPU host shared with other builds):
//! under `chrt -f 1` (SCHED_FIFO, shielded from the other load) the best of 10 batches is
//! 3.92-4.08 µs per getpid round trip against 3.82-3.95 µs for the single-threaded platform
//! this replaced (1a704e3): ≈0.05-0.1 µs more, at the noise floor. `perf` puts ~2% of the
//! cycles in our code (tracer-state lock, register copies); the CPU placement check
//! measured free (disabling it changed nothing), so the rest is kernel-side.
//! Under normal scheduling both are ≈5-6 µs, with medians dominated by the host's noise.
//!
//! Outcomes beyond the plain ones:
//! - `Syscall { abi }`: X86_64 when the registers show a `syscall` instruction from 64-bit
//!   code (`decode::fast_syscall_abi`), else PTRACE_GET_SYSCALL_INFO's audit arch decides
//!   (`int 0x80` is I386 even from 64-bit code).
//! - `Vsyscall`: the host emulated a vsyscall-page call up to our filter's SECCOMP_RET_TRAP
//!   (see `seccomp`), so the kernel already did the `ret`; we undo it (rip = call address,
//!   rsp -= 8) so `regs` are as at the jump target. A SIGSEGV with rip in the page (no
//!   vsyscall page on the host, a misaligned entry, an unreadable return address) is reported
//!   as `Vsyscall` too, with the registers as they are: the sentry decides like Linux would.
//!   Observed on the 6.18 xonly host: `call` to +0 or +0x400 stops with SIGSYS (SYS_SECCOMP,
//!   si_call_addr = the entry) and rip already at the return address, rsp + 8; `call` to
//!   +0x10 stops with SIGSEGV (SI_KERNEL, si_addr 0) and rip = +0x10.
//!
//! FP state is never copied on a switch: the stub thread keeps its own FPU state, and the
//! sentry reads or writes it (PTRACE_GETREGSET/SETREGSET NT_X86_XSTATE, the host's xstate
//! size, learnt at the first read) only when a handler needs it. A new context's FP state is
//! whatever its stub thread holds — a clone copies the cloning thread's (the *parent
//! application thread's*), a reused thread keeps its previous context's — so the sentry sets
//! it: the parent's `fpstate()` for clone/fork, and for exec an init state (for example a
//! `fpstate()` buffer zeroed except MXCSR = 0x1f80 at offset 24; XSTATE_BV = 0 in the header
//! tells the kernel every component is in its init state).
//!
//! Interrupts: [`PtraceInterrupter::interrupt`] sends `decode::INTERRUPT_SIGNAL` to exactly
//! this context's stub thread (a PIDFD_THREAD pidfd, so thread-directed). If the application
//! is running, the signal stops it at once (signal-delivery-stop); if it is stopped, the
//! signal stays pending and stops the *next* switch right away; if it hits an injected call,
//! the injection records it and the next switch returns without running. A context not yet
//! attached gets a pending flag instead (a parked stub ignores the signal). The signal is
//! always suppressed (resumed with signal 0), so the application never sees it.

use std::sync::Arc;

use nix::sys::ptrace;
use platform::{
    Context, FpState, Interrupter, Perms, PlatformError, Regs, SwitchOutcome, SyscallAbi,
};

use crate::address_space::StubProcess;
use crate::decode::{self, StopReason};
use crate::hostcall::{self, PTRACE_SYSCALL_INFO_ENTRY, XSTATE_MAX};
use crate::thread::{self, StubThread, TracerState, host};

/// One application thread: a worker thread of a stub process.
#[derive(Debug)]
pub struct PtraceContext {
    process: Arc<StubProcess>,
    thread: Arc<StubThread>,
    /// The thread's generation while this context owns it (see `StubThread`).
    generation: u64,
}

impl PtraceContext {
    pub(crate) fn new(process: Arc<StubProcess>, thread: Arc<StubThread>) -> PtraceContext {
        let generation = thread.generation();
        PtraceContext {
            process,
            thread,
            generation,
        }
    }

    /// The host tid of this context's stub thread (tests, debugging).
    #[doc(hidden)]
    pub fn stub_tid(&self) -> i32 {
        self.thread.tid().as_raw()
    }

    /// Attaches with the tracer state already locked.
    fn attach_locked(&self, st: &mut TracerState) -> Result<(), PlatformError> {
        let me = hostcall::current_tid();
        match st.tracer {
            Some(t) if t == me => Ok(()),
            Some(t) => Err(PlatformError::Internal(format!(
                "ptrace context (stub thread {}) is attached to host thread {t}; \
                 host thread {me} may not use it",
                self.thread.tid()
            ))),
            None => {
                if self.process.is_reaped() {
                    return Err(PlatformError::Internal(format!(
                        "ptrace stub {} is dead (its address space was dropped)",
                        self.process.pid()
                    )));
                }
                self.thread.attach(st)?;
                self.process.register_attached(me, &self.thread);
                Ok(())
            }
        }
    }

    /// The outcome of a syscall stop: which ABI the application used.
    fn syscall_abi(&self, regs: &Regs) -> Result<SyscallAbi, PlatformError> {
        if let Some(abi) = decode::fast_syscall_abi(regs) {
            return Ok(abi);
        }
        let info = hostcall::get_syscall_info(self.thread.tid())?;
        if info.op != PTRACE_SYSCALL_INFO_ENTRY {
            return Err(PlatformError::Internal(format!(
                "PTRACE_GET_SYSCALL_INFO reported op {} at a syscall stop",
                info.op
            )));
        }
        decode::abi_from_audit_arch(info.arch).ok_or_else(|| {
            PlatformError::Internal(format!("syscall from unknown audit arch {:#x}", info.arch))
        })
    }
}

impl Context for PtraceContext {
    fn attach(&mut self) -> Result<(), PlatformError> {
        let mut st = self.thread.lock();
        self.attach_locked(&mut st)
    }

    fn switch(&mut self, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        let thread = &*self.thread;
        let mut st = thread.lock();
        if !(st.is_stopped && st.tracer == Some(hostcall::current_tid())) {
            // Not attached yet, attached elsewhere, or not stopped after an earlier failure.
            self.attach_locked(&mut st)?;
            thread.check_stopped_tracee(&st)?;
        }
        if thread.take_pending_interrupt() {
            return Ok(SwitchOutcome::Interrupted);
        }
        thread.place_next_to_caller(&mut st);
        let tid = thread.tid();
        let resume = self.process.layout().resume_regs(regs);
        thread::set_regs(tid, &resume)?;
        let reason = loop {
            // Resuming with signal 0 also discards the signal of the previous
            // signal-delivery-stop (fault, trap, interrupt): the sentry emulates delivery.
            ptrace::sysemu(tid, None).map_err(|e| host("ptrace(PTRACE_SYSEMU)", e))?;
            // Running now: if waiting fails, parking must interrupt it first.
            st.is_stopped = false;
            match thread.wait_stop()? {
                // A stray host signal (someone ran `kill` on the stub) or a group-stop: drop
                // it and run on.
                StopReason::Ignored(_) | StopReason::PtraceStop => {}
                other => break other,
            }
        };
        if matches!(reason, StopReason::Exited(_) | StopReason::Killed(_)) {
            drop(st);
            self.process.reap_if_dead(thread);
            return Err(thread.unexpected_stop("running application code", reason));
        }
        hostcall::get_regs(tid, regs)?;
        st.host_bases = [regs.fs_base, regs.gs_base];
        st.is_stopped = true;
        let outcome = match reason {
            StopReason::Syscall => SwitchOutcome::Syscall {
                abi: self.syscall_abi(regs)?,
            },
            StopReason::Vsyscall { call_addr } => {
                // Undo the `ret` the host's emulation already did (module doc).
                regs.rip = call_addr;
                regs.rsp = regs.rsp.wrapping_sub(8);
                SwitchOutcome::Vsyscall
            }
            StopReason::Fault(info) | StopReason::Signal(info)
                if decode::is_vsyscall_segv(&info, regs.rip) =>
            {
                SwitchOutcome::Vsyscall
            }
            // ptrace cannot tell a read from a write fault (the error code stays in the
            // kernel), hence an empty access set.
            StopReason::Fault(info) => SwitchOutcome::Fault {
                addr: info.addr(),
                access: Perms::empty(),
                info,
            },
            StopReason::Signal(info) => SwitchOutcome::Signal(info),
            StopReason::Interrupt => {
                // This stop reports any interrupt recorded meanwhile, too.
                thread.clear_pending_interrupt();
                SwitchOutcome::Interrupted
            }
            other => return Err(thread.unexpected_stop("running application code", other)),
        };
        Ok(outcome)
    }

    fn fpstate(&mut self) -> Result<FpState, PlatformError> {
        let mut st = self.thread.lock();
        self.attach_locked(&mut st)?;
        self.thread.check_stopped_tracee(&st)?;
        let known = self.process.xstate_size();
        let mut buf = vec![0u8; if known == 0 { XSTATE_MAX } else { known }];
        let len = hostcall::get_xstate(self.thread.tid(), &mut buf)?;
        buf.truncate(len);
        self.process.set_xstate_size(len);
        Ok(FpState(buf))
    }

    fn set_fpstate(&mut self, state: &FpState) -> Result<bool, PlatformError> {
        let mut st = self.thread.lock();
        self.attach_locked(&mut st)?;
        self.thread.check_stopped_tracee(&st)?;
        match hostcall::set_xstate(self.thread.tid(), &state.0) {
            Ok(()) => Ok(true),
            // The kernel validates the whole buffer before changing anything
            // (arch/x86/kernel/fpu/regset.c, `xstateregs_set`): EFAULT for a size other than
            // the host's xstate size, EINVAL for a bad header or MXCSR.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EFAULT)) => Ok(false),
            Err(source) => Err(PlatformError::Host {
                op: "ptrace(PTRACE_SETREGSET, NT_X86_XSTATE)",
                source,
            }),
        }
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(PtraceInterrupter {
            thread: Arc::clone(&self.thread),
            generation: self.generation,
        })
    }
}

impl Drop for PtraceContext {
    fn drop(&mut self) {
        let thread = &self.thread;
        thread.retire_generation();
        let mut st = thread.lock();
        let me = hostcall::current_tid();
        let is_reusable = match st.tracer {
            // Never attached: still parked.
            None => true,
            Some(t) if t == me => {
                thread::release_tracer_pin();
                if self.process.is_reaped() {
                    false
                } else {
                    match thread.park_and_detach(&mut st, self.process.layout()) {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(target: "platform::ptrace",
                                tid = thread.tid().as_raw(), %e, "parking a stub thread failed");
                            false
                        }
                    }
                }
            }
            Some(t) => {
                tracing::warn!(target: "platform::ptrace", tid = thread.tid().as_raw(),
                    tracer = t.as_raw(), dropper = me.as_raw(),
                    "ptrace context dropped on another thread than its tracer; its stub \
                     thread is retired");
                false
            }
        };
        drop(st);
        self.process.release(thread, is_reusable);
    }
}

/// Makes one [`PtraceContext`]'s switch return `Interrupted`; usable from any thread. It
/// outlives its context harmlessly: once the context is dropped it does nothing.
#[derive(Debug)]
pub struct PtraceInterrupter {
    thread: Arc<StubThread>,
    generation: u64,
}

impl Interrupter for PtraceInterrupter {
    fn interrupt(&self) {
        self.thread.interrupt(self.generation);
    }
}
