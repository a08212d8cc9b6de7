//! The forker: one dedicated, long-lived host thread that creates every stub process
//! ([`spawn`] sends it a request over a channel and waits for the answer).
//!
//! # Master stub
//!
//! Forking the sentry itself for every address space costs in proportion to the sentry
//! (page tables and VMAs of thousands of thread stacks and the heap are copied, measured
//! ≈0.3-1 ms and growing), and every such fork makes the sentry's private pages
//! copy-on-write, so the sentry takes COW faults afterwards. As in gVisor, the sentry is
//! forked only once per platform, into a *master stub*; every stub process the sentry uses
//! is a fork of the master, which has a one-page address space and so forks in ≈tens of µs.
//!
//! The master is created on first use, keyed by the platform ([`MasterRef`]): each platform
//! has its own MemoryFile, which the master passes on as fd 3. It is killed when the last
//! holder of its `MasterRef` (the platform and every stub process forked from it) is dropped.
//! The master never runs application code and stays *traced and stopped* by the forker
//! thread for its whole life (only the forker injects into it, so the forker's channel is
//! still the only way to a new stub).
//!
//! # Why a dedicated thread
//!
//! A process dies with its *parent thread* if it asked to (PR_SET_PDEATHSIG fires when the
//! thread that forked it exits, prctl(2)), which is what keeps a crashed sentry from leaking
//! stubs. The forker never exits, so the master's death signal fires exactly when the sentry
//! process dies; each stub sets PR_SET_PDEATHSIG(SIGKILL) itself and so dies with the master
//! (its parent thread is the master's only thread). A stub also carries PTRACE_O_EXITKILL
//! from its tracers. It also means `new_address_space` may be called from any thread, and
//! that new stubs inherit the forker's (unpinned) CPU affinity, not a task thread's.
//!
//! # Master setup (once per platform, on the forker thread)
//!
//! 1. fork the sentry; the child sets PR_SET_PDEATHSIG, ignores the asynchronous signals
//!    and SIGCHLD, keeps only the MemoryFile (as fd `STUB_FD`), calls PTRACE_TRACEME and
//!    stops itself with SIGSTOP;
//! 2. PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD, continue; the child installs its seccomp
//!    filter and jumps to the stub page's `int3`;
//! 3. at that SIGTRAP: unregister the rseq(2) area the child inherited (read with
//!    PTRACE_GET_RSEQ_CONFIGURATION; glibc registers one per thread, and once its page is
//!    unmapped the kernel SIGSEGVs the stub at the next signal or preemption), then munmap
//!    everything but the stub page. The master stays stopped there.
//!
//! # A new stub (every `new_address_space`, on the forker thread)
//!
//! 1. inject clone(CLONE_PTRACE | SIGCHLD) at the stub page's fork site into the master
//!    (rbx = the master's pid); the master traps at the site's `int3` with the child's pid;
//! 2. CLONE_PTRACE makes the child a tracee of the master's tracer, the forker thread, from
//!    its first instruction, with a SIGSTOP pending: wait for that stop (suppress it), then
//!    continue the child through its setup path (PR_SET_PDEATHSIG(SIGKILL); exit unless
//!    getppid() is the master) to the child's `int3`;
//! 3. clone the first *worker* thread through the child's leader (the worker parks itself),
//!    then park the leader and PTRACE_DETACH it.
//!
//! The forker traces the child only during setup, so setup needs no SEIZE/INTERRUPT and
//! cannot race with the child's own syscalls.
//!
//! # Spare stubs
//!
//! After answering a request the forker forks the *next* stub of that platform at once and
//! keeps it (one per master), so the next `new_address_space` — a fork(2) or execve(2) in the
//! sandbox — gets a ready stub without waiting the ≈130 µs of a fork from the master; the
//! fork of the spare overlaps with the requester's own work. Spares sit in a shared map
//! (`SPARES`), so a requester takes one without a round trip to the forker thread (a
//! cross-CPU wake-up each way) and only posts a refill request. A spare is an ordinary
//! parked stub that has never run application code; it is killed with its master. It does
//! not hold the platform's `MasterRef` (that would keep the master alive forever), the
//! request that takes it supplies one.
//!
//! # Who reaps what
//!
//! A stub's leader is a child of the master, which ignores SIGCHLD, so the kernel reaps the
//! stub when its last thread is gone; a worker attached to a sentry thread is reaped by its
//! tracer (`address_space`). The sentry can neither wait for a stub (not its child) nor needs
//! to: it waits for the stub's pidfd to become readable (`hostcall::wait_pidfd_released`).
//! The master is the forker's child and tracee; the forker reaps it when retiring it.
//!
//! The thread-group leader of a stub never runs application code: it stays parked and
//! untraced for the life of the process. A traced leader would be a trap: Linux does not
//! report a leader's death to its tracer until every other thread of the group has been
//! reaped (kernel/exit.c, `delay_group_leader`), so a tracer waiting on a killed leader would
//! hang until *other* tracers reaped their threads. Worker threads report their own deaths at
//! once. (The master is a single-threaded traced leader, so it has no such trap.)

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abi::signal::Signal;
use nix::sys::ptrace;
use nix::unistd::{Pid, getpid};
use platform::{PlatformError, Regs};
use seccompiler::BpfProgram;

