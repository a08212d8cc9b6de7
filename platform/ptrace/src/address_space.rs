//! One application address space = one stub process ([`StubProcess`]): its threads, the
//! registry that says which host thread is attached to which stub thread, the injection that
//! changes its mappings, and its death.
//!
//! A stub process is forked from the master stub by the forker thread (`forker`) and starts
//! with two threads, both
//! parked: the leader, which is never used (see `forker` for why), and one worker.
//! `new_context` hands out parked workers first (the first context of an address space gets
//! the initial worker; a dropped context's worker is parked again and reused); when none is
//! left it clones a new one (`forker::clone_worker`) through the stub thread the *calling*
//! host thread is attached to, so later contexts must be created from a thread attached to
//! this address space (the trait's threading contract). Nothing ever exits a single stub
//! thread: workers only die with the whole process.
//!
//! Injection (`map`/`unmap`/`protect`): the registry maps the calling host thread's tid to the
//! stub thread it traces here; the call is injected through that thread (`StubThread::inject`:
//! SETREGS with rip = stub `syscall`, rax = number, arguments in rdi/rsi/rdx/r10/r8/r9;
//! PTRACE_CONT; wait for the `int3` SIGTRAP; read rax). The registry lock is held only for the
//! lookup (a short `Vec` scan), so injections and switches of different threads of one stub
//! process run concurrently; the kernel serialises the mm changes themselves, and a change
//! is visible to every thread of the stub when the injected call returns. A caller attached
//! to no context of this address space gets `PlatformError::Internal`.
//!
//! Death: dropping the address space (from any thread) SIGKILLs the process through its
//! pidfd, then reaps every worker still attached (each is a tracee of some sentry thread and
//! stays a zombie until someone of the sentry's thread group waits for its tid; any thread
//! may). The stub process itself is not the sentry's child but the master stub's, and the
//! master ignores SIGCHLD, so the kernel reaps the leader (and parked workers) itself once
//! the last traced worker is gone; the sentry waits for that through the pidfd (POLLIN, then
//! until the pid is released: `hostcall::wait_pidfd_released`), which can never name a
//! recycled pid. So when `drop` returns, no task of the stub is left.
//!
//! Lock order: `StubThread::lock` (tracer state) → `StubProcess::registry`.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use abi::signal::Signal;
use nix::unistd::Pid;
use platform::{AddressSpace, Context, Perms, PlatformError};

use crate::context::PtraceContext;
use crate::decode::WaitEvent;
use crate::forker::{self, Spawned};
use crate::hostcall;
use crate::seccomp::STUB_MMAP_FLAGS;
use crate::stub::{PAGE_SIZE, STUB_FD};
use crate::thread::{Layout, Site, StubThread};

/// Which stub threads are attached to which host thread, and which are parked.
#[derive(Debug, Default)]
struct Registry {
    /// (tracer host tid, stub thread) for every attached context. A `Vec`: a process has few
    /// threads, and a scan of a few entries beats hashing.
    attached: Vec<(Pid, Arc<StubThread>)>,
    /// Parked, untraced workers, ready for `new_context`.
    parked: Vec<Arc<StubThread>>,
}

/// A stub process. Shared by the address space, its contexts and interrupters; killed when the
/// address space drops.
#[derive(Debug)]
pub(crate) struct StubProcess {
    pid: Pid,
    pidfd: OwnedFd,
    layout: Layout,
    /// Set once the process has been killed and reaped.
    reaped: AtomicBool,
    /// The host's NT_X86_XSTATE size, learnt at the first `fpstate` (0: not yet).
    xstate_size: AtomicUsize,
    registry: Mutex<Registry>,
    /// Keeps the master stub alive while this stub lives (dropped after `Drop::drop`).
    _master: Arc<forker::MasterRef>,
    master_pid: Pid,
}

