//! The kernel proper: the [`Kernel`] (state shared by every task of one sandbox), the task tree
//! (processes, threads, ids), and the [`Task`] (one application thread) with its run loop.
//!
//! Objects and who may touch them:
//! - [`Task`] — one application thread; owned by the host thread that runs it. Its registers,
//!   platform context, credentials and restart state are reachable only through `&mut Task`.
//! - [`TaskShared`] (`task.rs`) — the part of a task other threads reach: its ids, waiter,
//!   interrupter and per-thread signal state (mask, pending), behind locks.
//! - [`ThreadGroup`] (`thread_group.rs`) — a process: signal actions, process-wide pending
//!   signals, members, group exit and group stop, rlimits, the queue its `wait4`ers sleep on.
//! - [`TaskTree`] (`tree.rs`) — the pid namespace: tid/tgid allocation, the parent/child
//!   relation, process groups and sessions, zombies. One lock, like Linux's tasklist_lock.
//!
//! The run loop (`Task::run`, one host thread per task) is: deliver pending signals → switch
//! into the application → handle the `SwitchOutcome` (a syscall through the table, a fault
//! through `mm`, a synchronous signal) → repeat, until the task exits.
//!
//! Lock order (outermost first):
//!   Kernel::tree (TaskTree)
//!     ThreadGroup::sig (signal state of a process)
//!       TaskShared::sig (one thread's mask and pending set)
//!         wait queues and waiters (vfs::waiter)
//!   FdTable, FsContext, futex buckets and mm are taken with none of the above held, except
//!   that exit paths read them after leaving the tree. An FdTable releasing POSIX locks on
//!   close takes the file's stat and then the vfs lock table inside its own lock.

pub mod clone;
pub mod creds;
pub mod epoll;
pub mod eventfd;
pub mod exec;
pub mod fd_table;
pub mod futex;
pub mod oom;
pub mod pipe;
pub mod procinfo;
pub mod signal;
pub mod signalfd;
pub mod task;
pub mod thread_group;
mod threads;
pub mod timer;
pub mod tree;
pub mod wait;

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use abi::uts::Utsname;
use platform::{Platform, PlatformError};
use vfs::MountNamespace;
use vfs::memfile::MemoryFile;

pub use fd_table::{FdEntry, FdTable};
pub use task::{Credentials, Spawn, Task, TaskCreateError, TaskMemory, TaskShared, VfsMappedFile};
pub use thread_group::ThreadGroup;
pub use tree::TaskTree;

use crate::strace::Strace;

/// How a task or process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit/exit_group with this status (low 8 bits significant).
    Exited(i32),
    /// Killed by this signal.
    Signaled(abi::signal::Signal),
}

impl ExitStatus {
    /// The shell's view: the exit code, or 128 + the signal number.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c & 0xff,
            ExitStatus::Signaled(s) => 128 + s.0,
        }
    }

    /// The wait(2) status word: `code << 8` for an exit, the signal number for a kill (with
    /// 0x80 for a core dump, never set: the sandbox writes no cores).
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => (c & 0xff) << 8,
            ExitStatus::Signaled(s) => s.0 & 0x7f,
        }
    }
}

/// Configuration of a kernel, fixed at boot.
#[derive(Debug)]
pub struct KernelConfig {
    /// uname(2) values.
    pub uts: Utsname,
    /// Strace settings.
    pub strace: Strace,
    /// The most tasks the sandbox may hold (at most [`MAX_TASKS`]).
    pub max_tasks: usize,
}

/// The most tasks (threads) one sandbox may hold at once: a fork bomb meets EAGAIN here even if
/// RLIMIT_NPROC was raised. Each task is a host thread plus a stub thread.
pub const MAX_TASKS: usize = 4096;

/// What ended the sandbox, once decided.
#[derive(Debug, Default)]
struct Outcome {
    /// init's exit status.
    init_status: Option<ExitStatus>,
    /// A platform failure that ended the sandbox.
    failure: Option<String>,
    /// Host threads still running a task.
    live_threads: usize,
}

