//! One application address space = one stub process ([`Stub`]), and the syscall injection
//! that changes its mappings.
//!
//! Life of a stub (see `stub` for the code page and the child side):
//! 1. the tracer thread pins itself to its current CPU and forks; the child sets
//!    PR_SET_PDEATHSIG, keeps only the MemoryFile (as fd `STUB_FD`), calls PTRACE_TRACEME and
//!    stops itself with SIGSTOP;
//! 2. the tracer sets PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD and continues it; the child
//!    installs its seccomp filter and jumps to the stub page's `int3`;
//! 3. at that SIGTRAP the tracer first unregisters the rseq(2) area the child inherited from
//!    the forking thread (read with PTRACE_GET_RSEQ_CONFIGURATION; glibc registers one per
//!    thread, and once its page is unmapped the kernel SIGSEGVs the stub at the next signal or
//!    preemption), then injects munmaps of everything but the stub page. The stub is now an
//!    empty address space, stopped, ready for `map` and `switch`.
//!
//! Injection (`Stub::inject`): SETREGS with rip = stub `syscall`, rax = number, arguments in
//! rdi/rsi/rdx/r10/r8/r9; PTRACE_CONT; wait for the `int3` SIGTRAP; read rax. Application
//! registers are not saved or restored: the sentry owns them and `switch` SETREGS them anyway.
//!
//! Threading: ptrace requests are only accepted from the thread that is the tracer — the
//! thread that created the address space. All `AddressSpace` and `Context` calls for one stub
//! must come from that thread; debug builds check it and return `PlatformError::Internal`.
//! Dropping (SIGKILL + reap) and interrupting work from any thread: both go through a pidfd,
//! which can never name a recycled pid.
//!
//! Register validity: PTRACE_SETREGS refuses (EIO) an `fs_base`/`gs_base` at or above the
//! host TASK_SIZE; the sentry's arch_prctl must reject those (as Linux does with EPERM), or the
//! switch fails with `PlatformError`. Segment selectors are forced to the host's user values.
//!
//! Limitations (later issues): one context (thread) per address space — a second
//! `new_context` returns `PlatformError::Unavailable`; stubs are forked from the sentry itself
//! (fork copies the sentry's page tables once; gVisor forks from a small "stub master"
//! instead); the tracer thread stays pinned to one CPU for its lifetime.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use abi::signal::Signal;
use nix::sched::{CpuSet, sched_getcpu, sched_setaffinity};
use nix::sys::ptrace;
use nix::unistd::{Pid, getpid, gettid};
use platform::{AddressSpace, Context, Perms, PlatformError, Regs};
use seccompiler::sock_filter;

use crate::context::PtraceContext;
use crate::decode::{INTERRUPT_SIGNAL, StopReason, WaitEvent};
use crate::hostcall;
use crate::seccomp::{RSEQ_FLAG_UNREGISTER, STUB_MMAP_FLAGS};
use crate::stub::{
    self, AFTER_INT3_OFFSET, INT3_OFFSET, PAGE_SIZE, STUB_FD, SYSCALL_OFFSET, TASK_SIZE,
};

/// Linux returns errors from raw syscalls as -1..-4095 in rax (include/linux/err.h,
/// MAX_ERRNO).
const MAX_ERRNO: u64 = 4095;

/// What [`Stub::spawn`] needs from the platform.
#[derive(Debug)]
pub(crate) struct SpawnParams<'a> {
    pub memfd: RawFd,
    pub stub_base: u64,
    pub filter: &'a [sock_filter],
}

/// A stub process with one (stopped, traced) thread. Shared by the address space, its context
/// and interrupters; the process is killed when the address space or the last holder drops.
#[derive(Debug)]
pub(crate) struct Stub {
    pid: Pid,
    pidfd: OwnedFd,
    /// The only thread ptrace accepts requests from (ptrace(2): "the tracer").
    tracer_tid: Pid,
    /// Start of the stub page; also the address-space limit for the application.
    base: u64,
    /// The stub's registers at its first `int3`: source of the segment selectors every
    /// SETREGS uses and the base of injected-call registers.
    template: Regs,
    /// Set once the stub's exit status has been collected; nothing may wait for it after.
    reaped: AtomicBool,
    /// An interrupt signal arrived while a call was being injected; the next `switch`
    /// returns `Interrupted` without running the application.
    interrupt_pending: AtomicBool,
}

