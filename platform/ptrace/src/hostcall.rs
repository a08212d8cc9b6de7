//! Thin wrappers over the host calls of the ptrace platform that need `unsafe` because they
//! write through raw pointers (PTRACE_GETREGS, PTRACE_GETSIGINFO, PTRACE_GETREGSET,
//! PTRACE_GET_SYSCALL_INFO, waitpid, waitid) or have no `nix` binding (pidfd_open,
//! pidfd_send_signal, gettid caching). Everything here is one host call plus error mapping;
//! policy lives in `address_space`, `thread` and `context`.
//!
//! Registers and siginfo are read straight into [`platform::Regs`] and [`abi::signal::SigInfo`]:
//! both are `#[repr(C)]` copies of the kernel's `struct user_regs_struct` and `siginfo_t`, so
//! no field-by-field conversion is needed on the hot path.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use abi::signal::{SigInfo, Signal};
use nix::unistd::Pid;
use platform::{PlatformError, Regs};

// Both structures must match the kernel's layouts byte for byte, since the kernel writes them.
const _: () = assert!(size_of::<Regs>() == size_of::<libc::user_regs_struct>());
const _: () = assert!(size_of::<SigInfo>() == size_of::<libc::siginfo_t>());

/// PTRACE_GETREGS into `regs`.
pub(crate) fn get_regs(pid: Pid, regs: &mut Regs) -> Result<(), PlatformError> {
    // SAFETY: PTRACE_GETREGS writes exactly one `struct user_regs_struct` to the address in
    // `data` (ptrace(2)). `regs` is a valid, exclusive, properly aligned `Regs`, which has the
    // same size (asserted above) and layout (`#[repr(C)]`, 27 u64 in kernel order) and accepts
    // any bit pattern. The `addr` argument is ignored for this request.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            pid.as_raw(),
            ptr::null_mut::<libc::c_void>(),
            ptr::from_mut(regs).cast::<libc::c_void>(),
        )
    };
    if rc == -1 {
        Err(PlatformError::last_os("ptrace(PTRACE_GETREGS)"))
    } else {
        Ok(())
    }
}

/// PTRACE_SETREGS from `regs`.
pub(crate) fn set_regs(pid: Pid, regs: &Regs) -> Result<(), PlatformError> {
    // SAFETY: PTRACE_SETREGS only reads one `struct user_regs_struct` from `data` (ptrace(2));
    // `regs` is a valid `Regs` of the same size and layout (asserted above) that lives for the
    // whole call. The kernel does not keep the pointer. `addr` is ignored.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGS,
            pid.as_raw(),
            ptr::null_mut::<libc::c_void>(),
            ptr::from_ref(regs).cast::<libc::c_void>().cast_mut(),
        )
    };
    if rc == -1 {
        Err(PlatformError::last_os("ptrace(PTRACE_SETREGS)"))
    } else {
        Ok(())
    }
}

/// PTRACE_GETSIGINFO: the siginfo of the signal-delivery-stop the tracee is in.
pub(crate) fn get_siginfo(pid: Pid) -> Result<SigInfo, PlatformError> {
    let mut info = SigInfo::default();
    // SAFETY: PTRACE_GETSIGINFO writes one `siginfo_t` (128 bytes) to `data` (ptrace(2)).
    // `info` is a valid, exclusive `SigInfo` of the same size (asserted above); it is
    // `#[repr(C)]` plain integers, so any bytes the kernel writes are a valid value.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            pid.as_raw(),
            ptr::null_mut::<libc::c_void>(),
            ptr::from_mut(&mut info).cast::<libc::c_void>(),
        )
    };
    if rc == -1 {
        Err(PlatformError::last_os("ptrace(PTRACE_GETSIGINFO)"))
    } else {
        Ok(info)
    }
}

/// `waitpid(pid, &status, __WALL)`, retried on EINTR; returns the raw status word for
/// `decode::WaitEvent::from_status`.
pub(crate) fn wait_status(pid: Pid) -> Result<i32, PlatformError> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid(2) writes one int to `wstatus`, which points to a live local. __WALL
        // is needed to see a traced child regardless of its exit signal (waitpid(2)).
        let rc = unsafe { libc::waitpid(pid.as_raw(), &raw mut status, libc::__WALL) };
        if rc == pid.as_raw() {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if rc == -1 && err.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return Err(PlatformError::Host {
            op: "waitpid(stub)",
            source: err,
        });
    }
}

/// `PIDFD_THREAD` (include/uapi/linux/pidfd.h: `O_EXCL`, Linux 6.9): a pidfd naming one
/// thread; signals sent through it are thread-directed.
pub(crate) const PIDFD_THREAD: u32 = libc::O_EXCL.unsigned_abs();

