//! clone(2)/clone3(2) flags and `struct clone_args`, wait(2) options and status encoding
//! (include/uapi/linux/sched.h, include/uapi/linux/wait.h).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

bitflags::bitflags! {
    /// clone(2) flags (the low byte of the clone(2) argument is the exit signal, not a flag).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CloneFlags: u64 {
        const VM = 0x0000_0100;
        const FS = 0x0000_0200;
        const FILES = 0x0000_0400;
        const SIGHAND = 0x0000_0800;
        const PIDFD = 0x0000_1000;
        const PTRACE = 0x0000_2000;
        const VFORK = 0x0000_4000;
        const PARENT = 0x0000_8000;
        const THREAD = 0x0001_0000;
        const NEWNS = 0x0002_0000;
        const SYSVSEM = 0x0004_0000;
        const SETTLS = 0x0008_0000;
        const PARENT_SETTID = 0x0010_0000;
        const CHILD_CLEARTID = 0x0020_0000;
        const DETACHED = 0x0040_0000;
        const UNTRACED = 0x0080_0000;
        const CHILD_SETTID = 0x0100_0000;
        const NEWCGROUP = 0x0200_0000;
        const NEWUTS = 0x0400_0000;
        const NEWIPC = 0x0800_0000;
        const NEWUSER = 0x1000_0000;
        const NEWPID = 0x2000_0000;
        const NEWNET = 0x4000_0000;
        const IO = 0x8000_0000;
        /// clone3 only.
        const CLEAR_SIGHAND = 0x1_0000_0000;
        /// clone3 only.
        const INTO_CGROUP = 0x2_0000_0000;
    }
}

/// Mask of the exit-signal byte in clone(2)'s flags (CSIGNAL).
pub const CSIGNAL: u64 = 0xff;

/// `struct clone_args` as of CLONE_ARGS_SIZE_VER2 (88 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}
const _: () = assert!(size_of::<CloneArgs>() == 88);
/// CLONE_ARGS_SIZE_VER0: the smallest `struct clone_args` clone3 accepts.
pub const CLONE_ARGS_SIZE_VER0: u64 = 64;

// wait4/waitid options.
pub const WNOHANG: u32 = 0x0000_0001;
pub const WUNTRACED: u32 = 0x0000_0002;
pub const WSTOPPED: u32 = WUNTRACED;
pub const WEXITED: u32 = 0x0000_0004;
pub const WCONTINUED: u32 = 0x0000_0008;
pub const WNOWAIT: u32 = 0x0100_0000;
pub const WNOTHREAD: u32 = 0x2000_0000;
pub const WALL: u32 = 0x4000_0000;
pub const WCLONE: u32 = 0x8000_0000;

// waitid id types.
pub const P_ALL: i32 = 0;
pub const P_PID: i32 = 1;
pub const P_PGID: i32 = 2;
pub const P_PIDFD: i32 = 3;

// si_code values of SIGCHLD (include/uapi/asm-generic/siginfo.h).
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_TRAPPED: i32 = 4;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;

/// `struct rusage` (include/uapi/linux/resource.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Rusage {
    pub utime: crate::time::Timeval,
    pub stime: crate::time::Timeval,
    pub maxrss: i64,
    pub ixrss: i64,
    pub idrss: i64,
    pub isrss: i64,
    pub minflt: i64,
    pub majflt: i64,
    pub nswap: i64,
    pub inblock: i64,
    pub oublock: i64,
    pub msgsnd: i64,
    pub msgrcv: i64,
    pub nsignals: i64,
    pub nvcsw: i64,
    pub nivcsw: i64,
}
const _: () = assert!(size_of::<Rusage>() == 144);

/// `struct tms` (include/uapi/linux/times.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Tms {
    pub utime: i64,
    pub stime: i64,
    pub cutime: i64,
    pub cstime: i64,
}
