//! A task: one application thread, its registers, platform context, memory, files and
//! credentials, and the loop that runs it.

use std::sync::Arc;

use abi::signal::{SigAction, SigSet, Signal};
use abi::time::{RLIM_INFINITY, RLIM_NLIMITS, RLIMIT_NOFILE, RLIMIT_STACK, Rlimit, StackT};
use abi::{Errno, SysResult};
use platform::{Context, PlatformError, Regs, SwitchOutcome};
use vfs::{Creds, Lookup, OpenFile, VfsPath};
use zerocopy::{FromBytes, Immutable, IntoBytes};

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
}

/// The credentials of a task (uids and gids, real/effective/saved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub groups: Vec<u32>,
}

impl Credentials {
    /// Root with no supplementary groups.
    pub fn root() -> Credentials {
        Credentials {
            uid: 0,
            euid: 0,
            suid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            groups: Vec::new(),
        }
    }

    /// Filesystem credentials for permission checks.
    pub fn fs_creds(&self) -> Creds {
        Creds {
            uid: self.euid,
            gid: self.egid,
            groups: self.groups.clone(),
        }
    }
}

/// Signal state recorded by rt_sigaction/rt_sigprocmask/sigaltstack.
#[derive(Clone, Debug)]
pub struct SignalState {
    /// Index 0 is signal 1.
    pub actions: [SigAction; 64],
    pub mask: SigSet,
    pub altstack: StackT,
}

/// The filesystem context: root, working directory and umask.
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
}

/// One application thread.
#[derive(Debug)]
pub struct Task {
    kernel: Arc<Kernel>,
    tid: i32,
    ppid: i32,
    pub(crate) mm: Arc<MemoryManager>,
    ctx: Box<dyn Context>,
    pub(crate) regs: Regs,
    pub(crate) fds: FdTable,
    pub(crate) fs: FsContext,
    pub(crate) creds: Credentials,
    pub(crate) signals: SignalState,
    pub(crate) rlimits: [Rlimit; RLIM_NLIMITS],
    pub(crate) clear_child_tid: u64,
    pub(crate) robust_list: (u64, u64),
    /// The thread name (`comm`, 15 bytes + NUL), set from the executable's base name.
    pub(crate) comm: [u8; 16],
    /// prctl(PR_SET_DUMPABLE) state.
    pub(crate) dumpable: bool,
    /// prctl(PR_SET_NO_NEW_PRIVS) state; once set it cannot be cleared.
    pub(crate) no_new_privs: bool,
    /// prctl(PR_SET_PDEATHSIG) signal (0: none).
    pub(crate) pdeath_signal: i32,
}

/// Reads a file's pages for `mm` (file mappings and the ELF loader) through the VFS.
#[derive(Debug)]
pub struct VfsMappedFile(pub Arc<OpenFile>);

impl MappedFile for VfsMappedFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.0.pread(buf, off)
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

/// Default resource limits, as a fresh Linux login would have them (runc's defaults for
/// NOFILE).
fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    let inf = Rlimit {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    };
    let mut l = [inf; RLIM_NLIMITS];
    let set = |l: &mut [Rlimit; RLIM_NLIMITS], r: u32, v: Rlimit| {
        if let Some(s) = usize::try_from(r).ok().and_then(|i| l.get_mut(i)) {
            *s = v;
        }
    };
    set(
        &mut l,
        RLIMIT_STACK,
        Rlimit {
            cur: 8 << 20,
            max: RLIM_INFINITY,
        },
    );
    set(
        &mut l,
        RLIMIT_NOFILE,
        Rlimit {
            cur: 1024,
            max: 1_048_576,
        },
    );
    set(
        &mut l,
        abi::time::RLIMIT_CORE,
        Rlimit {
            cur: 0,
            max: RLIM_INFINITY,
        },
    );
    set(
        &mut l,
        abi::time::RLIMIT_MEMLOCK,
        Rlimit {
            cur: 8 << 20,
            max: 8 << 20,
        },
    );
    set(
        &mut l,
        abi::time::RLIMIT_NPROC,
        Rlimit {
            cur: 63_459,
            max: 63_459,
        },
    );
    set(
        &mut l,
        abi::time::RLIMIT_SIGPENDING,
        Rlimit {
            cur: 63_459,
            max: 63_459,
        },
    );
    set(
        &mut l,
        abi::time::RLIMIT_MSGQUEUE,
        Rlimit {
            cur: 819_200,
            max: 819_200,
        },
    );
    set(&mut l, abi::time::RLIMIT_NICE, Rlimit { cur: 0, max: 0 });
    set(&mut l, abi::time::RLIMIT_RTPRIO, Rlimit { cur: 0, max: 0 });
    l
}

