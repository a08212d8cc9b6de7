//! A task: one application thread — what only its own host thread touches ([`Task`]), what
//! other threads reach ([`TaskShared`]) — and the loop that runs it.
//!
//! The run loop (`Task::run`): resolve signals and syscall restarts → switch into the app →
//! handle the outcome → repeat, until the task exits; then `exit` releases everything the
//! thread held (its stub thread first, on this host thread, as the platform requires) and
//! makes the process a zombie if it was the last thread.
//!
//! Interrupting a task (a signal, a kill, a stop) is [`TaskShared::kick`]: it sets the task's
//! `hint`, wakes its waiter if it is blocked in the sentry, and interrupts the platform context
//! if it is running application code (`in_app`). The task clears `hint` and re-checks under the
//! signal locks, so a kick can be spurious but never lost.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use abi::signal::{SigAction, SigInfo, SigSet, Signal, si_code};
use abi::time::{RLIM_INFINITY, RLIM_NLIMITS, RLIMIT_NOFILE, RLIMIT_STACK, Rlimit, StackT};
use abi::{Errno, SysResult};
use platform::{Context, FpState, Interrupter, PlatformError, Regs, SwitchOutcome, SyscallAbi};
use vfs::waiter::{Waiter, WakeReason};
use vfs::{Creds, Lookup, OpenFile, VfsPath};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::thread_group::{SigPending, ThreadGroup};
use super::tree::{ProcRec, ProcState, StopReport};
use super::{ExitStatus, FdTable, Kernel};
use crate::loader::{self, ExecArgs};
use crate::mm::{FaultError, MappedFile, MemoryManager};
use crate::syscalls::{SyscallArgs, SyscallReturn, table};

/// Setup failures when creating the first task of a sandbox. Each names what failed, for the
/// CLI's one-line error.
#[derive(Debug, thiserror::Error)]
pub enum TaskCreateError {
    /// The executable could not be found or opened.
    #[error("{path}: {errno}")]
    Open { path: String, errno: Errno },
    /// The executable could not be loaded.
    #[error("{path}: cannot execute: {errno}")]
    Load { path: String, errno: Errno },
    /// The platform failed.
    #[error("platform: {0}")]
    Platform(#[from] PlatformError),
    /// The task tree is full (cannot happen for init).
    #[error("no task id available")]
    NoId,
}

/// The credentials of a task: real/effective/saved/filesystem uids and gids, supplementary
/// groups and capability sets. The rules that change them are in `kernel/creds.rs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    /// Capability sets (bit `n` = capability `n`, `abi::cap`).
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    pub cap_bounding: u64,
    /// The ambient set (PR_CAP_AMBIENT): kept across execve of unprivileged programs;
    /// always within permitted ∩ inheritable.
    pub cap_ambient: u64,
    /// PR_SET_KEEPCAPS: keep the permitted set when every uid leaves 0 (SECBIT_KEEP_CAPS).
    pub keep_caps: bool,
    /// The other securebits (PR_SET_SECUREBITS; `kernel::creds::SECBIT_*`).
    pub securebits: u32,
}

impl Credentials {
    /// Root with no supplementary groups and every capability.
    pub fn root() -> Credentials {
        let all = abi::cap::CAP_FULL_SET;
        Credentials {
            uid: 0,
            euid: 0,
            suid: 0,
            fsuid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            fsgid: 0,
            groups: Vec::new(),
            cap_effective: all,
            cap_permitted: all,
            cap_inheritable: 0,
            cap_bounding: all,
            cap_ambient: 0,
            keep_caps: false,
            securebits: 0,
        }
    }

    /// An ordinary user: every id `uid`/`gid`, no capabilities (the bounding set full).
    pub fn user(uid: u32, gid: u32) -> Credentials {
        Credentials {
            uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            cap_effective: 0,
            cap_permitted: 0,
            ..Credentials::root()
        }
    }

    /// Whether capability `cap` is in the effective set.
    pub fn has_cap(&self, cap: u32) -> bool {
        self.cap_effective & abi::cap::bit(cap) != 0
    }

    /// Filesystem credentials for permission checks.
    pub fn fs_creds(&self) -> Creds {
        Creds {
            uid: self.fsuid,
            gid: self.fsgid,
            groups: self.groups.clone(),
            caps: self.cap_effective,
        }
    }
}

/// The filesystem context: root, working directory and umask (shared by CLONE_FS).
#[derive(Clone, Debug)]
pub struct FsContext {
    pub root: VfsPath,
    pub cwd: VfsPath,
    pub umask: u32,
}

