//! Signals: numbers, `siginfo_t`, sigaction (include/uapi/asm-generic/signal.h,
//! include/uapi/asm-generic/siginfo.h, arch/x86/include/uapi/asm/signal.h).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A signal number, 1..=64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(pub i32);

impl Signal {
    pub const SIGHUP: Signal = Signal(1);
    pub const SIGINT: Signal = Signal(2);
    pub const SIGQUIT: Signal = Signal(3);
    pub const SIGILL: Signal = Signal(4);
    pub const SIGTRAP: Signal = Signal(5);
    pub const SIGABRT: Signal = Signal(6);
    pub const SIGBUS: Signal = Signal(7);
    pub const SIGFPE: Signal = Signal(8);
    pub const SIGKILL: Signal = Signal(9);
    pub const SIGUSR1: Signal = Signal(10);
    pub const SIGSEGV: Signal = Signal(11);
    pub const SIGUSR2: Signal = Signal(12);
    pub const SIGPIPE: Signal = Signal(13);
    pub const SIGALRM: Signal = Signal(14);
    pub const SIGTERM: Signal = Signal(15);
    pub const SIGSTKFLT: Signal = Signal(16);
    pub const SIGCHLD: Signal = Signal(17);
    pub const SIGCONT: Signal = Signal(18);
    pub const SIGSTOP: Signal = Signal(19);
    pub const SIGTSTP: Signal = Signal(20);
    pub const SIGTTIN: Signal = Signal(21);
    pub const SIGTTOU: Signal = Signal(22);
    pub const SIGURG: Signal = Signal(23);
    pub const SIGXCPU: Signal = Signal(24);
    pub const SIGXFSZ: Signal = Signal(25);
    pub const SIGVTALRM: Signal = Signal(26);
    pub const SIGPROF: Signal = Signal(27);
    pub const SIGWINCH: Signal = Signal(28);
    pub const SIGIO: Signal = Signal(29);
    pub const SIGPWR: Signal = Signal(30);
    pub const SIGSYS: Signal = Signal(31);
    /// Highest signal number (_NSIG).
    pub const MAX: i32 = 64;

    /// True for 1..=64.
    pub const fn is_valid(self) -> bool {
        self.0 >= 1 && self.0 <= Self::MAX
    }

    /// The "SIGxxx" name, for logs and strace.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 32] = [
            "SIG0",
            "SIGHUP",
            "SIGINT",
            "SIGQUIT",
            "SIGILL",
            "SIGTRAP",
            "SIGABRT",
            "SIGBUS",
            "SIGFPE",
            "SIGKILL",
            "SIGUSR1",
            "SIGSEGV",
            "SIGUSR2",
            "SIGPIPE",
            "SIGALRM",
            "SIGTERM",
            "SIGSTKFLT",
            "SIGCHLD",
            "SIGCONT",
            "SIGSTOP",
            "SIGTSTP",
            "SIGTTIN",
            "SIGTTOU",
            "SIGURG",
            "SIGXCPU",
            "SIGXFSZ",
            "SIGVTALRM",
            "SIGPROF",
            "SIGWINCH",
            "SIGIO",
            "SIGPWR",
            "SIGSYS",
        ];
        usize::try_from(self.0)
            .ok()
            .and_then(|i| NAMES.get(i).copied())
            .unwrap_or("SIGRT")
    }
}

/// `si_code` values (include/uapi/asm-generic/siginfo.h).
pub mod si_code {
    /// Sent by kill(2).
    pub const SI_USER: i32 = 0;
    /// Sent by the kernel.
    pub const SI_KERNEL: i32 = 0x80;
    /// Sent by tkill(2)/tgkill(2).
    pub const SI_TKILL: i32 = -6;
    /// SIGSEGV: address not mapped to object.
    pub const SEGV_MAPERR: i32 = 1;
    /// SIGSEGV: invalid permissions for mapped object.
    pub const SEGV_ACCERR: i32 = 2;
}

/// `siginfo_t`: 128 bytes; the first three `int`s are common, the rest is a union decoded by
/// accessor (x86-64 layout: the union starts at offset 16).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    _pad: i32,
    /// The `_sifields` union, raw.
    pub fields: [u64; 14],
}
const _: () = assert!(size_of::<SigInfo>() == 128);

impl core::fmt::Debug for SigInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigInfo")
            .field("signo", &Signal(self.signo).name())
            .field("code", &self.code)
            .field("addr", &format_args!("{:#x}", self.fields[0]))
            .finish()
    }
}

impl SigInfo {
    /// A siginfo for `sig` with `si_code`.
    pub fn new(sig: Signal, code: i32) -> SigInfo {
        SigInfo {
            signo: sig.0,
            code,
            ..SigInfo::default()
        }
    }

    /// `si_addr` (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub fn addr(&self) -> u64 {
        self.fields[0]
    }

    /// Sets `si_addr`.
    pub fn set_addr(&mut self, addr: u64) {
        self.fields[0] = addr;
    }

    /// `si_pid` and `si_uid` (kill-style signals): the first two `int`s of the union.
    pub fn set_pid_uid(&mut self, pid: i32, uid: u32) {
        self.fields[0] = u64::from(pid.cast_unsigned()) | (u64::from(uid) << 32);
    }
}

/// A signal mask (`sigset_t` as the kernel sees it: 64 bits).
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SigSet(pub u64);

impl SigSet {
    /// The bit for `sig`.
    pub const fn of(sig: Signal) -> SigSet {
        SigSet(1u64 << ((sig.0 - 1) as u32))
    }
    /// SIGKILL and SIGSTOP, which can never be blocked.
    pub const UNBLOCKABLE: SigSet = SigSet((1 << 8) | (1 << 18));
}