impl Task {
    /// Creates the init task (pid 1) of `kernel`: resolves and loads the executable into a new
    /// address space, ready to run.
    pub fn new_init(kernel: &Arc<Kernel>, spawn: Spawn) -> Result<Task, TaskCreateError> {
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
            umask: 0o022,
        };
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

        let asp = kernel.platform.new_address_space()?;
        let ctx = asp.new_context()?;
        let mm = Arc::new(MemoryManager::new(
            Arc::clone(&kernel.memfile),
            asp,
            kernel.platform.max_user_address(),
        ));
        let mut random = [0u8; 16];
        getrandom_host(&mut random);
        let args = ExecArgs {
            argv: spawn.argv,
            envp: spawn.envp,
            execfn: spawn.path.clone(),
            uid: creds.uid,
            euid: creds.euid,
            gid: creds.gid,
            egid: creds.egid,
            random,
            platform_str: b"x86_64",
        };
        let open_interp = |p: &[u8]| -> SysResult<Arc<dyn MappedFile>> {
            let f = open_executable(&lookup, p)?;
            Ok(Arc::new(VfsMappedFile(f)) as Arc<dyn MappedFile>)
        };
        let image = loader::load(&mm, Arc::new(VfsMappedFile(file)), &args, &open_interp).map_err(
            |errno| TaskCreateError::Load {
                path: path_str.clone(),
                errno,
            },
        )?;