/// pidfd_open(2): a handle on the stub (`flags` 0: the process, whose `pid` must be a
/// thread-group leader) or on one of its threads (`PIDFD_THREAD`). It stays valid (and never
/// names another task) after the stub is reaped, so signals sent through it cannot hit a
/// recycled pid.
pub(crate) fn pidfd_open(pid: Pid, flags: u32) -> Result<OwnedFd, PlatformError> {
    // SAFETY: pidfd_open(pid, flags) takes two integers and returns a new fd or -1; no
    // memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), flags) };
    let fd = libc::c_int::try_from(rc).unwrap_or(-1);
    if fd < 0 {
        return Err(PlatformError::last_os("pidfd_open(stub)"));
    }
    // SAFETY: `fd` was just returned by pidfd_open, is open, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pidfd_send_signal(2) with no siginfo: process-directed (SI_USER) through a process pidfd,
/// thread-directed (SI_TKILL) through a `PIDFD_THREAD` one. ESRCH means the stub already
/// exited.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: Signal) -> io::Result<()> {
    // SAFETY: pidfd_send_signal(pidfd, sig, info=NULL, flags=0): a NULL info is allowed and
    // means "as if sent by kill(2)"; no other memory is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig.0,
            ptr::null_mut::<libc::siginfo_t>(),
            0,
        )
    };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits, through the pidfd, until our child or tracee (the master stub, a stub during
/// setup) has exited and reaps it. Returns Ok also when it
/// was already reaped (ECHILD). Stops reported on the way are skipped: after SIGKILL the only
/// event left is the exit.
pub(crate) fn reap_pidfd(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    let Ok(id) = libc::id_t::try_from(pidfd.as_raw_fd()) else {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    };
    loop {
        // SAFETY: siginfo_t is plain integers; all-zero is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid(2) with P_PIDFD (Linux 5.4) writes one siginfo_t to `infop`, which
        // points to a live local of that type.
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                id,
                &raw mut info,
                libc::WEXITED | libc::__WALL,
            )
        };
        if rc == -1 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return Ok(()),
                _ => return Err(err),
            }
        }
        if matches!(
            info.si_code,
            libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED
        ) {
            return Ok(());
        }
    }
}

/// Waits until the process behind `pidfd` (not necessarily our child) has exited *and been
/// released*: poll(2) for POLLIN, which a process pidfd reports once the whole thread group
/// has exited (pidfd_open(2)), then, because the wake-up comes just before the parent's
/// automatic reap (kernel/exit.c, `exit_notify` → `do_notify_parent`), a null signal
/// through the pidfd until it fails with ESRCH (the task is gone from the pid table), at
/// most about `patience`. Retried on EINTR.
pub(crate) fn wait_pidfd_released(
    pidfd: BorrowedFd<'_>,
    patience: std::time::Duration,
) -> io::Result<()> {
    loop {
        let mut pfd = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) reads and writes exactly one `pollfd`, a live local.
        let rc = unsafe { libc::poll(&raw mut pfd, 1, -1) };
        if rc == -1 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            break;
        }
    }
    let start = std::time::Instant::now();
    loop {
        // SAFETY: pidfd_send_signal(pidfd, 0, NULL, 0): signal 0 only checks that the
        // process exists; no memory is passed.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                0,
                ptr::null_mut::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == -1 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ESRCH) => Ok(()),
                _ => Err(err),
            };
        }
        if start.elapsed() > patience {
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        std::thread::yield_now();
    }
}

/// `struct ptrace_rseq_configuration` (include/uapi/linux/ptrace.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RseqConfig {
    pub rseq_abi_pointer: u64,
    pub rseq_abi_size: u32,
    pub signature: u32,
    pub flags: u32,
    pub pad: u32,
}

/// PTRACE_GET_RSEQ_CONFIGURATION (Linux 5.13): the tracee's rseq(2) registration, which a
/// forked child inherits from the forking thread (glibc registers one per thread).
pub(crate) fn get_rseq_config(pid: Pid) -> Result<RseqConfig, PlatformError> {
    let mut config = RseqConfig::default();
    // SAFETY: the request writes at most `addr` bytes (here the size of our struct, which
    // matches the kernel's 24-byte layout) to `data`, a valid, exclusive, aligned local.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_RSEQ_CONFIGURATION,
            pid.as_raw(),
            size_of::<RseqConfig>(),
            ptr::from_mut(&mut config).cast::<libc::c_void>(),
        )
    };
    if rc == -1 {
        Err(PlatformError::last_os(
            "ptrace(PTRACE_GET_RSEQ_CONFIGURATION)",
        ))
    } else {
        Ok(config)
    }
}

