//! The stub: its code page (reserved in the sentry at a fixed high address, so every forked
//! stub has it at the same place) and the fork of a new stub process.
//!
//! Stub code is hand-assembled at the start of the page (the rest of the page is `int3`):
//!
//! ```text
//!   base+0x00:  0f 05            syscall        <- injected calls (rip = base, rax = nr, args)
//!   base+0x02:  cc               int3           <- stop after every injected call (SIGTRAP)
//!   base+0x10:  0f 05            syscall        <- injected clone(2) of a new stub thread
//!   base+0x12:  48 85 c0         test rax, rax     parent: rax = new tid (or -errno);
//!   base+0x15:  75 09            jnz base+0x20     child: rax = 0, falls into the park loop
//!   base+0x17:  b8 22 00 00 00   mov eax, 34    <- park loop: pause(2) forever
//!   base+0x1c:  0f 05            syscall
//!   base+0x1e:  eb f7            jmp base+0x17
//!   base+0x20:  cc               int3           <- the clone parent stops here (SIGTRAP)
//!
//!   base+0x40:  0f 05            syscall        <- injected fork in the master stub:
//!                                                  clone(CLONE_PTRACE|SIGCHLD, 0), rbx = master pid
//!   base+0x42:  48 85 c0         test rax, rax     parent: rax = child pid (or -errno)
//!   base+0x45:  75 2e            jnz base+0x75     child: rax = 0, traced by the forker,
//!   base+0x47:  b8 9d 00 00 00   mov eax, 157      starts with a SIGSTOP stop, then:
//!   base+0x4c:  bf 01 00 00 00   mov edi, 1     <- prctl(PR_SET_PDEATHSIG, SIGKILL)
//!   base+0x51:  be 09 00 00 00   mov esi, 9
//!   base+0x56:  0f 05            syscall
//!   base+0x58:  85 c0            test eax, eax
//!   base+0x5a:  75 0d            jnz base+0x69     prctl failed: exit
//!   base+0x5c:  b8 6e 00 00 00   mov eax, 110   <- getppid(): still the master's child?
//!   base+0x61:  0f 05            syscall
//!   base+0x63:  48 39 d8         cmp rax, rbx
//!   base+0x66:  75 01            jne base+0x69     the master died first: exit
//!   base+0x68:  cc               int3           <- the child is set up (SIGTRAP to the forker)
//!   base+0x69:  b8 e7 00 00 00   mov eax, 231   <- exit_group(102)
//!   base+0x6e:  bf 66 00 00 00   mov edi, 102
//!   base+0x73:  0f 05            syscall
//!   base+0x75:  cc               int3           <- the fork parent (master) stops here
//! ```
//!
//! The fork site exists because only the *master stub* is forked from the sentry (by the
//! forker thread, [`fork_stub`]); every further stub is a fork of the master, injected at
//! `base+0x40` (see `forker`). The child inherits the master's one-page address space, fd 3,
//! signal dispositions, signal mask and seccomp filter, so it needs no setup of its own
//! beyond the death signal, which fork(2) clears.
//!
//! A parked thread runs untraced, blocked in pause(2). The signals it could receive are
//! ignored (SIG_IGN, set by the child before its seccomp filter), so pause never returns;
//! only PTRACE_SEIZE + PTRACE_INTERRUPT takes it out of the loop (ptrace(2): an ignored
//! signal is still reported to a tracer, so ignoring changes nothing while traced). The clone
//! child needs no stack: the park loop pushes nothing and no handler ever runs.
//!
//! The master stub jumps straight to `base+2`, so its first stop after setup is that SIGTRAP;
//! the forker thread then injects the munmaps that remove everything the fork inherited (see
//! `forker`).
//!
//! The child side of [`fork_stub`] runs after fork(2) in a copy of a possibly multi-threaded
//! process: it may only make raw, async-signal-safe system calls — no allocation, no locks,
//! no Rust std I/O — which is why every input it needs is prepared by the parent before the
//! fork.

use std::io;
use std::os::fd::RawFd;
use std::ptr;

use nix::unistd::Pid;
use platform::PlatformError;

/// The descriptor number the MemoryFile has inside every stub; the stub's seccomp filter only
/// allows mmap of this fd.
pub(crate) const STUB_FD: RawFd = 3;

