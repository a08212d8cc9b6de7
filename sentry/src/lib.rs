//! The sentry: rvisor's application kernel.
//!
//! It owns the kernel state of one sandbox (tasks, fd tables, credentials, signal state), the
//! memory manager (`mm`), the ELF loader (`loader`), the syscall table and handlers
//! (`syscalls`), pseudo-terminals and job control (`tty`) and `--strace` (`strace`). It runs application code through a `platform`
//! (ptrace today, KVM later) and serves files through `vfs`; it never passes an application
//! syscall to the host.
//!
//! Neighbours: `runsc-cli` builds a [`kernel::Kernel`] (platform, MemoryFile, mount namespace)
//! and runs the init [`kernel::Task`]; `vfs` provides files; `platform` provides contexts and
//! address spaces; `abi` provides every guest-visible number.
//!
//! Lock order (outermost first; details in kernel/mod.rs, mm/mod.rs and vfs/src/lib.rs):
//!   kernel::Task is owned by its host thread (no lock)
//!     Kernel::tree (the task tree)
//!       ThreadGroup::sig → TaskShared::sig
//!         wait queues and waiters (vfs::waiter)
//!   FdTable, FsContext, the futex table, timers: taken with none of the above held
//!   socket endpoints' state (one at a time) and the unix name registry: taken alone, with
//!     only wait queues inside (see socket/mod.rs)
//!   tty: the pty registry, then one pair's state, then its wait queues; never with the
//!     task tree held (see tty/mod.rs)
//!     mm::MemoryManager's internal lock (see mm/mod.rs; the futex table may hold it inside)
//!       vfs locks (see vfs/src/lib.rs)
//! The platform is called with no sentry lock held except as mm documents.
//!
//! Threads: one host thread per application thread runs `kernel::Task::run`; besides them
//! there are the timer thread (`kernel::timer`), the clock keeper (`time`), vfs's host poller,
//! the console bridge's two threads and short-lived tty hangup threads (`tty`), and the
//! platform's own.
#![deny(unsafe_code)]

pub mod fs;
pub mod kernel;
pub mod loader;
pub mod mm;
pub mod socket;
pub mod strace;
pub mod syscalls;
pub mod time;
pub mod tty;
