//! Auxiliary vector tags (`AT_*`) the ELF loader puts on a new program's stack, after envp.
//!
//! Numbers follow include/uapi/linux/auxvec.h and arch/x86/include/uapi/asm/auxvec.h. The
//! sentry's `loader` writes them; `/proc/[pid]/auxv` reads them back.

/// End of vector.
pub const AT_NULL: u64 = 0;
/// Entry should be ignored.
pub const AT_IGNORE: u64 = 1;
/// File descriptor of the program.
pub const AT_EXECFD: u64 = 2;
/// Address of the program headers in memory.
pub const AT_PHDR: u64 = 3;
/// Size of one program header entry.
pub const AT_PHENT: u64 = 4;
/// Number of program headers.
pub const AT_PHNUM: u64 = 5;
/// System page size.
pub const AT_PAGESZ: u64 = 6;
/// Base address of the interpreter.
pub const AT_BASE: u64 = 7;
/// Flags (always 0 on Linux).
pub const AT_FLAGS: u64 = 8;
/// Entry point of the program (not of the interpreter).
pub const AT_ENTRY: u64 = 9;
/// Program is not ELF.
pub const AT_NOTELF: u64 = 10;
/// Real uid.
pub const AT_UID: u64 = 11;
/// Effective uid.
pub const AT_EUID: u64 = 12;
/// Real gid.
pub const AT_GID: u64 = 13;
/// Effective gid.
pub const AT_EGID: u64 = 14;
/// Address of a string naming the CPU ("x86_64").
pub const AT_PLATFORM: u64 = 15;
/// CPU capability bits (CPUID leaf 1 EDX on x86).
pub const AT_HWCAP: u64 = 16;
/// Frequency of times(2).
pub const AT_CLKTCK: u64 = 17;
/// Secure mode (setuid-like exec): 0 or 1.
pub const AT_SECURE: u64 = 23;
/// Address of a string naming the real platform.
pub const AT_BASE_PLATFORM: u64 = 24;
/// Address of 16 random bytes.
pub const AT_RANDOM: u64 = 25;
/// Extension of AT_HWCAP.
pub const AT_HWCAP2: u64 = 26;
/// Filename passed to execve.
pub const AT_EXECFN: u64 = 31;
/// Address of the vDSO (x86-64).
pub const AT_SYSINFO_EHDR: u64 = 33;
/// Minimal stack size for signal delivery.
pub const AT_MINSIGSTKSZ: u64 = 51;
