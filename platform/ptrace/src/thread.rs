//! One thread of a stub process ([`StubThread`]) and everything its *tracer* does with it:
//! attaching (PTRACE_SEIZE + PTRACE_INTERRUPT), injecting a syscall through it, setting its
//! registers, moving it next to the tracer's CPU, parking and detaching it.
//!
//! # Life of a stub thread
//!
//! A stub thread is either *parked* — untraced, blocked in the stub page's pause(2) loop — or
//! *attached* to exactly one host thread, its tracer, and then stopped (between switches and
//! injections) or running application code (inside `switch`). Attaching is PTRACE_SEIZE with
//! PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD, then PTRACE_INTERRUPT, then a `waitpid(tid,
//! __WALL)` for the PTRACE_EVENT_STOP; the INTERRUPT takes the thread out of pause(2)
//! (-ERESTARTNOHAND, never restarted because we always resume with `orig_rax = -1`).
//! Parking is SETREGS(rip = park loop) + PTRACE_DETACH. Measured (`examples/switch_bench.rs`,
//! 2-CPU host under load): reuse a parked thread + attach + park ≈ 8 µs; clone a new one +
//! attach ≈ 25 µs; park + detach ≈ 2-6 µs; a new address space (a fork of the master stub
//! on the forker thread, setup, drop) ≈ 130-140 µs (110 + 25), where forking the whole
//! (small, benchmark) sentry cost 400-480 µs. No stub thread ever exits on its own: they all die together when
//! the address space SIGKILLs the process.
//!
//! ptrace(2) accepts requests for a tracee only from its tracer thread, and a `waitpid` from
//! any thread of the sentry can consume any tracee's stop, so every wait here names one tid
//! (never -1) and is made by that tid's tracer.
//!
//! # State and locking
//!
//! [`TracerState`] (tracer tid, stopped or not, the registers the host thread holds, the CPU
//! it was last placed on) is only meaningful to the tracer thread; it sits behind a `Mutex`
//! because both the context (`switch`) and the address space (`map` through the registry)
//! reach it, always on the tracer thread, so the lock is never contended (≈ 20 ns).
//! The interrupt fields are atomics: [`crate::PtraceInterrupter`] uses them from any thread.
//!
//! # CPU placement
//!
//! A SYSEMU round trip costs ≈5 µs when tracer and stub thread share a CPU and 12-15 µs (up to
//! 30 under load) across CPUs on our 2-CPU hosts (`examples/switch_bench.rs`). Before each
//! switch the stub thread is pinned (sched_setaffinity on its tid) to the CPU its tracer runs
//! on, if that changed since the last switch (sched_getcpu is an rseq read, ≈4 ns).
//!
//! Moving only the stub is not enough, measured: an unpinned tracer sleeping in waitpid is
//! woken by the stopping stub while the stub still occupies its CPU, so the scheduler puts the
//! tracer on the *idle* CPU; the next switch moves the stub there, and so on — the stub moved
//! on every second switch and getpid took 8-10 µs instead of 5. So the tracer is pinned too,
//! but only for [`REPIN_PERIOD`] (1 s): the first switch after that runs with the tracer's
//! original mask restored, letting the scheduler place it by current load (this is how a
//! pair leaves a busy CPU), and the next switch pins tracer and stub to wherever it landed.
//! That costs one possibly cross-CPU switch and three affinity calls per second of switching.
//! (A 10 ms period measured 0.2-0.5 µs slower per switch than a permanent pin: every
//! rebalance can migrate the pair and start cold; at 1 s the cost is within noise.)
//! Dropping a context releases its tracer's pin. If someone else moves a pinned tracer (its
//! CPU differs from the pin), the new placement and mask are adopted. A tracer that blocks in
//! the sentry for long stays pinned until its next switch; it uses no CPU meanwhile, but it
//! can only wake on that CPU.
//!
//! # Registers the host refuses
//!
//! PTRACE_SETREGS fails with EIO (and leaves the registers after the failing one unset) when
//! `fs_base` or `gs_base` is at or above TASK_SIZE_MAX (arch/x86/kernel/ptrace.c, `putreg`),
//! yet an application may `wrfsbase` a kernel-half value and then make a syscall. When the
//! value to set is such a base *and equals what the host thread already holds*, [`set_regs`]
//! reads the registers (GETREGS) and writes only the changed ones with PTRACE_POKEUSER,
//! leaving the base alone. A kernel-half base that *changes* can only come from the sentry (Linux's
//! arch_prctl refuses it with EPERM) and is an error.

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use abi::signal::Signal;
use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::sys::ptrace;
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;
use platform::{PlatformError, Regs};