/// What starts a new process image.
#[derive(Debug)]
pub struct Spawn {
    /// Path of the executable as given (absolute, or relative to `cwd`).
    pub path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// Working directory (absolute, in the sandbox); "/" if it does not resolve to a directory.
    pub cwd: Vec<u8>,
    /// stdin, stdout, stderr.
    pub stdio: [Arc<OpenFile>; 3],
    pub creds: Credentials,
    /// The file-creation mask (022 for `rvisor do`; an OCI spec's `process.user.umask`).
    pub umask: u32,
    /// PR_SET_NO_NEW_PRIVS from the start (an OCI spec's `process.noNewPrivileges`).
    pub no_new_privs: bool,
    /// Resource limits that replace the defaults: (RLIMIT_*, soft, hard) (an OCI spec's
    /// `process.rlimits`).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// A terminal (a pty slave, e.g. `tty::console::ConsoleHandle::ctty`) that becomes the
    /// controlling terminal of init's session (init leads session 1, its foreground group).
    pub ctty: Option<Arc<OpenFile>>,
}

/// What a task is doing, for /proc and for wait/stop bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RunState {
    /// Running application or sentry code ("R").
    Running = 0,
    /// Blocked in the sentry ("S").
    Blocked = 1,
    /// In a group stop ("T").
    Stopped = 2,
    /// Exited ("Z" for a leader whose process is a zombie, "X" otherwise).
    Dead = 3,
}

/// One thread's own signal state. Guarded by `TaskShared::sig`, taken inside
/// `ThreadGroup::sig` whenever both are needed.
#[derive(Debug, Default)]
pub struct ThreadSig {
    /// Blocked signals.
    pub mask: SigSet,
    /// Thread-directed pending signals.
    pub pending: SigPending,
    /// The thread must exit (group exit, exec of another thread, SIGKILL).
    pub killed: bool,
}

/// The part of a task other threads reach. See the module doc.
pub struct TaskShared {
    tid: AtomicI32,
    /// The process. Fixed for the task's life.
    pub tg: Arc<ThreadGroup>,
    /// Where the task sleeps when blocked in the sentry.
    pub waiter: Arc<Waiter>,
    /// Something may need the task's attention (see the module doc).
    hint: AtomicBool,
    /// The task is inside (or about to enter) `Context::switch`.
    in_app: AtomicBool,
    interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
    pub(crate) sig: Mutex<ThreadSig>,
    /// The thread name (`comm`).
    pub comm: Mutex<[u8; 16]>,
    state: AtomicU8,
    /// The nice value (-20..=19, setpriority(2)); inherited by clone, kept across exec. The
    /// sandbox does not schedule: it is reported, not enforced.
    nice: AtomicI32,
}

impl std::fmt::Debug for TaskShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskShared")
            .field("tid", &self.tid())
            .field("tgid", &self.tg.tgid)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TaskShared {
    pub(crate) fn new(tid: i32, tg: Arc<ThreadGroup>, mask: SigSet, comm: [u8; 16]) -> Arc<Self> {
        Arc::new(TaskShared {
            tid: AtomicI32::new(tid),
            tg,
            waiter: Waiter::new(),
            hint: AtomicBool::new(false),
            in_app: AtomicBool::new(false),
            interrupter: Mutex::new(None),
            sig: Mutex::new(ThreadSig {
                mask,
                ..ThreadSig::default()
            }),
            comm: Mutex::new(comm),
            state: AtomicU8::new(RunState::Running as u8),
            nice: AtomicI32::new(0),
        })
    }

    /// The thread id.
    pub fn tid(&self) -> i32 {
        self.tid.load(Ordering::Relaxed)
    }

    pub(crate) fn set_tid(&self, tid: i32) {
        self.tid.store(tid, Ordering::Relaxed);
    }

    /// The thread's nice value.
    pub fn nice(&self) -> i32 {
        self.nice.load(Ordering::Relaxed)
    }

    pub(crate) fn set_nice(&self, nice: i32) {
        self.nice.store(nice, Ordering::Relaxed);
    }

    /// The thread's run state.
    pub fn run_state(&self) -> RunState {
        match self.state.load(Ordering::Relaxed) {
            0 => RunState::Running,
            1 => RunState::Blocked,
            2 => RunState::Stopped,
            _ => RunState::Dead,
        }
    }

    pub(crate) fn set_run_state(&self, s: RunState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// The thread's signal state, locked (take `tg.sig` first if you need both).
    pub(crate) fn sig(&self) -> MutexGuard<'_, ThreadSig> {
        lock(&self.sig)
    }

    /// Makes the task pass through its loop before it next runs application code (there it
    /// applies deferred address-space work), without disturbing a blocking wait: the hint is
    /// set before `in_app` is read, and the loop reads the hint after storing `in_app`, so
    /// either it sees the hint or we see it in application code and interrupt it.
    pub(crate) fn poke(&self) {
        self.hint.store(true, Ordering::SeqCst);
        if self.in_app.load(Ordering::SeqCst)
            && let Some(i) = lock(&self.interrupter).as_ref()
        {
            i.interrupt();
        }
    }

    /// Gets the task's attention: it re-checks signals and kills before it next runs app code,
    /// and a blocking wait returns.
    pub fn kick(&self) {
        self.hint.store(true, Ordering::SeqCst);
        self.waiter.kick();
        if self.in_app.load(Ordering::SeqCst)
            && let Some(i) = lock(&self.interrupter).as_ref()
        {
            i.interrupt();
        }
    }
}

