//! The forker: one dedicated, long-lived host thread that forks and sets up every stub
//! process ([`spawn`] sends it a request over a channel and waits for the answer).
//!
//! Why a dedicated thread: a stub dies with its *parent thread* (PR_SET_PDEATHSIG fires when
//! the thread that forked the child exits, prctl(2)), which is what keeps a crashed sentry
//! from leaking stubs. If task threads forked, a process's stub would be SIGKILLed when the
//! task that created it exits, taking the other threads of that process with it. The forker
//! never exits, so the death signal fires exactly when the sentry process dies. It also means
//! `new_address_space` may be called from any thread, and that new stubs inherit the forker's
//! (unpinned) CPU affinity, not a task thread's.
//!
//! Setup, all on the forker thread, which is the stub's tracer until the end:
//! 1. fork; the child sets PR_SET_PDEATHSIG, ignores the asynchronous signals, keeps only the
//!    MemoryFile (as fd `STUB_FD`), calls PTRACE_TRACEME and stops itself with SIGSTOP;
//! 2. PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD, continue; the child installs its seccomp
//!    filter and jumps to the stub page's `int3`;
//! 3. at that SIGTRAP: unregister the rseq(2) area the child inherited (read with
//!    PTRACE_GET_RSEQ_CONFIGURATION; glibc registers one per thread, and once its page is
//!    unmapped the kernel SIGSEGVs the stub at the next signal or preemption), then munmap
//!    everything but the stub page;
//! 4. clone the first *worker* thread (it parks itself), then park the leader and
//!    PTRACE_DETACH it.
//!
//! The thread-group leader never runs application code: it stays parked and untraced for the
//! life of the process. A traced leader would be a trap: Linux does not report a leader's
//! death to its tracer until every other thread of the group has been reaped
//! (kernel/exit.c, `delay_group_leader`), so a tracer waiting on a killed leader would hang
//! until *other* tracers reaped their threads. Worker threads report their own deaths at once.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use abi::signal::Signal;
use nix::sys::ptrace;
use nix::unistd::{Pid, getpid};
use platform::{PlatformError, Regs};
use seccompiler::BpfProgram;

use crate::decode::{StopReason, WaitEvent};
use crate::hostcall;
use crate::seccomp::{RSEQ_FLAG_UNREGISTER, STUB_CLONE_FLAGS};
use crate::stub::{self, AFTER_INT3_OFFSET, INT3_OFFSET, PAGE_SIZE, TASK_SIZE};
use crate::thread::{Layout, Site, StubThread, TracerState, host};

/// What a new stub needs from the platform.
#[derive(Debug, Clone)]
pub(crate) struct SpawnParams {
    /// The MemoryFile; valid while `spawn` runs (the caller holds the platform).
    pub memfd: RawFd,
    pub stub_base: u64,
    pub filter: Arc<BpfProgram>,
}

/// A freshly set-up stub process: its leader is parked forever, `worker` is parked and ready
/// to become the first context.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub layout: Layout,
    pub worker: Arc<StubThread>,
}

struct Request {
    params: SpawnParams,
    reply: mpsc::SyncSender<Result<Spawned, PlatformError>>,
}

/// The forker's request channel, started on first use.
static FORKER: Mutex<Option<mpsc::Sender<Request>>> = Mutex::new(None);

/// Forks and sets up a stub on the forker thread (module doc); callable from any thread.
pub(crate) fn spawn(params: SpawnParams) -> Result<Spawned, PlatformError> {
    let (reply, answer) = mpsc::sync_channel(1);
    let request = Request { params, reply };
    {
        let mut forker = FORKER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if forker.is_none() {
            *forker = Some(start_forker()?);
        }
        let Some(tx) = forker.as_ref() else {
            return Err(PlatformError::Internal("no forker thread".into()));
        };
        tx.send(request)
            .map_err(|_| PlatformError::Internal("the stub forker thread is gone".into()))?;
    }
    answer
        .recv()
        .map_err(|_| PlatformError::Internal("the stub forker thread died".into()))?
}

fn start_forker() -> Result<mpsc::Sender<Request>, PlatformError> {
    let (tx, rx) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("rvisor-stub-forker".into())
        .spawn(move || {
            // The sender lives in a static, so this loop never ends: the thread must outlive
            // every stub (module doc).
            for request in rx {
                let result = spawn_here(&request.params);
                let _ = request.reply.send(result);
            }
        })
        .map_err(|source| PlatformError::Host {
            op: "spawn(stub forker thread)",
            source,
        })?;
    Ok(tx)
}

/// Kills and reaps a half-set-up stub when dropped (error paths of [`spawn_here`]).
struct KillOnDrop {
    pidfd: Option<OwnedFd>,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pidfd) = self.pidfd.take() {
            let _ = hostcall::pidfd_send_signal(pidfd.as_fd(), Signal::SIGKILL);
            let _ = hostcall::reap_pidfd(pidfd.as_fd());
        }
    }
}