/// State shared by all tasks of one sandbox.
#[derive(Debug)]
pub struct Kernel {
    pub platform: Arc<dyn Platform>,
    pub memfile: Arc<MemoryFile>,
    pub mounts: Arc<MountNamespace>,
    /// The unmounted tmpfs memfd_create(2) files live in.
    pub memfds: vfs::tmpfs::MemfdFs,
    pub uts: Utsname,
    pub strace: Strace,
    /// When the sandbox booted, for sysinfo(2) uptime.
    pub boot: Instant,
    /// CPUs the sandbox may use (sched_getaffinity), counted before any thread is pinned.
    pub ncpus: usize,
    /// The task tree (the sandbox's one pid namespace).
    pub(crate) tree: Mutex<TaskTree>,
    /// The futex table.
    pub(crate) futexes: futex::FutexTable,
    /// The timer thread's state.
    pub(crate) timers: timer::TimerService,
    /// The clocks the application sees (the one time source of the vDSO and the syscalls).
    pub clocks: Arc<crate::time::Clocks>,
    /// The vDSO and its time page, mapped into every new image (None if the MemoryFile
    /// could not hold them: then programs make the syscalls, as without a vDSO).
    pub vdso: Option<crate::loader::vdso::Vdso>,
    outcome: Mutex<Outcome>,
    outcome_cv: Condvar,
    /// Host threads for tasks, reused (`threads.rs`).
    threads: Arc<threads::TaskThreads>,
    /// The OOM killer's victim in progress (`oom.rs`).
    pub(crate) oom: Mutex<oom::OomState>,
    /// Processes the runtime added (`exec_process`) whose exit it waits for, by tgid.
    exec_waiters: Mutex<std::collections::HashMap<i32, std::sync::mpsc::Sender<ExitStatus>>>,
    /// `rvisor pause`: tasks do not enter application code while set.
    paused: Mutex<bool>,
    /// The same, read without the lock by every task before it enters application code.
    paused_hint: std::sync::atomic::AtomicBool,
    /// The sandbox's TCP/IP stack, made at the first AF_INET/AF_INET6 socket.
    net: std::sync::OnceLock<Arc<netstack::Stack>>,
    /// net.ipv4.ip_unprivileged_port_start: binding a lower port needs CAP_NET_BIND_SERVICE
    /// (Linux's default 1024; an OCI spec's `linux.sysctl` may lower it, as Docker does).
    pub unprivileged_port_start: std::sync::atomic::AtomicU32,
    paused_cv: Condvar,
}

