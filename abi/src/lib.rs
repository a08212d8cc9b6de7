//! The Linux x86-64 ABI as the sandboxed application sees it: syscall numbers, the `Errno`
//! newtype, flag sets and `#[repr(C)]` structures.
//!
//! This crate holds no logic and no unsafe code; every other crate of the workspace depends on
//! it. Guest-facing code uses these definitions, never the host's `libc` constants (the layout
//! tests in `tests/` are the one place where the two meet, to check that they agree).
//! One file per subsystem, each citing the kernel header it mirrors.
#![forbid(unsafe_code)]

pub mod auxv;
pub mod cap;
pub mod clone;
pub mod elf;
pub mod errno;
pub mod file;
pub mod inotify;
pub mod ioctl;
pub mod mm;
pub mod signal;
pub mod socket;
pub mod sysno;
pub mod time;
pub mod uts;

pub use errno::{Errno, SysResult};