use crate::decode::{INTERRUPT_SIGNAL, StopReason, WaitEvent};
use crate::hostcall::{self, PIDFD_THREAD};
use crate::stub::{
    AFTER_CLONE_INT3_OFFSET, AFTER_FORK_INT3_OFFSET, AFTER_INT3_OFFSET, CLONE_SYSCALL_OFFSET,
    FORK_SYSCALL_OFFSET, PARK_OFFSET, SYSCALL_OFFSET, TASK_SIZE,
};

/// Linux returns errors from raw syscalls as -1..-4095 in rax (include/linux/err.h,
/// MAX_ERRNO).
const MAX_ERRNO: u64 = 4095;

/// Index of `fs_base` and `gs_base` in `struct user_regs_struct` (and in [`regs_array`]).
const FS_BASE_INDEX: usize = 21;
const GS_BASE_INDEX: usize = 22;

/// What every thread of one stub process shares: where the stub page is and the registers
/// injected calls and resumes start from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// Start of the stub page; also the address-space limit for the application.
    pub base: u64,
    /// The stub's registers at its first `int3` (on the forker thread): source of the segment
    /// selectors every SETREGS uses and of the base of injected-call registers.
    pub template: Regs,
}

impl Layout {
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
}

/// Where an injected syscall runs in the stub page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    /// `syscall; int3` at the start of the page.
    Plain,
    /// The clone sequence: the parent traps at its own `int3`, the child parks.
    Clone,
    /// The master stub's fork sequence (stub page doc): `master` (the master's pid) goes in
    /// rbx, where the child compares it with getppid(); the parent traps at its own `int3`.
    Fork { master: u64 },
}

impl Site {
    fn offsets(self) -> (u64, u64) {
        match self {
            Site::Plain => (SYSCALL_OFFSET, AFTER_INT3_OFFSET),
            Site::Clone => (CLONE_SYSCALL_OFFSET, AFTER_CLONE_INT3_OFFSET),
            Site::Fork { .. } => (FORK_SYSCALL_OFFSET, AFTER_FORK_INT3_OFFSET),
        }
    }
}

/// The tracer-side state of a stub thread (module doc, "State and locking").
#[derive(Debug)]
pub(crate) struct TracerState {
    /// The host thread tracing this stub thread, if attached.
    pub tracer: Option<Pid>,
    /// In a ptrace-stop (after attach, a switch or an injection returned normally).
    pub is_stopped: bool,
    /// fs_base and gs_base as the host thread holds them (the last GETREGS): injected calls
    /// keep them (module doc, "Registers the host refuses").
    pub host_bases: [u64; 2],
    /// The CPU the stub thread was last pinned to (by `place_next_to_caller`).
    pub cpu: Option<usize>,
}

/// One thread of a stub process.
#[derive(Debug)]
pub(crate) struct StubThread {
    tid: Pid,
    /// A PIDFD_THREAD pidfd: thread-directed signals that can never hit a recycled tid.
    pidfd: OwnedFd,
    /// Bumped whenever a context lets go of this thread, so interrupters of an old context
    /// never disturb the next one.
    generation: AtomicU64,
    /// Attached (traced): an interrupt signal is reported to the tracer. While parked the
    /// signal is ignored by the stub, so interrupts are recorded in `interrupt_pending`.
    is_traced: AtomicBool,
    /// An interrupt that no signal stop has reported yet (it hit an injected call or the
    /// thread was not attached); the next switch returns `Interrupted` without running.
    interrupt_pending: AtomicBool,
    /// A wait reported this thread's death (which only happens with the whole process).
    is_dead: AtomicBool,
    state: Mutex<TracerState>,
}

