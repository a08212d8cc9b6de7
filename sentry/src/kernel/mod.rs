//! The kernel proper: the [`Kernel`] (state shared by every task of one sandbox) and the
//! [`Task`] (one application thread) with its run loop.
//!
//! The run loop (`Task::run`) is: `Context::switch` → handle the `SwitchOutcome` (a syscall
//! through the table, a fault through `mm`, a synchronous signal) → repeat, until the task
//! exits. One host thread runs one task; state only that thread touches is reached through
//! `&mut Task`.
//!
//! Scope today: one single-threaded process (no fork/clone, no signal delivery). Synchronous
//! signals the app raises, and faults `mm` cannot resolve, terminate it as the default action
//! would; handlers are recorded by rt_sigaction but not yet run (the next issue delivers them).

pub mod fd_table;
pub mod task;

use std::sync::Arc;
use std::time::Instant;

use abi::uts::Utsname;
use platform::Platform;
use vfs::MountNamespace;
use vfs::memfile::MemoryFile;

pub use fd_table::{FdEntry, FdTable};
pub use task::{Credentials, Spawn, Task, TaskCreateError, TaskMemory, VfsMappedFile};

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
}

/// Configuration of a kernel, fixed at boot.
#[derive(Debug)]
pub struct KernelConfig {
    /// uname(2) values.
    pub uts: Utsname,
    /// Strace settings.
    pub strace: Strace,
}

/// State shared by all tasks of one sandbox.
#[derive(Debug)]
pub struct Kernel {
    pub platform: Arc<dyn Platform>,
    pub memfile: Arc<MemoryFile>,
    pub mounts: Arc<MountNamespace>,
    pub uts: Utsname,
    pub strace: Strace,
    /// When the sandbox booted, for sysinfo(2) uptime.
    pub boot: Instant,
    /// CPUs the sandbox may use (sched_getaffinity), counted before any thread is pinned.
    pub ncpus: usize,
}

impl Kernel {
    /// A kernel over `platform`, with the given mount namespace.
    pub fn new(
        platform: Arc<dyn Platform>,
        memfile: Arc<MemoryFile>,
        mounts: Arc<MountNamespace>,
        config: KernelConfig,
    ) -> Arc<Kernel> {
        Arc::new(Kernel {
            platform,
            memfile,
            mounts,
            uts: config.uts,
            strace: config.strace,
            boot: Instant::now(),
            ncpus: std::thread::available_parallelism().map_or(1, usize::from),
        })
    }
}
