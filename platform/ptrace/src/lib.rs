//! The ptrace platform: application code runs in *stub* processes the sentry traces.
//!
//! Key types: [`PtracePlatform`] (implements `platform::Platform`), [`PtraceAddressSpace`]
//! (one stub process), [`PtraceContext`] (the stub's thread) and [`PtraceInterrupter`].
//! Neighbours: the sentry's task loop calls `Context::switch` and its `mm` calls
//! `AddressSpace::map/unmap/protect`; all application memory is pages of the sentry's
//! MemoryFile, which every stub holds as fd 3 and maps MAP_SHARED.
//!
//! How it works (details in each module):
//! - `stub`: a one-page stub (`syscall; int3`) reserved at a fixed high address in the sentry
//!   at platform creation; `max_user_address()` is its start. Stubs are forked from the sentry,
//!   set themselves up with raw syscalls only, and run under a seccomp filter (`seccomp`) that
//!   allows only the injected calls and kills the stub on anything else.
//! - `address_space`: stub lifetime and syscall injection (mmap/munmap/mprotect are run by the
//!   stub thread at the stub page's `syscall`).
//! - `context`: PTRACE_SYSEMU switches — application syscalls stop the stub at entry and never
//!   run on the host.
//! - `decode`: pure decoding of wait statuses and siginfo into a stop reason.
//! - `hostcall`: the raw ptrace/wait/pidfd calls.
//!
//! Threading rule (ptrace(2)): only the thread that created an address space may use it and its
//! context; debug builds enforce it. Each address space has a single context for now
//! (multi-threaded applications are a later issue): a second `new_context` returns
//! `PlatformError::Unavailable`. Creating an address space pins the calling thread to its
//! current CPU (the stub inherits the pin) because a SYSEMU round trip across CPUs costs 2-7x
//! more on our hosts.
//!
//! `unsafe` lives only in `stub` (fork, the stub page, the child's raw syscalls) and `hostcall`
//! (raw ptrace/wait/pidfd calls).
#![deny(unsafe_code)]

mod address_space;
mod context;
mod decode;
#[allow(unsafe_code)]
mod hostcall;
mod seccomp;
#[allow(unsafe_code)]
mod stub;

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
    filter: BpfProgram,
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
            filter,
        }))
    }

    /// [`Platform::new_address_space`] with the concrete type (tests use its hooks). The
    /// calling thread becomes the stub's tracer and is pinned to its current CPU.
    pub fn new_ptrace_address_space(&self) -> Result<Arc<PtraceAddressSpace>, PlatformError> {
        let params = address_space::SpawnParams {
            memfd: self.memfd.as_raw_fd(),
            stub_base: self.page.base(),
            filter: &self.filter,
        };
        let stub = address_space::Stub::spawn(&params)?;
        Ok(Arc::new(PtraceAddressSpace::new(stub)))
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