/// x86-64 TASK_SIZE_MAX with 4-level paging (arch/x86/include/asm/page_64_types.h): one page
/// below 2^47. The last user page starts at `TASK_SIZE - PAGE_SIZE`.
pub(crate) const TASK_SIZE: u64 = 0x7fff_ffff_f000;
pub(crate) const PAGE_SIZE: u64 = 4096;

/// Offset of the injection `syscall` in the stub page.
pub(crate) const SYSCALL_OFFSET: u64 = 0;
/// Offset of the `int3` that follows it.
pub(crate) const INT3_OFFSET: u64 = 2;
/// rip reported at the SIGTRAP stop after `int3` (a trap: rip points past the instruction).
pub(crate) const AFTER_INT3_OFFSET: u64 = 3;
/// Offset of the clone `syscall` (parent and child both return after it).
pub(crate) const CLONE_SYSCALL_OFFSET: u64 = 0x10;
/// rip at the clone parent's SIGTRAP stop (past the `int3` at 0x20).
pub(crate) const AFTER_CLONE_INT3_OFFSET: u64 = 0x21;
/// Start of the park loop.
pub(crate) const PARK_OFFSET: u64 = 0x17;
/// Offset of the master's fork `syscall`.
pub(crate) const FORK_SYSCALL_OFFSET: u64 = 0x40;
/// rip at the fork child's SIGTRAP stop once it is set up (past the `int3` at 0x68).
pub(crate) const AFTER_FORK_CHILD_INT3_OFFSET: u64 = 0x69;
/// rip at the fork parent's (the master's) SIGTRAP stop (past the `int3` at 0x75).
pub(crate) const AFTER_FORK_INT3_OFFSET: u64 = 0x76;
/// Exit status of a fork child whose prctl failed or whose parent is not the master.
pub(crate) const FORK_CHILD_FAILED: i32 = 102;

/// The code above, from offset 0.
const STUB_CODE: [u8; 0x76] = [
    0x0f, 0x05, // 0x00: syscall
    0xcc, // 0x02: int3
    0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
    0xcc, // 0x03..0x10
    0x0f, 0x05, // 0x10: syscall (clone)
    0x48, 0x85, 0xc0, // 0x12: test rax, rax
    0x75, 0x09, // 0x15: jnz 0x20
    0xb8, 0x22, 0x00, 0x00, 0x00, // 0x17: mov eax, SYS_pause
    0x0f, 0x05, // 0x1c: syscall
    0xeb, 0xf7, // 0x1e: jmp 0x17
    0xcc, // 0x20: int3
    0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
    0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
    0xcc, // 0x21..0x40
    0x0f, 0x05, // 0x40: syscall (fork in the master)
    0x48, 0x85, 0xc0, // 0x42: test rax, rax
    0x75, 0x2e, // 0x45: jnz 0x75
    0xb8, 0x9d, 0x00, 0x00, 0x00, // 0x47: mov eax, SYS_prctl
    0xbf, 0x01, 0x00, 0x00, 0x00, // 0x4c: mov edi, PR_SET_PDEATHSIG
    0xbe, 0x09, 0x00, 0x00, 0x00, // 0x51: mov esi, SIGKILL
    0x0f, 0x05, // 0x56: syscall
    0x85, 0xc0, // 0x58: test eax, eax
    0x75, 0x0d, // 0x5a: jnz 0x69
    0xb8, 0x6e, 0x00, 0x00, 0x00, // 0x5c: mov eax, SYS_getppid
    0x0f, 0x05, // 0x61: syscall
    0x48, 0x39, 0xd8, // 0x63: cmp rax, rbx
    0x75, 0x01, // 0x66: jne 0x69
    0xcc, // 0x68: int3 (child set up)
    0xb8, 0xe7, 0x00, 0x00, 0x00, // 0x69: mov eax, SYS_exit_group
    0xbf, 0x66, 0x00, 0x00, 0x00, // 0x6e: mov edi, FORK_CHILD_FAILED
    0x0f, 0x05, // 0x73: syscall
    0xcc, // 0x75: int3 (fork parent)
];
const INT3: u8 = 0xcc;
const _: () = assert!(STUB_CODE[PARK_OFFSET as usize] == 0xb8);
const _: () = assert!(STUB_CODE[AFTER_CLONE_INT3_OFFSET as usize - 1] == INT3);
const _: () = assert!(STUB_CODE[CLONE_SYSCALL_OFFSET as usize] == 0x0f);
const _: () = assert!(STUB_CODE[FORK_SYSCALL_OFFSET as usize] == 0x0f);
const _: () = assert!(STUB_CODE[AFTER_FORK_CHILD_INT3_OFFSET as usize - 1] == INT3);
const _: () = assert!(STUB_CODE[AFTER_FORK_INT3_OFFSET as usize - 1] == INT3);
const _: () = assert!(STUB_CODE[0x6e + 1] as i32 == FORK_CHILD_FAILED);
// The fork sequence's short jumps (rel8 from the next instruction) land where the doc says:
// the parent's int3, and the child's exit path (twice).
const _: () = assert!(0x47 + STUB_CODE[0x46] as u64 == AFTER_FORK_INT3_OFFSET - 1);
const _: () = assert!(0x5c + STUB_CODE[0x5b] as u64 == AFTER_FORK_CHILD_INT3_OFFSET);
const _: () = assert!(0x68 + STUB_CODE[0x67] as u64 == AFTER_FORK_CHILD_INT3_OFFSET);
const _: () = assert!(STUB_CODE[0x48] as i64 == libc::SYS_prctl);
const _: () = assert!(STUB_CODE[0x5d] as i64 == libc::SYS_getppid);
const _: () = assert!(STUB_CODE[0x6a] as i64 == libc::SYS_exit_group);

