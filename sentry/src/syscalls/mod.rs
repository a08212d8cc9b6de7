//! The syscall layer: argument accessors, the return type, the one table, and the handlers
//! grouped by family (`fs`, `mm`, `process`, `signal`, `time`, `sys`).
//!
//! A handler has the shape `fn(&mut Task, &SyscallArgs) -> SyscallResult`. It decodes its
//! arguments through the named accessors below (which truncate exactly as the kernel's
//! SYSCALL_DEFINE prototypes do), builds typed options, and calls into a subsystem. `Err` only
//! ever means "the application gets this errno"; control flow (exit, registers already set) is a
//! [`SyscallReturn`] variant.

pub mod creds;
pub mod epoll;
pub mod fs;
pub mod fs_io;
pub mod fs_more;
pub mod futex;
pub mod inet;
pub mod inet_opts;
pub mod inotify;
pub mod locks;
pub mod mm;
pub mod mount;
pub mod open2;
pub mod plumbing;
pub mod poll;
pub mod process;
pub mod sched;
pub mod signal;
pub mod socket;
pub mod sys;
pub mod table;
pub mod time;
pub mod timer;
pub mod utime;
pub mod xattr;

use abi::Errno;

use crate::kernel::ExitStatus;

/// The six raw argument registers of a syscall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallArgs(pub [u64; 6]);

// The accessors deliberately truncate: they mirror the C types of the kernel's prototypes.
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
impl SyscallArgs {
    fn raw(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
    /// An `int` argument: Linux ignores the upper 32 bits.
    pub fn int(&self, i: usize) -> i32 {
        self.raw(i) as u32 as i32
    }
    /// An `unsigned int` argument.
    pub fn uint(&self, i: usize) -> u32 {
        self.raw(i) as u32
    }
    /// A `long` argument.
    pub fn long(&self, i: usize) -> i64 {
        self.raw(i) as i64
    }
    /// An `unsigned long` / `u64` argument.
    pub fn ulong(&self, i: usize) -> u64 {
        self.raw(i)
    }
    /// A `size_t` argument.
    pub fn size(&self, i: usize) -> u64 {
        self.raw(i)
    }
    /// A user pointer.
    pub fn ptr(&self, i: usize) -> u64 {
        self.raw(i)
    }
    /// An `unsigned int fd` argument (read, write, close, fstat, ...): the low 32 bits,
    /// reinterpreted as the signed descriptor number the fd table uses.
    pub fn fd(&self, i: usize) -> i32 {
        self.raw(i) as u32 as i32
    }
    /// An `int dfd` argument of the *at() family (AT_FDCWD is -100).
    pub fn dirfd(&self, i: usize) -> i32 {
        self.int(i)
    }
}

/// What the task does after a handler returns (never an error in disguise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallReturn {
    /// Store this value in the return register.
    Value(u64),
    /// Registers were already set by the handler (rt_sigreturn, execve later).
    NoReturn,
    /// This thread exits with this code (exit(2)).
    Exit(i32),
    /// The whole process exits (exit_group(2)).
    ExitGroup(ExitStatus),
}

/// The result of a handler.
pub type SyscallResult = Result<SyscallReturn, Errno>;

/// `Ok(Value(v))` for a non-negative count or descriptor.
pub fn ok_usize(v: usize) -> SyscallResult {
    Ok(SyscallReturn::Value(v as u64))
}

/// `Ok(Value(0))`.
pub fn ok_zero() -> SyscallResult {
    Ok(SyscallReturn::Value(0))
}

/// `Ok(Value(v))` for a signed value (negative values must never be errnos here).
#[allow(clippy::cast_sign_loss)]
pub fn ok_i64(v: i64) -> SyscallResult {
    Ok(SyscallReturn::Value(v as u64))
}

/// The one place that decides what an I/O syscall returns after partial progress: bytes
/// transferred win over a later error (read(2): "On error, -1 is returned" only when nothing
/// was transferred), except that nothing wins over a restart request when nothing was done.
pub fn io_result(done: usize, err: Option<Errno>) -> SyscallResult {
    match err {
        Some(e) if done == 0 => Err(e),
        _ => ok_usize(done),
    }
}

/// Installs `a` and `b` as the lowest free descriptors and writes the two numbers to `addr`
/// (pipe2, socketpair). On any failure neither stays installed.
pub(crate) fn install_pair(
    t: &crate::kernel::Task,
    a: std::sync::Arc<vfs::OpenFile>,
    b: std::sync::Arc<vfs::OpenFile>,
    cloexec: bool,
    addr: u64,
) -> SyscallResult {
    let limit = t.rlimit_cur(abi::time::RLIMIT_NOFILE);
    let fa = t.fds().insert_from(0, a, cloexec, limit)?;
    let fb = match t.fds().insert_from(0, b, cloexec, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.fds().remove(fa);
            return Err(e);
        }
    };
    if let Err(e) = t.copy_out_obj(addr, &[fa, fb]) {
        let _ = t.fds().remove(fa);
        let _ = t.fds().remove(fb);
        return Err(e);
    }
    ok_zero()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_accessors_ignore_upper_bits() {
        let a = SyscallArgs([(0xdead_u64 << 32) | 3, u64::MAX, 0, 0, 0, 0]);
        assert_eq!(a.fd(0), 3);
        assert_eq!(a.int(0), 3);
        assert_eq!(a.int(1), -1);
        assert_eq!(a.uint(1), u32::MAX);
        assert_eq!(a.long(1), -1);
    }

    #[test]
    fn dirfd_at_fdcwd_survives_sign_extension_junk() {
        let a = SyscallArgs([0x1234_5678_ffff_ff9c, 0, 0, 0, 0, 0]);
        assert_eq!(a.dirfd(0), -100);
    }

    #[test]
    fn partial_progress_beats_error() {
        assert_eq!(
            io_result(5, Some(Errno::EFAULT)),
            Ok(SyscallReturn::Value(5))
        );
        assert_eq!(io_result(0, Some(Errno::EFAULT)), Err(Errno::EFAULT));
        assert_eq!(io_result(0, None), Ok(SyscallReturn::Value(0)));
    }
}
