//! Running application code in a stub thread: [`PtraceContext::switch`] and the
//! [`PtraceInterrupter`].
//!
//! One switch is four host calls: PTRACE_SETREGS, PTRACE_SYSEMU, waitpid, PTRACE_GETREGS
//! (plus PTRACE_GETSIGINFO on signal stops only). FP/SSE/AVX state is never copied: the stub
//! thread keeps its own FPU state across switches, and the sentry reads it only when a
//! handler needs it (signal frames, exec) — not implemented here yet.
//!
//! Interrupts: [`PtraceInterrupter::interrupt`] sends `decode::INTERRUPT_SIGNAL` to the stub
//! through its pidfd. If the application is running, the signal stops it at once
//! (signal-delivery-stop); if it is stopped, the signal stays pending and stops the *next*
//! switch right away; if it hits an injected call, `Stub::inject` records it and the next switch
//! returns without running. In all cases the signal is suppressed (resumed with signal 0), so
//! the application never sees it.

use std::sync::Arc;

use nix::sys::ptrace;
use platform::{Context, Interrupter, Perms, PlatformError, Regs, SwitchOutcome};

use crate::address_space::Stub;
use crate::decode::StopReason;
use crate::hostcall;

/// The (single) thread of a ptrace address space.
#[derive(Debug)]
pub struct PtraceContext {
    stub: Arc<Stub>,
}

impl PtraceContext {
    pub(crate) fn new(stub: Arc<Stub>) -> PtraceContext {
        PtraceContext { stub }
    }
}

impl Context for PtraceContext {
    fn switch(&mut self, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        let stub = &*self.stub;
        stub.check_thread()?;
        if stub.take_pending_interrupt() {
            return Ok(SwitchOutcome::Interrupted);
        }
        let pid = stub.pid();
        hostcall::set_regs(pid, &stub.resume_regs(regs))?;
        loop {
            // Resuming with signal 0 also discards the signal of the previous
            // signal-delivery-stop (fault, trap, interrupt): the sentry emulates delivery.
            ptrace::sysemu(pid, None).map_err(|e| PlatformError::Host {
                op: "ptrace(PTRACE_SYSEMU)",
                source: e.into(),
            })?;
            let outcome = match stub.wait_stop()? {
                StopReason::Syscall => SwitchOutcome::Syscall,
                StopReason::Fault(info) => {
                    // ptrace cannot tell a read from a write fault (the error code stays in
                    // the kernel), hence an empty access set.
                    SwitchOutcome::Fault {
                        addr: info.addr(),
                        access: Perms::empty(),
                        info,
                    }
                }
                StopReason::Signal(info) => SwitchOutcome::Signal(info),
                StopReason::Interrupt => SwitchOutcome::Interrupted,
                // A stray host signal (someone ran `kill` on the stub): drop it and run on.
                StopReason::Ignored(_) => continue,
                other => return Err(stub.unexpected_stop("running application code", other)),
            };
            hostcall::get_regs(pid, regs)?;
            return Ok(outcome);
        }
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(PtraceInterrupter {
            stub: Arc::clone(&self.stub),
        })
    }
}

/// Makes a [`PtraceContext`]'s switch return `Interrupted`; usable from any thread.
#[derive(Debug)]
pub struct PtraceInterrupter {
    stub: Arc<Stub>,
}

impl Interrupter for PtraceInterrupter {
    fn interrupt(&self) {
        self.stub.interrupt();
    }
}