/// How a task's run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskExit {
    /// exit(2) of this thread with this code (the process ends if it was the last thread).
    Thread(i32),
    /// The thread leaves because its process is exiting with this status.
    Group(ExitStatus),
}

/// A syscall that returned ERESTART* and must be restarted or turned into EINTR once the
/// signal question is settled.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingRestart {
    pub errno: Errno,
    pub nr: u64,
}

/// What `restart_syscall(2)` resumes (set by a handler returning ERESTART_RESTARTBLOCK).
#[derive(Clone, Copy, Debug)]
pub(crate) enum RestartBlock {
    /// A sleep until this monotonic deadline; `rem` is where nanosleep reports what is left.
    Sleep { deadline: Instant, rem: u64 },
}

/// Reads a file's pages for `mm` (file mappings and the ELF loader) through the VFS. The
/// second field is the file's token for a `MAP_SHARED` mapping that may become writable
/// (`OpenFile::writable_map_token`), held as long as any VMA holds this object.
#[derive(Debug)]
pub struct VfsMappedFile(pub Arc<OpenFile>, pub Option<vfs::MapToken>);

impl MappedFile for VfsMappedFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.0.pread(buf, off)
    }
    fn shared_page(&self, file_page: u64) -> Option<SysResult<u64>> {
        self.0.memfile_page(file_page)
    }
    fn shared_pages(&self, file_page: u64, max: u64) -> Option<SysResult<(u64, u64)>> {
        self.0.memfile_pages(file_page, max)
    }
    fn page_cached(&self, file_page: u64) -> bool {
        self.0.page_cached(file_page)
    }
    fn sync(&self) -> SysResult<()> {
        self.0.sync_mappings()
    }
    fn inode_key(&self) -> Option<usize> {
        self.0.path().map(|p| inode_key(p.inode()))
    }
}

/// The identity [`MappedFile::inode_key`] gives a file: its inode's address.
pub(crate) fn inode_key(inode: &Arc<dyn vfs::Inode>) -> usize {
    Arc::as_ptr(inode).cast::<()>() as usize
}

impl Task {
    /// After this task truncated the file `key` to `size`: every address space that maps it
    /// stops backing the pages past the end — ours now, the others' from one of their own
    /// threads, pulled out of application code for it (`MemoryManager::defer_truncation`).
    pub(crate) fn file_truncated(&self, key: usize, size: u64) -> SysResult<()> {
        self.mm.file_truncated(key, size)?;
        let tasks: Vec<Arc<TaskShared>> = self.kernel.tree().tasks.values().cloned().collect();
        let mut done: Vec<Arc<MemoryManager>> = vec![Arc::clone(&self.mm)];
        for t in tasks {
            let Some(mm) = crate::fs::proc::mm_of_task(&t) else {
                continue;
            };
            if done.iter().any(|d| Arc::ptr_eq(d, &mm)) {
                // One thread of an address space is enough; ours is done.
                continue;
            }
            if mm.maps_file(key) {
                mm.defer_truncation(key, size);
                t.poke();
            }
            done.push(mm);
        }
        Ok(())
    }
}

/// Guest memory as the VFS sees it (ioctl arguments).
#[derive(Debug)]
pub struct TaskMemory<'a>(pub &'a MemoryManager);

impl vfs::UserMemory for TaskMemory<'_> {
    fn copy_in(&self, addr: u64, dst: &mut [u8]) -> SysResult<()> {
        self.0.copy_in(addr, dst)
    }
    fn copy_out(&self, addr: u64, src: &[u8]) -> SysResult<()> {
        self.0.copy_out(addr, src)
    }
}

/// One application thread.
#[derive(Debug)]
pub struct Task {
    pub(crate) kernel: Arc<Kernel>,
    pub(crate) shared: Arc<TaskShared>,
    pub(crate) mm: Arc<MemoryManager>,
    pub(crate) ctx: Box<dyn Context>,
    pub(crate) regs: Regs,
    pub(crate) fds: Arc<Mutex<FdTable>>,
    pub(crate) fs: Arc<Mutex<FsContext>>,
    pub(crate) creds: Credentials,
    pub(crate) altstack: StackT,
    pub(crate) clear_child_tid: u64,
    pub(crate) robust_list: (u64, u64),
    /// prctl(PR_SET_DUMPABLE) state.
    pub(crate) dumpable: bool,
    /// prctl(PR_SET_NO_NEW_PRIVS) state; once set it cannot be cleared.
    pub(crate) no_new_privs: bool,
    /// prctl(PR_SET_PDEATHSIG) signal (0: none).
    pub(crate) pdeath_signal: i32,
    pub(crate) restart: Option<PendingRestart>,
    pub(crate) restart_block: Option<RestartBlock>,
    /// Mask to restore after the next signal delivery (sigsuspend, ppoll, pselect, epoll_pwait).
    pub(crate) saved_mask: Option<SigSet>,
    /// FP state to load before the first switch (copied from the parent at clone/fork).
    pub(crate) initial_fp: Option<FpState>,
    /// CLONE_CHILD_SETTID address, written by the child before it first runs.
    pub(crate) set_child_tid: u64,
    /// A vfork parent waiting for this task to exec or exit.
    pub(crate) vfork_parent: Option<Arc<super::clone::VforkDone>>,
}

