//! The platform boundary: how the sentry runs application code and changes what is mapped in an
//! application address space, independent of the mechanism (`platform-ptrace`, `platform-kvm`).
//!
//! Neighbours: the sentry's task loop drives a [`Context`] and the sentry's `mm` drives an
//! [`AddressSpace`]; the implementations live in `platform/ptrace` and `platform/kvm`. Nothing
//! here is unsafe, and nothing here is an errno: [`PlatformError`] is a host failure that ends
//! the sandbox.
//!
//! Shape, as in ARCHITECTURE.md, with one deliberate change: a [`Context`] is created *by* the
//! address space it runs in (`AddressSpace::new_context`). On ptrace a context is a stub thread,
//! which only exists inside one stub process, so binding the two at creation removes the
//! downcast a free-standing `switch(asp, ..)` would need. `execve` makes a new address space and
//! a new context; the old pair is dropped.
//!
//! # Threading contract (what the sentry may rely on, what it must respect)
//!
//! One host thread runs one application thread (a task). Platforms such as ptrace only accept
//! control requests from the host thread that "owns" an application thread, so:
//!
//! - [`Platform::new_address_space`] may be called from any thread.
//! - [`AddressSpace::new_context`] may be called from any thread for the *first* context of an
//!   address space; later contexts (new threads of a multi-threaded process, vfork children)
//!   must be created from a thread that is attached to a context of the same address space.
//! - A [`Context`] is `Send`: it is created on one thread (the parent in clone/fork) and moved
//!   to the thread that will run it, which calls [`Context::attach`] before anything else
//!   (`switch` attaches implicitly). From then on `switch`, `fpstate` and `set_fpstate` must come
//!   from that thread, and the context must be dropped there too.
//! - [`AddressSpace::map`], `unmap` and `protect` must come from a thread attached to one of the
//!   address space's contexts (on ptrace the change is injected through that thread's stub
//!   thread); from any other thread they fail with `PlatformError::Internal`.
//! - [`Interrupter::interrupt`] may be called from any thread and targets exactly one context.
//! - Dropping the last `Arc` of an address space (from any thread) destroys it, after its
//!   contexts are gone.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

pub use abi::signal::SigInfo;

bitflags::bitflags! {
    /// Page permissions of a mapping.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Perms: u8 {
        const READ = 0x1;
        const WRITE = 0x2;
        const EXEC = 0x4;
    }
}

/// The access that caused a fault, when the platform can tell (ptrace cannot: it reports an
/// empty set, and the sentry then maps with the mapping's full permissions).
pub type Access = Perms;

/// General-purpose registers of an application thread, in the layout of the kernel's
/// `struct user_regs_struct` (arch/x86/include/asm/user_64.h), which is what PTRACE_GETREGS
/// fills. `orig_rax` holds the syscall number on a syscall stop.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}
const _: () = assert!(size_of::<Regs>() == 27 * 8);

impl Regs {
    /// Fresh user registers for a new program: entry point and stack pointer set, user
    /// selectors as on the host (CS 0x33, SS 0x2b), interrupts enabled (IF), everything else 0.
    pub fn new_user(entry: u64, sp: u64) -> Regs {
        Regs {
            rip: entry,
            rsp: sp,
            cs: 0x33,
            ss: 0x2b,
            eflags: 0x202,
            ..Regs::default()
        }
    }

    /// The syscall number (valid after [`SwitchOutcome::Syscall`]).
    pub fn syscall_nr(&self) -> u64 {
        self.orig_rax
    }

    /// The six syscall arguments in ABI order (rdi, rsi, rdx, r10, r8, r9).
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

/// Which system-call entry the application used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallAbi {
    /// The 64-bit `syscall` instruction from 64-bit code: the x86-64 ABI.
    X86_64,
    /// `int 0x80`, `sysenter`, or `syscall` from a 32-bit code segment: the i386 ABI (different
    /// numbers and argument registers). The sentry has no IA32 emulation and must never run the
    /// 64-bit syscall of the same number.
    I386,
}

/// Why [`Context::switch`] returned. The sentry's run loop matches on this; nothing here is an
/// error.
#[derive(Debug)]
pub enum SwitchOutcome {
    /// The application made a system call; `regs` hold the number (`orig_rax`) and arguments,
    /// and `rip` points past the instruction. The syscall did not run on the host.
    Syscall { abi: SyscallAbi },
    /// The application jumped into the legacy vsyscall page (`0xffff_ffff_ff60_0000`, one
    /// 4 KiB page; old static binaries call `gettimeofday` at +0, `time` at +0x400, `getcpu` at
    /// +0x800). `regs` are as at the jump target: `rip` is inside that page and the return
    /// address is at `[rsp]`. The sentry emulates the call and its `ret` (or delivers SIGSEGV
    /// for an address Linux would not accept), as Linux's vsyscall emulation does.
    Vsyscall,
    /// A synchronous memory fault at `addr` (the host raised SIGSEGV or SIGBUS). `access` is
    /// empty when the platform cannot tell what kind of access faulted. `info` is the host's
    /// siginfo, for turning the fault into a guest signal if the sentry cannot resolve it.
    Fault {
        addr: u64,
        access: Access,
        info: SigInfo,
    },
    /// Another synchronous signal raised by application code (SIGILL, SIGFPE, SIGTRAP, ...).
    Signal(SigInfo),
    /// [`Interrupter::interrupt`] was called (possibly spuriously).
    Interrupted,
}

