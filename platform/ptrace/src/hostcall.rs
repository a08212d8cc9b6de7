//! Thin wrappers over the host calls of the ptrace platform that need `unsafe` because they
//! write through raw pointers (PTRACE_GETREGS, PTRACE_GETSIGINFO, waitpid, waitid) or have no
//! `nix` binding (pidfd_open, pidfd_send_signal). Everything here is one host call plus error
//! mapping; policy lives in `address_space` and `context`.
//!
//! Registers and siginfo are read straight into [`platform::Regs`] and [`abi::signal::SigInfo`]:
//! both are `#[repr(C)]` copies of the kernel's `struct user_regs_struct` and `siginfo_t`, so
//! no field-by-field conversion is needed on the hot path.

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

/// pidfd_open(2): a handle on the stub that stays valid (and never names another process)
/// after the stub is reaped, so signals sent through it cannot hit a recycled pid.
pub(crate) fn pidfd_open(pid: Pid) -> Result<OwnedFd, PlatformError> {
    // SAFETY: pidfd_open(pid, flags=0) takes two integers and returns a new fd or -1; no
    // memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = libc::c_int::try_from(rc).unwrap_or(-1);
    if fd < 0 {
        return Err(PlatformError::last_os("pidfd_open(stub)"));
    }
    // SAFETY: `fd` was just returned by pidfd_open, is open, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pidfd_send_signal(2) with no siginfo (the receiver sees SI_USER from us). ESRCH means the
/// stub already exited.
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

/// Waits, through the pidfd, until the stub has exited and reaps it. Returns Ok also when it
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