impl StubThread {
    /// Wraps thread `tid` of a stub (parked or stopped; nothing is done to it).
    pub(crate) fn new(tid: Pid) -> Result<Arc<StubThread>, PlatformError> {
        let pidfd = hostcall::pidfd_open(tid, PIDFD_THREAD)?;
        Ok(Arc::new(StubThread {
            tid,
            pidfd,
            generation: AtomicU64::new(0),
            is_traced: AtomicBool::new(false),
            interrupt_pending: AtomicBool::new(false),
            is_dead: AtomicBool::new(false),
            state: Mutex::new(TracerState {
                tracer: None,
                is_stopped: false,
                host_bases: [0; 2],
                cpu: None,
            }),
        }))
    }

    pub(crate) fn tid(&self) -> Pid {
        self.tid
    }

    /// The tracer state. A poisoned lock only means a panic elsewhere; the state is plain data.
    pub(crate) fn lock(&self) -> MutexGuard<'_, TracerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A context lets go of this thread: old interrupters become no-ops, old pending
    /// interrupts are forgotten.
    pub(crate) fn retire_generation(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.interrupt_pending.store(false, Ordering::SeqCst);
    }

    /// Takes (and clears) the pending-interrupt flag.
    pub(crate) fn take_pending_interrupt(&self) -> bool {
        self.interrupt_pending.swap(false, Ordering::SeqCst)
    }

    /// Clears the pending flag: a signal stop just reported the interrupt it stands for.
    pub(crate) fn clear_pending_interrupt(&self) {
        self.interrupt_pending.store(false, Ordering::SeqCst);
    }

    /// Interrupts the current context of this thread if it is still `generation` (any
    /// thread). Attached: a thread-directed signal, which stops a running switch at once or
    /// the next one right away. Not attached: the pending flag, then the signal as well if an
    /// attach raced with us (at worst one spurious `Interrupted`, which the contract allows).
    pub(crate) fn interrupt(&self, generation: u64) {
        if self.generation() != generation {
            return;
        }
        if self.is_traced.load(Ordering::SeqCst) {
            self.send_interrupt_signal();
            return;
        }
        self.interrupt_pending.store(true, Ordering::SeqCst);
        if self.is_traced.load(Ordering::SeqCst) {
            self.send_interrupt_signal();
        }
    }