impl StubProcess {
    fn new(spawned: Spawned) -> StubProcess {
        StubProcess {
            pid: spawned.pid,
            pidfd: spawned.pidfd,
            layout: spawned.layout,
            reaped: AtomicBool::new(false),
            xstate_size: AtomicUsize::new(0),
            registry: Mutex::new(Registry {
                attached: Vec::new(),
                parked: vec![spawned.worker],
            }),
            _master: spawned.master,
            master_pid: spawned.master_pid,
        }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn is_reaped(&self) -> bool {
        self.reaped.load(Ordering::SeqCst)
    }

    pub(crate) fn xstate_size(&self) -> usize {
        self.xstate_size.load(Ordering::Relaxed)
    }

    pub(crate) fn set_xstate_size(&self, size: usize) {
        self.xstate_size.store(size, Ordering::Relaxed);
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that `tracer` now traces `thread`.
    pub(crate) fn register_attached(&self, tracer: Pid, thread: &Arc<StubThread>) {
        self.registry().attached.push((tracer, Arc::clone(thread)));
    }

    /// A context let go of `thread`: forget its attachment and, if `is_reusable` (parked and
    /// detached, or never attached), keep it for the next `new_context`.
    pub(crate) fn release(&self, thread: &Arc<StubThread>, is_reusable: bool) {
        let mut reg = self.registry();
        reg.attached.retain(|(_, t)| !Arc::ptr_eq(t, thread));
        if is_reusable {
            reg.parked.push(Arc::clone(thread));
        }
    }

    /// The stub thread the calling host thread is attached to in this process.
    fn caller_thread(&self, what: &str) -> Result<Arc<StubThread>, PlatformError> {
        let me = hostcall::current_tid();
        let reg = self.registry();
        let found = reg.attached.iter().find(|(tracer, _)| *tracer == me);
        match found {
            Some((_, thread)) => Ok(Arc::clone(thread)),
            None => Err(PlatformError::Internal(format!(
                "ptrace {what}: host thread {me} is attached to no context of stub {} \
                 (call Context::attach on this thread first)",
                self.pid
            ))),
        }
    }

    /// Runs syscall `nr` through the caller's stub thread; returns the raw rax.
    fn inject_from_caller(&self, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        let thread = self.caller_thread("injection")?;
        let mut st = thread.lock();
        let result = thread.inject(&mut st, &self.layout, Site::Plain, nr, args);
        drop(st);
        self.reap_if_dead(&thread);
        result
    }

    /// A stub thread died (its seccomp filter killed the process, or someone SIGKILLed it):
    /// collect the whole process now rather than leaving a zombie until the address space
    /// drops.
    pub(crate) fn reap_if_dead(&self, thread: &StubThread) {
        if thread.is_dead() {
            self.kill_and_reap();
        }
    }

    /// [`StubProcess::inject_from_caller`], turning a -errno result into `PlatformError::Host`.
    fn inject_checked(
        &self,
        op: &'static str,
        nr: i64,
        args: [u64; 6],
    ) -> Result<u64, PlatformError> {
        let thread = self.caller_thread(op)?;
        let mut st = thread.lock();
        let result = thread.inject_checked(&mut st, &self.layout, op, Site::Plain, nr, args);
        drop(st);
        self.reap_if_dead(&thread);
        result
    }

    /// A parked worker, reused or newly cloned through the caller's stub thread.
    fn take_worker(&self) -> Result<Arc<StubThread>, PlatformError> {
        if let Some(thread) = self.registry().parked.pop() {
            return Ok(thread);
        }
        let via = self.caller_thread("new_context (no parked stub thread left to reuse)")?;
        let mut st = via.lock();
        let result = forker::clone_worker(&via, &mut st, &self.layout);
        drop(st);
        self.reap_if_dead(&via);
        result
    }

    /// SIGKILLs and reaps the stub, once (any thread; module doc, "Death").
    pub(crate) fn kill_and_reap(&self) {
        if self.reaped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = hostcall::pidfd_send_signal(self.pidfd.as_fd(), Signal::SIGKILL);
        let attached: Vec<Pid> = self
            .registry()
            .attached
            .iter()
            .map(|(_, t)| t.tid())
            .collect();
        for tid in attached {
            // Skip stops reported on the way; ECHILD: its tracer already collected it.
            while let Ok(status) = hostcall::wait_status(tid) {
                if matches!(
                    WaitEvent::from_status(status),
                    WaitEvent::Exited(_) | WaitEvent::Killed(_)
                ) {
                    break;
                }
            }
        }
        if let Err(e) = hostcall::wait_pidfd_released(self.pidfd.as_fd(), forker::RELEASE_PATIENCE)
        {
            tracing::warn!(target: "platform::ptrace", pid = self.pid.as_raw(), %e,
                "waiting for the stub to be reaped failed");
        }
    }
}

impl Drop for StubProcess {
    fn drop(&mut self) {
        self.kill_and_reap();
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

/// An application address space backed by one stub process. See the module doc.
#[derive(Debug)]
pub struct PtraceAddressSpace {
    process: Arc<StubProcess>,
}

impl PtraceAddressSpace {
    pub(crate) fn new(spawned: Spawned) -> PtraceAddressSpace {
        PtraceAddressSpace {
            process: Arc::new(StubProcess::new(spawned)),
        }
    }

    /// The host pid of the stub process (tests, debugging).
    #[doc(hidden)]
    pub fn stub_pid(&self) -> i32 {
        self.process.pid().as_raw()
    }

    /// The host pid of the master stub this stub was forked from (tests, debugging).
    #[doc(hidden)]
    pub fn master_pid(&self) -> i32 {
        self.process.master_pid.as_raw()
    }

    /// Test hook: injects an arbitrary syscall through the caller's stub thread and returns
    /// the raw rax. Used to prove the stub's seccomp filter kills it on anything not allowed.
    #[doc(hidden)]
    pub fn inject_syscall_for_test(&self, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        self.process.inject_from_caller(nr, args)
    }

    /// [`AddressSpace::new_context`] with the concrete type (tests use its hooks).
    pub fn new_ptrace_context(&self) -> Result<PtraceContext, PlatformError> {
        let thread = self.process.take_worker()?;
        Ok(PtraceContext::new(Arc::clone(&self.process), thread))
    }
}

/// The CPU-time clock of another process (include/linux/posix-timers.h
/// MAKE_PROCESS_CPUCLOCK: `(~pid << 3) | which`); clock_gettime(2) accepts it for any process
/// the caller can see. `which`: 0 = PROF (user + system), 1 = VIRT (user).
fn process_cpu_clock(pid: Pid, which: i32) -> nix::time::ClockId {
    nix::time::ClockId::from_raw((!pid.as_raw() << 3) | which)
}

impl AddressSpace for PtraceAddressSpace {
    fn host_pid(&self) -> Option<i32> {
        Some(self.process.pid().as_raw())
    }

    fn cpu_time(&self) -> Option<platform::CpuTime> {
        // Every application thread of this address space is a thread of the stub process.
        let pid = self.process.pid();
        let dur = |which| {
            nix::time::clock_gettime(process_cpu_clock(pid, which))
                .ok()
                .map(std::time::Duration::from)
        };
        let total = dur(0)?;
        let user = dur(1)?;
        Some(platform::CpuTime {
            user,
            system: total.saturating_sub(user),
        })
    }

    fn map(&self, addr: u64, len: u64, fd_offset: u64, perms: Perms) -> Result<(), PlatformError> {
        check_range(addr, len, self.process.layout.base)?;
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
            .process
            .inject_checked("mmap(in stub)", libc::SYS_mmap, args)?;
        if got != addr {
            return Err(PlatformError::Internal(format!(
                "stub mmap at {addr:#x} returned {got:#x} despite MAP_FIXED"
            )));
        }
        Ok(())
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        check_range(addr, len, self.process.layout.base)?;
        if len == 0 {
            return Ok(());
        }
        self.process.inject_checked(
            "munmap(in stub)",
            libc::SYS_munmap,
            [addr, len, 0, 0, 0, 0],
        )?;
        Ok(())
    }

    fn protect(&self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        check_range(addr, len, self.process.layout.base)?;
        if len == 0 {
            return Ok(());
        }
        let args = [addr, len, prot(perms), 0, 0, 0];
        self.process
            .inject_checked("mprotect(in stub)", libc::SYS_mprotect, args)?;
        Ok(())
    }

    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        Ok(Box::new(self.new_ptrace_context()?))
    }
}

impl Drop for PtraceAddressSpace {
    fn drop(&mut self) {
        // The address space owns the process: contexts and interrupters that outlive it see
        // a dead stub (PlatformError / no-op), not a leaked one.
        self.process.kill_and_reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
