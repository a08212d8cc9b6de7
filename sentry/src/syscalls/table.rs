//! THE syscall table: one entry per x86-64 syscall number, carrying the name, the handler, the
//! strace argument formats and the support level. The same data drives dispatch, `--strace`
//! output, unimplemented-syscall reports and `rvisor syscalls`.

use std::sync::LazyLock;

use abi::Errno;
use abi::sysno as nr;

use super::xattr;
use super::{
    SyscallArgs, SyscallResult, creds, epoll, fs, fs_io, fs_more, futex, inotify, locks, mm, mount,
    open2, plumbing, poll, process, sched, signal, socket, sys, time, timer, utime,
};
use crate::kernel::Task;

/// What inotify does not do (vfs/src/inotify.rs).
const INOTIFY_NOTE: &str = "Events only for changes made inside the sandbox; no IN_UNMOUNT; \
     IN_DELETE_SELF at the last unlink even while the file is open.";

/// A syscall handler.
pub type Handler = fn(&mut Task, &SyscallArgs) -> SyscallResult;

/// How strace prints one argument (gVisor's strace formats, reduced to what we need).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgFmt {
    /// Hexadecimal.
    Hex,
    /// Signed decimal `int`.
    Int,
    /// Unsigned decimal.
    Uint,
    /// A file descriptor (`unsigned int`).
    Fd,
    /// A *at() directory fd: AT_FDCWD by name.
    DirFd,
    /// A NUL-terminated path read from the app.
    Path,
    /// A buffer the syscall fills; printed after the call, the length is the return value.
    ReadBuf,
    /// A buffer the app supplies; the argument index holds its length.
    WriteBuf(usize),
    /// open(2) flags.
    OpenFlags,
    /// A mode, in octal.
    Mode,
    /// lseek whence.
    Whence,
    /// mmap/mprotect protection.
    Prot,
    /// mmap flags.
    MmapFlags,
    /// A signal number.
    Signal,
    /// A `struct timespec *` read before the call.
    Timespec,
    /// A `struct timespec *` written by the call.
    PostTimespec,
    /// A clock id.
    ClockId,
}