/// Default resource limits, as a fresh Linux login would have them (runc's defaults for
/// NOFILE).
pub(crate) fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    let inf = Rlimit {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    };
    let mut l = [inf; RLIM_NLIMITS];
    let set = |l: &mut [Rlimit; RLIM_NLIMITS], r: u32, cur: u64, max: u64| {
        if let Some(s) = usize::try_from(r).ok().and_then(|i| l.get_mut(i)) {
            *s = Rlimit { cur, max };
        }
    };
    set(&mut l, RLIMIT_STACK, 8 << 20, RLIM_INFINITY);
    set(&mut l, RLIMIT_NOFILE, 1024, 1_048_576);
    set(&mut l, abi::time::RLIMIT_CORE, 0, RLIM_INFINITY);
    set(&mut l, abi::time::RLIMIT_MEMLOCK, 8 << 20, 8 << 20);
    let nproc = u64::try_from(super::MAX_TASKS).unwrap_or(4096);
    set(&mut l, abi::time::RLIMIT_NPROC, nproc, nproc);
    set(&mut l, abi::time::RLIMIT_SIGPENDING, 63_459, 63_459);
    set(&mut l, abi::time::RLIMIT_MSGQUEUE, 819_200, 819_200);
    set(&mut l, abi::time::RLIMIT_NICE, 0, 0);
    set(&mut l, abi::time::RLIMIT_RTPRIO, 0, 0);
    l
}

/// The first 15 bytes of the base name of `path`, NUL-padded: a new `comm`.
pub(crate) fn comm_from_path(path: &[u8]) -> [u8; 16] {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
    let mut comm = [0u8; 16];
    for (d, s) in comm.iter_mut().zip(base.iter().take(15)) {
        *d = *s;
    }
    comm
}

impl Task {
    /// Creates the init task (pid 1) of `kernel`: resolves and loads the executable into a new
    /// address space, ready to run with [`Kernel::run_init`].
    pub fn new_init(kernel: &Arc<Kernel>, spawn: Spawn) -> Result<Task, TaskCreateError> {
        Task::new_process(kernel, spawn)
    }

    /// A new process with no parent in the sandbox: init (the first one, pid 1), or a process
    /// the runtime adds to a running sandbox (`rvisor exec`, [`Kernel::exec_process`]), which,
    /// like a process `setns`'d into a pid namespace from outside, has parent pid 0 and its own
    /// session and process group. Its exit is reported to the runtime, not to a parent.
    pub(crate) fn new_process(kernel: &Arc<Kernel>, spawn: Spawn) -> Result<Task, TaskCreateError> {
        let root = kernel.mounts.root();
        let creds = spawn.creds.clone();
        let fcreds = creds.fs_creds();
        let cwd = Lookup {
            root: &root,
            start: &root,
            creds: &fcreds,
        }
        .resolve(&spawn.cwd, true)
        .ok()
        .filter(VfsPath::is_dir)
        .unwrap_or_else(|| root.clone());
        let fs = FsContext {
            root,
            cwd,
            umask: spawn.umask & 0o777,
        };
        let no_new_privs = spawn.no_new_privs;
        let rlimits = spawn.rlimits.clone();
        let ctty = spawn.ctty;
        let path_str = String::from_utf8_lossy(&spawn.path).into_owned();
        let open_err = |errno| TaskCreateError::Open {
            path: path_str.clone(),
            errno,
        };
        let lookup = Lookup {
            root: &fs.root,
            start: &fs.cwd,
            creds: &fcreds,
        };
        let file = open_executable(&lookup, &spawn.path).map_err(open_err)?;
        // comm names the file asked for, a script's own name too (as after execve).
        let comm = comm_from_path(&spawn.path);
        // A script runs under its `#!` interpreter, as execve does it.
        let (file, path, argv) = super::exec::resolve_scripts(file, spawn.path, spawn.argv, |p| {
            open_executable(&lookup, p)
        })
        .map_err(open_err)?;

        let open_interp = |p: &[u8]| -> SysResult<Arc<dyn MappedFile>> {
            let f = open_executable(&lookup, p)?;
            Ok(Arc::new(VfsMappedFile(f, None)) as Arc<dyn MappedFile>)
        };
        let (ctx, mm, image) =
            load_image(kernel, file, path, argv, spawn.envp, &creds, &open_interp).map_err(
                |e| match e {
                    ImageError::Platform(p) => TaskCreateError::Platform(p),
                    ImageError::Load(errno) => TaskCreateError::Load {
                        path: path_str.clone(),
                        errno,
                    },
                },
            )?;

        let mut fds = FdTable::default();
        for (i, f) in spawn.stdio.into_iter().enumerate() {
            let fd = i32::try_from(i).unwrap_or(0);
            fds.insert_at(fd, f, false, u64::MAX).map_err(open_err)?;
        }

        let mut tree = kernel.tree();
        let tid = tree.alloc_id().ok_or(TaskCreateError::NoId)?;
        let mut limits = default_rlimits();
        for &(r, cur, max) in &rlimits {
            if let Some(l) = usize::try_from(r).ok().and_then(|i| limits.get_mut(i)) {
                *l = Rlimit { cur, max };
            }
        }
        let tg = ThreadGroup::new(tid, [SigAction::default(); 64], limits);
        let shared = TaskShared::new(tid, Arc::clone(&tg), SigSet::default(), comm);
        tg.sig().members.push(Arc::clone(&shared));
        tree.tasks.insert(tid, Arc::clone(&shared));
        tree.procs.insert(
            tid,
            ProcRec {
                tg,
                parent: 0,
                children: Vec::new(),
                pgid: tid,
                sid: tid,
                state: ProcState::Alive,
                report: StopReport::default(),
                exit_signal: Signal::SIGCHLD.0,
                is_subreaper: false,
                threads: vec![tid],
                did_exec: false,
                usage: super::tree::Usage::default(),
                children_usage: super::tree::Usage::default(),
            },
        );
        drop(tree);
        if let Some(tty) = &ctty {
            crate::tty::set_session_ctty(kernel, tty, tid, tid);
        }
        Ok(Task {
            kernel: Arc::clone(kernel),
            shared,
            mm,
            ctx,
            regs: Regs::new_user(image.entry, image.stack_pointer),
            fds: Arc::new(Mutex::new(fds)),
            fs: Arc::new(Mutex::new(fs)),
            creds,
            altstack: StackT {
                flags: abi::time::SS_DISABLE,
                ..StackT::default()
            },
            clear_child_tid: 0,
            robust_list: (0, 0),
            dumpable: true,
            no_new_privs,
            pdeath_signal: 0,
            restart: None,
            restart_block: None,
            saved_mask: None,
            initial_fp: None,
            set_child_tid: 0,
            vfork_parent: None,
        })
    }