use crate::decode::{StopReason, WaitEvent};
use crate::hostcall;
use crate::seccomp::{MASTER_FORK_FLAGS, RSEQ_FLAG_UNREGISTER, STUB_CLONE_FLAGS};
use crate::stub::{
    self, AFTER_FORK_CHILD_INT3_OFFSET, AFTER_INT3_OFFSET, INT3_OFFSET, PAGE_SIZE, TASK_SIZE,
};
use crate::thread::{Layout, Site, StubThread, TracerState, host};

/// How long the sentry waits for a killed stub to be released by the kernel after its pidfd
/// became readable (a few µs in practice).
pub(crate) const RELEASE_PATIENCE: Duration = Duration::from_secs(1);

/// What a new stub needs from the platform.
#[derive(Debug, Clone)]
pub(crate) struct SpawnParams {
    /// The MemoryFile; valid while `spawn` runs (the caller holds the platform).
    pub memfd: RawFd,
    pub stub_base: u64,
    pub filter: Arc<BpfProgram>,
}

/// One platform's claim on its master stub (module doc). Held by the platform and by every
/// stub process; dropping the last one asks the forker to kill and reap the master.
#[derive(Debug)]
pub(crate) struct MasterRef {
    id: u64,
}

impl MasterRef {
    pub(crate) fn new() -> Arc<MasterRef> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(MasterRef {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        })
    }
}

impl Drop for MasterRef {
    fn drop(&mut self) {
        // No forker yet means no master was ever created.
        let forker = FORKER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = forker.as_ref() {
            let _ = tx.send(Request::Retire { master: self.id });
        }
    }
}

/// A freshly set-up stub process: its leader is parked forever, `worker` is parked and ready
/// to become the first context.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub layout: Layout,
    pub worker: Arc<StubThread>,
    /// The master this stub was forked from (kept alive as long as the stub).
    pub master: Arc<MasterRef>,
    pub master_pid: Pid,
}

enum Request {
    Spawn {
        master: Arc<MasterRef>,
        params: SpawnParams,
        reply: mpsc::SyncSender<Result<Spawned, PlatformError>>,
    },
    /// A spare of this master was taken: fork the next one.
    Refill {
        master: u64,
    },
    Retire {
        master: u64,
    },
}

/// The forker's request channel, started on first use.
static FORKER: Mutex<Option<mpsc::Sender<Request>>> = Mutex::new(None);

/// Forks and sets up a stub on the forker thread (module doc); callable from any thread.
pub(crate) fn spawn(
    master: &Arc<MasterRef>,
    params: SpawnParams,
) -> Result<Spawned, PlatformError> {
    let spare = spares().as_mut().and_then(|m| m.remove(&master.id));
    if let Some(Spare {
        fresh: (pid, pidfd, layout, worker),
        master_pid,
    }) = spare
    {
        let forker = FORKER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = forker.as_ref() {
            let _ = tx.send(Request::Refill { master: master.id });
        }
        return Ok(Spawned {
            pid,
            pidfd,
            layout,
            worker,
            master: Arc::clone(master),
            master_pid,
        });
    }
    let (reply, answer) = mpsc::sync_channel(1);
    let request = Request::Spawn {
        master: Arc::clone(master),
        params,
        reply,
    };
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
            let mut masters: HashMap<u64, Master> = HashMap::new();
            // The sender lives in a static, so this loop never ends: the thread must outlive
            // every stub (module doc).
            for request in rx {
                match request {
                    Request::Spawn {
                        master,
                        params,
                        reply,
                    } => {
                        let id = master.id;
                        let result = spawn_here(&mut masters, master, &params);
                        let _ = reply.send(result);
                        // Fork the next stub now, while the requester goes on.
                        if let Some(m) = masters.get_mut(&id) {
                            m.make_spare(id);
                        }
                    }
                    Request::Refill { master } => {
                        if let Some(m) = masters.get_mut(&master) {
                            m.make_spare(master);
                        }
                    }
                    Request::Retire { master } => {
                        if let Some(m) = masters.remove(&master) {
                            m.kill_and_reap(master);
                        }
                    }
                }
            }
        })
        .map_err(|source| PlatformError::Host {
            op: "spawn(stub forker thread)",
            source,
        })?;
    Ok(tx)
}