/// How much of a syscall is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Implemented as Linux does it.
    Full,
    /// Implemented, with the noted gaps.
    Partial(&'static str),
    /// Not implemented: always fails with this errno, for the noted reason.
    Error(Errno, &'static str),
}

/// One table entry.
#[derive(Debug)]
pub struct SyscallEntry {
    pub name: &'static str,
    pub handler: Option<Handler>,
    pub args: &'static [ArgFmt],
    pub support: Support,
}

impl SyscallEntry {
    const fn supported(name: &'static str, handler: Handler, args: &'static [ArgFmt]) -> Self {
        SyscallEntry {
            name,
            handler: Some(handler),
            args,
            support: Support::Full,
        }
    }
    const fn partial(
        name: &'static str,
        handler: Handler,
        args: &'static [ArgFmt],
        note: &'static str,
    ) -> Self {
        SyscallEntry {
            name,
            handler: Some(handler),
            args,
            support: Support::Partial(note),
        }
    }
    const fn error(name: &'static str, errno: Errno, note: &'static str) -> Self {
        SyscallEntry {
            name,
            handler: None,
            args: &[],
            support: Support::Error(errno, note),
        }
    }
}

use ArgFmt::*;
use SyscallEntry as E;

/// Entries, by number. Numbers missing here are unknown: ENOSYS, reported as unimplemented.
fn entries() -> Vec<(usize, SyscallEntry)> {
    vec![
        (
            nr::READ,
            E::supported("read", fs::sys_read, &[Fd, ReadBuf, Uint]),
        ),
        (
            nr::WRITE,
            E::supported("write", fs::sys_write, &[Fd, WriteBuf(2), Uint]),
        ),
        (
            nr::OPEN,
            E::supported("open", fs::sys_open, &[Path, OpenFlags, Mode]),
        ),
        (nr::CLOSE, E::supported("close", fs::sys_close, &[Fd])),
        (
            nr::CREAT,
            E::supported("creat", fs::sys_creat, &[Path, Mode]),
        ),
        (
            nr::CLOSE_RANGE,
            E::supported("close_range", fs::sys_close_range, &[Fd, Fd, Hex]),
        ),
        (
            nr::MOUNT,
            E::partial(
                "mount",
                mount::sys_mount,
                &[Path, Path, Path, Hex, Hex],
                "New tmpfs (size=, mode=, uid=, gid=), proc and sysfs mounts, and propagation \
                 changes (one namespace: nothing propagates). Bind, remount, move and \
                 ro/nosuid/nodev/noexec mounts are EINVAL; other types ENODEV.",
            ),
        ),
        (
            nr::UMOUNT2,
            E::partial(
                "umount2",
                mount::sys_umount2,
                &[Path, Hex],
                "A busy mount (open files, cwd inside) is detached lazily instead of EBUSY.",
            ),
        ),
        (
            nr::UTIME,
            E::supported("utime", utime::sys_utime, &[Path, Hex]),
        ),
        (
            nr::UTIMES,
            E::supported("utimes", utime::sys_utimes, &[Path, Hex]),
        ),
        (
            nr::FUTIMESAT,
            E::supported("futimesat", utime::sys_futimesat, &[DirFd, Path, Hex]),
        ),
        (
            nr::UTIMENSAT,
            E::supported("utimensat", utime::sys_utimensat, &[DirFd, Path, Hex, Hex]),
        ),
        (nr::STAT, E::supported("stat", fs::sys_stat, &[Path, Hex])),
        (nr::FSTAT, E::supported("fstat", fs::sys_fstat, &[Fd, Hex])),
        (
            nr::TRUNCATE,
            E::supported("truncate", fs_more::sys_truncate, &[Path, Int]),
        ),
        (
            nr::FTRUNCATE,
            E::supported("ftruncate", fs_more::sys_ftruncate, &[Fd, Int]),
        ),
        (
            nr::STATFS,
            E::supported("statfs", fs_more::sys_statfs, &[Path, Hex]),
        ),
        (nr::FSYNC, E::supported("fsync", fs_more::sys_fsync, &[Fd])),
        (
            nr::FDATASYNC,
            E::supported("fdatasync", fs_more::sys_fdatasync, &[Fd]),
        ),
        (
            nr::SYNC,
            E::partial(
                "sync",
                fs_more::sys_sync,
                &[],
                "Flushes nothing on the host: sandbox files are in memory or already written through; fsync flushes a file.",
            ),
        ),
        (
            nr::SYNCFS,
            E::partial(
                "syncfs",
                fs_more::sys_syncfs,
                &[Fd],
                "Flushes the named file only (see sync).",
            ),
        ),
        (
            nr::SYNC_FILE_RANGE,
            E::partial(
                "sync_file_range",
                fs_more::sys_sync_file_range,
                &[Fd, Int, Int, Hex],
                "Any write flag flushes the whole file's data (fdatasync).",
            ),
        ),
        (
            nr::MEMFD_CREATE,
            E::partial(
                "memfd_create",
                fs_io::sys_memfd_create,
                &[Path, Hex],
                "An unlinked tmpfs file with seals (F_ADD_SEALS/F_GET_SEALS) enforced. MFD_HUGETLB: EINVAL (no hugetlbfs). A '/' in the name shows as '_' in /proc.",
            ),
        ),
        (
            nr::FALLOCATE,
            E::partial(
                "fallocate",
                fs_io::sys_fallocate,
                &[Fd, Hex, Int, Int],
                "tmpfs: allocate (mode 0, KEEP_SIZE) and PUNCH_HOLE with KEEP_SIZE (a punched page still mapped somewhere is zeroed in place and stays allocated); other modes and 9P files: EOPNOTSUPP.",
            ),
        ),
        (
            nr::FADVISE64,
            E::partial(
                "fadvise64",
                fs_io::sys_fadvise64,
                &[Fd, Int, Int, Int],
                "Validated (EBADF, ESPIPE, EINVAL), then ignored: advice is a hint and taking no action conforms.",
            ),
        ),
        (
            nr::PREADV,
            E::supported("preadv", fs_io::sys_preadv, &[Fd, Hex, Int, Int, Int]),
        ),
        (
            nr::PWRITEV,
            E::supported("pwritev", fs_io::sys_pwritev, &[Fd, Hex, Int, Int, Int]),
        ),
        (
            nr::PREADV2,
            E::partial(
                "preadv2",
                fs_io::sys_preadv2,
                &[Fd, Hex, Int, Int, Int, Hex],
                "RWF_HIPRI/DSYNC/SYNC accepted as no-ops; RWF_ATOMIC, RWF_DONTCACHE and unknown flags: EOPNOTSUPP.",
            ),
        ),
        (
            nr::PWRITEV2,
            E::partial(
                "pwritev2",
                fs_io::sys_pwritev2,
                &[Fd, Hex, Int, Int, Int, Hex],
                "RWF_HIPRI/DSYNC/SYNC accepted as no-ops (writes are not cached by the sentry beyond the file's own pages); RWF_ATOMIC, RWF_DONTCACHE and unknown flags: EOPNOTSUPP.",
            ),
        ),
        (
            nr::SENDFILE,
            E::supported("sendfile", fs_io::sys_sendfile, &[Fd, Fd, Hex, Uint]),
        ),
        (
            nr::COPY_FILE_RANGE,
            E::partial(
                "copy_file_range",
                fs_io::sys_copy_file_range,
                &[Fd, Hex, Fd, Hex, Uint, Hex],
                "Regular files of one filesystem (EXDEV across filesystems); copies through a sentry buffer, no reflink.",
            ),
        ),
        (
            nr::MINCORE,
            E::partial(
                "mincore",
                mm::sys_mincore,
                &[Hex, Hex, Hex],
                "Resident: pages this address space backed that hold host memory, read-only zero pages, and tmpfs file pages holding data; 9P file pages never touched here report 0.",
            ),
        ),
        (
            nr::FSTATFS,
            E::supported("fstatfs", fs_more::sys_fstatfs, &[Fd, Hex]),
        ),
        (
            nr::LSTAT,
            E::supported("lstat", fs::sys_lstat, &[Path, Hex]),
        ),
        (
            nr::POLL,
            E::partial(
                "poll",
                poll::sys_poll,
                &[Hex, Uint, Int],
                "Host fds always report ready (a read then blocks on the host).",
            ),
        ),
        (
            nr::LSEEK,
            E::supported("lseek", fs::sys_lseek, &[Fd, Int, Whence]),
        ),
        (
            nr::MMAP,
            E::supported("mmap", mm::sys_mmap, &[Hex, Hex, Prot, MmapFlags, Fd, Hex]),
        ),
        (
            nr::MPROTECT,
            E::supported("mprotect", mm::sys_mprotect, &[Hex, Hex, Prot]),
        ),
        (
            nr::MUNMAP,
            E::supported("munmap", mm::sys_munmap, &[Hex, Hex]),
        ),
        (nr::BRK, E::supported("brk", mm::sys_brk, &[Hex])),
        (
            nr::RT_SIGACTION,
            E::supported(
                "rt_sigaction",
                signal::sys_rt_sigaction,
                &[Signal, Hex, Hex, Uint],
            ),
        ),
        (
            nr::RT_SIGPROCMASK,
            E::supported(
                "rt_sigprocmask",
                signal::sys_rt_sigprocmask,
                &[Int, Hex, Hex, Uint],
            ),
        ),
        (
            nr::IOCTL,
            E::partial(
                "ioctl",
                fs::sys_ioctl,
                &[Fd, Hex, Hex],
                "FIOCLEX/FIONCLEX/FIONBIO; terminal requests on host TTYs; on sandbox ptys \
                 (sentry/src/tty): TCGETS/TCSETS/TCSETSW/TCSETSF and their termios2 forms \
                 (speeds not kept), TCFLSH, TCSBRK/TCXONC (no-ops), TIOCGETD/TIOCSETD (N_TTY), \
                 TIOCGWINSZ/TIOCSWINSZ (SIGWINCH), FIONREAD, TIOCOUTQ, TIOCSTI, TIOCGPTN, \
                 TIOCSPTLCK/TIOCGPTLCK, TIOCGPTPEER, TIOCSCTTY, TIOCNOTTY, \
                 TIOCGPGRP/TIOCSPGRP, TIOCGSID; \
                 TIOCEXCL/TIOCNXCL accepted without effect; not TIOCPKT, TIOCMGET, TCGETA \
                 (ENOTTY).",
            ),
        ),
        (
            nr::PREAD64,
            E::supported("pread64", fs::sys_pread64, &[Fd, ReadBuf, Uint, Int]),
        ),
        (
            nr::PWRITE64,
            E::supported("pwrite64", fs::sys_pwrite64, &[Fd, WriteBuf(2), Uint, Int]),
        ),
        (
            nr::READV,
            E::supported("readv", fs::sys_readv, &[Fd, Hex, Int]),
        ),
        (
            nr::WRITEV,
            E::supported("writev", fs::sys_writev, &[Fd, Hex, Int]),
        ),
        (
            nr::ACCESS,
            E::supported("access", fs::sys_access, &[Path, Mode]),
        ),
        (
            nr::SCHED_YIELD,
            E::supported("sched_yield", sys::sys_sched_yield, &[]),
        ),
        (
            nr::MREMAP,
            E::supported("mremap", mm::sys_mremap, &[Hex, Hex, Hex, Hex, Hex]),
        ),
        (
            nr::MSYNC,
            E::partial(
                "msync",
                mm::sys_msync,
                &[Hex, Hex, Hex],
                "Checks the range only: shared tmpfs mappings are the file's pages; 9P file mappings are private copies.",
            ),
        ),
        (
            nr::MADVISE,
            E::partial(
                "madvise",
                mm::sys_madvise,
                &[Hex, Hex, Int],
                "MADV_DONTNEED frees anonymous private pages; other advice is accepted and ignored.",
            ),
        ),
        (nr::DUP, E::supported("dup", fs::sys_dup, &[Fd])),
        (
            nr::OPENAT2,
            E::partial(
                "openat2",
                open2::sys_openat2,
                &[DirFd, Path, Hex, Uint],
                "RESOLVE_CACHED walks normally (creating or truncating opens are EAGAIN); \
                 O_TMPFILE is EOPNOTSUPP as for openat.",
            ),
        ),
        (
            nr::SPLICE,
            E::partial(
                "splice",
                plumbing::sys_splice,
                &[Fd, Hex, Fd, Hex, Uint, Hex],
                "Bytes are copied, not page references moved (SPLICE_F_MOVE/GIFT are hints).",
            ),
        ),
        (
            nr::TEE,
            E::supported("tee", plumbing::sys_tee, &[Fd, Fd, Uint, Hex]),
        ),
        (
            nr::VMSPLICE,
            E::partial(
                "vmsplice",
                plumbing::sys_vmsplice,
                &[Fd, Hex, Uint, Hex],
                "Bytes are copied: SPLICE_F_GIFT does not share the app's pages with the pipe.",
            ),
        ),
        (
            nr::GETPRIORITY,
            E::partial(
                "getpriority",
                sched::sys_getpriority,
                &[Int, Int],
                "Nice values are kept and reported, not enforced: the host schedules.",
            ),
        ),
        (
            nr::SETPRIORITY,
            E::partial(
                "setpriority",
                sched::sys_setpriority,
                &[Int, Int, Int],
                "Nice values are kept and reported, not enforced: the host schedules.",
            ),
        ),
        (
            nr::SCHED_GETSCHEDULER,
            E::partial(
                "sched_getscheduler",
                sched::sys_sched_getscheduler,
                &[Int],
                "Every thread is SCHED_OTHER.",
            ),
        ),
        (
            nr::SCHED_GETPARAM,
            E::partial(
                "sched_getparam",
                sched::sys_sched_getparam,
                &[Int, Hex],
                "Every thread is SCHED_OTHER with priority 0.",
            ),
        ),
        (
            nr::SCHED_GET_PRIORITY_MAX,
            E::supported(
                "sched_get_priority_max",
                sched::sys_sched_get_priority_max,
                &[Int],
            ),
        ),
        (
            nr::SCHED_GET_PRIORITY_MIN,
            E::supported(
                "sched_get_priority_min",
                sched::sys_sched_get_priority_min,
                &[Int],
            ),
        ),
        (
            nr::FLOCK,
            E::supported("flock", locks::sys_flock, &[Fd, Hex]),
        ),
        (nr::DUP2, E::supported("dup2", fs::sys_dup2, &[Fd, Fd])),
        (
            nr::NANOSLEEP,
            E::supported("nanosleep", time::sys_nanosleep, &[Timespec, Hex]),
        ),
        (nr::GETPID, E::supported("getpid", process::sys_getpid, &[])),
        (nr::EXIT, E::supported("exit", process::sys_exit, &[Int])),
        (nr::UNAME, E::supported("uname", sys::sys_uname, &[Hex])),
        (
            nr::FCNTL,
            E::partial(
                "fcntl",
                fs::sys_fcntl,
                &[Fd, Int, Hex],
                "Leases and F_NOTIFY are not implemented: EINVAL. F_SETOWN(_EX)/F_SETSIG are \
                 recorded and reported (ESRCH/EINVAL as Linux), but no SIGIO is sent: O_ASYNC \
                 is a flag only.",
            ),
        ),
        (
            nr::GETCWD,
            E::supported("getcwd", fs::sys_getcwd, &[Hex, Uint]),
        ),
        (nr::CHDIR, E::supported("chdir", fs::sys_chdir, &[Path])),
        (nr::FCHDIR, E::supported("fchdir", fs::sys_fchdir, &[Fd])),
        (
            nr::RENAME,
            E::supported("rename", fs::sys_rename, &[Path, Path]),
        ),
        (
            nr::MKDIR,
            E::supported("mkdir", fs::sys_mkdir, &[Path, Mode]),
        ),
        (nr::RMDIR, E::supported("rmdir", fs::sys_rmdir, &[Path])),
        (nr::UNLINK, E::supported("unlink", fs::sys_unlink, &[Path])),
        (
            nr::LINK,
            E::supported("link", fs_more::sys_link, &[Path, Path]),
        ),
        (
            nr::SYMLINK,
            E::supported("symlink", fs::sys_symlink, &[Path, Path]),
        ),
        (
            nr::READLINK,
            E::supported("readlink", fs::sys_readlink, &[Path, ReadBuf, Uint]),
        ),
        (nr::UMASK, E::supported("umask", fs::sys_umask, &[Mode])),
        (
            nr::GETTIMEOFDAY,
            E::supported("gettimeofday", time::sys_gettimeofday, &[Hex, Hex]),
        ),
        (
            nr::GETRLIMIT,
            E::supported("getrlimit", sys::sys_getrlimit, &[Int, Hex]),
        ),
        (
            nr::SYSINFO,
            E::supported("sysinfo", sys::sys_sysinfo, &[Hex]),
        ),
        (nr::GETUID, E::supported("getuid", process::sys_getuid, &[])),
        (nr::GETGID, E::supported("getgid", process::sys_getgid, &[])),
        (
            nr::GETEUID,
            E::supported("geteuid", process::sys_geteuid, &[]),
        ),
        (
            nr::GETEGID,
            E::supported("getegid", process::sys_getegid, &[]),
        ),
        (
            nr::SETPGID,
            E::partial(
                "setpgid",
                process::sys_setpgid,
                &[Int, Int],
                "A child that already exec'd can still be moved (EACCES is not returned).",
            ),
        ),
        (
            nr::GETPPID,
            E::supported("getppid", process::sys_getppid, &[]),
        ),
        (
            nr::GETPGRP,
            E::supported("getpgrp", process::sys_getpgrp, &[]),
        ),
        (
            nr::GETGROUPS,
            E::supported("getgroups", process::sys_getgroups, &[Int, Hex]),
        ),
        (
            nr::CHROOT,
            E::supported("chroot", creds::sys_chroot, &[Path]),
        ),
        (
            nr::SETUID,
            E::supported("setuid", creds::sys_setuid, &[Uint]),
        ),
        (
            nr::SETGID,
            E::supported("setgid", creds::sys_setgid, &[Uint]),
        ),
        (
            nr::SETREUID,
            E::supported("setreuid", creds::sys_setreuid, &[Int, Int]),
        ),
        (
            nr::SETREGID,
            E::supported("setregid", creds::sys_setregid, &[Int, Int]),
        ),
        (
            nr::SETRESUID,
            E::supported("setresuid", creds::sys_setresuid, &[Int, Int, Int]),
        ),
        (
            nr::SETRESGID,
            E::supported("setresgid", creds::sys_setresgid, &[Int, Int, Int]),
        ),
        (
            nr::SETFSUID,
            E::supported("setfsuid", creds::sys_setfsuid, &[Uint]),
        ),
        (
            nr::SETFSGID,
            E::supported("setfsgid", creds::sys_setfsgid, &[Uint]),
        ),
        (
            nr::SETGROUPS,
            E::supported("setgroups", creds::sys_setgroups, &[Int, Hex]),
        ),
        (
            nr::CAPGET,
            E::partial(
                "capget",
                creds::sys_capget,
                &[Hex, Hex],
                "No file capabilities or ambient set; another task's sets as it last published them.",
            ),
        ),
        (
            nr::CAPSET,
            E::partial(
                "capset",
                creds::sys_capset,
                &[Hex, Hex],
                "The calling thread only; no securebits or ambient set.",
            ),
        ),
        (
            nr::GETRESUID,
            E::supported("getresuid", process::sys_getresuid, &[Hex, Hex, Hex]),
        ),
        (
            nr::GETRESGID,
            E::supported("getresgid", process::sys_getresgid, &[Hex, Hex, Hex]),
        ),
        (
            nr::GETPGID,
            E::supported("getpgid", process::sys_getpgid, &[Int]),
        ),
        (
            nr::GETSID,
            E::supported("getsid", process::sys_getsid, &[Int]),
        ),
        (
            nr::SIGALTSTACK,
            E::supported("sigaltstack", signal::sys_sigaltstack, &[Hex, Hex]),
        ),
        (
            nr::FUTEX,
            E::partial(
                "futex",
                futex::sys_futex,
                &[Hex, Hex, Uint, Hex, Hex, Hex],
                "PI operations (LOCK_PI, UNLOCK_PI, ...) return ENOSYS.",
            ),
        ),
        (
            nr::SETXATTR,
            E::partial(
                "setxattr",
                xattr::sys_setxattr,
                &[Path, Path, WriteBuf(3), Uint, Hex],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::LSETXATTR,
            E::partial(
                "lsetxattr",
                xattr::sys_lsetxattr,
                &[Path, Path, WriteBuf(3), Uint, Hex],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::FSETXATTR,
            E::partial(
                "fsetxattr",
                xattr::sys_fsetxattr,
                &[Fd, Path, WriteBuf(3), Uint, Hex],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::GETXATTR,
            E::partial(
                "getxattr",
                xattr::sys_getxattr,
                &[Path, Path, ReadBuf, Uint],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::LGETXATTR,
            E::partial(
                "lgetxattr",
                xattr::sys_lgetxattr,
                &[Path, Path, ReadBuf, Uint],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::FGETXATTR,
            E::partial(
                "fgetxattr",
                xattr::sys_fgetxattr,
                &[Fd, Path, ReadBuf, Uint],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::LISTXATTR,
            E::partial(
                "listxattr",
                xattr::sys_listxattr,
                &[Path, ReadBuf, Uint],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::LLISTXATTR,
            E::partial(
                "llistxattr",
                xattr::sys_llistxattr,
                &[Path, ReadBuf, Uint],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::FLISTXATTR,
            E::partial(
                "flistxattr",
                xattr::sys_flistxattr,
                &[Fd, ReadBuf, Uint],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::REMOVEXATTR,
            E::partial(
                "removexattr",
                xattr::sys_removexattr,
                &[Path, Path],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::LREMOVEXATTR,
            E::partial(
                "lremovexattr",
                xattr::sys_lremovexattr,
                &[Path, Path],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::FREMOVEXATTR,
            E::partial(
                "fremovexattr",
                xattr::sys_fremovexattr,
                &[Fd, Path],
                "user.*, trusted.*, security.* on tmpfs and the gofer's files; system.* (ACLs) EOPNOTSUPP.",
            ),
        ),
        (
            nr::PRCTL,
            E::partial(
                "prctl",
                process::sys_prctl,
                &[Int, Hex, Hex, Hex, Hex],
                "PR_SET/GET_NAME, DUMPABLE, PDEATHSIG (recorded), NO_NEW_PRIVS, KEEPCAPS, CAPBSET_*, SECUREBITS, CAP_AMBIENT, CHILD_SUBREAPER; other options EINVAL.",
            ),
        ),
        (
            nr::ARCH_PRCTL,
            E::supported("arch_prctl", process::sys_arch_prctl, &[Hex, Hex]),
        ),
        (
            nr::SETRLIMIT,
            E::supported("setrlimit", sys::sys_setrlimit, &[Int, Hex]),
        ),
        (nr::GETTID, E::supported("gettid", process::sys_gettid, &[])),
        (nr::TIME, E::supported("time", time::sys_time, &[Hex])),
        (
            nr::SCHED_GETAFFINITY,
            E::supported(
                "sched_getaffinity",
                sys::sys_sched_getaffinity,
                &[Int, Uint, Hex],
            ),
        ),
        (
            nr::GETDENTS64,
            E::supported("getdents64", fs::sys_getdents64, &[Fd, Hex, Uint]),
        ),
        (
            nr::SET_TID_ADDRESS,
            E::supported("set_tid_address", process::sys_set_tid_address, &[Hex]),
        ),
        (
            nr::CLOCK_GETTIME,
            E::partial(
                "clock_gettime",
                time::sys_clock_gettime,
                &[ClockId, PostTimespec],
                "CPU-time clocks report the sentry's accounting of the whole sandbox. REALTIME, \
                 MONOTONIC, BOOTTIME and the COARSE clocks (like gettimeofday and time) are \
                 normally read through the sandbox's vDSO without trapping; this call computes \
                 the same clocks.",
            ),
        ),
        (
            nr::CLOCK_GETRES,
            E::supported(
                "clock_getres",
                time::sys_clock_getres,
                &[ClockId, PostTimespec],
            ),
        ),
        (
            nr::CLOCK_NANOSLEEP,
            E::partial(
                "clock_nanosleep",
                time::sys_clock_nanosleep,
                &[ClockId, Int, Timespec, Hex],
                "Not interruptible by signals yet.",
            ),
        ),
        (
            nr::EXIT_GROUP,
            E::supported("exit_group", process::sys_exit_group, &[Int]),
        ),
        (
            nr::OPENAT,
            E::supported("openat", fs::sys_openat, &[DirFd, Path, OpenFlags, Mode]),
        ),
        (
            nr::MKDIRAT,
            E::supported("mkdirat", fs::sys_mkdirat, &[DirFd, Path, Mode]),
        ),
        (
            nr::NEWFSTATAT,
            E::supported("newfstatat", fs::sys_newfstatat, &[DirFd, Path, Hex, Hex]),
        ),
        (
            nr::UNLINKAT,
            E::supported("unlinkat", fs::sys_unlinkat, &[DirFd, Path, Hex]),
        ),
        (
            nr::RENAMEAT,
            E::supported("renameat", fs::sys_renameat, &[DirFd, Path, DirFd, Path]),
        ),
        (
            nr::LINKAT,
            E::partial(
                "linkat",
                fs_more::sys_linkat,
                &[DirFd, Path, DirFd, Path, Hex],
                "AT_EMPTY_PATH links the fd's file (needs CAP_DAC_READ_SEARCH, else ENOENT).",
            ),
        ),
        (
            nr::SYMLINKAT,
            E::supported("symlinkat", fs::sys_symlinkat, &[Path, DirFd, Path]),
        ),
        (
            nr::READLINKAT,
            E::supported(
                "readlinkat",
                fs::sys_readlinkat,
                &[DirFd, Path, ReadBuf, Uint],
            ),
        ),
        (
            nr::FACCESSAT,
            E::supported("faccessat", fs::sys_faccessat, &[DirFd, Path, Mode]),
        ),
        (
            nr::SET_ROBUST_LIST,
            E::partial(
                "set_robust_list",
                process::sys_set_robust_list,
                &[Hex, Uint],
                "Recorded; the list is walked when threads arrive.",
            ),
        ),
        (
            nr::DUP3,
            E::supported("dup3", fs::sys_dup3, &[Fd, Fd, OpenFlags]),
        ),
        (
            nr::PRLIMIT64,
            E::partial(
                "prlimit64",
                sys::sys_prlimit64,
                &[Int, Int, Hex, Hex],
                "Limits are recorded and reported; only RLIMIT_NOFILE and RLIMIT_STACK are enforced.",
            ),
        ),
        (
            nr::MKNOD,
            E::partial(
                "mknod",
                fs_more::sys_mknod,
                &[Path, Mode, Hex],
                "Fifos and sockets made this way cannot be opened yet (ENXIO); devices need CAP_MKNOD.",
            ),
        ),
        (
            nr::MKNODAT,
            E::partial(
                "mknodat",
                fs_more::sys_mknodat,
                &[DirFd, Path, Mode, Hex],
                "Fifos and sockets made this way cannot be opened yet (ENXIO); devices need CAP_MKNOD.",
            ),
        ),
        (
            nr::RENAMEAT2,
            E::partial(
                "renameat2",
                fs::sys_renameat2,
                &[DirFd, Path, DirFd, Path, Hex],
                "RENAME_NOREPLACE, RENAME_EXCHANGE; RENAME_WHITEOUT on tmpfs only (EINVAL on 9P).",
            ),
        ),
        (
            nr::GETRANDOM,
            E::supported("getrandom", sys::sys_getrandom, &[Hex, Uint, Hex]),
        ),
        (
            nr::STATX,
            E::supported("statx", fs::sys_statx, &[DirFd, Path, Hex, Hex, Hex]),
        ),
        (
            nr::RSEQ,
            E::error(
                "rseq",
                Errno::ENOSYS,
                "Restartable sequences are not supported; glibc falls back.",
            ),
        ),
        (
            nr::FACCESSAT2,
            E::supported("faccessat2", fs::sys_faccessat2, &[DirFd, Path, Mode, Hex]),
        ),
        (
            nr::RT_SIGRETURN,
            E::supported("rt_sigreturn", signal::sys_rt_sigreturn, &[]),
        ),
        (nr::PIPE, E::supported("pipe", fs::sys_pipe, &[Hex])),
        (
            nr::PIPE2,
            E::supported("pipe2", fs::sys_pipe2, &[Hex, OpenFlags]),
        ),
        // ---- sockets: AF_UNIX (socket/unix.rs), AF_INET/6 (socket/inet.rs), NETLINK_ROUTE ----
        (
            nr::SOCKET,
            E::partial(
                "socket",
                socket::sys_socket,
                &[Int, Hex, Int],
                "AF_UNIX (stream, dgram, seqpacket); AF_INET/AF_INET6 TCP and UDP over the sentry's own TCP/IP stack (netstack, loopback only so far; ICMP echo sockets for every group; SOCK_RAW EPERM without CAP_NET_RAW else EPROTONOSUPPORT); AF_NETLINK NETLINK_ROUTE (raw/dgram: link, address and route dumps of the sandbox's interfaces; other requests EOPNOTSUPP; no multicast groups; other netlink protocols EPROTONOSUPPORT); other families EAFNOSUPPORT.",
            ),
        ),
        (
            nr::SOCKETPAIR,
            E::partial(
                "socketpair",
                socket::sys_socketpair,
                &[Int, Hex, Int, Hex],
                "AF_UNIX only (AF_INET/AF_INET6: EOPNOTSUPP as on Linux, others EAFNOSUPPORT).",
            ),
        ),
        (
            nr::BIND,
            E::partial(
                "bind",
                socket::sys_bind,
                &[Fd, Hex, Uint],
                "AF_UNIX: abstract names, paths (a socket inode), autobind. One abstract namespace per sandbox.",
            ),
        ),
        (
            nr::LISTEN,
            E::supported("listen", socket::sys_listen, &[Fd, Int]),
        ),
        (
            nr::ACCEPT,
            E::supported("accept", socket::sys_accept, &[Fd, Hex, Hex]),
        ),
        (
            nr::ACCEPT4,
            E::supported("accept4", socket::sys_accept4, &[Fd, Hex, Hex, Hex]),
        ),
        (
            nr::CONNECT,
            E::supported("connect", socket::sys_connect, &[Fd, Hex, Uint]),
        ),
        (
            nr::GETSOCKNAME,
            E::supported("getsockname", socket::sys_getsockname, &[Fd, Hex, Hex]),
        ),
        (
            nr::GETPEERNAME,
            E::supported("getpeername", socket::sys_getpeername, &[Fd, Hex, Hex]),
        ),
        (
            nr::SENDTO,
            E::partial(
                "sendto",
                socket::sys_sendto,
                &[Fd, WriteBuf(2), Uint, Hex, Hex, Uint],
                "MSG_OOB is EOPNOTSUPP.",
            ),
        ),
        (
            nr::RECVFROM,
            E::partial(
                "recvfrom",
                socket::sys_recvfrom,
                &[Fd, ReadBuf, Uint, Hex, Hex, Hex],
                "MSG_OOB is EOPNOTSUPP; MSG_ERRQUEUE is ignored (unix sockets have no error queue entries). Inet sockets: MSG_ERRQUEUE is EAGAIN (no error queue), MSG_OOB is EINVAL on TCP (no urgent data) and ignored on UDP.",
            ),
        ),
        (
            nr::SENDMMSG,
            E::partial(
                "sendmmsg",
                socket::sys_sendmmsg,
                &[Fd, Hex, Uint, Hex],
                "AF_UNIX and AF_INET/AF_INET6; sendmsg per entry (at most 1024), stopping at the first failure.",
            ),
        ),
        (
            nr::RECVMMSG,
            E::partial(
                "recvmmsg",
                socket::sys_recvmmsg,
                &[Fd, Hex, Uint, Hex, Hex],
                "AF_UNIX and AF_INET/AF_INET6; the timeout is checked between messages and not written back.",
            ),
        ),
        (
            nr::SENDMSG,
            E::partial(
                "sendmsg",
                socket::sys_sendmsg,
                &[Fd, Hex, Hex],
                "SCM_RIGHTS and SCM_CREDENTIALS; MSG_OOB is EOPNOTSUPP; sockets passed in flight are not garbage-collected.",
            ),
        ),
        (
            nr::RECVMSG,
            E::partial(
                "recvmsg",
                socket::sys_recvmsg,
                &[Fd, Hex, Hex],
                "As recvfrom; SO_PASSCRED adds SCM_CREDENTIALS, MSG_CMSG_CLOEXEC applies to SCM_RIGHTS fds.",
            ),
        ),
        (
            nr::SHUTDOWN,
            E::supported("shutdown", socket::sys_shutdown, &[Fd, Int]),
        ),
        (
            nr::GETSOCKOPT,
            E::partial(
                "getsockopt",
                socket::sys_getsockopt,
                &[Fd, Int, Int, Hex, Hex],
                "SOL_SOCKET: SO_TYPE, SO_ERROR, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_PEERCRED, SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_REUSEADDR, SO_RCVTIMEO, SO_SNDTIMEO (reported as set, without Linux's rounding to clock ticks); others ENOPROTOOPT. Inet sockets: also SO_REUSEPORT, SO_KEEPALIVE, SO_LINGER, SO_BROADCAST, SO_OOBINLINE, SO_PRIORITY, SO_RCVLOWAT, SO_SNDLOWAT, IP_TTL, IP_TOS, IPV6_V6ONLY, IPV6_UNICAST_HOPS, IPV6_TCLASS, TCP_NODELAY, TCP_MAXSEG, TCP_CORK, TCP_QUICKACK, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, TCP_SYNCNT, TCP_DEFER_ACCEPT, TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT, TCP_INFO (timers are loopback-like constants), UDP_CORK, SO_BINDTODEVICE.",
            ),
        ),
        (
            nr::SETSOCKOPT,
            E::partial(
                "setsockopt",
                socket::sys_setsockopt,
                &[Fd, Int, Int, Hex, Int],
                "SOL_SOCKET: SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_REUSEADDR, SO_RCVTIMEO, SO_SNDTIMEO (the timeout restarts after each partial stream write); others ENOPROTOOPT. Inet sockets: the options getsockopt lists, with Linux's ranges; IP/IPv6 header fields, SO_PRIORITY, SO_BROADCAST, SO_OOBINLINE, TCP_CORK, TCP_QUICKACK and TCP_MAXSEG are stored, not applied; SO_RCVLOWAT applies to stream readiness and blocking receives; SO_LINGER only acts with a zero time (RST on close).",
            ),
        ),
        (
            nr::SELECT,
            E::partial(
                "select",
                poll::sys_select,
                &[Int, Hex, Hex, Hex, Hex],
                "Host fds always report ready.",
            ),
        ),
        (
            nr::PSELECT6,
            E::partial(
                "pselect6",
                poll::sys_pselect6,
                &[Int, Hex, Hex, Hex, Timespec, Hex],
                "Host fds always report ready.",
            ),
        ),
        (
            nr::PPOLL,
            E::partial(
                "ppoll",
                poll::sys_ppoll,
                &[Hex, Uint, Timespec, Hex, Uint],
                "Host fds always report ready.",
            ),
        ),
        (nr::PAUSE, E::supported("pause", signal::sys_pause, &[])),
        (
            nr::EVENTFD,
            E::supported("eventfd", epoll::sys_eventfd, &[Uint]),
        ),
        (
            nr::EVENTFD2,
            E::supported("eventfd2", epoll::sys_eventfd2, &[Uint, Hex]),
        ),
        (
            nr::INOTIFY_INIT,
            E::partial("inotify_init", inotify::sys_inotify_init, &[], INOTIFY_NOTE),
        ),
        (
            nr::INOTIFY_INIT1,
            E::partial(
                "inotify_init1",
                inotify::sys_inotify_init1,
                &[Hex],
                INOTIFY_NOTE,
            ),
        ),
        (
            nr::INOTIFY_ADD_WATCH,
            E::partial(
                "inotify_add_watch",
                inotify::sys_inotify_add_watch,
                &[Fd, Path, Hex],
                INOTIFY_NOTE,
            ),
        ),
        (
            nr::INOTIFY_RM_WATCH,
            E::supported(
                "inotify_rm_watch",
                inotify::sys_inotify_rm_watch,
                &[Fd, Int],
            ),
        ),
        (
            nr::EPOLL_CREATE,
            E::supported("epoll_create", epoll::sys_epoll_create, &[Int]),
        ),
        (
            nr::EPOLL_CREATE1,
            E::supported("epoll_create1", epoll::sys_epoll_create1, &[Hex]),
        ),
        (
            nr::EPOLL_CTL,
            E::partial(
                "epoll_ctl",
                epoll::sys_epoll_ctl,
                &[Fd, Int, Fd, Hex],
                "EPOLLEXCLUSIVE is accepted but wakes every waiter; EPOLLWAKEUP is ignored.",
            ),
        ),
        (
            nr::EPOLL_WAIT,
            E::partial(
                "epoll_wait",
                epoll::sys_epoll_wait,
                &[Fd, Hex, Int, Int],
                "Host fds always report ready; a restart after a signal waits the full timeout again.",
            ),
        ),
        (
            nr::EPOLL_PWAIT,
            E::partial(
                "epoll_pwait",
                epoll::sys_epoll_pwait,
                &[Fd, Hex, Int, Int, Hex, Uint],
                "Host fds always report ready; a restart after a signal waits the full timeout again.",
            ),
        ),
        (
            nr::EPOLL_PWAIT2,
            E::partial(
                "epoll_pwait2",
                epoll::sys_epoll_pwait2,
                &[Fd, Hex, Int, Timespec, Hex, Uint],
                "Host fds always report ready; a restart after a signal waits the full timeout again.",
            ),
        ),
        (
            nr::CLONE,
            E::partial(
                "clone",
                process::sys_clone,
                &[Hex, Hex, Hex, Hex, Hex],
                "Namespace flags are refused (EINVAL); CLONE_SIGHAND without CLONE_THREAD copies the handlers.",
            ),
        ),
        (
            nr::CLONE3,
            E::supported("clone3", process::sys_clone3, &[Hex, Uint]),
        ),
        (nr::FORK, E::supported("fork", process::sys_fork, &[])),
        (nr::VFORK, E::supported("vfork", process::sys_vfork, &[])),
        (
            nr::EXECVE,
            E::supported("execve", process::sys_execve, &[Path, Hex, Hex]),
        ),
        (
            nr::EXECVEAT,
            E::supported(
                "execveat",
                process::sys_execveat,
                &[DirFd, Path, Hex, Hex, Hex],
            ),
        ),
        (
            nr::WAIT4,
            E::partial(
                "wait4",
                process::sys_wait4,
                &[Int, Hex, Hex, Hex],
                "rusage has CPU times and maxrss only.",
            ),
        ),
        (
            nr::WAITID,
            E::partial(
                "waitid",
                process::sys_waitid,
                &[Int, Int, Hex, Hex, Hex],
                "rusage has CPU times and maxrss only.",
            ),
        ),
        (
            nr::KILL,
            E::supported("kill", signal::sys_kill, &[Int, Signal]),
        ),
        (
            nr::TKILL,
            E::supported("tkill", signal::sys_tkill, &[Int, Signal]),
        ),
        (
            nr::TGKILL,
            E::supported("tgkill", signal::sys_tgkill, &[Int, Int, Signal]),
        ),
        (
            nr::RT_SIGPENDING,
            E::supported("rt_sigpending", signal::sys_rt_sigpending, &[Hex, Uint]),
        ),
        (
            nr::RT_SIGTIMEDWAIT,
            E::supported(
                "rt_sigtimedwait",
                signal::sys_rt_sigtimedwait,
                &[Hex, Hex, Timespec, Uint],
            ),
        ),
        (
            nr::RT_SIGQUEUEINFO,
            E::supported(
                "rt_sigqueueinfo",
                signal::sys_rt_sigqueueinfo,
                &[Int, Signal, Hex],
            ),
        ),
        (
            nr::RT_TGSIGQUEUEINFO,
            E::supported(
                "rt_tgsigqueueinfo",
                signal::sys_rt_tgsigqueueinfo,
                &[Int, Int, Signal, Hex],
            ),
        ),
        (
            nr::RT_SIGSUSPEND,
            E::supported("rt_sigsuspend", signal::sys_rt_sigsuspend, &[Hex, Uint]),
        ),
        (nr::SETSID, E::supported("setsid", process::sys_setsid, &[])),
        (
            nr::RESTART_SYSCALL,
            E::supported("restart_syscall", time::sys_restart_syscall, &[]),
        ),
        (
            nr::GET_ROBUST_LIST,
            E::supported(
                "get_robust_list",
                process::sys_get_robust_list,
                &[Int, Hex, Hex],
            ),
        ),
        (
            nr::PIDFD_OPEN,
            E::supported("pidfd_open", signal::sys_pidfd_open, &[Int, Hex]),
        ),
        (
            nr::PIDFD_SEND_SIGNAL,
            E::supported(
                "pidfd_send_signal",
                signal::sys_pidfd_send_signal,
                &[Fd, Signal, Hex, Hex],
            ),
        ),
        (
            nr::SETITIMER,
            E::partial(
                "setitimer",
                timer::sys_setitimer,
                &[Int, Hex, Hex],
                "ITIMER_VIRTUAL and ITIMER_PROF count wall time, not CPU time.",
            ),
        ),
        (
            nr::GETITIMER,
            E::supported("getitimer", timer::sys_getitimer, &[Int, Hex]),
        ),
        (nr::ALARM, E::supported("alarm", timer::sys_alarm, &[Uint])),
        (
            nr::TIMER_CREATE,
            E::partial(
                "timer_create",
                timer::sys_timer_create,
                &[ClockId, Hex, Hex],
                "CPU-time clocks count wall time; TIMER_ABSTIME is taken on CLOCK_REALTIME.",
            ),
        ),
        (
            nr::TIMER_SETTIME,
            E::supported(
                "timer_settime",
                timer::sys_timer_settime,
                &[Int, Int, Hex, Hex],
            ),
        ),
        (
            nr::TIMER_GETTIME,
            E::supported("timer_gettime", timer::sys_timer_gettime, &[Int, Hex]),
        ),
        (
            nr::TIMER_GETOVERRUN,
            E::supported("timer_getoverrun", timer::sys_timer_getoverrun, &[Int]),
        ),
        (
            nr::TIMER_DELETE,
            E::supported("timer_delete", timer::sys_timer_delete, &[Int]),
        ),
        (
            nr::TIMERFD_CREATE,
            E::supported("timerfd_create", timer::sys_timerfd_create, &[ClockId, Hex]),
        ),
        (
            nr::TIMERFD_SETTIME,
            E::partial(
                "timerfd_settime",
                timer::sys_timerfd_settime,
                &[Fd, Int, Hex, Hex],
                "TFD_TIMER_CANCEL_ON_SET is accepted; clock changes never cancel (the sandbox cannot set the clock).",
            ),
        ),
        (
            nr::TIMERFD_GETTIME,
            E::supported("timerfd_gettime", timer::sys_timerfd_gettime, &[Fd, Hex]),
        ),
        (
            nr::GETRUSAGE,
            E::partial(
                "getrusage",
                sys::sys_getrusage,
                &[Int, Hex],
                "CPU time per address space (RUSAGE_THREAD reports the process); maxrss is the resident set at exit; other fields zero.",
            ),
        ),
        (nr::TIMES, E::supported("times", sys::sys_times, &[Hex])),
        (
            nr::SIGNALFD4,
            E::partial(
                "signalfd4",
                signal::sys_signalfd4,
                &[Int, Hex, Uint, Hex],
                "poll/epoll readiness looks at the creating process's pending signals.",
            ),
        ),
        (
            nr::SIGNALFD,
            E::partial(
                "signalfd",
                signal::sys_signalfd,
                &[Int, Hex, Uint],
                "poll/epoll readiness looks at the creating process's pending signals.",
            ),
        ),
        (
            nr::CHMOD,
            E::supported("chmod", fs::sys_chmod, &[Path, Mode]),
        ),
        (
            nr::FCHMOD,
            E::supported("fchmod", fs::sys_fchmod, &[Fd, Mode]),
        ),
        (
            nr::FCHMODAT,
            E::supported("fchmodat", fs::sys_fchmodat, &[DirFd, Path, Mode]),
        ),
        (
            nr::CHOWN,
            E::supported("chown", fs::sys_chown, &[Path, Int, Int]),
        ),
        (
            nr::LCHOWN,
            E::supported("lchown", fs::sys_lchown, &[Path, Int, Int]),
        ),
        (
            nr::FCHOWN,
            E::supported("fchown", fs::sys_fchown, &[Fd, Int, Int]),
        ),
        (
            nr::FCHOWNAT,
            E::supported("fchownat", fs::sys_fchownat, &[DirFd, Path, Int, Int, Hex]),
        ),
        (nr::USELIB, E::error("uselib", Errno::ENOSYS, "Obsolete.")),
    ]
}

/// The table, indexed by syscall number.
static TABLE: LazyLock<Vec<Option<SyscallEntry>>> = LazyLock::new(|| {
    let mut t: Vec<Option<SyscallEntry>> = Vec::new();
    t.resize_with(nr::NR_SYSCALLS, || None);
    for (n, e) in entries() {
        if let Some(slot) = t.get_mut(n) {
            *slot = Some(e);
        }
    }
    t
});

/// The entry for syscall `nr`, if the table knows it.
pub fn lookup(nr: u64) -> Option<&'static SyscallEntry> {
    usize::try_from(nr)
        .ok()
        .and_then(|n| TABLE.get(n))
        .and_then(Option::as_ref)
}

/// All known entries with their numbers, for `rvisor syscalls`.
pub fn all() -> impl Iterator<Item = (usize, &'static SyscallEntry)> {
    TABLE
        .iter()
        .enumerate()
        .filter_map(|(n, e)| e.as_ref().map(|e| (n, e)))
}

/// Every syscall name the kernel knows (from abi::sysno), for reports of unknown numbers.
pub fn name_of(nr: u64) -> String {
    match lookup(nr) {
        Some(e) => e.name.to_string(),
        None => usize::try_from(nr)
            .ok()
            .and_then(abi::sysno::name)
            .map_or_else(|| format!("syscall_{nr}"), str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_a_unique_number_and_matching_arity() {
        let es = entries();
        let mut seen = std::collections::HashSet::new();
        for (n, e) in &es {
            assert!(seen.insert(*n), "duplicate entry for {}", e.name);
            assert!(e.args.len() <= 6, "{} has too many args", e.name);
            match e.support {
                Support::Error(..) => assert!(e.handler.is_none(), "{}", e.name),
                _ => assert!(e.handler.is_some(), "{}", e.name),
            }
        }
    }

    #[test]
    fn lookup_finds_read_and_rejects_unknown() {
        assert_eq!(lookup(0).map(|e| e.name), Some("read"));
        assert!(lookup(100_000).is_none());
        assert!(lookup(u64::MAX).is_none());
        assert_eq!(name_of(100_000), "syscall_100000");
    }
}