/// A host failure of the platform. It ends the sandbox; it is never shown to the app as an
/// errno.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The platform does not work on this host (for example no /dev/kvm).
    #[error("platform unavailable: {0}")]
    Unavailable(String),
    /// A host call the platform depends on failed.
    #[error("{op} failed: {source}")]
    Host {
        op: &'static str,
        source: std::io::Error,
    },
    /// The stub or VM reached a state the platform cannot handle.
    #[error("platform internal error: {0}")]
    Internal(String),
}

impl PlatformError {
    /// A failed host call, with the errno of the last failed libc call.
    pub fn last_os(op: &'static str) -> PlatformError {
        PlatformError::Host {
            op,
            source: std::io::Error::last_os_error(),
        }
    }
}

/// The FP/SSE/AVX register state of one application thread, in the XSAVE standard layout: the
/// 512-byte FXSAVE legacy area, then the 64-byte XSAVE header, then the enabled extended
/// components at the host's standard offsets — exactly what Linux's `PTRACE_GETREGSET
/// NT_X86_XSTATE` returns and what it writes into a signal frame's `fpstate` (without the
/// software-reserved bytes, which the sentry fills in).
#[derive(Clone, PartialEq, Eq)]
pub struct FpState(pub Vec<u8>);

impl fmt::Debug for FpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FpState({} bytes)", self.0.len())
    }
}

/// A source of application address spaces and the contexts that run in them.
pub trait Platform: Send + Sync + fmt::Debug {
    /// Short name ("ptrace", "kvm").
    fn name(&self) -> &'static str;

    /// An empty address space whose pages can be mapped from the MemoryFile the platform was
    /// created with.
    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError>;

    /// The highest user address (exclusive) applications may map: the platform may reserve
    /// the top of the address space for itself.
    fn max_user_address(&self) -> u64;
}

/// One application address space. Addresses, lengths and offsets are page-aligned; the caller
/// (`mm`) guarantees it, and implementations may return `PlatformError::Internal` otherwise.
///
/// Threading: see the module doc. `map`/`unmap`/`protect` come from a host thread attached to a
/// context of this address space; the change is visible to all its threads when the call
/// returns.
pub trait AddressSpace: Send + Sync + fmt::Debug {
    /// Maps `len` bytes of the MemoryFile at `fd_offset` to `addr` with `perms`, shared (writes
    /// go to the MemoryFile), replacing whatever was mapped there.
    fn map(&self, addr: u64, len: u64, fd_offset: u64, perms: Perms) -> Result<(), PlatformError>;

    /// Removes any mapping in `[addr, addr+len)`. Unmapped holes are fine.
    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError>;

    /// Changes the permissions of already mapped pages in `[addr, addr+len)`.
    fn protect(&self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError>;

    /// A new execution context (application thread) in this address space, not yet attached to
    /// any host thread. Its registers are whatever the next `switch` passes; its FP state is
    /// unspecified until `set_fpstate` (the sentry copies the parent's on clone/fork).
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError>;

    /// CPU time consumed so far by application code in this address space (all its threads),
    /// if the platform can measure it (a capability query: `None` means "unknown", not zero).
    fn cpu_time(&self) -> Option<CpuTime> {
        None
    }

    /// The host process that runs this address space's code, if the platform has one (the
    /// ptrace platform's stub): what `rvisor ps` reports as a container process's host pid.
    fn host_pid(&self) -> Option<i32> {
        None
    }
}

/// CPU time of application code: in user mode, and in the host kernel on its behalf (traps,
/// page faults of the platform's own mappings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    pub user: std::time::Duration,
    pub system: std::time::Duration,
}

/// An application thread's execution context. See the module doc for which thread may call
/// what.
pub trait Context: Send + fmt::Debug {
    /// Binds the context to the calling host thread, which from now on is the only one that may
    /// switch to it. Idempotent on that thread; an error on any other thread once attached.
    fn attach(&mut self) -> Result<(), PlatformError>;

    /// Runs application code with `regs` until it traps, then stores the registers back into
    /// `regs`. Blocks while app code runs. Attaches first if needed.
    fn switch(&mut self, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError>;

    /// Reads the thread's FP/SSE/AVX state. Costs a host call or two: the sentry asks only when a
    /// handler needs it (signal delivery, fork/clone).
    fn fpstate(&mut self) -> Result<FpState, PlatformError>;

    /// Replaces the thread's FP/SSE/AVX state. `Ok(false)` when the host refuses the state as
    /// malformed (an application-corrupted signal frame): the thread's state is then unchanged
    /// and the sentry decides what the application sees (Linux: SIGSEGV). `Err` only for host
    /// failures.
    fn set_fpstate(&mut self, state: &FpState) -> Result<bool, PlatformError>;

    /// A handle other host threads use to make a running (or the next) `switch` return
    /// [`SwitchOutcome::Interrupted`].
    fn interrupter(&self) -> Arc<dyn Interrupter>;
}

/// Makes one context's `switch` return early (that context only, not its whole address space).
/// Callable from any thread.
pub trait Interrupter: Send + Sync + fmt::Debug {
    fn interrupt(&self);
}