/// Kills and reaps a half-set-up stub when dropped (error paths on the forker thread, which
/// is the stub's tracer then, or its parent for the master).
struct KillOnDrop {
    pidfd: Option<OwnedFd>,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pidfd) = self.pidfd.take() {
            let _ = hostcall::pidfd_send_signal(pidfd.as_fd(), Signal::SIGKILL);
            let _ = hostcall::reap_pidfd(pidfd.as_fd());
            let _ = hostcall::wait_pidfd_released(pidfd.as_fd(), RELEASE_PATIENCE);
        }
    }
}

/// A master stub, owned by the forker thread: traced by it and stopped at an `int3`.
struct Master {
    leader: Arc<StubThread>,
    pidfd: OwnedFd,
    layout: Layout,
    st: TracerState,
}

/// A set-up stub not yet handed out: pid, pidfd, layout, parked worker.
type Fresh = (Pid, OwnedFd, Layout, Arc<StubThread>);

/// A spare stub of one master, with that master's pid.
struct Spare {
    fresh: Fresh,
    master_pid: Pid,
}

/// Spare stubs by master id (module doc, "Spare stubs"): taken by requesters directly, with
/// no round trip to the forker thread; refilled by the forker.
static SPARES: Mutex<Option<HashMap<u64, Spare>>> = Mutex::new(None);

fn spares() -> std::sync::MutexGuard<'static, Option<HashMap<u64, Spare>>> {
    SPARES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Master {
    fn pid(&self) -> Pid {
        self.leader.tid()
    }

    /// SIGKILL and reap (the forker is its parent and tracer). Its stubs die with it
    /// (PR_SET_PDEATHSIG), though normally none but the spare is left when it is retired.
    fn kill_and_reap(self, id: u64) {
        let spare = spares().as_mut().and_then(|m| m.remove(&id));
        if let Some(Spare {
            fresh: (_, pidfd, _, _),
            ..
        }) = spare
        {
            drop(KillOnDrop { pidfd: Some(pidfd) });
        }
        let guard = KillOnDrop {
            pidfd: Some(self.pidfd),
        };
        drop(guard);
        tracing::debug!(target: "platform::ptrace", pid = self.leader.tid().as_raw(),
            "master stub retired");
    }
}

impl Master {
    /// Forks a spare stub for master `id` if it has none (errors are only logged: the next
    /// request forks its own stub and reports them).
    fn make_spare(&mut self, id: u64) {
        let has = spares().as_ref().is_some_and(|m| m.contains_key(&id));
        if has || self.leader.is_dead() || !self.st.is_stopped {
            return;
        }
        match fork_from_master(self) {
            Ok(fresh) => {
                let spare = Spare {
                    fresh,
                    master_pid: self.pid(),
                };
                spares().get_or_insert_with(HashMap::new).insert(id, spare);
            }
            Err(e) => tracing::debug!(target: "platform::ptrace", %e, "no spare stub"),
        }
    }
}

/// A new stub for `master_ref`'s platform, creating its master first if needed.
fn spawn_here(
    masters: &mut HashMap<u64, Master>,
    master_ref: Arc<MasterRef>,
    params: &SpawnParams,
) -> Result<Spawned, PlatformError> {
    let master = match masters.entry(master_ref.id) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => e.insert(create_master(params)?),
    };
    let result = fork_from_master(master);
    let Master { leader, st, .. } = &*master;
    if leader.is_dead() || !st.is_stopped {
        // The master is unusable (killed from outside, or an injection went wrong); the next
        // request creates a new one. Stubs forked from it die with it.
        tracing::warn!(target: "platform::ptrace", pid = leader.tid().as_raw(),
            "master stub broken; replacing it");
        if let Some(m) = masters.remove(&master_ref.id) {
            m.kill_and_reap(master_ref.id);
        }
    }
    let (pid, pidfd, layout, worker) = result?;
    let master_pid = masters
        .get(&master_ref.id)
        .map_or(Pid::from_raw(0), Master::pid);
    Ok(Spawned {
        pid,
        pidfd,
        layout,
        worker,
        master: master_ref,
        master_pid,
    })
}