/// The calling thread's tid, cached per thread (gettid(2) is a real syscall; the platform
/// asks on every switch and every injected call).
pub(crate) fn current_tid() -> Pid {
    thread_local! {
        static TID: Cell<i32> = const { Cell::new(0) };
    }
    TID.with(|tid| {
        if tid.get() == 0 {
            tid.set(nix::unistd::gettid().as_raw());
        }
        Pid::from_raw(tid.get())
    })
}

/// `NT_X86_XSTATE` (include/uapi/linux/elf.h): the XSAVE-layout register set.
const NT_X86_XSTATE: libc::c_int = 0x202;
/// Upper bound for the first PTRACE_GETREGSET NT_X86_XSTATE: the kernel truncates its answer
/// to the buffer and reports the real size in `iov_len`. 16 KiB covers AVX-512 (2.7 KiB) and
/// AMX (11 KiB) hosts.
pub(crate) const XSTATE_MAX: usize = 16 * 1024;

/// PTRACE_GETREGSET NT_X86_XSTATE into `buf`; returns the number of bytes the kernel wrote
/// (the host's xstate size, `fpu_user_cfg.max_size`).
pub(crate) fn get_xstate(tid: Pid, buf: &mut [u8]) -> Result<usize, PlatformError> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast::<libc::c_void>(),
        iov_len: buf.len(),
    };
    // SAFETY: PTRACE_GETREGSET reads the iovec at `data` and writes at most `iov_len` bytes to
    // `iov_base` (ptrace(2)), which is `buf`, valid and exclusive for the call; it then
    // updates `iov_len` in our local iovec. `addr` is the register-set type.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGSET,
            tid.as_raw(),
            NT_X86_XSTATE,
            ptr::from_mut(&mut iov).cast::<libc::c_void>(),
        )
    };
    if rc == -1 {
        Err(PlatformError::last_os(
            "ptrace(PTRACE_GETREGSET, NT_X86_XSTATE)",
        ))
    } else {
        Ok(iov.iov_len.min(buf.len()))
    }
}

/// PTRACE_SETREGSET NT_X86_XSTATE from `state`. The raw errno is returned so the caller can
/// tell a rejected buffer (EINVAL: bad header or MXCSR; EFAULT: wrong size) from a host
/// failure.
pub(crate) fn set_xstate(tid: Pid, state: &[u8]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: state.as_ptr().cast::<libc::c_void>().cast_mut(),
        iov_len: state.len(),
    };
    // SAFETY: PTRACE_SETREGSET reads the iovec at `data` and at most `iov_len` bytes from
    // `iov_base` (ptrace(2)); both are live for the call and the kernel never writes through
    // `iov_base` for a set request (it may update our local iovec's `iov_len`).
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGSET,
            tid.as_raw(),
            NT_X86_XSTATE,
            ptr::from_mut(&mut iov).cast::<libc::c_void>(),
        )
    };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `struct ptrace_syscall_info` (include/uapi/linux/ptrace.h), with the `entry` member of its
/// union (the only one we ask for: syscall-entry stops).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SyscallInfo {
    pub op: u8,
    pub pad: [u8; 3],
    pub arch: u32,
    pub instruction_pointer: u64,
    pub stack_pointer: u64,
    pub nr: u64,
    pub args: [u64; 6],
}
// The kernel writes min(addr, size of the answer): 80 bytes for an entry stop.
const _: () = assert!(size_of::<SyscallInfo>() == 80);

/// `PTRACE_SYSCALL_INFO_ENTRY`: the stop is a syscall-entry stop.
pub(crate) const PTRACE_SYSCALL_INFO_ENTRY: u8 = 1;

/// PTRACE_GET_SYSCALL_INFO (Linux 5.3): what kind of stop this is and, for a syscall-entry
/// stop, the syscall's audit arch (AUDIT_ARCH_I386 for `int 0x80` and other compat entries).
pub(crate) fn get_syscall_info(tid: Pid) -> Result<SyscallInfo, PlatformError> {
    let mut info = SyscallInfo::default();
    // SAFETY: the request writes at most `addr` bytes (the size of our struct, which matches
    // the kernel's layout, asserted above) to `data`, a valid, exclusive, aligned local made
    // of plain integers.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            tid.as_raw(),
            size_of::<SyscallInfo>(),
            ptr::from_mut(&mut info).cast::<libc::c_void>(),
        )
    };
    if rc == -1 {
        Err(PlatformError::last_os("ptrace(PTRACE_GET_SYSCALL_INFO)"))
    } else {
        Ok(info)
    }
}