impl Stub {
    /// Forks and sets up a stub (module doc, steps 1-3). On error the child is killed and
    /// reaped.
    pub(crate) fn spawn(params: &SpawnParams<'_>) -> Result<Arc<Stub>, PlatformError> {
        pin_to_current_cpu();
        let plan = stub::ChildPlan {
            memfd: params.memfd,
            parent: getpid(),
            entry: params.stub_base + INT3_OFFSET,
            filter: params.filter,
        };
        let pid = stub::fork_stub(&plan)?;
        let pidfd = match hostcall::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                // No pidfd: fall back to the pid, which cannot be recycled before we reap it.
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                // Skip any stop reported before the death.
                while let Ok(status) = hostcall::wait_status(pid) {
                    if matches!(
                        WaitEvent::from_status(status),
                        WaitEvent::Exited(_) | WaitEvent::Killed(_)
                    ) {
                        break;
                    }
                }
                return Err(e);
            }
        };
        // From here on, dropping `stub` kills and reaps the child.
        let mut stub = Stub {
            pid,
            pidfd,
            tracer_tid: gettid(),
            base: params.stub_base,
            template: Regs::default(),
            reaped: AtomicBool::new(false),
            interrupt_pending: AtomicBool::new(false),
        };
        // Step 1 ends with the child's SIGSTOP (sent by itself: SI_USER, hence "ignored").
        match stub.wait_stop()? {
            StopReason::Ignored(sig) if sig == Signal::SIGSTOP.0 => {}
            other => return Err(stub.setup_error("waiting for the stub's SIGSTOP", other)),
        }
        let options = ptrace::Options::PTRACE_O_EXITKILL | ptrace::Options::PTRACE_O_TRACESYSGOOD;
        ptrace::setoptions(pid, options).map_err(|e| host("ptrace(PTRACE_SETOPTIONS)", e))?;
        ptrace::cont(pid, None).map_err(|e| host("ptrace(PTRACE_CONT)", e))?;
        // Step 2 ends at the stub page's int3.
        match stub.wait_stop()? {
            StopReason::Signal(info) if info.signo == Signal::SIGTRAP.0 => {}
            other => return Err(stub.setup_error("waiting for the stub's first int3", other)),
        }
        hostcall::get_regs(pid, &mut stub.template)?;
        if stub.template.rip != stub.base + AFTER_INT3_OFFSET {
            return Err(PlatformError::Internal(format!(
                "stub stopped at {:#x}, expected {:#x}",
                stub.template.rip,
                stub.base + AFTER_INT3_OFFSET
            )));
        }
        // Step 3: remove everything fork inherited except the stub page, starting with the
        // rseq registration, whose area is about to disappear.
        stub.unregister_rseq()?;
        stub.inject_checked(
            "munmap(below stub)",
            libc::SYS_munmap,
            [0, stub.base, 0, 0, 0, 0],
        )?;
        let above = stub.base + PAGE_SIZE;
        if above < TASK_SIZE {
            let len = TASK_SIZE - above;
            stub.inject_checked(
                "munmap(above stub)",
                libc::SYS_munmap,
                [above, len, 0, 0, 0, 0],
            )?;
        }
        tracing::debug!(target: "platform::ptrace", pid = pid.as_raw(), "stub ready");
        Ok(Arc::new(stub))
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Debug builds: fails unless called on the tracer thread (module doc, "Threading").
    pub(crate) fn check_thread(&self) -> Result<(), PlatformError> {
        if cfg!(debug_assertions) {
            let tid = gettid();
            if tid != self.tracer_tid {
                return Err(PlatformError::Internal(format!(
                    "ptrace stub {} used from thread {tid}, but only its tracer thread {} may",
                    self.pid, self.tracer_tid
                )));
            }
        }
        Ok(())
    }

    /// Waits for the next stop or death of the stub and decides what it means.
    pub(crate) fn wait_stop(&self) -> Result<StopReason, PlatformError> {
        let status = hostcall::wait_status(self.pid)?;
        let event = WaitEvent::from_status(status);
        let info = if event.needs_siginfo() {
            Some(hostcall::get_siginfo(self.pid)?)
        } else {
            None
        };
        let reason = StopReason::decode(event, info.as_ref());
        if matches!(reason, StopReason::Exited(_) | StopReason::Killed(_)) {
            // waitpid consumed the exit status: the pid may be recycled from now on.
            self.reaped.store(true, Ordering::SeqCst);
        }
        Ok(reason)
    }

    /// The error for a stop that should not have happened (`what` names the operation).
    pub(crate) fn unexpected_stop(&self, what: &str, reason: StopReason) -> PlatformError {
        match reason {
            StopReason::Exited(code) => PlatformError::Internal(format!(
                "ptrace stub {} exited with status {code} while {what}",
                self.pid
            )),
            StopReason::Killed(sig) => PlatformError::Internal(format!(
                "ptrace stub {} was killed by {} while {what}",
                self.pid,
                Signal(sig).name()
            )),
            StopReason::Unexpected(event) => PlatformError::Internal(format!(
                "ptrace stub {}: unexpected wait event {event:?} while {what}",
                self.pid
            )),
            other => PlatformError::Internal(format!(
                "ptrace stub {}: unexpected stop {other:?} while {what}",
                self.pid
            )),
        }
    }

    fn setup_error(&self, what: &str, reason: StopReason) -> PlatformError {
        match reason {
            StopReason::Exited(code) => PlatformError::Internal(format!(
                "ptrace stub setup failed at {} (exit status {code})",
                stub::child_step_name(code)
            )),
            other => self.unexpected_stop(what, other),
        }
    }

    /// Registers for resuming the application: the sentry's `regs` with the segment selectors
    /// the host requires for a 64-bit user thread (PTRACE_SETREGS rejects others with EIO) and
    /// `orig_rax = -1`, so the kernel never applies its own syscall-restart logic (rewinding
    /// rip when rax holds -ERESTARTSYS & co., arch/x86/kernel/signal.c) to the app: restarts
    /// are the sentry's business.
    pub(crate) fn resume_regs(&self, regs: &Regs) -> Regs {
        let t = &self.template;
        Regs {
            cs: t.cs,
            ss: t.ss,
            ds: t.ds,
            es: t.es,
            fs: t.fs,
            gs: t.gs,
            orig_rax: u64::MAX,
            ..*regs
        }
    }

    /// Injects rseq(RSEQ_FLAG_UNREGISTER) with the registration the stub inherited, if any.
    fn unregister_rseq(&self) -> Result<(), PlatformError> {
        let config = hostcall::get_rseq_config(self.pid)?;
        if config.rseq_abi_pointer == 0 {
            return Ok(());
        }
        let args = [
            config.rseq_abi_pointer,
            u64::from(config.rseq_abi_size),
            RSEQ_FLAG_UNREGISTER,
            u64::from(config.signature),
            0,
            0,
        ];
        self.inject_checked("rseq(RSEQ_FLAG_UNREGISTER)", libc::SYS_rseq, args)?;
        Ok(())
    }

    /// Takes (and clears) the "interrupted during an injected call" flag.
    pub(crate) fn take_pending_interrupt(&self) -> bool {
        self.interrupt_pending.swap(false, Ordering::SeqCst)
    }

    /// Runs syscall `nr` with `args` in the stub; returns the raw rax (a value or -errno).
    pub(crate) fn inject(&self, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        self.check_thread()?;
        let [rdi, rsi, rdx, r10, r8, r9] = args;
        let regs = Regs {
            rip: self.base + SYSCALL_OFFSET,
            rax: nr.cast_unsigned(),
            orig_rax: u64::MAX,
            rdi,
            rsi,
            rdx,
            r10,
            r8,
            r9,
            ..self.template
        };
        hostcall::set_regs(self.pid, &regs)?;
        loop {
            ptrace::cont(self.pid, None).map_err(|e| host("ptrace(PTRACE_CONT)", e))?;
            match self.wait_stop()? {
                StopReason::Signal(info) if info.signo == Signal::SIGTRAP.0 => break,
                StopReason::Interrupt => {
                    // Suppressed here; remembered for the next switch.
                    self.interrupt_pending.store(true, Ordering::SeqCst);
                }
                StopReason::Ignored(_) => {}
                other => {
                    return Err(self.unexpected_stop(&format!("injecting syscall {nr}"), other));
                }
            }
        }
        let mut after = Regs::default();
        hostcall::get_regs(self.pid, &mut after)?;
        if after.rip != self.base + AFTER_INT3_OFFSET {
            return Err(PlatformError::Internal(format!(
                "ptrace stub {} trapped at {:#x} after injected syscall {nr}",
                self.pid, after.rip
            )));
        }
        Ok(after.rax)
    }

    /// [`Stub::inject`], turning a -errno result into `PlatformError::Host`.
    fn inject_checked(
        &self,
        op: &'static str,
        nr: i64,
        args: [u64; 6],
    ) -> Result<u64, PlatformError> {
        let raw = self.inject(nr, args)?;
        syscall_result(raw).map_err(|errno| PlatformError::Host {
            op,
            source: std::io::Error::from_raw_os_error(errno),
        })
    }

    /// Sends the interrupt signal (any thread).
    pub(crate) fn interrupt(&self) {
        match hostcall::pidfd_send_signal(self.pidfd.as_fd(), INTERRUPT_SIGNAL) {
            Ok(()) => {}
            // The stub is gone; the next switch reports that.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => tracing::warn!(target: "platform::ptrace", pid = self.pid.as_raw(), %e,
                "sending the interrupt signal failed"),
        }
    }

    /// SIGKILLs and reaps the stub, once (any thread).
    pub(crate) fn kill_and_reap(&self) {
        if self.reaped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = hostcall::pidfd_send_signal(self.pidfd.as_fd(), Signal::SIGKILL);
        if let Err(e) = hostcall::reap_pidfd(self.pidfd.as_fd()) {
            tracing::warn!(target: "platform::ptrace", pid = self.pid.as_raw(), %e,
                "reaping the stub failed");
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

fn host(op: &'static str, e: nix::Error) -> PlatformError {
    PlatformError::Host {
        op,
        source: std::io::Error::from(e),
    }
}

/// Splits a raw syscall return into a value or an errno.
fn syscall_result(raw: u64) -> Result<u64, i32> {
    if raw > u64::MAX - MAX_ERRNO {
        // -raw is in 1..=4095, which fits an i32.
        Err(i32::try_from(raw.wrapping_neg()).unwrap_or(libc::EINVAL))
    } else {
        Ok(raw)
    }
}

/// Checks that `[addr, addr+len)` is page-aligned and ends at or below `limit` (the stub page:
/// mapping over it would destroy the stub).
fn check_range(addr: u64, len: u64, limit: u64) -> Result<(), PlatformError> {
    let end = addr.checked_add(len);
    let is_aligned = addr.is_multiple_of(PAGE_SIZE) && len.is_multiple_of(PAGE_SIZE);
    match end {
        Some(end) if is_aligned && end <= limit => Ok(()),
        _ => Err(PlatformError::Internal(format!(
            "bad range {addr:#x}+{len:#x} for the ptrace platform (limit {limit:#x})"
        ))),
    }
}

/// mmap(2)/mprotect(2) protection bits for `perms`.
fn prot(perms: Perms) -> u64 {
    let mut p = 0;
    if perms.contains(Perms::READ) {
        p |= libc::PROT_READ;
    }
    if perms.contains(Perms::WRITE) {
        p |= libc::PROT_WRITE;
    }
    if perms.contains(Perms::EXEC) {
        p |= libc::PROT_EXEC;
    }
    p.unsigned_abs().into()
}

/// Pins the calling thread (and so the stub forked from it, which inherits the mask) to the
/// CPU it is running on: a SYSEMU round trip costs ≈8 µs when tracer and stub share a CPU and
/// 15-60 µs across CPUs on our hosts. Failure only costs speed, so it is logged, not returned.
fn pin_to_current_cpu() {
    let result = sched_getcpu().and_then(|cpu| {
        let mut set = CpuSet::new();
        set.set(cpu)?;
        sched_setaffinity(Pid::from_raw(0), &set)
    });
    if let Err(e) = result {
        tracing::debug!(target: "platform::ptrace", %e, "pinning the tracer thread failed");
    }
}

/// An application address space backed by one stub process. See the module doc.
#[derive(Debug)]
pub struct PtraceAddressSpace {
    stub: Arc<Stub>,
    has_context: AtomicBool,
}

impl PtraceAddressSpace {
    pub(crate) fn new(stub: Arc<Stub>) -> PtraceAddressSpace {
        PtraceAddressSpace {
            stub,
            has_context: AtomicBool::new(false),
        }
    }

    /// The host pid of the stub process (tests, debugging).
    #[doc(hidden)]
    pub fn stub_pid(&self) -> i32 {
        self.stub.pid().as_raw()
    }

    /// Test hook: injects an arbitrary syscall into the stub and returns the raw rax. Used to
    /// prove the stub's seccomp filter kills it on anything not allowed.
    #[doc(hidden)]
    pub fn inject_syscall_for_test(&self, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        self.stub.inject(nr, args)
    }
}

impl AddressSpace for PtraceAddressSpace {
    fn map(&self, addr: u64, len: u64, fd_offset: u64, perms: Perms) -> Result<(), PlatformError> {
        check_range(addr, len, self.stub.base)?;
        if len == 0 {
            return Ok(());
        }
        if !fd_offset.is_multiple_of(PAGE_SIZE) {
            return Err(PlatformError::Internal(format!(
                "unaligned MemoryFile offset {fd_offset:#x}"
            )));
        }
        let fd = u64::from(STUB_FD.unsigned_abs());
        let args = [addr, len, prot(perms), STUB_MMAP_FLAGS, fd, fd_offset];
        let got = self
            .stub
            .inject_checked("mmap(in stub)", libc::SYS_mmap, args)?;
        if got != addr {
            return Err(PlatformError::Internal(format!(
                "stub mmap at {addr:#x} returned {got:#x} despite MAP_FIXED"
            )));
        }
        Ok(())
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        check_range(addr, len, self.stub.base)?;
        if len == 0 {
            return Ok(());
        }
        self.stub
            .inject_checked("munmap(in stub)", libc::SYS_munmap, [addr, len, 0, 0, 0, 0])?;
        Ok(())
    }

    fn protect(&self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        check_range(addr, len, self.stub.base)?;
        if len == 0 {
            return Ok(());
        }
        let args = [addr, len, prot(perms), 0, 0, 0];
        self.stub
            .inject_checked("mprotect(in stub)", libc::SYS_mprotect, args)?;
        Ok(())
    }

    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        if self.has_context.swap(true, Ordering::SeqCst) {
            return Err(PlatformError::Unavailable(
                "ptrace platform: address spaces with more than one thread are not implemented"
                    .into(),
            ));
        }
        self.stub.check_thread()?;
        Ok(Box::new(PtraceContext::new(Arc::clone(&self.stub))))
    }
}

impl Drop for PtraceAddressSpace {
    fn drop(&mut self) {
        // The address space owns the process: contexts and interrupters that outlive it see
        // a dead stub (PlatformError / no-op), not a leaked one.
        self.stub.kill_and_reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_result_splits_errno_range() {
        assert_eq!(syscall_result(0), Ok(0));
        assert_eq!(syscall_result(0x40_0000), Ok(0x40_0000));
        assert_eq!(syscall_result((-22i64).cast_unsigned()), Err(22));
        assert_eq!(syscall_result((-4095i64).cast_unsigned()), Err(4095));
        // Just outside the errno range: a (huge) value, as the kernel means it.
        assert_eq!(
            syscall_result((-4096i64).cast_unsigned()),
            Ok((-4096i64).cast_unsigned())
        );
    }

    #[test]
    fn check_range_rejects_unaligned_overflowing_and_stub_overlapping() {
        let limit = 0x7fff_ffff_e000;
        check_range(0x40_0000, 0x1000, limit).expect("a page at 4 MiB is fine");
        check_range(limit - 0x1000, 0x1000, limit).expect("the page below the stub is fine");
        assert!(check_range(0x40_0001, 0x1000, limit).is_err());
        assert!(check_range(0x40_0000, 0x10, limit).is_err());
        assert!(check_range(limit, 0x1000, limit).is_err());
        assert!(check_range(u64::MAX - 0xfff, 0x2000, limit).is_err());
    }

    #[test]
    fn prot_maps_each_permission() {
        assert_eq!(prot(Perms::empty()), 0);
        assert_eq!(prot(Perms::READ | Perms::EXEC), 0x5);
        assert_eq!(prot(Perms::READ | Perms::WRITE | Perms::EXEC), 0x7);
    }
}