/// Takes charge of a freshly forked stub `pid` that this thread traces: a pidfd (so the
/// process is killed on any later error), its first thread, and its first stop, which must
/// be the initial SIGSTOP (`what` names the step for errors). Without a pidfd the process is
/// killed and reaped at once (our tracee: its pid cannot be recycled before that).
fn adopt_new_stub(pid: Pid, what: &str) -> Result<(KillOnDrop, Arc<StubThread>), PlatformError> {
    let pidfd = match hostcall::pidfd_open(pid, 0) {
        Ok(fd) => fd,
        Err(e) => {
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
    let guard = KillOnDrop { pidfd: Some(pidfd) };
    let leader = StubThread::new(pid)?;
    match leader.wait_stop()? {
        StopReason::Ignored(sig) if sig == Signal::SIGSTOP.0 => Ok((guard, leader)),
        other => Err(setup_error(&leader, what, other)),
    }
}

/// Steps 1-3 of "Master setup" (module doc), on the forker thread.
fn create_master(params: &SpawnParams) -> Result<Master, PlatformError> {
    let base = params.stub_base;
    let plan = stub::ChildPlan {
        memfd: params.memfd,
        parent: getpid(),
        entry: base + INT3_OFFSET,
        filter: params.filter.as_slice(),
    };
    let pid = stub::fork_stub(&plan)?;
    // Step 1 ends with the child's SIGSTOP (sent by itself: SI_USER, hence "ignored").
    let (mut guard, leader) = adopt_new_stub(pid, "waiting for the stub's SIGSTOP")?;
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
    let Some(pidfd) = guard.pidfd.take() else {
        return Err(PlatformError::Internal("master stub pidfd lost".into()));
    };
    tracing::debug!(target: "platform::ptrace", pid = pid.as_raw(), "master stub ready");
    Ok(Master {
        leader,
        pidfd,
        layout,
        st,
    })
}

/// Steps 1-3 of "A new stub" (module doc), on the forker thread.
fn fork_from_master(master: &mut Master) -> Result<Fresh, PlatformError> {
    let layout = master.layout;
    let master_pid = u64::from(master.pid().as_raw().unsigned_abs());
    let args = [MASTER_FORK_FLAGS, 0, 0, 0, 0, 0];
    let op = "clone(stub process, in the master)";
    let site = Site::Fork { master: master_pid };
    let raw =
        master
            .leader
            .inject_checked(&mut master.st, &layout, op, site, libc::SYS_clone, args)?;
    let pid = Pid::from_raw(
        i32::try_from(raw)
            .map_err(|_| PlatformError::Internal(format!("fork returned {raw:#x}")))?,
    );
    // Step 2: the SIGSTOP CLONE_PTRACE queued (no siginfo: SI_USER, hence "ignored"),
    // suppressed; then the child's setup path up to its int3.
    let (mut guard, leader) = adopt_new_stub(pid, "waiting for the fork's SIGSTOP")?;
    ptrace::cont(pid, None).map_err(|e| host("ptrace(PTRACE_CONT)", e))?;
    match leader.wait_stop()? {
        StopReason::Signal(info) if info.signo == Signal::SIGTRAP.0 => {}
        StopReason::Exited(code) if code == stub::FORK_CHILD_FAILED => {
            return Err(PlatformError::Internal(
                "new stub: prctl(PR_SET_PDEATHSIG) failed or the master died".into(),
            ));
        }
        other => return Err(setup_error(&leader, "waiting for the fork's int3", other)),
    }
    let mut regs = Regs::default();
    hostcall::get_regs(pid, &mut regs)?;
    if regs.rip != layout.base + AFTER_FORK_CHILD_INT3_OFFSET {
        return Err(PlatformError::Internal(format!(
            "new stub stopped at {:#x}, expected {:#x}",
            regs.rip,
            layout.base + AFTER_FORK_CHILD_INT3_OFFSET
        )));
    }
    let mut st = TracerState {
        tracer: Some(hostcall::current_tid()),
        is_stopped: true,
        host_bases: [regs.fs_base, regs.gs_base],
        cpu: None,
    };
    // Step 3.
    let worker = clone_worker(&leader, &mut st, &layout)?;
    leader.park_and_detach(&mut st, &layout)?;
    let Some(pidfd) = guard.pidfd.take() else {
        return Err(PlatformError::Internal("stub pidfd lost".into()));
    };
    tracing::debug!(target: "platform::ptrace", pid = pid.as_raw(), "stub ready");
    Ok((pid, pidfd, layout, worker))
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