    /// The kernel this task belongs to.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// The shared half of this task.
    pub fn shared(&self) -> &Arc<TaskShared> {
        &self.shared
    }

    /// The process.
    pub fn tg(&self) -> &Arc<ThreadGroup> {
        &self.shared.tg
    }

    /// Thread id.
    pub fn tid(&self) -> i32 {
        self.shared.tid()
    }

    /// Thread-group (process) id.
    pub fn tgid(&self) -> i32 {
        self.shared.tg.tgid
    }

    /// Parent's pid (0 for init).
    pub fn ppid(&self) -> i32 {
        self.kernel.tree().proc(self.tgid()).map_or(0, |p| p.parent)
    }

    /// The task's memory.
    pub fn mm(&self) -> &MemoryManager {
        &self.mm
    }

    /// The descriptor table, locked.
    pub(crate) fn fds(&self) -> MutexGuard<'_, FdTable> {
        lock(&self.fds)
    }

    /// The filesystem context, locked.
    pub(crate) fn fs(&self) -> MutexGuard<'_, FsContext> {
        lock(&self.fs)
    }

    /// Runs the task until it exits, then releases it (module doc). Called on the task's own
    /// host thread by `Kernel::start_task`.
    pub(crate) fn run(mut self) {
        let how = self.run_loop();
        self.exit(how);
    }

    fn run_loop(&mut self) -> TaskExit {
        if let Err(e) = self.start() {
            self.kernel.platform_failed(&e);
            return TaskExit::Group(ExitStatus::Signaled(Signal::SIGKILL));
        }
        loop {
            if (self.restart.is_some() || self.shared.hint.load(Ordering::SeqCst))
                && let Some(exit) = self.handle_signals()
            {
                return exit;
            }
            // Truncations by other processes of files mapped here (after the hint was
            // cleared: a poke that comes later sets it again).
            if let Err(e) = self.mm.apply_deferred() {
                tracing::warn!(target: "sentry::mm", errno = ?e, "applying a truncation failed");
            }
            if self.kernel.is_paused() {
                self.kernel.wait_while_paused(&self.shared);
                continue;
            }
            self.shared.in_app.store(true, Ordering::SeqCst);
            if self.shared.hint.load(Ordering::SeqCst) {
                self.shared.in_app.store(false, Ordering::SeqCst);
                continue;
            }
            let outcome = self.ctx.switch(&mut self.regs);
            self.shared.in_app.store(false, Ordering::SeqCst);
            let exit = match outcome {
                Ok(o) => self.handle_outcome(o),
                Err(e) => {
                    self.kernel.platform_failed(&e);
                    return TaskExit::Group(ExitStatus::Signaled(Signal::SIGKILL));
                }
            };
            // A platform failure inside an mm operation (an injected mmap that failed) was
            // recorded there; it ends the sandbox like one from switch.
            if let Some(e) = self.mm.take_platform_error() {
                self.kernel.platform_failed(&e);
                return TaskExit::Group(ExitStatus::Signaled(Signal::SIGKILL));
            }
            if let Some(exit) = exit {
                return exit;
            }
        }
    }

    /// First steps on the task's own thread: take the context, load inherited FP state, write
    /// CLONE_CHILD_SETTID.
    fn start(&mut self) -> Result<(), PlatformError> {
        crate::fs::proc::set_current(self);
        self.ctx.attach()?;
        *lock(&self.shared.interrupter) = Some(self.ctx.interrupter());
        if let Some(fp) = self.initial_fp.take()
            && !self.ctx.set_fpstate(&fp)?
        {
            tracing::debug!(target: "sentry::task", tid = self.tid(), "inherited FP state refused");
        }
        if self.set_child_tid != 0 {
            let tid = self.tid();
            // clone(2): a failure to write is ignored, as Linux's schedule_tail does.
            let _ = self.mm.copy_out_obj(self.set_child_tid, &tid);
            self.set_child_tid = 0;
        }
        Ok(())
    }

    /// Replaces the platform context (execve): the new one is attached here and becomes the
    /// target of interrupts.
    pub(crate) fn replace_context(
        &mut self,
        ctx: Box<dyn Context>,
    ) -> Result<Box<dyn Context>, PlatformError> {
        let mut ctx = ctx;
        ctx.attach()?;
        *lock(&self.shared.interrupter) = Some(ctx.interrupter());
        Ok(std::mem::replace(&mut self.ctx, ctx))
    }

    /// Decides what one platform outcome means. `Some` when the task exits.
    fn handle_outcome(&mut self, outcome: SwitchOutcome) -> Option<TaskExit> {
        match outcome {
            SwitchOutcome::Syscall {
                abi: SyscallAbi::X86_64,
            } => return self.do_syscall(),
            SwitchOutcome::Syscall {
                abi: SyscallAbi::I386,
            } => {
                // No IA32 emulation: Linux built without it answers `int 0x80` with a general
                // protection fault (SIGSEGV, si_code SI_KERNEL), and never runs the 64-bit call
                // of the same number.
                tracing::debug!(target: "sentry::task", tid = self.tid(), nr = self.regs.orig_rax,
                    "i386 syscall entry refused");
                self.force_signal(SigInfo::new(Signal::SIGSEGV, si_code::SI_KERNEL));
            }
            SwitchOutcome::Vsyscall => self.emulate_vsyscall(),
            SwitchOutcome::Fault { addr, access, info } => {
                match self.mm.handle_fault_with_regs(addr, access, &self.regs) {
                    Ok(()) => {}
                    Err(FaultError::Platform(e)) => {
                        self.kernel.platform_failed(&e);
                        return Some(TaskExit::Group(ExitStatus::Signaled(Signal::SIGKILL)));
                    }
                    Err(FaultError::OutOfMemory)
                        if super::oom::out_of_memory(&self.kernel, self.tgid())
                            == super::oom::OomAction::Retry =>
                    {
                        // Another process is being killed to free memory: let it exit, then
                        // fault again (a pending kill of our own is seen by the task loop).
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    Err(e) => {
                        tracing::debug!(target: "sentry::task", tid = self.tid(), addr = format_args!("{addr:#x}"),
                            rip = format_args!("{:#x}", self.regs.rip), ?e, ?info, "unresolved fault");
                        let mut si = match e {
                            FaultError::Bus => {
                                SigInfo::new(Signal::SIGBUS, abi::signal::si_code_ext::BUS_ADRERR)
                            }
                            FaultError::OutOfMemory => SigInfo::new(Signal::SIGKILL, 0),
                            FaultError::Segv { code } => SigInfo::new(Signal::SIGSEGV, code),
                            FaultError::Platform(_) => SigInfo::new(Signal::SIGKILL, 0),
                        };
                        si.set_addr(addr);
                        self.force_signal(si);
                    }
                }
            }
            SwitchOutcome::Signal(info) => {
                tracing::debug!(target: "sentry::task", tid = self.tid(), ?info, "synchronous signal");
                self.force_signal(info);
            }
            SwitchOutcome::Interrupted => {}
        }
        None
    }

    /// Runs the syscall in the registers and stores its result.
    fn do_syscall(&mut self) -> Option<TaskExit> {
        // Linux takes the syscall number from the low 32 bits of rax on x86-64
        // (arch/x86/entry/common.c do_syscall_64 casts to int), so upper bits are ignored.
        let nr = self.regs.syscall_nr() & 0xffff_ffff;
        let args = SyscallArgs(self.regs.syscall_args());
        let entry = table::lookup(nr);
        let trace = self.kernel.strace.enabled(nr);
        let start = trace.then(Instant::now);
        if trace {
            crate::strace::enter(self, nr, entry, &args);
        }
        let res = match entry {
            Some(e) => match (e.handler, e.support) {
                (Some(h), _) => h(self, &args),
                (None, table::Support::Error(errno, _)) => Err(errno),
                (None, _) => Err(Errno::ENOSYS),
            },
            None => {
                tracing::warn!(target: "sentry::unimplemented", tid = self.tid(), nr,
                    name = %table::name_of(nr), "unimplemented syscall");
                Err(Errno::ENOSYS)
            }
        };
        if let (Some(start), true) = (start, trace) {
            crate::strace::exit(self, nr, entry, &args, &res, start.elapsed());
        }
        match res {
            Ok(SyscallReturn::Value(v)) => self.regs.rax = v,
            Ok(SyscallReturn::NoReturn) => {}
            Ok(SyscallReturn::Exit(code)) => return Some(TaskExit::Thread(code)),
            Ok(SyscallReturn::ExitGroup(status)) => {
                self.start_group_exit(status);
                return Some(TaskExit::Group(status));
            }
            Err(e) if e.is_restart() => {
                // Decided in handle_signals, before the app runs again.
                self.regs.rax = e.as_syscall_return();
                self.restart = Some(PendingRestart { errno: e, nr });
            }
            Err(e) => self.regs.rax = e.as_syscall_return(),
        }
        None
    }

    /// Makes the whole process exit with `status`: every other member is told to leave.
    pub(crate) fn start_group_exit(&self, status: ExitStatus) {
        super::signal::group_exit(&self.shared.tg, status, Some(self.tid()));
    }

    /// Emulates a call into the vsyscall page (SwitchOutcome::Vsyscall): `gettimeofday` at +0,
    /// `time` at +0x400, `getcpu` at +0x800, each followed by the `ret` the page would run.
    /// Any other address gets SIGSEGV, as Linux's emulate_vsyscall gives.
    fn emulate_vsyscall(&mut self) {
        const VSYSCALL_BASE: u64 = 0xffff_ffff_ff60_0000;
        let nr = match self.regs.rip.wrapping_sub(VSYSCALL_BASE) {
            0 => abi::sysno::GETTIMEOFDAY,
            0x400 => abi::sysno::TIME,
            0x800 => abi::sysno::GETCPU,
            _ => {
                let mut si = SigInfo::new(Signal::SIGSEGV, si_code::SEGV_MAPERR);
                si.set_addr(self.regs.rip);
                self.force_signal(si);
                return;
            }
        };
        let Ok(ret_addr) = self.mm.copy_in_obj::<u64>(self.regs.rsp) else {
            let mut si = SigInfo::new(Signal::SIGSEGV, si_code::SEGV_MAPERR);
            si.set_addr(self.regs.rsp);
            self.force_signal(si);
            return;
        };
        let args = SyscallArgs(self.regs.syscall_args());
        let res = table::lookup(u64::try_from(nr).unwrap_or(u64::MAX))
            .and_then(|e| e.handler)
            .map_or(Err(Errno::ENOSYS), |h| h(self, &args));
        self.regs.rax = match res {
            Ok(SyscallReturn::Value(v)) => v,
            Ok(_) => 0,
            Err(e) => e.as_syscall_return(),
        };
        self.regs.rip = ret_addr;
        self.regs.rsp = self.regs.rsp.wrapping_add(8);
    }

    // ---- blocking ----

    /// The task's waiter, to register on wait queues.
    pub(crate) fn waiter(&self) -> Arc<Waiter> {
        Arc::clone(&self.shared.waiter)
    }

    /// Forgets earlier notifications before testing a blocking condition (vfs::waiter).
    pub(crate) fn prepare_wait(&self) {
        self.shared.waiter.prepare();
    }

    /// Sleeps until notified, `deadline` passes (ETIMEDOUT) or a signal or kill needs the
    /// task (ERESTARTSYS). The caller registered on its queues and called `prepare_wait`
    /// before testing its condition.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Result<(), Errno> {
        if self.interrupted() {
            return Err(Errno::ERESTARTSYS);
        }
        self.shared.set_run_state(RunState::Blocked);
        let r = self.shared.waiter.wait(deadline);
        self.shared.set_run_state(RunState::Running);
        if self.interrupted() {
            return Err(Errno::ERESTARTSYS);
        }
        match r {
            WakeReason::Notified => Ok(()),
            WakeReason::TimedOut => Err(Errno::ETIMEDOUT),
        }
    }

    /// Sleeps until `deadline` or a signal (nanosleep and friends): Ok at the deadline.
    pub(crate) fn sleep_until(&self, deadline: Instant) -> Result<(), Errno> {
        loop {
            self.prepare_wait();
            match self.wait(Some(deadline)) {
                Err(Errno::ETIMEDOUT) => return Ok(()),
                Err(e) => return Err(e),
                Ok(()) => {}
            }
        }
    }

    /// Whether a signal or kill should interrupt a blocking call: clears the hint and checks
    /// under the signal locks (module doc).
    pub(crate) fn interrupted(&self) -> bool {
        if !self.shared.hint.swap(false, Ordering::SeqCst) {
            return false;
        }
        let pending = super::signal::has_deliverable(&self.shared);
        if pending {
            self.shared.hint.store(true, Ordering::SeqCst);
        }
        pending
    }

    /// Leaves a note for the run loop to check signals (after a mask change).
    pub(crate) fn recheck_signals(&self) {
        self.shared.hint.store(true, Ordering::SeqCst);
    }

    pub(crate) fn clear_hint(&self) -> bool {
        self.shared.hint.swap(false, Ordering::SeqCst)
    }

    // ---- helpers for handlers ----

    /// A path walk context from `dirfd` (AT_FDCWD or a directory fd) for this task.
    pub(crate) fn with_lookup<R>(
        &self,
        dirfd: i32,
        path: &[u8],
        f: impl FnOnce(&Lookup<'_>) -> SysResult<R>,
    ) -> SysResult<R> {
        let creds = self.creds.fs_creds();
        let (root, cwd) = {
            let fs = self.fs();
            (fs.root.clone(), fs.cwd.clone())
        };
        let start = if path.first() == Some(&b'/') || dirfd == abi::file::AT_FDCWD {
            cwd
        } else {
            let file = self.fds().file(dirfd)?;
            let start = file.path().cloned().ok_or(Errno::ENOTDIR)?;
            if !start.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            start
        };
        f(&Lookup {
            root: &root,
            start: &start,
            creds: &creds,
        })
    }

    /// Reads a path argument (PATH_MAX 4096 including the NUL).
    pub(crate) fn copy_in_path(&self, addr: u64) -> SysResult<Vec<u8>> {
        self.mm.copy_in_cstring(addr, 4096)
    }

    /// Reads a plain-old-data struct from the app.
    pub(crate) fn copy_in_obj<T: FromBytes>(&self, addr: u64) -> SysResult<T> {
        self.mm.copy_in_obj(addr)
    }

    /// Writes a plain-old-data struct to the app.
    pub(crate) fn copy_out_obj<T: IntoBytes + Immutable>(&self, addr: u64, v: &T) -> SysResult<()> {
        self.mm.copy_out_obj(addr, v)
    }

    /// The soft limit of resource `r`.
    pub(crate) fn rlimit_cur(&self, r: u32) -> u64 {
        self.shared.tg.rlimit_cur(r)
    }
}

