//! The ptrace platform: application code runs in *stub* processes the sentry traces.
//!
//! Key types: [`PtracePlatform`] (implements `platform::Platform`), [`PtraceAddressSpace`]
//! (one stub process), [`PtraceContext`] (one thread of it) and [`PtraceInterrupter`].
//! Neighbours: the sentry's task loop calls `Context::switch` and its `mm` calls
//! `AddressSpace::map/unmap/protect`; all application memory is pages of the sentry's
//! MemoryFile, which every stub holds as fd 3 and maps MAP_SHARED.
//!
//! # Design (details in each module)
//!
//! - `stub`: a one-page stub (injection `syscall; int3`, a clone sequence, a park loop and a
//!   fork sequence) reserved at a fixed high address in the sentry at platform creation;
//!   `max_user_address()` is its start. Stubs set themselves up with raw syscalls only and run
//!   under a seccomp filter (`seccomp`) that allows only the injected calls, the park loop's
//!   pause, the stub-thread clone and the fork sequence (clone with exactly
//!   CLONE_PTRACE|SIGCHLD, prctl(PR_SET_PDEATHSIG, SIGKILL), getppid), traps vsyscall
//!   emulation, and kills the stub on anything else.
//! - `forker`: one dedicated, never-exiting host thread creates every stub process. Per
//!   platform it forks the sentry *once*, into a *master stub* (set up like any stub: one
//!   page, fd 3, filter), which it keeps traced and stopped, and which never runs
//!   application code. Every address space is a fork of the master, injected at the stub
//!   page's fork site (≈tens of µs, whatever the sentry's size, and the sentry's pages are
//!   never made copy-on-write). Death ties: master → forker thread, each stub → master
//!   (PR_SET_PDEATHSIG(SIGKILL) each). The new child is traced by the forker during its
//!   setup (CLONE_PTRACE); the forker clones its first worker thread and leaves both threads
//!   *parked* (untraced, blocked in pause(2) in the stub page).
//! - `address_space`: one stub process per address space, with a registry (tracer tid → stub
//!   thread) so `map/unmap/protect` are injected through the stub thread the *calling* host
//!   thread traces; dropping the address space SIGKILLs and reaps the whole process.
//! - `thread`: one stub thread per context. The host thread that runs a context becomes its
//!   tracer on `attach` (PTRACE_SEIZE + PTRACE_INTERRUPT); dropping the context parks and
//!   detaches the stub thread for reuse. Before each switch the stub thread is moved onto
//!   the CPU its tracer is running on (if it changed), and the tracer is pinned there for at
//!   most 1 s at a time (measured: an unpinned tracer ping-pongs with its stub).
//! - `context`: PTRACE_SYSEMU switches — application syscalls stop the stub at entry and never
//!   run on the host; syscall ABI, vsyscall, FP state and interrupts.
//! - `decode`: pure decoding of wait statuses, siginfo and registers into a stop reason.
//! - `hostcall`: the raw ptrace/wait/pidfd calls.
//!
//! # Threading (the `platform` crate's threading contract, as built here)
//!
//! - `new_address_space`: any thread (the request goes to the forker).
//! - `new_context`: any thread while a parked stub thread is available (the first context of
//!   an address space, or one whose predecessor was dropped); otherwise the caller must be
//!   attached to a context of that address space, through whose stub thread the new one is
//!   cloned — else `PlatformError::Internal`.
//! - `Context::attach` / first `switch`, `fpstate`, `set_fpstate` on the thread that runs the
//!   context; the context must be dropped there too (on another thread its stub thread cannot
//!   be detached and is retired, never reused).
//! - `map/unmap/protect`: a thread attached to a context of that address space, else
//!   `PlatformError::Internal`. Different threads' injections and switches run concurrently.
//! - `Interrupter::interrupt`: any thread; it targets one stub thread (thread-directed signal).
//! - A host thread that exits while attached kills the stub process (PTRACE_O_EXITKILL): a
//!   sandbox whose task thread vanishes without dropping its context is broken anyway.
//! - The sentry process must stay ptrace-attachable by itself (dumpable, or CAP_SYS_PTRACE):
//!   PTRACE_SEIZE is subject to the usual access checks, unlike the old PTRACE_TRACEME.
//!
//! `unsafe` lives only in `stub` (fork, the stub page, the child's raw syscalls) and `hostcall`
//! (raw ptrace/wait/pidfd calls).
#![deny(unsafe_code)]

mod address_space;
mod context;
mod decode;
mod forker;
#[allow(unsafe_code)]
mod hostcall;
mod seccomp;
#[allow(unsafe_code)]
mod stub;
mod thread;

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use platform::{AddressSpace, Platform, PlatformError};
use seccompiler::BpfProgram;

pub use address_space::PtraceAddressSpace;
pub use context::{PtraceContext, PtraceInterrupter};

/// The ptrace platform: holds the MemoryFile, the stub page and the compiled stub filter.
pub struct PtracePlatform {
    memfd: OwnedFd,
    page: stub::StubPage,
    filter: Arc<BpfProgram>,
    /// This platform's master stub (created by the forker on first use).
    master: Arc<forker::MasterRef>,
}

impl fmt::Debug for PtracePlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PtracePlatform")
            .field("memfd", &self.memfd)
            .field("stub_base", &format_args!("{:#x}", self.page.base()))
            .field("filter_len", &self.filter.len())
            .finish()
    }
}

impl PtracePlatform {
    /// Creates the platform over `memfile` (the sentry's MemoryFile; the fd is duplicated and
    /// kept). Reserves the stub page and compiles the stub seccomp filter.
    pub fn new(memfile: BorrowedFd<'_>) -> Result<Arc<PtracePlatform>, PlatformError> {
        let memfd = memfile
            .try_clone_to_owned()
            .map_err(|source| PlatformError::Host {
                op: "dup(memfile)",
                source,
            })?;
        let filter = seccomp::stub_filter()?;
        let page = stub::StubPage::reserve()?;
        tracing::info!(target: "platform::ptrace", stub_base = page.base(), "ptrace platform ready");
        Ok(Arc::new(PtracePlatform {
            memfd,
            page,
            filter: Arc::new(filter),
            master: forker::MasterRef::new(),
        }))
    }

    /// [`Platform::new_address_space`] with the concrete type (tests use its hooks). Any
    /// thread; the stub is forked from the platform's master stub by the forker thread and
    /// starts parked.
    pub fn new_ptrace_address_space(&self) -> Result<Arc<PtraceAddressSpace>, PlatformError> {
        let params = forker::SpawnParams {
            memfd: self.memfd.as_raw_fd(),
            stub_base: self.page.base(),
            filter: Arc::clone(&self.filter),
        };
        let spawned = forker::spawn(&self.master, params)?;
        Ok(Arc::new(PtraceAddressSpace::new(spawned)))
    }
}

impl Platform for PtracePlatform {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError> {
        Ok(self.new_ptrace_address_space()?)
    }

    fn max_user_address(&self) -> u64 {
        self.page.base()
    }
}