/// Signals a stub ignores (SIG_IGN) so that a parked, untraced thread cannot be killed by a
/// stray or late one: the interrupt signal (an `Interrupter` may fire just as its context
/// parks) and the terminal/job-control/timer signals a host user or tty might send. The
/// synchronous signals (SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS) keep their default:
/// the kernel forces them anyway, and they only come from code, which only runs traced.
/// SIGKILL and SIGSTOP cannot be ignored; SIGCONT, SIGURG and SIGWINCH are ignored by
/// default. SIGCHLD is set to SIG_IGN explicitly: then the kernel reaps the master stub's
/// exited children itself (wait(2), "POSIX.1-2001 specifies that if the disposition of
/// SIGCHLD is set to SIG_IGN ... children that terminate do not become zombies"), since the
/// master never waits and the sentry cannot (they are not its children). Fork children
/// inherit the disposition; they never have children of their own.
const IGNORED_SIGNALS: [i32; 17] = [
    libc::SIGCHLD,
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGABRT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPIPE,
    libc::SIGALRM,
    libc::SIGTERM,
    libc::SIGSTKFLT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGVTALRM,
];

/// Where we try to put the stub page, best first. The last user page is the natural place
/// (the app keeps everything below it), but the sentry's own stack can sit there when ASLR is
/// off (e.g. under `setarch -R` or gdb), so lower fallbacks exist; whichever succeeds becomes
/// `max_user_address()`.
const STUB_BASE_CANDIDATES: [u64; 4] = [
    TASK_SIZE - PAGE_SIZE,
    0x7ff0_0000_0000,
    0x7f00_0000_0000,
    0x7000_0000_0000,
];

/// Exit codes of a stub child that failed during setup, for the parent's error message.
/// Kept > 100 so they are not confused with anything else.
pub(crate) fn child_step_name(code: i32) -> &'static str {
    match code {
        101 => "prctl(PR_SET_PDEATHSIG)",
        102 => "parent died before setup",
        103 => "rt_sigprocmask",
        104 => "dup2(memfd)",
        105 => "close_range",
        106 => "ptrace(PTRACE_TRACEME)",
        107 => "kill(SIGSTOP)",
        108 => "prctl(PR_SET_NO_NEW_PRIVS)",
        109 => "seccomp(SECCOMP_SET_MODE_FILTER)",
        110 => "rt_sigaction(SIG_IGN)",
        _ => "unknown step",
    }
}

/// The stub code page mapped in the sentry. Forked stubs inherit it; it is unmapped from the
/// sentry when the platform is dropped (stubs keep their copies).
#[derive(Debug)]
pub(crate) struct StubPage {
    base: u64,
}