/// Why [`load_image`] failed.
#[derive(Debug)]
pub(crate) enum ImageError {
    /// The platform could not provide an address space (ends the sandbox).
    Platform(PlatformError),
    /// The executable could not be loaded: the errno execve returns.
    Load(Errno),
}

/// What [`load_image`] builds: the context that will run it, its memory, where it starts.
pub(crate) type NewImage = (Box<dyn Context>, Arc<MemoryManager>, loader::LoadedImage);

/// A program image for execve or init: a fresh address space and memory manager with `file`
/// loaded (ELF, interpreter through `open_interp`, initial stack with `argv`/`envp`), and the
/// context that will run it, not yet attached.
pub(crate) fn load_image(
    kernel: &Kernel,
    file: Arc<OpenFile>,
    execfn: Vec<u8>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    creds: &Credentials,
    open_interp: &loader::OpenInterp<'_>,
) -> Result<NewImage, ImageError> {
    let asp = kernel
        .platform
        .new_address_space()
        .map_err(ImageError::Platform)?;
    let ctx = asp.new_context().map_err(ImageError::Platform)?;
    let mm = Arc::new(MemoryManager::new(
        Arc::clone(&kernel.memfile),
        asp,
        kernel.platform.max_user_address(),
    ));
    let mut random = [0u8; 16];
    getrandom_host(&mut random);
    let args = ExecArgs {
        argv,
        envp,
        execfn,
        uid: creds.uid,
        euid: creds.euid,
        gid: creds.gid,
        egid: creds.egid,
        random,
        platform_str: b"x86_64",
    };
    let image = loader::load(
        &mm,
        Arc::new(VfsMappedFile(file, None)),
        &args,
        open_interp,
        kernel.vdso.as_ref(),
    )
    .map_err(ImageError::Load)?;
    Ok((ctx, mm, image))
}

/// Opens `path` for execution: it must exist, be a regular file and have execute permission
/// (execve(2): EACCES otherwise).
pub(crate) fn open_executable(lookup: &Lookup<'_>, path: &[u8]) -> SysResult<Arc<OpenFile>> {
    let target = lookup.resolve(path, true)?;
    let st = target.stat()?;
    if st.mode & abi::file::S_IFMT != abi::file::S_IFREG {
        return Err(Errno::EACCES);
    }
    target.check_access(lookup.creds, 1)?;
    lookup.open(path, abi::file::O_RDONLY, 0)
}

/// Fills `buf` from the host's random source. The sentry's own entropy, not a guest path.
pub(crate) fn getrandom_host(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        // The host's entropy source failing is not something the app can act on; leave the
        // buffer as it was and say so.
        tracing::error!(target: "sentry::task", %e, "host getrandom failed");
    }
}