    fn send_interrupt_signal(&self) {
        match hostcall::pidfd_send_signal(self.pidfd.as_fd(), INTERRUPT_SIGNAL) {
            Ok(()) => {}
            // The stub is gone; the next switch reports that.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => tracing::warn!(target: "platform::ptrace", tid = self.tid.as_raw(), %e,
                "sending the interrupt signal failed"),
        }
    }

    /// Waits for the next stop or death of this thread and decides what it means.
    pub(crate) fn wait_stop(&self) -> Result<StopReason, PlatformError> {
        let status = hostcall::wait_status(self.tid)?;
        let event = WaitEvent::from_status(status);
        let info = if event.needs_siginfo() {
            Some(hostcall::get_siginfo(self.tid)?)
        } else {
            None
        };
        let reason = StopReason::decode(event, info.as_ref());
        if matches!(reason, StopReason::Exited(_) | StopReason::Killed(_)) {
            self.is_dead.store(true, Ordering::SeqCst);
        }
        Ok(reason)
    }

    /// Whether a wait saw this thread die (then the whole stub process is dead).
    pub(crate) fn is_dead(&self) -> bool {
        self.is_dead.load(Ordering::SeqCst)
    }

    /// The error for a stop that should not have happened (`what` names the operation).
    pub(crate) fn unexpected_stop(&self, what: &str, reason: StopReason) -> PlatformError {
        let tid = self.tid;
        match reason {
            StopReason::Exited(code) => PlatformError::Internal(format!(
                "ptrace stub thread {tid} exited with status {code} while {what}"
            )),
            StopReason::Killed(sig) => PlatformError::Internal(format!(
                "ptrace stub thread {tid} was killed by {} while {what}",
                Signal(sig).name()
            )),
            StopReason::Unexpected(event) => PlatformError::Internal(format!(
                "ptrace stub thread {tid}: unexpected wait event {event:?} while {what}"
            )),
            other => PlatformError::Internal(format!(
                "ptrace stub thread {tid}: unexpected stop {other:?} while {what}"
            )),
        }
    }

    /// Makes the calling host thread this thread's tracer and waits until it is stopped
    /// (module doc). `st.tracer` must be None.
    pub(crate) fn attach(&self, st: &mut TracerState) -> Result<(), PlatformError> {
        let options = ptrace::Options::PTRACE_O_EXITKILL | ptrace::Options::PTRACE_O_TRACESYSGOOD;
        ptrace::seize(self.tid, options).map_err(|e| host("ptrace(PTRACE_SEIZE)", e))?;
        self.is_traced.store(true, Ordering::SeqCst);
        let result = self.stop_after_seize(st);
        if result.is_err() {
            // Leave the thread parked if we can; if not, the process is dying anyway.
            let _ = ptrace::detach(self.tid, None);
            self.is_traced.store(false, Ordering::SeqCst);
        }
        result
    }

    fn stop_after_seize(&self, st: &mut TracerState) -> Result<(), PlatformError> {
        ptrace::interrupt(self.tid).map_err(|e| host("ptrace(PTRACE_INTERRUPT)", e))?;
        loop {
            match self.wait_stop()? {
                StopReason::PtraceStop => break,
                StopReason::Interrupt => {
                    // An interrupter saw us traced and signalled; report it at the next switch.
                    self.interrupt_pending.store(true, Ordering::SeqCst);
                }
                StopReason::Ignored(_) => {}
                other => return Err(self.unexpected_stop("attaching", other)),
            }
            // Resume from the signal stop (suppressing the signal); the PTRACE_INTERRUPT trap
            // is still pending and comes next.
            ptrace::cont(self.tid, None).map_err(|e| host("ptrace(PTRACE_CONT)", e))?;
        }
        let mut regs = Regs::default();
        hostcall::get_regs(self.tid, &mut regs)?;
        st.host_bases = [regs.fs_base, regs.gs_base];
        st.tracer = Some(hostcall::current_tid());
        st.is_stopped = true;
        st.cpu = None;
        Ok(())
    }

    /// Fails unless the calling thread is the tracer and the thread is stopped.
    pub(crate) fn check_stopped_tracee(&self, st: &TracerState) -> Result<(), PlatformError> {
        let me = hostcall::current_tid();
        match st.tracer {
            Some(t) if t == me && st.is_stopped => Ok(()),
            Some(t) if t == me => Err(PlatformError::Internal(format!(
                "ptrace stub thread {} is not stopped (an earlier switch or injection failed)",
                self.tid
            ))),
            Some(t) => Err(PlatformError::Internal(format!(
                "ptrace stub thread {} is attached to host thread {t}, not to the caller {me}",
                self.tid
            ))),
            None => Err(PlatformError::Internal(format!(
                "ptrace stub thread {} is not attached to the caller {me}",
                self.tid
            ))),
        }
    }

    /// Puts the stub thread on the CPU its tracer (the caller) runs on, if that is not where
    /// it was last put (module doc, "CPU placement"). Failure only costs speed, so it is
    /// logged and not retried until the CPU changes again.
    pub(crate) fn place_next_to_caller(&self, st: &mut TracerState) {
        let Some(cpu) = tracer_cpu_for_switch() else {
            return;
        };
        if st.cpu == Some(cpu) {
            return;
        }
        st.cpu = Some(cpu);
        let mut set = CpuSet::new();
        let result = set
            .set(cpu)
            .and_then(|()| sched_setaffinity(self.tid, &set));
        if let Err(e) = result {
            tracing::debug!(target: "platform::ptrace", tid = self.tid.as_raw(), cpu, %e,
                "moving the stub thread next to its tracer failed");
        }
    }

    /// Runs syscall `nr` with `args` at `site` in this (stopped, attached) thread; returns the
    /// raw rax (a value or -errno). The application's registers are not saved or restored:
    /// the sentry owns them and `switch` sets them anyway. fs_base/gs_base are left as the
    /// host thread holds them (module doc, "Registers the host refuses").
    pub(crate) fn inject(
        &self,
        st: &mut TracerState,
        layout: &Layout,
        site: Site,
        nr: i64,
        args: [u64; 6],
    ) -> Result<u64, PlatformError> {
        self.check_stopped_tracee(st)?;
        let (start, trap) = site.offsets();
        let [rdi, rsi, rdx, r10, r8, r9] = args;
        let rbx = match site {
            Site::Fork { master } => master,
            Site::Plain | Site::Clone => layout.template.rbx,
        };
        let regs = Regs {
            rbx,
            rip: layout.base + start,
            rax: nr.cast_unsigned(),
            orig_rax: u64::MAX,
            rdi,
            rsi,
            rdx,
            r10,
            r8,
            r9,
            fs_base: st.host_bases[0],
            gs_base: st.host_bases[1],
            ..layout.template
        };
        set_regs(self.tid, &regs)?;
        loop {
            ptrace::cont(self.tid, None).map_err(|e| host("ptrace(PTRACE_CONT)", e))?;
            // Running now: if waiting fails, parking must interrupt it first.
            st.is_stopped = false;
            match self.wait_stop()? {
                StopReason::Signal(info) if info.signo == Signal::SIGTRAP.0 => break,
                StopReason::Interrupt => {
                    // Suppressed here; remembered for the next switch.
                    self.interrupt_pending.store(true, Ordering::SeqCst);
                }
                StopReason::Ignored(_) | StopReason::PtraceStop => {}
                other => {
                    return Err(self.unexpected_stop(&format!("injecting syscall {nr}"), other));
                }
            }
        }
        let mut after = Regs::default();
        hostcall::get_regs(self.tid, &mut after)?;
        st.is_stopped = true;
        st.host_bases = [after.fs_base, after.gs_base];
        if after.rip != layout.base + trap {
            return Err(PlatformError::Internal(format!(
                "ptrace stub thread {} trapped at {:#x} after injected syscall {nr}",
                self.tid, after.rip
            )));
        }
        Ok(after.rax)
    }

    /// [`StubThread::inject`], turning a -errno result into `PlatformError::Host`.
    pub(crate) fn inject_checked(
        &self,
        st: &mut TracerState,
        layout: &Layout,
        op: &'static str,
        site: Site,
        nr: i64,
        args: [u64; 6],
    ) -> Result<u64, PlatformError> {
        let raw = self.inject(st, layout, site, nr, args)?;
        syscall_result(raw).map_err(|errno| PlatformError::Host {
            op,
            source: std::io::Error::from_raw_os_error(errno),
        })
    }

    /// Sends the stopped, attached thread back to the park loop and detaches it. If an earlier
    /// failure left it running, it is interrupted first.
    pub(crate) fn park_and_detach(
        &self,
        st: &mut TracerState,
        layout: &Layout,
    ) -> Result<(), PlatformError> {
        if !st.is_stopped {
            ptrace::interrupt(self.tid).map_err(|e| host("ptrace(PTRACE_INTERRUPT)", e))?;
            loop {
                match self.wait_stop()? {
                    StopReason::PtraceStop => break,
                    StopReason::Exited(_) | StopReason::Killed(_) | StopReason::Unexpected(_) => {
                        return Err(PlatformError::Internal(format!(
                            "ptrace stub thread {} died before it could be parked",
                            self.tid
                        )));
                    }
                    _ => {
                        ptrace::cont(self.tid, None).map_err(|e| host("ptrace(PTRACE_CONT)", e))?
                    }
                }
            }
            st.is_stopped = true;
        }
        // The template's bases are ordinary user addresses, so a plain SETREGS always works;
        // the park loop does not care about the bases, and the next attach reads them anew.
        let park = Regs {
            rip: layout.base + PARK_OFFSET,
            orig_rax: u64::MAX,
            ..layout.template
        };
        hostcall::set_regs(self.tid, &park)?;
        // Stray interrupt signals sent from now on are ignored by the parked stub.
        self.is_traced.store(false, Ordering::SeqCst);
        ptrace::detach(self.tid, None).map_err(|e| host("ptrace(PTRACE_DETACH)", e))?;
        st.tracer = None;
        st.is_stopped = false;
        Ok(())
    }
}