impl StubPage {
    /// Maps the page at the first free candidate address, writes the code, makes it R+X.
    pub(crate) fn reserve() -> Result<StubPage, PlatformError> {
        let mut last_err = io::Error::from_raw_os_error(libc::EEXIST);
        for base in STUB_BASE_CANDIDATES {
            match Self::map_at(base) {
                Ok(page) => return Ok(page),
                Err(e) => last_err = e,
            }
        }
        Err(PlatformError::Host {
            op: "mmap(stub page, MAP_FIXED_NOREPLACE)",
            source: last_err,
        })
    }

    fn map_at(base: u64) -> io::Result<StubPage> {
        let Ok(len) = usize::try_from(PAGE_SIZE) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        // SAFETY: mmap(2) with MAP_FIXED_NOREPLACE never replaces an existing mapping (it fails
        // with EEXIST instead), so no memory the program uses is affected; the hint is only an
        // integer here. Anonymous private memory, no fd.
        let got = unsafe {
            libc::mmap(
                base as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if got == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Dropping the page unmaps whatever we got, including a wrongly placed mapping from a
        // kernel older than 4.17, which treats MAP_FIXED_NOREPLACE as a hint.
        let page = StubPage { base: got as u64 };
        if page.base != base {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        // SAFETY: [base, base+len) was just mapped read-write by us and nothing else refers to
        // it; both writes stay inside it (STUB_CODE.len() = 0x76 <= len).
        unsafe {
            ptr::write_bytes(got.cast::<u8>(), INT3, len);
            ptr::copy_nonoverlapping(STUB_CODE.as_ptr(), got.cast::<u8>(), STUB_CODE.len());
        }
        // SAFETY: changes the protection of our own page only; nothing holds a `&mut` into it.
        let rc = unsafe { libc::mprotect(got, len, libc::PROT_READ | libc::PROT_EXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(page)
    }

    pub(crate) fn base(&self) -> u64 {
        self.base
    }
}

impl Drop for StubPage {
    fn drop(&mut self) {
        if let Ok(len) = usize::try_from(PAGE_SIZE) {
            // SAFETY: the page was mapped by `map_at` and is only referenced by stub processes
            // (their own copies); no Rust reference into it exists in this process.
            unsafe { libc::munmap(self.base as *mut libc::c_void, len) };
        }
    }
}

/// Everything the child needs, prepared before fork.
#[derive(Debug)]
pub(crate) struct ChildPlan<'a> {
    /// The sentry's MemoryFile descriptor (moved to [`STUB_FD`] in the child).
    pub memfd: RawFd,
    /// The sentry's pid, to detect that it died before PR_SET_PDEATHSIG took effect.
    pub parent: Pid,
    /// Where the child jumps when set up: the stub page's `int3`.
    pub entry: u64,
    /// The stub's seccomp filter (compiled by `seccomp::stub_filter`).
    pub filter: &'a [seccompiler::sock_filter],
}

/// Forks a stub. In the parent, returns the child's pid; the child is then stopped by SIGSTOP
/// (it called PTRACE_TRACEME) and, once continued, installs its seccomp filter and jumps to
/// `plan.entry`. A child that fails a step exits with a code [`child_step_name`] explains.
pub(crate) fn fork_stub(plan: &ChildPlan<'_>) -> Result<Pid, PlatformError> {
    let Ok(len) = u16::try_from(plan.filter.len()) else {
        return Err(PlatformError::Internal(
            "stub seccomp filter too long".into(),
        ));
    };
    let prog = libc::sock_fprog {
        len,
        // seccompiler's `sock_filter` is `#[repr(C)] {u16, u8, u8, u32}`, the layout of the
        // kernel's `struct sock_filter` (include/uapi/linux/filter.h), as is libc's.
        filter: plan.filter.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: fork(2) in a multi-threaded process is sound as long as the child only performs
    // async-signal-safe operations until it execs or exits; `stub_child` makes only raw
    // syscalls and never returns. Everything it reads (`plan`, `prog`) was built before the
    // fork and is a private copy in the child.
    match unsafe { libc::fork() } {
        -1 => Err(PlatformError::last_os("fork(stub)")),
        // SAFETY: we are the freshly forked child; see `stub_child`'s contract.
        0 => unsafe { stub_child(plan, &prog) },
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// Exits the child with a step code, without running atexit handlers or flushing stdio.
fn child_fail(code: i32) -> ! {
    // SAFETY: _exit(2) is async-signal-safe and takes an integer.
    unsafe { libc::_exit(code) }
}

/// The child side of [`fork_stub`].
///
/// # Safety
/// Must be called only in the child right after fork(2). `prog.filter` must point to
/// `prog.len` valid BPF instructions, and `plan.entry` to the stub page's `int3`, which the
/// child inherited from the parent's mapping.
unsafe fn stub_child(plan: &ChildPlan<'_>, prog: &libc::sock_fprog) -> ! {
    // Each block below is one raw syscall; any failure ends the child with a step code.

    // Die with the forker. The "parent" here is the forking *thread* (prctl(2)): the
    // platform's forker thread, which lives as long as the sentry process.
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
        child_fail(101);
    }
    // If the parent died before the prctl, the death signal will never come.
    // SAFETY: getppid takes no arguments.
    if unsafe { libc::getppid() } != plan.parent.as_raw() {
        child_fail(102);
    }
    // Unblock every signal: the interrupt signal must reach the tracer as a signal-delivery
    // stop, and a blocked one would stay pending. The mask was inherited from the forking
    // sentry thread, which may block signals.
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask reads 8 bytes from `set` (a live local) and, with a NULL
    // `oldset`, writes nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const empty,
            ptr::null_mut::<u64>(),
            size_of::<u64>(),
        )
    };
    if rc != 0 {
        child_fail(103);
    }
    // Ignore the asynchronous signals (see IGNORED_SIGNALS). Kernel `struct sigaction` for
    // rt_sigaction(2) on x86-64: handler, flags, restorer, mask (four u64).
    let ignore: [u64; 4] = [1 /* SIG_IGN */, 0, 0, 0];
    for sig in IGNORED_SIGNALS {
        // SAFETY: rt_sigaction reads 32 bytes from `act` (a live local of that size) and, with
        // a NULL `oldact`, writes nothing; the last argument is the sigset size (8).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                ignore.as_ptr(),
                ptr::null_mut::<u64>(),
                size_of::<u64>(),
            )
        };
        if rc != 0 {
            child_fail(110);
        }
    }
    // Keep only the MemoryFile, at a fixed number the seccomp filter knows.
    if plan.memfd != STUB_FD {
        // SAFETY: dup2 takes two integers; STUB_FD in the child may be replaced freely, the
        // child owns nothing else.
        if unsafe { libc::dup2(plan.memfd, STUB_FD) } != STUB_FD {
            child_fail(104);
        }
    }
    // SAFETY: close_range(2) (Linux 5.9) with integer arguments; closing the child's copies of
    // the sentry's descriptors affects only the child.
    let low = unsafe { libc::syscall(libc::SYS_close_range, 0u32, (STUB_FD - 1) as u32, 0u32) };
    // SAFETY: as above.
    let high = unsafe { libc::syscall(libc::SYS_close_range, (STUB_FD + 1) as u32, u32::MAX, 0) };
    if low != 0 || high != 0 {
        child_fail(105);
    }
    // SAFETY: PTRACE_TRACEME ignores pid, addr and data (ptrace(2)).
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_TRACEME,
            0,
            ptr::null_mut::<libc::c_void>(),
            ptr::null_mut::<libc::c_void>(),
        )
    };
    if rc != 0 {
        child_fail(106);
    }
    // Stop so the parent can set its ptrace options before anything else happens.
    // SAFETY: getpid and kill take integers only.
    if unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) } != 0 {
        child_fail(107);
    }
    // seccomp(2) without CAP_SYS_ADMIN requires no_new_privs.
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) } != 0 {
        child_fail(108);
    }
    // From here on only the filter's syscalls are allowed; the next one is the first injected
    // munmap, made from the stub page.
    // SAFETY: SECCOMP_SET_MODE_FILTER reads the `sock_fprog` at `prog` and the `len`
    // instructions it points to (the caller's contract); both outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            ptr::from_ref(prog),
        )
    };
    if rc != 0 {
        child_fail(109);
    }
    // SAFETY: `plan.entry` is the stub page's `int3` (caller's contract); the tracer takes over
    // at the resulting SIGTRAP and never lets this thread return into Rust code.
    unsafe { core::arch::asm!("jmp {entry}", entry = in(reg) plan.entry, options(noreturn)) }
}