/// Steps 1-4 of the module doc, on the forker thread.
fn spawn_here(params: &SpawnParams) -> Result<Spawned, PlatformError> {
    let base = params.stub_base;
    let plan = stub::ChildPlan {
        memfd: params.memfd,
        parent: getpid(),
        entry: base + INT3_OFFSET,
        filter: params.filter.as_slice(),
    };
    let pid = stub::fork_stub(&plan)?;
    let pidfd = match hostcall::pidfd_open(pid, 0) {
        Ok(fd) => fd,
        Err(e) => {
            // No pidfd: fall back to the pid, which cannot be recycled before we reap it.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
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
    let mut guard = KillOnDrop { pidfd: Some(pidfd) };
    let leader = StubThread::new(pid)?;
    // Step 1 ends with the child's SIGSTOP (sent by itself: SI_USER, hence "ignored").
    match leader.wait_stop()? {
        StopReason::Ignored(sig) if sig == Signal::SIGSTOP.0 => {}
        other => {
            return Err(setup_error(
                &leader,
                "waiting for the stub's SIGSTOP",
                other,
            ));
        }
    }
    let options = ptrace::Options::PTRACE_O_EXITKILL | ptrace::Options::PTRACE_O_TRACESYSGOOD;
    ptrace::setoptions(pid, options).map_err(|e| host("ptrace(PTRACE_SETOPTIONS)", e))?;
    ptrace::cont(pid, None).map_err(|e| host("ptrace(PTRACE_CONT)", e))?;
    // Step 2 ends at the stub page's int3.
    match leader.wait_stop()? {
        StopReason::Signal(info) if info.signo == Signal::SIGTRAP.0 => {}
        other => {
            return Err(setup_error(
                &leader,
                "waiting for the stub's first int3",
                other,
            ));
        }
    }
    let mut template = Regs::default();
    hostcall::get_regs(pid, &mut template)?;
    if template.rip != base + AFTER_INT3_OFFSET {
        return Err(PlatformError::Internal(format!(
            "stub stopped at {:#x}, expected {:#x}",
            template.rip,
            base + AFTER_INT3_OFFSET
        )));
    }
    let layout = Layout { base, template };
    let mut st = TracerState {
        tracer: Some(hostcall::current_tid()),
        is_stopped: true,
        host_bases: [template.fs_base, template.gs_base],
        cpu: None,
    };
    // Step 3: the rseq registration first, its area is about to disappear.
    let config = hostcall::get_rseq_config(pid)?;
    if config.rseq_abi_pointer != 0 {
        let args = [
            config.rseq_abi_pointer,
            u64::from(config.rseq_abi_size),
            RSEQ_FLAG_UNREGISTER,
            u64::from(config.signature),
            0,
            0,
        ];
        let op = "rseq(RSEQ_FLAG_UNREGISTER)";
        leader.inject_checked(&mut st, &layout, op, Site::Plain, libc::SYS_rseq, args)?;
    }
    let below = [0, base, 0, 0, 0, 0];
    let op = "munmap(below stub)";
    leader.inject_checked(&mut st, &layout, op, Site::Plain, libc::SYS_munmap, below)?;
    let above = base + PAGE_SIZE;
    if above < TASK_SIZE {
        let args = [above, TASK_SIZE - above, 0, 0, 0, 0];
        let op = "munmap(above stub)";
        leader.inject_checked(&mut st, &layout, op, Site::Plain, libc::SYS_munmap, args)?;
    }
    // Step 4.
    let worker = clone_worker(&leader, &mut st, &layout)?;
    leader.park_and_detach(&mut st, &layout)?;
    let Some(pidfd) = guard.pidfd.take() else {
        return Err(PlatformError::Internal("stub pidfd lost".into()));
    };
    tracing::debug!(target: "platform::ptrace", pid = pid.as_raw(), "stub ready");
    Ok(Spawned {
        pid,
        pidfd,
        layout,
        worker,
    })
}

/// Injects the clone of a new stub thread through `via` (stopped, traced by the caller); the
/// child parks itself untraced.
pub(crate) fn clone_worker(
    via: &StubThread,
    st: &mut TracerState,
    layout: &Layout,
) -> Result<Arc<StubThread>, PlatformError> {
    let args = [STUB_CLONE_FLAGS, 0, 0, 0, 0, 0];
    let op = "clone(stub thread)";
    let raw = via.inject_checked(st, layout, op, Site::Clone, libc::SYS_clone, args)?;
    let tid = i32::try_from(raw)
        .map_err(|_| PlatformError::Internal(format!("clone returned {raw:#x}")))?;
    StubThread::new(Pid::from_raw(tid))
}

fn setup_error(leader: &StubThread, what: &str, reason: StopReason) -> PlatformError {
    match reason {
        StopReason::Exited(code) => PlatformError::Internal(format!(
            "ptrace stub setup failed at {} (exit status {code})",
            stub::child_step_name(code)
        )),
        other => leader.unexpected_stop(what, other),
    }
}