/// One process of the sandbox as `rvisor ps` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSummary {
    pub pid: i32,
    pub ppid: i32,
    /// The host process running its code (the ptrace platform's stub), if any.
    pub host_pid: Option<i32>,
    pub comm: Vec<u8>,
    pub uid: u32,
    /// Threads alive.
    pub threads: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Kernel {
    /// A kernel over `platform`, with the given mount namespace.
    pub fn new(
        platform: Arc<dyn Platform>,
        memfile: Arc<MemoryFile>,
        mounts: Arc<MountNamespace>,
        config: KernelConfig,
    ) -> Arc<Kernel> {
        let vdso = match crate::loader::vdso::Vdso::new(&memfile) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(target: "sentry::task", %e, "no vDSO: allocating its pages failed");
                None
            }
        };
        let clocks = Arc::new(crate::time::Clocks::for_host(
            vdso.as_ref().map(|v| Arc::clone(v.vvar())),
        ));
        Arc::new(Kernel {
            platform,
            memfds: vfs::tmpfs::MemfdFs::new(Arc::clone(&memfile)),
            memfile,
            mounts,
            uts: config.uts,
            strace: config.strace,
            boot: Instant::now(),
            ncpus: std::thread::available_parallelism().map_or(1, usize::from),
            tree: Mutex::new(TaskTree::new(config.max_tasks.clamp(1, MAX_TASKS))),
            futexes: futex::FutexTable::default(),
            timers: timer::TimerService::default(),
            clocks,
            vdso,
            outcome: Mutex::new(Outcome::default()),
            outcome_cv: Condvar::new(),
            threads: Arc::default(),
            oom: Mutex::new(None),
            exec_waiters: Mutex::default(),
            paused: Mutex::new(false),
            paused_hint: std::sync::atomic::AtomicBool::new(false),
            paused_cv: Condvar::new(),
            net: std::sync::OnceLock::new(),
            unprivileged_port_start: std::sync::atomic::AtomicU32::new(1024),
        })
    }

    /// The sandbox's TCP/IP stack if a socket has made it (/proc/net reads it without making
    /// one).
    pub fn net_stack_if_made(&self) -> Option<Arc<netstack::Stack>> {
        self.net.get().cloned()
    }

    /// The sandbox's TCP/IP stack (made on first use: a sandbox without inet sockets pays
    /// nothing for it). ENOBUFS if it cannot be built.
    pub fn net_stack(&self) -> Result<Arc<netstack::Stack>, abi::Errno> {
        if let Some(s) = self.net.get() {
            return Ok(Arc::clone(s));
        }
        let s = netstack::Stack::new_loopback().map_err(|_| abi::Errno::ENOBUFS)?;
        let s = Arc::clone(self.net.get_or_init(|| s));
        crate::socket::netlink::set_stack(&s);
        Ok(s)
    }

    /// Starts a new process in the running sandbox (`rvisor exec`): no parent inside, its own
    /// session; returns its pid and a receiver of its exit status (disconnected without a
    /// value if the sandbox ends first: the runtime reports that as SIGKILL).
    pub fn exec_process(
        self: &Arc<Self>,
        spawn: Spawn,
    ) -> Result<(i32, std::sync::mpsc::Receiver<ExitStatus>), TaskCreateError> {
        let task = Task::new_process(self, spawn)?;
        let pid = task.tgid();
        let (tx, rx) = std::sync::mpsc::channel();
        lock(&self.exec_waiters).insert(pid, tx);
        if self.start_task(task).is_err() {
            lock(&self.exec_waiters).remove(&pid);
            return Err(TaskCreateError::NoId);
        }
        Ok((pid, rx))
    }

    /// A process without a parent in the sandbox ended (`wait.rs`).
    pub(crate) fn orphan_exited(&self, tgid: i32, status: ExitStatus) {
        if let Some(tx) = lock(&self.exec_waiters).remove(&tgid) {
            let _ = tx.send(status);
        }
    }

    /// Sends `signo` to process `pid` as the runtime does (`rvisor kill`, a signal to an
    /// exec'd process): a sender in an ancestor pid namespace. SIGKILL and SIGSTOP always
    /// reach init; other signals only if init has a handler for them (pid_namespaces(7)), so a
    /// shell as pid 1 survives `docker stop`'s SIGTERM and is killed after the timeout, as
    /// under runc. ESRCH if there is no such process.
    pub fn signal_process(&self, pid: i32, signo: i32) -> Result<(), abi::Errno> {
        let sig = abi::signal::Signal(signo);
        if signo == 0 {
            return self.tree().proc(pid).map(|_| ()).ok_or(abi::Errno::ESRCH);
        }
        if !sig.is_valid() {
            return Err(abi::Errno::EINVAL);
        }
        let tg = self
            .tree()
            .proc(pid)
            .map(|p| Arc::clone(&p.tg))
            .ok_or(abi::Errno::ESRCH)?;
        if pid == 1
            && sig != abi::signal::Signal::SIGKILL
            && sig != abi::signal::Signal::SIGSTOP
            && tg.sig().action(sig).handler == abi::signal::SIG_DFL
        {
            return Ok(());
        }
        let info = abi::signal::SigInfo::new(sig, abi::signal::si_code::SI_USER);
        signal::send(self, &signal::Target::Process(tg), info)
    }

    /// `rvisor kill --all`: `signo` to every process, init last.
    pub fn signal_all(&self, signo: i32) -> Result<(), abi::Errno> {
        let mut pids: Vec<i32> = self.tree().procs.keys().copied().collect();
        pids.sort_unstable_by_key(|&p| (p == 1, p));
        for p in pids {
            match self.signal_process(p, signo) {
                Ok(()) | Err(abi::Errno::ESRCH) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The sandbox's live processes, by pid (`rvisor ps`).
    pub fn processes(&self) -> Vec<ProcessSummary> {
        let tree = self.tree();
        let mut out: Vec<(ProcessSummary, Option<Arc<TaskShared>>)> = tree
            .procs
            .iter()
            .filter(|(_, p)| matches!(p.state, tree::ProcState::Alive))
            .map(|(&pid, p)| {
                let leader = p.threads.first().and_then(|t| tree.tasks.get(t)).cloned();
                (
                    ProcessSummary {
                        pid,
                        ppid: p.parent,
                        host_pid: None,
                        comm: leader.as_ref().map(|l| l.comm_name()).unwrap_or_default(),
                        uid: 0,
                        threads: p.threads.len(),
                    },
                    leader,
                )
            })
            .collect();
        drop(tree);
        for (s, leader) in &mut out {
            if let Some(l) = leader {
                if let Some(mm) = crate::fs::proc::mm_of_task(l) {
                    s.host_pid = mm.address_space().host_pid();
                }
                if let Some(c) = crate::fs::proc::creds_of(self, l.tid()) {
                    s.uid = c.uid;
                }
            }
        }
        let mut out: Vec<ProcessSummary> = out.into_iter().map(|(s, _)| s).collect();
        out.sort_by_key(|s| s.pid);
        out
    }

    /// `rvisor pause` (`true`) and `resume` (`false`): while paused no task enters
    /// application code; tasks running it are pulled out (as for deferred address-space
    /// work) and wait at the top of their loop. Tasks blocked in the sentry stay blocked and
    /// stop when their call returns. Timers keep running; what they deliver waits too.
    pub fn set_paused(&self, on: bool) {
        *lock(&self.paused) = on;
        // Set before the pokes below (they make tasks re-read it), cleared before the wake-up.
        self.paused_hint
            .store(on, std::sync::atomic::Ordering::SeqCst);
        if on {
            let tasks: Vec<Arc<TaskShared>> = self.tree().tasks.values().cloned().collect();
            for t in tasks {
                t.poke();
            }
        } else {
            self.paused_cv.notify_all();
        }
    }

    /// Changes the task limit (`rvisor update --pids-limit`; at most [`MAX_TASKS`]).
    pub fn set_max_tasks(&self, n: usize) {
        self.tree().set_max_tasks(n);
    }

    /// CPU time (user, system) of application code in the live processes, as far as the
    /// platform measures it (`rvisor events --stats`).
    pub fn cpu_time(&self) -> (std::time::Duration, std::time::Duration) {
        let leaders: Vec<Arc<TaskShared>> = {
            let tree = self.tree();
            tree.procs
                .values()
                .filter_map(|p| p.threads.first().and_then(|t| tree.tasks.get(t)).cloned())
                .collect()
        };
        let mut user = std::time::Duration::ZERO;
        let mut system = std::time::Duration::ZERO;
        for l in leaders {
            if let Some(t) =
                crate::fs::proc::mm_of_task(&l).and_then(|mm| mm.address_space().cpu_time())
            {
                user = user.saturating_add(t.user);
                system = system.saturating_add(t.system);
            }
        }
        (user, system)
    }

    /// Whether the sandbox is paused.
    pub fn is_paused(&self) -> bool {
        self.paused_hint.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Called by a task before it enters application code: waits while the sandbox is paused,
    /// unless `shared` has been killed (a kill of a paused container, or the sandbox ending).
    pub(crate) fn wait_while_paused(&self, shared: &TaskShared) {
        let mut p = lock(&self.paused);
        while *p && !shared.sig().killed {
            shared.set_run_state(task::RunState::Stopped);
            p = self
                .paused_cv
                .wait_timeout(p, std::time::Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        shared.set_run_state(task::RunState::Running);
    }

    /// The sandbox's memory limit in bytes (`None`: unlimited). It is kept by the MemoryFile,
    /// which charges every page against it (`vfs::memfile`); set it there
    /// (`MemoryFile::set_limit`) before or after building the kernel.
    pub fn memory_limit(&self) -> Option<u64> {
        self.memfile.limit()
    }

    /// The task tree, locked.
    pub(crate) fn tree(&self) -> MutexGuard<'_, TaskTree> {
        lock(&self.tree)
    }

    /// Starts `task` on a new host thread. EAGAIN if the host refuses a thread.
    pub(crate) fn start_task(self: &Arc<Self>, task: Task) -> Result<(), abi::Errno> {
        lock(&self.outcome).live_threads += 1;
        match self.threads.run(task) {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(target: "sentry::task", %e, "spawning a task thread failed");
                self.thread_finished();
                Err(abi::Errno::EAGAIN)
            }
        }
    }

    /// A task's thread finished running it (`threads.rs`).
    pub(crate) fn thread_finished(&self) {
        let mut o = lock(&self.outcome);
        o.live_threads = o.live_threads.saturating_sub(1);
        self.outcome_cv.notify_all();
    }

    /// Runs `init` (pid 1) until the sandbox ends: init exits (every other process is then
    /// killed, as when a pid namespace's init dies) or a platform failure ends everything.
    /// Returns once no task thread is left, so no stub process outlives the call.
    pub fn run_init(self: &Arc<Self>, init: Task) -> Result<ExitStatus, PlatformError> {
        timer::TimerService::start(self);
        self.clocks.start();
        self.start_task(init)
            .map_err(|_| PlatformError::Internal("cannot start the init task thread".into()))?;
        let mut o = lock(&self.outcome);
        while o.init_status.is_none() && o.failure.is_none() {
            o = self
                .outcome_cv
                .wait(o)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(o);
        // Whatever ended the sandbox, nothing may keep running.
        signal::kill_all(self, None);
        let mut o = lock(&self.outcome);
        while o.live_threads > 0 {
            o = self
                .outcome_cv
                .wait(o)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.timers.stop();
        self.clocks.stop();
        if let Some(f) = o.failure.take() {
            return Err(PlatformError::Internal(f));
        }
        Ok(o.init_status.unwrap_or(ExitStatus::Exited(0)))
    }

    /// Delivers a signal the sandbox received from the host (the runtime forwarding a `kill`
    /// of `rvisor` itself) to init, as a signal from outside its pid namespace: unlike a
    /// sender inside, it reaches init even when init has no handler (SIGTERM then ends it).
    pub fn signal_init_from_host(&self, signo: i32) {
        let sig = abi::signal::Signal(signo);
        if !sig.is_valid() {
            return;
        }
        let tg = self.tree().proc(1).map(|p| Arc::clone(&p.tg));
        if let Some(tg) = tg {
            let info = abi::signal::SigInfo::new(sig, abi::signal::si_code::SI_USER);
            let _ = signal::send(self, &signal::Target::Process(tg), info);
        }
    }

    /// init exited with `status`: the sandbox ends.
    pub(crate) fn init_exited(&self, status: ExitStatus) {
        let mut o = lock(&self.outcome);
        o.init_status.get_or_insert(status);
        self.outcome_cv.notify_all();
    }

    /// A platform failure in some task: the sandbox ends with an error.
    pub(crate) fn platform_failed(&self, e: &PlatformError) {
        tracing::error!(target: "sentry::task", %e, "platform failure: ending the sandbox");
        let mut o = lock(&self.outcome);
        o.failure.get_or_insert_with(|| e.to_string());
        self.outcome_cv.notify_all();
    }
}
