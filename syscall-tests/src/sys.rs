//! The only module of the suite with `unsafe` code: the raw system call, zero-initialised C
//! structures, and byte access to [`Mapping`]s.
//!
//! Shortcut, stated plainly: [`syscall`] is a *safe* function although an arbitrary system call
//! can break Rust's memory safety (munmap of memory Rust owns, a write through a wild pointer
//! into a live object). Making arbitrary calls is this crate's purpose, and an `unsafe` at each
//! of hundreds of call sites would add noise without adding a check. The contract every test
//! keeps instead is in [`syscall`]'s doc; the test binaries contain no `unsafe` of their own.

use std::ffi::c_long;

use crate::{Outcome, check, ensure, succeeds};

/// Makes system call `nr` with up to six register arguments (missing ones are 0) and returns
/// the libc convention: the result, or `-1` with `errno` set.
///
/// Contract for callers (the suite's tests): every pointer argument is either
/// 1. a pointer into a live Rust buffer that the call may read or write for the length passed,
///    and that nothing else borrows during the call; or
/// 2. a deliberately invalid address ([`crate::KERNEL_ADDR`], [`crate::LOW_ADDR`]) that the
///    kernel checks and answers with EFAULT;
///
/// and memory-management calls (munmap, mremap, mprotect, madvise, mmap with MAP_FIXED, brk
/// shrinking) only touch ranges owned by a [`Mapping`] or fresh brk memory the test grew itself.
pub fn syscall(nr: c_long, args: &[u64]) -> i64 {
    let a = |i: usize| args.get(i).copied().unwrap_or(0);
    // SAFETY: libc::syscall is variadic; we always pass six `u64` arguments, which the x86-64
    // calling convention places in the six argument registers the kernel reads (extra ones are
    // ignored). The memory effects of the call itself are governed by the contract above.
    unsafe { libc::syscall(nr, a(0), a(1), a(2), a(3), a(4), a(5)) }
}

/// C structures that are valid when all bytes are zero.
///
/// # Safety
/// Implementors must be plain-old-data `#[repr(C)]` types for which the all-zero bit pattern
/// is a valid value (integers, arrays of integers, no references, no enums, no `NonNull`).
pub unsafe trait Zeroable: Sized {}

// SAFETY: each of these is a libc `#[repr(C)]` struct of integer fields and integer arrays
// (see the kernel's uapi headers: asm/stat.h, linux/stat.h, linux/utsname.h, linux/sysinfo.h,
// linux/time_types.h, linux/resource.h); zero is a valid value of every field.
unsafe impl Zeroable for libc::stat {}
// SAFETY: as above.
unsafe impl Zeroable for libc::statx {}
// SAFETY: as above.
unsafe impl Zeroable for libc::utsname {}
// SAFETY: as above.
unsafe impl Zeroable for libc::sysinfo {}
// SAFETY: as above.
unsafe impl Zeroable for libc::timespec {}
// SAFETY: as above.
unsafe impl Zeroable for libc::timeval {}
// SAFETY: as above.
unsafe impl Zeroable for libc::rlimit64 {}

/// A zero-initialised C structure, to pass as an output buffer.
pub fn zeroed<T: Zeroable>() -> T {
    // SAFETY: `T: Zeroable` promises that all-zero bytes are a valid `T`.
    unsafe { std::mem::zeroed() }
}

/// A memory mapping owned by a test, unmapped on drop.
///
/// Byte access goes through volatile copies so the compiler never assumes memory unchanged
/// across system calls that change it behind Rust's back (madvise(MADV_DONTNEED), a write to the
/// mapped file). The mapping remembers its protection and refuses reads/writes it does not
/// allow, because a fault would kill the test binary (no signal handling in this suite).
#[derive(Debug)]
pub struct Mapping {
    addr: usize,
    len: usize,
    prot: i32,
}

impl Mapping {
    /// mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), which must succeed.
    pub fn anonymous(len: usize, prot: i32) -> Result<Mapping, String> {
        let ret = check!(
            syscall(
                libc::SYS_mmap,
                &[
                    0,
                    len as u64,
                    u64::from(prot.unsigned_abs()),
                    u64::from((libc::MAP_PRIVATE | libc::MAP_ANONYMOUS).unsigned_abs()),
                    u64::MAX,
                    0,
                ],
            ),
            succeeds()
        );
        Mapping::adopt(ret, len, prot)
    }

    /// Takes ownership of a mapping a test created itself (`ret` is mmap's return value).
    pub fn adopt(ret: i64, len: usize, prot: i32) -> Result<Mapping, String> {
        let addr = usize::try_from(ret).map_err(|_| format!("{ret:#x} is not an address"))?;
        Ok(Mapping { addr, len, prot })
    }

    /// The start address.
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// The start address as a pointer argument.
    pub fn ptr(&self) -> *mut u8 {
        self.addr as *mut u8
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length mapping (never created by the helpers).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records that the test moved/resized the mapping (mremap) or changed its protection.
    pub fn update(&mut self, addr: usize, len: usize, prot: i32) {
        self.addr = addr;
        self.len = len;
        self.prot = prot;
    }

    /// Gives up ownership (after the test unmapped it itself).
    pub fn forget(self) {
        std::mem::forget(self);
    }

    fn in_bounds(&self, offset: usize, len: usize) -> Outcome {
        let end = offset.checked_add(len);
        ensure!(
            end.is_some_and(|e| e <= self.len),
            "range {offset}+{len} outside mapping of {} bytes",
            self.len
        );
        Ok(())
    }

    /// Copies `len` bytes at `offset` out of the mapping (needs PROT_READ).
    pub fn read(&self, offset: usize, len: usize) -> Result<Vec<u8>, String> {
        ensure!(self.prot & libc::PROT_READ != 0, "mapping is not readable");
        self.in_bounds(offset, len)?;
        let base = self.addr + offset;
        Ok((0..len)
            .map(|i| {
                // SAFETY: `base + i` lies inside this live mapping (bounds checked above), which
                // is readable (PROT_READ checked above); a volatile read of a `u8` has no
                // alignment requirement.
                unsafe { std::ptr::read_volatile((base + i) as *const u8) }
            })
            .collect())
    }

    /// Copies `data` into the mapping at `offset` (needs PROT_WRITE).
    pub fn write(&mut self, offset: usize, data: &[u8]) -> Outcome {
        ensure!(self.prot & libc::PROT_WRITE != 0, "mapping is not writable");
        self.in_bounds(offset, data.len())?;
        let base = self.addr + offset;
        for (i, b) in data.iter().enumerate() {
            // SAFETY: `base + i` lies inside this live, writable mapping (both checked above);
            // no Rust reference points into the mapping, so the write aliases nothing.
            unsafe { std::ptr::write_volatile((base + i) as *mut u8, *b) };
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let _ = syscall(libc::SYS_munmap, &[self.addr as u64, self.len as u64]);
    }
}