/// How long a tracer thread stays pinned before one switch runs unpinned (module doc, "CPU
/// placement").
const REPIN_PERIOD: Duration = Duration::from_secs(1);

/// The platform's pin of the *calling host thread* (a tracer).
#[derive(Clone, Copy, Debug)]
enum TracerPin {
    /// Not pinned by us: the scheduler places the thread freely.
    Free,
    /// Pinned to `cpu` since `since` ([`coarse_now`]); `original` is the mask to restore.
    Pinned {
        cpu: usize,
        since: Duration,
        original: CpuSet,
    },
}

thread_local! {
    static TRACER_PIN: Cell<TracerPin> = const { Cell::new(TracerPin::Free) };
}

/// The CPU the stub thread should run on for this switch, pinning or releasing the calling
/// tracer thread as the module doc's "CPU placement" describes; None for the one unpinned
/// switch per period (the stub then stays where it is).
fn tracer_cpu_for_switch() -> Option<usize> {
    let current = sched_getcpu().ok()?;
    TRACER_PIN.with(|pin| match pin.get() {
        // Someone else (the sentry, an administrator) moved the pinned thread: adopt the new
        // CPU and whatever mask they set, as if we had never pinned.
        TracerPin::Pinned { cpu, .. } if cpu != current => {
            pin.set(TracerPin::Free);
            pin_tracer(pin, current)
        }
        TracerPin::Pinned { cpu, since, .. }
            if coarse_now().saturating_sub(since) < REPIN_PERIOD =>
        {
            Some(cpu)
        }
        TracerPin::Pinned { original, .. } => {
            pin.set(TracerPin::Free);
            if let Err(e) = sched_setaffinity(Pid::from_raw(0), &original) {
                tracing::debug!(target: "platform::ptrace", %e, "unpinning a tracer failed");
            }
            None
        }
        TracerPin::Free => pin_tracer(pin, current),
    })
}