        let base = spawn.path.rsplit(|&b| b == b'/').next().unwrap_or_default();
        let mut comm = [0u8; 16];
        for (d, s) in comm.iter_mut().zip(base.iter().take(15)) {
            *d = *s;
        }
        let mut fds = FdTable::default();
        let rlimits = default_rlimits();
        for (i, f) in spawn.stdio.into_iter().enumerate() {
            let fd = i32::try_from(i).unwrap_or(0);
            fds.insert_at(fd, f, false, u64::MAX).map_err(open_err)?;
        }
        Ok(Task {
            kernel: Arc::clone(kernel),
            tid: 1,
            ppid: 0,
            mm,
            ctx,
            regs: Regs::new_user(image.entry, image.stack_pointer),
            fds,
            fs,
            creds,
            signals: SignalState {
                actions: [SigAction::default(); 64],
                mask: SigSet::default(),
                altstack: StackT {
                    flags: abi::time::SS_DISABLE,
                    ..StackT::default()
                },
            },
            rlimits,
            clear_child_tid: 0,
            robust_list: (0, 0),
            comm,
            dumpable: true,
            no_new_privs: false,
            pdeath_signal: 0,
        })
    }

    /// The kernel this task belongs to.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// Thread id (also the pid while tasks are single-threaded).
    pub fn tid(&self) -> i32 {
        self.tid
    }

    /// Thread-group id.
    pub fn tgid(&self) -> i32 {
        self.tid
    }

    /// Parent's pid as seen in this pid namespace (0 for init).
    pub fn ppid(&self) -> i32 {
        self.ppid
    }

    /// The task's memory.
    pub fn mm(&self) -> &MemoryManager {
        &self.mm
    }

    /// Runs the task until it exits. A `PlatformError` ends the sandbox.
    pub fn run(&mut self) -> Result<ExitStatus, PlatformError> {
        loop {
            let outcome = self.ctx.switch(&mut self.regs)?;
            let exit = self.handle_outcome(outcome)?;
            // A platform failure inside an mm operation (an injected mmap that failed) was
            // recorded there; it ends the sandbox like one from switch.
            if let Some(e) = self.mm.take_platform_error() {
                return Err(e);
            }
            if let Some(status) = exit {
                return Ok(status);
            }
        }
    }

    /// Decides what one platform outcome means. `Some` when the task exits.
    fn handle_outcome(
        &mut self,
        outcome: SwitchOutcome,
    ) -> Result<Option<ExitStatus>, PlatformError> {
        Ok(match outcome {
            SwitchOutcome::Syscall => self.do_syscall(),
            SwitchOutcome::Fault { addr, access, info } => match self.mm.handle_fault(addr, access)
            {
                Ok(()) => None,
                Err(FaultError::Platform(e)) => return Err(e),
                Err(e) => {
                    tracing::debug!(target: "sentry::task", tid = self.tid, addr = format_args!("{addr:#x}"),
                        rip = format_args!("{:#x}", self.regs.rip), ?e, ?info, "unresolved fault");
                    let sig = match e {
                        FaultError::Bus => Signal::SIGBUS,
                        FaultError::OutOfMemory => Signal::SIGKILL,
                        _ => Signal::SIGSEGV,
                    };
                    Some(self.fatal_signal(sig))
                }
            },
            SwitchOutcome::Signal(info) => {
                tracing::debug!(target: "sentry::task", tid = self.tid, ?info, "synchronous signal");
                Some(self.fatal_signal(Signal(info.signo)))
            }
            SwitchOutcome::Interrupted => None,
        })
    }

    /// A signal whose action is to terminate (no delivery yet, see the module doc).
    fn fatal_signal(&self, sig: Signal) -> ExitStatus {
        tracing::info!(target: "sentry::task", tid = self.tid, signal = sig.name(),
            rip = format_args!("{:#x}", self.regs.rip), "task killed by signal");
        ExitStatus::Signaled(sig)
    }

    /// Runs the syscall in the registers and stores its result.
    fn do_syscall(&mut self) -> Option<ExitStatus> {
        let nr = self.regs.syscall_nr();
        let args = SyscallArgs(self.regs.syscall_args());
        let entry = table::lookup(nr);
        let trace = self.kernel.strace.enabled(nr);
        let start = trace.then(std::time::Instant::now);
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
                tracing::warn!(target: "sentry::unimplemented", tid = self.tid, nr,
                    name = %table::name_of(nr), "unimplemented syscall");
                Err(Errno::ENOSYS)
            }
        };
        if let (Some(start), true) = (start, trace) {
            crate::strace::exit(self, nr, entry, &args, &res, start.elapsed());
        }
        match res {
            Ok(SyscallReturn::Value(v)) => {
                self.regs.rax = v;
                None
            }
            Ok(SyscallReturn::NoReturn) => None,
            Ok(SyscallReturn::Exit(status)) => Some(status),
            Err(e) => {
                // ERESTART* never reach the app; with no signal delivery yet a restart is
                // simply EINTR.
                let e = if e.is_restart() { Errno::EINTR } else { e };
                self.regs.rax = e.as_syscall_return();
                None
            }
        }
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
        let start_owned;
        let start: &VfsPath = if path.first() == Some(&b'/') || dirfd == abi::file::AT_FDCWD {
            &self.fs.cwd
        } else {
            let file = self.fds.file(dirfd)?;
            start_owned = file.path().cloned().ok_or(Errno::ENOTDIR)?;
            if !start_owned.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            &start_owned
        };
        f(&Lookup {
            root: &self.fs.root,
            start,
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
        usize::try_from(r)
            .ok()
            .and_then(|i| self.rlimits.get(i))
            .map_or(RLIM_INFINITY, |l| l.cur)
    }
}

/// Opens `path` for execution: it must exist, be a regular file and have execute permission
/// (execve(2): EACCES otherwise).
fn open_executable(lookup: &Lookup<'_>, path: &[u8]) -> SysResult<Arc<OpenFile>> {
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