/// `how` for rt_sigprocmask(2).
pub const SIG_BLOCK: i32 = 0;
pub const SIG_UNBLOCK: i32 = 1;
pub const SIG_SETMASK: i32 = 2;

/// `sa_handler` special values.
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

/// `sa_flags` bits (arch/x86/include/uapi/asm/signal.h).
pub const SA_NOCLDSTOP: u64 = 0x1;
pub const SA_NOCLDWAIT: u64 = 0x2;
pub const SA_SIGINFO: u64 = 0x4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// The kernel's `struct sigaction` for rt_sigaction(2) on x86-64 (not glibc's).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: SigSet,
}
const _: () = assert!(size_of::<SigAction>() == 32);

/// More `si_code` values (include/uapi/asm-generic/siginfo.h).
pub mod si_code_ext {
    pub const SI_QUEUE: i32 = -1;
    pub const SI_TIMER: i32 = -2;
    pub const SI_MESGQ: i32 = -3;
    pub const SI_ASYNCIO: i32 = -4;
    pub const SI_SIGIO: i32 = -5;
    pub const BUS_ADRERR: i32 = 2;
}

/// `struct sigcontext` for x86-64 (arch/x86/include/uapi/asm/sigcontext.h), the register part
/// of a signal frame's `uc_mcontext`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    /// User address of the FP state (an XSAVE area), 0 if none.
    pub fpstate: u64,
    pub reserved1: [u64; 8],
}
const _: () = assert!(size_of::<SigContext>() == 256);

/// `struct ucontext` as the kernel writes it (arch/x86/include/uapi/asm/ucontext.h with the
/// kernel's 8-byte `sigset_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub stack: crate::time::StackT,
    pub mcontext: SigContext,
    pub sigmask: SigSet,
}
const _: () = assert!(size_of::<UContext>() == 304);

/// `struct rt_sigframe` for x86-64 (arch/x86/include/asm/sigframe.h): the return address
/// (`sa_restorer`), the ucontext and the siginfo. The FP state follows separately.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RtSigframe {
    pub pretcode: u64,
    pub uc: UContext,
    pub info: SigInfo,
}
const _: () = assert!(size_of::<RtSigframe>() == 440);

// uc_flags (arch/x86/include/uapi/asm/ucontext.h).
pub const UC_FP_XSTATE: u64 = 0x1;
pub const UC_SIGCONTEXT_SS: u64 = 0x2;
pub const UC_STRICT_RESTORE_SS: u64 = 0x4;

/// `struct _fpx_sw_bytes` magic values (arch/x86/include/uapi/asm/sigcontext.h): the
/// software-reserved bytes at offset 464 of the FXSAVE area say an XSAVE image follows, and
/// MAGIC2 is stored right after the image.
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// Offset of `struct _fpx_sw_bytes` in the FXSAVE area.
pub const FPX_SW_BYTES_OFFSET: usize = 464;

/// `sigval` / `sigevent` (include/uapi/asm-generic/siginfo.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigEvent {
    pub value: u64,
    pub signo: i32,
    pub notify: i32,
    /// `_sigev_un._tid` for SIGEV_THREAD_ID (first word of the union).
    pub tid: i32,
    pub _pad: [i32; 11],
}
const _: () = assert!(size_of::<SigEvent>() == 64);
pub const SIGEV_SIGNAL: i32 = 0;
pub const SIGEV_NONE: i32 = 1;
pub const SIGEV_THREAD: i32 = 2;
pub const SIGEV_THREAD_ID: i32 = 4;

impl SigInfo {
    /// Sets the (`si_pid`, `si_uid`) pair followed by `si_status` (SIGCHLD layout: `_sigchld`).
    pub fn set_chld(&mut self, pid: i32, uid: u32, status: i32) {
        self.set_pid_uid(pid, uid);
        self.fields[1] = u64::from(status.cast_unsigned());
    }

    /// Sets `si_value` (after pid/uid in the `_rt` layout, or after tid/overrun in `_timer`).
    pub fn set_value(&mut self, value: u64) {
        self.fields[1] = value;
    }

    /// Sets `si_timerid` and `si_overrun` (the `_timer` layout).
    pub fn set_timer(&mut self, timerid: i32, overrun: i32) {
        self.fields[0] =
            u64::from(timerid.cast_unsigned()) | (u64::from(overrun.cast_unsigned()) << 32);
    }
}

impl Signal {
    /// Real-time signals (SIGRTMIN=32..SIGRTMAX=64) queue every instance; standard ones
    /// coalesce.
    pub const fn is_realtime(self) -> bool {
        self.0 >= 32
    }
}

impl SigSet {
    pub const fn has(self, sig: Signal) -> bool {
        sig.0 >= 1 && sig.0 <= 64 && self.0 & (1u64 << ((sig.0 - 1) as u32)) != 0
    }
    pub const fn add(self, sig: Signal) -> SigSet {
        if sig.0 >= 1 && sig.0 <= 64 {
            SigSet(self.0 | (1u64 << ((sig.0 - 1) as u32)))
        } else {
            self
        }
    }
    pub const fn remove(self, sig: Signal) -> SigSet {
        if sig.0 >= 1 && sig.0 <= 64 {
            SigSet(self.0 & !(1u64 << ((sig.0 - 1) as u32)))
        } else {
            self
        }
    }
    /// Removes SIGKILL and SIGSTOP, which can never be blocked.
    pub const fn blockable(self) -> SigSet {
        SigSet(self.0 & !Self::UNBLOCKABLE.0)
    }
}