/// CLOCK_MONOTONIC_COARSE: a vDSO read of the last tick (≈5 ns, 1-4 ms resolution), cheap
/// enough for every switch, precise enough for [`REPIN_PERIOD`]. (CLOCK_MONOTONIC costs
/// ≈40 ns on our hosts.)
fn coarse_now() -> Duration {
    clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE)
        .map_or(Duration::ZERO, |t: TimeSpec| Duration::from(t))
}

/// Undoes the platform's pin of the calling thread, if any (a context is dropped: its host
/// thread may go on to do other work).
pub(crate) fn release_tracer_pin() {
    TRACER_PIN.with(|pin| {
        if let TracerPin::Pinned { original, .. } = pin.replace(TracerPin::Free)
            && let Err(e) = sched_setaffinity(Pid::from_raw(0), &original)
        {
            tracing::debug!(target: "platform::ptrace", %e, "unpinning a tracer failed");
        }
    });
}

/// Pins the calling thread to `cpu` (where it runs now), remembering its current mask.
fn pin_tracer(pin: &Cell<TracerPin>, cpu: usize) -> Option<usize> {
    let original = sched_getaffinity(Pid::from_raw(0)).ok()?;
    let mut only = CpuSet::new();
    only.set(cpu).ok()?;
    if let Err(e) = sched_setaffinity(Pid::from_raw(0), &only) {
        tracing::debug!(target: "platform::ptrace", cpu, %e, "pinning a tracer failed");
        return Some(cpu);
    }
    pin.set(TracerPin::Pinned {
        cpu,
        since: coarse_now(),
        original,
    });
    Some(cpu)
}

/// The 27 registers of `r` in `struct user_regs_struct` order (PTRACE_POKEUSER offset =
/// index * 8).
fn regs_array(r: &Regs) -> [u64; 27] {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base, r.gs_base, r.ds,
        r.es, r.fs, r.gs,
    ]
}
const _: () = assert!(std::mem::offset_of!(Regs, fs_base) == FS_BASE_INDEX * 8);
const _: () = assert!(std::mem::offset_of!(Regs, gs_base) == GS_BASE_INDEX * 8);

/// Which registers to write one by one when SETREGS cannot be used (module doc): the indices
/// that differ between `new` and `host`, or an error naming a kernel-half base that changed.
/// Pure, for the unit tests.
fn poke_plan(new: &Regs, host: &Regs) -> Result<Vec<usize>, String> {
    for (name, index) in [("fs_base", FS_BASE_INDEX), ("gs_base", GS_BASE_INDEX)] {
        let (n, h) = (regs_array(new)[index], regs_array(host)[index]);
        if n >= TASK_SIZE && n != h {
            return Err(format!(
                "{name} {n:#x} is not a user address (the thread holds {h:#x}); \
                 PTRACE_SETREGS cannot set it and Linux's arch_prctl would refuse it"
            ));
        }
    }
    let (n, h) = (regs_array(new), regs_array(host));
    Ok((0..n.len()).filter(|&i| n[i] != h[i]).collect())
}

/// Sets the stopped thread `tid`'s registers to `new`. One PTRACE_SETREGS normally; when a
/// base is kernel-half, a GETREGS and PTRACE_POKEUSER of the registers that differ (module
/// doc, "Registers the host refuses").
pub(crate) fn set_regs(tid: Pid, new: &Regs) -> Result<(), PlatformError> {
    if new.fs_base < TASK_SIZE && new.gs_base < TASK_SIZE {
        return hostcall::set_regs(tid, new);
    }
    let mut host = Regs::default();
    hostcall::get_regs(tid, &mut host)?;
    let plan = poke_plan(new, &host).map_err(PlatformError::Internal)?;
    let values = regs_array(new);
    for index in plan {
        let value = values.get(index).copied().unwrap_or_default();
        let offset = std::ptr::without_provenance_mut::<libc::c_void>(index * 8);
        ptrace::write_user(tid, offset, value.cast_signed())
            .map_err(|e| host_err("ptrace(PTRACE_POKEUSER)", e))?;
    }
    Ok(())
}

pub(crate) fn host(op: &'static str, e: nix::Error) -> PlatformError {
    host_err(op, e)
}

fn host_err(op: &'static str, e: nix::Error) -> PlatformError {
    PlatformError::Host {
        op,
        source: std::io::Error::from(e),
    }
}

/// Splits a raw syscall return into a value or an errno.
pub(crate) fn syscall_result(raw: u64) -> Result<u64, i32> {
    if raw > u64::MAX - MAX_ERRNO {
        // -raw is in 1..=4095, which fits an i32.
        Err(i32::try_from(raw.wrapping_neg()).unwrap_or(libc::EINVAL))
    } else {
        Ok(raw)
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
    fn poke_plan_skips_an_unchanged_kernel_half_base() {
        let host = Regs {
            fs_base: 0xffff_8000_0000_1000,
            rax: 39,
            ..Regs::new_user(0x40_0000, 0x1000)
        };
        let new = Regs { rax: 1, ..host };
        assert_eq!(poke_plan(&new, &host), Ok(vec![10]));
    }

    #[test]
    fn poke_plan_refuses_a_changed_kernel_half_base() {
        let host = Regs::new_user(0x40_0000, 0x1000);
        let new = Regs {
            gs_base: 0xffff_8000_0000_0000,
            ..host
        };
        let err = poke_plan(&new, &host).expect_err("a changed kernel-half base");
        assert!(err.contains("gs_base"), "{err}");
    }

    #[test]
    fn poke_plan_writes_a_changed_user_base_next_to_a_kept_kernel_one() {
        let host = Regs {
            fs_base: 0xffff_8000_0000_1000,
            gs_base: 0x1000,
            ..Regs::default()
        };
        let new = Regs {
            gs_base: 0x2000,
            ..host
        };
        assert_eq!(poke_plan(&new, &host), Ok(vec![GS_BASE_INDEX]));
    }
}
